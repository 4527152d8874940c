/** A source of numbers in [0, 1), like Math.random; injectable so tests are exact. */
export type RandomSource = () => number;

/**
 * The reconnection delay (docs/websocket.md, "Clients"): exponential backoff with ±25 % jitter.
 *
 *   delay  = min(baseDelay · 2^attempt, maxDelay)
 *   jitter = delay · 0.25 · random(-1, 1)
 *   final  = delay + jitter
 *
 * `attempt` counts from 0 for the first retry. The result is rounded to whole ms.
 */
export function reconnectDelay(
  attempt: number,
  baseDelay: number,
  maxDelay: number,
  random: RandomSource = Math.random,
): number {
  const delay = Math.min(baseDelay * 2 ** attempt, maxDelay);
  const jitter = delay * 0.25 * (random() * 2 - 1);
  return Math.max(0, Math.round(delay + jitter));
}
