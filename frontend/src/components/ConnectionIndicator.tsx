import type { WebSocketState } from "../hooks/useWebSocket";

export interface ConnectionIndicatorProps {
  state: WebSocketState;
  isConnected: boolean;
  isReconnecting: boolean;
  reconnectAttempts: number;
  maxReconnectAttempts?: number;
  /** What the connection carries, e.g. "task feed". */
  label?: string;
  onRetry?: () => void;
}

export type ConnectionPhase = "live" | "connecting" | "reconnecting" | "offline";

export function connectionPhase(
  p: Pick<ConnectionIndicatorProps, "state" | "isConnected" | "isReconnecting" | "reconnectAttempts">,
): ConnectionPhase {
  if (p.isConnected) return "live";
  if (p.isReconnecting || p.reconnectAttempts > 0) return p.isReconnecting ? "reconnecting" : "offline";
  if (p.state === "CONNECTING") return "connecting";
  return "offline";
}

/** Live / reconnecting (attempt n) / offline, as a small pill. */
export function ConnectionIndicator(props: ConnectionIndicatorProps) {
  const phase = connectionPhase(props);
  const max = props.maxReconnectAttempts;
  const text =
    phase === "live"
      ? "Live"
      : phase === "connecting"
        ? "Connecting…"
        : phase === "reconnecting"
          ? `Reconnecting (attempt ${props.reconnectAttempts}${max && Number.isFinite(max) ? `/${max}` : ""})`
          : "Offline";
  const title =
    phase === "live"
      ? `Receiving live events${props.label ? ` (${props.label})` : ""}; lists do not poll`
      : phase === "offline"
        ? "No live connection: lists fall back to polling (30 s with a task running, 5 min idle)"
        : "Waiting for the live connection";
  return (
    <span className={`conn conn-${phase}`} data-testid="connection-indicator" data-phase={phase} title={title}>
      <span className="conn-dot" aria-hidden="true" />
      {text}
      {phase === "offline" && props.onRetry ? (
        <button type="button" className="link-button" onClick={props.onRetry}>
          retry
        </button>
      ) : null}
    </span>
  );
}
