/**
 * The web UI in headless Chromium (Debian's, driven by playwright-core) against a real
 * embedded dev cluster: the overview shows the agents, a task launched with `dcos-node run`
 * appears live with its events, and its stdout opens from the task's page.
 * DCOS_UI_SCREENSHOT=<file.png> also saves the overview, DCOS_UI_JOBS_SCREENSHOT the jobs page (the docs'
 * pictures come from them).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { CHROMIUM, requireChromium, waitForCount, waitForText } from "../support/browser.js";
import { NodeProcess } from "../support/processes.js";
import { exerciseJobsPage } from "./jobs-page.js";

describe("web UI in Chromium", () => {
  let workDir: string | undefined;
  let dev: NodeProcess | undefined;
  let run: NodeProcess | undefined;
  let browser: Browser | undefined;
  let masterHttp: string;
  let masterGrpc: string;
  let jobsApi: string;

  async function startCluster(): Promise<void> {
    workDir = await mkdtemp(join(tmpdir(), "dcos-ui-browser-"));
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=2", "--port=0", "--http-port=0", "--dns-port=0", "--jobs-port=0", "--services-port=0", `--work-dir=${workDir}`]);
    masterHttp = await dev.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address");
    masterGrpc = await dev.waitForLine(/Master listening on ([\d.]+:\d+)/, "the master's gRPC address");
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster");
    jobsApi = await dev.waitForLine(/Jobs API \(Chronos\): http:\/\/([\d.]+:\d+)/, "the jobs API");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  }

  after(async () => {
    await browser?.close();
    await run?.stop();
    await dev?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("the overview shows the agents, a launched task appears live with its events, and its stdout opens", async () => {
    requireChromium();
    await startCluster();
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    // What the page said, attached to any failure below (a flaky run then shows its cause).
    const pageLog: string[] = [];
    page.on("pageerror", (e) => {
      pageErrors.push(e.message);
      pageLog.push(`pageerror: ${e.stack ?? e.message}`);
    });
    page.on("console", (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on("requestfailed", (r) => pageLog.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText ?? ""}`));
    page.on("response", (r) => {
      if (r.status() >= 400) pageLog.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    try {
      await exercise(page, pageErrors);
      await exerciseJobsPage(page, pageErrors, (path, job) => fetch(`http://${jobsApi}/v1/scheduler/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(job) }));
    } catch (err) {
      const e = err as Error;
      e.message += `\n--- the page's console and errors ---\n${pageLog.join("\n") || "(nothing)"}\n--- the dev cluster's last lines ---\n${dev?.tail(40) ?? ""}`;
      throw e;
    }
  });

  async function exercise(page: Page, pageErrors: string[]): Promise<void> {

    await page.goto(`http://${masterHttp}/`);
    await waitForText(page, "[data-testid=connection]", (t) => t === "live", "the /events stream to connect");
    await waitForText(page, "[data-testid=agents-active]", (t) => t === "2", "two active agents on the overview");
    assert.equal(await page.locator("[data-testid=tasks-running]").textContent(), "0");
    await waitForCount(page, "[data-testid=chart-cpus] canvas", 1, "the CPU plot to be drawn");

    run = new NodeProcess("dcos-node run", ["run", `--master=${masterGrpc}`, "--framework", "--name=ui-hello", "--", "echo hello from the browser test; sleep 600"]);
    await waitForText(page, "[data-testid=tasks-running]", (t) => t === "1", "the launched task to show as running");
    const line = await waitForText(page, "[data-testid=event-feed] li[data-type=TASK_UPDATED]", (t) => t.includes("TASK_RUNNING"), "TASK_UPDATED in the live feed");
    assert.match(line, /Task ui-hello\S* is TASK_RUNNING/);
    await waitForText(page, "[data-testid=task-states]", (t) => t.includes("TASK_RUNNING"), "tasks by state");
    await waitForText(page, "[data-testid=chart-cpus] h3", (t) => t.includes("0.1 of 4 used"), "the CPU plot's latest sample to count the task");
    if (process.env.DCOS_UI_SCREENSHOT) await page.screenshot({ path: process.env.DCOS_UI_SCREENSHOT });

    await page.locator("nav a", { hasText: "Frameworks" }).click();
    await page.locator("[data-testid=frameworks-table] a", { hasText: "ui-hello" }).click();
    await page.locator("[data-testid=framework-detail] [data-testid=tasks-table] a").first().click();
    await waitForText(page, "[data-testid=task-state]", (t) => t === "TASK_RUNNING", "the task's page");
    const stdout = await waitForText(page, "[data-testid=file-content][data-path=stdout]", (t) => t.includes("hello from the browser test"), "the task's stdout");
    assert.equal(stdout, "hello from the browser test");

    await page.locator("nav a", { hasText: "Agents" }).click();
    await waitForCount(page, "[data-testid=agents-table] tbody tr", 2, "the agents page to list both agents");
    assert.deepEqual(pageErrors, [], "no script errors in the page");
  }
});
