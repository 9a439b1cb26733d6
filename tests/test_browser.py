"""The learner's first hour, in a real browser: JupyterLab, 00_start_here, an exercise, a check.

Playwright (the PyPI package) drives Debian's ``chromium`` (Playwright's own browser download
cannot work offline). JupyterLab runs on a free loopback port on a fresh workspace built by
``inferlearn workspace`` in a temporary copy of the course. Screenshots go to ``build/browser/``.
Skipped, with the reason, when chromium or playwright is missing (``make browser-deps``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

from inferlearn import config

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "browser"
CHROMIUM = config.settings().chromium
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COURSE_PARTS = ("notebooks", "data", "nbgrader_config.py", "pyproject.toml")
EXERCISE = "phase1_llm_api/01_first_calls_and_tokens.ipynb"
ANSWER = '''def count_message_tokens(messages, count, per_message=3, per_reply=3):
    """Estimated prompt tokens of a chat request: per message, overhead + content (+ name)."""
    total = per_reply
    for message in messages:
        total += per_message
        if message.get("content") is not None:
            total += count(message["content"])
        if message.get("name"):
            total += count(message["name"]) + 1
    return total
'''

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

if not CHROMIUM.exists():
    pytest.skip(f"no browser at {CHROMIUM}: `apt-get install chromium` (or `make browser-deps`), "
                "or point INFERLEARN_CHROMIUM at one", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: `make browser-deps` "
    "(pip install playwright; it drives the system chromium, no browser download)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_course(dest: Path) -> Path:
    """A temporary course: the source notebooks, data and settings, no build/ or workspace/."""
    for name in COURSE_PARTS:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dest / name)
    for phase in sorted(REPO.glob("phase*")):
        if any(phase.glob("*.ipynb")):
            shutil.copytree(phase, dest / phase.name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a fresh workspace of a temporary course: yields (url, token, course root)."""
    root = copy_course(tmp_path_factory.mktemp("course"))
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "INFERLEARN_BACKEND": "local"}
    own_runtime = not os.environ.get("INFERLEARN_RUNTIME")
    if own_runtime:
        env["INFERLEARN_RUNTIME"] = str(tmp_path_factory.mktemp("runtime"))
    subprocess.run([sys.executable, "-m", "inferlearn", "workspace", "--root", str(root)],
                   env=env, check=True, capture_output=True, timeout=600)
    port, token = free_port(), secrets.token_hex(16)
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--allow-root", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root / 'workspace'}"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert server.poll() is None, f"JupyterLab exited: {(home / 'lab.log').read_text()[-2000:]}"
            return ready(url, token)

        wait_until(up, 180, f"JupyterLab did not answer; see {home / 'lab.log'}")
        yield url, token, root, env
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if own_runtime:
            subprocess.run([sys.executable, "-m", "inferlearn", "serve", "--stop"], env=env,
                           capture_output=True, timeout=60)


