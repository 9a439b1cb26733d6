"""Settings and folders shared by the whole library.

Every setting is a field of :class:`Settings`, read from the environment, or from a ``.env`` file
in the current folder or a parent (never overriding a variable that is already set). Library code
reads them with ``settings().<field>``, never from ``os.environ``; README's "Settings" table is
:func:`settings_table` (a test keeps the two equal). Folders default to the user's cache folder.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from dotenv import dotenv_values, find_dotenv
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BACKENDS = ("local", "openai", "compatible")
# Set by a parent process for its children only: a .env file never sets them.
ENV_ONLY = frozenset({"INFERLEARN_SANDBOX"})
_ENV_LOADED = False


def _var(name: str, default_text: str, meaning: str, default: Any = None, **bounds: Any) -> Any:
    """A settings field read from environment variable ``name``, documented for README."""
    return Field(default, validation_alias=name, description=meaning,
                 json_schema_extra={"default_text": default_text}, **bounds)


class Settings(BaseSettings):
    """Every setting of inferlearn, typed, with its default and meaning (README lists them)."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      frozen=True, str_strip_whitespace=True)

    backend: str = _var("INFERLEARN_BACKEND", "`local`", "`local`, `openai` or `compatible`", "local")
    model: str | None = _var(
        "INFERLEARN_MODEL", "course model on `local` (fast model under nbgrader, `make test` and "
        "CI-sized runs); `gpt-4o-mini` on `openai`", "the chat model")
    embedding_model: str | None = _var(
        "INFERLEARN_EMBEDDING_MODEL", "`minilm-l6-int8` (`text-embedding-3-small` on `openai`)",
        "the embedding model")
    openai_api_key: SecretStr | None = _var(
        "OPENAI_API_KEY", "none", "the key of the `openai` backend (and of `compatible`, if it wants one)")
    openai_base_url: str | None = _var(
        "OPENAI_BASE_URL", "none", "the server of the `compatible` backend, e.g. `http://localhost:11434/v1`")
    max_spend_usd: str | None = _var(
        "INFERLEARN_MAX_SPEND_USD", "2 on `openai`, none on `local`, none on `compatible` unless "
        "set; `off` disables", "the learner's spend cap over every call of `get_client()` clients")
    llm_threads: int | None = _var(
        "INFERLEARN_LLM_THREADS", "llama.cpp's (half the cores)", "the local server's generation "
        "threads", ge=1)
    llm_batch_threads: int | None = _var(
        "INFERLEARN_LLM_BATCH_THREADS", "llama.cpp's (every core)",
        "the local server's prompt-processing threads (1 helps only where other work keeps the "
        "cores busy)", ge=1)
    server_api_key: SecretStr | None = _var(
        "INFERLEARN_SERVER_API_KEY", "none", "a bearer key the local server requires")
    chaos: str | None = _var(
        "INFERLEARN_CHAOS", "none", "faults for every request of the local server "
        "(`error_rate=0.2;status=503;seed=1`)")
    idle_timeout: float = _var(
        "INFERLEARN_IDLE_TIMEOUT", "900", "seconds without a request before an on-demand server "
        "exits (0: never)", 900.0, ge=0)
    cache: Path | None = _var("INFERLEARN_CACHE", "`~/.cache/inferlearn`",
                              "everything kept between runs")
    models: Path | None = _var("INFERLEARN_MODELS", "`<cache>/models`", "model files")
    runtime: Path | None = _var(
        "INFERLEARN_RUNTIME", "`<cache>/run`", "the local server's port, pid, log and usage database")
    registry: Path | None = _var(
        "INFERLEARN_REGISTRY", "`<cache>/runs.sqlite3`", "the evaluation run registry")
    request_log: Path | None = _var(
        "INFERLEARN_REQUEST_LOG", "`<runtime>/requests.jsonl`", "the phase 4 service's request log")
    app_keys: str | None = _var("INFERLEARN_APP_KEYS", "none", "`KEY=CLIENT,...` for `inferlearn app`")
    data: Path | None = _var("INFERLEARN_DATA", "the repository's `data/`", "the course data")
    course_root: Path | None = _var(
        "INFERLEARN_COURSE_ROOT", "the current folder or a parent holding the course", "the course root")
    shared_datasets: Path | None = _var(
        "INFERLEARN_SHARED_DATASETS", "`../shared/datasets` beside the checkout",
        "external evaluation data")
    sandbox: str | None = _var(
        "INFERLEARN_SANDBOX", "set by `inferlearn grade`", "the grading sandbox's settings for the "
        "kernel (not for people; never read from `.env`)")
    chromium: Path = _var("INFERLEARN_CHROMIUM", "`/usr/bin/chromium`", "the browser "
                          "`tests/test_browser.py` drives", Path("/usr/bin/chromium"))
    fuzz_examples: int = _var("INFERLEARN_FUZZ_EXAMPLES", "25", "schemathesis examples per "
                              "operation in `tests/llm/test_schemathesis.py`", 25, ge=1)
    grammar_examples: int = _var("INFERLEARN_GRAMMAR_EXAMPLES", "40", "schemas sent through the "
                                 "live server in `tests/llm/test_grammar_safety.py`", 40, ge=1)

    @field_validator("cache", "models", "runtime", "registry", "request_log", "data", "course_root",
                     "shared_datasets", "chromium")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


