import { getToken, reportAuthProblem } from "./auth";
import { toText } from "./format";

/** The REST client: JSON over fetch, errors carrying FastAPI's `detail`. */

export interface FieldError {
  /** The field path without the leading "body", e.g. ["optimization", "max_iterations"]. */
  path: (string | number)[];
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** FastAPI 422 items as field errors; empty when the detail is a plain string. */
  get fieldErrors(): FieldError[] {
    if (!Array.isArray(this.detail)) return [];
    return this.detail.flatMap((item: unknown) => {
      if (typeof item !== "object" || item === null) return [];
      const { loc, msg } = item as { loc?: unknown; msg?: unknown };
      const path = Array.isArray(loc) ? (loc as (string | number)[]) : [];
      return [{ path: path[0] === "body" ? path.slice(1) : path, message: toText(msg ?? "invalid") }];
    });
  }
}

function describe(status: number, detail: unknown, fallback: string): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) =>
        [Array.isArray(d?.loc) ? d.loc.filter((p) => p !== "body").join(".") : "", d?.msg].filter(Boolean).join(": "),
      )
      .join("; ");
  }
  return `${status} ${fallback}`;
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  headers.set("Accept", "application/json");
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    const detail = typeof body === "object" && body !== null && "detail" in body ? body.detail : body;
    if (response.status === 401) reportAuthProblem(typeof detail === "string" ? detail : "authentication required");
    throw new ApiError(response.status, detail, describe(response.status, detail, response.statusText));
  }
  return body as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>(path, signal ? { signal } : {}),
  post: <T>(path: string, body?: unknown) =>
    request<T>(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) }),
  delete: <T>(path: string) => request<T>(path, { method: "DELETE" }),
};
