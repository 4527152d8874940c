import { toText } from "./format";
import { toViolation, violationText } from "./levels";
import type { ExperimentPublic, TaskPublic } from "./types";

/** The figures shown per experiment, looked up in `metrics.summary` (or `metrics`). */
export const METRIC_COLUMNS = [
  { key: "output_throughput", label: "Tok/s", title: "Output tokens per second", digits: 1 },
  { key: "request_throughput", label: "Req/s", title: "Requests per second", digits: 2 },
  { key: "mean_ttft_ms", label: "TTFT ms", title: "Mean time to first token (ms)", digits: 1 },
  { key: "mean_tpot_ms", label: "TPOT ms", title: "Mean time per output token (ms)", digits: 2 },
  { key: "p99_e2el_ms", label: "E2E p99 ms", title: "99th percentile end-to-end latency (ms)", digits: 0 },
] as const;

export function metricValue(experiment: ExperimentPublic, key: string): number | null {
  const metrics = experiment.metrics;
  if (!metrics) return null;
  const summary = metrics.summary;
  const source = typeof summary === "object" && summary !== null ? (summary as Record<string, unknown>) : metrics;
  const value = source[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Whether a higher objective score is better. The task's own best experiment
 * tells us when it can; otherwise the objective's name does.
 */
export function higherIsBetter(task: TaskPublic | undefined, experiments: ExperimentPublic[]): boolean {
  const scored = experiments.filter((e) => e.status === "success" && e.objective_score !== null);
  const best = task?.best_experiment_id != null ? scored.find((e) => e.id === task.best_experiment_id) : undefined;
  if (best && scored.length > 1) {
    const scores = scored.map((e) => e.objective_score as number);
    const max = Math.max(...scores);
    const min = Math.min(...scores);
    if (max !== min) {
      if (best.objective_score === max) return true;
      if (best.objective_score === min) return false;
    }
  }
  const objective = task?.spec?.optimization?.objective ?? "minimize_latency";
  return objective.startsWith("maximize");
}

export interface ScorePoint {
  experimentId: number;
  score: number | null;
  bestSoFar: number | null;
  status: ExperimentPublic["status"];
}

/** Each experiment's score and the best score up to and including it. */
export function bestSoFarSeries(experiments: ExperimentPublic[], higher: boolean): ScorePoint[] {
  let best: number | null = null;
  return [...experiments]
    .sort((a, b) => a.experiment_id - b.experiment_id)
    .map((e) => {
      const score = e.status === "success" && e.objective_score !== null ? e.objective_score : null;
      if (score !== null && (best === null || (higher ? score > best : score < best))) best = score;
      return { experimentId: e.experiment_id, score, bestSoFar: best, status: e.status };
    });
}

export function parameterNames(experiments: ExperimentPublic[], task?: TaskPublic): string[] {
  const names = new Set<string>(Object.keys(task?.spec?.parameters ?? {}));
  for (const e of experiments) for (const name of Object.keys(e.parameters)) names.add(name);
  return [...names];
}

/** One violation as the server reports it (see `levels.ts`), in one line; stored shapes before levels too. */
export function sloViolationText(violation: Record<string, unknown>): string {
  const v = toViolation(violation);
  if (v.actual === null && v.threshold === null && !v.hard && v.penalty === null) return JSON.stringify(violation);
  return violationText(v);
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = toText(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per experiment: its parameters, every summary metric, score and outcome. */
export function experimentsToCsv(experiments: ExperimentPublic[]): string {
  const params = new Set<string>();
  const metrics = new Set<string>();
  for (const e of experiments) {
    Object.keys(e.parameters).forEach((k) => params.add(k));
    const summary = (e.metrics?.summary ?? e.metrics ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(summary)) if (typeof v !== "object" || v === null) metrics.add(k);
  }
  const header = [
    "experiment_id",
    "status",
    ...[...params].map((p) => `param:${p}`),
    "objective_score",
    ...[...metrics],
    "slo_violations",
    "error_message",
    "elapsed_time",
    "engine_command",
  ];
  const rows = experiments.map((e) => {
    const summary = (e.metrics?.summary ?? e.metrics ?? {}) as Record<string, unknown>;
    return [
      e.experiment_id,
      e.status,
      ...[...params].map((p) => e.parameters[p]),
      e.objective_score,
      ...[...metrics].map((m) => summary[m]),
      e.slo_violations && e.slo_violations.length ? e.slo_violations : "",
      e.error_message,
      e.elapsed_time,
      e.engine_command,
    ];
  });
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

export function download(filename: string, content: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Planned experiments: the server's task_progress total, else the search space bound. */
export function plannedExperiments(task: TaskPublic, reportedTotal?: number | null): number {
  if (reportedTotal) return reportedTotal;
  const maxIterations = task.spec?.optimization?.max_iterations ?? 10;
  const strategy = task.spec?.optimization?.strategy ?? "grid_search";
  const done = task.successful_experiments + task.failed_experiments;
  if (strategy === "grid_search") {
    const sizes = Object.values(task.spec?.parameters ?? {}).map((v) => (Array.isArray(v) ? v.length : 1));
    const grid = sizes.reduce((a, b) => a * b, 1);
    return Math.max(done, Math.min(maxIterations, grid));
  }
  return Math.max(done, maxIterations);
}
