import { mutationOptions, useMutation } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { liveCacheFor } from "../../../lib/liveCache";
import type { TaskPublic } from "../../../lib/types";

/** `POST /api/tasks/{id}/start`; the answer is the task's snapshot. */
export const startTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/start`);

/** Start (or resume) a task; the snapshot answered goes into the cache like a live event, so no refetch follows. */
export const startTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "start"],
    mutationFn: startTask,
    onSuccess: (task, _id, _result, { client }) => liveCacheFor(client).writeTask(task),
  });

export const useStartTask = () => useMutation(startTaskMutationOptions());
