import { useEffect, useState } from "react";
import { formatDuration } from "../lib/format";
import type { TaskPublic } from "../lib/types";

/** A task's elapsed time; ticks locally once a second while it runs (no request). */
export function Elapsed({ task }: { task: Pick<TaskPublic, "status" | "started_at" | "elapsed_time"> }) {
  const running = task.status === "running" && !!task.started_at;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  if (running) {
    const started = Date.parse(task.started_at as string);
    if (Number.isFinite(started)) return <>{formatDuration(Math.max(0, (now - started) / 1000))}</>;
  }
  return <>{formatDuration(task.elapsed_time)}</>;
}