ENV_NAMES = tuple(field.validation_alias for field in Settings.model_fields.values())


def load_env() -> None:
    """Load ``.env`` into the environment once per process; variables already set win, and a
    variable in ``ENV_ONLY`` is never taken from it."""
    global _ENV_LOADED
    if _ENV_LOADED:
        return
    path = find_dotenv(usecwd=True)
    for name, value in (dotenv_values(path) if path else {}).items():
        if value is not None and name not in ENV_ONLY and name not in os.environ:
            os.environ[name] = value
    _ENV_LOADED = True


@lru_cache(maxsize=8)
def _settings_for(values: tuple[str | None, ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}={e['input']!r}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"bad setting ({problems}); fix it in the environment or .env, or unset "
                         "it for the default") from None


def settings() -> Settings:
    """The settings, read from the environment (after ``.env``); read again only when a variable
    changes (tests and ``inferlearn run`` change them), so a call is cheap."""
    load_env()
    return _settings_for(tuple(os.environ.get(name) for name in ENV_NAMES))


def setting(name: str, default: str | None = None) -> str | None:
    """One setting by its variable name, as text (``default`` when unset); for callers outside
    the library, which reads typed fields of :func:`settings`."""
    fields = {field.validation_alias: key for key, field in Settings.model_fields.items()}
    if name not in fields:
        raise KeyError(f"{name} is not an inferlearn setting; known: {', '.join(sorted(fields))}")
    value = getattr(settings(), fields[name])
    value = secret(value) if isinstance(value, SecretStr) else value
    return default if value is None else str(value)


def secret(value: SecretStr | None, default: str | None = None) -> str | None:
    """The text of a secret setting (an API key), or ``default`` when it is unset."""
    return value.get_secret_value() if value is not None else default


def cache_dir() -> Path:
    """Root of everything inferlearn keeps between runs (``INFERLEARN_CACHE``)."""
    base = settings().cache
    if base:
        return base
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "inferlearn"


def models_dir() -> Path:
    """Where model files live (``INFERLEARN_MODELS``, default ``<cache>/models``)."""
    return settings().models or cache_dir() / "models"


def runtime_dir() -> Path:
    """Where the local server records its port, pid, log and usage database."""
    folder = settings().runtime or cache_dir() / "run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backend() -> str:
    """The chosen backend: ``local`` (default), ``openai`` or ``compatible``.
    Introduced in ``notebooks/00_start_here``."""
    name = settings().backend.lower()
    if name not in BACKENDS:
        raise ValueError(
            f"INFERLEARN_BACKEND={name!r} is not a backend; use one of {', '.join(BACKENDS)} "
            "(or unset it for the embedded local model)"
        )
    return name


def settings_table() -> str:
    """README's "Settings" table, from :class:`Settings`."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.model_fields.values():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        rows.append(f"| `{field.validation_alias}` | {extra.get('default_text', '')} | "
                    f"{field.description} |")
    return "\n".join(rows)
