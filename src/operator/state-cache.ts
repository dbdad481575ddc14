/**
 * Serialized views cached by the master's state version: the JSON of /state is built once
 * per change, not once per request (a 10,000-agent /state takes long to build). Reads and
 * builds run inside the master actor, so the version and the state agree.
 */
export class VersionedCache {
  private readonly entries = new Map<string, { version: number; text: string }>();
  builds = 0;

  constructor(private readonly enabled = true) {}

  get(key: string, version: number, build: () => string): string {
    const hit = this.entries.get(key);
    if (this.enabled && hit && hit.version === version) return hit.text;
    const text = build();
    this.builds++;
    if (this.enabled) this.entries.set(key, { version, text });
    return text;
  }
}
