// End-to-end tests of the web UI against a real `autotuner serve`, in Debian's
// chromium. Usage: npm run e2e (after npm run build).
//
//   AUTOTUNER_BIN   the CLI to serve with (default ../.venv/bin/autotuner)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   E2E_WINDOW_S    length of each request-counting window (default 60 as the issue asks, at least 20)
//   E2E_SCREENSHOTS where page screenshots go (default ../docs/screenshots)
//   E2E_ONLY        run only the scenarios whose name contains this text
//
// Exits non-zero if any scenario fails; prints "N passed, N failed" last.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { launchBrowser, openTab } from "./browser.mjs";
import { AutotunerServer, freePort } from "./server.mjs";

const frontendDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = resolve(frontendDir, process.env.AUTOTUNER_BIN ?? "../.venv/bin/autotuner");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WINDOW_S = Math.max(20, Number(process.env.E2E_WINDOW_S ?? 60));
const SHOTS = resolve(frontendDir, process.env.E2E_SCREENSHOTS ?? "../docs/screenshots");

function log(...args) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function until(check, { timeout = 30_000, interval = 250, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(interval);
  }
  throw new Error(
    `timed out after ${timeout} ms waiting for ${message}${last instanceof Error ? ` (${last.message})` : ""}`,
  );
}

/** A sim task spec; `values` controls how many experiments it runs, `seconds` how long each benchmarks. */
function simSpec(name, { values = [8, 32, 64], seconds = 5, requests = 30 } = {}) {
  return {
    task_name: name,
    description: "end-to-end test task on the simulated engine",
    deployment_mode: "sim",
    base_runtime: "vllm",
    model: { id_or_path: "sim-llama" },
    parameters: { "max-num-seqs": values, "gpu-memory-utilization": [0.9] },
    optimization: { strategy: "grid_search", objective: "maximize_throughput", max_iterations: values.length },
    benchmark: {
      traffic_scenarios: ["D(64,64)"],
      num_concurrency: [8],
      max_time_per_iteration: seconds,
      max_requests_per_iteration: requests,
    },
  };
}

/** Enough experiments of ~`seconds` each to keep a task running for `runSeconds`. */
function longSpec(name, runSeconds, seconds = 4) {
  const count = Math.ceil(runSeconds / (seconds + 1)) + 2;
  const values = Array.from({ length: count }, (_, i) => 4 * (i + 1));
  return simSpec(name, { values, seconds, requests: 100_000 });
}

const mainIndicator = (page) => page.locator('.main [data-testid="connection-indicator"]');
const phaseOf = (page) => mainIndicator(page).getAttribute("data-phase");

async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  log(`screenshot ${name}.png`);
}

async function uiExperiments(page) {
  return await page.$$eval('[data-testid="experiment-row"]', (rows) =>
    rows.map((row) => ({
      experiment_id: Number(row.getAttribute("data-experiment")),
      status: row.getAttribute("data-status"),
    })),
  );
}

async function waitTaskFinished(server, id, timeout = 180_000) {
  return await until(
    async () => {
      const task = await server.api(`/api/tasks/${id}`);
      return ["completed", "failed", "cancelled"].includes(task.status) ? task : null;
    },
    { timeout, interval: 1000, message: `task ${id} to finish` },
  );
}

/** The UI's experiment table equals the server's list, and experiment numbers run 1..N with no hole. */
async function assertSameExperiments(page, server, taskId) {
  const rest = (await server.api(`/api/experiments/task/${taskId}`)).map((e) => ({
    experiment_id: e.experiment_id,
    status: e.status,
  }));
  await until(async () => JSON.stringify(await uiExperiments(page)) === JSON.stringify(rest), {
    timeout: 15_000,
    message: `the UI to show the server's ${rest.length} experiments of task ${taskId}`,
  }).catch(async (error) => {
    throw new Error(
      `${error.message}: UI ${JSON.stringify(await uiExperiments(page))} vs server ${JSON.stringify(rest)}`,
    );
  });
  rest.forEach((e, i) => assert(e.experiment_id === i + 1, `experiment numbers have a hole: ${JSON.stringify(rest)}`));
  return rest;
}

// ------------------------------------------------------------------ scenarios

