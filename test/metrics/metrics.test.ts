import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";

describe("Metrics", () => {
  it("writes counters, gauges and histograms in the Prometheus text format, then the process's metrics", async () => {
    const m = new Metrics();
    m.counter("master/tasks_launched", "Tasks launched").inc(3);
    m.gauge("master/tasks_running", () => 2, "Tasks\nrunning \\ now");
    const s = m.sampled("allocator/allocation_run_ms", "Allocation rounds");
    for (const v of [0.05, 3, 3, 20_000]) s.observe(v);
    m.sampled("master/batch_size").observe(5);
    const text = await m.prometheusText();
    const lines = text.split("\n");
    for (const want of [
      "# HELP dcos_master_tasks_launched_total Tasks launched",
      "# TYPE dcos_master_tasks_launched_total counter",
      "dcos_master_tasks_launched_total 3",
      "# HELP dcos_master_tasks_running Tasks\\nrunning \\\\ now",
      "# TYPE dcos_master_tasks_running gauge",
      "dcos_master_tasks_running 2",
      "# TYPE dcos_allocator_allocation_run_ms histogram",
      'dcos_allocator_allocation_run_ms_bucket{le="0.1"} 1',
      'dcos_allocator_allocation_run_ms_bucket{le="2.5"} 1',
      'dcos_allocator_allocation_run_ms_bucket{le="5"} 3',
      'dcos_allocator_allocation_run_ms_bucket{le="10000"} 3',
      'dcos_allocator_allocation_run_ms_bucket{le="+Inf"} 4',
      "dcos_allocator_allocation_run_ms_sum 20006.05",
      "dcos_allocator_allocation_run_ms_count 4",
      'dcos_master_batch_size_bucket{le="4"} 0',
      'dcos_master_batch_size_bucket{le="8"} 1',
    ]) {
      assert.ok(lines.includes(want), `missing line: ${want}`);
    }
    assert.match(text, /^dcos_process_cpu_user_seconds_total /m, "the process's own metrics follow");
    assert.equal(m.snapshot()["allocator/allocation_run_ms/count"], 4);
  });

  it("a removed gauge leaves the text; a counter's value is read at each scrape", async () => {
    const m = new Metrics();
    const c = m.counter("agent/launches");
    m.gauge("quota/roles/eng/cpus", () => 4);
    assert.match(await m.prometheusText(), /^dcos_quota_roles_eng_cpus 4$/m);
    m.remove("quota/roles/eng/cpus");
    c.inc(2);
    const text = await m.prometheusText();
    assert.doesNotMatch(text, /quota_roles_eng/);
    assert.match(text, /^dcos_agent_launches_total 2$/m);
  });
});
