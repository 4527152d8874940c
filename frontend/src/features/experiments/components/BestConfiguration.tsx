import { useState } from "react";
import { METRIC_COLUMNS, metricValue } from "../../../lib/experiments";
import { formatNumber, formatValue } from "../../../lib/format";
import type { ExperimentPublic } from "../../../lib/types";

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API unavailable (plain http, old browser): select-and-copy instead.
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** The best experiment's parameters and the exact command that reproduces it. */
export function BestConfiguration({ best, isSimulator }: { best: ExperimentPublic | undefined; isSimulator: boolean }) {
  const [copied, setCopied] = useState<"idle" | "copied" | "failed">("idle");
  if (!best) {
    return (
      <div className="empty small">
        No successful experiment yet: the best configuration appears here as soon as one succeeds.
      </div>
    );
  }
  const copy = async () => {
    if (!best.engine_command) return;
    setCopied((await copyText(best.engine_command)) ? "copied" : "failed");
    setTimeout(() => setCopied("idle"), 2000);
  };
  return (
    <div className="best" data-testid="best-configuration">
      <div className="best-summary">
        <div>
          <div className="stat-label">Experiment</div>
          <div className="stat-value">#{best.experiment_id}</div>
        </div>
        <div>
          <div className="stat-label">Score</div>
          <div className="stat-value mono">{formatNumber(best.objective_score, 4)}</div>
        </div>
        {METRIC_COLUMNS.slice(0, 4).map((m) => (
          <div key={m.key}>
            <div className="stat-label">{m.label}</div>
            <div className="stat-value mono">{formatNumber(metricValue(best, m.key), m.digits)}</div>
          </div>
        ))}
      </div>
      <div className="param-chips">
        {Object.entries(best.parameters).map(([k, v]) => (
          <span className="chip" key={k}>
            <span className="chip-key">{k}</span>
            <span className="chip-value">{formatValue(v)}</span>
          </span>
        ))}
      </div>
      <div className="command">
        <div className="command-head">
          <span className="stat-label">Engine command{isSimulator ? " (simulated engine)" : ""}</span>
          <button
            type="button"
            className="button small"
            onClick={() => void copy()}
            disabled={!best.engine_command}
            data-testid="copy-command"
          >
            {copied === "copied" ? "Copied" : copied === "failed" ? "Copy failed" : "Copy"}
          </button>
        </div>
        <pre className="mono" data-testid="engine-command">
          {best.engine_command ?? "The server did not record the command for this experiment."}
        </pre>
      </div>
    </div>
  );
}
