/** Headless Chromium for the web UI tests: the Debian binary check and waiting for a page's text. */
import { existsSync } from "node:fs";
import type { Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const BROWSER_TIMEOUT_MS = 30_000;

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the web UI's browser test needs Debian's chromium. ` +
        "Install it with 'sudo apt-get update && sudo apt-get install -y chromium' (or 'sudo bash deploy/setup-host.sh'), " +
        "or point CHROMIUM_PATH at a Chromium binary.",
    );
  }
}

/** Waits until the element's text (trimmed) satisfies `ok`; the error names what was awaited and what was seen. */
export async function waitForText(page: Page, selector: string, ok: (text: string) => boolean, what: string, timeoutMs = BROWSER_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen = "(no such element)";
  for (;;) {
    const el = page.locator(selector).first();
    if ((await el.count()) > 0) {
      seen = ((await el.textContent()) ?? "").trim();
      if (ok(seen)) return seen;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (${selector} shows: ${seen.slice(0, 300)})`);
    await page.waitForTimeout(100);
  }
}

/** Waits until `selector` matches exactly `n` elements (a page renders after its data arrives); the error says how many it saw. */
export async function waitForCount(page: Page, selector: string, n: number, what: string, timeoutMs = BROWSER_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await page.locator(selector).count();
    if (seen === n) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}: ${selector} matches ${seen} elements, not ${n}`);
    await page.waitForTimeout(100);
  }
}
