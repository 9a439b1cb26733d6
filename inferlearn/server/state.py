"""What the local server's routes share: its settings, the engines, the usage log, chaos and the
in-flight gate (``app.state.inferlearn`` holds one ``ServerState``)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from inferlearn.llm.models import MODELS, usage_cost
from inferlearn.server.chaos import ChaosConfig, ChaosMonkey
from inferlearn.server.engine import LocalEngine
from inferlearn.server.modelfiles import ModelFilesError, chat_model_path
from inferlearn.server.protocol import APIError
from inferlearn.server.usage import UsageLog, UsageRecord


@dataclass
class ServerSettings:
    """How one server runs."""

    model_path: str | None = None  # one GGUF served for every local chat model id (tests, --model)
    n_ctx: int = 8192
    n_threads: int | None = None
    n_threads_batch: int | None = None  # prompt processing; None: llama.cpp's (every core)
    api_key: str | None = None
    chaos: ChaosConfig = field(default_factory=ChaosConfig)
    max_queue: int = 16
    max_body_bytes: int = 4 * 1024 * 1024
    usage_path: str | None = None


class ServerState:
    """What the routes share: engine, usage log, chaos, the in-flight gate, last activity."""

    def __init__(self, settings: ServerSettings, engine: LocalEngine | None = None) -> None:
        self.settings = settings
        self._fixed = engine  # given: it answers for every model id
        self._engines: dict[str, LocalEngine] = {}
        self._generate = threading.Lock()  # one generation at a time, whichever model
        self._loading = threading.Lock()
        self.usage = UsageLog(settings.usage_path)
        self.chaos = ChaosMonkey()
        self.started = time.time()
        self.last_active = time.time()
        self._inflight = 0
        self._gate = threading.Lock()

    def engine_for(self, model: str) -> LocalEngine:
        """The engine of a local chat model id, loaded on first use and kept resident."""
        if self._fixed is not None:
            return self._fixed
        with self._loading:
            if model not in self._engines:
                try:
                    path = self.settings.model_path or str(chat_model_path(model))
                except ModelFilesError as exc:
                    raise APIError(503, str(exc), param="model", code="model_not_installed") from None
                self._engines[model] = LocalEngine(
                    path, self.settings.n_ctx, self.settings.n_threads, self.settings.n_threads_batch,
                    template=MODELS[model].template or "smollm2", lock=self._generate)
            return self._engines[model]

    def loaded_models(self) -> list[str]:
        """Chat model ids loaded so far (empty when one engine was given for every id)."""
        return sorted(self._engines)

    def enter(self) -> None:
        """Admit a request or answer 503 when the queue is full."""
        with self._gate:
            if self._inflight >= self.settings.max_queue:
                raise APIError(503, f"the local server is busy ({self._inflight} requests queued); "
                                    "retry shortly", code="overloaded", headers={"Retry-After": "1"})
            self._inflight += 1
            self.last_active = time.time()

    def leave(self) -> None:
        """A request admitted by ``enter`` has finished."""
        with self._gate:
            self._inflight -= 1
            self.last_active = time.time()

    def record(self, rid: str, endpoint: str, model: str | None, start: float, status: int,
               prompt: int = 0, completion: int = 0, chaos: str = "") -> None:
        """One request into the usage log, with its latency since ``start`` and its cost."""
        cost = usage_cost(model, prompt, completion) if model in MODELS else 0.0
        self.usage.record(UsageRecord(rid, endpoint, model, prompt, completion,
                                      (time.perf_counter() - start) * 1000, status, cost, chaos))