const results = [];
async function scenario(name, fn) {
  if (process.env.E2E_ONLY && !name.toLowerCase().includes(process.env.E2E_ONLY.toLowerCase())) return;
  const started = Date.now();
  log(`▶ ${name}`);
  try {
    await fn();
    results.push({ name, ok: true });
    log(`✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    results.push({ name, ok: false, error });
    log(
      `✗ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n    ${String(error?.stack ?? error)
        .split("\n")
        .join("\n    ")}`,
    );
  }
}

async function main() {
  if (!existsSync(BIN)) throw new Error(`no autotuner CLI at ${BIN} (set AUTOTUNER_BIN)`);
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);
  if (!existsSync(join(frontendDir, "dist", "index.html")))
    throw new Error("frontend/dist is not built: run `npm run build` first");

  const dataDir = mkdtempSync(join(tmpdir(), "autotuner-e2e-data-"));
  const port = await freePort();
  const server = new AutotunerServer({ bin: BIN, dataDir, port, log });
  const base = server.base;
  const stamp = Date.now().toString(36);
  log(`window ${WINDOW_S} s, data dir ${dataDir}, port ${port}`);
  await server.start();
  const browser = await launchBrowser(CHROMIUM);
  const { context } = browser;

  try {
    // -------------------------------------------------------------- 1
    await scenario(
      "new task: server 422 messages appear next to the fields they name; examples load in one click",
      async () => {
        const tab = await openTab(context, "new-task");
        await tab.page.goto(`${base}/#/tasks/new`);
        await tab.page.locator('[data-testid="example"]').first().waitFor();
        await tab.page.getByRole("button", { name: "JSON", exact: true }).click();
        const bad = simSpec(`e2e-invalid-${stamp}`);
        bad.optimization.max_iterations = 0;
        bad.benchmark.traffic_scenarios = ["X(1)"];
        await tab.page.getByTestId("spec-editor").fill(JSON.stringify(bad, null, 2));
        await tab.page.getByTestId("create-and-start").click();
        const iterations = tab.page.locator('[data-field="optimization.max_iterations"] [data-testid="field-error"]');
        const scenarios = tab.page.locator('[data-field="benchmark.traffic_scenarios"] [data-testid="field-error"]');
        await iterations.waitFor({ timeout: 10_000 });
        await scenarios.waitFor({ timeout: 10_000 });
        log(
          `  422 shown: max_iterations → "${await iterations.textContent()}"; traffic_scenarios → "${await scenarios.textContent()}"`,
        );
        await screenshot(tab.page, "new-task-errors");
        // one click on an example fills the editor with it
        const example = tab.page.locator('[data-testid="example"][data-example="sim-quick"]');
        const target = (await example.count()) ? example : tab.page.locator('[data-testid="example"]').first();
        const exampleName = await target.getAttribute("data-example");
        await target.click();
        await until(async () => (await tab.page.getByTestId("spec-editor").inputValue()).includes(exampleName), {
          message: "the example in the editor",
        });
        assert(
          (await tab.page.locator('[data-testid="field-error"]').count()) === 0,
          "errors stay after loading an example",
        );
        await screenshot(tab.page, "new-task");
        assert(tab.errors.length === 0, `page errors: ${tab.errors.join("; ")}`);
        await tab.page.close();
      },
    );

    // -------------------------------------------------------------- 2
    await scenario(
      "create a sim task in the UI and start it; experiments appear and complete without a reload",
      async () => {
        const tab = await openTab(context, "create");
        await tab.page.goto(`${base}/#/tasks/new`);
        await tab.mark();
        await tab.page.getByRole("button", { name: "JSON", exact: true }).click();
        await tab.page.getByTestId("spec-editor").fill(JSON.stringify(simSpec("placeholder"), null, 2));
        // the form edits the same spec
        const name = `e2e-quick-${stamp}`;
        await tab.page.locator("#task_name").fill(name);
        assert(
          (await tab.page.getByTestId("spec-editor").inputValue()).includes(name),
          "the form did not update the editor",
        );
        await tab.page.getByTestId("create-and-start").click();
        await tab.page.waitForURL(/#\/tasks\/\d+$/, { timeout: 15_000 });
        const taskId = Number(/#\/tasks\/(\d+)$/.exec(tab.page.url())[1]);
        log(`  created and started task ${taskId} from the UI`);
        await tab.page.locator('[data-testid="experiment-row"]').first().waitFor({ timeout: 60_000 });
        log("  first experiment row appeared");
        await until(async () => (await tab.page.locator("h1 .badge").getAttribute("data-status")) === "completed", {
          timeout: 120_000,
          message: "the task to show as completed",
        });
        const rows = await assertSameExperiments(tab.page, server, taskId);
        assert(rows.length === 3, `expected 3 experiments, got ${rows.length}`);
        assert(
          rows.every((r) => r.status === "success"),
          `not all experiments succeeded: ${JSON.stringify(rows)}`,
        );
        await tab.assertNoReload();
        const command = await tab.page.getByTestId("engine-command").textContent();
        assert(/autotuner\.sim/.test(command ?? ""), `best configuration shows no sim engine command: ${command}`);
        assert(await tab.page.getByTestId("objective-chart").isVisible(), "no objective chart");
        assert(
          tab.console.some((line) => line === `[useTaskWebSocket] Connected to task ${taskId}`),
          "no '[useTaskWebSocket] Connected to task N' in the console",
        );
        assert(
          tab.console.some((line) => line.startsWith("[useTaskWebSocket] Received event:")),
          "no '[useTaskWebSocket] Received event:' in the console",
        );
        assert(tab.errors.length === 0, `page errors: ${tab.errors.join("; ")}`);
        await tab.page.close();
      },
    );

    // -------------------------------------------------------------- 2b
    await scenario("an example started in one click shows its failed experiment and the engine's error", async () => {
      const tab = await openTab(context, "example");
      await tab.page.goto(`${base}/#/tasks/new`);
      await tab.page.locator('[data-testid="example"]').first().waitFor();
      const example = tab.page.locator('[data-testid="example"][data-example="sim-oom"]');
      if (!(await example.count())) throw new Error("the server offers no sim-oom example");
      await example.click();
      await tab.page.getByTestId("create-and-start").click();
      await tab.page.waitForURL(/#\/tasks\/\d+$/, { timeout: 15_000 });
      const taskId = Number(/#\/tasks\/(\d+)$/.exec(tab.page.url())[1]);
      const done = await waitTaskFinished(server, taskId, 120_000);
      await until(async () => (await tab.page.locator("h1 .badge").getAttribute("data-status")) === done.status, {
        message: "the final status on the page",
      });
      const rows = await assertSameExperiments(tab.page, server, taskId);
      assert(
        rows.some((r) => r.status === "failed"),
        `no failed experiment: ${JSON.stringify(rows)}`,
      );
      const failedRow = tab.page.locator('[data-testid="experiment-row"][data-status="failed"]').first();
      const text = (await failedRow.textContent()) ?? "";
      assert(/memory/i.test(text), `the failed row shows no out-of-memory error: ${text}`);
      assert(
        (await tab.page.locator('[data-testid="objective-chart"] .point-failed').count()) >= 1,
        "the chart marks no failed experiment",
      );
      log(`  task ${taskId} ${done.status}: ${rows.map((r) => r.status).join(", ")}`);
      await failedRow.click();
      await screenshot(tab.page, "experiments-failed");
      await tab.page.close();
    });

    // -------------------------------------------------------------- 3
    await scenario(
      `no polling and no request per event while connected: ${WINDOW_S} s running, ${WINDOW_S} s idle`,
      async () => {
        const spec = longSpec(`e2e-long-${stamp}`, WINDOW_S + 15);
        const task = await server.api("/api/tasks", { method: "POST", body: JSON.stringify(spec) });
        const list = await openTab(context, "tasks");
        const detail = await openTab(context, "experiments");
        await list.page.goto(`${base}/#/tasks`);
        await detail.page.goto(`${base}/#/tasks/${task.id}`);
        await until(async () => (await phaseOf(list.page)) === "live", { message: "the tasks page to be live" });
        await detail.page.getByTestId("start-task").click();
        await until(async () => (await phaseOf(detail.page)) === "live", {
          message: "the experiments page to be live",
        });
        await detail.page.locator('[data-testid="experiment-row"]').first().waitFor({ timeout: 30_000 });
        await list.mark();
        await detail.mark();

        list.reset();
        detail.reset();
        log(`  counting requests for ${WINDOW_S} s while task ${task.id} runs`);
        await sleep(WINDOW_S * 750);
        await screenshot(detail.page, "experiments-running");
        await screenshot(list.page, "tasks");
        await sleep(WINDOW_S * 250);
        const running = await server.api(`/api/tasks/${task.id}`);
        const runRequests = [...list.requests, ...detail.requests];
        const runEvents = detail.events;
        log(
          `  running: ${runRequests.length} list requests, ${runEvents} events on the task socket, ${list.taskEvents} on the task feed (task ${running.status})`,
        );
        assert(
          running.status === "running",
          `the task finished before the window ended (${running.status}): raise its length`,
        );
        assert(runEvents > 0 && list.taskEvents > 0, "no live events arrived during the window");
        assert(runRequests.length === 0, `requests while connected and running: ${runRequests.join(", ")}`);

        await waitTaskFinished(server, task.id);
        await until(async () => (await detail.page.locator("h1 .badge").getAttribute("data-status")) === "completed", {
          message: "the page to show completion",
        });
        await assertSameExperiments(detail.page, server, task.id);
        await screenshot(detail.page, "experiments");
        list.reset();
        detail.reset();
        log(`  counting requests for ${WINDOW_S} s while idle`);
        await sleep(WINDOW_S * 1000);
        const idleRequests = [...list.requests, ...detail.requests];
        log(`  idle: ${idleRequests.length} list requests`);
        assert(idleRequests.length === 0, `requests while connected and idle: ${idleRequests.join(", ")}`);
        await list.assertNoReload();
        await detail.assertNoReload();
        await list.page.close();
        await detail.page.close();
      },
    );

    // -------------------------------------------------------------- 4
    await scenario(
      "server stopped and restarted mid-task: indicator goes reconnecting, back to live, no experiment missing",
      async () => {
        const spec = longSpec(`e2e-restart-${stamp}`, 30);
        const task = await server.api("/api/tasks", { method: "POST", body: JSON.stringify(spec) });
        await server.api(`/api/tasks/${task.id}/start`, { method: "POST" });
        const tab = await openTab(context, "restart");
        await tab.page.goto(`${base}/#/tasks/${task.id}`);
        await until(async () => (await phaseOf(tab.page)) === "live", { message: "live before the restart" });
        await tab.page
          .locator('[data-testid="experiment-row"][data-status="success"]')
          .first()
          .waitFor({ timeout: 60_000 });
        await tab.mark();
        const before = await uiExperiments(tab.page);
        log(`  stopping the server with ${before.length} experiments shown`);
        await server.stop();
        await until(async () => (await phaseOf(tab.page)) === "reconnecting", {
          timeout: 15_000,
          message: "the indicator to show reconnecting",
        });
        const text = await mainIndicator(tab.page).textContent();
        log(`  indicator: "${text}"`);
        assert(/Reconnecting \(attempt \d+/.test(text ?? ""), `indicator text: ${text}`);
        await screenshot(tab.page, "reconnecting");
        await sleep(1500);
        await server.start();
        await until(async () => (await phaseOf(tab.page)) === "live", {
          timeout: 40_000,
          message: "the indicator to be live again",
        });
        log("  live again after the restart");
        assert(
          tab.console.some((line) => /^\[useWebSocket\] Reconnecting in \d+ms \(attempt 1\/10\)\.\.\.$/.test(line)),
          "no '[useWebSocket] Reconnecting in …ms (attempt 1/10)...' in the console",
        );
        const done = await waitTaskFinished(server, task.id);
        log(`  task ${task.id} ${done.status} after the restart`);
        const rows = await assertSameExperiments(tab.page, server, task.id);
        assert(rows.length >= before.length, "experiments disappeared");
        await until(async () => (await tab.page.locator("h1 .badge").getAttribute("data-status")) === done.status, {
          message: "the final status on the page",
        });
        await tab.assertNoReload();
        await tab.page.close();
      },
    );

    // -------------------------------------------------------------- 5
    await scenario("two tabs on one running task both stay live and both see every experiment", async () => {
      const spec = simSpec(`e2e-tabs-${stamp}`, { values: [8, 16, 32, 64], seconds: 3, requests: 100_000 });
      const task = await server.api("/api/tasks", { method: "POST", body: JSON.stringify(spec) });
      await server.api(`/api/tasks/${task.id}/start`, { method: "POST" });
      const tabs = [await openTab(context, "tab-1"), await openTab(context, "tab-2")];
      for (const tab of tabs) await tab.page.goto(`${base}/#/tasks/${task.id}`);
      for (const tab of tabs)
        await until(async () => (await phaseOf(tab.page)) === "live", { message: `${tab.name} to be live` });
      for (const tab of tabs) await tab.mark();
      const stats = await server.api("/api/system/stats");
      log(`  server counts ${stats.connections} live connections`);
      await waitTaskFinished(server, task.id);
      for (const tab of tabs) {
        await until(async () => (await tab.page.locator("h1 .badge").getAttribute("data-status")) === "completed", {
          message: `${tab.name} to show completion`,
        });
        const rows = await assertSameExperiments(tab.page, server, task.id);
        assert(rows.length === 4, `${tab.name}: ${rows.length} experiments`);
        assert(tab.events > 0, `${tab.name} received no event`);
        await tab.assertNoReload();
      }
      log(`  events received: ${tabs.map((t) => `${t.name} ${t.events}`).join(", ")}`);
      for (const tab of tabs) await tab.page.close();
    });

    // -------------------------------------------------------------- 6
    await scenario("dashboard shows workers, GPUs (or no GPU) and live figures, polled every 5 s", async () => {
      const tab = await openTab(context, "dashboard");
      let statsRequests = 0;
      tab.page.on("request", (request) => {
        if (new URL(request.url()).pathname === "/api/system/stats") statsRequests += 1;
      });
      await tab.page.goto(`${base}/#/dashboard`);
      await tab.page.getByTestId("stat-connections").locator(".stat-value").filter({ hasText: /\d/ }).waitFor();
      const gpu = await server.api("/api/system/gpus");
      if (!gpu.available) await tab.page.getByTestId("no-gpu").waitFor();
      await tab.page.getByTestId("workers-table").waitFor();
      await sleep(11_000);
      log(`  ${statsRequests} stats requests in ~11 s`);
      assert(statsRequests >= 2 && statsRequests <= 4, `dashboard polled stats ${statsRequests} times in 11 s`);
      await screenshot(tab.page, "dashboard");
      await tab.page.close();
    });
    // -------------------------------------------------------------- 7
    await scenario("a server with AUTOTUNER_AUTH_SECRET: the UI asks for a token, then goes live with it", async () => {
      const secret = `e2e-secret-${stamp}-0123456789abcdef`;
      const authDir = mkdtempSync(join(tmpdir(), "autotuner-e2e-auth-"));
      const authServer = new AutotunerServer({
        bin: BIN,
        dataDir: authDir,
        port: await freePort(),
        env: { AUTOTUNER_AUTH_SECRET: secret },
        log,
      });
      try {
        await authServer.start();
        const token = execFileSync(BIN, ["token", "--subject", "e2e"], {
          env: { ...process.env, AUTOTUNER_AUTH_SECRET: secret },
        })
          .toString()
          .trim()
          .split(/\s+/)
          .pop();
        const tab = await openTab(context, "auth");
        await tab.page.goto(`${authServer.base}/#/tasks`);
        await tab.page.getByTestId("token-banner").waitFor({ timeout: 15_000 });
        assert((await phaseOf(tab.page)) !== "live", "live without a token");
        await tab.page.getByLabel("API token").fill(token);
        await tab.page.getByRole("button", { name: "Use token" }).click();
        await until(async () => (await phaseOf(tab.page)) === "live", { message: "live with the token" });
        await tab.page.getByTestId("token-banner").waitFor({ state: "detached" });
        await tab.page.getByText("No tasks yet.").waitFor();
        log("  refused without a token, live with one");
        await tab.page.close();
      } finally {
        await authServer.stop();
        rmSync(authDir, { recursive: true, force: true });
      }
    });
  } finally {
    await browser.close();
    await server.stop();
    const failed = results.filter((r) => !r.ok);
    if (failed.length) {
      log(`server log (last lines of ${server.logFile}):`);
      console.log(readFileSync(server.logFile, "utf8").split("\n").slice(-40).join("\n"));
    }
    if (!process.env.E2E_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  results.push({ name: "setup", ok: false, error });
  log(`✗ setup: ${error?.stack ?? error}`);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
