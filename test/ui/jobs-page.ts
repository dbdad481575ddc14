/**
 * The jobs page walked through in Chromium (shared by the open and the authenticated UI
 * tests): the list, the dependency graph, run now, a job's runs with their output,
 * disable and delete. `post` posts a job to the Chronos API (with whatever credentials the
 * cluster needs); the page itself calls the API through the master.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { waitForCount, waitForText } from "../support/browser.js";

export async function exerciseJobsPage(page: Page, pageErrors: string[], post: (path: "iso8601" | "dependency", job: object) => Promise<Response>): Promise<void> {
  const posted = async (path: "iso8601" | "dependency", job: object) => {
    const r = await post(path, job);
    assert.equal(r.status, 204, await r.text());
  };
  await posted("iso8601", { name: "ui-nightly", command: "echo nightly job output", schedule: "R/2026-01-01T03:00:00Z/P1D", cpus: 0.1, mem: 32, disk: 0 });
  await posted("dependency", { name: "ui-after", command: "echo after nightly", parents: ["ui-nightly"], cpus: 0.1, mem: 32, disk: 0 });
  await page.locator("nav a", { hasText: "Jobs" }).click();
  await waitForText(page, "[data-testid=jobs-table] tr[data-job=ui-nightly] [data-testid=job-status]", (t) => t === "fresh", "the job in the list");
  await waitForCount(page, "[data-testid=jobs-graph] [data-node]", 2, "both jobs drawn");
  await waitForCount(page, "[data-testid=jobs-graph] [data-edge='ui-nightly->ui-after']", 1, "the dependency drawn");
  const y = async (n: string) => Number(await page.locator(`[data-testid=jobs-graph] [data-node=${n}] rect`).getAttribute("y"));
  assert.ok((await y("ui-nightly")) < (await y("ui-after")), "the layout puts the parent above its child");
  await page.locator("tr[data-job=ui-nightly] button[data-action=run]").click();
  await waitForText(page, "tr[data-job=ui-after] [data-testid=job-status]", (t) => t === "success", "run now, then its dependent job, to succeed");
  if (process.env.DCOS_UI_JOBS_SCREENSHOT) await page.screenshot({ path: process.env.DCOS_UI_JOBS_SCREENSHOT });
  await page.locator("[data-testid=jobs-table] a", { hasText: "ui-nightly" }).click();
  await waitForText(page, "[data-testid=job-runs] tr[data-run=succeeded]", (t) => t.includes("manual"), "the manual run in the job's runs");
  await page.locator("[data-testid=job-runs] a[data-task]").first().click();
  const out = await waitForText(page, "[data-testid=file-content][data-path=stdout]", (t) => t.includes("nightly job output"), "the run's output");
  assert.equal(out, "nightly job output");
  await page.locator("nav a", { hasText: "Jobs" }).click();
  await page.locator("tr[data-job=ui-after] button[data-action=toggle]").click();
  await waitForText(page, "tr[data-job=ui-after] [data-testid=job-state]", (t) => t === "disabled", "the job disabled");
  page.once("dialog", (d) => void d.accept());
  await page.locator("tr[data-job=ui-nightly] button[data-action=delete]").click();
  await waitForText(page, "[data-testid=jobs-action-error]", (t) => t.includes("parent of ui-after"), "deleting a parent refused with the API's message");
  page.once("dialog", (d) => void d.accept());
  await page.locator("tr[data-job=ui-after] button[data-action=delete]").click();
  await waitForCount(page, "tr[data-job=ui-after]", 0, "the deleted job to leave the list");
  assert.deepEqual(pageErrors, [], "no script errors in the jobs pages");
}
