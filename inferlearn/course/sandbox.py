"""The autograding sandbox: each submission's kernel runs in bubblewrap (``bwrap``).

Inside the sandbox a kernel sees the operating system, the Python environment and the
``inferlearn`` package read-only, its own autograded folder as a private writable copy (a
size-capped tmpfs holding read-only views of the files nbgrader put there), a private ``/tmp``,
and nothing else: the course source, the gradebook, the release and the other submissions are
not mounted. The network, PIDs, IPC and hostname are unshared, so the kernel talks to nbgrader
over ZeroMQ ``ipc`` sockets in a folder mounted into both. Limits (``prlimit``) cap address space,
processes (threads count), file size, CPU time and core dumps. Every process in the sandbox dies
with it: bwrap's ``--die-with-parent`` and the PID namespace, whose init takes everyone with it.

Two modes, chosen by who grades:

- **root** (CI, a grading server): bwrap needs no user namespace; the kernel drops to an
  unprivileged uid that no other kernel on the machine holds (61000-61255, taken with a lock file,
  so the process limit of one sandbox never counts another's and its clean-up kills only its own)
  with no capabilities left.
- **a normal user**: bwrap makes a user namespace (``kernel.unprivileged_userns_clone`` must allow
  it); the kernel keeps the instructor's uid, outside of which it can see nothing.

Introduced for instructors in README "For instructors"; ``inferlearn doctor`` runs :func:`probe`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from inferlearn.config import models_dir, settings

BASE_UID = 61000
UID_COUNT = 256
INSTALL_FIX = "install bubblewrap: `sudo apt-get install -y bubblewrap` (Debian/Ubuntu; `dnf install bubblewrap` on Fedora)"
USERNS_FIX = ("let unprivileged users create user namespaces (`sudo sysctl -w kernel.unprivileged_userns_clone=1`"
              " and, on Ubuntu 24.04+, `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`), "
              "or grade as root")
ENV_VAR = "INFERLEARN_SANDBOX"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel."""

    memory_mb: int = 3072      # address space (RLIMIT_AS): numpy + pandas + matplotlib need ~1.5 GB of it
    processes: int = 96        # processes and threads of the sandbox's uid (RLIMIT_NPROC)
    file_mb: int = 64          # largest file it may write (RLIMIT_FSIZE)
    cpu_s: int = 900           # CPU seconds (RLIMIT_CPU), on top of the wall-clock time limit
    tmp_mb: int = 256          # size of its private /tmp and of its writable folder (tmpfs each)


