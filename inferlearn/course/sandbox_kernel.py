"""nbgrader's ``Execute`` with the kernel in the bubblewrap sandbox, and hidden-test redaction.

``nbgrader_config.py`` names :class:`SandboxExecute` instead of nbgrader's ``Execute``. It runs
the kernel in the sandbox only when the grader sets ``INFERLEARN_SANDBOX`` (``inferlearn grade``
does, unless ``--no-sandbox``); ``inferlearn check`` of a learner's own work runs as before.
The kernel talks over ZeroMQ ``ipc`` sockets in a folder mounted into the sandbox (loopback TCP
does not cross the network namespace) and is interrupted by a message, not a signal (a signal
would reach bwrap, not the kernel). :class:`RedactHiddenTests` removes any hidden-test line a
submission managed to print (e.g. from IPython's input history) from every output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from inferlearn.config import settings
from inferlearn.course import sandbox
from inferlearn.course.limits import TEXT_MIMETYPES

REDACTED = "[hidden test text removed]"


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in bwrap, reached over ipc sockets."""

    def sandbox_spec(self) -> sandbox.Spec:
        """The grader's sandbox settings (from ``INFERLEARN_SANDBOX``)."""
        return sandbox.Spec.from_env(settings().sandbox or "{}")

    async def _async_pre_start_kernel(self, **kw: Any):  # type: ignore[override]
        """A private run folder for the connection file and the sockets, then the usual start."""
        self._sandbox_home = Path(tempfile.mkdtemp(prefix="ilsb-", dir=self.sandbox_spec().run_dir or None))
        os.chmod(self._sandbox_home, 0o755)
        rundir = self._sandbox_home / "run"
        rundir.mkdir(mode=0o700)
        self._sandbox_uid: int | None = None
        if sandbox.is_root():
            self._sandbox_uid, self._uid_lock = sandbox.acquire_uid()
            os.chown(rundir, self._sandbox_uid, -1)
        self.transport = "ipc"
        self.connection_file = str(rundir / "kernel.json")
        self.ip = str(rundir / "k")
        self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's command wrapped in bwrap (its cwd: the notebook's autograded folder)."""
        cmd = super().format_kernel_cmd(extra_arguments)
        spec = self.sandbox_spec()
        if self._sandbox_uid is not None:
            os.chown(self.connection_file, self._sandbox_uid, -1)
        workdir = Path((self._launch_args or {}).get("cwd") or os.getcwd()).resolve()
        visible = [p for p in sorted(workdir.iterdir()) if not p.is_symlink() and (p.is_file() or p.is_dir())]
        return sandbox.bwrap_argv(cmd, workdir, visible, Path(self.connection_file).parent, spec,
                                  self._sandbox_uid)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """The usual clean-up, then no process of the sandbox left and its run folder removed."""
        await super()._async_cleanup_resources(restart=restart)
        if restart:
            return
        if getattr(self, "_sandbox_uid", None) is not None:
            sandbox.release_uid(self._sandbox_uid, self._uid_lock)
            self._sandbox_uid = None
        home = getattr(self, "_sandbox_home", None)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


class SandboxExecute(Execute):
    """nbgrader's ``Execute``; in the sandbox when ``INFERLEARN_SANDBOX`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if settings().sandbox:
            kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)


def hidden_test_lines(sources: list[str], min_chars: int = 8) -> list[str]:
    """The stripped lines between ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS`` markers."""
    found = []
    for source in sources:
        inside = False
        for line in source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= min_chars:
                found.append(line.strip())
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, lines: list[str]) -> str:
    """``text`` with every occurrence of a hidden line replaced."""
    for line in lines:
        if line in text:
            text = text.replace(line, REDACTED)
    return text


def redact_output(output: NotebookNode, lines: list[str]) -> None:
    """Redact one cell output in place."""
    if "text" in output:
        output["text"] = redact("".join(output["text"]), lines)
    for mimetype in TEXT_MIMETYPES:
        value = output.get("data", {}).get(mimetype)
        if isinstance(value, (str, list)):
            output["data"][mimetype] = redact("".join(value) if isinstance(value, list) else value, lines)
    if "evalue" in output:
        output["evalue"] = redact(str(output["evalue"]), lines)
    if "traceback" in output:
        output["traceback"] = [redact(str(line), lines) for line in output["traceback"]]


class RedactHiddenTests(Preprocessor):
    """Remove hidden-test source lines from every output of an autograded notebook."""

    enabled = Bool(True, help="nbconvert preprocessors are off unless enabled").tag(config=True)
    min_chars = Integer(8, help="shorter hidden lines are not redacted (too generic)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        """Look the notebook's hidden tests up in the gradebook, then redact every output."""
        from nbgrader.api import Gradebook, MissingEntry

        info = resources.get("nbgrader", {})
        try:
            with Gradebook(info["db_url"]) as gb:
                source_nb = gb.find_notebook(info["notebook"], info["assignment"])
                sources = [cell.source or "" for cell in source_nb.source_cells]
        except (KeyError, MissingEntry):
            sources = []
        sources += [cell.source for cell in nb.cells]
        lines = hidden_test_lines(sources, self.min_chars)
        if lines:
            for cell in nb.cells:
                for output in cell.get("outputs", []):
                    redact_output(output, lines)
        return nb, resources
