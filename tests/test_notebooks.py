"""Every source notebook (phase folders and notebooks/) is committed clean and has a parameters
cell; the ungraded ones in ``notebooks/`` execute headlessly with CI-sized parameters under
``pytest --nbval-lax``. Phase notebooks execute in the grading round trip instead
(``test_course_grading.py``), which makes the same check on the autograded source."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fixtures.course.submissions import FIXTURE_PHASE

from inferlearn.course.layout import Course
from inferlearn.course.runner import parameters_cell, run_parameters

REPO = Path(__file__).resolve().parent.parent
SOURCES = Course(REPO).source_notebooks()
UNGRADED = Course(REPO).ungraded_notebooks()
CELL_TIMEOUT_S = 600


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


CHECKED = SOURCES + sorted(FIXTURE_PHASE.glob("*.ipynb"))


@pytest.mark.parametrize("path", CHECKED, ids=ids(CHECKED))
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them "
                       "(Edit > Clear Outputs of All Cells, or `jupyter nbconvert --clear-output --inplace`)")


@pytest.mark.parametrize("path", CHECKED, ids=ids(CHECKED))
def test_notebook_has_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert parameters_cell(nb) is not None, (
        f"{path.name}: no code cell tagged `parameters` (papermill overrides it; see the template)")


def prepare_ci_copy(path: Path, folder: Path) -> Path:
    """The notebook with its CI parameters injected (not executed), beside copies of its assets."""
    import papermill

    folder.mkdir(parents=True, exist_ok=True)
    for asset in path.parent.iterdir():
        if asset.is_file() and asset.suffix != ".ipynb":
            shutil.copy(asset, folder / asset.name)
    params = run_parameters(nbformat.read(path, as_version=4), {}, full=False)
    copy = folder / path.name
    papermill.execute_notebook(str(path), str(copy), parameters=params, prepare_only=True,
                               progress_bar=False, log_output=False)
    return copy


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", UNGRADED, ids=ids(UNGRADED))
def test_notebook_executes_headlessly_and_passes_nbval_lax(path, tmp_path):
    """One headless run per ungraded notebook (with its CI parameters injected by papermill)
    proves both: every cell executes on the embedded backend, and nbval-lax passes. This run is
    not repeated with papermill's executor: ``make run`` does that."""
    copy = prepare_ci_copy(path, tmp_path / path.parent.name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
           f"--nbval-cell-timeout={CELL_TIMEOUT_S}", "-p", "no:cacheprovider",
           "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(copy)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"nbval-lax failed for {path.name}:\n{done.stdout[-3000:]}\n{done.stderr[-1000:]}"
