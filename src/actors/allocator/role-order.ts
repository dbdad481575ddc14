/**
 * How a policy orders roles within a round. Both policies order the frameworks within a
 * role by DRF (lowest dominant share first); they differ in the order of roles.
 */
export interface RoleStanding {
  readonly name: string;
  readonly weight: number;
  /** Dominant share of the cluster the role holds, divided by its weight. */
  readonly share: number;
}

/** True when a should be offered to before b. */
export type RoleOrder = (a: RoleStanding, b: RoleStanding) => boolean;

/** Hierarchical DRF: the role with the lowest weighted dominant share first. */
export const drfOrder: RoleOrder = (a, b) => a.share < b.share || (a.share === b.share && a.name < b.name);

/**
 * Strict priority: the heaviest role first, always; lower roles get only what the higher
 * ones cannot take (they starve by design). Equal weights fall back to DRF.
 */
export const strictPriorityOrder: RoleOrder = (a, b) => a.weight > b.weight || (a.weight === b.weight && drfOrder(a, b));
