import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { navigate } from "../../../app/router";
import { ApiError } from "../../../lib/api";
import { DEPLOYMENT_LABELS, OBJECTIVE_LABELS, STRATEGY_LABELS, toText } from "../../../lib/format";
import { queryKeys } from "../../../lib/queryKeys";
import type { Example, TaskPublic, TaskSpec } from "../../../lib/types";
import { useCreateTask } from "../api/createTask";
import { useExamples } from "../api/getExamples";
import {
  fieldKey,
  formatSpec,
  formatValueList,
  groupFieldErrors,
  parseSpec,
  parseValueList,
  setInText,
  STARTER_SPEC,
  type SpecFormat,
} from "./specText";

/** Fields the form edits; a server error on any other path is listed with the editor. */
const FORM_FIELDS = [
  "task_name",
  "description",
  "deployment_mode",
  "base_runtime",
  "model.id_or_path",
  "model",
  "parameters",
  "optimization.strategy",
  "optimization.objective",
  "optimization.max_iterations",
  "optimization.timeout_per_iteration",
  "benchmark.traffic_scenarios",
  "benchmark.num_concurrency",
  "benchmark.max_time_per_iteration",
  "benchmark.max_requests_per_iteration",
] as const;

type Path = (string | number)[];

function getIn(spec: TaskSpec | null, path: Path): unknown {
  let node: unknown = spec;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key as string];
  }
  return node;
}

/** A name no task has yet: "sim-quick", then "sim-quick-2", … */
function freeName(name: string, tasks: TaskPublic[] | undefined): string {
  const taken = new Set((tasks ?? []).map((t) => t.task_name));
  if (!taken.has(name)) return name;
  for (let i = 2; ; i++) if (!taken.has(`${name}-${i}`)) return `${name}-${i}`;
}