def ready(url: str, token: str) -> bool:
    try:
        return httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(condition, seconds: float, message: str, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(message)


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    """A chromium page (fresh profile, no network beyond loopback) logged in to the Lab."""
    url, token, _, _ = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS[1:], viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/lab?token={token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        yield page
        context.close()


def open_notebook(page, lab, path: str) -> None:
    """Open a workspace notebook in the Lab and wait until its kernel is idle."""
    page.goto(f"{lab[0]}/lab/tree/{path}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=120_000)
    wait_kernel_idle(page, lab, path, 180)
    news = page.get_by_role("button", name="No", exact=True)  # "notified about Jupyter news?"
    if news.count():
        news.first.click()


def kernel_state(url: str, token: str, path: str) -> str | None:
    """The execution state of the kernel of the notebook at ``path``, from the server's API."""
    sessions = httpx.get(f"{url}/api/sessions", params={"token": token}, timeout=10).json()
    return next((s["kernel"]["execution_state"] for s in sessions if s["path"] == path), None)


def wait_kernel_idle(page, lab, path: str, seconds: float) -> None:
    """Until the notebook's kernel is idle, the Lab says so, and no cell waits (``[*]``)."""
    url, token = lab[0], lab[1]

    def idle() -> bool:
        busy = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt",
                            has_text="[*]")
        status = page.locator(".jp-StatusBar-Widget", has_text="Python 3").first.inner_text()
        return kernel_state(url, token, path) == "idle" and "Idle" in status and busy.count() == 0
    wait_until(idle, seconds, f"the kernel of {path} did not go idle", every=1)


def run_menu(page, menu: str, item: str) -> None:
    """Click an item of JupyterLab's menu bar, as a learner does (Run > Run All Cells)."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def shoot(page, element, name: str) -> None:
    """Scroll ``element`` into view, let the Lab paint it, and screenshot the window."""
    element.scroll_into_view_if_needed()
    element.wait_for(state="visible")
    page.wait_for_timeout(2000)  # cells off screen are painted lazily (content-visibility)
    page.screenshot(path=str(SHOTS / name))


def save(page) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)


def test_start_here_runs_in_the_browser_with_no_error_and_the_doctor_table(lab, page):
    root = lab[2]
    open_notebook(page, lab, "notebooks/00_start_here.ipynb")
    page.screenshot(path=str(SHOTS / "00_start_here_opened.png"))
    run_menu(page, "Run", "Run All Cells")
    page.wait_for_selector(".jp-InputPrompt:has-text('[*]'), .jp-InputPrompt:has-text('[1]')")
    wait_kernel_idle(page, lab, "notebooks/00_start_here.ipynb", 900)
    save(page)
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    text = notebook.text_content()  # inner_text skips cells the Lab has not painted
    assert "Traceback" not in text, text[-3000:]
    doctor = page.locator(".jp-OutputArea-output", has_text="python").filter(has_text="model files")
    assert doctor.count() >= 1, "the doctor's table did not render"
    table = doctor.first.text_content()
    assert "all checks passed" in table or "fix:" in table.lower(), table
    shoot(page, doctor.first, "00_start_here_doctor.png")
    shoot(page, page.locator(".jp-OutputArea-output img").last, "00_start_here_progress.png")
    saved = nbformat.read(root / "workspace" / "notebooks" / "00_start_here.ipynb", as_version=4)
    code = [c for c in saved.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{o.ename}: {o.evalue}" for o in errors]
    assert all(c.execution_count for c in code), "every code cell ran (the saved notebook says)"


def test_an_exercise_answered_in_the_browser_is_graded_by_check(lab, page):
    root, env = lab[2], lab[3]
    open_notebook(page, lab, EXERCISE)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                        has_text="def count_message_tokens").first
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(ANSWER)  # as pasted: no auto-indent or auto-closed brackets
    page.keyboard.press("Escape")
    save(page)
    page.screenshot(path=str(SHOTS / "exercise_answered.png"))
    mine = nbformat.read(root / "workspace" / EXERCISE, as_version=4)
    assert any(c.source.strip() == ANSWER.strip() for c in mine.cells), "the typed answer was saved"
    done = subprocess.run([sys.executable, "-m", "inferlearn", "check", "--root", str(root),
                           str(root / "workspace" / EXERCISE)],
                          env=env, capture_output=True, text=True, timeout=900)
    (SHOTS / "check.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines()
               if line.startswith("phase1_llm_api/01_first_calls_and_tokens"))
    assert row.split()[1] == "2", f"the answered exercise earns its 2 points: {row}"
    assert "p1-count-message-tokens-tests" not in done.stdout
    assert "p1-fit-to-context-tests" in done.stdout, "the unanswered ones still fail"
    history = (root / "workspace" / ".inferlearn" / "checks.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["score"] == 2


def test_nbgrader_validate_and_assignment_list_in_the_lab(lab, page):
    """What nbgrader's own Lab extensions do for a self-paced learner (README, For learners)."""
    open_notebook(page, lab, EXERCISE)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar").get_by_text(
        "Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=600_000)
    page.wait_for_function("!document.querySelector('.jp-Dialog')?.textContent.includes('Validating')",
                           timeout=600_000)
    page.screenshot(path=str(SHOTS / "nbgrader_validate.png"))
    verdict = dialog.text_content() or ""
    (SHOTS / "nbgrader_validate.txt").write_text(verdict)
    page.keyboard.press("Escape")
    run_menu(page, "Nbgrader", "Assignment List")
    page.wait_for_timeout(5000)
    page.screenshot(path=str(SHOTS / "nbgrader_assignment_list.png"))
    listing = page.locator(".lm-DockPanel-widget:not(.lm-mod-hidden)").last.text_content() or ""
    (SHOTS / "nbgrader_assignment_list.txt").write_text(listing)
    assert "Tests for exercise 2" in verdict and "Tests for exercise 3" in verdict, verdict
    mine = nbformat.read(lab[2] / "workspace" / EXERCISE, as_version=4)
    if any(c.source.strip() == ANSWER.strip() for c in mine.cells):  # answered by the test above
        assert "Tests for exercise 1" not in verdict, "the exercise answered in the browser passes"
    # Assignment List needs nbgrader's exchange, which a class's JupyterHub sets up; a
    # self-paced learner has none (README, For learners): it says so instead of listing.
    assert "exchange directory does not exist" in listing, listing[:2000]
