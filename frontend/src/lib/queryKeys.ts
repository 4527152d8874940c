/**
 * Query keys shared by every feature and by the live event stream. The
 * three entity keys are exactly `["tasks"]`, `["task", id]` and
 * `["experiments", taskId]`; the two transient keys hold figures that only live
 * events carry (no REST endpoint serves them).
 */
export const queryKeys = {
  tasks: ["tasks"] as const,
  task: (id: number) => ["task", id] as const,
  experiments: (taskId: number) => ["experiments", taskId] as const,
  /** The running experiment's latest benchmark_progress, per task. */
  benchmarkProgress: (taskId: number) => ["benchmark-progress", taskId] as const,
  /** The latest task_progress figures (progress, completed, total), per task. */
  taskProgress: (taskId: number) => ["task-progress", taskId] as const,
};
