import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTask } from "../../../../test/fixtures";
import { queryKeys } from "../../../lib/queryKeys";
import type { Example } from "../../../lib/types";
import { NewTaskPage } from "./NewTaskPage";

const example: Example = {
  name: "sim-quick",
  filename: "sim-quick.yaml",
  description: "A quick simulated task",
  spec: {
    task_name: "sim-quick",
    deployment_mode: "sim",
    model: { id_or_path: "sim-llama" },
    parameters: { tp: [1, 2] },
  },
};

let client: QueryClient;

beforeEach(() => {
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => new Response(JSON.stringify([example]))),
  );
});

afterEach(() => {
  client.clear();
  vi.unstubAllGlobals();
});

function renderPage() {
  render(
    <QueryClientProvider client={client}>
      <NewTaskPage />
    </QueryClientProvider>,
  );
  return screen.getByTestId<HTMLTextAreaElement>("spec-editor");
}

describe("NewTaskPage", () => {
  it("loads an example into the editor and the form, under a name no task has", async () => {
    client.setQueryData(queryKeys.tasks, [makeTask({ task_name: "sim-quick" })]);
    const editor = renderPage();
    fireEvent.click(await screen.findByTestId("example"));
    expect(editor.value).toContain("task_name: sim-quick-2");
    expect(screen.getByLabelText<HTMLInputElement>("Task name").value).toBe("sim-quick-2");
    expect(screen.getByLabelText<HTMLInputElement>("Model").value).toBe("sim-llama");
  });

  it("writes what the form edits into the spec text, in either format", async () => {
    const editor = renderPage();
    await waitFor(() => expect(screen.getByTestId("example")).toBeTruthy());
    fireEvent.change(screen.getByLabelText("Task name"), { target: { value: "renamed" } });
    expect(editor.value).toContain("task_name: renamed");
    fireEvent.click(screen.getByRole("button", { name: "JSON" }));
    expect(JSON.parse(editor.value)).toMatchObject({ task_name: "renamed" });
  });

  it("disables the form while the spec text does not parse", async () => {
    const editor = renderPage();
    await screen.findByTestId("example");
    fireEvent.change(editor, { target: { value: "task_name: [unclosed" } });
    expect(screen.getByRole("status").textContent).not.toBe("");
    expect(screen.getByLabelText<HTMLInputElement>("Task name").closest("fieldset")?.disabled).toBe(true);
    expect(screen.getByTestId<HTMLButtonElement>("create-and-start").disabled).toBe(true);
  });

  it("names the benchmark limits per load level and writes request rates and warm-up into the spec", async () => {
    const editor = renderPage();
    await screen.findByTestId("example");
    expect(screen.getByLabelText("Max time per load level (s)")).toBeTruthy();
    expect(screen.getByLabelText("Max requests per load level")).toBeTruthy();
    expect(screen.queryByText(/per experiment/i, { selector: "label" })?.textContent).toBe(
      "Timeout per experiment (s)",
    );
    fireEvent.change(screen.getByLabelText("Request rates (req/s)"), { target: { value: "2, 8, inf" } });
    fireEvent.change(screen.getByLabelText("Warm-up requests per load level"), { target: { value: "5" } });
    expect(editor.value).toContain("request_rate: [ 2, 8, inf ]");
    expect(editor.value).toContain("warmup_requests: 5");
    fireEvent.change(screen.getByLabelText("Request rates (req/s)"), { target: { value: "" } });
    expect(editor.value).not.toContain("request_rate");
  });

  it("shows the warnings of a created task instead of leaving the page", async () => {
    const posted: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (path: string, init?: RequestInit) => {
        if (path === "/api/tasks" && init?.method === "POST") {
          posted.push(JSON.parse(init.body as string));
          const warnings = [{ field: "benchmark.burstiness", message: "burstiness has no effect here" }];
          return new Response(JSON.stringify({ ...makeTask({ id: 7, status: "pending" }), warnings }), {
            status: 201,
          });
        }
        return new Response(JSON.stringify([example]));
      }),
    );
    renderPage();
    await screen.findByTestId("example");
    fireEvent.click(screen.getByRole("button", { name: "Create task" }));
    const shown = await screen.findByTestId("spec-warnings");
    expect(shown.textContent).toContain("benchmark.burstiness");
    expect(shown.textContent).toContain("burstiness has no effect here");
    expect(posted).toHaveLength(1);
    expect(screen.getByRole("button", { name: "Open the task" })).toBeTruthy();
  });
});