export function NewTaskPage() {
  const queryClient = useQueryClient();
  const examples = useExamples();
  const create = useCreateTask();
  const [format, setFormat] = useState<SpecFormat>("yaml");
  const [text, setText] = useState(() => formatSpec(STARTER_SPEC, "yaml"));
  const [serverErrors, setServerErrors] = useState<{ byField: Record<string, string[]>; other: string[] }>({
    byField: {},
    other: [],
  });
  const [loadedExample, setLoadedExample] = useState<string | null>(null);

  const parsed = useMemo(() => parseSpec(text, format), [text, format]);
  const spec = parsed.ok ? parsed.spec : null;

  const set = (path: Path, value: unknown) => setText((current) => setInText(current, format, path, value));

  const switchFormat = (next: SpecFormat) => {
    if (next === format) return;
    if (spec) setText(formatSpec(spec, next));
    setFormat(next);
  };

  const loadExample = (example: Example) => {
    const tasks = queryClient.getQueryData<TaskPublic[]>(queryKeys.tasks);
    const named = { ...example.spec, task_name: freeName(example.spec.task_name, tasks) };
    setText(formatSpec(named, format));
    setLoadedExample(example.name);
    setServerErrors({ byField: {}, other: [] });
  };

  const submit = async (start: boolean) => {
    if (!spec) return;
    setServerErrors({ byField: {}, other: [] });
    try {
      const task = await create.mutateAsync({ spec, start });
      navigate({ name: "experiments", taskId: task.id });
    } catch (error) {
      if (error instanceof ApiError && error.fieldErrors.length) {
        setServerErrors(groupFieldErrors(error.fieldErrors, FORM_FIELDS));
      } else if (error instanceof ApiError && error.status === 409 && /task_name/.test(error.message)) {
        setServerErrors({ byField: { task_name: [error.message] }, other: [] });
      } else {
        setServerErrors({ byField: {}, other: [error instanceof Error ? error.message : String(error)] });
      }
    }
  };

  const errorsFor = (path: string) => serverErrors.byField[path] ?? [];
  const disabled = !spec;
  const hasServerErrors = Object.keys(serverErrors.byField).length > 0 || serverErrors.other.length > 0;

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>New task</h1>
          <p className="subtitle">
            Describe the engine, the search space and the benchmark; the form and the spec editor stay in sync.
          </p>
        </div>
      </header>

      <section className="card examples" aria-label="Examples">
        <div className="card-title">Start from an example</div>
        {examples.isPending ? <div className="muted">Loading examples…</div> : null}
        {examples.isError ? <div className="muted">No examples available ({examples.error.message}).</div> : null}
        <div className="example-list">
          {(examples.data ?? []).map((example) => (
            <button
              key={example.name}
              type="button"
              className={`example${loadedExample === example.name ? " example-loaded" : ""}`}
              onClick={() => loadExample(example)}
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

      {hasServerErrors ? (
        <div className="alert alert-error" role="alert" data-testid="server-errors">
          The server refused this task. {serverErrors.other.length ? "" : "See the fields marked below."}
          {serverErrors.other.length ? (
            <ul>
              {serverErrors.other.map((message) => (
                <li key={message}>{message}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}

      <div className="new-task-grid">
        <form
          className="card form"
          onSubmit={(e) => {
            e.preventDefault();
            void submit(true);
          }}
        >
          <fieldset disabled={disabled}>
            {!spec ? <div className="alert alert-warn">Fix the spec in the editor to use the form.</div> : null}
            <div className="form-section">Task</div>
            <Field label="Task name" name="task_name" errors={errorsFor("task_name")}>
              <input
                id="task_name"
                value={toText(getIn(spec, ["task_name"]) ?? "")}
                onChange={(e) => set(["task_name"], e.target.value)}
                required
              />
            </Field>
            <Field label="Description" name="description" errors={errorsFor("description")}>
              <input
                id="description"
                value={toText(getIn(spec, ["description"]) ?? "")}
                onChange={(e) => set(["description"], e.target.value || undefined)}
              />
            </Field>

            <div className="form-section">Engine</div>
            <div className="form-row">
              <Field label="Deployment" name="deployment_mode" errors={errorsFor("deployment_mode")}>
                <select
                  id="deployment_mode"
                  value={toText(getIn(spec, ["deployment_mode"]) ?? "docker")}
                  onChange={(e) => set(["deployment_mode"], e.target.value)}
                >
                  {Object.entries(DEPLOYMENT_LABELS).map(([value, label]) => (
                    <option key={value} value={value}>
                      {value === "sim" ? "Simulator (sim) — no real model" : `${label} (${value})`}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Runtime" name="base_runtime" errors={errorsFor("base_runtime")}>
                <input
                  id="base_runtime"
                  list="runtimes"
                  value={toText(getIn(spec, ["base_runtime"]) ?? "")}
                  onChange={(e) => set(["base_runtime"], e.target.value)}
                />
                <datalist id="runtimes">
                  <option value="vllm" />
                  <option value="sglang" />
                  <option value="llama.cpp" />
                </datalist>
              </Field>
            </div>
            <Field
              label="Model"
              name="model.id_or_path"
              errors={[...errorsFor("model.id_or_path"), ...errorsFor("model")]}
              hint="Hugging Face id, local path, or any name for the simulator"
            >
              <input
                id="model.id_or_path"
                value={toText(getIn(spec, ["model", "id_or_path"]) ?? "")}
                onChange={(e) => set(["model", "id_or_path"], e.target.value)}
                required
              />
            </Field>

            <div className="form-section">Search space</div>
            <Field
              label="Parameters"
              name="parameters"
              errors={errorsFor("parameters")}
              hint="One engine flag per row, candidate values separated by commas"
            >
              <ParametersEditor value={getIn(spec, ["parameters"])} onChange={(value) => set(["parameters"], value)} />
            </Field>
            <div className="form-row">
              <Field label="Strategy" name="optimization.strategy" errors={errorsFor("optimization.strategy")}>
                <select
                  id="optimization.strategy"
                  value={toText(getIn(spec, ["optimization", "strategy"]) ?? "grid_search")}
                  onChange={(e) => set(["optimization", "strategy"], e.target.value)}
                >
                  {Object.entries(STRATEGY_LABELS).map(([value, label]) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Objective" name="optimization.objective" errors={errorsFor("optimization.objective")}>
                <select
                  id="optimization.objective"
                  value={toText(getIn(spec, ["optimization", "objective"]) ?? "minimize_latency")}
                  onChange={(e) => set(["optimization", "objective"], e.target.value)}
                >
                  {Object.entries(OBJECTIVE_LABELS).map(([value, label]) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            <div className="form-row">
              <NumberField
                label="Max experiments"
                path={["optimization", "max_iterations"]}
                spec={spec}
                set={set}
                errors={errorsFor("optimization.max_iterations")}
              />
              <NumberField
                label="Timeout per experiment (s)"
                path={["optimization", "timeout_per_iteration"]}
                spec={spec}
                set={set}
                errors={errorsFor("optimization.timeout_per_iteration")}
              />
            </div>

            <div className="form-section">Benchmark</div>
            <div className="form-row">
              <Field
                label="Traffic scenarios"
                name="benchmark.traffic_scenarios"
                errors={errorsFor("benchmark.traffic_scenarios")}
                hint="e.g. D(100,100), N(480,240)/(300,150)"
              >
                <ListInput
                  id="benchmark.traffic_scenarios"
                  value={getIn(spec, ["benchmark", "traffic_scenarios"])}
                  split={(t) =>
                    t
                      .split(/,(?![^(]*\))/)
                      .map((s) => s.trim())
                      .filter(Boolean)
                  }
                  onChange={(v) => set(["benchmark", "traffic_scenarios"], v)}
                />
              </Field>
              <Field
                label="Concurrency levels"
                name="benchmark.num_concurrency"
                errors={errorsFor("benchmark.num_concurrency")}
                hint="e.g. 1, 8, 32"
              >
                <ListInput
                  id="benchmark.num_concurrency"
                  value={getIn(spec, ["benchmark", "num_concurrency"])}
                  split={parseValueList}
                  onChange={(v) => set(["benchmark", "num_concurrency"], v)}
                />
              </Field>
            </div>
            <div className="form-row">
              <NumberField
                label="Max time per experiment (s)"
                path={["benchmark", "max_time_per_iteration"]}
                spec={spec}
                set={set}
                errors={errorsFor("benchmark.max_time_per_iteration")}
              />
              <NumberField
                label="Max requests per experiment"
                path={["benchmark", "max_requests_per_iteration"]}
                spec={spec}
                set={set}
                errors={errorsFor("benchmark.max_requests_per_iteration")}
              />
            </div>
          </fieldset>
          <div className="form-actions">
            <button
              type="button"
              className="button"
              disabled={disabled || create.isPending}
              onClick={() => void submit(false)}
            >
              Create task
            </button>
            <button
              type="submit"
              className="button primary"
              disabled={disabled || create.isPending}
              data-testid="create-and-start"
            >
              {create.isPending ? "Creating…" : "Create and start"}
            </button>
          </div>
        </form>

        <section className="card editor-card" aria-label="Task spec editor">
          <div className="editor-head">
            <div className="card-title">Task spec</div>
            <div className="segmented" role="group" aria-label="Format">
              <button
                type="button"
                className={format === "yaml" ? "active" : ""}
                onClick={() => switchFormat("yaml")}
                disabled={!spec && format !== "yaml"}
              >
                YAML
              </button>
              <button
                type="button"
                className={format === "json" ? "active" : ""}
                onClick={() => switchFormat("json")}
                disabled={!spec && format !== "json"}
              >
                JSON
              </button>
            </div>
          </div>
          <textarea
            className="editor mono"
            value={text}
            onChange={(e) => setText(e.target.value)}
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
      </div>
    </div>
  );
}

function Field({
  label,
  name,
  errors,
  hint,
  children,
}: {
  label: string;
  name: string;
  errors: string[];
  hint?: string;
  children: ReactNode;
}) {
  return (
    <div className={`field${errors.length ? " field-invalid" : ""}`} data-field={name}>
      <label htmlFor={name}>{label}</label>
      {children}
      {hint && !errors.length ? <div className="hint">{hint}</div> : null}
      {errors.map((message) => (
        <div className="field-error" key={message} data-testid="field-error">
          {message}
        </div>
      ))}
    </div>
  );
}

function NumberField({
  label,
  path,
  spec,
  set,
  errors,
}: {
  label: string;
  path: Path;
  spec: TaskSpec | null;
  set: (p: Path, v: unknown) => void;
  errors: string[];
}) {
  const name = fieldKey(path);
  const value = getIn(spec, path);
  return (
    <Field label={label} name={name} errors={errors}>
      <input
        id={name}
        type="number"
        step="any"
        value={typeof value === "number" || typeof value === "string" ? value : ""}
        onChange={(e) => set(path, e.target.value === "" ? undefined : Number(e.target.value))}
      />
    </Field>
  );
}

/** A comma-separated list that keeps what the user is typing until it parses to something new. */
function ListInput({
  id,
  value,
  split,
  onChange,
}: {
  id: string;
  value: unknown;
  split: (text: string) => unknown[];
  onChange: (v: unknown[]) => void;
}) {
  const [draft, setDraft] = useState(() => formatValueList(value));
  const external = JSON.stringify(value ?? []);
  const lastSent = useRef(external);
  useEffect(() => {
    if (external !== lastSent.current) {
      lastSent.current = external;
      setDraft(formatValueList(value));
    }
  }, [external, value]);
  return (
    <input
      id={id}
      value={draft}
      onChange={(e) => {
        setDraft(e.target.value);
        const next = split(e.target.value);
        lastSent.current = JSON.stringify(next);
        onChange(next);
      }}
    />
  );
}

interface ParamRow {
  key: number;
  name: string;
  values: string;
}

function rowsFrom(value: unknown): ParamRow[] {
  const entries = typeof value === "object" && value !== null ? Object.entries(value as Record<string, unknown>) : [];
  return entries.map(([name, values], i) => ({ key: i, name, values: formatValueList(values) }));
}

function rowsToObject(rows: ParamRow[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const row of rows) if (row.name.trim()) out[row.name.trim()] = parseValueList(row.values);
  return out;
}

function ParametersEditor({ value, onChange }: { value: unknown; onChange: (v: Record<string, unknown[]>) => void }) {
  const [rows, setRows] = useState<ParamRow[]>(() => rowsFrom(value));
  const external = JSON.stringify(value ?? {});
  const lastSent = useRef(external);
  const nextKey = useRef(1000);
  useEffect(() => {
    if (external !== lastSent.current) {
      lastSent.current = external;
      setRows(rowsFrom(value));
    }
  }, [external, value]);

  const update = (next: ParamRow[]) => {
    setRows(next);
    const object = rowsToObject(next);
    lastSent.current = JSON.stringify(object);
    onChange(object);
  };

  return (
    <div className="params" id="parameters">
      {rows.map((row, index) => (
        <div className="param-row" key={row.key}>
          <input
            aria-label="Parameter name"
            className="mono"
            placeholder="max-num-seqs"
            value={row.name}
            onChange={(e) => update(rows.map((r, i) => (i === index ? { ...r, name: e.target.value } : r)))}
          />
          <input
            aria-label={`Values of ${row.name || "parameter"}`}
            className="mono"
            placeholder="8, 32, 64"
            value={row.values}
            onChange={(e) => update(rows.map((r, i) => (i === index ? { ...r, values: e.target.value } : r)))}
          />
          <button
            type="button"
            className="button small ghost"
            aria-label={`Remove ${row.name}`}
            onClick={() => update(rows.filter((_, i) => i !== index))}
          >
            ×
          </button>
        </div>
      ))}
      <button
        type="button"
        className="button small"
        onClick={() => update([...rows, { key: nextKey.current++, name: "", values: "" }])}
      >
        Add parameter
      </button>
    </div>
  );
}
