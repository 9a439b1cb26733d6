"""The local server's life: run in the foreground, start detached on demand, find, stop.

A server started on demand is a proper daemon: a new session, stdin from /dev/null, output to a
log file (never the caller's pipes, or a CI job reading them waits for it), and it exits by itself
after ``INFERLEARN_IDLE_TIMEOUT`` seconds without a request (default 900). Its port and pid are
recorded in ``<runtime>/server.json``; a lock file makes concurrent callers share one server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from filelock import FileLock

from inferlearn.config import runtime_dir, settings

START_TIMEOUT_S = 120.0


def record_path() -> Path:
    """Where the running server's record lives."""
    return runtime_dir() / "server.json"


def log_path() -> Path:
    """The detached server's log file."""
    return runtime_dir() / "server.log"


def read_record() -> dict | None:
    """The recorded server, or None."""
    try:
        return json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_healthy(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when ``/health`` answers ok on ``host:port``."""
    try:
        reply = httpx.get(f"http://{host}:{port}/health", timeout=timeout)
        return reply.status_code == 200 and reply.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def running_server() -> dict | None:
    """The recorded server if its process lives and answers; a stale record is removed."""
    rec = read_record()
    if rec is None:
        return None
    if _pid_alive(rec.get("pid", -1)) and is_healthy(rec["port"], rec.get("host", "127.0.0.1")):
        return rec
    if not _pid_alive(rec.get("pid", -1)):
        record_path().unlink(missing_ok=True)
    return None


def _write_record(rec: dict) -> None:
    tmp = record_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    tmp.replace(record_path())


def _idle_watch(server, state, idle_timeout: float) -> None:
    while not server.should_exit:
        time.sleep(min(5.0, idle_timeout / 2))
        if time.time() - state.last_active > idle_timeout and state._inflight == 0:
            server.should_exit = True


def serve_forever(app, host: str, port: int, idle_timeout: float | None, record: bool) -> None:
    """Bind, record port and pid, serve until stopped or idle for ``idle_timeout`` seconds."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise RuntimeError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another "
                           "--port, or --port 0 for any free one") from None
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3))
    if idle_timeout:
        threading.Thread(target=_idle_watch, args=(server, app.state.inferlearn, idle_timeout),
                         daemon=True).start()
    if record:
        _write_record({"pid": os.getpid(), "port": port, "host": host, "started": time.time()})
    print(f"inferlearn server listening on http://{host}:{port}/v1 (pid {os.getpid()})", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        rec = read_record()
        if record and rec and rec.get("pid") == os.getpid():
            record_path().unlink(missing_ok=True)


def _spawn() -> subprocess.Popen:
    log = open(log_path(), "ab")
    cmd = [sys.executable, "-m", "inferlearn", "serve", "--port", "0", "--record"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True)
    log.close()
    # Reap it when it exits, so a finished server never lingers as a zombie of this process.
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc


def ensure_server(timeout: float = START_TIMEOUT_S) -> dict:
    """A healthy local server's record, starting a detached one if none runs."""
    rec = running_server()
    if rec:
        return rec
    with FileLock(str(runtime_dir() / "server.lock"), timeout=timeout):
        rec = running_server()
        if rec:
            return rec
        proc = _spawn()
        deadline = time.time() + timeout
        while time.time() < deadline:
            rec = read_record()
            if rec and rec.get("pid") == proc.pid and is_healthy(rec["port"]):
                return rec
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        proc.kill()
        tail = log_path().read_text(errors="replace")[-1500:] if log_path().exists() else ""
        raise RuntimeError(
            f"the local model server did not start within {timeout:.0f} s. Last lines of "
            f"{log_path()}:\n{tail}\nRun `inferlearn doctor` to see what is missing."
        )


def stop_server(timeout: float = 10.0) -> bool:
    """Stop the recorded server; True if one was running."""
    rec = read_record()
    if not rec or not _pid_alive(rec.get("pid", -1)):
        record_path().unlink(missing_ok=True)
        return False
    os.kill(rec["pid"], signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and _pid_alive(rec["pid"]):
        time.sleep(0.1)
    if _pid_alive(rec["pid"]):
        os.kill(rec["pid"], signal.SIGKILL)
    record_path().unlink(missing_ok=True)
    return True


def idle_timeout() -> float:
    """Seconds without a request before a detached server exits (``INFERLEARN_IDLE_TIMEOUT``)."""
    return settings().idle_timeout
