/**
 * Optional API token (servers started with AUTOTUNER_AUTH_SECRET). REST sends it
 * as `Authorization: Bearer`, WebSockets as `?token=` (browsers cannot set
 * headers on them). Kept in localStorage; a 401 or a 4401 close flags that one is
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

/** Close codes of a refused WebSocket: not authenticated, not allowed. */
export const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403]);
