"""Drive the explorer and the report in a real browser: JupyterLab + headless Chromium via Playwright.

Named internal API shared by ``tests/test_browser_*.py`` and
``benchmarks/bench_explorer.py`` (not for users; needs the ``playwright`` package
and Debian's ``/usr/bin/chromium``, never Playwright's own browser download):

- :class:`JupyterLab` — a server on a free loopback port with a random token, a
  temporary root, config, data and runtime folders, nothing that calls out (no
  news, no update check, read-only extension manager); widget state is saved in
  notebooks (JupyterLab's *Save Widget State Automatically*). Stopping shuts the
  kernels down and kills the server's process group.
- :class:`Browser` — Chromium with a fresh profile, one browser context per page
  (viewport and device pixel ratio of its own); every page records console errors
  and page errors and aborts (and records) any request that would leave the machine.
- :func:`explorer_notebook` — a small notebook that opens a run and shows the
  explorer; :class:`LabSession` drives it (run all, save, shut down, reopen) and
  :data:`MEASURE_JS` measures in the page: key press (or click) to the new frame
  drawn *and painted* (the next animation frame, then a task after it).

Both context managers clean up on every exit path, errors included.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
#: Chromium flags of ../shared/docs/environment.md (Playwright adds the headless switch itself).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def browser_available() -> str | None:
    """None if Chromium and Playwright are usable here, else why not."""
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-dejavu-core)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright; never `playwright install`)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine: file:, data:, blob:, about:, loopback http(s)/ws(s)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("file", "data", "blob", "about", "chrome-error"):
        return True
    return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname in LOCAL_HOSTS


# ---------------------------------------------------------------------------- the server
class _Managed:
    """``with`` support for a process started by ``start()``: stopped on exit, and when starting fails."""

    def start(self) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self) -> Any:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def artifacts_folder(name: str, fallback: Any) -> Path:
    """Where a browser test keeps screenshots and latencies: ``$ACTCONF_ARTIFACTS/<name>``, else ``fallback/<name>``."""
    folder = Path(os.environ.get("ACTCONF_ARTIFACTS") or fallback) / name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser artifacts: {folder}")
    return folder


class JupyterLab(_Managed):
    """A JupyterLab server for one test (use as a context manager)."""

    def __init__(self, root: Path, *, python: str = sys.executable, env: dict[str, str] | None = None,
                 save_widget_state: bool = True, timeout: float = 120.0) -> None:
        self.root = Path(root)
        self.python, self.extra_env, self.timeout = python, dict(env or {}), timeout
        self.save_widget_state = save_widget_state
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.home = Path(tempfile.mkdtemp(prefix="actconf-lab-"))
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        return f"{self.base}/lab/tree/{urllib.parse.quote(path)}?token={self.token}"

    def _write_config(self) -> dict[str, str]:
        config, data, runtime = (self.home / name for name in ("config", "data", "runtime"))
        settings, workspaces = self.home / "settings", self.home / "workspaces"
        for folder in (config, data, runtime, settings, workspaces, config / "labconfig"):
            folder.mkdir(parents=True, exist_ok=True)
        (config / "jupyter_server_config.json").write_text(json.dumps({
            "LabApp": {"news_url": None, "extension_manager": "readonly", "expose_app_in_browser": True,
                       "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                       "user_settings_dir": str(settings), "workspaces_dir": str(workspaces)},
            "ServerApp": {"root_dir": str(self.root), "open_browser": False},
        }))
        (config / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/extensionmanager-extension": True}}))
        plugin = settings / "@jupyter-widgets" / "jupyterlab-manager"
        plugin.mkdir(parents=True)
        (plugin / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": self.save_widget_state}))
        notify = settings / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True)
        (notify / "notification.jupyterlab-settings").write_text(json.dumps(
            {"fetchNews": "false", "checkForUpdates": False}))
        return {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data),
                "JUPYTER_RUNTIME_DIR": str(runtime), "IPYTHONDIR": str(self.home / "ipython")}

    def start(self) -> JupyterLab:
        env = {**os.environ, **self._write_config(), **self.extra_env}
        cmd = [self.python, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={self.port}", f"--ServerApp.token={self.token}", "--ServerApp.open_browser=False",
               f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=''"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                         start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if self.api("GET", "/api/status") is not None:
                    return self
            time.sleep(0.3)
        raise TimeoutError(f"JupyterLab did not answer within {self.timeout} s:\n{self.log_text()[-3000:]}")

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"{self.base}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def shutdown_kernels(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for kernel in self.api("GET", "/api/kernels"):
                with contextlib.suppress(OSError):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.shutdown_kernels()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)



# ---------------------------------------------------------------------------- the browser
@dataclass
class PageLog:
    """What a page did that a test checks: console errors, page errors, requests blocked or seen."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser(_Managed):
    """Headless Chromium through Playwright (use as a context manager).

    Playwright starts Chromium with a fresh temporary profile (user-data-dir);
    every :meth:`page` lives in its own browser context (cookies, storage and cache
    of its own), with its own viewport and device pixel ratio.
    """

    def __init__(self, *, width: int = 1440, height: int = 1000, scale: float = 1.0) -> None:
        self.viewport = {"width": int(width), "height": int(height)}
        self.scale = float(scale)
        self._pw = self.browser = None
        self._contexts: list[Any] = []

    def start(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        return self

    def page(self, log: PageLog | None = None, *, scale: float | None = None, width: int | None = None,
             height: int | None = None) -> tuple[Any, PageLog]:
        """A new page whose console errors, page errors and outgoing requests go into ``log``."""
        log = log if log is not None else PageLog()
        viewport = {"width": int(width or self.viewport["width"]), "height": int(height or self.viewport["height"])}
        context = self.browser.new_context(viewport=viewport, device_scale_factor=scale or self.scale,
                                           accept_downloads=False)
        self._contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))

        def route(r: Any) -> None:
            url = r.request.url
            log.requests.append(url)
            if is_local(url):
                r.continue_()
            else:
                log.blocked.append(url)
                r.abort()

        context.route("**/*", route)
        return page, log

    def stop(self) -> None:
        for context in self._contexts:
            with contextlib.suppress(Exception):
                context.close()
        with contextlib.suppress(Exception):
            if self.browser is not None:
                self.browser.close()
        with contextlib.suppress(Exception):
            if self._pw is not None:
                self._pw.stop()



