import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { AUTH_CLOSE_CODES, reportAuthProblem, socketProtocols, useAuth } from "../lib/auth";
import { liveCacheFor } from "../lib/liveCache";
import { queryKeys } from "../lib/queryKeys";
import { isTaskEvent } from "../lib/eventPayload";
import type { ServerMessage, TaskPublic } from "../lib/types";
import { taskWsUrl, withLastEventId } from "../lib/wsUrl";
import { useWebSocket, type UseWebSocketOptions, type UseWebSocketResult } from "./useWebSocket";

/** Reconnection tuning of task sockets (docs/websocket.md, "Clients"). */
export const TASK_SOCKET_TUNING = {
  reconnectDelay: 1000,
  maxReconnectDelay: 10000,
  maxReconnectAttempts: 10,
} as const;

/** Close code the server uses for an unknown task or experiment. */
export const CLOSE_UNKNOWN = 4404;
/**
 * Close codes after which retrying cannot help: bad query (4400), not
 * authenticated / not allowed (4401 / 4403), unknown id (4404). Any other close,
 * including 4429 (too slow), is retried and resumed from the last id seen.
 */
export const NO_RETRY_CLOSE_CODES: ReadonlySet<number> = new Set([4400, 4401, 4403, CLOSE_UNKNOWN]);

export type TaskWebSocketOptions = Pick<UseWebSocketOptions<ServerMessage>, "random" | "heartbeatInterval">;

export interface UseTaskWebSocketResult extends UseWebSocketResult<ServerMessage> {
  /** Id of the newest event applied so far (null before the first one). */
  getLastEventId: () => number | null;
  /** True between the server's connection_established and the socket closing. */
  subscribed: boolean;
}

/**
 * Live updates of one task. Opens `/api/ws/tasks/{taskId}` (ws or wss after the
 * page), resumes with `last_event_id` (the newest id seen, or the cached task's
 * `last_event_id` on a first connect) and writes each event's snapshot into the
 * query cache: a live event costs no HTTP request. It refetches the task and its
 * experiments once, and only when it cannot resume: on `resync_required`, on a
 * gap in the event ids, or when the server's history no longer reaches back to
 * the resume point.
 */
export function useTaskWebSocket(
  taskId: number | null,
  enabled = true,
  options: TaskWebSocketOptions = {},
): UseTaskWebSocketResult {
  const queryClient = useQueryClient();
  const live = liveCacheFor(queryClient);

  const lastIdRef = useRef<number | null>(null);
  const resumeFromRef = useRef<number | null>(null);
  const expectGapRef = useRef(false);
  const taskRef = useRef<number | null>(null);
  const [subscribed, setSubscribed] = useState(false);

  // A new task starts from scratch; runs before the socket effect below connects.
  useLayoutEffect(() => {
    if (taskRef.current !== taskId) {
      taskRef.current = taskId;
      lastIdRef.current = null;
      expectGapRef.current = false;
    }
  }, [taskId]);

  const refetch = useCallback(
    (reason: string) => {
      if (taskId === null) return;
      console.warn(`[useTaskWebSocket] Refetching task ${taskId}: ${reason}`);
      live.forgetExperiments(taskId);
      void queryClient.invalidateQueries({ queryKey: queryKeys.task(taskId), exact: true });
      void queryClient.invalidateQueries({ queryKey: queryKeys.experiments(taskId), exact: true });
    },
    [live, queryClient, taskId],
  );

  const resolveUrl = useCallback(
    (url: string) => {
      let resume = lastIdRef.current;
      if (resume === null && taskId !== null) {
        const task =
          queryClient.getQueryData<TaskPublic>(queryKeys.task(taskId)) ??
          queryClient.getQueryData<TaskPublic[]>(queryKeys.tasks)?.find((t) => t.id === taskId);
        resume = task ? task.last_event_id : null;
      }
      resumeFromRef.current = resume;
      return withLastEventId(url, resume);
    },
    [queryClient, taskId],
  );

  const onMessage = useCallback(
    (message: ServerMessage) => {
      if (typeof message !== "object" || message === null) return;
      if (message.type === "connection_established") {
        console.log(`[useTaskWebSocket] Connected to task ${taskId}`);
        setSubscribed(true);
        const newest = typeof message.last_event_id === "number" ? message.last_event_id : null;
        const resume = resumeFromRef.current;
        if (resume === null) {
          // Nothing to resume from: the cache may miss whatever happened before now.
          lastIdRef.current = newest;
          refetch("no resume point");
        } else if (newest !== null && newest < resume) {
          // The server's history does not reach our cursor (e.g. a new data directory).
          lastIdRef.current = newest;
          refetch(`server history ends at ${newest}, before ${resume}`);
        } else if (lastIdRef.current === null) {
          lastIdRef.current = resume;
        }
        return;
      }
      if (message.type === "resync_required") {
        // The server continues live from its newest id (when it says which).
        const newest = typeof message.last_event_id === "number" ? message.last_event_id : null;
        lastIdRef.current = newest;
        expectGapRef.current = newest === null;
        refetch("server asked to resync");
        return;
      }
      if (message.type === "pong" || message.type === "error") {
        if (message.type === "error") console.warn("[useTaskWebSocket] Server error:", message.message);
        return;
      }
      if (!isTaskEvent(message)) return;
      const id = typeof message.id === "number" ? message.id : null;
      if (id !== null) {
        const last = lastIdRef.current;
        if (last !== null && id <= last) return; // already applied (replay overlap)
        if (last !== null && id > last + 1 && !expectGapRef.current) {
          refetch(`event ids jumped from ${last} to ${id}`);
        }
        lastIdRef.current = id;
        expectGapRef.current = false;
      }
      console.log("[useTaskWebSocket] Received event:", message);
      live.apply(message);
    },
    [live, refetch, taskId],
  );

  const { token } = useAuth();
  const active = enabled && taskId !== null;
  const url = active ? taskWsUrl(taskId) : null;

  const socket = useWebSocket<ServerMessage>(url, {
    ...TASK_SOCKET_TUNING,
    // The token travels as a subprotocol, never in the URL; a new token reconnects.
    protocols: socketProtocols(token),
    heartbeatInterval: options.heartbeatInterval ?? 30000,
    random: options.random,
    resolveUrl,
    onMessage,
    shouldReconnect: (event) => {
      if (AUTH_CLOSE_CODES.has(event.code)) reportAuthProblem(event.reason || "the server refused the live connection");
      if (NO_RETRY_CLOSE_CODES.has(event.code)) {
        console.warn(
          `[useTaskWebSocket] Task ${taskId}: server closed with ${event.code} ${event.reason}; not reconnecting`,
        );
        return false;
      }
      return true;
    },
    onClose: (event) => {
      setSubscribed(false);
      if (event.code !== 1000) console.log(`[useTaskWebSocket] Disconnected from task ${taskId} (code ${event.code})`);
    },
  });

  // When the stream stops, the kept experiment snapshots must not outlive it.
  useEffect(() => {
    if (!active || taskId === null) return;
    return () => live.forgetExperiments(taskId);
  }, [active, live, taskId]);

  const getLastEventId = useCallback(() => lastIdRef.current, []);
  return { ...socket, getLastEventId, subscribed: subscribed && socket.isConnected };
}
