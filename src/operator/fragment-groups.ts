/**
 * The pieces kept-fragment bodies are made of (state-fragments.ts for /state,
 * summary-fragments.ts for /state-summary): a fragment is one JSON object's text kept
 * between builds with what it was made from (a dependency list compared by identity as a
 * build meets it), fragments of one JSON array are cut into groups at fragments whose id
 * hashes to a boundary (a group is a body part kept while it holds the same fragments), and
 * an Assembly collects one body: text runs (kept by their content) and arrays' groups.
 */
import { BodyPart, PartsBody } from "./body-parts.js";

/** FNV-1a of an id: where groups end does not depend on positions. */
export function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A fragment's JSON text, and the hash of its id (a group ends where hash % size is 0). */
export interface Fragment {
  readonly text: string;
  readonly hash: number;
}

/** A fragment made from a list of dependencies: kept while a build finds the same list. */
export interface Kept<T> {
  readonly deps: readonly unknown[];
  readonly value: T;
}

/**
 * A fragment's dependencies as a build meets them, compared with the kept ones as they
 * come: nothing is allocated while they are the same.
 */
export class Deps {
  private list: unknown[] | undefined;
  private n = 0;

  constructor(private readonly kept: readonly unknown[] | undefined) {
    if (!kept) this.list = [];
  }

  push(x: unknown): void {
    if (this.list) this.list.push(x);
    else if (this.kept![this.n] === x) this.n++;
    else {
      this.list = this.kept!.slice(0, this.n);
      this.list.push(x);
    }
  }

  /** The new list, or undefined when it is the kept one. */
  changed(): unknown[] | undefined {
    if (this.list) return this.list;
    return this.n === this.kept!.length ? undefined : this.kept!.slice(0, this.n);
  }
}

/** A run of consecutive fragments of one JSON array, as one body part. */
export class Group {
  readonly part: BodyPart;

  constructor(
    readonly items: readonly Fragment[],
    readonly comma: boolean,
    /** It ends at a cut (not only where its array ended). */
    readonly cut: boolean,
  ) {
    // Joined when its bytes are first needed: not in the master actor's turn.
    this.part = new BodyPart(() => (comma ? "," : "") + items.map((f) => f.text).join(","));
  }
}

/**
 * One JSON array's fragments as a build meets them, cut into groups (a group ends after
 * a fragment whose hash is 0 modulo the group size): a group is the kept one that starts
 * with the same fragment while it holds the same fragments (compared by identity as they
 * come, without reading them or allocating), else a new one.
 */
export class ArrayWalk {
  readonly parts: BodyPart[] = [];
  /** The array's groups, in order (their parts are `parts`). */
  readonly groups: Group[] = [];
  private first: Fragment | undefined;
  private kept: Group | undefined;
  /** The current group's fragments, once they differ from the kept group's. */
  private items: Fragment[] | undefined;
  private n = 0;

  constructor(
    /** Groups by their first fragment: the last build's, and this build's as it makes them. */
    private readonly book: { kept: ReadonlyMap<Fragment, Group>; used: Map<Fragment, Group> },
    private readonly size: number,
    private readonly stats: FragmentStats,
  ) {}

  push(f: Fragment): void {
    if (this.n === 0) {
      this.first = f;
      const kept = this.book.used.get(f) ?? this.book.kept.get(f);
      this.kept = kept && kept.comma === this.parts.length > 0 ? kept : undefined;
      this.items = this.kept ? undefined : [];
    }
    if (!this.items) {
      const kept = this.kept!;
      if (kept.items[this.n] === f) {
        // The same fragments as the kept group: the same cuts.
        if (++this.n === kept.items.length && kept.cut) this.close();
        return;
      }
      this.items = kept.items.slice(0, this.n);
    }
    this.items.push(f);
    this.n++;
    if (f.hash % this.size === 0) this.close();
  }

  pushAll(fragments: readonly Fragment[]): void {
    for (const f of fragments) this.push(f);
  }

  /** The array's groups' parts, in order. */
  finish(): readonly BodyPart[] {
    this.close();
    return this.parts;
  }

  private close(): void {
    if (this.n === 0) return;
    let group = this.kept;
    if (!group || this.items || group.items.length !== this.n) {
      const items = this.items ?? group!.items.slice(0, this.n);
      group = new Group(items, this.parts.length > 0, items[items.length - 1]!.hash % this.size === 0);
      this.stats.groups++;
    }
    this.book.used.set(this.first!, group);
    this.parts.push(group.part);
    this.groups.push(group);
    this.n = 0;
    this.first = this.kept = this.items = undefined;
  }
}

/** JSON text of an object without its closing brace (more fields follow). */
export function open(json: Record<string, unknown>): string {
  return JSON.stringify(json).slice(0, -1);
}

/** JSON text of an object without its opening brace (fields that follow others). */
export function rest(json: Record<string, unknown>): string {
  return JSON.stringify(json).slice(1);
}

/** Collects one body: text runs become parts kept by their content, arrays are their groups' parts. */
export class Assembly {
  readonly parts: BodyPart[] = [];
  readonly texts = new Map<string, BodyPart>();
  private pending = "";

  constructor(
    private readonly keptTexts: ReadonlyMap<string, BodyPart>,
    private readonly stats: FragmentStats,
  ) {}

  text(s: string): void {
    this.pending += s;
  }

  /** One JSON array's groups (between its brackets). */
  array(walk: ArrayWalk | undefined): void {
    this.add(walk?.finish() ?? []);
  }

  /** Parts as they are (groups' parts). */
  add(parts: readonly BodyPart[]): void {
    if (parts.length === 0) return;
    this.flush();
    for (const p of parts) this.parts.push(p);
  }

  /** Where the body is now, in parts (the text so far becomes its own part): to cut a view out of it. */
  mark(): number {
    this.flush();
    return this.parts.length;
  }

  /** The parts between two marks. */
  between(from: number, to: number): readonly BodyPart[] {
    return this.parts.slice(from, to);
  }

  finish(): PartsBody {
    this.flush();
    return new PartsBody(this.parts);
  }

  private flush(): void {
    if (this.pending === "") return;
    const text = this.pending;
    this.pending = "";
    let part = this.texts.get(text) ?? this.keptTexts.get(text);
    if (!part) {
      part = new BodyPart(text);
      this.stats.texts++;
    }
    this.texts.set(text, part);
    this.parts.push(part);
  }
}

/**
 * The groups of one JSON array as a filtered view keeps them: `textOf` gives a fragment's
 * text in the view (undefined: left out). A group whose fragments all keep their text, at
 * the same place (comma or not), is the kept part; the others are new parts of the texts.
 */
export function filteredArray(out: Assembly, groups: readonly Group[], textOf: (f: Fragment) => string | undefined): void {
  let comma = false;
  for (const g of groups) {
    const texts: string[] = [];
    let same = g.comma === comma;
    for (const f of g.items) {
      const text = textOf(f);
      if (text === undefined) {
        same = false;
        continue;
      }
      if (text !== f.text) same = false;
      texts.push(text);
    }
    if (texts.length === 0) continue;
    if (same) out.add([g.part]);
    else {
      const c = comma;
      out.add([new BodyPart(() => (c ? "," : "") + texts.join(","))]);
    }
    comma = true;
  }
}

/** What the last build made anew (the rest it kept). */
export interface FragmentStats {
  tasks: number;
  agents: number;
  frameworks: number;
  groups: number;
  texts: number;
  /** Framework task lists walked again (the others' groups were kept whole; /state only). */
  walked?: number;
}

