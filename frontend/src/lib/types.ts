/**
 * Wire types. Those of the REST payloads and of the WebSocket's event message
 * are generated from the API's OpenAPI schema into `api-schema.d.ts` (`make
 * types`; `make lint` fails when it is stale); this module only names them.
 *
 * Written by hand, because the schema cannot say them:
 * - the WebSocket's control messages (`connection_established`, `resync_required`,
 *   `pong`, `error`): plain JSON the socket sends, no model on the server;
 * - the system endpoints' answers (workers, GPUs, stats, health) and the
 *   examples: the server declares them as free-form objects;
 * - what an event's `data` holds: a free-form object on the server too; it is
 *   decoded in one place, `eventPayload.ts`.
 * Datetimes arrive as ISO strings.
 */
import type { components } from "./api-schema";

type Schemas = components["schemas"];

export type TaskStatus = Schemas["TaskStatus"];
export type ExperimentStatus = Schemas["ExperimentStatus"];
export type TaskSpec = Schemas["TaskSpec"];
export type ExperimentPublic = Schemas["ExperimentPublic"];
export type EventType = Schemas["EventType"];

/** One candidate value of a parameter. */
export type Scalar = TaskSpec["parameters"][string][number];

/**
 * A task. The server declares `spec` as a free-form object; it holds the
 * validated task spec the task was created from.
 */
export type TaskPublic = Omit<Schemas["TaskPublic"], "spec"> & { spec: TaskSpec };

/** A field the server accepted but that will have no effect as written. */
export type SpecWarning = Schemas["SpecWarning"];

/** The answer to `POST /api/tasks`: the new task and its spec's warnings. */
export type TaskCreated = TaskPublic & { warnings?: SpecWarning[] };

/** One event as clients receive it; `id` is per task, 1, 2, 3 … without gaps. */
export type TaskEvent = Schemas["Event"];

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
