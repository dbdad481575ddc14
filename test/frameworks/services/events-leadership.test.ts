/**
 * /v2/events across a change of services leader: a client attached to the instance that
 * leads must not be left on a stream that no longer carries events once that instance
 * stops leading (the load balancer would wait forever for changes). The stream ends, and
 * the client's next connection reaches the new leader and gets its events.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ServicesServer } from "../../../src/frameworks/services/services-server.js";
import { FakeSchedulerServer } from "../../support/fake-scheduler-server.js";
import { LocalLogs } from "../../support/local-log-store.js";
import { waitFor } from "../../support/wait.js";

/** An SSE client: the event types seen and whether the stream ended. */
function follow(url: string): { types: string[]; ended: Promise<void>; abort: () => void } {
  const types: string[] = [];
  const abort = new AbortController();
  const ended = (async () => {
    const res = await fetch(url, { headers: { accept: "text/event-stream" }, signal: abort.signal });
    assert.equal(res.status, 200);
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const m of decoder.decode(chunk, { stream: true }).matchAll(/^event: (.+)$/gm)) types.push(m[1]!);
    }
  })().catch((err: Error) => {
    if (err.name !== "AbortError") throw err;
  });
  return { types, ended, abort: () => abort.abort() };
}

describe("services /v2/events across a leader change", () => {
  let fake: FakeSchedulerServer;
  const servers: ServicesServer[] = [];

  before(async () => {
    fake = await FakeSchedulerServer.start();
    const logs = new LocalLogs();
    for (let i = 0; i < 2; i++) servers.push(await ServicesServer.start({ masters: [fake.address], httpPort: 0, store: logs.view(), leaseTtlMs: 600 }));
  });

  after(async () => {
    for (const s of servers) await s.stop();
    fake.stop();
  });

  it("the old leader ends its event streams when it stops leading; reconnected, the client gets the new leader's events", async () => {
    const first = await waitFor(() => servers.find((s) => s.leading), "an instance to lead", 20_000);
    const other = servers.find((s) => s !== first)!;
    const stream = follow(`http://${first.address}/v2/events`);
    await waitFor(() => first.events.size > 0, "the client to attach");
    const abdicated = await fetch(`http://${first.address}/v2/leader`, { method: "DELETE" });
    assert.equal(abdicated.status, 200);
    let ended = false;
    void stream.ended.then(() => (ended = true));
    try {
      await waitFor(() => ended, "the old leader to end the event stream", 5_000);
    } finally {
      stream.abort();
    }
    await waitFor(() => other.leading, "the other instance to lead", 20_000);
    const leaderSeenBy = async (s: ServicesServer): Promise<string | undefined> =>
      ((await (await fetch(`http://${s.address}/v2/leader`)).json()) as { leader?: string }).leader;
    await waitFor(async () => (await leaderSeenBy(first)) === other.address, "the old leader to know the new one");
    // Connected again through the old leader (now proxying), the client hears the new one.
    const again = follow(`http://${first.address}/v2/events`);
    try {
      await waitFor(() => other.events.size > 0, "the proxied stream to reach the new leader");
      const created = await fetch(`http://${other.address}/v2/apps`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "/after-failover", cmd: "sleep 100", cpus: 0.1, mem: 16, instances: 0 }),
      });
      assert.equal(created.status, 201, await created.text());
      await waitFor(() => again.types.includes("api_post_event"), "the new leader's api_post_event");
    } finally {
      again.abort();
      await again.ended;
    }
  });
});
