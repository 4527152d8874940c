import type { ExperimentStatus, TaskStatus } from "../lib/types";

const LABELS: Record<string, string> = {
  pending: "Pending",
  queued: "Queued",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  deploying: "Deploying",
  benchmarking: "Benchmarking",
  success: "Success",
};

export function StatusBadge({ status }: { status: TaskStatus | ExperimentStatus }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {status === "running" || status === "deploying" || status === "benchmarking" ? (
        <span className="badge-pulse" aria-hidden="true" />
      ) : null}
      {LABELS[status] ?? status}
    </span>
  );
}

/** The simulator is labelled as such wherever it appears. */
export function RuntimeLabel({ mode, runtime }: { mode: string; runtime: string }) {
  if (mode === "sim") {
    return (
      <span className="runtime">
        <span className="pill pill-sim" title="Built-in simulated engine: no real model runs">
          Simulator
        </span>{" "}
        {runtime}
      </span>
    );
  }
  return (
    <span className="runtime">
      <span className="pill">{mode}</span> {runtime}
    </span>
  );
}