# ---------------------------------------------------------------------------- the notebook
def explorer_notebook(path: Path, run_path: Path, *, layout_path: Path | None = None, by: str = "class",
                      extra: str = "") -> Path:
    """Write a notebook that opens the run at ``run_path`` and shows :func:`actconf.widgets.explore`.

    ``layout_path``: an ``.npy`` of neuron positions (else the run's saved layout).
    """
    import nbformat

    layout = f"np.load({str(layout_path)!r})" if layout_path is not None else "None"
    cells = [
        nbformat.v4.new_code_cell("import numpy as np\nimport actconf\nfrom actconf.widgets import explore\n"
                                  f"run = actconf.open_run({str(run_path)!r})\nprint(run.n_snapshots, 'snapshots')"),
        nbformat.v4.new_code_cell(f"explorer = explore(run, layout={layout}, by={by!r}{extra})\nexplorer"),
        nbformat.v4.new_code_cell("print('ready:', explorer.maps.shape)"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, str(path))
    return path


#: In-page helpers: ``__acArm(kind)`` starts a measurement at the next trusted key press
#: (kind "key") or click ("click"); ``__acResult`` resolves with the milliseconds until the
#: explorer drew a new frame (or a new scene, for "scene") and the browser painted it.
MEASURE_JS = r"""
() => {
  const root = () => document.querySelector('.actconf-explorer');
  window.__acArm = (kind, wantScene) => {
    const r = root();
    const drawn = r.dataset.framesDrawn, scene = r.dataset.scene;
    window.__acResult = new Promise((resolve) => {
      let t0 = null;
      const event = kind === 'click' ? 'click' : (kind === 'change' ? 'change' : 'keydown');
      const start = () => { if (t0 === null) t0 = performance.now(); };
      window.addEventListener(event, start, {capture: true, once: true});
      const check = () => {
        if (t0 === null) return false;
        const changed = wantScene ? r.dataset.scene !== scene && r.dataset.framesDrawn !== drawn
                                  : r.dataset.framesDrawn !== drawn;
        if (!changed) return false;
        obs.disconnect();
        requestAnimationFrame(() => setTimeout(() => resolve({
          ms: performance.now() - t0, frame: Number(r.dataset.frame), scene: r.dataset.scene}), 0));
        return true;
      };
      const obs = new MutationObserver(check);
      obs.observe(r, {attributes: true});
    });
  };
  window.__acPlay = (frames) => new Promise((resolve) => {
    const r = root();
    const times = [];
    const obs = new MutationObserver(() => {
      times.push(performance.now());
      if (times.length >= frames) { obs.disconnect(); resolve(times); }
    });
    obs.observe(r, {attributes: true, attributeFilter: ['data-frames-drawn']});
    r.querySelector('.ac-play').click();
  });
  window.__acStretch = () => {
    const dpr = window.devicePixelRatio || 1;
    const out = [];
    for (const c of root().querySelectorAll('canvas')) {
      const w = c.getBoundingClientRect().width, h = c.getBoundingClientRect().height;
      out.push({w: c.width, h: c.height, cssW: w, cssH: h, dpr});
    }
    for (const img of root().querySelectorAll('img')) {
      out.push({w: img.naturalWidth, h: img.naturalHeight, cssW: img.getBoundingClientRect().width,
                cssH: img.getBoundingClientRect().height, dpr});
    }
    return out;
  };
  return true;
}
"""


def stretched(sizes: list[dict[str, float]], tolerance: float = 1.0) -> list[dict[str, float]]:
    """The images/canvases of ``__acStretch()`` not shown at natural size / device pixel ratio."""
    return [s for s in sizes if abs(s["w"] / s["dpr"] - s["cssW"]) > tolerance
            or abs(s["h"] / s["dpr"] - s["cssH"]) > tolerance]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2),
            "mean_ms": round(statistics.fmean(ms), 2)}


