"""Settings and folders shared by the whole library.

Settings come from the environment, or from a ``.env`` file in the current folder or a parent
(never overriding a variable that is already set). Folders default to the user's cache folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

_ENV_LOADED = False

BACKENDS = ("local", "openai", "compatible")


def load_env() -> None:
    """Load ``.env`` once per process; variables already set win."""
    global _ENV_LOADED
    if not _ENV_LOADED:
        path = find_dotenv(usecwd=True)
        if path:
            load_dotenv(path, override=False)
        _ENV_LOADED = True


def setting(name: str, default: str | None = None) -> str | None:
    """One setting from the environment (after ``.env``), or ``default`` when unset or empty."""
    load_env()
    value = os.environ.get(name, "").strip()
    return value or default


def int_setting(name: str, default: int | None = None, minimum: int = 1) -> int | None:
    """A whole-number setting; a value that is not one (or below ``minimum``) is a clear error."""
    raw = setting(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{name}={raw!r} is not a whole number >= {minimum}; fix it in the "
                         "environment or .env, or unset it for the default")
    return value


def cache_dir() -> Path:
    """Root of everything inferlearn keeps between runs (``INFERLEARN_CACHE``)."""
    base = setting("INFERLEARN_CACHE")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "inferlearn"


def models_dir() -> Path:
    """Where model files live (``INFERLEARN_MODELS``, default ``<cache>/models``)."""
    path = setting("INFERLEARN_MODELS")
    return Path(path).expanduser() if path else cache_dir() / "models"


def runtime_dir() -> Path:
    """Where the local server records its port, pid, log and usage database."""
    path = setting("INFERLEARN_RUNTIME")
    folder = Path(path).expanduser() if path else cache_dir() / "run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backend() -> str:
    """The chosen backend: ``local`` (default), ``openai`` or ``compatible``."""
    name = (setting("INFERLEARN_BACKEND", "local") or "local").lower()
    if name not in BACKENDS:
        raise ValueError(
            f"INFERLEARN_BACKEND={name!r} is not a backend; use one of {', '.join(BACKENDS)} "
            "(or unset it for the embedded local model)"
        )
    return name
