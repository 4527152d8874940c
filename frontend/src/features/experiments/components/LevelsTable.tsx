import { Fragment } from "react";
import { formatNumber } from "../../../lib/format";
import {
  LEVEL_FIGURES,
  type LevelRow,
  loadText,
  type ScoringInfo,
  type SloViolation,
  violationFigures,
} from "../../../lib/levels";

function figureHeader(key: string): { metric: string; stat: string } {
  const [stat = "", metric = ""] = key.split("_");
  return { metric: metric.toUpperCase(), stat };
}

/** What became of a level in the score: scored, compliant but not the best, or excluded and why. */
function Verdict({ level }: { level: LevelRow }) {
  if (level.usedForScore) return <span className="pill pill-ok">scored</span>;
  if (level.excludedReason !== null || level.compliant === false) {
    return (
      <span className="pill pill-warn" title={level.excludedReason ?? undefined}>
        excluded
      </span>
    );
  }
  if (level.compliant) return <span className="muted small">compliant</span>;
  return null;
}

function ViolationList({ violations }: { violations: SloViolation[] }) {
  return (
    <table className="table compact violations-table" data-testid="level-violations">
      <thead>
        <tr>
          <th>SLO</th>
          <th>Metric</th>
          <th className="num">Threshold</th>
          <th className="num">Actual</th>
          <th className="num">Margin</th>
          <th>Kind</th>
        </tr>
      </thead>
      <tbody>
        {violations.map((v, i) => {
          const f = violationFigures(v);
          return (
            <tr key={i}>
              <td className="mono">{v.slo}</td>
              <td className="mono small">{v.metric}</td>
              <td className="num mono">{f.threshold}</td>
              <td className="num mono">{f.actual}</td>
              <td className="num mono">{f.margin}</td>
              <td>{v.hard ? "hard" : `soft${v.penalty !== null ? ` ×${formatNumber(v.penalty, 3)}` : ""}`}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Every load level of one experiment with its own figures and what scoring made of it. */
export function LevelsTable({ levels, scoring }: { levels: LevelRow[]; scoring: ScoringInfo | null }) {
  if (levels.length === 0) return null;
  const columns = 10 + LEVEL_FIGURES.length;
  return (
    <div className="levels" data-testid="levels">
      {scoring?.note ? (
        <p className={`small ${scoring.untrusted ? "error-text" : "muted"}`} data-testid="scoring-note">
          {scoring.note}
        </p>
      ) : null}
      <div className="table-scroll">
        <table className="table compact" data-testid="levels-table">
          <thead>
            <tr>
              <th>Level</th>
              <th>Kind</th>
              <th>Load</th>
              <th className="num" title="Completed / failed requests">
                OK / failed
              </th>
              <th className="num">Errors</th>
              <th className="num" title="Output tokens per second">
                Tok/s
              </th>
              <th className="num" title="Requests per second that met every per-request SLO">
                Goodput
              </th>
              {LEVEL_FIGURES.map((key) => {
                const h = figureHeader(key);
                return (
                  <th key={key} className="num" title={`${h.stat} ${h.metric} (ms)`}>
                    {h.metric} {h.stat}
                  </th>
                );
              })}
              <th>Trust</th>
              <th>Score</th>
              <th>SLO</th>
            </tr>
          </thead>
          <tbody>
            {levels.map((level) => (
              <Fragment key={level.label}>
                <tr
                  data-testid="level-row"
                  data-level={level.label}
                  className={level.usedForScore ? "row-best" : undefined}
                >
                  <td className="mono">{level.scenario || level.label}</td>
                  <td className="small">{level.kind}</td>
                  <td className="mono">{loadText(level)}</td>
                  <td className="num mono">
                    {formatNumber(level.completed, 0)} / {formatNumber(level.failed, 0)}
                  </td>
                  <td className="num mono">
                    {level.errorRate === null ? "—" : `${formatNumber(100 * level.errorRate, 1)} %`}
                  </td>
                  <td className="num mono">{formatNumber(level.outputThroughput, 1)}</td>
                  <td className="num mono">{formatNumber(level.requestGoodput, 2)}</td>
                  {LEVEL_FIGURES.map((key) => (
                    <td key={key} className="num mono">
                      {formatNumber(level.figures[key], 1)}
                    </td>
                  ))}
                  <td>
                    {level.untrusted ? (
                      <span
                        className="pill pill-warn"
                        data-testid="untrusted-badge"
                        title={level.untrustedReasons.join("\n")}
                      >
                        untrusted
                      </span>
                    ) : (
                      <span className="muted small">ok</span>
                    )}
                  </td>
                  <td>
                    <Verdict level={level} />
                  </td>
                  <td>
                    {level.violations.length ? (
                      <span className="pill pill-warn">
                        {level.violations.length} violation{level.violations.length > 1 ? "s" : ""}
                      </span>
                    ) : level.compliant !== null ? (
                      <span className="muted small">met</span>
                    ) : null}
                  </td>
                </tr>
                {level.violations.length || level.untrusted || level.excludedReason ? (
                  <tr className="row-detail">
                    <td colSpan={columns}>
                      {level.excludedReason ? (
                        <div className="small">
                          <strong>Excluded:</strong> {level.excludedReason}
                        </div>
                      ) : null}
                      {level.untrusted && level.untrustedReasons.length ? (
                        <div className="small error-text">
                          Untrusted (load generator saturated): {level.untrustedReasons.join("; ")}
                        </div>
                      ) : null}
                      {level.violations.length ? <ViolationList violations={level.violations} /> : null}
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
