/**
 * This process's heap as a graph (a V8 heap snapshot, parsed), for tests of what a structure
 * keeps: the objects of a class, their properties and what those point to, and sizes.
 */
import { getHeapSnapshot } from "node:v8";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A node is its offset in the snapshot's node list. */
export type HeapNode = number;

export class HeapGraph {
  private readonly nf: number;
  private readonly ef: number;
  private readonly at: { type: number; name: number; size: number; edges: number };
  private readonly firstEdge = new Map<HeapNode, number>();

  private constructor(private readonly s: Snapshot) {
    const { meta } = s.snapshot;
    this.nf = meta.node_fields.length;
    this.ef = meta.edge_fields.length;
    const [type, name, size, edges] = ["type", "name", "self_size", "edge_count"].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number];
    this.at = { type, name, size, edges };
    for (let n = 0, e = 0; n < s.nodes.length; n += this.nf) {
      this.firstEdge.set(n, e);
      e += s.nodes[n + edges]! * this.ef;
    }
  }

  /** A snapshot of the heap now. */
  static async take(): Promise<HeapGraph> {
    const chunks: Buffer[] = [];
    for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
    return new HeapGraph(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Snapshot);
  }

  *nodes(): Iterable<HeapNode> {
    for (let n = 0; n < this.s.nodes.length; n += this.nf) yield n;
  }

  /** V8's name of the node: an object's constructor, a string's value, … */
  name(n: HeapNode): string {
    return this.s.strings[this.s.nodes[n + this.at.name]!] ?? "";
  }

  type(n: HeapNode): string {
    return this.s.snapshot.meta.node_types[0][this.s.nodes[n + this.at.type]!] ?? "";
  }

  bytes(n: HeapNode): number {
    return this.s.nodes[n + this.at.size]!;
  }

  /** The node's edges of one type ("property", "internal", "element", …): name and target. */
  *edges(n: HeapNode, type: string): Iterable<[string, HeapNode]> {
    const t = this.s.snapshot.meta.edge_types[0].indexOf(type);
    const first = this.firstEdge.get(n)!;
    for (let e = first, end = first + this.s.nodes[n + this.at.edges]! * this.ef; e < end; e += this.ef) {
      if (this.s.edges[e] === t) yield [this.s.strings[this.s.edges[e + 1]!] ?? "", this.s.edges[e + 2]!];
    }
  }

  /** The objects whose constructor is `className`. */
  *objectsOf(className: string): Iterable<HeapNode> {
    for (const n of this.nodes()) if (this.type(n) === "object" && this.name(n) === className) yield n;
  }
}
