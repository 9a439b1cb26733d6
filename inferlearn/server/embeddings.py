"""Offline embedding models: MiniLM-L6 int8 on onnxruntime (default) and WordLlama (fast).

Both run in-process, with no network, and are also exposed as chromadb embedding functions
(registered, so a reopened collection finds them). Never use chromadb's default embedding
function: it downloads a model on first use and fails offline.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from inferlearn.llm.models import LOCAL_EMBEDDING_MODEL, LOCAL_FAST_EMBEDDING_MODEL

MAX_TOKENS = 256
BATCH_SIZE = 32


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX, 384-d): mean pooling over real tokens, L2-normalised."""

    model = LOCAL_EMBEDDING_MODEL
    dimensions = 384

    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from inferlearn.server.modelfiles import model_path

        self.tokenizer = Tokenizer.from_file(str(model_path("minilm-l6-int8/tokenizer.json")))
        # The shipped tokenizer pads and truncates to 128: undo it, or retrieval collapses.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle threads spin by default; on 2 shared cores that doubles single-query p95 (measured).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(model_path("minilm-l6-int8/model.onnx")), options, providers=["CPUExecutionProvider"]
        )

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts`` (after truncation)."""
        return sum(len(e.ids) for e in self.tokenizer.encode_batch(texts))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = enc.attention_mask
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                         "token_type_ids": np.zeros_like(ids)})[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384); batches sorted by length pad only to their longest."""
        _check_texts(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        return out


class WordLlamaEmbedder:
    """WordLlama 256-d: static token vectors averaged; thousands of passages a second, weaker."""

    model = LOCAL_FAST_EMBEDDING_MODEL
    dimensions = 256

    def __init__(self) -> None:
        from pathlib import Path

        wordllama, WordLlama = _import_wordllama()
        self.wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, dim=256,
                                 disable_download=True)

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for ``texts``."""
        return sum(len(ids) for ids in self.wl.tokenize(texts))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 256)."""
        _check_texts(texts)
        return np.asarray(self.wl.embed(texts, norm=True), dtype=np.float32)


def _import_wordllama():
    """Import wordllama without its side effect: it calls ``logging.basicConfig(level=INFO)``,
    which floods notebooks with every library's INFO lines. Restore the root logger afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama
    from wordllama import WordLlama

    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return wordllama, WordLlama


def _check_texts(texts: list[str]) -> None:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(f"embed takes a list of strings, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"every input must be a string; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    if not texts:
        raise ValueError("nothing to embed: the list of texts is empty")


EMBEDDERS = {LOCAL_EMBEDDING_MODEL: MiniLMEmbedder, LOCAL_FAST_EMBEDDING_MODEL: WordLlamaEmbedder}


@lru_cache(maxsize=2)
def get_embedder(model: str = LOCAL_EMBEDDING_MODEL):
    """A loaded embedder by model id (loaded once per process)."""
    if model not in EMBEDDERS:
        raise KeyError(f"no local embedding model {model!r}; choose one of {', '.join(EMBEDDERS)}")
    return EMBEDDERS[model]()


def embed_texts(texts: list[str], model: str = LOCAL_EMBEDDING_MODEL) -> np.ndarray:
    """Embed ``texts`` in-process with a local model; rows are unit vectors."""
    return get_embedder(model).embed(list(texts) if isinstance(texts, tuple) else texts)
