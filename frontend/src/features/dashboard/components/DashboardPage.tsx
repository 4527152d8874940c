import { useEffect, useState } from "react";
import { href } from "../../../app/router";
import { ConnectionIndicator } from "../../../components/ConnectionIndicator";
import { useLiveFeed } from "../../../hooks/useTasksFeed";
import { formatNumber, timeAgo } from "../../../lib/format";
import { DASHBOARD_POLL_MS } from "../../../lib/polling";
import { useGpus, useHealth, useStats, useWorkers } from "../api/getSystem";

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function DashboardPage() {
  const feed = useLiveFeed();
  const health = useHealth();
  const stats = useStats();
  const workers = useWorkers();
  const gpus = useGpus();
  const now = useNow(1000);
  const updated = Math.max(stats.dataUpdatedAt, workers.dataUpdatedAt);

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Dashboard</h1>
          <p className="subtitle">
            Workers, GPUs and live-update figures · refreshed every {DASHBOARD_POLL_MS / 1000} s
            {updated ? ` · updated ${timeAgo(updated / 1000, now)}` : ""}
          </p>
        </div>
        <div className="header-actions">
          <ConnectionIndicator {...feed} label="task feed" onRetry={feed.connect} />
        </div>
      </header>

      <div className="stats">
        <div className="card stat" data-testid="health">
          <div className="stat-label">API</div>
          <div className="stat-value">
            {health.isError ? (
              <span className="error-text">unreachable</span>
            ) : health.data ? (
              <span className="ok-text">{health.data.status}</span>
            ) : (
              "…"
            )}
          </div>
          <div className="muted small">
            {workers.data ? `${workers.data.mode} mode` : ""}
            {stats.data ? ` · ${stats.data.mode} event bus` : ""}
            {typeof health.data?.version === "string" ? ` · v${health.data.version}` : ""}
          </div>
        </div>
        <div className="card stat" data-testid="stat-connections">
          <div className="stat-label">Live connections</div>
          <div className="stat-value">{stats.data ? formatNumber(stats.data.connections, 0) : "…"}</div>
          <div className="muted small">
            {stats.data
              ? `${formatNumber(stats.data.topics, 0)} topic${stats.data.topics === 1 ? "" : "s"} subscribed`
              : ""}
          </div>
        </div>
        <div className="card stat">
          <div className="stat-label">Events published</div>
          <div className="stat-value">{stats.data ? formatNumber(stats.data.events_published, 0) : "…"}</div>
          <div className="muted small">{stats.data ? `${formatNumber(stats.data.events_per_second, 2)} / s` : ""}</div>
        </div>
        <div className="card stat">
          <div className="stat-label">Deliveries to clients</div>
          <div className="stat-value">{stats.data ? formatNumber(stats.data.deliveries, 0) : "…"}</div>
          <div className="muted small">
            {stats.data ? `${formatNumber(stats.data.deliveries_per_second, 2)} / s` : ""}
            {stats.data?.event_latency_p50_ms != null && stats.data.event_latency_p99_ms != null
              ? ` · event latency p50 ${formatNumber(stats.data.event_latency_p50_ms, 1)} ms, p99 ${formatNumber(stats.data.event_latency_p99_ms, 1)} ms`
              : ""}
          </div>
        </div>
      </div>
      {stats.isError ? <div className="alert alert-error">Cannot load live figures: {stats.error.message}</div> : null}

      <div className="grid-2">
        <section className="card" aria-label="Workers">
          <div className="card-title">
            Workers <span className="muted small">{workers.data ? `(${workers.data.mode})` : ""}</span>
          </div>
          {workers.isError ? (
            <div className="alert alert-error">Cannot load workers: {workers.error.message}</div>
          ) : null}
          {workers.data && workers.data.workers.length === 0 ? (
            <div className="empty small">No worker has reported in.</div>
          ) : null}
          {workers.data && workers.data.workers.length > 0 ? (
            <table className="table" data-testid="workers-table">
              <thead>
                <tr>
                  <th>Worker</th>
                  <th>Status</th>
                  <th>Task</th>
                  <th>Last seen</th>
                </tr>
              </thead>
              <tbody>
                {workers.data.workers.map((w) => (
                  <tr key={w.id}>
                    <td>
                      <div className="mono small">{w.hostname}</div>
                      <div className="muted small">pid {w.pid}</div>
                    </td>
                    <td>
                      <span className={`badge badge-${w.status === "busy" ? "running" : "pending"}`}>{w.status}</span>
                    </td>
                    <td>
                      {w.current_task_id !== null ? (
                        <a href={href({ name: "experiments", taskId: w.current_task_id })}>task {w.current_task_id}</a>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    <td className="small">{timeAgo(w.last_seen, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </section>

        <section className="card" aria-label="GPUs">
          <div className="card-title">GPUs</div>
          {gpus.isError ? <div className="alert alert-error">Cannot load GPUs: {gpus.error.message}</div> : null}
          {gpus.data && (!gpus.data.available || gpus.data.gpus.length === 0) ? (
            <div className="empty small" data-testid="no-gpu">
              <strong>No GPU</strong>
              {gpus.data.message ? <div className="muted">{gpus.data.message}</div> : null}
              <div className="muted">The built-in simulator runs without one.</div>
            </div>
          ) : null}
          {gpus.data?.available && gpus.data.gpus.length > 0 ? (
            <div className="gpus">
              {gpus.data.gpus.map((g) => {
                const mem = g.memory_total_mb ? (100 * g.memory_used_mb) / g.memory_total_mb : 0;
                return (
                  <div className="gpu" key={g.index}>
                    <div className="gpu-head">
                      <span className="mono">GPU {g.index}</span> <span>{g.name}</span>
                    </div>
                    <Meter
                      label="Utilization"
                      pct={g.utilization_pct}
                      text={`${formatNumber(g.utilization_pct, 0)} %`}
                    />
                    <Meter
                      label="Memory"
                      pct={mem}
                      text={`${formatNumber(g.memory_used_mb / 1024, 1)} / ${formatNumber(g.memory_total_mb / 1024, 1)} GiB`}
                    />
                  </div>
                );
              })}
            </div>
          ) : null}
        </section>
      </div>
    </div>
  );
}

function Meter({ label, pct, text }: { label: string; pct: number; text: string }) {
  return (
    <div className="meter">
      <span className="meter-label small">{label}</span>
      <div className="meter-track">
        <div className="meter-fill" style={{ width: `${Math.max(0, Math.min(100, pct))}%` }} />
      </div>
      <span className="meter-text small mono">{text}</span>
    </div>
  );
}
