import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../../test/fakeWebSocket";
import { makeEvent, makeExperiment, makeTask } from "../../test/fixtures";
import { App } from "./App";

let client: QueryClient;
let requests: string[];

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  requests = [];
  const task = makeTask({ status: "running", last_event_id: 1 });
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL) => {
      const path = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      requests.push(path);
      const body =
        path === "/api/tasks"
          ? [task]
          : path === "/api/tasks/1"
            ? task
            : path === "/api/experiments/task/1"
              ? []
              : null;
      return new Response(JSON.stringify(body ?? { detail: "not found" }), { status: body ? 200 : 404 });
    }),
  );
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
  window.location.hash = "#/tasks/1";
});

afterEach(() => {
  client.clear();
  vi.unstubAllGlobals();
  window.location.hash = "";
});

const socketFor = (path: string) =>
  FakeWebSocket.instances.find((s) => s.url.endsWith(path) || s.url.includes(`${path}?`));

describe("the experiments page", () => {
  it("fills in live from the task's socket with no request per event", async () => {
    render(
      <QueryClientProvider client={client}>
        <App />
      </QueryClientProvider>,
    );
    await act(async () => {
      socketFor("/api/ws/tasks")!.open();
      socketFor("/api/ws/tasks")!.receive({
        type: "connection_established",
        task_id: null,
        last_event_id: null,
        replayed: 0,
      });
    });
    await screen.findByTestId("task-title");
    const taskSocket = socketFor("/api/ws/tasks/1");
    expect(taskSocket?.url).toMatch(/\/api\/ws\/tasks\/1\?last_event_id=1$/);
    await act(async () => {
      taskSocket!.open();
      taskSocket!.receive({ type: "connection_established", task_id: 1, last_event_id: 1, replayed: 0 });
    });
    await screen.findByText(/No experiments yet/);
    const before = requests.length;
    expect(requests.filter((r) => r.startsWith("/api/experiments"))).toHaveLength(1);

    const running = makeExperiment({ status: "benchmarking" });
    await act(async () => {
      taskSocket!.receive(makeEvent(2, "experiment_started", { experiment: makeExperiment() }));
      taskSocket!.receive(
        makeEvent(3, "benchmark_progress", {
          experiment: running,
          progress: { completed: 12, total: 30, fraction: 0.4, elapsed: 2 },
        }),
      );
    });
    expect((await screen.findAllByTestId("experiment-row")).map((r) => r.getAttribute("data-status"))).toEqual([
      "benchmarking",
    ]);
    expect(screen.getByTestId("benchmark-progress").textContent).toContain("40 %");

    const done = makeExperiment({
      status: "success",
      objective_score: 1234.5,
      engine_command: "python -m autotuner.sim --max-num-seqs 8",
    });
    await act(async () => {
      taskSocket!.receive(makeEvent(4, "experiment_completed", { experiment: done }));
      taskSocket!.receive(
        makeEvent(5, "task_progress", {
          task: makeTask({
            status: "running",
            last_event_id: 5,
            successful_experiments: 1,
            best_experiment_id: 11,
            best_score: 1234.5,
          }),
          progress: 33.3,
          completed: 1,
          total: 3,
        }),
      );
    });
    expect(screen.getAllByTestId("experiment-row").map((r) => r.getAttribute("data-status"))).toEqual(["success"]);
    expect(screen.getByTestId("best-score").textContent).toBe("1,234.5");
    expect(screen.getByTestId("engine-command").textContent).toBe("python -m autotuner.sim --max-num-seqs 8");
    expect(screen.getAllByTestId("experiment-progress")[0]!.textContent).toBe("1/3");
    expect(screen.queryByTestId("benchmark-progress")).toBeNull();
    expect(requests.length).toBe(before);
  });
});
