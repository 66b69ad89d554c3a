"""A small Chrome DevTools Protocol driver for the browser test: headless
Chromium (Debian's package ``chromium``) started with
``--remote-debugging-port=0``, one WebSocket per tab (the ``websockets``
client), nothing downloaded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

FLAGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--disable-dev-shm-usage",
]


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


class CdpError(RuntimeError):
    pass


class Tab:
    """One page target: `call()` a CDP method, `js()` evaluate an expression."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self.pending.pop(message.get("id", -1), None)
            if future is None:
                self.events.append(message)
            elif not future.done():
                future.set_result(message)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        id_ = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[id_] = future
        await self.ws.send(json.dumps({"id": id_, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply["result"]

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll until `expression` is truthy; its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for: {expression}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        await self.call(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile
        )

    async def click(self, selector: str) -> None:
        """A real mouse click at the element's centre (so it must be on screen)."""
        box = await self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def type(self, selector: str, text: str, enter: bool = False) -> None:
        await self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.call("Input.insertText", text=text)
        if enter:
            for kind in ("keyDown", "keyUp"):
                await self.call(
                    "Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13, text="\r"
                )

    async def screenshot(self, path: Path) -> Path:
        data = (await self.call("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def http_errors(self) -> list[tuple[int, str]]:
        """Responses with status >= 400 seen since Network.enable."""
        return [
            (e["params"]["response"]["status"], e["params"]["response"]["url"])
            for e in self.events
            if e.get("method") == "Network.responseReceived" and e["params"]["response"]["status"] >= 400
        ]

    def page_errors(self) -> list[str]:
        return [
            json.dumps(e["params"])[:300]
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error")
        ]

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.tabs: list[Tab] = []

    async def new_tab(self, url: str = "about:blank") -> Tab:
        async with aiohttp.ClientSession() as session:
            async with session.put(f"http://127.0.0.1:{self.port}/json/new?{url}") as response:
                target = await response.json()
        ws = await connect(target["webSocketDebuggerUrl"], max_size=None, ping_interval=None)
        tab = Tab(ws)
        for domain in ("Page", "Runtime", "Network"):
            await tab.call(f"{domain}.enable")
        self.tabs.append(tab)
        return tab


@contextlib.asynccontextmanager
async def chromium(executable: str) -> AsyncIterator[Browser]:
    profile = Path(tempfile.mkdtemp(prefix="ferrosocket-chromium-"))
    process = subprocess.Popen(
        [executable, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        for _ in range(300):
            if active.exists() and active.read_text().strip():
                break
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("chromium did not open its DevTools port")
        browser = Browser(process, int(active.read_text().split()[0]))
        yield browser
        for tab in browser.tabs:
            await tab.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def artifacts_dir() -> Path:
    """Where screenshots go: $FERROSOCKET_ARTIFACTS or tests/artifacts/browser
    (ignored by git); kept after the run, pass or fail."""
    path = Path(os.environ.get("FERROSOCKET_ARTIFACTS", Path(__file__).parent / "artifacts" / "browser"))
    path.mkdir(parents=True, exist_ok=True)
    return path
