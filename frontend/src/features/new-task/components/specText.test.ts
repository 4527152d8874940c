import { describe, expect, it } from "vitest";
import { formatSpec, groupFieldErrors, parseSpec, parseValueList, setInText } from "./specText";

describe("spec text", () => {
  it("round-trips YAML and JSON", () => {
    const spec = { task_name: "t", model: { id_or_path: "m" }, parameters: { "max-num-seqs": [8, 32] } };
    for (const format of ["yaml", "json"] as const) {
      const parsed = parseSpec(formatSpec(spec, format), format);
      expect(parsed).toEqual({ ok: true, spec });
    }
    expect(formatSpec(spec, "yaml")).toContain("max-num-seqs: [ 8, 32 ]");
  });

  it("reports a syntax error instead of throwing", () => {
    expect(parseSpec("task_name: [", "yaml").ok).toBe(false);
    expect(parseSpec("{", "json").ok).toBe(false);
    expect(parseSpec("- a\n- b", "yaml")).toMatchObject({ ok: false });
  });

  it("keeps YAML comments when the form sets a field", () => {
    const text = "# my task\ntask_name: a # the name\noptimization:\n  max_iterations: 3\n";
    const next = setInText(text, "yaml", ["optimization", "max_iterations"], 9);
    expect(next).toContain("# my task");
    expect(next).toContain("# the name");
    expect(parseSpec(next, "yaml")).toMatchObject({ ok: true, spec: { optimization: { max_iterations: 9 } } });
    const removed = setInText(next, "yaml", ["optimization", "max_iterations"], undefined);
    expect(parseSpec(removed, "yaml")).toMatchObject({ ok: true, spec: { optimization: {} } });
  });

  it("sets nested fields in JSON, creating parents", () => {
    const next = setInText('{"task_name": "a"}', "json", ["benchmark", "num_concurrency"], [1, 8]);
    expect(JSON.parse(next)).toEqual({ task_name: "a", benchmark: { num_concurrency: [1, 8] } });
  });

  it("parses value lists with their types", () => {
    expect(parseValueList("8, 32 ,0.9, true, fp8, ")).toEqual([8, 32, 0.9, true, "fp8"]);
  });

  it("puts each server error next to the field its loc names", () => {
    const fields = ["task_name", "parameters", "optimization.max_iterations", "benchmark.traffic_scenarios"];
    const grouped = groupFieldErrors(
      [
        { path: ["optimization", "max_iterations"], message: "Input should be greater than or equal to 1" },
        { path: ["parameters", "max-num-seqs"], message: "needs at least one value" },
        { path: ["benchmark", "traffic_scenarios", 0], message: "not a scenario" },
        { path: ["slo", "ttft", "threshold"], message: "must be > 0" },
      ],
      fields,
    );
    expect(grouped.byField).toEqual({
      "optimization.max_iterations": ["Input should be greater than or equal to 1"],
      parameters: ["needs at least one value"],
      "benchmark.traffic_scenarios": ["not a scenario"],
    });
    expect(grouped.other).toEqual(["slo.ttft.threshold: must be > 0"]);
  });
});

describe("spec text from scratch", () => {
  it("builds the nested field when the editor is empty", () => {
    expect(parseSpec(setInText("", "yaml", ["model", "id_or_path"], "m"), "yaml")).toEqual({
      ok: true,
      spec: { model: { id_or_path: "m" } },
    });
  });
});
