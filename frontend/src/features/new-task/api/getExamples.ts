import { queryOptions, useQuery } from "@tanstack/react-query";
import { api } from "../../../lib/api";
import type { Example } from "../../../lib/types";

export const getExamples = (signal?: AbortSignal) => api.get<Example[]>("/api/examples", signal);

export const examplesQueryOptions = () =>
  queryOptions({ queryKey: ["examples"], queryFn: ({ signal }) => getExamples(signal), staleTime: Infinity });

export const useExamples = () => useQuery(examplesQueryOptions());
