import { describe, expect, it } from "vitest";
import { reconnectDelay } from "./backoff";

describe("reconnectDelay", () => {
  it("doubles from the base delay and stops at the cap when jitter is zero", () => {
    const noJitter = () => 0.5;
    const delays = [0, 1, 2, 3, 4, 5, 6].map((attempt) => reconnectDelay(attempt, 1000, 30000, noJitter));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it("keeps jitter within ±25 % of the capped delay", () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const capped = Math.min(1000 * 2 ** attempt, 10000);
      expect(reconnectDelay(attempt, 1000, 10000, () => 0)).toBe(capped * 0.75);
      expect(reconnectDelay(attempt, 1000, 10000, () => 0.999999)).toBe(Math.round(capped * 1.2499995));
      for (let i = 0; i < 200; i++) {
        const delay = reconnectDelay(attempt, 1000, 10000);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(capped * 0.75));
        expect(delay).toBeLessThanOrEqual(Math.ceil(capped * 1.25));
      }
    }
  });
});
