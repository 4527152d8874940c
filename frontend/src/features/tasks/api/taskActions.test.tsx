import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeExperiment, makeTask } from "../../../../test/fixtures";
import { queryKeys } from "../../../lib/queryKeys";
import type { TaskPublic } from "../../../lib/types";
import { useCancelTask, useStartTask } from "../../../lib/taskActions";
import { useDeleteTask } from "./deleteTask";

let client: QueryClient;
let requests: string[];
let answer: unknown;

function wrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  requests = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      requests.push(`${init?.method ?? "GET"} ${typeof input === "string" ? input : "?"}`);
      return answer === undefined ? new Response(null, { status: 204 }) : new Response(JSON.stringify(answer));
    }),
  );
});

afterEach(() => {
  client.clear();
  vi.unstubAllGlobals();
});

describe("task actions", () => {
  it("start writes the answered snapshot into the task and the list, with no refetch", async () => {
    client.setQueryData<TaskPublic[]>(queryKeys.tasks, [makeTask({ status: "pending", last_event_id: 0 })]);
    answer = makeTask({ status: "queued", last_event_id: 1 });
    const { result } = renderHook(() => useStartTask(), { wrapper });
    await act(() => result.current.mutateAsync(1));
    expect(requests).toEqual(["POST /api/tasks/1/start"]);
    expect(client.getQueryData<TaskPublic>(queryKeys.task(1))?.status).toBe("queued");
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)?.map((t) => t.status)).toEqual(["queued"]);
  });

  it("cancel writes the answered snapshot", async () => {
    answer = makeTask({ status: "cancelled", last_event_id: 5 });
    const { result } = renderHook(() => useCancelTask(), { wrapper });
    await act(() => result.current.mutateAsync(1));
    expect(requests).toEqual(["POST /api/tasks/1/cancel"]);
    expect(client.getQueryData<TaskPublic>(queryKeys.task(1))?.status).toBe("cancelled");
  });

  it("delete drops the task, its row and its experiments from the cache", async () => {
    client.setQueryData<TaskPublic[]>(queryKeys.tasks, [makeTask({ id: 2 }), makeTask({ id: 1 })]);
    client.setQueryData(queryKeys.task(1), makeTask({ id: 1 }));
    client.setQueryData(queryKeys.experiments(1), [makeExperiment()]);
    answer = undefined;
    const { result } = renderHook(() => useDeleteTask(), { wrapper });
    await act(() => result.current.mutateAsync(1));
    expect(requests).toEqual(["DELETE /api/tasks/1"]);
    expect(client.getQueryData<TaskPublic[]>(queryKeys.tasks)?.map((t) => t.id)).toEqual([2]);
    expect(client.getQueryData(queryKeys.task(1))).toBeUndefined();
    expect(client.getQueryData(queryKeys.experiments(1))).toBeUndefined();
  });
});
