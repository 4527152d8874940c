import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeTask } from "../../test/fixtures";
import { queryKeys } from "../lib/queryKeys";
import { ConnectionIndicator } from "./ConnectionIndicator";
import { ExperimentProgressBar } from "./ExperimentProgressBar";

afterEach(() => vi.unstubAllGlobals());

describe("ConnectionIndicator", () => {
  const base = {
    state: "CLOSED" as const,
    isConnected: false,
    isReconnecting: false,
    reconnectAttempts: 0,
    maxReconnectAttempts: 10,
  };

  it("says live, reconnecting with the attempt, or offline", () => {
    const { rerender } = render(<ConnectionIndicator {...base} state="OPEN" isConnected />);
    expect(screen.getByTestId("connection-indicator").textContent).toBe("Live");
    rerender(<ConnectionIndicator {...base} state="CONNECTING" isReconnecting reconnectAttempts={3} />);
    expect(screen.getByTestId("connection-indicator").textContent).toBe("Reconnecting (attempt 3/10)");
    rerender(<ConnectionIndicator {...base} reconnectAttempts={10} />);
    expect(screen.getByTestId("connection-indicator").getAttribute("data-phase")).toBe("offline");
    rerender(<ConnectionIndicator {...base} onRetry={() => undefined} />);
    expect(screen.getByRole("button", { name: "retry" })).toBeTruthy();
  });
});

describe("ExperimentProgressBar", () => {
  it("shows done out of planned from the task and the live figures, without a request", () => {
    const fetchSpy = vi.fn();
    vi.stubGlobal("fetch", fetchSpy);
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const task = makeTask({ successful_experiments: 1, failed_experiments: 1 });
    const { rerender } = render(
      <QueryClientProvider client={client}>
        <ExperimentProgressBar task={task} />
      </QueryClientProvider>,
    );
    // grid of 3 values, max_iterations 3
    expect(screen.getByTestId("experiment-progress").textContent).toBe("2/3 (1 failed)");
    client.setQueryData(queryKeys.taskProgress(1), {
      progress: 20,
      completed: 2,
      total: 10,
      best_score: null,
      best_experiment_id: null,
    });
    rerender(
      <QueryClientProvider client={client}>
        <ExperimentProgressBar task={task} />
      </QueryClientProvider>,
    );
    expect(screen.getByTestId("experiment-progress").textContent).toBe("2/10 (1 failed)");
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
