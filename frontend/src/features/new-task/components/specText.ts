import { Document, isMap, isScalar, parseDocument, visit } from "yaml";
import type { FieldError } from "../../../lib/api";
import type { Scalar, TaskSpec } from "../../../lib/types";

export type SpecFormat = "yaml" | "json";

export type ParseResult = { ok: true; spec: TaskSpec } | { ok: false; error: string };

/** Parse the editor's text as YAML or JSON (JSON is YAML, but its errors read better as JSON). */
export function parseSpec(text: string, format: SpecFormat): ParseResult {
  try {
    let value: unknown;
    if (format === "json") {
      value = JSON.parse(text);
    } else {
      const doc = parseDocument(text, { prettyErrors: true });
      if (doc.errors.length) return { ok: false, error: doc.errors[0]!.message };
      value = doc.toJS();
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return { ok: false, error: "the task spec must be a mapping of fields (task_name, model, parameters, …)" };
    }
    return { ok: true, spec: value as TaskSpec };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** JSON with 2-space indent, or YAML with short lists of values on one line (as task files write them). */
export function formatSpec(spec: unknown, format: SpecFormat): string {
  if (format === "json") return JSON.stringify(spec, null, 2) + "\n";
  const doc = new Document(spec);
  visit(doc, {
    Seq(_key, node) {
      if (node.items.every((item) => isScalar(item))) node.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0 });
}

/**
 * Set one field in the editor's text. YAML edits go through the yaml Document
 * API so the user's comments and layout survive form edits; `undefined` removes.
 */
export function setInText(text: string, format: SpecFormat, path: (string | number)[], value: unknown): string {
  if (format === "json") {
    const parsed = parseSpec(text, "json");
    if (!parsed.ok) return text;
    const next = structuredClone(parsed.spec) as Record<string, unknown>;
    let node: Record<string, unknown> = next;
    for (const key of path.slice(0, -1)) {
      const child = node[key as string];
      if (typeof child !== "object" || child === null) node[key as string] = {};
      node = node[key as string] as Record<string, unknown>;
    }
    const last = path[path.length - 1] as string;
    if (value === undefined) delete node[last];
    else node[last] = value;
    return formatSpec(next, "json");
  }
  const doc = parseDocument(text);
  if (doc.errors.length) return text;
  if (!isMap(doc.contents)) {
    // Empty (or non-mapping) text: start a new mapping holding just this field.
    const nested = path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
    return value === undefined ? text : formatSpec(nested, "yaml");
  }
  if (value === undefined) doc.deleteIn(path);
  else doc.setIn(path, doc.createNode(value, { flow: Array.isArray(value) }));
  return doc.toString({ lineWidth: 0 });
}

/** "8, 32, 64" → [8, 32, 64]; numbers and booleans keep their type, the rest stay strings. */
export function parseValueList(text: string): Scalar[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      if (part === "true") return true;
      if (part === "false") return false;
      const n = Number(part);
      return part !== "" && Number.isFinite(n) && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(part) ? n : part;
    });
}

export function formatValueList(values: unknown): string {
  return Array.isArray(values) ? values.map((v) => String(v)).join(", ") : "";
}

export const fieldKey = (path: (string | number)[]) => path.join(".");

/**
 * Group server field errors by the form field they belong to. An error on
 * `parameters.max-num-seqs.0` belongs to the parameters field; anything the form
 * has no field for is listed with the editor.
 */
export function groupFieldErrors(
  errors: FieldError[],
  formFields: readonly string[],
): {
  byField: Record<string, string[]>;
  other: string[];
} {
  const byField: Record<string, string[]> = {};
  const other: string[] = [];
  for (const error of errors) {
    const key = fieldKey(error.path);
    const field = [...formFields].sort((a, b) => b.length - a.length).find((f) => key === f || key.startsWith(`${f}.`));
    if (field) (byField[field] ??= []).push(error.message);
    else other.push(key ? `${key}: ${error.message}` : error.message);
  }
  return { byField, other };
}

export const STARTER_SPEC: TaskSpec = {
  task_name: "sim-throughput",
  description: "Tune the simulated vLLM engine for throughput",
  deployment_mode: "sim",
  base_runtime: "vllm",
  model: { id_or_path: "sim-llama" },
  parameters: { "max-num-seqs": [8, 32, 64], "gpu-memory-utilization": [0.9] },
  optimization: {
    strategy: "grid_search",
    objective: "maximize_throughput",
    max_iterations: 3,
    timeout_per_iteration: 60,
  },
  benchmark: {
    traffic_scenarios: ["D(64,64)"],
    num_concurrency: [8],
    max_time_per_iteration: 5,
    max_requests_per_iteration: 30,
  },
};

/** A path into a spec, e.g. ["optimization", "max_iterations"]. */
export type SpecPath = (string | number)[];

/** The value at `path` in `spec` (undefined where the path leads nowhere). */
export function getIn(spec: TaskSpec | null, path: SpecPath): unknown {
  let node: unknown = spec;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<string, unknown>)[key as string];
  }
  return node;
}
