import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { setToken, useAuth } from "../lib/auth";

/** Asks for an API token when the server refuses us (AUTOTUNER_AUTH_SECRET is set). */
export function TokenBanner() {
  const { problem, token } = useAuth();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState("");
  if (!problem) return null;
  const save = () => {
    setToken(draft);
    setDraft("");
    void queryClient.invalidateQueries();
  };
  return (
    <form
      className="alert alert-warn token-banner"
      role="alert"
      data-testid="token-banner"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div>
        <strong>This server needs an API token.</strong> {problem}
        <div className="muted small">
          Make one on the server with <code>autotuner token</code> and paste it here; it is kept in this browser.
        </div>
      </div>
      <div className="token-row">
        <input
          aria-label="API token"
          type="password"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          placeholder="eyJhbGciOi…"
        />
        <button type="submit" className="button primary" disabled={!draft.trim()}>
          Use token
        </button>
        {token ? (
          <button type="button" className="button" onClick={() => setToken(null)}>
            Forget saved token
          </button>
        ) : null}
      </div>
    </form>
  );
}
