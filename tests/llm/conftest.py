"""Fixtures for the local-model tests: one on-demand server in a private runtime folder."""

from __future__ import annotations

import pytest

from inferlearn.server.modelfiles import MODEL_FILES, is_verified


def pytest_collection_modifyitems(config, items):
    if not all(is_verified(spec) for spec in MODEL_FILES):
        skip = pytest.mark.skip(reason="model files missing: run `inferlearn models install`")
        for item in items:
            if "needs_models" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def runtime(tmp_path_factory):
    """A private runtime folder, so tests never reuse or stop a learner's server."""
    folder = tmp_path_factory.mktemp("runtime")
    mp = pytest.MonkeyPatch()
    mp.setenv("INFERLEARN_RUNTIME", str(folder))
    mp.setenv("INFERLEARN_IDLE_TIMEOUT", "600")
    mp.delenv("INFERLEARN_BACKEND", raising=False)
    mp.delenv("INFERLEARN_MODEL", raising=False)
    mp.delenv("INFERLEARN_CHAOS", raising=False)
    mp.delenv("INFERLEARN_SERVER_API_KEY", raising=False)
    yield folder
    from inferlearn.server.daemon import stop_server

    stop_server()
    mp.undo()


@pytest.fixture(scope="session")
def client(runtime):
    """An SDK client on the embedded server (started on demand, as a notebook would)."""
    from inferlearn.llm import get_client

    return get_client(max_retries=0)


@pytest.fixture(scope="session")
def model():
    from inferlearn.llm.models import LOCAL_FAST_MODEL

    return LOCAL_FAST_MODEL


@pytest.fixture(scope="session")
def base_url(client):
    return str(client.base_url).rstrip("/")


@pytest.fixture(scope="session")
def engine():
    """An in-process engine for TestClient apps (shares nothing with the daemon)."""
    from inferlearn.llm.models import LOCAL_FAST_MODEL
    from inferlearn.server.engine import LocalEngine
    from inferlearn.server.modelfiles import chat_model_path

    return LocalEngine(str(chat_model_path(LOCAL_FAST_MODEL)), n_ctx=2048)
