import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { navigate } from "../../../app/router";
import { ApiError } from "../../../lib/api";
import { queryKeys } from "../../../lib/queryKeys";
import type { Example, SpecWarning, TaskPublic } from "../../../lib/types";
import { useCreateTask } from "../api/createTask";
import { ExamplePicker } from "./ExamplePicker";
import { SpecEditor } from "./SpecEditor";
import {
  formatSpec,
  groupFieldErrors,
  parseSpec,
  setInText,
  STARTER_SPEC,
  type SpecFormat,
  type SpecPath,
} from "./specText";
import { FORM_FIELDS, TaskForm } from "./TaskForm";

/** A name no task has yet: "sim-quick", then "sim-quick-2", … */
function freeName(name: string, tasks: TaskPublic[] | undefined): string {
  const taken = new Set((tasks ?? []).map((t) => t.task_name));
  if (!taken.has(name)) return name;
  for (let i = 2; ; i++) if (!taken.has(`${name}-${i}`)) return `${name}-${i}`;
}

/**
 * The new-task page: an example picker, the form and the spec editor. The
 * editor's text is the one state; the form reads the parsed spec and writes its
 * changes back into the text, so both always show the same task.
 */
export function NewTaskPage() {
  const queryClient = useQueryClient();
  const create = useCreateTask();
  const [format, setFormat] = useState<SpecFormat>("yaml");
  const [text, setText] = useState(() => formatSpec(STARTER_SPEC, "yaml"));
  const [serverErrors, setServerErrors] = useState<{ byField: Record<string, string[]>; other: string[] }>({
    byField: {},
    other: [],
  });
  const [loadedExample, setLoadedExample] = useState<string | null>(null);
  // A task created with warnings: shown here (with a link) instead of leaving the page.
  const [created, setCreated] = useState<{ id: number; name: string; warnings: SpecWarning[] } | null>(null);

  const parsed = useMemo(() => parseSpec(text, format), [text, format]);
  const spec = parsed.ok ? parsed.spec : null;

  const set = (path: SpecPath, value: unknown) => setText((current) => setInText(current, format, path, value));

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
    setCreated(null);
    try {
      const task = await create.mutateAsync({ spec, start });
      if (task.warnings.length) {
        setCreated({ id: task.id, name: task.task_name, warnings: task.warnings });
        return;
      }
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

      <ExamplePicker loaded={loadedExample} onLoad={loadExample} />

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

      {created ? (
        <div className="alert alert-warn" role="status" data-testid="spec-warnings">
          Task <strong>{created.name}</strong> was created, but some fields will have no effect as written:
          <ul>
            {created.warnings.map((w) => (
              <li key={`${w.field}: ${w.message}`}>
                <code>{w.field}</code>: {w.message}
              </li>
            ))}
          </ul>
          <button
            type="button"
            className="button"
            onClick={() => navigate({ name: "experiments", taskId: created.id })}
          >
            Open the task
          </button>
        </div>
      ) : null}

      <div className="new-task-grid">
        <TaskForm
          spec={spec}
          set={set}
          errorsFor={errorsFor}
          pending={create.isPending}
          onSubmit={(start) => void submit(start)}
        />
        <SpecEditor text={text} format={format} parsed={parsed} onChange={setText} onFormat={switchFormat} />
      </div>
    </div>
  );
}
