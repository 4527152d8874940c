import { describe, expect, it } from "vitest";
import { makeEvent, makeExperiment, makeTask } from "../../test/fixtures";
import { decodeEventPayload, isTaskEvent } from "./eventPayload";
import type { ServerMessage } from "./types";

describe("decodeEventPayload", () => {
  it("reads the task and experiment snapshots", () => {
    const task = makeTask({ last_event_id: 4 });
    const experiment = makeExperiment({ status: "success" });
    expect(decodeEventPayload(makeEvent(4, "task_started", { task })).task).toEqual(task);
    const payload = decodeEventPayload(makeEvent(5, "experiment_completed", { experiment }));
    expect(payload.experiment).toEqual(experiment);
    expect(payload.task).toBeNull();
    expect(payload.taskProgress).toBeNull();
    expect(payload.benchmark).toBeNull();
  });

  it("reads the figures of task_progress, ignoring what is not a finite number", () => {
    const event = makeEvent(6, "task_progress", { progress: 50, completed: 1, total: 2, best_score: "high" });
    expect(decodeEventPayload(event).taskProgress).toEqual({
      progress: 50,
      completed: 1,
      total: 2,
      best_score: null,
      best_experiment_id: null,
    });
  });

  it("reads a benchmark's progress, and an empty one when the server sent none", () => {
    const figures = { completed: 10, total: 30, fraction: 1 / 3, elapsed: 1.5 };
    expect(decodeEventPayload(makeEvent(7, "benchmark_progress", { progress: figures })).benchmark).toEqual(figures);
    expect(decodeEventPayload(makeEvent(8, "benchmark_started", {})).benchmark).toEqual({});
  });

  it("treats a malformed snapshot as absent", () => {
    const event = { ...makeEvent(9, "task_started"), data: { task: "nope", experiment: [1] } };
    const payload = decodeEventPayload(event);
    expect(payload.task).toBeNull();
    expect(payload.experiment).toBeNull();
  });
});

describe("isTaskEvent", () => {
  it("tells events from control messages", () => {
    expect(isTaskEvent(makeEvent(1, "log_message"))).toBe(true);
    const control: ServerMessage = { type: "connection_established", task_id: 1, last_event_id: 3 };
    expect(isTaskEvent(control)).toBe(false);
  });
});
