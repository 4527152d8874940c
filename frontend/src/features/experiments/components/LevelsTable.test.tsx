import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { makeExperiment } from "../../../../test/fixtures";
import { TWO_LEVELS } from "../../../../test/levels";
import { levelsOf, scoringOf } from "../../../lib/levels";
import { ExperimentsTable } from "./ExperimentsTable";
import { LevelsTable } from "./LevelsTable";

describe("LevelsTable", () => {
  it("shows every level's figures, trust and verdict, and the excluded level's violations", () => {
    const e = makeExperiment({ metrics: TWO_LEVELS });
    render(<LevelsTable levels={levelsOf(e)} scoring={scoringOf(e)} />);
    const rows = screen.getAllByTestId("level-row");
    expect(rows.map((r) => r.getAttribute("data-level"))).toEqual(["D(32,32) @ c=1", "D(32,32) @ inf req/s"]);
    const [low, high] = rows;
    if (!low || !high) throw new Error("expected two level rows");
    expect(low.textContent).toContain("c=1");
    expect(low.textContent).toContain("16 / 0");
    expect(low.textContent).toContain("158.9");
    expect(low.textContent).toContain("scored");
    expect(within(low).queryByTestId("untrusted-badge")).toBeNull();
    expect(high.textContent).toContain("inf req/s (c≤16)");
    expect(high.textContent).toContain("6.3 %");
    expect(high.textContent).toContain("excluded");
    expect(within(high).getByTestId("untrusted-badge").getAttribute("title")).toBe("client CPU 97 %");
    const violations = screen.getByTestId("level-violations");
    const cells = within(violations)
      .getAllByRole("row")
      .slice(1)
      .map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent));
    expect(cells).toEqual([
      ["latency.p90", "p90_e2el_ms", "1 s", "2.886 s", "+1.886 s (+189 %)", "hard"],
      ["max_error_rate", "error_rate", "5 %", "6.3 %", "+1.3 %", "hard"],
    ]);
    expect(screen.getByText(/violates latency.p90, max_error_rate/)).toBeTruthy();
    expect(screen.getByTestId("scoring-note").textContent).toBe("best compliant level: D(32,32) @ c=1");
  });

  it("renders nothing for an experiment stored before levels", () => {
    const { container } = render(<LevelsTable levels={[]} scoring={null} />);
    expect(container.innerHTML).toBe("");
  });
});

describe("ExperimentsTable with levels", () => {
  it("opens an experiment's levels and lists its violations with their level", () => {
    const violations = TWO_LEVELS.levels[1]?.slo_violations ?? [];
    const e = makeExperiment({ metrics: TWO_LEVELS, slo_violations: violations, objective_score: 158.9 });
    render(<ExperimentsTable experiments={[e]} parameters={[]} bestId={e.id} />);
    expect(screen.queryByTestId("levels-table")).toBeNull();
    expect(screen.getByTestId("experiment-untrusted")).toBeTruthy();
    fireEvent.click(screen.getByTestId("experiment-row"));
    expect(screen.getAllByTestId("level-row")).toHaveLength(2);
    const items = [...document.querySelectorAll(".violations li")].map((li) => li.textContent);
    expect(items).toEqual([
      "D(32,32) @ inf req/s: latency.p90 2.886 s > 1 s (+189 %) — hard: level excluded",
      "D(32,32) @ inf req/s: max_error_rate 6.3 % > 5 % — hard: level excluded",
    ]);
  });
});
