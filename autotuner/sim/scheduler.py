"""A continuous-batching scheduler: one asyncio loop ticking once per engine step.

Requests wait in a queue until a running slot (``max_num_seqs``) and enough
KV-cache slots are free; each step then prefills prompts (chunked, or whole
prompts in a prefill-only step) and decodes one token for every running
sequence. Request handlers sleep on an event that the loop sets when their
sequence produced tokens, so the CPU cost is one wake-up per step, not a
coroutine per token.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import deque

from autotuner.sim.model import PerformanceModel, StepCost

logger = logging.getLogger(__name__)


class Sequence:
    """One request inside the engine."""

    __slots__ = (
        "id",
        "prompt_len",
        "max_tokens",
        "prefilled",
        "generated",
        "finished",
        "aborted",
        "event",
        "arrival",
    )

    def __init__(self, seq_id: int, prompt_len: int, max_tokens: int, arrival: float) -> None:
        self.id = seq_id
        self.prompt_len = prompt_len
        self.max_tokens = max_tokens
        self.prefilled = 0
        self.generated = 0
        self.finished = False
        self.aborted = False
        self.event = asyncio.Event()
        self.arrival = arrival

    @property
    def reserved(self) -> int:
        """KV slots held while running: the whole prompt plus every output token."""
        return self.prompt_len + self.max_tokens

    @property
    def prefill_left(self) -> int:
        return self.prompt_len - self.prefilled


class Scheduler:
    """Owns the waiting queue and the running batch; ``run`` is the engine loop."""

    def __init__(self, model: PerformanceModel) -> None:
        cfg = model.config
        self.model = model
        self.max_num_seqs = max(1, cfg.max_num_seqs)
        self.token_budget = max(1, cfg.max_num_batched_tokens)
        self.chunked = cfg.enable_chunked_prefill
        self.policy = cfg.schedule_policy
        self.kv_capacity = model.kv_tokens
        self.kv_used = 0
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.steps = 0
        self.generated_tokens = 0
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._policy_rng = random.Random(cfg.seed + 1)

    def fits(self, prompt_len: int, max_tokens: int) -> bool:
        """Whether one request could ever run (else the server answers 400)."""
        return prompt_len + max_tokens <= self.kv_capacity

    def submit(self, prompt_len: int, max_tokens: int) -> Sequence:
        loop = asyncio.get_running_loop()
        seq = Sequence(next(self._ids), max(1, prompt_len), max(1, max_tokens), loop.time())
        self.waiting.append(seq)
        self._wake.set()
        return seq

    def abort(self, seq: Sequence) -> None:
        """Client went away: free its slot at the next step."""
        if not seq.finished:
            seq.aborted = True
            seq.event.set()
            self._wake.set()

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = loop.time()
        while True:
            self._drop_aborted()
            if not self.waiting and not self.running:
                self._wake.clear()
                await self._wake.wait()
                clock = loop.time()
                continue
            self._admit()
            step, prefills, decodes = self._plan()
            if step is None:
                # Nothing can run (all waiting requests blocked): wait for a change.
                self._wake.clear()
                await self._wake.wait()
                clock = loop.time()
                continue
            # Steps follow each other back to back on the simulated GPU; if this
            # process fell behind (CPU contention), do not try to catch up.
            clock = max(clock, loop.time() - 0.002) + self.model.step_seconds(step)
            delay = clock - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._apply(prefills, decodes)

    def _drop_aborted(self) -> None:
        if any(s.aborted for s in self.waiting):
            self.waiting = deque(s for s in self.waiting if not s.aborted)
        for seq in [s for s in self.running if s.aborted]:
            self._finish(seq)

    def _admit(self) -> None:
        if not self.waiting or len(self.running) >= self.max_num_seqs:
            return
        order = self._policy_order()
        admitted: set[int] = set()
        for seq in order:
            if len(self.running) >= self.max_num_seqs:
                break
            if self.kv_used + seq.reserved > self.kv_capacity:
                if self.policy in {"fcfs", "priority", "dfs-weight"}:
                    break  # head-of-line blocking, as FCFS engines do
                continue
            self.kv_used += seq.reserved
            self.running.append(seq)
            admitted.add(seq.id)
        if admitted:
            self.waiting = deque(s for s in self.waiting if s.id not in admitted)

    def _policy_order(self) -> list[Sequence]:
        seqs = list(self.waiting)
        if self.policy == "random":
            self._policy_rng.shuffle(seqs)
        elif self.policy == "lof":  # longest output first
            seqs.sort(key=lambda s: -s.max_tokens)
        elif self.policy in {"sjf", "spf"}:  # shortest prompt first
            seqs.sort(key=lambda s: s.prompt_len)
        return seqs

    def _plan(self) -> tuple[StepCost | None, list[tuple[Sequence, int]], list[Sequence]]:
        decodes = [s for s in self.running if s.prefill_left == 0]
        pending = [s for s in self.running if s.prefill_left > 0]
        prefills: list[tuple[Sequence, int]] = []
        if self.chunked:
            budget = max(0, self.token_budget - len(decodes))
            for seq in pending:
                if budget <= 0:
                    break
                chunk = min(seq.prefill_left, budget)
                prefills.append((seq, chunk))
                budget -= chunk
        elif pending:
            # Without chunking a step either prefills whole prompts or decodes:
            # new prompts stall every running sequence for one step.
            budget = self.token_budget
            for seq in pending:
                if prefills and seq.prefill_left > budget:
                    break
                prefills.append((seq, seq.prefill_left))
                budget -= seq.prefill_left
            decodes = []
        if not prefills and not decodes:
            return None, prefills, decodes
        context = sum(s.prompt_len + s.generated for s in decodes)
        step = StepCost(
            decode_seqs=len(decodes),
            prefill_tokens=sum(chunk for _, chunk in prefills),
            prefill_seqs=len(prefills),
            context_tokens=context,
        )
        return step, prefills, decodes

    def _apply(self, prefills: list[tuple[Sequence, int]], decodes: list[Sequence]) -> None:
        self.steps += 1
        produced: list[Sequence] = []
        for seq, chunk in prefills:
            if seq.aborted:
                continue
            seq.prefilled += chunk
            if seq.prefill_left == 0:
                produced.append(seq)  # the prefill step samples the first token
        produced.extend(s for s in decodes if not s.aborted)
        for seq in produced:
            seq.generated += 1
            self.generated_tokens += 1
            if seq.generated >= seq.max_tokens:
                self._finish(seq)
            else:
                seq.event.set()

    def _finish(self, seq: Sequence) -> None:
        seq.finished = True
        self.kv_used -= seq.reserved
        self.running.remove(seq)
        seq.event.set()

    def stats(self) -> dict[str, int]:
        return {
            "running": len(self.running),
            "waiting": len(self.waiting),
            "kv_used_tokens": self.kv_used,
            "kv_capacity_tokens": self.kv_capacity,
            "steps": self.steps,
            "generated_tokens": self.generated_tokens,
        }
