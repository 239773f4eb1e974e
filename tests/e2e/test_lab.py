"""The course in a real browser: `make lab` as a learner starts it, JupyterLab in Debian's Chromium
(driven with Playwright's Python package, launched with the system executable: no browser download).

A temporary copy of `notebooks/` is served, so nothing in the checkout changes; JupyterLab's settings
and workspaces also live in that temporary folder (a learner's own settings cannot interfere; cells are
all kept in the page, `windowingMode: none`, so every output can be inspected; the news toast is off). The tests:
- the course opens on its index (00_start_here.ipynb) from the URL `make lab` prints;
- chapters 01 and 06, opened from the file browser and run with Run > Run All Cells: no cell shows an
  error, every check cell shows its verdict, at least one figure is drawn as an image;
- chapter 04 (training) shows tqdm's progress bar widget while it trains.
Screenshots go to build/e2e/; a failure names the screenshot taken at that moment. The server
(its kernels included) and the browser are shut down at the end, also after a failure.

Run with `make test-e2e` (also part of `make test` when a Chromium is installed); CVCOURSE_CHROMIUM
names another Chromium executable.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "e2e"
CHROMIUM = os.environ.get("CVCOURSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
VERDICT = re.compile(r"\[(PASS|FAIL|TODO)\]")
CHECK_CALL = re.compile(r"^\s*checks\.\w+\(", re.MULTILINE)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium)")]
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")


# ----------------------------------------------------------------------------- the server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - a localhost URL we built
        return r.read()


class Lab:
    """A running `make lab`: its URL, token, served folder and log."""

    def __init__(self, root: Path, port: int, token: str, log: Path, proc: subprocess.Popen) -> None:
        self.root, self.port, self.token, self.log, self.proc = root, port, token, log, proc
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_up(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`make lab` exited with {self.proc.returncode} before the server answered:\n{self.log_tail()}")
            try:
                json.loads(_get(f"{self.url}/api/status?token={self.token}"))
                return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer on {self.url} within {seconds:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then make sure the whole group is gone."""
        if self.proc.poll() is None:
            try:
                req = urllib.request.Request(f"{self.url}/api/shutdown?token={self.token}", method="POST")
                urllib.request.urlopen(req, timeout=5).close()  # noqa: S310
            except OSError:
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` on a temporary copy of the learners' notebooks, exactly as the README tells a learner,
    plus a port, a token and private settings/workspace folders."""
    tmp = tmp_path_factory.mktemp("lab")
    course = tmp / "course"
    shutil.copytree(ROOT / "notebooks", course)
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension"   # no "Jupyter news?" toast over the screenshots
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = {k: v for k, v in os.environ.items() if k not in ("CVCOURSE_PROGRESS", "CVCOURSE_QUICK")}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp / "lab.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_DIR={course}",
             f"LAB_ARGS=--ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(course, port, token, log, proc)
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()
    # shut down means shut down: the port is closed and no kernel's connection file is left
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"JupyterLab still answers on port {port}"
    assert not list((tmp / "runtime").glob("kernel-*.json")), "a kernel outlived the server"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(lab, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        context.close()


# ----------------------------------------------------------------------------- helpers
def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


class _Step:
    """On an exception inside the block, take a screenshot and fail with its path (and the error)."""

    def __init__(self, page, name: str, lab: Lab) -> None:
        self.page, self.name, self.lab = page, name, lab

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, kind, err, tb) -> bool:
        if err is None or kind is KeyboardInterrupt:
            return False
        try:
            where = f"screenshot: {_shot(self.page, f'FAILED-{self.name}')}"
        except Exception as shot_err:  # noqa: BLE001 - the original error matters more
            where = f"no screenshot ({shot_err})"
        pytest.fail(f"{self.name}: {type(err).__name__}: {err}\n{where}\nserver log:\n{self.lab.log_tail(15)}",
                    pytrace=False)


def _panel(page):
    """The notebook panel on screen (the dock shows one at a time)."""
    return page.locator(".jp-NotebookPanel:visible")


def _open_from_file_browser(page, lab: Lab, name: str) -> None:
    if not page.url.startswith(lab.url):  # this test runs first (e.g. alone with -k)
        page.goto(f"{lab.url}/?token={lab.token}")
    page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$")).dblclick()
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text=name).wait_for()
    _panel(page).locator(".jp-Cell").first.wait_for()


def _run_all(page) -> None:
    """Once the kernel is idle, Run > Run All Cells from the menu bar, as a learner would."""
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


_PROMPTS = """panel => [...panel.querySelectorAll('.jp-CodeCell')].map(c => {
  const p = c.querySelector('.jp-InputPrompt'); return p ? p.textContent.trim() : ''; })"""


def _wait_until_done(page, seconds: float) -> None:
    """Until every code cell has run (an execution count in its prompt) and the kernel is idle."""
    deadline = time.monotonic() + seconds
    panel = _panel(page)
    while time.monotonic() < deadline:
        prompts = panel.evaluate(_PROMPTS)
        busy = panel.locator(".jp-Notebook-ExecutionIndicator[data-status='busy']").count()
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) and not busy:
            return
        time.sleep(0.5)
    raise TimeoutError(f"cells still not all run after {seconds:g} s: prompts {prompts}")


def _save(page, lab: Lab, name: str) -> nbformat.NotebookNode:
    """File > Save, then read the notebook the browser wrote."""
    before = (lab.root / name).stat().st_mtime_ns
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while (lab.root / name).stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    return nbformat.read(lab.root / name, as_version=4)


def _assert_ran_cleanly(nb: nbformat.NotebookNode, name: str) -> None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors, f"{name}, cell {i} is meant to show an error and does not"
            continue
        assert not errors, f"{name}, cell {i} shows an error: {errors[0].ename}: {errors[0].evalue}"
        if CHECK_CALL.search(cell.source):
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert VERDICT.search(text), f"{name}, cell {i} (a check) shows no verdict; output: {text[:200]!r}"


# ----------------------------------------------------------------------------- the tests
def test_make_lab_opens_the_course_index(lab, page):
    with _Step(page, "00_start_here", lab):
        page.goto(f"{lab.url}/?token={lab.token}")
        page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text="00_start_here.ipynb").wait_for()
        assert page.url.endswith("/lab/tree/00_start_here.ipynb"), page.url
        _panel(page).locator("h1", has_text="Chapter 00").wait_for()
        listing = page.locator(".jp-DirListing-itemText").all_inner_texts()
        assert [n for n in listing if n.endswith(".ipynb")] == sorted(p.name for p in lab.root.glob("*.ipynb"))
        _shot(page, "00_start_here")
    assert "/lab/tree/00_start_here.ipynb?token=" in lab.log.read_text(), "make lab does not print the index URL"


@pytest.mark.parametrize("name", ["01_feature_maps.ipynb", "06_iou.ipynb"])
def test_chapter_runs_all_cells_in_the_browser(lab, page, name):
    stem = name.removesuffix(".ipynb")
    with _Step(page, stem, lab):
        _open_from_file_browser(page, lab, name)
        _run_all(page)
        _wait_until_done(page, 240)
        panel = _panel(page)
        verdicts = panel.locator(".jp-OutputArea-output", has_text=VERDICT)
        assert verdicts.count() >= 1, "no check verdict ([PASS]/[FAIL]/[TODO]) is shown"
        images = panel.locator(".jp-OutputArea-output img")
        assert images.count() >= 1, "no figure was rendered as an image"
        images.first.scroll_into_view_if_needed()
        assert images.first.evaluate("img => img.complete && img.naturalWidth > 0"), "the first figure did not load"
        _shot(page, stem)
        verdicts.first.scroll_into_view_if_needed()
        _shot(page, f"{stem}-check")
        _assert_ran_cleanly(_save(page, lab, name), name)


def test_training_chapter_shows_a_progress_bar(lab, page):
    name = "04_resnet.ipynb"
    with _Step(page, "04_resnet", lab):
        _open_from_file_browser(page, lab, name)
        _run_all(page)
        bar = _panel(page).locator(".jp-OutputArea-output .widget-hprogress").first
        bar.wait_for(timeout=180_000)
        bar.scroll_into_view_if_needed()
        _shot(page, "04_resnet-training")
        _wait_until_done(page, 300)
        _shot(page, "04_resnet")
        _assert_ran_cleanly(_save(page, lab, name), name)
