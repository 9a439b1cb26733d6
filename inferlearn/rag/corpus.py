"""Load the Larkspur corpus: markdown pages with YAML front matter, split into sections.

Every page in ``data/corpus/`` starts with front matter (``id``, ``title``, ``product``,
``doc_type``, ``version``, ``updated``, ``audience``), then markdown with ``#``/``##``/``###``
headings, tables and fenced code. ``load_corpus()`` reads them into ``Doc`` objects and checks
them (every problem is listed at once); ``doc.sections`` cuts a page at its ``##``/``###``
headings into ``Section`` objects whose **anchor** is the slug of the heading path::

    docs = load_corpus()
    doc = docs_by_id(docs)["policy-refunds-2025"]
    [s.ref for s in doc.sections][:3]
    # ['policy-refunds-2025#intro', 'policy-refunds-2025#summary', 'policy-refunds-2025#monthly-plans']

Anchors are stable: they depend only on the heading text, so editing one section does not rename
the others. The text before the first ``##`` is the ``intro`` section; a ``###`` under a ``##``
gets ``<h2-slug>/<h3-slug>``; a repeated path gets ``-2``, ``-3``. Lines inside fenced code are
never headings (``# v1`` in a shell block is a comment).

Normalisation: UTF-8 with or without BOM, line endings to ``\\n``, Unicode NFC, trailing spaces
removed, front-matter values as strings (YAML reads ``version: 2024`` as a number and
``updated: 2025-02-01`` as a date; here both are text).
Introduced in ``phase2_rag/01_ingestion_and_chunking``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from inferlearn.larkspur import PRODUCTS

REQUIRED_FIELDS = ("id", "title", "product", "doc_type", "version", "updated", "audience")
METADATA_FIELDS = ("doc_id", "title", "product", "doc_type", "version", "updated", "audience")
INTRO = "intro"

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9.\-_]*$")


class CorpusError(ValueError):
    """The corpus has problems; ``problems`` lists every one (file and what is wrong)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the corpus:\n  {shown}{more}")


def slugify(text: str) -> str:
    """A URL-fragment slug: lower case, markdown and punctuation dropped, words joined by ``-``.

    ``slugify("Refunds: eligibility & timing (2025)") == "refunds-eligibility-timing-2025"``;
    letters outside ASCII are kept (``"Über uns" -> "über-uns"``).
    """
    text = unicodedata.normalize("NFC", text).lower()
    text = re.sub(r"`([^`]*)`", r"\1", text)          # inline code keeps its text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their label
    text = re.sub(r"[^\w\s-]", " ", text)
    return re.sub(r"[\s_-]+", "-", text).strip("-")


def normalize_text(text: str) -> str:
    """Text as the corpus stores it: no BOM, ``\\n`` line endings, NFC, no trailing spaces."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def normalize_space(text: str) -> str:
    """Whitespace runs collapsed to one space (and NFC): how quotes are compared with pages."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True)
class Section:
    """A slice of a page between two headings. ``start``/``end`` index ``doc.text``."""

    doc_id: str
    anchor: str
    heading_path: tuple[str, ...]
    level: int
    start: int
    end: int
    text: str

    @property
    def ref(self) -> str:
        """``<doc_id>#<anchor>``: how the golden set and citations name a section."""
        return f"{self.doc_id}#{self.anchor}"

    @property
    def heading(self) -> str:
        """The section's own heading ('' for the intro)."""
        return self.heading_path[-1] if self.heading_path else ""

    @property
    def body(self) -> str:
        """The text without its heading line."""
        if self.level == 0:
            return _strip_title(self.text)
        return self.text.split("\n", 1)[1].strip() if "\n" in self.text else ""


@dataclass
class Doc:
    """One corpus page: front-matter fields, the markdown body (``text``) and its sections."""

    id: str
    title: str
    product: str
    doc_type: str
    version: str
    updated: str
    audience: str
    text: str
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, str]:
        """The front matter as flat string metadata (``doc_id`` instead of ``id``)."""
        return {"doc_id": self.id, "title": self.title, "product": self.product,
                "doc_type": self.doc_type, "version": self.version, "updated": self.updated,
                "audience": self.audience}

    @cached_property
    def sections(self) -> list[Section]:
        """The page cut at its ``##`` and ``###`` headings (see ``split_sections``)."""
        return split_sections(self.text, self.id)

    def section(self, anchor: str) -> Section:
        """The section with this anchor, or a KeyError listing the anchors that exist."""
        for section in self.sections:
            if section.anchor == anchor:
                return section
        known = ", ".join(s.anchor for s in self.sections)
        raise KeyError(f"{self.id} has no section {anchor!r}; its anchors are: {known}")

    def to_passage(self) -> dict[str, Any]:
        """The whole page as a passage dict ``{"id", "text", "title", "metadata"}``."""
        return {"id": self.id, "text": self.text, "title": self.title, "metadata": self.metadata}


