import { useEffect, useRef, useState } from "react";
import { formatValueList, parseValueList } from "./specText";

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

/** The search space: one row per engine flag, its candidate values separated by commas. */
export function ParametersEditor({
  value,
  onChange,
}: {
  value: unknown;
  onChange: (v: Record<string, unknown[]>) => void;
}) {
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
