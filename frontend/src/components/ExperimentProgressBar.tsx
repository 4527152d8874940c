import { useQuery, skipToken } from "@tanstack/react-query";
import type { TaskProgressFigures } from "../lib/liveCache";
import { plannedExperiments } from "../lib/experiments";
import { queryKeys } from "../lib/queryKeys";
import type { TaskPublic } from "../lib/types";

/**
 * A task's experiments done out of planned, split into successful and failed.
 * It fetches nothing and polls nothing: it reads the task snapshot its parent
 * passes (kept live by WebSocket events) and the last task_progress figures the
 * live stream left in the cache.
 */
export function ExperimentProgressBar({ task }: { task: TaskPublic }) {
  const { data: figures } = useQuery<TaskProgressFigures | null>({
    queryKey: queryKeys.taskProgress(task.id),
    queryFn: skipToken,
  });
  const planned = plannedExperiments(task, figures?.total);
  const ok = task.successful_experiments;
  const failed = task.failed_experiments;
  const done = ok + failed;
  const pct = (n: number) => (planned > 0 ? Math.min(100, (100 * n) / planned) : 0);
  const active = task.status === "running" || task.status === "queued";
  return (
    <div
      className="progress"
      data-testid="experiment-progress"
      title={`${ok} succeeded, ${failed} failed, ${planned} planned`}
    >
      <div className={`progress-track${active ? " progress-active" : ""}`}>
        <div className="progress-ok" style={{ width: `${pct(ok)}%` }} />
        <div className="progress-failed" style={{ width: `${pct(failed)}%` }} />
      </div>
      <span className="progress-text">
        {done}/{planned}
        {failed ? <span className="muted"> ({failed} failed)</span> : null}
      </span>
    </div>
  );
}
