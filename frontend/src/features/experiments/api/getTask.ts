import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { fallbackPollInterval } from "../../../lib/polling";
import { queryKeys } from "../../../lib/queryKeys";
import { isTaskActive, type TaskPublic } from "../../../lib/types";

export const getTask = (id: number, signal?: AbortSignal) => api.get<TaskPublic>(`/api/tasks/${id}`, signal);

export const taskQueryOptions = (id: number) =>
  queryOptions({ queryKey: queryKeys.task(id), queryFn: ({ signal }) => getTask(id, signal) });

/** One task; polls only while its live stream is down (30 s running, 5 min otherwise). */
export function useTask(id: number, { live }: { live: boolean }) {
  return useQuery({
    ...taskQueryOptions(id),
    staleTime: live ? Infinity : 10_000,
    refetchInterval: (query) => fallbackPollInterval(live, !!query.state.data && isTaskActive(query.state.data.status)),
  });
}
