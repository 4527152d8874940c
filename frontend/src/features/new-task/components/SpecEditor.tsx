import type { ParseResult, SpecFormat } from "./specText";

interface SpecEditorProps {
  text: string;
  format: SpecFormat;
  parsed: ParseResult;
  onChange: (text: string) => void;
  onFormat: (format: SpecFormat) => void;
}

/** The spec as YAML or JSON text: the source of truth the form edits too. */
export function SpecEditor({ text, format, parsed, onChange, onFormat }: SpecEditorProps) {
  const spec = parsed.ok ? parsed.spec : null;
  return (
    <section className="card editor-card" aria-label="Task spec editor">
      <div className="editor-head">
        <div className="card-title">Task spec</div>
        <div className="segmented" role="group" aria-label="Format">
          <button
            type="button"
            className={format === "yaml" ? "active" : ""}
            onClick={() => onFormat("yaml")}
            disabled={!spec && format !== "yaml"}
          >
            YAML
          </button>
          <button
            type="button"
            className={format === "json" ? "active" : ""}
            onClick={() => onFormat("json")}
            disabled={!spec && format !== "json"}
          >
            JSON
          </button>
        </div>
      </div>
      <textarea
        className="editor mono"
        value={text}
        onChange={(e) => onChange(e.target.value)}
        spellCheck={false}
        aria-label="Task spec"
        data-testid="spec-editor"
      />
      {parsed.ok ? (
        <div className="editor-status ok">
          Valid {format.toUpperCase()}; the server checks the fields when you create the task.
        </div>
      ) : (
        <div className="editor-status error" role="status">
          {parsed.error}
        </div>
      )}
    </section>
  );
}
