// Starts and stops a real `autotuner serve` for the browser tests.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * One server process on a fixed data dir and port, restartable on the same ones.
 * Its output goes to <dataDir>/server.log.
 */
export class AutotunerServer {
  constructor({ bin, dataDir, port, env = {}, log = console.log }) {
    this.env = env;
    this.bin = bin;
    this.dataDir = dataDir;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.logFile = join(dataDir, "server.log");
    this.proc = null;
    this.log = log;
  }

  async start(timeoutMs = 60_000) {
    const out = createWriteStream(this.logFile, { flags: "a" });
    this.proc = spawn(this.bin, ["serve", "--host", "127.0.0.1", "--port", String(this.port)], {
      env: { ...process.env, ...this.env, AUTOTUNER_DATA_DIR: this.dataDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout.pipe(out);
    this.proc.stderr.pipe(out);
    const proc = this.proc;
    const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const early = await Promise.race([exited, sleep(250).then(() => null)]);
      if (early) throw new Error(`autotuner serve exited early (${JSON.stringify(early)}); see ${this.logFile}`);
      try {
        const response = await fetch(`${this.base}/api/health`);
        if (response.ok) {
          this.log(`server up on ${this.base} (pid ${proc.pid})`);
          return;
        }
      } catch {
        // not listening yet
      }
    }
    throw new Error(`autotuner serve did not answer /api/health within ${timeoutMs} ms; see ${this.logFile}`);
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000) {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const done = await Promise.race([this.exited, sleep(graceMs).then(() => null)]);
    if (!done) {
      this.log(`server pid ${proc.pid} ignored SIGTERM for ${graceMs} ms: killing it`);
      proc.kill("SIGKILL");
      await this.exited;
    }
    this.proc = null;
  }

  async api(path, init = {}) {
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path} → ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}
