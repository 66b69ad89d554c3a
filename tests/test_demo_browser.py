"""The demo page in headless Chromium, driven over the DevTools Protocol:
two tabs (a 390 px phone and a desktop) chat through `python -m ferrosocket`;
Send stays on screen at phone width, long words wrap, whitespace is not sent,
names are per tab and renaming keeps the connection, the live panel moves;
then the server stops (1001) and comes back: the page says so once, keeps
what was typed meanwhile and sends it after reconnecting.

Screenshots are kept in tests/artifacts/browser/ (or $FERROSOCKET_ARTIFACTS),
pass or fail; the path is printed. scripts/test.sh installs chromium when it
is missing and sets FERROSOCKET_REQUIRE_BROWSER=1, so there it cannot skip.
"""

from __future__ import annotations

import os

import pytest
from cdp import artifacts_dir, chromium, find_chromium
from clisupport import cli  # noqa: F401  (the fixture)

CHROMIUM = find_chromium()
if CHROMIUM is None and os.environ.get("FERROSOCKET_REQUIRE_BROWSER") != "1":
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

LOG_TEXTS = "[...document.querySelectorAll('#log .msg')].map(m => m.textContent)"
CONNECTED = "!document.body.classList.contains('down') && !document.getElementById('send').disabled"
# Pixels of the sparkline's stroke colour (#b7410e) in a canvas.
INKED = """(() => {
  const c = document.getElementById(%r), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 120 && d[i + 1] < 110 && d[i + 2] < 80 && d[i + 3] > 100) n++;
  return n;
})()"""
LOG_FITS = "(() => { const l = document.getElementById('log'); return [l.scrollWidth, l.clientWidth]; })()"
RTT = "document.getElementById('rtt').textContent"


def has(text: str) -> str:
    return f"{LOG_TEXTS}.some(t => t.includes({text!r}))"


async def test_two_tabs_chat_at_phone_width_with_live_panel_and_reconnect(cli, capsys):  # noqa: F811
    assert CHROMIUM is not None, "chromium is required here (FERROSOCKET_REQUIRE_BROWSER=1)"
    shots = artifacts_dir()
    running = await cli()
    url = f"http://127.0.0.1:{running.port}/"
    async with chromium(CHROMIUM) as browser:
        phone = await browser.new_tab()
        desk = await browser.new_tab()
        tabs = {"phone": phone, "desktop": desk}
        try:
            await phone.viewport(390, 844, mobile=True)
            await desk.viewport(1100, 700)
            for tab in tabs.values():
                await tab.goto(url)
                await tab.wait_for(CONNECTED)

            # Per-tab names: each tab has its own; renaming one keeps its socket.
            phone_name = await phone.js("document.getElementById('name').value")
            await desk.js(
                "(() => { const n = document.getElementById('name'); n.value = 'desk';"
                " n.dispatchEvent(new Event('change')); })()"
            )
            await phone.wait_for(has("is now desk"))
            assert await phone.js("document.getElementById('name').value") == phone_name
            assert await phone.js("sessionStorage.getItem('ferrosocket-name')") == phone_name
            assert not await phone.js(f"{LOG_TEXTS}.some(t => t.includes('desk left') || t.includes('desk joined'))")

            # At 390 px Send is on screen and clickable; nothing scrolls sideways.
            layout = await phone.js(
                "(() => { const r = document.getElementById('send').getBoundingClientRect();"
                " const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
                " return {right: r.right, bottom: r.bottom, w: innerWidth, h: innerHeight,"
                " hit: hit && hit.id, page: document.documentElement.scrollWidth}; })()"
            )
            assert layout["right"] <= layout["w"] and layout["bottom"] <= layout["h"], layout
            assert layout["hit"] == "send", layout
            assert layout["page"] <= layout["w"], layout

            await phone.type("#text", "hello from a phone")
            await phone.click("#send")
            await desk.wait_for(has("hello from a phone"))
            assert await phone.js("document.getElementById('text').value") == ""

            await phone.type("#text", "    ", enter=True)  # whitespace only: not sent
            await phone.js("document.getElementById('text').value = ''")
            await phone.type("#text", "x" * 400 + " after the long word", enter=True)
            await desk.wait_for(has("after the long word"))
            texts = await desk.js(LOG_TEXTS)
            mine = [t for t in texts if t.startswith(f"{phone_name}: ")]
            assert [t[len(phone_name) + 2 :][:5] for t in mine] == ["hello", "xxxxx"], mine
            for tab in tabs.values():
                await tab.wait_for(has("after the long word"))
                log = await tab.js(LOG_FITS)
                assert log[0] <= log[1], f"the log scrolls sideways: {log}"

            # The live panel: server counters and this page's round trip, as sparklines.
            for name, tab in tabs.items():
                await tab.wait_for("Number(document.getElementById('panel').dataset.updates) >= 5")
                assert await tab.js("document.getElementById('conns').textContent") == "2"
                assert (await tab.wait_for(f"{RTT}.endsWith(' ms') && {RTT}")).endswith(" ms")
                for canvas in ("conns-spark", "rate-spark", "rtt-spark"):
                    assert await tab.js(INKED % canvas) > 10, f"{name}: the {canvas} sparkline is not drawn"
            await phone.screenshot(shots / "phone-390px-chat.png")
            await desk.screenshot(shots / "desktop-chat-live-panel.png")

            # The server goes away with 1001: said once, Send disabled, typing kept.
            assert await running.stop() == 0
            await phone.wait_for("document.getElementById('status').textContent.includes('closed 1001')")
            await phone.wait_for("document.getElementById('send').disabled")
            assert await phone.js("getComputedStyle(document.getElementById('down')).display") != "none"
            await phone.type("#text", "typed while down", enter=True)
            await phone.wait_for("document.getElementById('status').textContent.includes('try 2')")
            status = await phone.js("document.getElementById('status').textContent")
            assert "closed 1001" in status and "1006" not in status and "reconnecting" in status, status
            assert await phone.js("document.getElementById('text').value") == "typed while down"
            await phone.screenshot(shots / "phone-390px-reconnecting.png")

            # Back on the same port: both reconnect; what was typed goes out.
            await cli(port=running.port)
            for tab in tabs.values():
                await tab.wait_for(CONNECTED, timeout=30)
            await phone.click("#send")
            await desk.wait_for(has("typed while down"))
            assert await phone.js("document.getElementById('status').textContent") == "connected"

            for name, tab in tabs.items():
                assert tab.page_errors() == [], name
                assert tab.http_errors() == [], f"{name}: failed requests (favicon?) {tab.http_errors()}"
        finally:
            for name, tab in tabs.items():
                try:
                    await tab.screenshot(shots / f"last-{name}.png")
                except Exception:  # the browser may be what failed
                    pass
            with capsys.disabled():
                print(f"\nbrowser screenshots: {shots}")
