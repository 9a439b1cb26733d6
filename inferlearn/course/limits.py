"""An nbgrader preprocessor that caps how many characters one cell's output may keep.

nbgrader's ``LimitOutput`` counts lines, so a single 50 MB line (``print("x" * 50_000_000)``)
or a huge ``repr`` shown as a cell result passes through into the autograded notebook and the
feedback HTML. ``nbgrader_config.py`` adds this preprocessor right after ``LimitOutput``.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer

TEXT_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def truncate_text(text: str, max_chars: int) -> str:
    """Keep the first ``max_chars`` characters of ``text`` and say how much was cut."""
    if max_chars < 0 or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n... output truncated: {len(text) - max_chars:,} more characters ...\n"


def limit_output(output: NotebookNode, max_chars: int) -> NotebookNode:
    """Truncate the text of one cell output in place and return it."""
    if output.get("output_type") == "stream":
        output["text"] = truncate_text("".join(output.get("text", "")), max_chars)
    elif output.get("output_type") in ("execute_result", "display_data"):
        data = output.get("data", {})
        for mimetype in TEXT_MIMETYPES:
            value = data.get(mimetype)
            if isinstance(value, list):
                value = "".join(value)
            if isinstance(value, str):
                data[mimetype] = truncate_text(value, max_chars)
    elif output.get("output_type") == "error":
        output["evalue"] = truncate_text(str(output.get("evalue", "")), max_chars)
        output["traceback"] = [truncate_text(line, max_chars) for line in output.get("traceback", [])]
    return output


class LimitOutputSize(Preprocessor):
    """Cap each text output of a code cell at ``max_chars`` characters (-1: no limit)."""

    enabled = Bool(True, help="nbconvert preprocessors are off unless enabled").tag(config=True)
    max_chars = Integer(20_000, help="maximum characters kept per output (-1 means no limit)").tag(
        config=True
    )

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Truncate every output of a code cell."""
        if cell.get("cell_type") == "code":
            for output in cell.get("outputs", []):
                limit_output(output, self.max_chars)
        return cell, resources
