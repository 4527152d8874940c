import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTask } from "../../../../test/fixtures";
import { POLL_IDLE_MS, POLL_RUNNING_MS } from "../../../lib/polling";
import type { TaskPublic } from "../../../lib/types";
import { useTasks } from "./getTasks";

let client: QueryClient;
let tasks: TaskPublic[];
let fetches: number;

function wrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

beforeEach(() => {
  vi.useFakeTimers();
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  fetches = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => {
      fetches++;
      return new Response(JSON.stringify(tasks), { status: 200, headers: { "content-type": "application/json" } });
    }),
  );
});

afterEach(() => {
  client.clear();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

async function elapse(ms: number) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

describe("task list polling", () => {
  it("does not poll at all while the live feed is connected", async () => {
    tasks = [makeTask({ status: "running" })];
    renderHook(() => useTasks({ live: true, ready: true }), { wrapper });
    await elapse(100);
    expect(fetches).toBe(1);
    await elapse(10 * 60_000);
    expect(fetches).toBe(1);
  });

  it("waits for the feed before its first fetch", async () => {
    tasks = [];
    const { rerender } = renderHook(({ ready }) => useTasks({ live: false, ready }), {
      wrapper,
      initialProps: { ready: false },
    });
    await elapse(1000);
    expect(fetches).toBe(0);
    rerender({ ready: true });
    await elapse(100);
    expect(fetches).toBe(1);
  });

  it("polls every 30 s while the feed is down and a task runs", async () => {
    tasks = [makeTask({ status: "running" })];
    renderHook(() => useTasks({ live: false, ready: true }), { wrapper });
    await elapse(100);
    expect(fetches).toBe(1);
    await elapse(POLL_RUNNING_MS - 200);
    expect(fetches).toBe(1);
    await elapse(200);
    expect(fetches).toBe(2);
    await elapse(POLL_RUNNING_MS);
    expect(fetches).toBe(3);
  });

  it("polls every 5 min while the feed is down and nothing runs", async () => {
    tasks = [makeTask({ status: "completed" })];
    renderHook(() => useTasks({ live: false, ready: true }), { wrapper });
    await elapse(100);
    await elapse(POLL_IDLE_MS - 200);
    expect(fetches).toBe(1);
    await elapse(200);
    expect(fetches).toBe(2);
  });

  it("stops polling when the feed comes back", async () => {
    tasks = [makeTask({ status: "running" })];
    const { rerender } = renderHook(({ live }) => useTasks({ live, ready: true }), {
      wrapper,
      initialProps: { live: false },
    });
    await elapse(POLL_RUNNING_MS + 100);
    expect(fetches).toBe(2);
    rerender({ live: true });
    await elapse(10 * POLL_RUNNING_MS);
    expect(fetches).toBe(2);
  });
});