def _heading_lines(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line number, level, heading text) of every heading outside fenced code."""
    found, fence = [], None
    for number, line in enumerate(lines):
        opener = _FENCE.match(line)
        if opener:
            if fence is None:
                fence = opener.group(1)
            elif opener.group(1) == fence:
                fence = None
            continue
        if fence is None:
            match = _HEADING.match(line)
            if match:
                found.append((number, len(match.group(1)), match.group(2).strip()))
    return found


def split_sections(text: str, doc_id: str = "doc", max_level: int = 3) -> list[Section]:
    """Sections of a markdown page, cut at headings of level 2..``max_level``.

    The leading ``#`` title line belongs to the ``intro`` section (dropped when it holds nothing
    else); deeper headings stay inside their section. Anchors are slugs of the heading path.
    """
    if not 2 <= max_level <= 6:
        raise ValueError(f"max_level ({max_level}) must be between 2 and 6")
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    cuts = [(n, lvl, h) for n, lvl, h in _heading_lines(lines) if 2 <= lvl <= max_level]
    bounds = [(0, 0, "")] + cuts
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, (line_no, level, heading) in enumerate(bounds):
        end_line = bounds[index + 1][0] if index + 1 < len(bounds) else len(lines)
        start, end = offsets[line_no], min(offsets[end_line], len(text))
        raw = text[start:end]
        chunk = raw.strip("\n")
        start += len(raw) - len(raw.lstrip("\n"))
        end = start + len(chunk)
        if level == 0:
            if not _strip_title(chunk):
                continue
            anchor, heading_path = INTRO, ()
        else:
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
            heading_path = tuple(h for _, h in path)
            anchor = "/".join(slugify(h) or "section" for h in heading_path)
        seen[anchor] = seen.get(anchor, 0) + 1
        if seen[anchor] > 1:
            anchor = f"{anchor}-{seen[anchor]}"
        sections.append(Section(doc_id, anchor, heading_path, level, start, end, chunk))
    return sections


def _strip_title(text: str) -> str:
    """The intro without a leading ``# Title`` line."""
    lines = text.strip().split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _as_text(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()[:10]
    return "" if value is None else str(value).strip()


def split_front_matter(text: str, source: str = "<text>") -> tuple[dict[str, Any], str]:
    """(front matter dict, markdown body) of a page; ValueError naming ``source`` if malformed."""
    text = normalize_text(text)
    if not text.startswith("---\n"):
        raise ValueError(f"{source}: no front matter (the file must start with a '---' line)")
    end = text.find("\n---\n", 3)
    if end < 0 and text.endswith("\n---"):
        end = len(text) - 4
    if end < 0:
        raise ValueError(f"{source}: the front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: front matter is not valid YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: front matter must be a mapping of fields, got {type(meta).__name__}")
    return meta, text[end + 5:].strip("\n") + "\n"


def check_front_matter(meta: dict[str, Any], source: str, expected_id: str | None = None) -> list[str]:
    """Problems with one page's front matter (empty list when valid)."""
    problems = []
    missing = [f for f in REQUIRED_FIELDS if not _as_text(meta.get(f))]
    if missing:
        problems.append(f"{source}: missing or empty front-matter field(s): {', '.join(missing)}")
    doc_id = _as_text(meta.get("id"))
    if doc_id and not _ID.match(doc_id):
        problems.append(f"{source}: id {doc_id!r} must be lower case letters, digits, '.', '-' or '_'")
    if doc_id and expected_id is not None and doc_id != expected_id:
        problems.append(f"{source}: id {doc_id!r} differs from the file name {expected_id!r}")
    product = _as_text(meta.get("product"))
    if product and product not in PRODUCTS:
        problems.append(f"{source}: product {product!r} is not one of {', '.join(PRODUCTS)}")
    updated = _as_text(meta.get("updated"))
    if updated and not _DATE.match(updated):
        problems.append(f"{source}: updated {updated!r} must be a date like 2025-02-01")
    return problems


def parse_doc(text: str, source: str = "<text>", expected_id: str | None = None) -> Doc:
    """A ``Doc`` from the text of one page; ValueError listing what is wrong."""
    meta, body = split_front_matter(text, source)
    problems = check_front_matter(meta, source, expected_id)
    if problems:
        raise CorpusError(problems)
    fields = {f: _as_text(meta[f]) for f in REQUIRED_FIELDS}
    extra = {k: v for k, v in meta.items() if k not in REQUIRED_FIELDS}
    return Doc(**fields, text=body, path=source, extra=extra)


def load_doc(path: str | Path) -> Doc:
    """One page from a ``.md`` file; its ``id`` must equal the file name."""
    path = Path(path)
    return parse_doc(path.read_text(encoding="utf-8-sig"), str(path), expected_id=path.stem)


def corpus_dir() -> Path:
    """``data/corpus`` (found with ``inferlearn.data.data_dir``)."""
    from inferlearn.data import data_dir

    return data_dir() / "corpus"


def load_corpus(folder: str | Path | None = None, products: Iterable[str] | None = None) -> list[Doc]:
    """Every ``*.md`` page in ``folder`` (default ``data/corpus``), sorted by id.

    Raises ``CorpusError`` listing every bad page (missing fields, id unlike its file name,
    duplicate ids) rather than stopping at the first; ``products`` keeps only those products.
    Introduced in ``phase1_llm_api/05_tool_use_loop``.
    """
    folder = Path(folder) if folder is not None else corpus_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder {folder} does not exist")
    docs, problems, seen = [], [], {}
    for path in sorted(folder.glob("*.md")):
        if path.name.upper() == "README.MD":
            continue
        try:
            doc = load_doc(path)
        except CorpusError as exc:
            problems.extend(exc.problems)
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
            continue
        if doc.id in seen:
            problems.append(f"{path}: id {doc.id!r} is also used by {seen[doc.id]}")
        seen[doc.id] = path
        docs.append(doc)
    if problems:
        raise CorpusError(problems)
    if products is not None:
        wanted = set(products)
        docs = [d for d in docs if d.product in wanted]
    return sorted(docs, key=lambda d: d.id)


def docs_by_id(docs: Iterable[Doc]) -> dict[str, Doc]:
    """``{doc.id: doc}``."""
    return {doc.id: doc for doc in docs}


def sections_by_ref(docs: Iterable[Doc]) -> dict[str, Section]:
    """``{"<doc_id>#<anchor>": section}`` over every page."""
    return {s.ref: s for doc in docs for s in doc.sections}
