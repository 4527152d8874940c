import { bestSoFarSeries, type ScorePoint } from "../../../lib/experiments";
import { formatNumber } from "../../../lib/format";
import type { ExperimentPublic } from "../../../lib/types";
import { BASE, H, PAD, ScoreGrid, W } from "./chartFrame";

/** Objective score per experiment, with the best-so-far line (SVG, no chart library). */
export function ObjectiveChart({
  experiments,
  higherIsBetter,
  planned,
  bestId,
  objectiveLabel,
}: {
  experiments: ExperimentPublic[];
  higherIsBetter: boolean;
  planned: number;
  bestId: number | null;
  objectiveLabel: string;
}) {
  const series = bestSoFarSeries(experiments, higherIsBetter);
  const scores = series.flatMap((p) => (p.score === null ? [] : [p.score]));
  const n = Math.max(planned, series.length, 1);
  if (scores.length === 0) {
    return <div className="chart-empty">No scored experiment yet: the chart fills in as experiments complete.</div>;
  }
  let lo = Math.min(...scores);
  let hi = Math.max(...scores);
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.12;
    lo = lo - pad;
    hi = hi + pad;
  }
  const x = (i: number) =>
    PAD.left + (n === 1 ? (W - PAD.left - PAD.right) / 2 : ((i - 1) / (n - 1)) * (W - PAD.left - PAD.right));
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);

  const stepPath = buildStepPath(series, x, y);
  const xStep = Math.max(1, Math.ceil(n / 12));
  const byExperiment = new Map(experiments.map((e) => [e.experiment_id, e]));

  return (
    <svg
      className="chart"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={`Objective score per experiment (${objectiveLabel}), with best so far`}
      data-testid="objective-chart"
    >
      <ScoreGrid lo={lo} hi={hi} y={y} />
      {Array.from({ length: n }, (_, i) => i + 1)
        .filter((i) => (i - 1) % xStep === 0 || i === n)
        .map((i) => (
          <text key={i} className="tick" x={x(i)} y={BASE + 16} textAnchor="middle">
            {i}
          </text>
        ))}
      <text className="axis-label" x={(PAD.left + W - PAD.right) / 2} y={H - 4} textAnchor="middle">
        experiment
      </text>
      <text className="axis-label" transform={`translate(14 ${(PAD.top + BASE) / 2}) rotate(-90)`} textAnchor="middle">
        score
      </text>
      {stepPath ? <path className="best-line" d={stepPath} /> : null}
      {series.map((p) => {
        const exp = byExperiment.get(p.experimentId);
        if (p.score === null) {
          if (p.status === "failed" || p.status === "cancelled") {
            const cx = x(p.experimentId);
            return (
              <g key={p.experimentId} className="point-failed">
                <title>{`Experiment ${p.experimentId}: ${p.status}${exp?.error_message ? ` — ${exp.error_message.split("\n")[0]}` : ""}`}</title>
                <path d={`M${cx - 5},${BASE - 11} l10,10 m0,-10 l-10,10`} />
              </g>
            );
          }
          return (
            <circle key={p.experimentId} className="point-running" cx={x(p.experimentId)} cy={BASE - 6} r={4}>
              <title>{`Experiment ${p.experimentId}: ${p.status}`}</title>
            </circle>
          );
        }
        const best = exp?.id === bestId;
        return (
          <g key={p.experimentId}>
            {best ? <circle className="point-best-ring" cx={x(p.experimentId)} cy={y(p.score)} r={9} /> : null}
            <circle className="point" cx={x(p.experimentId)} cy={y(p.score)} r={5}>
              <title>{`Experiment ${p.experimentId}: ${formatNumber(p.score, 4)}${best ? " (best)" : ""}`}</title>
            </circle>
          </g>
        );
      })}
    </svg>
  );
}

function buildStepPath(series: ScorePoint[], x: (i: number) => number, y: (v: number) => number): string {
  let d = "";
  let previous: number | null = null;
  for (const p of series) {
    if (p.bestSoFar === null) continue;
    if (previous === null) d += `M${x(p.experimentId)},${y(p.bestSoFar)}`;
    else d += `H${x(p.experimentId)}V${y(p.bestSoFar)}`;
    previous = p.bestSoFar;
  }
  return d;
}
