import { DEPLOYMENT_LABELS, OBJECTIVE_LABELS, STRATEGY_LABELS, toText } from "../../../lib/format";
import type { TaskSpec } from "../../../lib/types";
import { Field, ListInput, NumberField } from "./fields";
import { ParametersEditor } from "./ParametersEditor";
import { getIn, parseValueList, type SpecPath } from "./specText";

/** Fields the form edits; a server error on any other path is listed with the editor. */
export const FORM_FIELDS = [
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
  "benchmark.request_rate",
  "benchmark.warmup_requests",
  "benchmark.max_time_per_iteration",
  "benchmark.max_requests_per_iteration",
] as const;

interface TaskFormProps {
  /** The parsed spec; null while the editor's text does not parse (the form is disabled). */
  spec: TaskSpec | null;
  /** Write `value` at `path` into the editor's text. */
  set: (path: SpecPath, value: unknown) => void;
  /** The server's errors for a field (a key of FORM_FIELDS). */
  errorsFor: (field: string) => string[];
  pending: boolean;
  onSubmit: (start: boolean) => void;
}

/** The spec's common fields as a form; every change is written into the editor's text. */
export function TaskForm({ spec, set, errorsFor, pending, onSubmit }: TaskFormProps) {
  const disabled = !spec;
  return (
    <form
      className="card form"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(true);
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
            hint="e.g. D(100,100), N(480,240)/(300,150), U(50,150)/(20,80), U(150,80)"
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
            hint="Closed loop: requests in flight, e.g. 1, 8, 32"
          >
            <ListInput
              id="benchmark.num_concurrency"
              value={getIn(spec, ["benchmark", "num_concurrency"])}
              split={parseValueList}
              onChange={(v) => set(["benchmark", "num_concurrency"], v.length ? v : undefined)}
            />
          </Field>
        </div>
        <div className="form-row">
          <Field
            label="Request rates (req/s)"
            name="benchmark.request_rate"
            errors={errorsFor("benchmark.request_rate")}
            hint="Open loop, Poisson arrivals, e.g. 2, 8, inf; empty for none"
          >
            <ListInput
              id="benchmark.request_rate"
              value={getIn(spec, ["benchmark", "request_rate"])}
              split={parseValueList}
              onChange={(v) => set(["benchmark", "request_rate"], v.length ? v : undefined)}
            />
          </Field>
          <NumberField
            label="Warm-up requests per load level"
            path={["benchmark", "warmup_requests"]}
            spec={spec}
            set={set}
            errors={errorsFor("benchmark.warmup_requests")}
          />
        </div>
        <div className="form-row">
          <NumberField
            label="Max time per load level (s)"
            path={["benchmark", "max_time_per_iteration"]}
            spec={spec}
            set={set}
            errors={errorsFor("benchmark.max_time_per_iteration")}
          />
          <NumberField
            label="Max requests per load level"
            path={["benchmark", "max_requests_per_iteration"]}
            spec={spec}
            set={set}
            errors={errorsFor("benchmark.max_requests_per_iteration")}
          />
        </div>
        <div className="hint" data-testid="levels-hint">
          A load level is one traffic scenario at one concurrency or request rate; each experiment runs every level, and
          each level stops at its time or request limit, whichever comes first. Burstiness, sweeps and datasets are set
          in the spec editor.
        </div>
      </fieldset>
      <div className="form-actions">
        <button type="button" className="button" disabled={disabled || pending} onClick={() => onSubmit(false)}>
          Create task
        </button>
        <button type="submit" className="button primary" disabled={disabled || pending} data-testid="create-and-start">
          {pending ? "Creating…" : "Create and start"}
        </button>
      </div>
    </form>
  );
}
