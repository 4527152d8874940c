import { useEffect, useRef, useState, type ReactNode } from "react";
import type { TaskSpec } from "../../../lib/types";
import { fieldKey, formatValueList, getIn, type SpecPath } from "./specText";

/** A labelled form control with its hint, or the server's errors for it. */
export function Field({
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

/** A number at `path` in the spec; clearing it removes the key. */
export function NumberField({
  label,
  path,
  spec,
  set,
  errors,
}: {
  label: string;
  path: SpecPath;
  spec: TaskSpec | null;
  set: (p: SpecPath, v: unknown) => void;
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
export function ListInput({
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
