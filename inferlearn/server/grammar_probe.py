"""The last line of defence for grammars: a sacrificial child process tries each new one first.

llama.cpp parses a grammar in native code when sampling starts; a grammar it mishandles aborts or
segfaults the whole process. So before a grammar reaches the server's model, a long-lived child
(``python -m inferlearn.server.grammar_probe MODEL``) loads only the model's vocabulary, compiles
the grammar and samples a few dozen tokens under it from random logits. If the child crashes,
the verdict is "unsafe" and a fresh child starts for the next grammar; the server never notices.
Verdicts are cached by the grammar's text, so each grammar is probed once per server.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import select
import subprocess
import sys
import threading
from collections import OrderedDict

PROBE_TOKENS = 16
PROBE_TIMEOUT_S = 60.0
CACHE_SIZE = 4096


class GrammarProbe:
    """One child per model file; ``verdict(text)`` is None when safe, else the reason."""

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._child: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self.probed = 0

    def _start(self) -> subprocess.Popen:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "inferlearn.server.grammar_probe", self.model_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1, start_new_session=True)
        return self._child

    def _ask(self, text: str) -> str | None:
        child = self._start()
        try:
            child.stdin.write(json.dumps({"grammar": text}) + "\n")
            child.stdin.flush()
            ready, _, _ = select.select([child.stdout], [], [], PROBE_TIMEOUT_S)
            line = child.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            ready, line = True, ""
        if line:
            return json.loads(line).get("problem")
        if not ready:
            child.kill()
            child.wait()
            return f"llama.cpp took over {PROBE_TIMEOUT_S:.0f} s to compile and sample the grammar"
        try:
            code = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        return f"llama.cpp crashed ({how}) compiling or sampling the grammar"

    def verdict(self, text: str) -> str | None:
        """None when llama.cpp compiles and samples ``text`` safely; else what went wrong."""
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            self.probed += 1
            problem = self._ask(text)
            self._cache[key] = problem
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return problem

    def close(self) -> None:
        """Stop the child."""
        with self._lock:
            if self._child is not None and self._child.poll() is None:
                self._child.kill()
                self._child.wait()
            self._child = None


_PROBES: dict[str, GrammarProbe] = {}
_PROBES_LOCK = threading.Lock()


def probe_for(model_path: str) -> GrammarProbe:
    """The shared probe for one model file (its vocabulary decides what a grammar can match)."""
    with _PROBES_LOCK:
        if model_path not in _PROBES:
            _PROBES[model_path] = GrammarProbe(model_path)
        return _PROBES[model_path]


# ---- the child -------------------------------------------------------------------------------

_QUIET = None


def _sample(llama_cpp, vocab, text: str, rng) -> str | None:
    import numpy as np

    sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
    if not sampler:
        return "llama.cpp could not parse the grammar"
    try:
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        data = np.zeros(n_vocab, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        data["id"] = np.arange(n_vocab)
        for _ in range(PROBE_TOKENS):
            data["logit"] = rng.random(n_vocab)
            arr = llama_cpp.llama_token_data_array(
                data=data.ctypes.data_as(llama_cpp.llama_token_data_p), size=n_vocab,
                selected=-1, sorted=False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(arr))
            allowed = np.flatnonzero(np.isfinite(data["logit"]))
            if not len(allowed):
                return "the grammar admits no token at some point"
            token = int(rng.choice(allowed))
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                return None
            llama_cpp.llama_sampler_accept(sampler, token)
    finally:
        llama_cpp.llama_sampler_free(sampler)
    return None


def _child_main(model_path: str) -> None:
    import llama_cpp
    import numpy as np

    llama_cpp.llama_backend_init()
    global _QUIET
    _QUIET = llama_cpp.llama_log_callback(lambda *a: None)  # kept alive: llama.cpp calls it later
    llama_cpp.llama_log_set(_QUIET, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), params)
    vocab = llama_cpp.llama_model_get_vocab(model)
    rng = np.random.default_rng(0)
    for line in sys.stdin:
        problem = _sample(llama_cpp, vocab, json.loads(line)["grammar"], rng)
        sys.stdout.write(json.dumps({"problem": problem}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _child_main(sys.argv[1])
