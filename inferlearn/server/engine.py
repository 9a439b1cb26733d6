"""The local chat model on llama.cpp: one instance, one lock, exact token accounting.

Generation is our own loop over ``Llama.generate`` so that streaming, stop sequences, token
counts and logprobs are exact. Logprobs need llama.cpp's ``logits_all`` mode, which costs memory
and speed, so a second, smaller instance is loaded only when a request asks for them.
"""

from __future__ import annotations

import codecs
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOGPROBS_CTX = 2048


@dataclass
class GenParams:
    """Sampling settings for one request."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    grammar: Any = None
    top_logprobs: int | None = None  # None: no logprobs; 0..20: that many alternatives
    repeat_penalty: float = 1.1


@dataclass
class Piece:
    """A bit of generated text, with the logprob entries of the tokens that made it."""

    text: str
    logprobs: list[dict] = field(default_factory=list)


@dataclass
class Outcome:
    """How a generation ended."""

    completion_tokens: int = 0
    finish_reason: str = "stop"


# How every llama.cpp instance of the course is opened (engine, run probe, benchmark). flash_attn:
# with it, a reply is the same whether or not its prompt was in the KV cache; without it, on the
# AVX2 build, the first reply token's logits after a cache hit differed by 0.37 from a cold
# evaluation and seeded replies diverged (2026-12-03, tests/llm).
LLAMA_OPTIONS: dict[str, Any] = {"flash_attn": True, "verbose": False}


class LocalEngine:
    """One local chat model on llama-cpp-python, shared by every request of the server.

    ``template`` is its prompt dialect (``server.chat_format``); ``lock`` may be shared by several
    engines so that only one generates at a time (two cores cannot run two models well).
    ``n_threads`` None keeps llama.cpp's default: half the cores for generation;
    ``n_threads_batch`` None keeps its default for prompt processing: every core. Measured
    2026-12-05 on 2 cores (~460-token prompt): idle, two threads were 1.9-2x faster than one
    (SmolLM2 343 vs 179 tokens/s, Qwen 80 vs 40); at load average 5, one was 1.45x faster; in the
    suite's phase 1 round trip (two grading workers) two won, 269 s against 295 s.
    """

    def __init__(self, model_path: str, n_ctx: int = 8192, n_threads: int | None = None,
                 n_threads_batch: int | None = None, template: str = "smollm2",
                 lock: threading.Lock | None = None) -> None:
        from llama_cpp import Llama

        self.model_path = model_path
        self.threads = {"n_threads": n_threads, "n_threads_batch": n_threads_batch}
        self.template = template
        self.llm = Llama(model_path, n_ctx=n_ctx, **self.threads, **LLAMA_OPTIONS)
        self.n_ctx = n_ctx
        self._logprob_llm = None
        self.lock = lock or threading.Lock()
        self.stop_ids = {self.llm.token_eos(), 0}

    def tokenize(self, prompt: str) -> list[int]:
        """Token ids of a rendered ChatML prompt (special tokens parsed)."""
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _model_for(self, params: GenParams):
        if params.top_logprobs is None:
            return self.llm
        if self._logprob_llm is None:
            from llama_cpp import Llama

            self._logprob_llm = Llama(self.model_path, n_ctx=LOGPROBS_CTX, logits_all=True,
                                      **self.threads, **LLAMA_OPTIONS)
        return self._logprob_llm

    def _logprob_entry(self, llm, token: int, text: str, top: int) -> dict:
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        logits = logits - logits.max()
        logp = logits - math.log(np.exp(logits).sum())
        best = np.argsort(-logp)[:top] if top else []

        def describe(tok: int, piece: str) -> dict:
            return {"token": piece, "logprob": float(logp[tok]), "bytes": list(piece.encode("utf-8"))}

        entry = describe(token, text)
        entry["top_logprobs"] = [
            describe(int(t), llm.detokenize([int(t)]).decode("utf-8", "replace")) for t in best
        ]
        return entry

    def generate(self, prompt_tokens: list[int], params: GenParams, outcome: Outcome) -> Iterator[Piece]:
        """Yield text pieces; fill ``outcome`` with the token count and finish reason.

        The caller must hold ``self.lock`` for the whole iteration.
        """
        llm = self._model_for(params)
        if len(prompt_tokens) + params.max_tokens > llm.n_ctx():
            raise ValueError("prompt and max_tokens exceed the context window of the logprobs model "
                             f"({llm.n_ctx()} tokens)")
        llm.set_seed(params.seed if params.seed is not None else random.getrandbits(31))
        json_mode = params.grammar is not None
        tokens = llm.generate(
            prompt_tokens, temp=params.temperature, top_p=params.top_p, top_k=40, min_p=0.05,
            repeat_penalty=1.0 if json_mode else params.repeat_penalty, grammar=params.grammar,
        )
        yield from _StopFilter(params.stop).run(self._decode(llm, tokens, params, outcome), outcome)

    def _decode(self, llm, tokens: Iterator[int], params: GenParams, outcome: Outcome) -> Iterator[Piece]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        outcome.finish_reason = "length"
        for token in tokens:
            if token in self.stop_ids:
                outcome.finish_reason = "stop"
                break
            outcome.completion_tokens += 1
            text = decoder.decode(llm.detokenize([token]))
            piece = Piece(text)
            if params.top_logprobs is not None:
                raw = llm.detokenize([token]).decode("utf-8", "replace")
                piece.logprobs.append(self._logprob_entry(llm, token, raw, params.top_logprobs))
            yield piece
            if outcome.completion_tokens >= params.max_tokens:
                break
        tail = decoder.decode(b"", final=True)
        if tail:
            yield Piece(tail)


class _StopFilter:
    """Cuts generation at the first stop sequence, holding back text that may start one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1

    def run(self, pieces: Iterator[Piece], outcome: Outcome) -> Iterator[Piece]:
        if not self.stops:
            yield from pieces
            return
        buffer, pending = "", []
        for piece in pieces:
            buffer += piece.text
            pending.extend(piece.logprobs)
            cut = min((i for i in (buffer.find(s) for s in self.stops) if i >= 0), default=-1)
            if cut >= 0:
                outcome.finish_reason = "stop"
                if buffer[:cut]:
                    yield Piece(buffer[:cut], pending)
                return
            safe = len(buffer) - self.hold
            if safe > 0:
                yield Piece(buffer[:safe], pending)
                buffer, pending = buffer[safe:], []
        if buffer:
            yield Piece(buffer, pending)
