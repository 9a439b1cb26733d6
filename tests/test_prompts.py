"""Prompts are versioned files: loaded by name and version, rendered strictly, hashed."""

from __future__ import annotations

import pytest

from inferlearn.prompts import (
    format_examples,
    list_prompts,
    load_prompt,
    parse_prompt,
    prompt_versions,
    render_template,
    select_examples,
)

PROMPT = """---
name: greet
version: {version}
description: test prompt
---
## system
Be brief.
## user
Hello {{{{ who }}}}{extra}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "greet").mkdir()
    for version in (1, 2, 10):
        (tmp_path / "greet" / f"v{version}.md").write_text(
            PROMPT.format(version=version, extra="!" * version), encoding="utf-8")
    return tmp_path


def test_latest_version_is_loaded_by_default_and_versions_sort_numerically(folder):
    assert prompt_versions("greet", folder) == [1, 2, 10]
    assert load_prompt("greet", folder=folder).version == 10
    assert load_prompt("greet", 2, folder=folder).version == 2


def test_render_gives_one_message_per_section_in_file_order(folder):
    messages = load_prompt("greet", 1, folder=folder).render(who="Dana")
    assert messages == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Hello Dana!"}]


def test_each_version_has_its_own_hash_and_ref(folder):
    one, two = load_prompt("greet", 1, folder=folder), load_prompt("greet", 2, folder=folder)
    assert one.hash != two.hash and len(one.hash) == 12 and len(one.sha256) == 64
    assert one.ref == f"greet@v1#{one.hash}"
    assert load_prompt("greet", 1, folder=folder).hash == one.hash  # stable across loads


def test_hash_ignores_windows_line_endings():
    text = PROMPT.format(version=1, extra="")
    assert parse_prompt(text).sha256 == parse_prompt(text.replace("\n", "\r\n")).sha256


def test_unknown_name_or_version_says_what_exists(folder):
    with pytest.raises(FileNotFoundError, match="known prompts: greet"):
        load_prompt("nope", folder=folder)
    with pytest.raises(FileNotFoundError, match="v1, v2, v10"):
        load_prompt("greet", 3, folder=folder)


def test_front_matter_must_agree_with_the_file_name(folder):
    (folder / "greet" / "v3.md").write_text(PROMPT.format(version=4, extra=""), encoding="utf-8")
    with pytest.raises(ValueError, match="front matter says greet v4"):
        load_prompt("greet", 3, folder=folder)


@pytest.mark.parametrize("text, message", [
    ("no front matter\n## user\nhi", "starts with front matter"),
    ("---\nname: x\n---\n## user\nhi", "no 'version'"),
    ("---\nname: x\nversion: 1\n---\nhi there", "must start with"),
    ("---\nname: x: y: z\nversion: 1\n---\n## user\nhi", "not valid YAML"),
])
def test_malformed_files_are_rejected_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_prompt(text)


def test_missing_variable_names_the_placeholder():
    with pytest.raises(KeyError, match="ticket"):
        render_template("{{ ticket }} {{examples}}", {"examples": ""})


def test_values_are_inserted_once_and_never_rendered_again():
    got = render_template("A {{ticket}} B {{ examples }}", {"ticket": "{{examples}}", "examples": "E"})
    assert got == "A {{examples}} B E"


def test_extra_variables_and_other_braces_are_left_alone():
    assert render_template('{"team": "{{ t }}"}', {"t": "x", "unused": 1}) == '{"team": "x"}'


def test_select_examples_round_robins_over_sorted_labels():
    pool = [{"team": t, "id": i} for i, t in enumerate("ttttbbsa")]
    chosen = select_examples(pool, 5)
    assert [e["team"] for e in chosen] == ["a", "b", "s", "t", "b"]
    assert [e["id"] for e in chosen if e["team"] == "b"] == [4, 5]


def test_select_examples_handles_zero_and_more_than_the_pool():
    pool = [{"team": "a"}, {"team": "b"}]
    assert select_examples(pool, 0) == []
    assert len(select_examples(pool, 10)) == 2
    with pytest.raises(ValueError, match="k must be >= 0"):
        select_examples(pool, -1)


def test_format_examples_flattens_and_truncates_each_ticket():
    text = format_examples([{"text": "line one\nline two " + "x" * 50, "team": "billing"}],
                           max_chars=20)
    assert text == "Ticket: line one line two xx ...\nTeam: billing"


def test_course_prompts_load_and_render():
    assert {"route_ticket", "summarise_ticket"} <= set(list_prompts())
    for name in list_prompts():
        for version in prompt_versions(name):
            prompt = load_prompt(name, version)
            messages = prompt.render(**{v: "x" for v in prompt.variables})
            assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
            assert prompt.meta.get("description"), f"{prompt.ref} has no description"
