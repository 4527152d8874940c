import type { QueryCacheNotifyEvent, QueryClient, QueryKey } from "@tanstack/react-query";
import { queryKeys } from "./queryKeys";
import { decodeEventPayload, type BenchmarkProgress } from "./eventPayload";
import type { ExperimentPublic, TaskEvent, TaskPublic } from "./types";

export type { TaskProgressFigures } from "./eventPayload";

export interface LiveBenchmarkProgress {
  /** Database id of the experiment (ExperimentPublic.id). */
  experimentId: number;
  /** Position of the experiment within its task (ExperimentPublic.experiment_id). */
  experimentNumber: number | null;
  progress: BenchmarkProgress;
  receivedAt: number;
}

/** Replace or insert `task` in a newest-first list, never moving a newer snapshot back. */
export function upsertTask(list: TaskPublic[] | undefined, task: TaskPublic): TaskPublic[] | undefined {
  if (!list) return list;
  const index = list.findIndex((t) => t.id === task.id);
  if (index === -1) return [task, ...list].sort((a, b) => b.id - a.id);
  const existing = list[index]!;
  if (existing.last_event_id > task.last_event_id) return list;
  const next = list.slice();
  next[index] = task;
  return next;
}

/** Replace or insert `experiment` in a list ordered by experiment_id. */
export function upsertExperiment(
  list: ExperimentPublic[] | undefined,
  experiment: ExperimentPublic,
): ExperimentPublic[] | undefined {
  if (!list) return list;
  const index = list.findIndex((e) => e.id === experiment.id);
  if (index === -1) return [...list, experiment].sort((a, b) => a.experiment_id - b.experiment_id);
  const next = list.slice();
  next[index] = experiment;
  return next;
}

/**
 * Writes live events into the query cache: every task_* event's task snapshot
 * into `["task", id]` and `["tasks"]`, every experiment_* / benchmark_* event's
 * experiment snapshot into `["experiments", taskId]` (`eventPayload.ts` reads
 * them out of the event). No event causes a request.
 *
 * A REST response can land after an event it predates (the fetch was in flight
 * when the event arrived). So the latest live snapshot of each entity is kept
 * and laid back over any REST result: tasks carry `last_event_id`, so the newer
 * one wins; experiments have no version, and the kept snapshot is the latest the
 * (gap-free, in-order) stream delivered, so any newer state is still on its way.
 * `forgetExperiments` drops that overlay when a task's stream ends or has a gap.
 */
