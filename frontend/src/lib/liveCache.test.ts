import { QueryClient } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeEvent, makeExperiment, makeTask } from "../../test/fixtures";
import { liveCacheFor } from "./liveCache";
import { queryKeys } from "./queryKeys";
import type { ExperimentPublic, TaskPublic } from "./types";

let client: QueryClient;

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
});

afterEach(() => client.clear());

/** Let a REST answer land in the cache the way a query's fetch does. */
async function restAnswer<T>(key: readonly unknown[], data: T) {
  await client.fetchQuery({ queryKey: key, queryFn: async () => data, staleTime: 0 });
}

describe("LiveCache", () => {
  it("does not invent a list that was never fetched", () => {
    liveCacheFor(client).apply(makeEvent(1, "task_started", { task: makeTask() }));
    liveCacheFor(client).apply(makeEvent(2, "experiment_started", { experiment: makeExperiment() }));
    expect(client.getQueryData(queryKeys.tasks)).toBeUndefined();
    expect(client.getQueryData(queryKeys.experiments(1))).toBeUndefined();
    expect(client.getQueryData(queryKeys.task(1))).toEqual(makeTask());
  });

  it("adds a new task at the top of the list", () => {
    client.setQueryData(queryKeys.tasks, [makeTask({ id: 1 })]);
    liveCacheFor(client).apply(makeEvent(1, "task_started", { task: makeTask({ id: 2, task_name: "new" }) }, 2));
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)!.map((t) => t.id)).toEqual([2, 1]);
  });

  it("lays newer live snapshots over a REST answer that predates them", async () => {
    const live = liveCacheFor(client);
    // the list request is in flight when the task completes…
    live.apply(makeEvent(9, "task_completed", { task: makeTask({ status: "completed", last_event_id: 9 }) }));
    // …and its (older) answer lands afterwards
    await restAnswer(queryKeys.tasks, [makeTask({ status: "running", last_event_id: 7 })]);
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)![0]!.status).toBe("completed");
    await restAnswer(queryKeys.task(1), makeTask({ status: "running", last_event_id: 7 }));
    expect(client.getQueryData<TaskPublic>(queryKeys.task(1))!.status).toBe("completed");
    // a newer REST answer wins
    await restAnswer(queryKeys.task(1), makeTask({ status: "completed", last_event_id: 12, best_score: 3 }));
    expect(client.getQueryData<TaskPublic>(queryKeys.task(1))!.best_score).toBe(3);
  });

  it("keeps live experiment snapshots over an in-flight REST answer until forgotten", async () => {
    const live = liveCacheFor(client);
    const done = makeExperiment({ status: "success", objective_score: 5 });
    live.apply(makeEvent(3, "experiment_completed", { experiment: done }));
    await restAnswer<ExperimentPublic[]>(queryKeys.experiments(1), [makeExperiment({ status: "benchmarking" })]);
    expect(client.getQueryData<ExperimentPublic[]>(queryKeys.experiments(1))).toEqual([done]);
    live.forgetExperiments(1);
    await restAnswer<ExperimentPublic[]>(queryKeys.experiments(1), [makeExperiment({ status: "failed" })]);
    expect(client.getQueryData<ExperimentPublic[]>(queryKeys.experiments(1))![0]!.status).toBe("failed");
  });

  it("a single task's REST answer refreshes its row in the list", async () => {
    client.setQueryData(queryKeys.tasks, [makeTask({ status: "running", last_event_id: 2 })]);
    liveCacheFor(client);
    await restAnswer(queryKeys.task(1), makeTask({ status: "completed", last_event_id: 5 }));
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)![0]!.status).toBe("completed");
  });
});
