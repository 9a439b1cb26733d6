"""pyproject.toml and environment.yml install the same set; the Makefile and CI stay wired up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11+ to read pyproject.toml")


def normalise(lines: list[str]) -> dict[str, str]:
    """``{canonical name: sorted specifier}`` for requirement strings."""
    found = {}
    for line in lines:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-").replace(".", "-")
        found[name] = ",".join(sorted(str(s) for s in req.specifier))
    return found


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return normalise(lines)


def conda_pip_requirements() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return normalise([line for line in pip if not line.startswith("-")])


def test_environment_yml_installs_the_same_dependencies_as_pyproject():
    ours, conda = pyproject_requirements(), conda_pip_requirements()
    missing = {k: v for k, v in ours.items() if k not in conda}
    extra = {k: v for k, v in conda.items() if k not in ours}
    different = {k: (ours[k], conda[k]) for k in ours.keys() & conda.keys() if ours[k] != conda[k]}
    assert not (missing or extra or different), (
        f"environment.yml is out of step with pyproject.toml: missing {missing}, extra {extra}, "
        f"different ranges (pyproject, conda) {different}"
    )


def test_environment_yml_installs_the_course_itself_and_a_supported_python():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert python.split("=", 1)[1] + ".0" in SpecifierSet(requires)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip


def test_ci_runs_make_test_and_make_has_every_documented_target():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    for target in ("setup", "run", "test", "lab", "check", "release", "grade", "bench", "clean"):
        assert f"\n{target}:" in makefile, f"Makefile has no {target} target"


def test_inferlearn_command_has_the_course_subcommands():
    from inferlearn.cli import build_parser

    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("run", "check", "workspace", "doctor", "release", "grade"):
        assert name in choices


def test_environment_yml_builds_llama_cpp_with_the_makefiles_flags():
    import re

    makefile = (REPO / "Makefile").read_text()
    flags = re.search(r"^LLAMA_CMAKE_ARGS \?= (.+)$", makefile, re.M).group(1).split()
    comment = " ".join(line.lstrip("# ") for line in
                       (REPO / "environment.yml").read_text().splitlines() if line.startswith("#"))
    said = re.search(r'CMAKE_ARGS="([^"]+)"', comment).group(1).split()
    assert said == flags, f"environment.yml tells conda users {said}, the Makefile builds with {flags}"
