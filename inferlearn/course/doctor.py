"""``inferlearn doctor``: is this machine ready for the course? Each failing check says the fix.

Checks: Python version, the packages the course needs, the Jupyter kernel, the chosen backend
(it answers a request), the model files, llama.cpp (it generates on this CPU), chromadb (telemetry
off, an explicit embedding function) free disk space and the grading sandbox. Introduced in ``notebooks/00_start_here``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MIN_FREE_GB = 2.0
PYTHON_RANGE = ((3, 10), (3, 14))  # >= first, < second


@dataclass
class CheckResult:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python() -> CheckResult:
    """Python is in the range the course is tested on."""
    version = sys.version_info[:2]
    ok = PYTHON_RANGE[0] <= version < PYTHON_RANGE[1]
    return CheckResult("python", ok, f"Python {sys.version.split()[0]} at {sys.executable}",
                       "" if ok else "use Python 3.10 to 3.13: `make clean-venv && make setup` "
                       "with such a python3 first on PATH, or the conda environment.yml")


def check_packages() -> CheckResult:
    """Every dependency of ``inferlearn`` is installed in a version it allows."""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires("inferlearn") or []
    except metadata.PackageNotFoundError:
        return CheckResult("packages", False, "the inferlearn package is not installed",
                           "run `make setup` (or `pip install -e '.[dev]'` in the checkout)")
    problems, checked = [], 0
    for line in requirements:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        checked += 1
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} missing")
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            problems.append(f"{req.name} {have} (needs {req.specifier})")
    ok = not problems
    detail = f"{checked} requirements satisfied" if ok else "; ".join(problems)
    return CheckResult("packages", ok, detail, "" if ok else "run `make setup` to install them")


def check_kernel() -> CheckResult:
    """The ``python3`` Jupyter kernel runs this environment's Python (notebooks import inferlearn)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return CheckResult("kernel", False, "no python3 Jupyter kernel",
                           "run `python -m ipykernel install --sys-prefix` in the course environment")
    exe = spec.argv[0]
    ok = exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve()
    return CheckResult("kernel", ok, f"python3 kernel runs {exe} ({spec.resource_dir})",
                       "" if ok else f"that kernel is another Python; remove it (`jupyter kernelspec "
                       f"remove python3`) or run `{sys.executable} -m ipykernel install --sys-prefix`")


def check_backend() -> CheckResult:
    """The chosen backend answers: lists models (starting the local server if needed)."""
    try:
        from inferlearn.config import backend
        from inferlearn.llm import default_model, get_client

        name = backend()
        client = get_client(timeout=120.0, max_retries=0)
        models = [m.id for m in client.models.list().data]
        model = default_model()
    except ImportError as exc:
        return CheckResult("backend", False, f"cannot import the client ({exc})", "run `make setup`")
    except Exception as exc:  # any failure here is the learner's to fix: say what it was
        return CheckResult("backend", False, f"{type(exc).__name__}: {exc}"[:300], backend_fix())
    detail = f"{name}: {len(models)} model(s) served; default model {model}"
    return CheckResult("backend", True, detail)


def backend_fix() -> str:
    """What to do when the chosen backend does not answer."""
    from inferlearn.config import settings

    name = settings().backend.lower()
    if name == "openai":
        return "set OPENAI_API_KEY in .env (and check your network), or unset INFERLEARN_BACKEND"
    if name == "compatible":
        return ("set OPENAI_BASE_URL (e.g. http://localhost:11434/v1) and INFERLEARN_MODEL in .env, "
                "and start that server; or unset INFERLEARN_BACKEND for the local model")
    if name != "local":
        return "INFERLEARN_BACKEND must be local, openai or compatible (or unset)"
    return ("run `inferlearn models install`, then `inferlearn serve --status`; the server's log is "
            "in the runtime folder (`inferlearn serve --status` says where)")


def check_model_files() -> CheckResult:
    """The pinned model files are in the cache with the right sha256."""
    try:
        from inferlearn.config import models_dir
        from inferlearn.server.modelfiles import MODEL_FILES, is_verified
    except ImportError as exc:
        return CheckResult("model files", False, f"cannot check ({exc})", "run `make setup`")
    missing = [spec.name for spec in MODEL_FILES if not is_verified(spec)]
    ok = not missing
    detail = (f"{len(MODEL_FILES)} files verified in {models_dir()}" if ok
              else f"missing or corrupt: {', '.join(missing)}")
    return CheckResult("model files", ok, detail, "" if ok else "run `inferlearn models install`")


