import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import { createElement, type ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../../test/fakeWebSocket";
import { useTaskWebSocket } from "../hooks/useTaskWebSocket";
import { useTasksFeed } from "../hooks/useTasksFeed";
import { api } from "./api";
import { getToken, setToken, socketProtocols } from "./auth";
import { taskWsUrl, withLastEventId } from "./wsUrl";

const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_x";

let client: QueryClient;
function wrapper({ children }: { children: ReactNode }) {
  return createElement(QueryClientProvider, { client }, children);
}

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.stubGlobal(
    "fetch",
    vi.fn(() => Promise.reject(new Error("no HTTP in this test"))),
  );
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
});

afterEach(() => {
  setToken(null);
  client.clear();
  vi.unstubAllGlobals();
});

describe("API token", () => {
  it("is sent as a Bearer header on REST and kept across reloads", async () => {
    setToken(JWT);
    expect(localStorage.getItem("autotuner.token")).toBe(JWT);
    const fetchSpy = vi.fn(
      async (_input: RequestInfo | URL, _init?: RequestInit) => new Response("[]", { status: 200 }),
    );
    vi.stubGlobal("fetch", fetchSpy);
    await api.get("/api/tasks");
    const headers = new Headers(fetchSpy.mock.calls[0]![1]!.headers);
    expect(headers.get("Authorization")).toBe(`Bearer ${JWT}`);
  });

  it("never goes into a socket URL", () => {
    setToken(JWT);
    expect(withLastEventId(taskWsUrl(1, { protocol: "https:", host: "h" }), 7)).toBe(
      "wss://h/api/ws/tasks/1?last_event_id=7",
    );
  });

  it("is offered as a subprotocol beside 'autotuner', and only when there is one", () => {
    expect(socketProtocols(JWT)).toEqual(["autotuner", `autotuner.bearer.${JWT}`]);
    expect(socketProtocols(null)).toBeUndefined();
    // A pasted value that cannot be a subprotocol: left out, the server asks again (4401).
    expect(socketProtocols("not a token")).toBeUndefined();
    expect(getToken()).toBeNull();
  });

  it("reaches the task socket and the task feed as a subprotocol; a new token reconnects", () => {
    setToken(JWT);
    renderHook(() => useTaskWebSocket(3, true, { random: () => 0.5 }), { wrapper });
    const task = FakeWebSocket.last;
    renderHook(() => useTasksFeed(true, { random: () => 0.5 }), { wrapper });
    const feed = FakeWebSocket.last;
    for (const socket of [task, feed]) {
      expect(socket.url).not.toContain("token");
      expect(socket.protocols).toEqual(["autotuner", `autotuner.bearer.${JWT}`]);
    }
    expect(task.url).toMatch(/\/api\/ws\/tasks\/3/);
    expect(feed.url).toMatch(/\/api\/ws\/tasks$/);

    act(() => setToken("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.b3RoZXI"));
    expect(task.readyState).toBe(FakeWebSocket.CLOSED);
    expect(feed.readyState).toBe(FakeWebSocket.CLOSED);
    const reopened = FakeWebSocket.live;
    expect(reopened).toHaveLength(2);
    for (const socket of reopened) expect(socket.protocols[1]).toMatch(/\.b3RoZXI$/);

    act(() => setToken(null));
    for (const socket of FakeWebSocket.live) expect(socket.protocols).toEqual([]);
  });
});
