import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../../test/fakeWebSocket";
import { makeEvent, makeTask } from "../../test/fixtures";
import { queryKeys } from "../lib/queryKeys";
import type { TaskPublic } from "../lib/types";
import { FEED_READY_TIMEOUT_MS, useTasksFeed } from "./useTasksFeed";

let client: QueryClient;
function wrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

beforeEach(() => {
  vi.useFakeTimers();
  client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.spyOn(console, "log").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
});

afterEach(() => {
  client.clear();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** The feed plus a task list that, like the Tasks page, fetches only once the feed is ready. */
function mountList() {
  let fetches = 0;
  const hook = renderHook(
    () => {
      const feed = useTasksFeed(true, { random: () => 0.5 });
      const list = useQuery({
        queryKey: queryKeys.tasks,
        queryFn: async () => (
          fetches++,
          [makeTask({ id: 2, last_event_id: 0 }), makeTask({ id: 1, last_event_id: 0 })]
        ),
        enabled: feed.ready,
      });
      return { feed, list };
    },
    { wrapper },
  );
  return { hook, fetches: () => fetches };
}

async function flush() {
  await act(async () => {
    await vi.runOnlyPendingTimersAsync();
  });
}

describe("useTasksFeed", () => {
  it("keeps every running task live, fetching the list once, after subscribing", async () => {
    const { hook, fetches } = mountList();
    expect(FakeWebSocket.last.url).toBe(`ws://${window.location.host}/api/ws/tasks`);
    expect(hook.result.current.feed.ready).toBe(false);
    act(() => FakeWebSocket.last.open());
    act(() =>
      FakeWebSocket.last.receive({ type: "connection_established", task_id: null, last_event_id: null, replayed: 0 }),
    );
    await flush();
    expect(hook.result.current.feed.ready).toBe(true);
    expect(fetches()).toBe(1);
    act(() =>
      FakeWebSocket.last.receive(
        makeEvent(3, "task_progress", { task: makeTask({ id: 1, last_event_id: 3, successful_experiments: 1 }) }, 1),
      ),
    );
    act(() =>
      FakeWebSocket.last.receive(
        makeEvent(7, "task_completed", { task: makeTask({ id: 2, status: "completed", last_event_id: 7 }) }, 2),
      ),
    );
    const list = client.getQueryData<TaskPublic[]>(queryKeys.tasks)!;
    expect(list.map((t) => [t.id, t.status, t.successful_experiments])).toEqual([
      [2, "completed", 0],
      [1, "running", 1],
    ]);
    await flush();
    expect(fetches()).toBe(1);
  });

  it("refetches the list once after a reconnect (the feed cannot resume)", async () => {
    const { fetches } = mountList();
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.receive({ type: "connection_established" }));
    await flush();
    expect(fetches()).toBe(1);
    act(() => FakeWebSocket.last.drop());
    act(() => {
      vi.advanceTimersByTime(1000);
    });
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.receive({ type: "connection_established" }));
    await flush();
    expect(fetches()).toBe(2);
  });

  it("lets lists fetch anyway when the feed cannot connect", async () => {
    const { hook, fetches } = mountList();
    act(() => FakeWebSocket.last.drop());
    await flush();
    expect(hook.result.current.feed.ready).toBe(true);
    expect(fetches()).toBe(1);
  });

  it("lets lists fetch anyway when the feed takes too long", async () => {
    const { hook } = mountList();
    act(() => {
      vi.advanceTimersByTime(FEED_READY_TIMEOUT_MS);
    });
    expect(hook.result.current.feed.ready).toBe(true);
  });
});
