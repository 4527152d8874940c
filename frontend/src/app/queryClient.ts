import { QueryClient } from "@tanstack/react-query";

/**
 * Freshness comes from the live event stream, not from refetching: no refetch on
 * window focus, and lists poll only through their own fallback intervals.
 */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 30_000,
        refetchOnWindowFocus: false,
        retry: 1,
      },
      mutations: { retry: false },
    },
  });
}
