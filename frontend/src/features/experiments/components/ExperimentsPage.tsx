import { skipToken, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { href } from "../../../app/router";
import { ConnectionIndicator } from "../../../components/ConnectionIndicator";
import { Elapsed } from "../../../components/Elapsed";
import { ExperimentProgressBar } from "../../../components/ExperimentProgressBar";
import { RuntimeLabel, StatusBadge } from "../../../components/StatusBadge";
import { TASK_SOCKET_TUNING, useTaskWebSocket } from "../../../hooks/useTaskWebSocket";
import { useLiveFeed } from "../../../hooks/useTasksFeed";
import {
  download,
  experimentsToCsv,
  higherIsBetter,
  parameterNames,
  plannedExperiments,
} from "../../../lib/experiments";
import { formatNumber, OBJECTIVE_LABELS, STRATEGY_LABELS } from "../../../lib/format";
import type { TaskProgressFigures } from "../../../lib/liveCache";
import { queryKeys } from "../../../lib/queryKeys";
import { isTaskActive } from "../../../lib/types";
import { useExperiments } from "../api/getExperiments";
import { useTask } from "../api/getTask";
import { useCancelTask, useStartTask } from "../../../lib/taskActions";
import { BenchmarkProgressCard } from "./BenchmarkProgressCard";
import { BestConfiguration } from "./BestConfiguration";
import { EventLog } from "./EventLog";
import { ExperimentsTable } from "./ExperimentsTable";
import { ObjectiveChart } from "./ObjectiveChart";
import { ParameterChart } from "./ParameterChart";

/** How long the experiment list waits for the task's stream before fetching anyway. */
const SUBSCRIBE_WAIT_MS = 3000;

export function ExperimentsPage({ taskId }: { taskId: number }) {
  const queryClient = useQueryClient();
  const feed = useLiveFeed();
  const [socketLive, setSocketLive] = useState(false);
  const task = useTask(taskId, { live: socketLive || feed.isConnected });
  const active = !!task.data && isTaskActive(task.data.status);
  const socket = useTaskWebSocket(taskId, active);
  useEffect(() => setSocketLive(socket.isConnected), [socket.isConnected]);

  // The list is fetched once the stream is subscribed, so no event can fall
  // between the list's answer and the stream (which resumes from the task's
  // last_event_id). A list cached from an earlier visit is refetched then too.
  const [waited, setWaited] = useState(false);
  useEffect(() => {
    void queryClient.invalidateQueries({ queryKey: queryKeys.experiments(taskId), exact: true, refetchType: "none" });
    setWaited(false);
    const timer = setTimeout(() => setWaited(true), SUBSCRIBE_WAIT_MS);
    return () => clearTimeout(timer);
  }, [queryClient, taskId]);
  const ready = !!task.data && (!active || socket.subscribed || waited || socket.reconnectAttempts > 0);
  const live = socket.isConnected || (!active && feed.isConnected);
  const experiments = useExperiments(taskId, { live, taskRunning: active, enabled: ready });
  const { data: figures } = useQuery<TaskProgressFigures | null>({
    queryKey: queryKeys.taskProgress(taskId),
    queryFn: skipToken,
  });
  const start = useStartTask();
  const cancel = useCancelTask();
  const [actionError, setActionError] = useState<string | null>(null);

  if (task.isPending)
    return (
      <div className="page">
        <div className="empty">Loading task…</div>
      </div>
    );
  if (task.isError || !task.data) {
    return (
      <div className="page">
        <a className="back" href={href({ name: "tasks" })}>
          ← Tasks
        </a>
        <div className="alert alert-error" role="alert">
          Cannot load task {taskId}: {task.error?.message ?? "not found"}
        </div>
      </div>
    );
  }

  const t = task.data;
  const list = experiments.data ?? [];
  const higher = higherIsBetter(t, list);
  const params = parameterNames(list, t);
  const best = list.find((e) => e.id === t.best_experiment_id);
  const objective = t.spec?.optimization?.objective ?? "";
  const planned = plannedExperiments(t, figures?.total);
  const run = (what: Promise<unknown>) => {
    setActionError(null);
    what.catch((e: unknown) => setActionError(e instanceof Error ? e.message : String(e)));
  };
  const baseName = t.task_name.replace(/[^\w.-]+/g, "_");

  return (
    <div className="page">
      <a className="back" href={href({ name: "tasks" })}>
        ← Tasks
      </a>
      <header className="page-header">
        <div>
          <h1 className="title-row">
            <span data-testid="task-title">{t.task_name}</span>
            <StatusBadge status={t.status} />
          </h1>
          <p className="subtitle">
            <RuntimeLabel mode={t.deployment_mode} runtime={t.base_runtime} /> · model{" "}
            <span className="mono">{t.spec?.model?.id_or_path}</span> ·{" "}
            {STRATEGY_LABELS[t.spec?.optimization?.strategy ?? ""] ?? t.spec?.optimization?.strategy} ·{" "}
            {OBJECTIVE_LABELS[objective] ?? objective}
            {t.description ? <> · {t.description}</> : null}
          </p>
        </div>
        <div className="header-actions">
          {active ? (
            <ConnectionIndicator
              {...socket}
              maxReconnectAttempts={TASK_SOCKET_TUNING.maxReconnectAttempts}
              label={`task ${taskId}`}
              onRetry={socket.connect}
            />
          ) : (
            <span
              className="conn conn-idle"
              data-testid="connection-indicator"
              data-phase="idle"
              title="The task is not running: nothing to stream"
            >
              <span className="conn-dot" aria-hidden="true" />
              Not running
            </span>
          )}
          {active ? (
            <button
              type="button"
              className="button"
              onClick={() => run(cancel.mutateAsync(taskId))}
              disabled={cancel.isPending}
            >
              Cancel
            </button>
          ) : t.status !== "completed" ? (
            <button
              type="button"
              className="button primary"
              onClick={() => run(start.mutateAsync(taskId))}
              disabled={start.isPending}
              data-testid="start-task"
            >
              {t.status === "pending" ? "Start" : "Resume"}
            </button>
          ) : null}
          <button
            type="button"
            className="button"
            disabled={!list.length}
            onClick={() => download(`${baseName}-experiments.csv`, experimentsToCsv(list), "text/csv")}
            data-testid="export-csv"
          >
            Export CSV
          </button>
          <button
            type="button"
            className="button"
            disabled={!list.length}
            onClick={() =>
              download(
                `${baseName}-experiments.json`,
                JSON.stringify({ task: t, experiments: list }, null, 2),
                "application/json",
              )
            }
            data-testid="export-json"
          >
            Export JSON
          </button>
        </div>
      </header>

      {actionError ? (
        <div className="alert alert-error" role="alert">
          {actionError}
        </div>
      ) : null}
      {t.error_message ? <div className="alert alert-error">{t.error_message}</div> : null}

      <div className="stats">
        <div className="card stat">
          <div className="stat-label">Progress</div>
          <ExperimentProgressBar task={t} />
        </div>
        <div className="card stat">
          <div className="stat-label">Best score ({higher ? "higher" : "lower"} is better)</div>
          <div className="stat-value mono" data-testid="best-score">
            {formatNumber(t.best_score, 4)}
          </div>
        </div>
        <div className="card stat">
          <div className="stat-label">Succeeded / failed</div>
          <div className="stat-value">
            <span className="ok-text">{t.successful_experiments}</span> /{" "}
            <span className={t.failed_experiments ? "error-text" : ""}>{t.failed_experiments}</span>
          </div>
        </div>
        <div className="card stat">
          <div className="stat-label">Elapsed</div>
          <div className="stat-value">
            <Elapsed task={t} />
          </div>
        </div>
      </div>

      <BenchmarkProgressCard taskId={taskId} experiments={list} />

      <div className="grid-2">
        <section className="card">
          <div className="card-title">Objective per experiment</div>
          <div className="legend small">
            <span>
              <i className="lg-point" /> score
            </span>
            <span>
              <i className="lg-line" /> best so far
            </span>
            <span>
              <i className="lg-failed" /> failed
            </span>
          </div>
          <ObjectiveChart
            experiments={list}
            higherIsBetter={higher}
            planned={planned}
            bestId={t.best_experiment_id}
            objectiveLabel={OBJECTIVE_LABELS[objective] ?? objective}
          />
        </section>
        <section className="card">
          <div className="card-title">Score against parameters</div>
          <ParameterChart experiments={list} parameters={params} bestId={t.best_experiment_id} />
        </section>
      </div>

      <section className="card">
        <div className="card-title">Best configuration</div>
        <BestConfiguration best={best} isSimulator={t.deployment_mode === "sim"} />
      </section>

      <section className="card">
        <div className="card-title">
          Experiments{" "}
          <span className="muted small">
            ({list.length} of {planned} planned)
          </span>
        </div>
        {experiments.isPending && ready ? (
          <div className="empty">Loading experiments…</div>
        ) : (
          <ExperimentsTable experiments={list} parameters={params} bestId={t.best_experiment_id} />
        )}
      </section>

      <section className="card">
        <div className="card-title">Live events</div>
        <EventLog messages={socket.messageHistory} />
      </section>
    </div>
  );
}
