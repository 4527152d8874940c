import { describe, expect, it } from "vitest";
import { makeExperiment } from "../../test/fixtures";
import { TWO_LEVELS } from "../../test/levels";
import { levelsOf, loadText, scoringOf, toViolation, violationFigures, violationText } from "./levels";

/** The two items of a list of two (fails the test otherwise). */
function two<T>(items: T[]): [T, T] {
  const [a, b] = items;
  if (items.length !== 2 || a === undefined || b === undefined)
    throw new Error(`expected 2 items, got ${items.length}`);
  return [a, b];
}

describe("levels", () => {
  it("reads each stored level with its verdict and figures", () => {
    const [low, high] = two(levelsOf(makeExperiment({ metrics: TWO_LEVELS })));
    expect(low.label).toBe("D(32,32) @ c=1");
    expect(low.usedForScore && low.compliant).toBe(true);
    expect(low.figures.p90_ttft_ms).toBe(11.5);
    expect(low.figures.mean_tpot_ms).toBeNull();
    expect(high.requestRate).toBe(Infinity);
    expect(high.untrusted && high.untrustedReasons[0] === "client CPU 97 %").toBe(true);
    expect(high.violations.map((v) => [v.slo, v.level, v.hard])).toEqual([
      ["latency.p90", "D(32,32) @ inf req/s", true],
      ["max_error_rate", "D(32,32) @ inf req/s", true],
    ]);
    expect(levelsOf(makeExperiment({ metrics: { output_throughput: 1 } }))).toEqual([]);
    expect(levelsOf(makeExperiment({ metrics: null }))).toEqual([]);
  });

  it("reads how the score was reached", () => {
    const scoring = scoringOf(makeExperiment({ metrics: TWO_LEVELS }));
    expect(scoring?.objective).toBe("maximize_goodput");
    expect(scoring?.levelsExcluded[0]?.reason).toBe("violates latency.p90, max_error_rate");
    expect(scoringOf(makeExperiment({ metrics: {} }))).toBeNull();
  });

  it("names the load of closed- and open-loop levels", () => {
    expect(loadText({ concurrency: 8, requestRate: null })).toBe("c=8");
    expect(loadText({ concurrency: null, requestRate: 4 })).toBe("4 req/s");
    expect(loadText({ concurrency: 16, requestRate: Infinity })).toBe("inf req/s (c≤16)");
  });

  it("shows a violation's threshold, actual value and margin in its unit", () => {
    const [latency, errors] = two(two(levelsOf(makeExperiment({ metrics: TWO_LEVELS })))[1].violations);
    expect(violationFigures(latency)).toEqual({ threshold: "1 s", actual: "2.886 s", margin: "+1.886 s (+189 %)" });
    expect(violationFigures(errors)).toEqual({ threshold: "5 %", actual: "6.3 %", margin: "+1.3 %" });
    expect(violationText(latency)).toBe(
      "D(32,32) @ inf req/s: latency.p90 2.886 s > 1 s (+189 %) — hard: level excluded",
    );
    expect(violationText(errors)).toBe("D(32,32) @ inf req/s: max_error_rate 6.3 % > 5 % — hard: level excluded");
  });

  it("reads violations stored before levels existed", () => {
    const old = toViolation({ slo: "ttft", threshold: 1, actual: 2, excess_ratio: 1, hard_fail: true });
    expect(old.hard && old.marginRatio === 1 && old.unit === "s" && old.level === null).toBe(true);
    expect(violationText(old)).toBe("ttft 2 s > 1 s (+100 %) — hard limit, experiment failed");
    const soft = toViolation({ slo: "tpot.p99", level: "x", threshold: 1, actual: 1.5, hard: false, penalty: 2.5 });
    expect(violationText(soft)).toBe("x: tpot.p99 1.5 s > 1 s — score penalty ×2.5");
  });
});
