/**
 * Serialized app views, kept until the app changes: `GET /v2/apps?embed=apps.tasks` over
 * 1,000 apps and 10,000 instances re-serializes only the apps whose definition,
 * instances, deployments, last failure or check results changed since the last GET, and
 * joins the cached JSON of the others (a few MB of strings, no object graph to build and
 * walk). The scheduler `touch`es an app after every write or in-memory change that shows
 * in its view (anything it cannot attribute to one app touches them all); the revisions
 * also tell its planner which apps changed since they were last found converged.
 */

export class AppViewCache {
  private readonly revisions = new Map<string, number>();
  /** Bumped by every change: a whole body made at this generation is still right. */
  private generation = 0;
  private body: { key: string; generation: number; bytes: Buffer } | undefined;
  /** Embed variant ("tasks,counts,…") → app id → the JSON of that revision. */
  private readonly views = new Map<string, Map<string, { revision: number; json: string }>>();

  /** The app's view changed. */
  touch(appId: string): void {
    this.revisions.set(appId, (this.revisions.get(appId) ?? 0) + 1);
    this.generation++;
  }

  /** Something changed that may show in any of these apps' views. */
  touchAll(appIds: Iterable<string>): void {
    for (const id of appIds) this.touch(id);
  }

  /** A number that changes whenever the app's view may have (the planner skips apps whose revision it has planned). */
  revision(appId: string): number {
    return this.revisions.get(appId) ?? 0;
  }

  /** The app's view as JSON: cached for this revision and variant, else `build()` serialized. */
  json(appId: string, variant: string, build: () => unknown): string {
    const revision = this.revisions.get(appId) ?? 0;
    let byApp = this.views.get(variant);
    if (!byApp) this.views.set(variant, (byApp = new Map()));
    const hit = byApp.get(appId);
    if (hit && hit.revision === revision) return hit.json;
    const json = JSON.stringify(build());
    byApp.set(appId, { revision, json });
    return json;
  }

  /**
   * A whole response body (UTF-8) for `key` (the request's variant and filters), made by
   * `build` unless nothing changed since it was last made: repeated GETs of an unchanged
   * cluster serialize and encode nothing. (Bytes: the per-app ACL filter, app-acls.ts,
   * reads byte payloads as well as strings.)
   */
  wholeBody(key: string, build: () => string): Buffer {
    if (this.body && this.body.key === key && this.body.generation === this.generation) return this.body.bytes;
    const generation = this.generation;
    const bytes = Buffer.from(build(), "utf8");
    this.body = { key, generation, bytes };
    return bytes;
  }

  /** The app is gone: drop what is kept for it. */
  forget(appId: string): void {
    this.generation++;
    this.revisions.delete(appId);
    for (const byApp of this.views.values()) byApp.delete(appId);
  }
}