export class LiveCache {
  private readonly tasks = new Map<number, TaskPublic>();
  private readonly experiments = new Map<number, Map<number, ExperimentPublic>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly client: QueryClient) {
    this.unsubscribe = client.getQueryCache().subscribe((event) => this.onCacheEvent(event));
  }

  dispose(): void {
    this.unsubscribe();
  }

  /** Apply one event; returns true if it changed something in the cache. */
  apply(event: TaskEvent): boolean {
    const payload = decodeEventPayload(event);
    let changed = false;
    if (payload.task) {
      this.writeTask(payload.task);
      changed = true;
    }
    if (payload.experiment) {
      this.writeExperiment(payload.experiment);
      changed = true;
    }
    const taskId = event.task_id;
    if (payload.taskProgress) {
      const figures = payload.taskProgress;
      this.client.setQueryData(queryKeys.taskProgress(taskId), figures);
      if (!payload.task) {
        // Older servers: patch the figures we do have into the cached task.
        const patch = (task: TaskPublic): TaskPublic => ({
          ...task,
          best_score: figures.best_score ?? task.best_score,
          best_experiment_id: figures.best_experiment_id ?? task.best_experiment_id,
        });
        this.client.setQueryData<TaskPublic>(queryKeys.task(taskId), (t) => (t ? patch(t) : t));
        this.client.setQueryData<TaskPublic[]>(queryKeys.tasks, (list) =>
          list?.map((t) => (t.id === taskId ? patch(t) : t)),
        );
      }
      return true;
    }
    if (payload.benchmark) {
      const experimentId = payload.experiment?.id ?? event.experiment_id ?? null;
      if (experimentId === null) return changed;
      const value: LiveBenchmarkProgress = {
        experimentId,
        experimentNumber: payload.experiment?.experiment_id ?? null,
        progress: payload.benchmark,
        receivedAt: Date.now(),
      };
      this.client.setQueryData(queryKeys.benchmarkProgress(taskId), value);
      return true;
    }
    switch (event.type) {
      case "experiment_completed":
      case "experiment_failed": {
        const current = this.client.getQueryData<LiveBenchmarkProgress>(queryKeys.benchmarkProgress(taskId));
        const id = payload.experiment?.id ?? event.experiment_id;
        if (current && current.experimentId === id) {
          this.client.setQueryData(queryKeys.benchmarkProgress(taskId), null);
        }
        return true;
      }
      case "task_completed":
      case "task_failed":
      case "task_cancelled":
        this.client.setQueryData(queryKeys.benchmarkProgress(taskId), null);
        return true;
      default:
        return changed;
    }
  }

  writeTask(task: TaskPublic): void {
    const kept = this.tasks.get(task.id);
    if (!kept || kept.last_event_id <= task.last_event_id) this.tasks.set(task.id, task);
    this.client.setQueryData<TaskPublic>(queryKeys.task(task.id), (current) =>
      current && current.last_event_id > task.last_event_id ? current : task,
    );
    this.client.setQueryData<TaskPublic[]>(queryKeys.tasks, (list) => upsertTask(list, task));
  }

  writeExperiment(experiment: ExperimentPublic): void {
    let perTask = this.experiments.get(experiment.task_id);
    if (!perTask) {
      perTask = new Map();
      this.experiments.set(experiment.task_id, perTask);
    }
    perTask.set(experiment.id, experiment);
    this.client.setQueryData<ExperimentPublic[]>(queryKeys.experiments(experiment.task_id), (list) =>
      upsertExperiment(list, experiment),
    );
  }

  /** Drop the kept experiment snapshots of a task (its stream ended or had a gap). */
  forgetExperiments(taskId: number): void {
    this.experiments.delete(taskId);
  }

  private onCacheEvent(event: QueryCacheNotifyEvent): void {
    if (event.type !== "updated" || event.action.type !== "success" || event.action.manual) return;
    // The cache types its queries' keys as any.
    const key = event.query.queryKey as QueryKey;
    if (key[0] === "tasks" && key.length === 1) {
      const list = event.action.data as TaskPublic[] | undefined;
      if (!Array.isArray(list)) return;
      let next = list;
      for (const task of list) {
        const kept = this.tasks.get(task.id);
        if (kept && kept.last_event_id > task.last_event_id) next = upsertTask(next, kept) ?? next;
      }
      if (next !== list) this.client.setQueryData(queryKeys.tasks, next);
    } else if (key[0] === "task" && typeof key[1] === "number") {
      const task = event.action.data as TaskPublic | undefined;
      if (!task) return;
      const kept = this.tasks.get(key[1]);
      if (kept && kept.last_event_id > task.last_event_id) {
        this.client.setQueryData(queryKeys.task(key[1]), kept);
      } else {
        // A fresh single-task answer also refreshes that task's row in the list.
        this.client.setQueryData<TaskPublic[]>(queryKeys.tasks, (list) => upsertTask(list, task));
      }
    } else if (key[0] === "experiments" && typeof key[1] === "number") {
      const list = event.action.data as ExperimentPublic[] | undefined;
      const kept = this.experiments.get(key[1]);
      if (!Array.isArray(list) || !kept || kept.size === 0) return;
      let next: ExperimentPublic[] = list;
      for (const experiment of kept.values()) {
        const rest = next.find((e) => e.id === experiment.id);
        if (rest !== experiment) next = upsertExperiment(next, experiment) ?? next;
      }
      if (next !== list) this.client.setQueryData(queryKeys.experiments(key[1]), next);
    }
  }
}

const instances = new WeakMap<QueryClient, LiveCache>();

/** The one LiveCache of a QueryClient. */
export function liveCacheFor(client: QueryClient): LiveCache {
  let cache = instances.get(client);
  if (!cache) {
    cache = new LiveCache(client);
    instances.set(client, cache);
  }
  return cache;
}
