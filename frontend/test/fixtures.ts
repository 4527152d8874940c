import type { ExperimentPublic, TaskEvent, TaskPublic } from "../src/lib/types";

/** Factories for wire objects, shaped exactly like autotuner/domain.py's. */
export function makeTask(overrides: Partial<TaskPublic> = {}): TaskPublic {
  return {
    id: 1,
    task_name: "sim-quick",
    description: "",
    status: "running",
    spec: {
      task_name: "sim-quick",
      deployment_mode: "sim",
      model: { id_or_path: "sim-llama" },
      parameters: { "max-num-seqs": [8, 32, 64] },
      optimization: { strategy: "grid_search", objective: "maximize_throughput", max_iterations: 3 },
    },
    deployment_mode: "sim",
    base_runtime: "vllm",
    total_experiments: 0,
    successful_experiments: 0,
    failed_experiments: 0,
    best_experiment_id: null,
    best_score: null,
    error_message: null,
    created_at: "2025-01-14T10:00:00Z",
    started_at: "2025-01-14T10:00:01Z",
    completed_at: null,
    elapsed_time: null,
    last_event_id: 0,
    ...overrides,
  };
}

export function makeExperiment(overrides: Partial<ExperimentPublic> = {}): ExperimentPublic {
  return {
    id: 11,
    task_id: 1,
    experiment_id: 1,
    parameters: { "max-num-seqs": 8 },
    status: "deploying",
    metrics: null,
    objective_score: null,
    slo_violations: null,
    error_message: null,
    engine_command: null,
    created_at: "2025-01-14T10:00:02Z",
    started_at: "2025-01-14T10:00:02Z",
    completed_at: null,
    elapsed_time: null,
    ...overrides,
  };
}

/** An event's `data` as the server builds it (the snapshots are what tests look at). */
export interface EventData {
  task?: TaskPublic;
  experiment?: ExperimentPublic;
  [extra: string]: unknown;
}

export function makeEvent(id: number, type: TaskEvent["type"], data: EventData = {}, taskId = 1): TaskEvent {
  return {
    id,
    type,
    task_id: taskId,
    experiment_id: data.experiment?.id ?? null,
    timestamp: 1705234567 + id,
    message: type,
    data,
  };
}
