"""``inferlearn doctor``: each check reports, and each failing check prints its fix."""

from __future__ import annotations

import pytest

from inferlearn.cli import main
from inferlearn.course import doctor


@pytest.mark.parametrize("check", [doctor.check_python, doctor.check_packages, doctor.check_kernel,
                                   doctor.check_chromadb, doctor.check_disk])
def test_checks_pass_on_the_course_environment(check):
    result = check()
    assert result.ok, result
    assert result.detail


def test_backend_check_fails_with_a_fix_when_compatible_has_no_url(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "compatible")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    result = doctor.check_backend()
    assert not result.ok
    assert "OPENAI_BASE_URL" in result.detail and "OPENAI_BASE_URL" in result.fix


def test_backend_check_fails_with_a_fix_for_an_unknown_backend(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "gemini")
    result = doctor.check_backend()
    assert not result.ok and "local, openai or compatible" in result.fix


def test_disk_check_says_how_much_is_needed(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "MIN_FREE_GB", 10**9)
    result = doctor.check_disk(tmp_path / "not" / "there")
    assert not result.ok and "INFERLEARN_CACHE" in result.fix and str(tmp_path) in result.detail


def test_model_files_check_names_missing_files_and_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERLEARN_MODELS", str(tmp_path))
    result = doctor.check_model_files()
    assert not result.ok and "inferlearn models install" in result.fix
    assert ".gguf" in result.detail


def test_doctor_prints_each_failure_with_its_fix_and_exits_1(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("INFERLEARN_MODELS", str(tmp_path))
    code = main(["doctor", "--skip", "backend", "--skip", "chromadb", "--skip", "llama.cpp"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("FAIL  model files"))
    assert "fix: run `inferlearn models install`" in lines[failed + 1]
    assert "ok    python" in out and "1 check(s) failed" in out


def test_llama_check_is_not_needed_on_a_remote_backend(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "openai")
    result = doctor.check_llama()
    assert result.ok and "not needed" in result.detail


def test_llama_check_fails_with_the_rebuild_fix_when_llama_cpp_crashes(monkeypatch):
    from inferlearn.server import modelfiles

    def crash(**kwargs):
        raise modelfiles.ModelFilesError("llama.cpp crashed (SIGILL) generating with x.gguf: "
                                         f"this build ... Fix: {modelfiles.REBUILD_FIX}.")

    monkeypatch.delenv("INFERLEARN_BACKEND", raising=False)
    monkeypatch.setattr(modelfiles, "check_chat_model_runs", crash)
    result = doctor.check_llama()
    assert not result.ok and "SIGILL" in result.detail and "Fix" not in result.detail
    assert result.fix.startswith("rebuild llama-cpp-python") and "make clean-venv" in result.fix


def test_a_check_that_crashes_counts_as_failed(monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(doctor, "CHECKS", {"broken": broken})
    (result,) = doctor.run_checks()
    assert not result.ok and "disk on fire" in result.detail


def models_installed() -> bool:
    from inferlearn.server.modelfiles import MODEL_FILES, is_verified

    return all(is_verified(spec) for spec in MODEL_FILES)


@pytest.mark.slow
@pytest.mark.needs_models
@pytest.mark.skipif(not models_installed(), reason="model files missing: run `inferlearn models install`")
def test_backend_check_starts_and_reaches_the_local_server(monkeypatch, tmp_path):
    from inferlearn.server.daemon import stop_server

    monkeypatch.setenv("INFERLEARN_RUNTIME", str(tmp_path))
    monkeypatch.delenv("INFERLEARN_BACKEND", raising=False)
    monkeypatch.delenv("INFERLEARN_MODEL", raising=False)
    try:
        result = doctor.check_backend()
    finally:
        stop_server()
    assert result.ok, result
    assert result.detail.startswith("local:")


def test_llama_check_leaves_an_unknown_backend_to_the_backend_check(monkeypatch):
    monkeypatch.setenv("INFERLEARN_BACKEND", "gemini")
    result = doctor.check_llama()
    assert result.ok and "not a backend" in result.detail
