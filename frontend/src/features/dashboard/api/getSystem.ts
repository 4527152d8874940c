import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import { DASHBOARD_POLL_MS } from "../../../lib/polling";
import type { GpusResponse, Health, SystemStats, WorkersResponse } from "../../../lib/types";

/**
 * The dashboard's figures have no event stream: it polls them on purpose,
 * every 5 s (10 s for GPUs and health; docs/websocket.md, "Clients"). Polling stops
 * when the page is left (no observer) or hidden (TanStack Query's default).
 */
export const getWorkers = (signal?: AbortSignal) => api.get<WorkersResponse>("/api/system/workers", signal);
export const getGpus = (signal?: AbortSignal) => api.get<GpusResponse>("/api/system/gpus", signal);
export const getStats = (signal?: AbortSignal) => api.get<SystemStats>("/api/system/stats", signal);
export const getHealth = (signal?: AbortSignal) => api.get<Health>("/api/health", signal);

export const workersQueryOptions = () =>
  queryOptions({
    queryKey: ["system", "workers"],
    queryFn: ({ signal }) => getWorkers(signal),
    refetchInterval: DASHBOARD_POLL_MS,
  });
export const gpusQueryOptions = () =>
  queryOptions({
    queryKey: ["system", "gpus"],
    queryFn: ({ signal }) => getGpus(signal),
    refetchInterval: 2 * DASHBOARD_POLL_MS,
  });
export const statsQueryOptions = () =>
  queryOptions({
    queryKey: ["system", "stats"],
    queryFn: ({ signal }) => getStats(signal),
    refetchInterval: DASHBOARD_POLL_MS,
  });
export const healthQueryOptions = () =>
  queryOptions({
    queryKey: ["system", "health"],
    queryFn: ({ signal }) => getHealth(signal),
    refetchInterval: 2 * DASHBOARD_POLL_MS,
    retry: false,
  });

export const useWorkers = () => useQuery({ ...workersQueryOptions(), staleTime: 0 });
export const useGpus = () => useQuery({ ...gpusQueryOptions(), staleTime: 0 });
export const useStats = () => useQuery({ ...statsQueryOptions(), staleTime: 0 });
export const useHealth = () => useQuery({ ...healthQueryOptions(), staleTime: 0 });
