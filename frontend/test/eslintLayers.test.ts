// @vitest-environment node
import path from "node:path";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import layers from "../eslint-layers.js";

const SRC = path.resolve(import.meta.dirname, "../src");

const eslint = new ESLint({
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ["**/*.{ts,tsx}"],
      languageOptions: { parser: tseslint.parser },
      plugins: { layers },
      rules: { "layers/direction": "error" },
    },
  ],
});

/** The rule's messages for `source` imported from the file at `file` (relative to src/). */
async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from "${source}";\nexport const y = x;\n`, {
    filePath: path.join(SRC, file),
  });
  return (result?.messages ?? []).map((m) => m.message);
}

describe("the layers/direction lint rule", () => {
  it("refuses an import of another feature, however it is spelled", async () => {
    expect(await problems("features/experiments/components/Page.tsx", "../../tasks/api/getTasks")).toEqual([
      expect.stringContaining("features/experiments imports features/tasks"),
    ]);
    expect(await problems("features/tasks/api/x.test.ts", "../../../features/new-task/api/createTask")).toHaveLength(1);
  });

  it("lets a feature use its own modules, shared layers and the router", async () => {
    for (const source of ["../api/getTask", "./Chart", "../../../lib/api", "../../../hooks/useTaskWebSocket"]) {
      expect(await problems("features/experiments/components/Page.tsx", source)).toEqual([]);
    }
    expect(await problems("features/experiments/components/Page.tsx", "../../../components/StatusBadge")).toEqual([]);
    expect(await problems("features/tasks/components/TasksPage.tsx", "../../../app/router")).toEqual([]);
  });

  it("keeps the layers below pages from importing upwards", async () => {
    expect(await problems("features/tasks/components/TasksPage.tsx", "../../../app/App")).toHaveLength(1);
    expect(await problems("lib/liveCache.ts", "../hooks/useTasksFeed")).toEqual([
      expect.stringContaining("lib/ may not import hooks/"),
    ]);
    expect(await problems("hooks/useTasksFeed.ts", "../features/tasks/api/getTasks")).toHaveLength(1);
    expect(await problems("components/StatusBadge.tsx", "../app/router")).toHaveLength(1);
    expect(await problems("app/App.tsx", "../features/tasks/components/TasksPage")).toEqual([]);
  });

  it("lets a test reach across layers (to mount a hook with its fakes)", async () => {
    expect(await problems("lib/auth.test.ts", "../hooks/useTaskWebSocket")).toEqual([]);
  });
});
