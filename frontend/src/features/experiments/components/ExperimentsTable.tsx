import { Fragment, useState } from "react";
import { METRIC_COLUMNS, metricValue, sloViolationText } from "../../../lib/experiments";
import { formatDuration, formatNumber, formatValue } from "../../../lib/format";
import { levelsOf, scoringOf } from "../../../lib/levels";
import type { ExperimentPublic } from "../../../lib/types";
import { StatusBadge } from "../../../components/StatusBadge";
import { LevelsTable } from "./LevelsTable";

/** Every experiment of the task, filled in live. */
export function ExperimentsTable({
  experiments,
  parameters,
  bestId,
}: {
  experiments: ExperimentPublic[];
  parameters: string[];
  bestId: number | null;
}) {
  const [open, setOpen] = useState<number | null>(null);
  if (experiments.length === 0) {
    return <div className="empty">No experiments yet. They appear here as soon as the task starts them.</div>;
  }
  return (
    <div className="table-scroll">
      <table className="table compact" data-testid="experiments-table">
        <thead>
          <tr>
            <th className="num">#</th>
            <th>Status</th>
            {parameters.map((p) => (
              <th key={p} className="mono param-col">
                {p}
              </th>
            ))}
            {METRIC_COLUMNS.map((m) => (
              <th key={m.key} className="num" title={m.title}>
                {m.label}
              </th>
            ))}
            <th className="num">Score</th>
            <th>SLO / errors</th>
            <th className="num">Time</th>
          </tr>
        </thead>
        <tbody>
          {experiments.map((e) => {
            const best = e.id === bestId;
            const violations = e.slo_violations ?? [];
            const levels = levelsOf(e);
            const untrusted = levels.some((l) => l.untrusted);
            const expandable = !!e.error_message || violations.length > 0 || levels.length > 0;
            return (
              <Fragment key={e.id}>
                <tr
                  className={`${best ? "row-best" : ""}${expandable ? " row-clickable" : ""}`}
                  data-testid="experiment-row"
                  data-experiment={e.experiment_id}
                  data-status={e.status}
                  onClick={expandable ? () => setOpen(open === e.id ? null : e.id) : undefined}
                >
                  <td className="num mono">
                    {best ? (
                      <span className="star" title="Best configuration">
                        ★
                      </span>
                    ) : null}
                    {e.experiment_id}
                  </td>
                  <td>
                    <StatusBadge status={e.status} />
                  </td>
                  {parameters.map((p) => (
                    <td key={p} className="mono param-col">
                      {formatValue(e.parameters[p])}
                    </td>
                  ))}
                  {METRIC_COLUMNS.map((m) => (
                    <td key={m.key} className="num mono">
                      {formatNumber(metricValue(e, m.key), m.digits)}
                    </td>
                  ))}
                  <td className="num mono strong">{formatNumber(e.objective_score, 4)}</td>
                  <td>
                    {violations.length ? (
                      <span className="pill pill-warn" title={violations.map((v) => sloViolationText(v)).join("\n")}>
                        {violations.length} violation{violations.length > 1 ? "s" : ""}
                      </span>
                    ) : e.status === "success" ? (
                      <span className="muted small">met</span>
                    ) : null}
                    {untrusted ? (
                      <span
                        className="pill pill-warn"
                        data-testid="experiment-untrusted"
                        title="The load generator was the bottleneck at some level"
                      >
                        untrusted
                      </span>
                    ) : null}
                    {(metricValue(e, "error_rate") ?? 0) > 0 ? (
                      <div className="error-text small">
                        {formatNumber(100 * (metricValue(e, "error_rate") ?? 0), 1)} % errors
                      </div>
                    ) : null}
                    {e.error_message ? (
                      <div className="error-text small clamp clamp-narrow" title={e.error_message}>
                        {e.error_message.split("\n")[0]}
                      </div>
                    ) : null}
                  </td>
                  <td className="num small">{formatDuration(e.elapsed_time)}</td>
                </tr>
                {open === e.id ? (
                  <tr className="row-detail">
                    <td colSpan={parameters.length + METRIC_COLUMNS.length + 5}>
                      <div className="detail-box">
                        <LevelsTable levels={levels} scoring={scoringOf(e)} />
                        {violations.length ? (
                          <ul className="violations">
                            {violations.map((v, i) => (
                              <li key={i}>{sloViolationText(v)}</li>
                            ))}
                          </ul>
                        ) : null}
                        {e.error_message ? <pre className="error-pre">{e.error_message}</pre> : null}
                      </div>
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
