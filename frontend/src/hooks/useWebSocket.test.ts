import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../../test/fakeWebSocket";
import { MESSAGE_HISTORY_LIMIT, useWebSocket, WebSocketState } from "./useWebSocket";

const URL_A = "ws://localhost/api/ws/tasks/1";
const noJitter = () => 0.5;

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** Advance fake time and report whether a new socket was opened by then. */
function advance(ms: number) {
  act(() => {
    vi.advanceTimersByTime(ms);
  });
}

describe("useWebSocket", () => {
  it("connects on mount and reports the states", () => {
    const { result } = renderHook(() => useWebSocket(URL_A));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(FakeWebSocket.last.url).toBe(URL_A);
    expect(result.current.state).toBe(WebSocketState.CONNECTING);
    expect(result.current.isConnected).toBe(false);
    act(() => FakeWebSocket.last.open());
    expect(result.current.state).toBe(WebSocketState.OPEN);
    expect(result.current.isConnected).toBe(true);
    act(() => FakeWebSocket.last.drop());
    expect(result.current.state).toBe(WebSocketState.CLOSED);
  });

  it("reconnects with exponential backoff capped at maxReconnectDelay", () => {
    const log = vi.mocked(console.log);
    const { result } = renderHook(() => useWebSocket(URL_A, { random: noJitter }));
    act(() => FakeWebSocket.last.open());
    const expected = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
    for (const [index, delay] of expected.entries()) {
      act(() => FakeWebSocket.last.drop());
      expect(result.current.reconnectAttempts).toBe(index + 1);
      expect(result.current.isReconnecting).toBe(true);
      expect(log).toHaveBeenLastCalledWith(
        `[useWebSocket] Reconnecting in ${delay}ms (attempt ${index + 1}/Infinity)...`,
      );
      const before = FakeWebSocket.instances.length;
      advance(delay - 1);
      expect(FakeWebSocket.instances).toHaveLength(before);
      advance(1);
      expect(FakeWebSocket.instances).toHaveLength(before + 1);
      expect(result.current.state).toBe(WebSocketState.CONNECTING);
    }
  });

  it("applies ±25 % jitter from the injected random source", () => {
    renderHook(() => useWebSocket(URL_A, { random: () => 0, reconnectDelay: 1000 }));
    act(() => FakeWebSocket.last.drop());
    advance(749);
    expect(FakeWebSocket.instances).toHaveLength(1);
    advance(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    // second attempt: 2000 · (1 - 0.25)
    act(() => FakeWebSocket.last.drop());
    advance(1499);
    expect(FakeWebSocket.instances).toHaveLength(2);
    advance(1);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });

  it("uses the upper jitter bound too", () => {
    renderHook(() => useWebSocket(URL_A, { random: () => 0.9999999 }));
    act(() => FakeWebSocket.last.drop());
    advance(1249);
    expect(FakeWebSocket.instances).toHaveLength(1);
    advance(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("resets the attempt count after a successful open", () => {
    const { result } = renderHook(() => useWebSocket(URL_A, { random: noJitter }));
    act(() => FakeWebSocket.last.drop());
    advance(1000);
    act(() => FakeWebSocket.last.drop());
    advance(2000);
    expect(result.current.reconnectAttempts).toBe(2);
    act(() => FakeWebSocket.last.open());
    expect(result.current.reconnectAttempts).toBe(0);
    expect(result.current.isReconnecting).toBe(false);
    act(() => FakeWebSocket.last.drop());
    advance(1000); // back to the base delay
    expect(FakeWebSocket.instances).toHaveLength(4);
  });

  it("keeps at most 100 messages, oldest dropped first", () => {
    const { result } = renderHook(() => useWebSocket<{ n: number }>(URL_A));
    act(() => FakeWebSocket.last.open());
    act(() => {
      for (let n = 0; n < 150; n++) FakeWebSocket.last.receive({ n });
    });
    expect(result.current.messageHistory).toHaveLength(MESSAGE_HISTORY_LIMIT);
    expect(MESSAGE_HISTORY_LIMIT).toBe(100);
    expect(result.current.messageHistory[0]).toEqual({ n: 50 });
    expect(result.current.messageHistory.at(-1)).toEqual({ n: 149 });
    expect(result.current.lastMessage).toEqual({ n: 149 });
  });

  it("parses JSON and passes other text through to onMessage", () => {
    const onMessage = vi.fn<(message: unknown) => void>();
    renderHook(() => useWebSocket(URL_A, { onMessage }));
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.receive({ type: "pong" }));
    act(() => FakeWebSocket.last.receive("not json"));
    expect(onMessage.mock.calls.map((c) => c[0])).toEqual([{ type: "pong" }, "not json"]);
  });

  it("gives up after maxReconnectAttempts", () => {
    const onReconnectFailed = vi.fn();
    const { result } = renderHook(() =>
      useWebSocket(URL_A, { random: noJitter, maxReconnectAttempts: 3, onReconnectFailed }),
    );
    for (let i = 0; i < 3; i++) {
      act(() => FakeWebSocket.last.drop());
      advance(60_000);
    }
    expect(FakeWebSocket.instances).toHaveLength(4);
    act(() => FakeWebSocket.last.drop());
    advance(10 * 60_000);
    expect(FakeWebSocket.instances).toHaveLength(4);
    expect(onReconnectFailed).toHaveBeenCalledTimes(1);
    expect(result.current.isReconnecting).toBe(false);
    expect(result.current.state).toBe(WebSocketState.CLOSED);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops reconnecting after a manual disconnect", () => {
    const { result } = renderHook(() => useWebSocket(URL_A, { random: noJitter }));
    act(() => FakeWebSocket.last.open());
    act(() => result.current.disconnect());
    expect(FakeWebSocket.last.closedWith?.code).toBe(1000);
    expect(result.current.state).toBe(WebSocketState.CLOSED);
    advance(10 * 60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);

    // connect() again works, and a disconnect while a retry is pending cancels the retry
    act(() => result.current.connect());
    expect(FakeWebSocket.instances).toHaveLength(2);
    act(() => FakeWebSocket.last.drop());
    expect(result.current.isReconnecting).toBe(true);
    act(() => result.current.disconnect());
    expect(result.current.isReconnecting).toBe(false);
    advance(10 * 60_000);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not reconnect when autoReconnect is off or shouldReconnect refuses", () => {
    renderHook(() => useWebSocket(URL_A, { autoReconnect: false }));
    act(() => FakeWebSocket.last.drop());
    advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);

    FakeWebSocket.reset();
    renderHook(() => useWebSocket(URL_A, { shouldReconnect: (e) => e.code !== 4404 }));
    act(() => FakeWebSocket.last.drop(4404));
    advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("does not connect without a URL or with autoConnect off", () => {
    const { result } = renderHook(() => useWebSocket(null));
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(result.current.state).toBe(WebSocketState.CLOSED);
    const manual = renderHook(() => useWebSocket(URL_A, { autoConnect: false }));
    expect(FakeWebSocket.instances).toHaveLength(0);
    act(() => manual.result.current.connect());
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("sends only while open", () => {
    const { result } = renderHook(() => useWebSocket(URL_A));
    expect(result.current.sendMessage({ type: "ping" })).toBe(false);
    act(() => FakeWebSocket.last.open());
    expect(result.current.sendMessage({ type: "ping" })).toBe(true);
    expect(FakeWebSocket.last.sent).toEqual(['{"type":"ping"}']);
  });

  it("sends heartbeats while open and stops them on close", () => {
    renderHook(() => useWebSocket(URL_A, { heartbeatInterval: 1000, autoReconnect: false }));
    act(() => FakeWebSocket.last.open());
    advance(3000);
    expect(FakeWebSocket.last.sent).toHaveLength(3);
    act(() => FakeWebSocket.last.drop());
    expect(vi.getTimerCount()).toBe(0);
  });

  it("closes the socket and clears every timer on unmount", () => {
    const { unmount } = renderHook(() => useWebSocket(URL_A, { heartbeatInterval: 1000 }));
    const socket = FakeWebSocket.last;
    act(() => socket.open());
    unmount();
    expect(socket.readyState).toBe(FakeWebSocket.CLOSED);
    expect(vi.getTimerCount()).toBe(0);
    advance(10 * 60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("cancels a pending reconnect on unmount", () => {
    const { unmount } = renderHook(() => useWebSocket(URL_A, { random: noJitter }));
    act(() => FakeWebSocket.last.drop());
    expect(vi.getTimerCount()).toBe(1);
    unmount();
    expect(vi.getTimerCount()).toBe(0);
    advance(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("replaces the socket when the URL changes", () => {
    const { rerender } = renderHook(({ url }) => useWebSocket(url), { initialProps: { url: URL_A } });
    const first = FakeWebSocket.last;
    act(() => first.open());
    rerender({ url: "ws://localhost/api/ws/tasks/2" });
    expect(first.readyState).toBe(FakeWebSocket.CLOSED);
    expect(FakeWebSocket.live.map((s) => s.url)).toEqual(["ws://localhost/api/ws/tasks/2"]);
    rerender({ url: null as unknown as string });
    expect(FakeWebSocket.live).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("asks resolveUrl for the URL at every connect", () => {
    let cursor = 0;
    renderHook(() => useWebSocket(URL_A, { random: noJitter, resolveUrl: (u) => `${u}?last_event_id=${cursor}` }));
    expect(FakeWebSocket.last.url).toBe(`${URL_A}?last_event_id=0`);
    cursor = 7;
    act(() => FakeWebSocket.last.drop());
    advance(1000);
    expect(FakeWebSocket.last.url).toBe(`${URL_A}?last_event_id=7`);
  });
});
