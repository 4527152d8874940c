import { isTaskEvent } from "../../../lib/eventPayload";
import type { ServerMessage } from "../../../lib/types";

/** The last events this page received, newest first (what the browser console also logs). */
export function EventLog({ messages }: { messages: ServerMessage[] }) {
  const events = messages
    .filter(isTaskEvent)
    .filter((e) => e.type !== "benchmark_progress")
    .slice(-30)
    .reverse();
  if (events.length === 0) return <div className="empty small">No live events received on this page yet.</div>;
  return (
    <ol className="event-log">
      {events.map((e) => (
        <li key={`${e.id}-${e.type}`}>
          <span className="mono muted">#{e.id ?? "–"}</span>
          <span className="mono muted">{new Date(e.timestamp * 1000).toLocaleTimeString()}</span>
          <span className={`event-type event-${e.type.split("_")[0]}`}>{e.type}</span>
          <span>{e.message}</span>
        </li>
      ))}
    </ol>
  );
}
