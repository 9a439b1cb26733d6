"""Prompts as versioned template files. Introduced in ``phase1_llm_api/03_prompt_engineering``.

A prompt is a file ``data/prompts/<name>/v<version>.md``: YAML front matter, then one section per
chat role, with ``{{ variable }}`` placeholders::

    ---
    name: route_ticket
    version: 2
    description: Route a ticket to one team, with team descriptions.
    variables: [ticket]
    ---
    ## system
    You route support tickets for Larkspur Streams ...
    ## user
    {{ ticket }}

A published version is never edited: change the wording, add ``v3.md``. Every prompt carries the
sha256 of its file, so a logged call names exactly the text that produced it
(``prompt.ref`` -> ``"route_ticket@v2#1a2b3c4d5e6f"``). Phase 4 builds its prompt registry on this.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inferlearn.data import data_dir

ROLES = ("system", "user", "assistant")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_SECTION = re.compile(r"^## (system|user|assistant)[ \t]*$", re.MULTILINE)
_VERSION_FILE = re.compile(r"^v(\d+)\.md$")


def prompts_dir() -> Path:
    """The folder of prompt templates (``data/prompts``)."""
    return data_dir() / "prompts"


def render_template(template: str, variables: dict[str, Any]) -> str:
    """Fill every ``{{ name }}`` in ``template`` from ``variables``, in one pass.

    Values are inserted verbatim and never rendered again, so a ticket that contains
    ``{{ examples }}`` stays as written. Raises ``KeyError`` naming a placeholder with no value.
    """
    missing = sorted({n for n in PLACEHOLDER.findall(template) if n not in variables})
    if missing:
        raise KeyError(f"no value for placeholder(s) {', '.join(missing)}; "
                       f"got values for: {', '.join(sorted(variables)) or 'nothing'}")
    return PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), template)


def select_examples(pool: list[dict], k: int, label_key: str = "team") -> list[dict]:
    """Pick ``k`` few-shot examples from ``pool``, balanced across labels.

    Round-robin over the labels in sorted order, taking each label's examples in pool order, so a
    rare label is shown as often as a common one and the choice is deterministic.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    by_label: dict[str, list[dict]] = {}
    for example in pool:
        by_label.setdefault(example[label_key], []).append(example)
    queues = [list(by_label[label]) for label in sorted(by_label)]
    chosen: list[dict] = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen


def format_examples(examples: list[dict], text_key: str = "text", label_key: str = "team",
                    max_chars: int = 400) -> str:
    """Few-shot examples as text: ``Ticket: ...`` / ``Team: ...`` blocks, each ticket cut to
    ``max_chars`` characters."""
    blocks = []
    for example in examples:
        text = " ".join(str(example[text_key]).split())
        if len(text) > max_chars:
            text = text[:max_chars].rstrip() + " ..."
        blocks.append(f"Ticket: {text}\nTeam: {example[label_key]}")
    return "\n\n".join(blocks)


@dataclass(frozen=True)
class Prompt:
    """One version of one prompt, loaded from its file."""

    name: str
    version: int
    sections: tuple[tuple[str, str], ...]  # (role, template) in file order
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    path: Path | None = None

    @property
    def hash(self) -> str:
        """The first 12 hex digits of the file's sha256 (enough to tell versions apart)."""
        return self.sha256[:12]

    @property
    def ref(self) -> str:
        """``name@vN#hash``: how logs and reports name this exact prompt."""
        return f"{self.name}@v{self.version}#{self.hash}"

    @property
    def variables(self) -> list[str]:
        """Placeholder names used anywhere in the prompt, in order of first use."""
        names: list[str] = []
        for _, template in self.sections:
            names += [n for n in PLACEHOLDER.findall(template) if n not in names]
        return names

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled (``KeyError`` if one has no value)."""
        return [{"role": role, "content": render_template(template, variables)}
                for role, template in self.sections]


def parse_prompt(text: str, source: str = "<string>") -> Prompt:
    """A ``Prompt`` from the text of a prompt file (front matter + ``## role`` sections)."""
    text = text.replace("\r\n", "\n")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    if not match:
        raise ValueError(f"{source}: a prompt file starts with front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: front matter is not valid YAML ({exc}); quote values "
                         "that contain ':' or braces") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: front matter must be 'key: value' lines, got {meta!r}")
    for key in ("name", "version"):
        if key not in meta:
            raise ValueError(f"{source}: front matter has no {key!r} (it has {sorted(meta)})")
    body = match.group(2)
    heads = list(_SECTION.finditer(body))
    if not heads or body[: heads[0].start()].strip():
        raise ValueError(f"{source}: the body must start with a '## system' or '## user' heading")
    sections = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(body)
        sections.append((head.group(1), body[head.end():end].strip("\n")))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Prompt(str(meta["name"]), int(meta["version"]), tuple(sections), meta, digest)


def prompt_versions(name: str, folder: Path | None = None) -> list[int]:
    """Published versions of prompt ``name``, oldest first."""
    path = (folder or prompts_dir()) / name
    if not path.is_dir():
        known = ", ".join(list_prompts(folder)) or "none"
        raise FileNotFoundError(f"no prompt named {name!r} in {path.parent}; known prompts: {known}")
    return sorted(int(m.group(1)) for p in path.iterdir() if (m := _VERSION_FILE.match(p.name)))


def list_prompts(folder: Path | None = None) -> list[str]:
    """Names of every prompt in ``folder`` (default ``data/prompts``)."""
    root = folder or prompts_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("v*.md")))


def load_prompt(name: str, version: int | None = None, folder: Path | None = None) -> Prompt:
    """Load prompt ``name`` at ``version`` (default: the latest) from ``data/prompts``."""
    versions = prompt_versions(name, folder)
    if not versions:
        raise FileNotFoundError(f"prompt {name!r} has no version files (v1.md, v2.md, ...)")
    chosen = versions[-1] if version is None else int(version)
    if chosen not in versions:
        raise FileNotFoundError(f"prompt {name!r} has no version {chosen}; it has "
                                f"{', '.join(f'v{v}' for v in versions)}")
    path = (folder or prompts_dir()) / name / f"v{chosen}.md"
    prompt = parse_prompt(path.read_text(encoding="utf-8"), str(path))
    if (prompt.name, prompt.version) != (name, chosen):
        raise ValueError(f"{path}: front matter says {prompt.name} v{prompt.version}, "
                         f"but the file is {name}/v{chosen}.md; make them agree")
    return Prompt(prompt.name, prompt.version, prompt.sections, prompt.meta, prompt.sha256, path)
