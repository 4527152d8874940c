/**
 * Optional API token (servers started with AUTOTUNER_AUTH_SECRET). REST sends it
 * as `Authorization: Bearer`; WebSockets, on which browsers cannot set headers,
 * offer it as the subprotocol `autotuner.bearer.<token>` beside `autotuner` (the
 * server accepts with `autotuner`). Never in a URL: URLs end up in logs, proxies
 * and histories. Kept in localStorage; a 401 or a 4401 close flags that one is
 * needed, and the shell then asks for it.
 */
import { useSyncExternalStore } from "react";

const KEY = "autotuner.token";

interface AuthState {
  token: string | null;
  /** Why the server refused us, if it did. */
  problem: string | null;
}

let state: AuthState = { token: readStored(), problem: null };
const listeners = new Set<() => void>();

function readStored(): string | null {
  try {
    return globalThis.localStorage?.getItem(KEY) || null;
  } catch {
    return null;
  }
}

function update(next: Partial<AuthState>): void {
  state = { ...state, ...next };
  listeners.forEach((listener) => listener());
}

export function getToken(): string | null {
  return state.token;
}

export function setToken(token: string | null): void {
  const value = token?.trim() || null;
  try {
    if (value) globalThis.localStorage?.setItem(KEY, value);
    else globalThis.localStorage?.removeItem(KEY);
  } catch {
    // storage unavailable: keep it for this page only
  }
  update({ token: value, problem: null });
}

export function reportAuthProblem(message: string): void {
  if (state.problem !== message) update({ problem: message });
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useAuth(): AuthState {
  return useSyncExternalStore(subscribe, () => state);
}

/** The subprotocol the server speaks, and the prefix of the one carrying a token. */
export const SOCKET_PROTOCOL = "autotuner";
export const TOKEN_PROTOCOL_PREFIX = "autotuner.bearer.";

// A subprotocol is an HTTP token; a JWT (base64url and dots) always is one.
const PROTOCOL_CHARS = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * The subprotocols a socket offers to carry `token` (none without one). A pasted
 * token that cannot be a subprotocol is left out: the server then refuses the
 * socket with 4401 and the shell asks for a token again.
 */
export function socketProtocols(token: string | null = getToken()): string[] | undefined {
  if (!token || !PROTOCOL_CHARS.test(token)) return undefined;
  return [SOCKET_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`];
}

/** Close codes of a refused WebSocket: not authenticated, not allowed. */
export const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403]);
