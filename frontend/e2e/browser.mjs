// Debian's chromium driven by playwright-core: no browser download.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export async function launchBrowser(executablePath) {
  const userDataDir = mkdtempSync(join(tmpdir(), "autotuner-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Paths whose requests count as list polling or per-event refetching. */
export function isListRequest(url) {
  const { pathname } = new URL(url);
  return pathname.startsWith("/api/tasks") || pathname.startsWith("/api/experiments");
}

/**
 * Watches one tab: its HTTP requests to /api/tasks* and /api/experiments*, the
 * events its WebSockets receive, its console, and any reload.
 */
export async function openTab(context, name) {
  const page = await context.newPage();
  const tab = {
    name,
    page,
    requests: [],
    events: 0,
    taskEvents: 0,
    console: [],
    errors: [],
    reset() {
      this.requests = [];
      this.events = 0;
      this.taskEvents = 0;
    },
    /** Marks the document; `assertNoReload` fails if it was replaced since. */
    async mark() {
      await page.evaluate(() => {
        globalThis.__e2eMark = true;
      });
    },
    async assertNoReload() {
      const marked = await page.evaluate(() => globalThis.__e2eMark === true);
      if (!marked) throw new Error(`${name}: the page was reloaded`);
    },
  };
  page.on("request", (request) => {
    if (request.resourceType() === "websocket") return;
    if (isListRequest(request.url()))
      tab.requests.push(`${request.method()} ${new URL(request.url()).pathname}${new URL(request.url()).search}`);
  });
  page.on("websocket", (ws) => {
    ws.on("framereceived", ({ payload }) => {
      try {
        const message = JSON.parse(typeof payload === "string" ? payload : payload.toString());
        if (typeof message.id === "number") {
          tab.events += 1;
          if (String(message.type).startsWith("task_")) tab.taskEvents += 1;
        }
      } catch {
        // not JSON: not an event
      }
    });
  });
  page.on("console", (message) => tab.console.push(message.text()));
  page.on("pageerror", (error) => tab.errors.push(error.message));
  return tab;
}
