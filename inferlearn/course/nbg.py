"""Running nbgrader safely: one subprocess per step, a time limit, logs, readable failures.

Every nbgrader step runs as ``python -m nbgrader ...`` in its own process (and its own kernel),
so a submission that kills its kernel, loops forever or floods its output cannot take another
submission's grade with it. nbgrader 0.9.6 quirks handled here:

- it shells out to the ``alembic`` command, so this environment's ``bin/`` must be on PATH;
- it does not create the gradebook's folder;
- ``validate`` exits 0 whatever it finds, so scores are read from the gradebook instead;
- one failing notebook makes it delete the whole autograded assignment, so we grade
  notebook by notebook (``--notebook``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from inferlearn.course.layout import Course

DEFAULT_STEP_TIMEOUT_S = 900.0
COPY_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", ".env*")


@dataclass(frozen=True)
class StepResult:
    """What one nbgrader step did."""

    returncode: int
    seconds: float
    timed_out: bool
    log: Path

    @property
    def ok(self) -> bool:
        """True when nbgrader exited 0 within the time limit."""
        return self.returncode == 0 and not self.timed_out

    def reason(self, timeout: float | None = None) -> str:
        """Why the step failed, in words for an instructor or learner."""
        if self.timed_out:
            return f"stopped after {timeout or self.seconds:.0f} s (the whole notebook's time limit)"
        return explain_failure(self.log.read_text(errors="replace") if self.log.exists() else "")


FAILURE_PATTERNS = (
    ("NotJSONError", "the notebook file is not valid JSON (was it saved completely?)"),
    ("JSONDecodeError", "the notebook file is not valid JSON (was it saved completely?)"),
    ("Kernel died", "the kernel died while running it (os._exit, a crash or running out of memory)"),
    ("DeadKernelError", "the kernel died while running it (os._exit, a crash or running out of memory)"),
    ("became unresponsive", "the kernel stopped responding and could not be interrupted"),
    ("ValidationError", "the file is not a valid Jupyter notebook (nbformat validation failed)"),
    ("SchemaTooOldError", "the notebook's nbgrader metadata is from an older nbgrader"),
    ("No notebooks found", "no course notebook of that name is in the gradebook"),
)


def explain_failure(log_text: str) -> str:
    """Turn an nbgrader log into one line that says what went wrong."""
    for needle, words in FAILURE_PATTERNS:
        if needle in log_text:
            return words
    errors = [line for line in log_text.splitlines() if "| ERROR]" in line or "Error:" in line]
    return errors[0].strip()[:300] if errors else "nbgrader failed; see its log"


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs: this Python's ``bin/`` first on PATH (for ``alembic``)."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.pop("INFERLEARN_SANDBOX", None)  # only the grader sets it, per step
    return env


def kill_tree(pid: int) -> None:
    """Kill a process and everything it started, kernels in their own sessions included."""
    try:
        parent = psutil.Process(pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def run_nbgrader(
    course: Course, args: list[str], log: Path, timeout: float | None = DEFAULT_STEP_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> StepResult:
    """Run ``nbgrader ARGS`` in the course root, output to ``log``, killed after ``timeout`` s."""
    course.course_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nbgrader", *args], cwd=course.root, env={**nbgrader_env(), **(env or {})},
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            code, timed_out = proc.wait(), True
    return StepResult(code, time.monotonic() - started, timed_out, log)


def config_text(root: Path, base_config: Path) -> str:
    """An ``nbgrader_config.py`` for a private course that reuses the course's settings."""
    db = root / "build" / "course" / "gradebook.db"
    return (
        "# A private course: the inferlearn course's settings, moved to this folder.\n"
        "import os\n"
        "c = get_config()  # noqa: F821\n"
        f"BASE = {str(base_config)!r}\n"
        "if not os.path.isfile(BASE):\n"
        "    raise FileNotFoundError(f'the course settings {BASE} are gone')\n"
        "load_subconfig(BASE)  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {('sqlite:///' + str(db))!r}\n"
    )


def make_private_course(dest: Path, phase_dirs: list[Path], base_config: Path) -> Course:
    """A throw-away course in ``dest`` with copies of ``phase_dirs`` and the course settings."""
    dest.mkdir(parents=True, exist_ok=True)
    for phase in phase_dirs:
        shutil.copytree(phase, dest / phase.name, ignore=COPY_IGNORE, dirs_exist_ok=True)
    (dest / "nbgrader_config.py").write_text(config_text(dest.resolve(), base_config.resolve()))
    course = Course(dest.resolve())
    course.course_dir.mkdir(parents=True, exist_ok=True)
    return course


def generate_assignment(course: Course, phase: str, timeout: float | None = 600) -> StepResult:
    """``nbgrader generate_assignment PHASE --force`` into ``build/course/release/PHASE``."""
    log = course.build / "logs" / "release" / f"{phase}.log"
    result = run_nbgrader(course, ["generate_assignment", phase, "--force"], log, timeout)
    if not result.ok:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(
            f"nbgrader could not build the release of {phase}: {result.reason(timeout)}. "
            f"Fix the source notebooks in {course.root / phase}; log {log}:\n{tail}"
        )
    return result


def autograde_notebook(
    course: Course, phase: str, student: str, notebook: str,
    timeout: float | None = DEFAULT_STEP_TIMEOUT_S, cell_timeout: float | None = None,
    db_url: str | None = None, sandbox_env: str | None = None,
) -> StepResult:
    """Autograde one submitted notebook in its own nbgrader process; with ``sandbox_env`` (a
    :class:`~inferlearn.course.sandbox.Spec` as JSON) its kernel runs in the sandbox, with
    ``db_url`` it writes that gradebook (a worker's) instead of the course's."""
    args = ["autograde", phase, f"--student={student}", f"--notebook={notebook}", "--force"]
    if cell_timeout is not None:
        args.append(f"--Execute.timeout={int(cell_timeout)}")
    if db_url:
        args.append(f"--CourseDirectory.db_url={db_url}")
    log = course.build / "logs" / "autograde" / student / phase / f"{notebook}.log"
    return run_nbgrader(course, args, log, timeout, {"INFERLEARN_SANDBOX": sandbox_env} if sandbox_env else None)


def generate_feedback(
    course: Course, phase: str, student: str, timeout: float | None = 300, db_url: str | None = None,
) -> StepResult:
    """Feedback HTML for one student's autograded notebooks of one phase."""
    log = course.build / "logs" / "feedback" / student / f"{phase}.log"
    args = ["generate_feedback", phase, f"--student={student}", "--force"]
    if db_url:
        args.append(f"--CourseDirectory.db_url={db_url}")
    return run_nbgrader(course, args, log, timeout)
