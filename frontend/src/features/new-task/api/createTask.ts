import { mutationOptions, useMutation } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { liveCacheFor } from "../../../lib/liveCache";
import type { TaskCreated, TaskPublic, TaskSpec } from "../../../lib/types";

/** `POST /api/tasks`; the answer is the new task's snapshot and its spec's warnings. */
export const createTask = (spec: TaskSpec) => api.post<TaskCreated>("/api/tasks", spec);
/** `POST /api/tasks/{id}/start`, the second step of "Create and start". */
export const startTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/start`);

/**
 * Create a task (and optionally start it); the answers go straight into the cache.
 * Resolves to the task with the warnings of its creation.
 */
export const createTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "create"],
    mutationFn: async ({ spec, start }: { spec: TaskSpec; start: boolean }, { client }) => {
      const live = liveCacheFor(client);
      const { warnings = [], ...created } = await createTask(spec);
      live.writeTask(created);
      if (!start) return { ...created, warnings };
      const started = await startTask(created.id);
      live.writeTask(started);
      return { ...started, warnings };
    },
  });

export const useCreateTask = () => useMutation(createTaskMutationOptions());
