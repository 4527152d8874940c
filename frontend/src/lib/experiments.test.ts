import { describe, expect, it } from "vitest";
import { makeExperiment, makeTask } from "../../test/fixtures";
import { bestSoFarSeries, experimentsToCsv, higherIsBetter, plannedExperiments, sloViolationText } from "./experiments";

const exp = (n: number, score: number | null, status: "success" | "failed" = "success") =>
  makeExperiment({ id: 10 + n, experiment_id: n, status, objective_score: score });

describe("experiment helpers", () => {
  it("computes the best-so-far line in the objective's direction, skipping failures", () => {
    const list = [exp(1, 5), exp(2, null, "failed"), exp(3, 3), exp(4, 9)];
    expect(bestSoFarSeries(list, true).map((p) => p.bestSoFar)).toEqual([5, 5, 5, 9]);
    expect(bestSoFarSeries(list, false).map((p) => p.bestSoFar)).toEqual([5, 5, 3, 3]);
  });

  it("learns the direction from the task's best experiment, else from the objective", () => {
    const list = [exp(1, 5), exp(2, 3)];
    expect(higherIsBetter(makeTask({ best_experiment_id: 12 }), list)).toBe(false);
    expect(higherIsBetter(makeTask({ best_experiment_id: 11 }), list)).toBe(true);
    const latency = makeTask();
    latency.spec = { ...latency.spec, optimization: { objective: "minimize_latency" } };
    expect(higherIsBetter(latency, [exp(1, 5)])).toBe(false);
  });

  it("plans a grid task by its grid size, capped by max_iterations", () => {
    expect(plannedExperiments(makeTask())).toBe(3);
    expect(plannedExperiments(makeTask(), 7)).toBe(7);
  });

  it("exports one CSV row per experiment with parameters, metrics and the engine command", () => {
    const e = makeExperiment({
      status: "success",
      objective_score: 1.5,
      metrics: { output_throughput: 100, runs: [{}] },
      engine_command: 'sim --name "a,b"',
    });
    const [header, row] = experimentsToCsv([e]).trim().split("\r\n");
    expect(header).toBe(
      "experiment_id,status,param:max-num-seqs,objective_score,output_throughput,slo_violations,error_message,elapsed_time,engine_command",
    );
    expect(row).toBe('1,success,8,1.5,100,,,,"sim --name ""a,b"""');
  });

  it("describes an SLO violation from the server's fields", () => {
    expect(
      sloViolationText({
        slo: "ttft",
        metric: "mean_ttft_ms",
        threshold: 1,
        actual: 1.25,
        excess_ratio: 0.25,
        hard_fail: false,
        penalty: 2.5,
      }),
    ).toBe("ttft 1.25 s > 1 s (+25 %) — score penalty ×2.5");
    expect(sloViolationText({ slo: "latency.p99", threshold: 2, actual: 4, excess_ratio: 1, hard_fail: true })).toBe(
      "latency.p99 4 s > 2 s (+100 %) — hard limit, experiment failed",
    );
  });
});
