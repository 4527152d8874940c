// Unmount every rendered tree after each test: without vitest globals,
// Testing Library cannot register this itself, and a tree left mounted keeps
// React's scheduler running after jsdom is torn down ("window is not defined").
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => {
  cleanup();
});
