import type { ExperimentPublic, ServerMessage, TaskEvent, TaskPublic } from "./types";

/**
 * What an event's `data` carries, decoded. The server declares `data` as a
 * free-form object; this module is the one place in the frontend that knows its
 * keys (the server builds them in one place too):
 *
 * - `task`: the task's snapshot after a task_* event;
 * - `experiment`: the experiment's snapshot after an experiment_* or
 *   benchmark_* event;
 * - task_progress: `progress` (percent), `completed`, `total`, `best_score`,
 *   `best_experiment_id`;
 * - benchmark_started / benchmark_progress: `progress`, the load generator's
 *   figures (`completed`, `total`, `fraction`, `elapsed`, …).
 */
export interface EventPayload {
  task: TaskPublic | null;
  experiment: ExperimentPublic | null;
  /** The figures of a task_progress event (null on other events). */
  taskProgress: TaskProgressFigures | null;
  /** The figures of a benchmark_* event (null on other events). */
  benchmark: BenchmarkProgress | null;
}

export interface TaskProgressFigures {
  progress: number | null;
  completed: number | null;
  total: number | null;
  best_score: number | null;
  best_experiment_id: number | null;
}

/** The load generator's progress within one experiment. */
export interface BenchmarkProgress {
  completed?: number;
  total?: number;
  fraction?: number;
  elapsed?: number;
  [extra: string]: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** True for an event (as opposed to a control message such as connection_established). */
export function isTaskEvent(message: ServerMessage): message is TaskEvent {
  return isObject(message) && "task_id" in message && "data" in message;
}

/** The snapshots and figures an event carries; absent or malformed parts are null. */
export function decodeEventPayload(event: TaskEvent): EventPayload {
  const data: Record<string, unknown> = isObject(event.data) ? event.data : {};
  const isBenchmark = event.type === "benchmark_started" || event.type === "benchmark_progress";
  const progress = data.progress;
  return {
    // Snapshots are the server's TaskPublic / ExperimentPublic, dumped as JSON.
    task: isObject(data.task) ? (data.task as TaskPublic) : null,
    experiment: isObject(data.experiment) ? (data.experiment as ExperimentPublic) : null,
    taskProgress:
      event.type === "task_progress"
        ? {
            progress: numberOrNull(progress),
            completed: numberOrNull(data.completed),
            total: numberOrNull(data.total),
            best_score: numberOrNull(data.best_score),
            best_experiment_id: numberOrNull(data.best_experiment_id),
          }
        : null,
    benchmark: isBenchmark ? (isObject(progress) ? progress : {}) : null,
  };
}
