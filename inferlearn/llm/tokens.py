"""Counting tokens the way each model does. Introduced in ``phase1_llm_api/01_first_calls_and_tokens``.

For the local model, ``count_tokens(messages)`` renders the same ChatML prompt the server renders
and tokenizes it with the model's own vocabulary, so it equals the server's ``prompt_tokens``.
For OpenAI models it uses tiktoken when the encoding file is already on disk (tiktoken downloads it
otherwise), else ``bpe-openai``, which ships ``o200k_base`` and ``cl100k_base``. Message overhead
for OpenAI models follows OpenAI's published recipe (3 tokens a message + 3 to prime the reply);
it is an estimate, exact for plain text chats.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from inferlearn.llm.models import LOCAL_FAST_MODEL, get_model_info
from inferlearn.server.chat_format import render_prompt

_TIKTOKEN_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


@lru_cache(maxsize=2)
def local_vocab(model: str = LOCAL_FAST_MODEL):
    """A local chat model's tokenizer (a vocabulary-only llama.cpp model: no weights loaded)."""
    from llama_cpp import Llama
    from llama_cpp._utils import suppress_stdout_stderr

    from inferlearn.server.modelfiles import chat_model_path

    path = chat_model_path(model)
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs a context warning we do not need
        return Llama(str(path), vocab_only=True, verbose=False)


def local_tokenize(text: str, special: bool = False, model: str = LOCAL_FAST_MODEL) -> list[int]:
    """Token ids of ``text`` for a local model (``special=True`` parses ``<|im_start|>`` etc.)."""
    return local_vocab(model).tokenize(text.encode("utf-8"), add_bos=False, special=special)


def tiktoken_cached(name: str) -> bool:
    """True when tiktoken's file for encoding ``name`` is on disk, so using it needs no network."""
    url = _TIKTOKEN_URLS.get(name)
    if url is None:
        return False
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or \
        os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return (Path(folder) / hashlib.sha1(url.encode()).hexdigest()).exists()


@lru_cache(maxsize=4)
def openai_encoding(name: str):
    """An encoder with ``.encode(text)`` for a tiktoken encoding name, without network access."""
    if tiktoken_cached(name):
        import tiktoken

        return tiktoken.get_encoding(name)
    import bpe_openai

    return bpe_openai.get_encoding(name)


def _openai_messages_tokens(messages: list[dict], encoding) -> int:
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += len(encoding.encode(value))
                if key == "name":
                    total += 1
    return total


def count_tokens(text_or_messages: str | list[dict[str, Any]], model: str | None = None) -> int:
    """Tokens in a string or a chat message list, as ``model`` counts them.

    Args:
        text_or_messages: plain text, or OpenAI-style ``[{"role", "content"}, ...]``.
        model: a catalogue model id (see ``inferlearn.llm.models.MODELS``); default: the
            backend's default model (``inferlearn.llm.default_model()``).
    Returns:
        The token count; for a message list, what the model bills as prompt tokens.
    """
    if model is None:
        from inferlearn.llm.client import default_model

        model = default_model()
    info = get_model_info(model)
    if not isinstance(text_or_messages, (str, list)):
        raise TypeError(
            f"count_tokens takes a string or a list of messages, got {type(text_or_messages).__name__}"
        )
    if info.encoding == "local":
        if isinstance(text_or_messages, str):
            return len(local_tokenize(text_or_messages, model=model))
        prompt = render_prompt(text_or_messages, template=info.template or "smollm2")
        return len(local_tokenize(prompt, special=True, model=model))
    encoding = openai_encoding(info.encoding or "o200k_base")
    if isinstance(text_or_messages, str):
        return len(encoding.encode(text_or_messages))
    return _openai_messages_tokens(text_or_messages, encoding)
