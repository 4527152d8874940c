import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { reconnectDelay, type RandomSource } from "../lib/backoff";

/** Connection states (docs/websocket.md, "Clients"; values mirror WebSocket.readyState). */
export const WebSocketState = {
  CONNECTING: "CONNECTING",
  OPEN: "OPEN",
  CLOSING: "CLOSING",
  CLOSED: "CLOSED",
} as const;
export type WebSocketState = (typeof WebSocketState)[keyof typeof WebSocketState];

export const MESSAGE_HISTORY_LIMIT = 100;

export interface UseWebSocketOptions<T> {
  /** Base reconnect delay in ms (default 1000). */
  reconnectDelay?: number;
  /** Upper bound of the reconnect delay in ms (default 30000). */
  maxReconnectDelay?: number;
  /** Reconnect attempts before giving up (default Infinity). */
  maxReconnectAttempts?: number;
  /** Connect as soon as a URL is given (default true). */
  autoConnect?: boolean;
  /** Reconnect after an unexpected close (default true). */
  autoReconnect?: boolean;
  /** Decide from the close event whether to reconnect (default: always). */
  shouldReconnect?: (event: CloseEvent) => boolean;
  /** Called at every connect to turn the URL into the one to open (e.g. add a resume cursor). */
  resolveUrl?: (url: string) => string;
  /** Subprotocols to offer (e.g. the one carrying a token); a change reconnects. */
  protocols?: readonly string[];
  /** Send `{"type":"ping"}` this often while open, in ms (default 0: never). */
  heartbeatInterval?: number;
  /** Randomness for the jitter (default Math.random); tests inject a fixed source. */
  random?: RandomSource;
  onOpen?: (event: Event) => void;
  onMessage?: (message: T, event: MessageEvent) => void;
  onClose?: (event: CloseEvent) => void;
  onError?: (event: Event) => void;
  /** Called once when maxReconnectAttempts is exhausted. */
  onReconnectFailed?: () => void;
}

export interface UseWebSocketResult<T> {
  state: WebSocketState;
  lastMessage: T | null;
  /** The last 100 messages, oldest first. */
  messageHistory: T[];
  sendMessage: (message: unknown) => boolean;
  connect: () => void;
  disconnect: () => void;
  isConnected: boolean;
  /** Reconnect attempts made since the last successful open. */
  reconnectAttempts: number;
  /** True while a reconnect is scheduled or under way. */
  isReconnecting: boolean;
}

