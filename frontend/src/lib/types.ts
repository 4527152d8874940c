/**
 * Wire types, mirroring autotuner/domain.py (TaskPublic, ExperimentPublic, Event,
 * TaskSpec) and the REST/WebSocket contract in DESIGN.md. Datetimes arrive as ISO
 * strings.
 */

export type TaskStatus = "pending" | "queued" | "running" | "completed" | "failed" | "cancelled";

export type ExperimentStatus =
  | "pending"
  | "deploying"
  | "benchmarking"
  | "success"
  | "failed"
  | "cancelled";

export type Scalar = string | number | boolean;

export interface TaskSpec {
  task_name: string;
  description?: string;
  deployment_mode?: "sim" | "local" | "docker" | "ome";
  model: { id_or_path: string; namespace?: string | null; [extra: string]: unknown };
  base_runtime?: string;
  parameters: Record<string, Scalar[]>;
  optimization?: {
    strategy?: "grid_search" | "random" | "bayesian";
    objective?: "minimize_latency" | "maximize_throughput" | "minimize_ttft" | "minimize_tpot";
    max_iterations?: number;
    timeout_per_iteration?: number;
    [extra: string]: unknown;
  };
  slo?: Record<string, unknown> | null;
  benchmark?: {
    traffic_scenarios?: string[];
    num_concurrency?: number[];
    max_time_per_iteration?: number;
    max_requests_per_iteration?: number;
    additional_params?: Record<string, unknown>;
    [extra: string]: unknown;
  };
  [extra: string]: unknown;
}

export interface TaskPublic {
  id: number;
  task_name: string;
  description: string;
  status: TaskStatus;
  spec: TaskSpec;
  deployment_mode: string;
  base_runtime: string;
  total_experiments: number;
  successful_experiments: number;
  failed_experiments: number;
  best_experiment_id: number | null;
  best_score: number | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  elapsed_time: number | null;
  last_event_id: number;
}

export interface SloViolation {
  [key: string]: unknown;
}

export interface ExperimentPublic {
  id: number;
  task_id: number;
  experiment_id: number;
  parameters: Record<string, unknown>;
  status: ExperimentStatus;
  metrics: Record<string, unknown> | null;
  objective_score: number | null;
  slo_violations: SloViolation[] | null;
  error_message: string | null;
  engine_command: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  elapsed_time: number | null;
}

export type TaskEventType =
  | "task_started"
  | "task_progress"
  | "task_completed"
  | "task_failed"
  | "task_cancelled";

export type ExperimentEventType =
  | "experiment_started"
  | "experiment_progress"
  | "experiment_completed"
  | "experiment_failed"
  | "benchmark_started"
  | "benchmark_progress";

export type EventType = TaskEventType | ExperimentEventType | "log_message";

export interface BenchmarkProgress {
  completed?: number;
  total?: number;
  fraction?: number;
  elapsed?: number;
  [extra: string]: unknown;
}

/** One event as clients receive it; `id` is per task, 1, 2, 3 … without gaps. */
export interface TaskEvent {
  id?: number | null;
  type: EventType;
  task_id: number;
  experiment_id?: number | null;
  timestamp: number;
  message: string;
  data: {
    task?: TaskPublic;
    experiment?: ExperimentPublic;
    progress?: number | BenchmarkProgress;
    completed?: number;
    total?: number;
    best_score?: number | null;
    best_experiment_id?: number | null;
    [extra: string]: unknown;
  };
}

export interface ConnectionEstablished {
  type: "connection_established";
  task_id?: number | null;
  experiment_id?: number | null;
  last_event_id?: number | null;
  replayed?: number;
}

export interface ControlMessage {
  type: "resync_required" | "pong" | "error";
  message?: string;
  last_event_id?: number | null;
  [extra: string]: unknown;
}

export type ServerMessage = TaskEvent | ConnectionEstablished | ControlMessage;

export interface Example {
  name: string;
  filename: string;
  description: string;
  spec: TaskSpec;
}

export interface WorkerInfo {
  id: string;
  hostname: string;
  pid: number;
  status: "idle" | "busy";
  current_task_id: number | null;
  last_seen: number;
}

export interface WorkersResponse {
  mode: "embedded" | "distributed";
  workers: WorkerInfo[];
}

export interface GpuInfo {
  index: number;
  name: string;
  memory_total_mb: number;
  memory_used_mb: number;
  utilization_pct: number;
}

export interface GpusResponse {
  available: boolean;
  gpus: GpuInfo[];
  message: string | null;
}

export interface SystemStats {
  connections: number;
  topics: number;
  events_published: number;
  events_per_second: number;
  deliveries: number;
  deliveries_per_second: number;
  /** Creation-to-hub latency of recent events; null before any event. */
  event_latency_p50_ms?: number | null;
  event_latency_p99_ms?: number | null;
  mode: string;
}

export interface Health {
  status: string;
  [extra: string]: unknown;
}

export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = ["completed", "failed", "cancelled"];
export const ACTIVE_TASK_STATUSES: readonly TaskStatus[] = ["queued", "running"];

export function isTaskActive(status: TaskStatus): boolean {
  return ACTIVE_TASK_STATUSES.includes(status);
}

export function isExperimentFinished(status: ExperimentStatus): boolean {
  return status === "success" || status === "failed" || status === "cancelled";
}
