import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "./api";
import { getToken, setToken } from "./auth";
import { taskWsUrl, withLastEventId } from "./wsUrl";

afterEach(() => {
  setToken(null);
  vi.unstubAllGlobals();
});

describe("API token", () => {
  it("is sent as a Bearer header and as ?token= on sockets, and kept across reloads", async () => {
    setToken("abc.def");
    expect(localStorage.getItem("autotuner.token")).toBe("abc.def");
    const fetchSpy = vi.fn(async (_input: RequestInfo | URL, _init?: RequestInit) => new Response("[]", { status: 200 }));
    vi.stubGlobal("fetch", fetchSpy);
    await api.get("/api/tasks");
    const headers = new Headers(fetchSpy.mock.calls[0]![1]!.headers);
    expect(headers.get("Authorization")).toBe("Bearer abc.def");
    const url = taskWsUrl(1, { protocol: "https:", host: "h" }, getToken());
    expect(withLastEventId(url, 7)).toBe("wss://h/api/ws/tasks/1?token=abc.def&last_event_id=7");
  });

  it("is not sent when there is none", () => {
    expect(taskWsUrl(1, { protocol: "http:", host: "h" }, getToken())).toBe("ws://h/api/ws/tasks/1");
  });
});
