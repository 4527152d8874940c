import { mutationOptions, useMutation } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { queryKeys } from "../../../lib/queryKeys";
import type { TaskPublic } from "../../../lib/types";

/** `DELETE /api/tasks/{id}`: the task and its experiments. */
export const deleteTask = (id: number) => api.delete<void>(`/api/tasks/${id}`);

/** Delete a task, then drop it from the cache (no refetch follows). */
export const deleteTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "delete"],
    mutationFn: deleteTask,
    onSuccess: (_void, id, _result, { client }) => {
      client.setQueryData<TaskPublic[]>(queryKeys.tasks, (list) => list?.filter((t) => t.id !== id));
      client.removeQueries({ queryKey: queryKeys.task(id), exact: true });
      client.removeQueries({ queryKey: queryKeys.experiments(id), exact: true });
    },
  });

export const useDeleteTask = () => useMutation(deleteTaskMutationOptions());
