import type { Example } from "../../../lib/types";
import { useExamples } from "../api/getExamples";

/** The server's example tasks; one click loads one into the form and the editor. */
export function ExamplePicker({ loaded, onLoad }: { loaded: string | null; onLoad: (example: Example) => void }) {
  const examples = useExamples();
  return (
    <section className="card examples" aria-label="Examples">
      <div className="card-title">Start from an example</div>
      {examples.isPending ? <div className="muted">Loading examples…</div> : null}
      {examples.isError ? <div className="muted">No examples available ({examples.error.message}).</div> : null}
      <div className="example-list">
        {(examples.data ?? []).map((example) => (
          <button
            key={example.name}
            type="button"
            className={`example${loaded === example.name ? " example-loaded" : ""}`}
            onClick={() => onLoad(example)}
            data-testid="example"
            data-example={example.name}
          >
            <span className="example-name">
              {example.name}
              {example.spec.deployment_mode === "sim" ? <span className="pill pill-sim">Simulator</span> : null}
            </span>
            <span className="example-desc">{example.description || example.filename}</span>
            <span className="example-file mono">{example.filename}</span>
          </button>
        ))}
      </div>
    </section>
  );
}
