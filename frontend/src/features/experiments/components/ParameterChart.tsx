import { useState } from "react";
import { formatNumber, formatValue } from "../../../lib/format";
import type { ExperimentPublic } from "../../../lib/types";
import { BASE, H, PAD, ScoreGrid, W } from "./chartFrame";

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

/** Score against one parameter at a time: each distinct value is a column. */
export function ParameterChart({
  experiments,
  parameters,
  bestId,
}: {
  experiments: ExperimentPublic[];
  parameters: string[];
  bestId: number | null;
}) {
  const varying = parameters.filter((p) => new Set(experiments.map((e) => JSON.stringify(e.parameters[p]))).size > 1);
  const [chosen, setChosen] = useState<string | null>(null);
  const parameter = chosen && parameters.includes(chosen) ? chosen : (varying[0] ?? parameters[0] ?? null);
  const scored = experiments.filter((e) => e.status === "success" && e.objective_score !== null);

  if (!parameter) return <div className="chart-empty">No parameters.</div>;
  const values = [
    ...new Map(experiments.map((e) => [JSON.stringify(e.parameters[parameter]), e.parameters[parameter]])).values(),
  ].sort(compareValues);

  const header = (
    <div className="chart-controls">
      <label>
        Parameter{" "}
        <select value={parameter} onChange={(e) => setChosen(e.target.value)} data-testid="parameter-select">
          {parameters.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
    </div>
  );

  if (scored.length === 0) {
    return (
      <>
        {header}
        <div className="chart-empty">No scored experiment yet.</div>
      </>
    );
  }
  const scores = scored.map((e) => e.objective_score as number);
  let lo = Math.min(...scores);
  let hi = Math.max(...scores);
  const pad = lo === hi ? Math.abs(lo) * 0.1 || 1 : (hi - lo) * 0.12;
  lo -= pad;
  hi += pad;
  const band = (W - PAD.left - PAD.right) / Math.max(values.length, 1);
  const x = (v: unknown) => PAD.left + band * (values.findIndex((u) => JSON.stringify(u) === JSON.stringify(v)) + 0.5);
  const y = (s: number) => PAD.top + (1 - (s - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const seen = new Map<string, number>();

  return (
    <>
      {header}
      <svg
        className="chart"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Score against ${parameter}`}
        data-testid="parameter-chart"
      >
        <ScoreGrid lo={lo} hi={hi} y={y} />
        {values.map((v) => (
          <text key={JSON.stringify(v)} className="tick" x={x(v)} y={BASE + 16} textAnchor="middle">
            {formatValue(v)}
          </text>
        ))}
        <text className="axis-label" x={(PAD.left + W - PAD.right) / 2} y={H - 4} textAnchor="middle">
          {parameter}
        </text>
        {scored.map((e) => {
          const key = JSON.stringify(e.parameters[parameter]);
          const k = seen.get(key) ?? 0;
          seen.set(key, k + 1);
          const cx = x(e.parameters[parameter]) + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 7;
          const best = e.id === bestId;
          return (
            <g key={e.id}>
              {best ? <circle className="point-best-ring" cx={cx} cy={y(e.objective_score as number)} r={9} /> : null}
              <circle className="point" cx={cx} cy={y(e.objective_score as number)} r={5}>
                <title>{`Experiment ${e.experiment_id}: ${parameter}=${formatValue(e.parameters[parameter])}, score ${formatNumber(e.objective_score, 4)}`}</title>
              </circle>
            </g>
          );
        })}
      </svg>
    </>
  );
}
