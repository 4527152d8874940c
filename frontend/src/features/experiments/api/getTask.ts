import { queryOptions, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { fallbackPollInterval } from "../../../lib/polling";
import { queryKeys } from "../../../lib/queryKeys";
import { isTaskActive, type TaskPublic } from "../../../lib/types";

export const getTask = (id: number, signal?: AbortSignal) => api.get<TaskPublic>(`/api/tasks/${id}`, signal);

export const taskQueryOptions = (id: number) =>
  queryOptions({ queryKey: queryKeys.task(id), queryFn: ({ signal }) => getTask(id, signal) });

/** One task; polls only while its live stream is down (30 s running, 5 min otherwise). */
export function useTask(id: number, { live }: { live: boolean }) {
  const queryClient = useQueryClient();
  return useQuery({
    ...taskQueryOptions(id),
    // The live task list already holds this task: start from its row, no request.
    initialData: () => queryClient.getQueryData<TaskPublic[]>(queryKeys.tasks)?.find((t) => t.id === id),
    initialDataUpdatedAt: () => queryClient.getQueryState(queryKeys.tasks)?.dataUpdatedAt,
    staleTime: live ? Infinity : 10_000,
    refetchInterval: (query) => fallbackPollInterval(live, !!query.state.data && isTaskActive(query.state.data.status)),
  });
}
