import { skipToken, useQuery } from "@tanstack/react-query";
import type { LiveBenchmarkProgress } from "../../../lib/liveCache";
import { formatDuration, formatNumber, toText } from "../../../lib/format";
import { queryKeys } from "../../../lib/queryKeys";
import type { ExperimentPublic } from "../../../lib/types";
import { StatusBadge } from "../../../components/StatusBadge";

/** The running experiment, with the live benchmark figures the stream carries. */
export function BenchmarkProgressCard({ taskId, experiments }: { taskId: number; experiments: ExperimentPublic[] }) {
  const { data: live } = useQuery<LiveBenchmarkProgress | null>({
    queryKey: queryKeys.benchmarkProgress(taskId),
    queryFn: skipToken,
  });
  const running = experiments.filter(
    (e) => e.status === "deploying" || e.status === "benchmarking" || e.status === "pending",
  );
  if (running.length === 0) return null;
  return (
    <section className="card" aria-label="Running experiment" data-testid="benchmark-progress">
      {running.map((exp) => {
        const progress = live && live.experimentId === exp.id ? live.progress : null;
        const fraction = typeof progress?.fraction === "number" ? Math.max(0, Math.min(1, progress.fraction)) : null;
        return (
          <div className="running-exp" key={exp.id}>
            <div className="running-head">
              <span className="card-title">Experiment #{exp.experiment_id}</span>
              <StatusBadge status={exp.status} />
              <span className="muted small mono">
                {Object.entries(exp.parameters)
                  .map(([k, v]) => `${k}=${String(v)}`)
                  .join("  ")}
              </span>
            </div>
            {exp.status === "benchmarking" ? (
              <>
                <div className="bench-bar">
                  <div className="bench-fill" style={{ width: `${(fraction ?? 0) * 100}%` }} />
                </div>
                <div className="bench-figures small">
                  <span>
                    <strong>{formatNumber((fraction ?? 0) * 100, 0)} %</strong> · {progress?.completed ?? 0} requests
                    done
                    {typeof progress?.total === "number" ? (
                      <span className="muted"> (at most {formatNumber(progress.total, 0)})</span>
                    ) : null}
                  </span>
                  {typeof progress?.failed === "number" && progress.failed > 0 ? (
                    <span className="error-text">{progress.failed} failed</span>
                  ) : null}
                  <span>{formatDuration(typeof progress?.elapsed === "number" ? progress.elapsed : null)} elapsed</span>
                  {progress?.scenario ? (
                    <span className="mono">
                      {progress.label
                        ? toText(progress.label)
                        : `${toText(progress.scenario)} × ${toText(progress.concurrency ?? "")}`}
                      {typeof progress.num_runs === "number" && progress.num_runs > 1
                        ? ` (level ${Number(progress.run_index ?? 0) + 1}/${progress.num_runs})`
                        : ""}
                    </span>
                  ) : null}
                  {typeof progress?.request_throughput === "number" ? (
                    <span>{formatNumber(progress.request_throughput, 2)} req/s</span>
                  ) : null}
                  {typeof progress?.output_throughput === "number" ? (
                    <span>{formatNumber(progress.output_throughput, 1)} tok/s</span>
                  ) : null}
                  {typeof progress?.mean_ttft_ms === "number" ? (
                    <span>TTFT {formatNumber(progress.mean_ttft_ms, 1)} ms</span>
                  ) : null}
                </div>
              </>
            ) : (
              <div className="bench-figures small muted">
                {exp.status === "deploying" ? "Starting the engine and waiting for it to become healthy…" : "Waiting…"}
              </div>
            )}
          </div>
        );
      })}
    </section>
  );
}
