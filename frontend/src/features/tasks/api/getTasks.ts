import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { fallbackPollInterval } from "../../../lib/polling";
import { queryKeys } from "../../../lib/queryKeys";
import { isTaskActive, type TaskPublic } from "../../../lib/types";

export const getTasks = (signal?: AbortSignal) => api.get<TaskPublic[]>("/api/tasks", signal);

export const tasksQueryOptions = () =>
  queryOptions({ queryKey: queryKeys.tasks, queryFn: ({ signal }) => getTasks(signal) });

/**
 * The task list. It is kept current by the live feed; it polls only while the
 * feed is down (30 s with a task running, 5 min idle), and fetches for the first
 * time only once the feed is subscribed (`ready`), so no event falls in between.
 */
export function useTasks({ live, ready }: { live: boolean; ready: boolean }) {
  return useQuery({
    ...tasksQueryOptions(),
    enabled: ready,
    staleTime: live ? Infinity : 30_000,
    refetchInterval: (query) =>
      fallbackPollInterval(
        live,
        (query.state.data ?? []).some((t) => isTaskActive(t.status)),
      ),
  });
}
