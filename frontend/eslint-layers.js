/**
 * The frontend's dependency direction as a lint rule (`layers/direction`):
 *
 *   app ──> features/<feature> ──> components ──> hooks ──> lib
 *
 * - a feature never imports another feature (what two features share lives in
 *   components/, hooks/ or lib/); of app/ it may use only the router;
 * - components/ (shared UI) use hooks/ and lib/; hooks/ use lib/; lib/ (the REST
 *   and WebSocket clients, the cache, the wire types) knows nothing above it.
 *
 * Relative imports are resolved against the importing file, so the rule sees
 * where an import lands, however many `../` it takes. Tests may reach across
 * layers (an integration test mounts a hook with lib's fakes), but not across
 * features.
 */
import path from "node:path";

const SRC = path.join(import.meta.dirname, "src");

/** What each layer of src/ may import from src/ (besides itself). */
const ALLOWED = {
  app: ["app", "features", "components", "hooks", "lib"],
  features: ["components", "hooks", "lib"],
  components: ["components", "hooks", "lib"],
  hooks: ["hooks", "lib"],
  lib: ["lib"],
};

/** Files of app/ a feature may import: the hash router (links and navigation). */
const APP_FOR_FEATURES = new Set(["app/router"]);

/** { layer: "features", feature: "tasks", module: "features/tasks/api/getTasks" } for src/features/tasks/api/getTasks.ts. */
function locate(file) {
  const relative = path.relative(SRC, file).split(path.sep).join("/");
  if (relative.startsWith("..")) return null;
  const [layer, ...rest] = relative.replace(/\.(tsx?|jsx?)$/, "").split("/");
  if (rest.length === 0) return { layer: "root", feature: null, module: relative };
  const feature = layer === "features" ? rest[0] : null;
  return { layer, feature, module: `${layer}/${rest.join("/")}` };
}

function allowed(layer) {
  const layers = ALLOWED[layer].join(", ");
  return layer === "features" ? `${layers} and ${[...APP_FOR_FEATURES].join(", ")}` : layers;
}

function isTest(file) {
  return /\.test\.tsx?$/.test(file);
}

const direction = {
  meta: {
    type: "problem",
    docs: { description: "imports follow the frontend's layers; features never import each other" },
    schema: [],
  },
  create(context) {
    const from = locate(context.filename);
    if (!from) return {};
    const test = isTest(context.filename);
    const check = (node) => {
      const source = node.source?.value;
      if (typeof source !== "string" || !source.startsWith(".")) return;
      const to = locate(path.resolve(path.dirname(context.filename), source));
      if (!to || to.layer === "root") return;
      if (from.feature !== null && to.feature !== null && from.feature !== to.feature) {
        context.report({
          node: node.source,
          message: `features/${from.feature} imports features/${to.feature}: features never import each other; move what both need to components/, hooks/ or lib/`,
        });
        return;
      }
      if (test || !(from.layer in ALLOWED) || to.layer === from.layer) return;
      if (from.layer === "features" && APP_FOR_FEATURES.has(to.module)) return;
      if (!ALLOWED[from.layer].includes(to.layer)) {
        context.report({
          node: node.source,
          message: `${from.layer}/ may not import ${to.layer}/ (${to.module}): ${from.layer}/ uses only ${allowed(from.layer)}`,
        });
      }
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default { rules: { direction } };
