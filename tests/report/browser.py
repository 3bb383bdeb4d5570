"""Load a page in headless Chromium over the DevTools protocol (a pipe, no npm, no port).

``load_page(path)`` starts ``chromium --headless --remote-debugging-pipe`` (commands on fd 3,
answers on fd 4, each a JSON message ending in NUL), opens the file, waits for the load event
and the page's own rendering, records console errors, uncaught exceptions and every network
request, and takes a PNG screenshot of the first screen.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu-sandbox", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--enable-unsafe-swiftshader",  # software WebGL for the 3D surfaces (trusted local file)
    "--remote-debugging-pipe",
]


@dataclass
class PageResult:
    """What the browser saw."""

    screenshot: bytes
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    title: str = ""
    evaluated: object = None


class _Pipe:
    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.proc, self.w, self.r = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, msg in enumerate(self.events):
            if msg.get("method") == method:
                return self.events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)


def _errors(events: list[dict]) -> list[str]:
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", "")))
                                for a in p.get("args", [])))
        elif e.get("method") == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"].get("text", ""))
    return out


FRAMES = "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
"""A promise resolved once the page has painted two frames after its load event."""


def load_page(path: str | Path, *, width: int = 1280, height: int = 900,
              javascript: bool = True, ready: str = FRAMES,
              expression: str | None = None) -> PageResult:
    """Open ``path`` in headless Chromium; the first screen as PNG, console errors, requests.

    Args:
        path: the HTML file.
        width, height: the viewport.
        javascript: run the page's scripts.
        ready: a JavaScript promise the page is waited for after its load event (scripts
            on only; without scripts the load event is the whole page, data-URI images
            included).
        expression: a JavaScript expression evaluated at the end (its value is returned).
    """
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed")
    profile = tempfile.mkdtemp(prefix="landscape-chromium-")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    # the protocol reads commands on fd 3 and writes on fd 4: bash moves the pipes there (a
    # POSIX sh may not redirect descriptors above 9)
    shell = f'exec 3<&{to_browser_r} 4>&{from_browser_w}; exec "$0" "$@"'
    proc = subprocess.Popen(
        [shutil.which("bash") or "/bin/bash", "-c", shell, CHROMIUM, *FLAGS,
         f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        pass_fds=(to_browser_r, from_browser_w))
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(proc, to_browser_w, from_browser_r)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        if not javascript:
            pipe.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=session)
        pipe.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired", timeout=120)
        if javascript:  # a condition, not a pause: the promise resolves when the page is ready
            pipe.call("Runtime.evaluate", {"expression": ready, "awaitPromise": True,
                                           "returnByValue": True}, session=session,
                      timeout=120)
        evaluated = None
        if expression is not None:
            result = pipe.call("Runtime.evaluate", {"expression": expression,
                                                    "returnByValue": True}, session=session)
            evaluated = result.get("result", {}).get("value")
        title = pipe.call("Runtime.evaluate", {"expression": "document.title",
                                               "returnByValue": True},
                          session=session).get("result", {}).get("value", "")
        shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
        requests = [e["params"]["request"]["url"] for e in pipe.events
                    if e.get("method") == "Network.requestWillBeSent"]
        return PageResult(screenshot=base64.b64decode(shot["data"]),
                          console_errors=_errors(pipe.events), requests=requests,
                          title=title if javascript else "", evaluated=evaluated)
    finally:
        try:
            pipe.send("Browser.close")
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        os.close(to_browser_w)
        os.close(from_browser_r)
        shutil.rmtree(profile, ignore_errors=True)
