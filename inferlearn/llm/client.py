"""One client factory for every backend. Introduced in ``notebooks/00_start_here``.

============  ==================================================  =====================================
backend       chosen by                                           what answers
============  ==================================================  =====================================
local         nothing set (default)                               the embedded server, started on demand
openai        ``INFERLEARN_BACKEND=openai`` + ``OPENAI_API_KEY``   api.openai.com
compatible    ``INFERLEARN_BACKEND=compatible`` + ``OPENAI_BASE_URL``  Ollama, vLLM, LM Studio, a gateway
============  ==================================================  =====================================

``INFERLEARN_MODEL`` overrides the default chat model on any backend. On ``local`` the default is
the course model (Qwen2.5-Coder-1.5B); CI-sized runs, grading (``NBGRADER_EXECUTION``) and the
test suite use the fast model (SmolLM2-135M).
"""

from __future__ import annotations

import os

import openai

from inferlearn.config import backend, secret, settings
from inferlearn.llm.models import LOCAL_COURSE_MODEL, LOCAL_EMBEDDING_MODEL, LOCAL_FAST_MODEL
from inferlearn.llm.spend import with_spend_cap
from inferlearn.server.daemon import ensure_server

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_DEFAULT_EMBEDDING = "text-embedding-3-small"
LOCAL_KEY = "inferlearn-local"


def local_base_url() -> str:
    """Base URL of the embedded server, starting it if needed."""
    rec = ensure_server()
    return f"http://{rec.get('host', '127.0.0.1')}:{rec['port']}/v1"


def get_client(backend_name: str | None = None, **kwargs) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for the configured backend (extra kwargs go to the client)."""
    name = backend_name or backend()
    kwargs = with_spend_cap(name, kwargs)  # INFERLEARN_MAX_SPEND_USD: refuse calls past the cap
    if name == "local":
        key = secret(settings().server_api_key, LOCAL_KEY)
        return openai.OpenAI(base_url=local_base_url(), api_key=key, **kwargs)
    if name == "openai":
        key = secret(settings().openai_api_key)
        if not key:
            raise RuntimeError("INFERLEARN_BACKEND=openai needs OPENAI_API_KEY (in the environment "
                               "or a .env file); unset INFERLEARN_BACKEND to use the local model")
        return openai.OpenAI(api_key=key, **kwargs)
    if name == "compatible":
        url = settings().openai_base_url
        if not url:
            raise RuntimeError("INFERLEARN_BACKEND=compatible needs OPENAI_BASE_URL, e.g. "
                               "http://localhost:11434/v1 for Ollama")
        return openai.OpenAI(base_url=url, api_key=secret(settings().openai_api_key, "not-needed"), **kwargs)
    raise ValueError(f"unknown backend {name!r}; use local, openai or compatible")


def default_model(backend_name: str | None = None) -> str:
    """The chat model to use: ``INFERLEARN_MODEL`` if set, else the backend's default.

    On ``local``: the course model, or the fast model while nbgrader grades (``NBGRADER_EXECUTION``).
    """
    name = backend_name or backend()
    chosen = settings().model
    if chosen:
        return chosen
    if name == "local":
        return LOCAL_FAST_MODEL if os.environ.get("NBGRADER_EXECUTION") else LOCAL_COURSE_MODEL
    if name == "openai":
        return OPENAI_DEFAULT_MODEL
    raise RuntimeError("INFERLEARN_BACKEND=compatible needs INFERLEARN_MODEL, the model name your "
                       "server knows (e.g. llama3.2 for Ollama)")


def default_embedding_model(backend_name: str | None = None) -> str:
    """The embedding model to use: ``INFERLEARN_EMBEDDING_MODEL`` or the backend's default."""
    chosen = settings().embedding_model
    if chosen:
        return chosen
    return OPENAI_DEFAULT_EMBEDDING if (backend_name or backend()) == "openai" else LOCAL_EMBEDDING_MODEL
