import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { liveCacheFor } from "../lib/liveCache";
import { queryKeys } from "../lib/queryKeys";
import type { TaskPublic } from "../lib/types";

export const startTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/start`);
export const cancelTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/cancel`);
export const deleteTask = (id: number) => api.delete<void>(`/api/tasks/${id}`);

/**
 * Start, cancel and delete. The answer is itself a task snapshot, written into
 * the cache like a live event: no refetch follows a click.
 */
export function useTaskActions() {
  const queryClient = useQueryClient();
  const live = liveCacheFor(queryClient);
  const start = useMutation({ mutationFn: startTask, onSuccess: (task) => live.writeTask(task) });
  const cancel = useMutation({ mutationFn: cancelTask, onSuccess: (task) => live.writeTask(task) });
  const remove = useMutation({
    mutationFn: deleteTask,
    onSuccess: (_void, id) => {
      queryClient.setQueryData<TaskPublic[]>(queryKeys.tasks, (list) => list?.filter((t) => t.id !== id));
      queryClient.removeQueries({ queryKey: queryKeys.task(id), exact: true });
      queryClient.removeQueries({ queryKey: queryKeys.experiments(id), exact: true });
    },
  });
  return { start, cancel, remove };
}
