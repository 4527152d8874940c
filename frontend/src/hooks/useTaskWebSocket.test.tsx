import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../../test/fakeWebSocket";
import { makeEvent, makeExperiment, makeTask } from "../../test/fixtures";
import type { LiveBenchmarkProgress, TaskProgressFigures } from "../lib/liveCache";
import { queryKeys } from "../lib/queryKeys";
import type { ExperimentPublic, TaskEvent, TaskPublic } from "../lib/types";
import { taskWsUrl } from "../lib/wsUrl";
import { useTaskWebSocket } from "./useTaskWebSocket";

let client: QueryClient;
let fetchSpy: ReturnType<typeof vi.fn>;

function wrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

beforeEach(() => {
  vi.useFakeTimers();
  client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  fetchSpy = vi.fn(() => Promise.reject(new Error("no HTTP in this test")));
  vi.stubGlobal("fetch", fetchSpy);
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
});

afterEach(() => {
  client.clear();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const noJitter = () => 0.5;

function connect(taskId = 1, established: { last_event_id?: number; replayed?: number } = {}) {
  const hook = renderHook(() => useTaskWebSocket(taskId, true, { random: noJitter }), { wrapper });
  act(() => FakeWebSocket.last.open());
  act(() =>
    FakeWebSocket.last.receive({
      type: "connection_established",
      task_id: taskId,
      last_event_id: 0,
      replayed: 0,
      ...established,
    }),
  );
  return hook;
}

function send(event: TaskEvent) {
  act(() => FakeWebSocket.last.receive(event));
}

describe("URL construction", () => {
  it("follows the page's protocol and host", () => {
    expect(taskWsUrl(3, { protocol: "http:", host: "example.org:8123" })).toBe("ws://example.org:8123/api/ws/tasks/3");
    expect(taskWsUrl(3, { protocol: "https:", host: "tuner.example" })).toBe("wss://tuner.example/api/ws/tasks/3");
  });

  it("opens the task socket on the page's host", () => {
    renderHook(() => useTaskWebSocket(5), { wrapper });
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks/5`);
  });

  it("does not connect when disabled or without a task", () => {
    renderHook(() => useTaskWebSocket(5, false), { wrapper });
    renderHook(() => useTaskWebSocket(null), { wrapper });
    expect(FakeWebSocket.instances).toHaveLength(0);
  });
});

describe("cache updates, one per event type, with no HTTP request", () => {
  beforeEach(() => {
    client.setQueryData(queryKeys.tasks, [makeTask({ id: 2, last_event_id: 5 }), makeTask({ status: "queued" })]);
    client.setQueryData(queryKeys.task(1), makeTask({ status: "queued" }));
    client.setQueryData<ExperimentPublic[]>(queryKeys.experiments(1), []);
  });

  afterEach(() => {
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  const taskTypes = ["task_started", "task_progress", "task_completed", "task_failed", "task_cancelled"] as const;
  const statusOf = {
    task_started: "running",
    task_progress: "running",
    task_completed: "completed",
    task_failed: "failed",
    task_cancelled: "cancelled",
  } as const;

  for (const type of taskTypes) {
    it(`${type} writes data.task into ["task", id] and ["tasks"]`, () => {
      connect();
      const task = makeTask({ status: statusOf[type], last_event_id: 1, best_score: 12.5, successful_experiments: 1 });
      const data: TaskEvent["data"] = { task };
      if (type === "task_progress")
        Object.assign(data, { progress: 33.3, completed: 1, total: 3, best_score: 12.5, best_experiment_id: 11 });
      send(makeEvent(1, type, data));
      expect(client.getQueryData<TaskPublic>(queryKeys.task(1))).toEqual(task);
      const list = client.getQueryData<TaskPublic[]>(queryKeys.tasks)!;
      expect(list.map((t) => [t.id, t.status])).toEqual([
        [2, "running"],
        [1, statusOf[type]],
      ]);
      if (type === "task_progress") {
        expect(client.getQueryData<TaskProgressFigures>(queryKeys.taskProgress(1))).toEqual({
          progress: 33.3,
          completed: 1,
          total: 3,
          best_score: 12.5,
          best_experiment_id: 11,
        });
      }
    });
  }

  const experimentTypes = [
    ["experiment_started", "deploying"],
    ["experiment_progress", "benchmarking"],
    ["experiment_completed", "success"],
    ["experiment_failed", "failed"],
    ["benchmark_started", "benchmarking"],
    ["benchmark_progress", "benchmarking"],
  ] as const;

  for (const [type, status] of experimentTypes) {
    it(`${type} writes data.experiment into ["experiments", taskId]`, () => {
      connect();
      const first = makeExperiment({ id: 11, experiment_id: 1, status: "success", objective_score: 10 });
      send(makeEvent(1, "experiment_completed", { experiment: first }));
      const second = makeExperiment({
        id: 12,
        experiment_id: 2,
        status,
        objective_score: status === "success" ? 20 : null,
        error_message: status === "failed" ? "out of memory" : null,
      });
      const data: TaskEvent["data"] = { experiment: second };
      if (type === "benchmark_progress") data.progress = { completed: 10, total: 30, fraction: 1 / 3, elapsed: 1.5 };
      send(makeEvent(2, type, data));
      const list = client.getQueryData<ExperimentPublic[]>(queryKeys.experiments(1))!;
      expect(list.map((e) => [e.experiment_id, e.status])).toEqual([
        [1, "success"],
        [2, status],
      ]);
      expect(list[1]).toEqual(second);
      const progress = client.getQueryData<LiveBenchmarkProgress | null>(queryKeys.benchmarkProgress(1));
      if (type === "benchmark_progress") {
        expect(progress).toMatchObject({
          experimentId: 12,
          experimentNumber: 2,
          progress: { completed: 10, total: 30 },
        });
      }
      // a later snapshot of the same experiment replaces it in place
      const done = { ...second, status: "success" as const, objective_score: 21 };
      send(makeEvent(3, "experiment_completed", { experiment: done }));
      expect(client.getQueryData<ExperimentPublic[]>(queryKeys.experiments(1))).toEqual([first, done]);
      expect(client.getQueryData(queryKeys.benchmarkProgress(1)) ?? null).toBeNull();
    });
  }

  it("log_message changes no entity", () => {
    connect();
    const before = [
      client.getQueryData(queryKeys.tasks),
      client.getQueryData(queryKeys.task(1)),
      client.getQueryData(queryKeys.experiments(1)),
    ];
    send(makeEvent(1, "log_message", { level: "info" }));
    expect([
      client.getQueryData(queryKeys.tasks),
      client.getQueryData(queryKeys.task(1)),
      client.getQueryData(queryKeys.experiments(1)),
    ]).toEqual(before);
  });

  it("never moves a task back to an older snapshot", () => {
    connect();
    send(makeEvent(1, "task_progress", { task: makeTask({ last_event_id: 4, successful_experiments: 2 }) }));
    // the same task arriving late with an older snapshot (e.g. from the all-tasks feed)
    send(makeEvent(2, "task_progress", { task: makeTask({ last_event_id: 3, successful_experiments: 1 }) }));
    expect(client.getQueryData<TaskPublic>(queryKeys.task(1))!.successful_experiments).toBe(2);
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)!.find((t) => t.id === 1)!.successful_experiments).toBe(2);
  });
});

describe("console messages", () => {
  it("logs its connect and event lines", () => {
    const log = vi.mocked(console.log);
    client.setQueryData(queryKeys.task(1), makeTask());
    connect(1);
    expect(log).toHaveBeenCalledWith("[useTaskWebSocket] Connected to task 1");
    const event = makeEvent(1, "task_started", { task: makeTask({ last_event_id: 1 }) });
    send(event);
    expect(log).toHaveBeenCalledWith("[useTaskWebSocket] Received event:", event);
    act(() => FakeWebSocket.last.drop());
    expect(log).toHaveBeenCalledWith("[useWebSocket] Reconnecting in 1000ms (attempt 1/10)...");
  });
});

describe("resume and refetch", () => {
  /** Mount observers for the task's queries with counting fetchers. */
  function observe(taskId = 1) {
    const calls = { task: 0, experiments: 0 };
    renderHook(
      () => {
        useQuery({
          queryKey: queryKeys.task(taskId),
          queryFn: async () => (calls.task++, makeTask({ last_event_id: 9 })),
        });
        useQuery({
          queryKey: queryKeys.experiments(taskId),
          queryFn: async () => (calls.experiments++, [] as ExperimentPublic[]),
        });
      },
      { wrapper },
    );
    return calls;
  }

  beforeEach(() => {
    client.setQueryData(queryKeys.task(1), makeTask({ last_event_id: 4 }));
    client.setQueryData<ExperimentPublic[]>(queryKeys.experiments(1), []);
  });

  it("starts from the cached task's last_event_id and resumes from the newest id seen", async () => {
    const calls = observe();
    connect(1, { last_event_id: 4 });
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks/1?last_event_id=4`);
    send(makeEvent(5, "task_progress", { task: makeTask({ last_event_id: 5 }) }));
    send(makeEvent(6, "log_message"));
    act(() => FakeWebSocket.last.drop());
    act(() => {
      vi.advanceTimersByTime(1000);
    });
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks/1?last_event_id=6`);
    act(() => FakeWebSocket.last.open());
    act(() =>
      FakeWebSocket.last.receive({ type: "connection_established", task_id: 1, last_event_id: 8, replayed: 2 }),
    );
    send(makeEvent(7, "log_message"));
    send(makeEvent(8, "log_message"));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 0, experiments: 0 });
  });

  it("ignores an event it has already applied", () => {
    connect(1, { last_event_id: 4 });
    send(makeEvent(5, "task_progress", { task: makeTask({ last_event_id: 5, successful_experiments: 1 }) }));
    const log = vi.mocked(console.log);
    log.mockClear();
    send(makeEvent(5, "task_progress", { task: makeTask({ last_event_id: 5, successful_experiments: 1 }) }));
    expect(log).not.toHaveBeenCalled();
  });

  it("refetches once on resync_required, then takes the next id as the new start", async () => {
    const calls = observe();
    connect(1, { last_event_id: 4 });
    act(() => FakeWebSocket.last.receive({ type: "resync_required" }));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 1, experiments: 1 });
    send(makeEvent(40, "log_message"));
    send(makeEvent(41, "log_message"));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 1, experiments: 1 });
  });

  it("on resync_required with the server's newest id, continues from it without a second refetch", async () => {
    const calls = observe();
    connect(1, { last_event_id: 4 });
    act(() => FakeWebSocket.last.receive({ type: "resync_required", task_id: 1, last_event_id: 30 }));
    send(makeEvent(31, "log_message"));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 1, experiments: 1 });
    send(makeEvent(33, "log_message")); // a real gap after the resync point
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 2, experiments: 2 });
  });

  it("does not retry after an authentication or bad-query close", () => {
    for (const code of [4400, 4401, 4403]) {
      FakeWebSocket.reset();
      renderHook(() => useTaskWebSocket(1, true, { random: noJitter }), { wrapper });
      act(() => FakeWebSocket.last.drop(code));
      act(() => {
        vi.advanceTimersByTime(60_000);
      });
      expect(FakeWebSocket.instances).toHaveLength(1);
    }
  });

  it("resumes after a too-slow close (4429) from the last id it applied", () => {
    connect(1, { last_event_id: 4 });
    send(makeEvent(5, "log_message"));
    act(() => FakeWebSocket.last.drop(4429, "too slow; resume with last_event_id=5"));
    act(() => {
      vi.advanceTimersByTime(1000);
    });
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks/1?last_event_id=5`);
  });

  it("refetches once on a gap in the event ids", async () => {
    const calls = observe();
    connect(1, { last_event_id: 4 });
    send(makeEvent(5, "log_message"));
    send(makeEvent(8, "log_message"));
    send(makeEvent(9, "log_message"));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 1, experiments: 1 });
  });

  it("refetches once when the server's history does not reach the resume point", async () => {
    const calls = observe();
    connect(1, { last_event_id: 2 });
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls).toEqual({ task: 1, experiments: 1 });
  });

  it("refetches once when there is nothing to resume from", async () => {
    client.setQueryData<ExperimentPublic[]>(queryKeys.experiments(8), []);
    const calls = { experiments: 0 };
    renderHook(
      () =>
        useQuery({
          queryKey: queryKeys.experiments(8),
          queryFn: async () => (calls.experiments++, [] as ExperimentPublic[]),
        }),
      { wrapper },
    );
    renderHook(() => useTaskWebSocket(8, true, { random: noJitter }), { wrapper });
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks/8`);
    act(() => FakeWebSocket.last.open());
    act(() =>
      FakeWebSocket.last.receive({ type: "connection_established", task_id: 8, last_event_id: 3, replayed: 0 }),
    );
    send(makeEvent(4, "log_message", {}, 8));
    await act(async () => {
      await vi.runOnlyPendingTimersAsync();
    });
    expect(calls.experiments).toBe(1);
  });

  it("does not reconnect to an unknown task (close code 4404)", () => {
    renderHook(() => useTaskWebSocket(99, true, { random: noJitter }), { wrapper });
    act(() => FakeWebSocket.last.drop(4404));
    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("uses the task-socket tuning: 10 attempts, delays capped at 10 s", () => {
    const log = vi.mocked(console.log);
    renderHook(() => useTaskWebSocket(1, true, { random: noJitter }), { wrapper });
    for (let i = 0; i < 10; i++) {
      act(() => FakeWebSocket.last.drop());
      act(() => {
        vi.advanceTimersByTime(10_000);
      });
    }
    act(() => FakeWebSocket.last.drop());
    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(FakeWebSocket.instances).toHaveLength(11);
    const delays = log.mock.calls
      .map((c) => String(c[0]))
      .filter((line) => line.startsWith("[useWebSocket] Reconnecting"));
    expect(delays[0]).toBe("[useWebSocket] Reconnecting in 1000ms (attempt 1/10)...");
    expect(delays[4]).toBe("[useWebSocket] Reconnecting in 10000ms (attempt 5/10)...");
    expect(delays[9]).toBe("[useWebSocket] Reconnecting in 10000ms (attempt 10/10)...");
    expect(delays).toHaveLength(10);
  });
});
