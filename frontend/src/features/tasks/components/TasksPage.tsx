import { useState } from "react";
import { href } from "../../../app/router";
import { ConnectionIndicator } from "../../../components/ConnectionIndicator";
import { Elapsed } from "../../../components/Elapsed";
import { ExperimentProgressBar } from "../../../components/ExperimentProgressBar";
import { RuntimeLabel, StatusBadge } from "../../../components/StatusBadge";
import { useLiveFeed } from "../../../hooks/useTasksFeed";
import { formatDateTime, formatNumber, OBJECTIVE_LABELS } from "../../../lib/format";
import { POLL_IDLE_MS, POLL_RUNNING_MS } from "../../../lib/polling";
import { isTaskActive, type TaskPublic } from "../../../lib/types";
import { useDeleteTask } from "../api/deleteTask";
import { useTasks } from "../api/getTasks";
import { useCancelTask, useStartTask } from "../../../lib/taskActions";

export function TasksPage() {
  const feed = useLiveFeed();
  const tasks = useTasks({ live: feed.isConnected, ready: feed.ready });
  const start = useStartTask();
  const cancel = useCancelTask();
  const remove = useDeleteTask();
  const [error, setError] = useState<string | null>(null);
  const list = tasks.data ?? [];
  const running = list.filter((t) => isTaskActive(t.status)).length;

  const run = (what: Promise<unknown>) => {
    setError(null);
    what.catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Tasks</h1>
          <p className="subtitle">
            {list.length} task{list.length === 1 ? "" : "s"}
            {running ? `, ${running} running` : ""} ·{" "}
            {feed.isConnected
              ? "updated live, no polling"
              : `polling every ${running ? POLL_RUNNING_MS / 1000 + " s" : POLL_IDLE_MS / 60000 + " min"} until the live feed is back`}
          </p>
        </div>
        <div className="header-actions">
          <ConnectionIndicator {...feed} label="task feed" onRetry={feed.connect} />
          <a className="button primary" href={href({ name: "new-task" })}>
            New task
          </a>
        </div>
      </header>

      {error ? (
        <div className="alert alert-error" role="alert">
          {error}
        </div>
      ) : null}
      {tasks.isError ? (
        <div className="alert alert-error" role="alert">
          Cannot load tasks: {tasks.error.message}
        </div>
      ) : null}

      <div className="card table-scroll">
        {tasks.isPending ? (
          <div className="empty">Loading tasks…</div>
        ) : list.length === 0 ? (
          <div className="empty">
            <p>No tasks yet.</p>
            <a className="button primary" href={href({ name: "new-task" })}>
              Create your first task
            </a>
          </div>
        ) : (
          <table className="table compact" data-testid="tasks-table">
            <thead>
              <tr>
                <th>Task</th>
                <th>Status</th>
                <th>Engine</th>
                <th>Objective</th>
                <th className="col-progress">Experiments</th>
                <th className="num">Best score</th>
                <th>Created</th>
                <th className="num">Elapsed</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((task) => (
                <TaskRow
                  key={task.id}
                  task={task}
                  busy={start.isPending || cancel.isPending || remove.isPending}
                  onStart={() => run(start.mutateAsync(task.id))}
                  onCancel={() => run(cancel.mutateAsync(task.id))}
                  onDelete={() => {
                    if (window.confirm(`Delete task "${task.task_name}" and its experiments?`)) {
                      run(remove.mutateAsync(task.id));
                    }
                  }}
                />
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

interface TaskRowProps {
  task: TaskPublic;
  busy: boolean;
  onStart: () => void;
  onCancel: () => void;
  onDelete: () => void;
}

function TaskRow({ task, busy, onStart, onCancel, onDelete }: TaskRowProps) {
  const active = isTaskActive(task.status);
  return (
    <tr data-testid="task-row" data-task-id={task.id} data-task-name={task.task_name} data-status={task.status}>
      <td>
        <a className="task-name" href={href({ name: "experiments", taskId: task.id })}>
          {task.task_name}
        </a>
        {task.description ? (
          <div className="muted small clamp clamp-narrow" title={task.description}>
            {task.description}
          </div>
        ) : null}
      </td>
      <td>
        <StatusBadge status={task.status} />
        {task.error_message && task.status === "failed" ? (
          <div className="error-text small clamp" title={task.error_message}>
            {task.error_message}
          </div>
        ) : null}
      </td>
      <td>
        <RuntimeLabel mode={task.deployment_mode} runtime={task.base_runtime} />
      </td>
      <td className="small">
        {OBJECTIVE_LABELS[task.spec?.optimization?.objective ?? ""] ?? task.spec?.optimization?.objective ?? "—"}
      </td>
      <td className="col-progress">
        <ExperimentProgressBar task={task} />
      </td>
      <td className="num mono">{formatNumber(task.best_score, 3)}</td>
      <td className="small nowrap">{formatDateTime(task.created_at)}</td>
      <td className="num small">
        <Elapsed task={task} />
      </td>
      <td>
        <div className="row-actions">
          {active ? (
            <button type="button" className="button small" disabled={busy} onClick={onCancel}>
              Cancel
            </button>
          ) : task.status !== "completed" ? (
            <button type="button" className="button small primary" disabled={busy} onClick={onStart}>
              {task.status === "pending" ? "Start" : "Resume"}
            </button>
          ) : null}
          {!active ? (
            <button
              type="button"
              className="button small danger ghost"
              disabled={busy}
              onClick={onDelete}
              aria-label={`Delete ${task.task_name}`}
            >
              Delete
            </button>
          ) : null}
        </div>
      </td>
    </tr>
  );
}
