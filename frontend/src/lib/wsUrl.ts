/**
 * The socket URL (docs/websocket.md, "Clients"): ws: or wss: after the page's own protocol and host.
 * No token here: it travels as a subprotocol (see `socketProtocols` in ./auth).
 */
export function wsUrl(path: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return `${protocol}//${location.host}${path}`;
}

export function taskWsUrl(taskId: number, location?: Pick<Location, "protocol" | "host">): string {
  return wsUrl(`/api/ws/tasks/${taskId}`, location);
}

export function withLastEventId(url: string, lastEventId: number | null | undefined): string {
  if (lastEventId === null || lastEventId === undefined) return url;
  return `${url}${url.includes("?") ? "&" : "?"}last_event_id=${lastEventId}`;
}
