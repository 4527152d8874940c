import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { fallbackPollInterval } from "../../../lib/polling";
import { queryKeys } from "../../../lib/queryKeys";
import type { ExperimentPublic } from "../../../lib/types";

export const getExperiments = (taskId: number, signal?: AbortSignal) =>
  api.get<ExperimentPublic[]>(`/api/experiments/task/${taskId}`, signal);

export const experimentsQueryOptions = (taskId: number) =>
  queryOptions({ queryKey: queryKeys.experiments(taskId), queryFn: ({ signal }) => getExperiments(taskId, signal) });

/**
 * A task's experiments, filled in by the task's live stream. They are fetched
 * once when the page opens (the stream then resumes from the task's
 * last_event_id) and poll only while the stream is down.
 */
export function useExperiments(
  taskId: number,
  { live, taskRunning, enabled }: { live: boolean; taskRunning: boolean; enabled: boolean },
) {
  return useQuery({
    ...experimentsQueryOptions(taskId),
    enabled,
    staleTime: live ? Infinity : 10_000,
    refetchOnMount: "always",
    refetchInterval: fallbackPollInterval(live, taskRunning),
  });
}
