import { mutationOptions, useMutation } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { liveCacheFor } from "../../../lib/liveCache";
import type { TaskPublic } from "../../../lib/types";

/** `POST /api/tasks/{id}/cancel`; the answer is the task's snapshot. */
export const cancelTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/cancel`);

/** Cancel a task; the snapshot answered goes into the cache like a live event, so no refetch follows. */
export const cancelTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "cancel"],
    mutationFn: cancelTask,
    onSuccess: (task, _id, _result, { client }) => liveCacheFor(client).writeTask(task),
  });

export const useCancelTask = () => useMutation(cancelTaskMutationOptions());
