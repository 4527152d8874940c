/**
 * The fallback polling strategy. While the live connection is open, lists do not
 * poll at all (events keep them current). While it is down they poll every 30 s
 * if a task is running and every 5 min when idle.
 */
export const POLL_RUNNING_MS = 30_000;
export const POLL_IDLE_MS = 300_000;
/** The dashboard polls on purpose: worker and GPU figures have no event stream. */
export const DASHBOARD_POLL_MS = 5_000;

export function fallbackPollInterval(liveConnected: boolean, taskRunning: boolean): number | false {
  if (liveConnected) return false;
  return taskRunning ? POLL_RUNNING_MS : POLL_IDLE_MS;
}
