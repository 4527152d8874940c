import { useSyncExternalStore } from "react";

/** The app's routes, kept in the URL hash so `autotuner serve` needs no fallback route. */
export type Route =
  | { name: "tasks" }
  | { name: "new-task" }
  | { name: "experiments"; taskId: number }
  | { name: "dashboard" }
  | { name: "not-found"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "") || "/tasks";
  if (path === "/" || path === "/tasks") return { name: "tasks" };
  if (path === "/tasks/new") return { name: "new-task" };
  if (path === "/dashboard") return { name: "dashboard" };
  const match = /^\/tasks\/(\d+)(?:\/experiments)?$/.exec(path);
  if (match) return { name: "experiments", taskId: Number(match[1]) };
  return { name: "not-found", path };
}

export function href(route: Route): string {
  switch (route.name) {
    case "tasks":
      return "#/tasks";
    case "new-task":
      return "#/tasks/new";
    case "experiments":
      return `#/tasks/${route.taskId}`;
    case "dashboard":
      return "#/dashboard";
    case "not-found":
      return `#${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parseRoute(hash);
}