def check_llama() -> CheckResult:
    """On the local backend, llama.cpp generates with the chat model (in a child process)."""
    from inferlearn.config import backend
    from inferlearn.server.modelfiles import ModelFilesError, check_chat_model_runs

    try:
        name = backend()
    except ValueError:  # the backend check reports it, with the fix
        return CheckResult("llama.cpp", True, "not checked: INFERLEARN_BACKEND is not a backend")
    if name != "local":
        return CheckResult("llama.cpp", True, f"not needed: the backend is {name}")
    from inferlearn.server.modelfiles import CHAT_MODEL_FILES

    try:
        for model in CHAT_MODEL_FILES:
            check_chat_model_runs(timeout=120.0, model=model)
    except ModelFilesError as exc:
        detail, _, fix = str(exc).partition(" Fix: ")
        return CheckResult("llama.cpp", False, detail[:300], fix.rstrip(".") or "run `make setup`")
    return CheckResult("llama.cpp", True,
                       f"generated two tokens with each chat model ({', '.join(CHAT_MODEL_FILES)})")


def letter_embeddings(texts: list[str]) -> list[list[float]]:
    """A toy embedding (letter counts a-z): enough to prove chromadb stores and searches."""
    return [[float(t.lower().count(chr(97 + i))) + 1e-3 for i in range(26)] for t in texts]


def check_chromadb() -> CheckResult:
    """chromadb stores and finds a document, telemetry off, with an explicit embedding function."""
    try:
        import chromadb
        from chromadb.utils.embedding_functions import EmbeddingFunction

        from inferlearn.rag.vectors import chroma_client

        class LetterEmbeddings(EmbeddingFunction):
            def __init__(self) -> None:
                pass

            def __call__(self, input: list[str]) -> list[list[float]]:
                return letter_embeddings(list(input))

        with tempfile.TemporaryDirectory(prefix="inferlearn-doctor-") as tmp:
            client = chroma_client(tmp)
            docs = client.create_collection("doctor", embedding_function=LetterEmbeddings(),
                                            configuration={"hnsw": {"space": "cosine"}})
            docs.add(ids=["a", "b"], documents=["refund policy", "shipping times"])
            hit = docs.query(query_texts=["refunds"], n_results=1)["ids"][0][0]
            version = chromadb.__version__
    except Exception as exc:
        return CheckResult("chromadb", False, f"{type(exc).__name__}: {exc}"[:300],
                           "run `make setup`; if it persists, delete the chroma folder it names")
    ok = hit == "a"
    return CheckResult("chromadb", ok, f"chromadb {version}: stored and queried 2 vectors, telemetry off",
                       "" if ok else "chromadb returned the wrong neighbour; reinstall it with `make setup`")


def check_disk(path: Path | None = None) -> CheckResult:
    """At least ``MIN_FREE_GB`` free where the cache and the course live."""
    from inferlearn.config import cache_dir

    where = path or cache_dir()
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    ok = free_gb >= MIN_FREE_GB
    return CheckResult("disk", ok, f"{free_gb:.1f} GB free at {probe}",
                       "" if ok else f"free at least {MIN_FREE_GB:.0f} GB (models, indexes, build/), "
                       "or point INFERLEARN_CACHE at a bigger disk")


def check_sandbox() -> CheckResult:
    """The autograding sandbox (bubblewrap) runs a kernel with no network and hidden files."""
    from inferlearn.course.sandbox import probe

    ok, detail = probe()
    return CheckResult("sandbox", ok, detail, "" if ok else
                       f"{detail.split('; ', 1)[-1]} (only instructors' `make grade` needs it: "
                       "learners may skip it with --skip sandbox)")


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "python": check_python, "packages": check_packages, "kernel": check_kernel,
    "model files": check_model_files, "llama.cpp": check_llama, "chromadb": check_chromadb,
    "disk": check_disk, "backend": check_backend, "sandbox": check_sandbox,
}


def run_checks(skip: tuple[str, ...] = ()) -> list[CheckResult]:
    """Run every check not in ``skip``; a check that crashes counts as failed."""
    results = []
    for name, check in CHECKS.items():
        if name in skip:
            continue
        try:
            results.append(check())
        except Exception as exc:
            results.append(CheckResult(name, False, f"the check itself failed: {exc}", "report this"))
    return results


def format_results(results: list[CheckResult]) -> str:
    """One line per check, each failure followed by its fix."""
    lines = []
    for r in results:
        lines.append(f"{'ok  ' if r.ok else 'FAIL'}  {r.name:<12} {r.detail}")
        if not r.ok and r.fix:
            lines.append(f"      {'':<12} fix: {r.fix}")
    failed = sum(1 for r in results if not r.ok)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed: fix them top down")
    return "\n".join(lines)

