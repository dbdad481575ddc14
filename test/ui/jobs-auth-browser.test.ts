/**
 * The jobs page with authentication required: a dev cluster started with --credentials and
 * --authenticate (its master and its jobs API take the same principals). The page calls
 * the jobs API through the master (`/service/chronos/…`), so the Basic credentials the
 * browser gave the master go along: the whole jobs walk-through works in Chromium, while
 * the same calls without credentials are 401 at the jobs API and at the master.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM, requireChromium, waitForText } from "../support/browser.js";
import { NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { exerciseJobsPage } from "./jobs-page.js";

const USER = { username: "ui-operator", password: "s3cret-ui-operator-pass" };
const basic = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString("base64")}`;

describe("web UI jobs page with authentication required (Chromium)", () => {
  let workDir: string | undefined;
  let dev: NodeProcess | undefined;
  let browser: Browser | undefined;

  after(async () => {
    await browser?.close();
    await dev?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("the jobs page lists, runs, shows output, disables and deletes jobs with the browser's credentials; anonymous calls are 401", async () => {
    requireChromium();
    workDir = await mkdtemp(join(tmpdir(), "dcos-ui-jobs-auth-"));
    const credentials = join(workDir, "credentials.json");
    await writeFile(credentials, JSON.stringify({ credentials: [{ principal: USER.username, secret: USER.password }] }), { mode: 0o600 });
    dev = new NodeProcess("dev cluster", [
      "--role=dev", "--agents=1", "--port=0", "--http-port=0", "--no-dns", "--jobs-port=0", "--services-port=-1",
      `--work-dir=${join(workDir, "cluster")}`, `--credentials=${credentials}`, "--authenticate",
    ]);
    const masterHttp = await dev.waitForLine(/Master HTTP on http:\/\/([\d.]+:\d+)/, "the master's HTTP address", 60_000);
    await dev.waitForLine(/Embedded cluster up/, "the embedded cluster", 60_000);
    const jobsApi = await dev.waitForLine(/Jobs API \(Chronos\): http:\/\/([\d.]+:\d+)/, "the jobs API", 60_000);

    // Without credentials: refused by the jobs API and by the master's path to it.
    for (const url of [`http://${jobsApi}/v1/scheduler/jobs`, `http://${masterHttp}/service/chronos/v1/scheduler/jobs`]) {
      const r = await fetch(url);
      assert.equal(r.status, 401, `${url} without credentials`);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic/);
    }
    // Once the jobs framework subscribed (and advertised its API), the master forwards to it with the caller's credentials.
    const leader = await waitFor(
      async () => {
        const r = await fetch(`http://${masterHttp}/service/chronos/leader`, { headers: { authorization: basic } });
        return r.status === 200 ? ((await r.json()) as { leader: string }) : undefined;
      },
      "the master to reach the jobs API at /service/chronos",
      60_000,
    );
    assert.equal(leader.leader, jobsApi);
    assert.equal(((await fetch(`http://${masterHttp}/service/no-such-framework/v1/scheduler/jobs`, { headers: { authorization: basic } })).status), 404);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    const context = await browser.newContext({ httpCredentials: USER, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    const pageLog: string[] = [];
    page.on("pageerror", (e) => {
      pageErrors.push(e.message);
      pageLog.push(`pageerror: ${e.stack ?? e.message}`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) pageLog.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    try {
      await page.goto(`http://${masterHttp}/`);
      await waitForText(page, "[data-testid=connection]", (t) => t === "live", "the /events stream to connect with the browser's credentials");
      await exerciseJobsPage(page, pageErrors, (path, job) =>
        fetch(`http://${jobsApi}/v1/scheduler/${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: basic }, body: JSON.stringify(job) }),
      );
      const refused = pageLog.filter((l) => /HTTP 40[13] .*\/service\/chronos/.test(l));
      assert.deepEqual(refused, [], "no jobs API call of the page was refused");
    } catch (err) {
      const e = err as Error;
      e.message += `\n--- the page's errors and refused requests ---\n${pageLog.join("\n") || "(nothing)"}\n--- the dev cluster's last lines ---\n${dev?.tail(40) ?? ""}`;
      throw e;
    }
  });
});