class LabSession:
    """One notebook in JupyterLab, driven through the exposed ``window.jupyterapp`` commands."""

    def __init__(self, lab: JupyterLab, browser: Browser, notebook: str, *, log: PageLog | None = None,
                 **page_options: Any) -> None:
        self.lab, self.browser, self.notebook = lab, browser, notebook
        self.page, self.log = browser.page(log, **page_options)

    def open(self, timeout: float = 120_000) -> None:
        # "reset": do not restore the tabs of an earlier session in this server (a restored
        # notebook can become the current one after this one opened, and then receive the
        # commands meant for this one)
        self.page.goto(self.lab.url(self.notebook) + "&reset")
        self.page.wait_for_function(
            "(path) => { const n = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " return n && n.context && n.context.path === path && document.querySelector('.jp-Notebook'); }",
            arg=self.notebook, timeout=timeout)
        self.wait_kernel_idle(timeout)

    def command(self, name: str, args: dict | None = None) -> Any:
        return self.page.evaluate("([n, a]) => window.jupyterapp.commands.execute(n, a)", [name, args or {}])

    def wait_kernel_idle(self, timeout: float = 120_000) -> None:
        self.page.wait_for_function(
            "() => { const n = window.jupyterapp.shell.currentWidget;"
            " const k = n && n.sessionContext && n.sessionContext.session && n.sessionContext.session.kernel;"
            " return k && k.status === 'idle'; }", timeout=timeout)

    def run_all(self, timeout: float = 300_000) -> None:
        """Run all cells; wait until the last one ran, or raise at once when a cell fails."""
        self.command("notebook:run-all-cells")
        done = self.page.wait_for_function(
            "() => { const n = window.jupyterapp.shell.currentWidget; const cells = n.content.widgets;"
            " for (const c of cells) { const o = c.model.outputs; if (!o) continue;"
            "   for (let i = 0; i < o.length; i++) { const out = o.get(i);"
            "     if (out.type === 'error') return 'error: ' + JSON.stringify(out.toJSON()).slice(0, 3000); } }"
            " const last = cells[cells.length - 1];"
            " return last.model.executionCount !== null && n.sessionContext.session.kernel.status === 'idle'"
            "   ? 'ok' : false; }",
            timeout=timeout).json_value()
        if done != "ok":
            raise RuntimeError(f"a cell of {self.notebook} failed: {done}")

    def explorer(self, timeout: float = 120_000) -> Any:
        self.page.wait_for_selector(".actconf-explorer[data-frame]", timeout=timeout)
        self.page.evaluate(MEASURE_JS)
        return self.page.locator(".actconf-explorer")

    def measure(self, action: Any, kind: str = "key", *, scene: bool = False, timeout: float = 60_000) -> dict:
        """Run ``action()`` (a key press, a click, ...) and return the in-page latency to its frame."""
        self.page.evaluate("([k, s]) => window.__acArm(k, s)", [kind, scene])
        action()
        return self.page.evaluate(f"() => Promise.race([window.__acResult, new Promise((_, no) => "
                                  f"setTimeout(() => no(new Error('no new frame')), {timeout}))])")

    def save(self) -> None:
        self.command("docmanager:save")
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)

    def shutdown_and_close(self) -> None:
        self.command("kernelmenu:shutdown")
        self.lab.shutdown_kernels()
        self.page.close()
