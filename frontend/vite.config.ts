/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import type { ClientRequest, IncomingMessage } from "node:http";

// The API server (autotuner serve) serves dist/ at "/" and the API under "/api".
// In development, point AUTOTUNER_API at a running server to proxy to it.
const api = process.env.AUTOTUNER_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/api": {
        target: api,
        ws: true,
        changeOrigin: true,
        // The API refuses writes and sockets from other origins (AUTOTUNER_ALLOWED_ORIGINS):
        // requests from this dev server's own page are presented as the API's own origin.
        // Any other page's Origin passes unchanged, and is refused.
        configure(proxy) {
          const asApi = (proxyReq: ClientRequest, req: IncomingMessage) => {
            const origin = req.headers.origin;
            if (origin && req.headers.host && new URL(origin).host === req.headers.host) {
              proxyReq.setHeader("origin", new URL(api).origin);
            }
          };
          proxy.on("proxyReq", asApi);
          proxy.on("proxyReqWs", asApi);
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}", "test/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    setupFiles: ["test/setup.ts"],
  },
});
