"""What every benchmark shares: writing its JSON report. (``make bench`` skips files named ``_*``.)

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path``
and they import it as ``from _common import write_json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def write_json(result: Any, out: str | Path) -> Path:
    """Write ``result`` as indented JSON to ``out`` (folders made as needed); say where on stderr."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return path
