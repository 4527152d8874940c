import { mutationOptions, useMutation } from "@tanstack/react-query";
import { api } from "./api";
import { liveCacheFor } from "./liveCache";
import type { TaskPublic } from "./types";

/*
 * Start and cancel, the two task operations more than one feature offers (the
 * task list and a task's experiments page). Features never import each other,
 * so what both use lives here, once; operations of one feature stay in its api/.
 * Each answer is the task's snapshot, written into the cache like a live event,
 * so no refetch follows.
 */

/** `POST /api/tasks/{id}/start`. */
export const startTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/start`);

/** Start (or resume) a task. */
export const startTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "start"],
    mutationFn: startTask,
    onSuccess: (task, _id, _result, { client }) => liveCacheFor(client).writeTask(task),
  });

export const useStartTask = () => useMutation(startTaskMutationOptions());

/** `POST /api/tasks/{id}/cancel`. */
export const cancelTask = (id: number) => api.post<TaskPublic>(`/api/tasks/${id}/cancel`);

/** Cancel a task. */
export const cancelTaskMutationOptions = () =>
  mutationOptions({
    mutationKey: ["task", "cancel"],
    mutationFn: cancelTask,
    onSuccess: (task, _id, _result, { client }) => liveCacheFor(client).writeTask(task),
  });

export const useCancelTask = () => useMutation(cancelTaskMutationOptions());