@dataclass(frozen=True)
class Spec:
    """Everything the kernel manager in the nbgrader process needs, passed in the environment."""

    limits: Limits = Limits()
    readonly: tuple[str, ...] = ()
    run_dir: str = ""  # the grading run's folder for kernel run folders (removed after the run)

    def to_env(self) -> str:
        """This spec as the JSON text of ``INFERLEARN_SANDBOX``."""
        return json.dumps({"limits": asdict(self.limits), "readonly": list(self.readonly), "run_dir": self.run_dir})

    @classmethod
    def from_env(cls, text: str) -> Spec:
        """The spec the grader put in ``INFERLEARN_SANDBOX``."""
        data = json.loads(text)
        return cls(Limits(**data["limits"]), tuple(data["readonly"]), data.get("run_dir", ""))


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot create its namespaces here; the message names the fix."""


def is_root() -> bool:
    """True when grading runs as root (the kernel then drops to an unprivileged uid)."""
    return os.geteuid() == 0


def lock_dir() -> Path:
    """Where the uid locks live (root's own folder, refused if someone else made it)."""
    import tempfile

    path = Path(tempfile.gettempdir()) / f"inferlearn-sandbox-uids-{os.geteuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != os.geteuid():
        raise SandboxUnavailable(f"{path} belongs to someone else; remove it")
    return path


def acquire_uid() -> tuple[int, int]:
    """A sandbox uid no other kernel holds, and the locked file descriptor that holds it
    (released by :func:`release_uid`, or by the OS when the grader dies)."""
    for uid in range(BASE_UID, BASE_UID + UID_COUNT):
        fd = os.open(lock_dir() / f"{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        kill_uid(uid)  # left over from a grader that died: nobody else can hold this uid now
        return uid, fd
    raise SandboxUnavailable(f"all {UID_COUNT} sandbox uids are in use; grade with fewer --jobs")


def release_uid(uid: int, fd: int) -> None:
    """Kill whatever still runs as ``uid``, then free it."""
    try:
        kill_uid(uid)
    finally:
        os.close(fd)


def system_paths() -> list[str]:
    """Read-only system folders every kernel needs (those that exist here)."""
    return [p for p in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt") if os.path.exists(p)]


def default_readonly() -> list[str]:
    """The Python environment, the inferlearn package, its ``data/`` and the model files."""
    import inferlearn

    package = Path(inferlearn.__file__).resolve().parent
    paths = [sys.prefix, sys.base_prefix, str(package)]
    data = package.parent / "data"
    if data.is_dir():
        paths.append(str(data))
    models = models_dir()
    if models.is_dir():
        paths.append(str(models.resolve()))
    return sorted({str(Path(p).resolve()) for p in paths})


def namespace_args(root: bool) -> list[str]:
    """bwrap's namespaces: all but the user namespace for root, all of them otherwise."""
    common = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    return common if root else ["--unshare-user", *common]


def limit_args(limits: Limits) -> list[str]:
    """``prlimit`` options (soft = hard, so the kernel cannot raise them)."""
    mb = 1024 * 1024
    return [f"--as={limits.memory_mb * mb}", f"--nproc={limits.processes}", f"--fsize={limits.file_mb * mb}",
            f"--cpu={limits.cpu_s}", "--core=0"]


def parent_dirs(path: str | Path) -> list[str]:
    """``--dir`` options making each parent of ``path`` traversable (bwrap would copy a parent's
    mode from the host: a 0700 ``/root`` would hide a Python installed under it)."""
    parents = [str(p) for p in reversed(Path(path).parents) if str(p) != "/"]
    return [arg for parent in parents for arg in ("--perms", "0755", "--dir", parent)]


def mount_args(workdir: Path, visible_files: list[Path], rundir: Path, readonly: list[str], tmp_mb: int) -> list[str]:
    """The file system: system and environment read-only, a private /tmp, the writable folder."""
    args = ["--dev", "/dev", "--proc", "/proc"]
    for path in system_paths():
        args += ["--ro-bind-try", path, path]
    for path in readonly:
        if os.path.exists(path):
            args += [*parent_dirs(path), "--ro-bind", path, path]
    size = str(tmp_mb * 1024 * 1024)
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    args += [*parent_dirs(workdir), "--perms", "0777", "--size", size, "--tmpfs", str(workdir)]
    for file in visible_files:
        args += ["--ro-bind", str(file), str(workdir / file.name)]
    args += [*parent_dirs(rundir), "--bind", str(rundir), str(rundir), "--chdir", str(workdir)]
    return args


def env_args(readonly: list[str], package_parent: str) -> list[str]:
    """A clean environment: nothing of the grader's leaks in."""
    env = {"HOME": "/tmp", "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "PYTHONPATH": package_parent, "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
           "NBGRADER_EXECUTION": "autograde", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env["INFERLEARN_MODELS"], env["INFERLEARN_BACKEND"] = str(models_dir()), settings().backend
    args = ["--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def bwrap_argv(
    command: list[str], workdir: Path, visible_files: list[Path], rundir: Path, spec: Spec,
    uid: int | None = None,
) -> list[str]:
    """The full command line that runs ``command`` in the sandbox (as ``uid`` when root)."""
    import inferlearn

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bwrap is not installed; {INSTALL_FIX}")
    root = is_root()
    readonly = list(spec.readonly) or default_readonly()
    argv = [bwrap, *namespace_args(root), *mount_args(workdir, visible_files, rundir, readonly, spec.limits.tmp_mb),
            *env_args(readonly, str(Path(inferlearn.__file__).resolve().parent.parent))]
    if root:
        if uid is None or not BASE_UID <= uid < BASE_UID + UID_COUNT:
            raise ValueError(f"a root-mode sandbox needs a uid from acquire_uid(), not {uid!r}")
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--",
                 "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all"]
    else:
        argv += ["--disable-userns", "--"]
    return argv + ["prlimit", *limit_args(spec.limits), "--", *command]


PROBE_SCRIPT = (
    "import os, socket\n"
    "assert not os.path.exists({hidden!r}), 'a hidden folder is visible'\n"
    "try:\n"
    "    socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
    "    raise SystemExit('the network is reachable')\n"
    "except OSError:\n"
    "    pass\n"
    "print('uid', os.getuid())\n"
)


def probe(timeout: float = 30.0) -> tuple[bool, str]:
    """Run a tiny sandboxed Python: ``(True, what it printed)`` or ``(False, why, with the fix)``."""
    import tempfile

    if shutil.which("bwrap") is None:
        return False, f"bwrap is not installed; {INSTALL_FIX}"
    with tempfile.TemporaryDirectory(prefix="ilsb-probe-") as tmp:
        hidden = Path(tmp) / "hidden"
        hidden.mkdir()
        rundir = Path(tmp) / "run"
        rundir.mkdir()
        os.chmod(tmp, 0o755)
        uid, fd = acquire_uid() if is_root() else (None, -1)
        try:
            argv = bwrap_argv([sys.executable, "-c", PROBE_SCRIPT.format(hidden=str(hidden))],
                              Path(tmp) / "work", [], rundir, Spec(), uid)
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"the sandboxed probe did not finish in {timeout:.0f} s"
        finally:
            if uid is not None:
                release_uid(uid, fd)
    if done.returncode == 0:
        return True, f"bwrap works ({'root mode' if is_root() else 'user namespace'}; kernel {done.stdout.strip()})"
    return False, explain_probe(done.stderr.strip() or done.stdout.strip())


def explain_probe(message: str) -> str:
    """Why bwrap failed, with the fix."""
    lowered = message.lower()
    if "namespace" in lowered or "operation not permitted" in lowered or "permission denied" in lowered:
        return f"bwrap cannot create its namespaces here ({message[:200]}); {USERNS_FIX}"
    return f"the sandbox probe failed: {message[:300]}"


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` with the fix when sandboxed grading cannot run."""
    ok, detail = probe()
    if not ok:
        raise SandboxUnavailable(
            f"sandboxed grading is not available: {detail}. Fix that (then `inferlearn doctor` shows "
            "the sandbox as ok), or pass --no-sandbox to grade unprotected (only for submissions you trust)"
        )


def processes_of(*uids: int) -> list[int]:
    """PIDs of the processes running as one of ``uids`` (root mode: sandboxes)."""
    import psutil

    wanted, found = set(uids), []
    for proc in psutil.process_iter(["uids"]):
        ids = proc.info.get("uids")
        if ids is not None and wanted & {ids.real, ids.effective}:
            found.append(proc.pid)
    return found


def all_sandbox_processes() -> list[int]:
    """PIDs running as any sandbox uid (root mode)."""
    return processes_of(*range(BASE_UID, BASE_UID + UID_COUNT))


def kill_uid(uid: int, timeout: float = 5.0) -> int:
    """Kill every process of a sandbox uid (root mode only); how many there were."""
    import psutil

    if not is_root() or uid < BASE_UID:
        return 0
    procs = []
    for pid in processes_of(uid):
        try:
            proc = psutil.Process(pid)
            proc.kill()
            procs.append(proc)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=timeout)
    return len(procs)
