/**
 * The services pages of the web UI in headless Chromium against a real dev cluster (with
 * its embedded services framework): create an app from Marathon JSON, watch it run,
 * scale it, open its page with its instances and versions, destroy it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM, requireChromium, waitForText } from "../support/browser.js";
import { NodeProcess } from "../support/processes.js";

describe("services pages in Chromium", () => {
  let workDir: string | undefined;
  let dev: NodeProcess | undefined;
  let browser: Browser | undefined;

  after(async () => {
    await browser?.close();
    await dev?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("creates, scales, shows and destroys an app", async () => {
    requireChromium();
    workDir = await mkdtemp(join(tmpdir(), "dcos-ui-services-"));
    dev = new NodeProcess("dev cluster", ["--role=dev", "--agents=1", "--port=0", "--http-port=0", "--dns-port=0", "--services-port=0", `--work-dir=${workDir}`]);
    const masterHttp = await dev.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address");
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("dialog", (d) => void d.accept());
    try {
      await page.goto(`http://${masterHttp}/#/services`);
      await waitForText(page, "[data-testid=services] h2", (t) => t.startsWith("Services"), "the services page (the framework found in the master's state)");
      await page.locator("[data-testid=app-json]").fill(JSON.stringify({ id: "/ui/sleeper", cmd: "sleep 600", cpus: 0.1, mem: 16, instances: 1 }));
      await page.locator("[data-testid=create-app]").click();
      await waitForText(page, "[data-app='/ui/sleeper'] [data-testid=app-running]", (t) => t === "1", "the new app running 1 instance");
      await page.locator("[data-app='/ui/sleeper'] [data-testid=scale-input]").fill("2");
      await page.locator("[data-app='/ui/sleeper'] [data-testid=scale]").click();
      await waitForText(page, "[data-app='/ui/sleeper'] [data-testid=app-running]", (t) => t === "2", "2 instances after scaling");
      await page.locator("[data-testid=services-table] a", { hasText: "/ui/sleeper" }).click();
      await waitForText(page, "[data-testid=instances-table] tbody", (t) => (t.match(/TASK_RUNNING/g) ?? []).length === 2, "the app's page listing 2 running instances");
      await page.goto(`http://${masterHttp}/#/services`);
      await page.locator("[data-app='/ui/sleeper'] [data-testid=destroy]").click();
      await waitForText(page, "[data-testid=services] h2", (t) => t === "Services (0 apps)", "the app destroyed");
      assert.deepEqual(pageErrors, []);
    } catch (err) {
      (err as Error).message += `\n--- dev cluster ---\n${dev.tail(30)}`;
      throw err;
    }
  });
});
