import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useRef, useState } from "react";
import { AUTH_CLOSE_CODES, reportAuthProblem, socketProtocols, useAuth } from "../lib/auth";
import { liveCacheFor } from "../lib/liveCache";
import { queryKeys } from "../lib/queryKeys";
import { isTaskEvent } from "../lib/eventPayload";
import type { ServerMessage } from "../lib/types";
import { wsUrl } from "../lib/wsUrl";
import { NO_RETRY_CLOSE_CODES, TASK_SOCKET_TUNING } from "./useTaskWebSocket";
import { useWebSocket, type UseWebSocketOptions, type UseWebSocketResult } from "./useWebSocket";

/** How long lists wait for the feed before fetching anyway (a proxy may swallow WebSockets). */
export const FEED_READY_TIMEOUT_MS = 3000;

export interface TasksFeed extends UseWebSocketResult<ServerMessage> {
  /**
   * True once the feed is subscribed (or has failed, or took too long): lists
   * fetch only then, so no task event can fall between their answer and the feed.
   */
  ready: boolean;
  maxReconnectAttempts: number;
}

export type TasksFeedOptions = Pick<UseWebSocketOptions<ServerMessage>, "random" | "heartbeatInterval">;

/**
 * The task list's live feed: `/api/ws/tasks` carries the task_* events of every
 * task, so every running task's row stays live, not only the first one. The feed
 * cannot resume (event ids are per task), so on a reconnect it refetches the list
 * once; on the first connect the list has not been fetched yet and nothing is
 * refetched.
 */
export function useTasksFeed(enabled = true, options: TasksFeedOptions = {}): TasksFeed {
  const queryClient = useQueryClient();
  const live = liveCacheFor(queryClient);
  const [ready, setReady] = useState(false);
  const readyRef = useRef(false);

  const markReady = useCallback(() => {
    if (readyRef.current) return;
    readyRef.current = true;
    setReady(true);
  }, []);

  useEffect(() => {
    if (!enabled) {
      markReady();
      return;
    }
    const timer = setTimeout(markReady, FEED_READY_TIMEOUT_MS);
    return () => clearTimeout(timer);
  }, [enabled, markReady]);

  const onMessage = useCallback(
    (message: ServerMessage) => {
      if (typeof message !== "object" || message === null) return;
      if (message.type === "connection_established") {
        console.log("[useTasksFeed] Connected to the task feed");
        if (queryClient.getQueryData(queryKeys.tasks) !== undefined) {
          // Whatever happened while we were away is not replayed on this socket.
          console.warn("[useTasksFeed] Refetching the task list after a reconnect");
          void queryClient.invalidateQueries({ queryKey: queryKeys.tasks, exact: true });
          void queryClient.invalidateQueries({ queryKey: ["task"] });
        }
        markReady();
        return;
      }
      if (message.type === "resync_required") {
        void queryClient.invalidateQueries({ queryKey: queryKeys.tasks, exact: true });
        return;
      }
      if (!isTaskEvent(message)) return;
      console.log("[useTasksFeed] Received event:", message);
      live.apply(message);
    },
    [live, markReady, queryClient],
  );

  const { token } = useAuth();
  const socket = useWebSocket<ServerMessage>(enabled ? wsUrl("/api/ws/tasks") : null, {
    ...TASK_SOCKET_TUNING,
    protocols: socketProtocols(token),
    heartbeatInterval: options.heartbeatInterval ?? 30000,
    random: options.random,
    onMessage,
    onClose: (event) => {
      if (AUTH_CLOSE_CODES.has(event.code)) reportAuthProblem(event.reason || "the server refused the live connection");
      markReady();
    },
    shouldReconnect: (event) => !NO_RETRY_CLOSE_CODES.has(event.code),
  });

  return { ...socket, ready, maxReconnectAttempts: TASK_SOCKET_TUNING.maxReconnectAttempts };
}

export const TasksFeedContext = createContext<TasksFeed | null>(null);

/** The app-wide task feed (mounted once by the app shell). */
export function useLiveFeed(): TasksFeed {
  const feed = useContext(TasksFeedContext);
  if (!feed) throw new Error("useLiveFeed needs the app's TasksFeedContext provider");
  return feed;
}
