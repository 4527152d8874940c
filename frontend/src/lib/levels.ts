/**
 * An experiment's load levels as the server stores them (`metrics.levels`, see
 * docs/measurement.md): each level's own figures, its SLO verdict and whether it
 * was scored; `metrics.scoring` says how the score was reached.
 */
import { toText } from "./format";
import type { ExperimentPublic } from "./types";

export interface SloViolation {
  slo: string;
  metric: string;
  level: string | null;
  threshold: number | null;
  actual: number | null;
  /** `"s"` for latencies, `""` for a share of requests (the error rate). */
  unit: string;
  margin: number | null;
  marginRatio: number | null;
  hard: boolean;
  penalty: number | null;
}

export interface LevelRow {
  label: string;
  scenario: string;
  kind: string;
  concurrency: number | null;
  /** Requests/s asked for; `Infinity` for "as fast as possible"; `null` for closed loop. */
  requestRate: number | null;
  completed: number | null;
  failed: number | null;
  errorRate: number | null;
  outputThroughput: number | null;
  requestGoodput: number | null;
  /** mean/p90/p99 of `ttft`, `tpot`, `e2el` in ms, keyed as the server does (`p90_ttft_ms`). */
  figures: Record<string, number | null>;
  untrusted: boolean;
  untrustedReasons: string[];
  compliant: boolean | null;
  usedForScore: boolean;
  excludedReason: string | null;
  violations: SloViolation[];
}

export interface ScoringInfo {
  objective: string | null;
  levelsUsed: string[];
  levelsExcluded: { label: string; reason: string }[];
  untrusted: boolean;
  note: string | null;
}

export const LEVEL_FIGURES = ["ttft", "tpot", "e2el"].flatMap((m) => ["mean", "p90", "p99"].map((s) => `${s}_${m}_ms`));

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const text = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** A violation from either the current shape or the one stored before levels (`hard_fail`, `excess_ratio`). */
export function toViolation(raw: Json): SloViolation {
  return {
    slo: toText(raw.slo ?? raw.metric ?? "slo"),
    metric: toText(raw.metric ?? ""),
    level: text(raw.level),
    threshold: num(raw.threshold),
    actual: num(raw.actual ?? raw.value),
    unit: typeof raw.unit === "string" ? raw.unit : "s",
    margin: num(raw.margin),
    marginRatio: num(raw.margin_ratio ?? raw.excess_ratio),
    hard: raw.hard === true || (raw.hard === undefined && raw.hard_fail === true),
    penalty: num(raw.penalty),
  };
}

function rate(v: unknown): number | null {
  if (v === "inf") return Infinity;
  return num(v);
}

function toLevel(raw: Json): LevelRow {
  const figures: Record<string, number | null> = {};
  for (const key of LEVEL_FIGURES) figures[key] = num(raw[key]);
  const violations = Array.isArray(raw.slo_violations) ? raw.slo_violations.filter(isObject).map(toViolation) : [];
  return {
    label: toText(raw.label ?? raw.scenario ?? "level"),
    scenario: toText(raw.scenario ?? ""),
    kind: toText(raw.kind ?? "concurrency"),
    concurrency: num(raw.concurrency),
    requestRate: rate(raw.request_rate),
    completed: num(raw.completed),
    failed: num(raw.failed),
    errorRate: num(raw.error_rate),
    outputThroughput: num(raw.output_throughput),
    requestGoodput: num(raw.request_goodput),
    figures,
    untrusted: raw.untrusted === true,
    untrustedReasons: Array.isArray(raw.untrusted_reasons) ? raw.untrusted_reasons.map(toText) : [],
    compliant: typeof raw.compliant === "boolean" ? raw.compliant : null,
    usedForScore: raw.used_for_score === true,
    excludedReason: text(raw.excluded_reason),
    violations,
  };
}

/** The experiment's levels, in the order they ran; `[]` for experiments stored before levels. */
export function levelsOf(experiment: ExperimentPublic): LevelRow[] {
  const levels = experiment.metrics?.levels;
  return Array.isArray(levels) ? levels.filter(isObject).map(toLevel) : [];
}

export function scoringOf(experiment: ExperimentPublic): ScoringInfo | null {
  const s = experiment.metrics?.scoring;
  if (!isObject(s)) return null;
  return {
    objective: text(s.objective),
    levelsUsed: Array.isArray(s.levels_used) ? s.levels_used.map(toText) : [],
    levelsExcluded: Array.isArray(s.levels_excluded)
      ? s.levels_excluded.filter(isObject).map((e) => ({ label: toText(e.label), reason: toText(e.reason) }))
      : [],
    untrusted: s.untrusted === true,
    note: text(s.note),
  };
}

/** The load a level applied: `c=8`, `4 req/s`, `inf req/s`, or `4 req/s (c≤16)`. */
export function loadText(level: Pick<LevelRow, "concurrency" | "requestRate">): string {
  if (level.requestRate === null) return level.concurrency === null ? "—" : `c=${level.concurrency}`;
  const r = Number.isFinite(level.requestRate) ? `${Math.round(level.requestRate * 100) / 100}` : "inf";
  return level.concurrency === null ? `${r} req/s` : `${r} req/s (c≤${level.concurrency})`;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const percent = (v: number) => `${Math.round(v * 1000) / 10} %`;

/** `threshold`, `actual` and `margin` as the violation's unit says: seconds or a percentage. */
export function violationFigures(v: SloViolation): { threshold: string; actual: string; margin: string } {
  const show = (x: number | null) => (x === null ? "—" : v.unit === "" ? percent(x) : `${round3(x)} s`);
  let margin = v.margin === null ? "—" : `+${v.unit === "" ? percent(v.margin) : `${round3(v.margin)} s`}`;
  if (v.marginRatio !== null && v.unit !== "") margin += ` (+${Math.round(v.marginRatio * 100)} %)`;
  return { threshold: show(v.threshold), actual: show(v.actual), margin };
}

/** One line for a violation: which level, which SLO, by how much, and what it did. */
export function violationText(v: SloViolation): string {
  const f = violationFigures(v);
  const parts = [v.level ? `${v.level}: ${v.slo}` : v.slo];
  if (v.actual !== null && v.threshold !== null) parts.push(`${f.actual} > ${f.threshold}`);
  if (v.marginRatio !== null && v.unit !== "") parts.push(`(+${Math.round(v.marginRatio * 100)} %)`);
  if (v.hard) parts.push(v.level ? "— hard: level excluded" : "— hard limit, experiment failed");
  else if (v.penalty !== null) parts.push(`— score penalty ×${round3(v.penalty)}`);
  return parts.join(" ");
}