function parse(data: unknown): unknown {
  if (typeof data !== "string") return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/**
 * The low-level WebSocket hook: connection state, the last message and a
 * bounded history, automatic reconnection with exponential backoff and jitter,
 * and teardown of the socket and every timer on unmount or URL change.
 * A `null` URL means "no connection".
 */
export function useWebSocket<T = unknown>(
  url: string | null,
  options: UseWebSocketOptions<T> = {},
): UseWebSocketResult<T> {
  const [state, setState] = useState<WebSocketState>(() =>
    url && (options.autoConnect ?? true) ? WebSocketState.CONNECTING : WebSocketState.CLOSED,
  );
  const [lastMessage, setLastMessage] = useState<T | null>(null);
  const [messageHistory, setMessageHistory] = useState<T[]>([]);
  const [reconnectAttempts, setReconnectAttempts] = useState(0);
  const [isReconnecting, setIsReconnecting] = useState(false);

  // Latest options without re-running effects when callers pass new closures.
  const optionsRef = useRef(options);
  useLayoutEffect(() => {
    optionsRef.current = options;
  });

  const socketRef = useRef<WebSocket | null>(null);
  const reconnectTimerRef = useRef<ReturnType<typeof setTimeout> | null>(null);
  const heartbeatTimerRef = useRef<ReturnType<typeof setInterval> | null>(null);
  const attemptsRef = useRef(0);
  const manualCloseRef = useRef(false);
  const mountedRef = useRef(true);

  const clearTimers = useCallback(() => {
    if (reconnectTimerRef.current !== null) clearTimeout(reconnectTimerRef.current);
    if (heartbeatTimerRef.current !== null) clearInterval(heartbeatTimerRef.current);
    reconnectTimerRef.current = null;
    heartbeatTimerRef.current = null;
  }, []);

  /** Close a socket without letting its handlers touch state again. */
  const detach = useCallback((socket: WebSocket | null) => {
    if (!socket) return;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onerror = null;
    socket.onclose = null;
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) {
      socket.close(1000, "client closed");
    }
  }, []);

  const connectRef = useRef<() => void>(() => undefined);
  // Protocol names hold no commas: the key is a stable dependency for the array.
  const protocolsKey = options.protocols?.join(",") ?? "";

  const scheduleReconnect = useCallback(() => {
    const {
      reconnectDelay: base = 1000,
      maxReconnectDelay = 30000,
      maxReconnectAttempts = Infinity,
      random = Math.random,
    } = optionsRef.current;
    const attempt = attemptsRef.current;
    if (attempt >= maxReconnectAttempts) {
      console.warn(`[useWebSocket] Giving up after ${attempt} reconnect attempts`);
      setIsReconnecting(false);
      optionsRef.current.onReconnectFailed?.();
      return;
    }
    const delay = reconnectDelay(attempt, base, maxReconnectDelay, random);
    attemptsRef.current = attempt + 1;
    setReconnectAttempts(attempt + 1);
    setIsReconnecting(true);
    console.log(`[useWebSocket] Reconnecting in ${delay}ms (attempt ${attempt + 1}/${maxReconnectAttempts})...`);
    reconnectTimerRef.current = setTimeout(() => {
      reconnectTimerRef.current = null;
      connectRef.current();
    }, delay);
  }, []);

  const connect = useCallback(() => {
    if (!url || !mountedRef.current) return;
    const current = socketRef.current;
    if (current && (current.readyState === WebSocket.CONNECTING || current.readyState === WebSocket.OPEN)) {
      return;
    }
    clearTimers();
    manualCloseRef.current = false;
    const target = optionsRef.current.resolveUrl ? optionsRef.current.resolveUrl(url) : url;
    let socket: WebSocket;
    try {
      socket = protocolsKey ? new WebSocket(target, protocolsKey.split(",")) : new WebSocket(target);
    } catch (error) {
      console.error("[useWebSocket] Cannot open", target, error);
      setState(WebSocketState.CLOSED);
      scheduleReconnect();
      return;
    }
    socketRef.current = socket;
    setState(WebSocketState.CONNECTING);

    socket.onopen = (event) => {
      attemptsRef.current = 0;
      setReconnectAttempts(0);
      setIsReconnecting(false);
      setState(WebSocketState.OPEN);
      const every = optionsRef.current.heartbeatInterval ?? 0;
      if (every > 0) {
        heartbeatTimerRef.current = setInterval(() => {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, every);
      }
      optionsRef.current.onOpen?.(event);
    };
    socket.onmessage = (event: MessageEvent) => {
      const message = parse(event.data) as T;
      setLastMessage(message);
      setMessageHistory((history) => {
        const next =
          history.length >= MESSAGE_HISTORY_LIMIT ? history.slice(1 - MESSAGE_HISTORY_LIMIT) : history.slice();
        next.push(message);
        return next;
      });
      optionsRef.current.onMessage?.(message, event);
    };
    socket.onerror = (event) => {
      optionsRef.current.onError?.(event);
    };
    socket.onclose = (event) => {
      if (socketRef.current !== socket) return;
      socketRef.current = null;
      if (heartbeatTimerRef.current !== null) clearInterval(heartbeatTimerRef.current);
      heartbeatTimerRef.current = null;
      setState(WebSocketState.CLOSED);
      optionsRef.current.onClose?.(event);
      const { autoReconnect = true, shouldReconnect } = optionsRef.current;
      if (manualCloseRef.current || !autoReconnect || !mountedRef.current) {
        setIsReconnecting(false);
        return;
      }
      if (shouldReconnect && !shouldReconnect(event)) {
        setIsReconnecting(false);
        return;
      }
      scheduleReconnect();
    };
  }, [url, protocolsKey, clearTimers, scheduleReconnect]);

  useLayoutEffect(() => {
    connectRef.current = connect;
  }, [connect]);

  const disconnect = useCallback(() => {
    manualCloseRef.current = true;
    clearTimers();
    attemptsRef.current = 0;
    setReconnectAttempts(0);
    setIsReconnecting(false);
    const socket = socketRef.current;
    if (socket && (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN)) {
      setState(WebSocketState.CLOSING);
      socket.close(1000, "client disconnect");
    } else {
      setState(WebSocketState.CLOSED);
    }
  }, [clearTimers]);

  const sendMessage = useCallback((message: unknown): boolean => {
    const socket = socketRef.current;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(typeof message === "string" ? message : JSON.stringify(message));
    return true;
  }, []);

  const autoConnect = options.autoConnect ?? true;

  useEffect(() => {
    mountedRef.current = true;
    if (url && autoConnect) connect();
    return () => {
      // Unmount or URL change: no stray socket, no stray timer, no late setState.
      mountedRef.current = false;
      clearTimers();
      const socket = socketRef.current;
      socketRef.current = null;
      detach(socket);
      attemptsRef.current = 0;
      setReconnectAttempts(0);
      setIsReconnecting(false);
      setState(WebSocketState.CLOSED);
    };
  }, [url, autoConnect, connect, clearTimers, detach]);

  return {
    state,
    lastMessage,
    messageHistory,
    sendMessage,
    connect,
    disconnect,
    isConnected: state === WebSocketState.OPEN,
    reconnectAttempts,
    isReconnecting,
  };
}
