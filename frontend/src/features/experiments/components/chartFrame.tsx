import { formatNumber } from "../../../lib/format";

/** The frame both experiment charts share: size, padding, the score axis. */
export const W = 640;
export const H = 260;
export const PAD = { left: 64, right: 16, top: 16, bottom: 40 };
export const BASE = H - PAD.bottom;

export function niceTicks(min: number, max: number, count = 4): number[] {
  if (min === max) return [min];
  const span = max - min;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Horizontal grid lines with score labels between ``lo`` and ``hi``, and the x axis line. */
export function ScoreGrid({ lo, hi, y }: { lo: number; hi: number; y: (v: number) => number }) {
  return (
    <>
      {niceTicks(lo, hi).map((t) => (
        <g key={t}>
          <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
          <text className="tick" x={PAD.left - 8} y={y(t) + 4} textAnchor="end">
            {formatNumber(t, 2)}
          </text>
        </g>
      ))}
      <line className="axis" x1={PAD.left} x2={W - PAD.right} y1={BASE} y2={BASE} />
    </>
  );
}
