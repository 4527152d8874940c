import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { liveCacheFor } from "../../../lib/liveCache";
import type { TaskPublic, TaskSpec } from "../../../lib/types";

export const createTask = (spec: TaskSpec) => api.post<TaskPublic>("/api/tasks", spec);
export const startTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/start`);

/** Create a task (and optionally start it); the answers go straight into the cache. */
export function useCreateTask() {
  const queryClient = useQueryClient();
  const live = liveCacheFor(queryClient);
  return useMutation({
    mutationFn: async ({ spec, start }: { spec: TaskSpec; start: boolean }) => {
      const created = await createTask(spec);
      live.writeTask(created);
      if (!start) return created;
      const started = await startTask(created.id);
      live.writeTask(started);
      return started;
    },
  });
}
