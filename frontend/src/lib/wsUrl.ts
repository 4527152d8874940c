import { getToken } from "./auth";

/** The seed's URL construction: ws: or wss: after the page's own protocol and host. */
export function wsUrl(
  path: string,
  location: Pick<Location, "protocol" | "host"> = window.location,
  token: string | null = getToken(),
): string {
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${protocol}//${location.host}${path}`;
  return token ? `${url}?token=${encodeURIComponent(token)}` : url;
}

export function taskWsUrl(taskId: number, location?: Pick<Location, "protocol" | "host">, token?: string | null): string {
  return wsUrl(`/api/ws/tasks/${taskId}`, location, token);
}

export function withLastEventId(url: string, lastEventId: number | null | undefined): string {
  if (lastEventId === null || lastEventId === undefined) return url;
  return `${url}${url.includes("?") ? "&" : "?"}last_event_id=${lastEventId}`;
}
