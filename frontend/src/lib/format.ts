/** Display helpers shared by the pages. */
import type { TaskSpec } from "./types";

export function formatNumber(value: unknown, digits = 2): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${s.toString().padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${(m % 60).toString().padStart(2, "0")}m`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
}

/** A scalar as text, anything else as JSON (never "[object Object]"). */
export function toText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? "";
}

export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return formatNumber(value, 4);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

type Objective = NonNullable<NonNullable<TaskSpec["optimization"]>["objective"]>;

/** A label for every objective the API accepts (tsc fails when one is missing). */
export const OBJECTIVE_LABELS: Record<string, string> = {
  maximize_throughput: "Maximize throughput",
  maximize_goodput: "Maximize goodput",
  minimize_latency: "Minimize latency",
  minimize_ttft: "Minimize TTFT",
  minimize_tpot: "Minimize TPOT",
} satisfies Record<Objective, string>;

export const STRATEGY_LABELS: Record<string, string> = {
  grid_search: "Grid search",
  random: "Random search",
  bayesian: "Bayesian",
};

export const DEPLOYMENT_LABELS: Record<string, string> = {
  sim: "Simulator",
  local: "Local process",
  docker: "Docker",
  ome: "OME (Kubernetes)",
};

export function deploymentLabel(mode: string | undefined): string {
  return (mode && DEPLOYMENT_LABELS[mode]) || mode || "—";
}

export function timeAgo(epochSeconds: number, now = Date.now()): string {
  const delta = Math.max(0, now / 1000 - epochSeconds);
  if (delta < 2) return "just now";
  if (delta < 60) return `${Math.round(delta)} s ago`;
  if (delta < 3600) return `${Math.round(delta / 60)} min ago`;
  return `${Math.round(delta / 3600)} h ago`;
}
