"""The /login page in headless Chromium with an injected test wallet (EIP-1193 `window.ethereum`).

The wallet lives in this test: the page's `window.ethereum.request` calls a DevTools binding, the
test answers `eth_requestAccounts` and signs `personal_sign` with eth_account, exactly as a browser
wallet would. Runs where Debian's `chromium` is installed; skipped (saying so) elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from eth_account import Account
from eth_account.messages import encode_defunct

from backend.runtime import Backend

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless Chromium not installed (Debian: apt-get install chromium); "
        "the login page's browser test runs only where it is",
    ),
]
PARTNER = Account.from_key("0x" + "c3" * 32)

WALLET_JS = """
(() => {
  let next = 0;
  const pending = {};
  window.__hiAnswer = (id, ok, value) => {
    const p = pending[id]; delete pending[id];
    if (ok) p.resolve(value); else p.reject(Object.assign(new Error(value.message), value));
  };
  window.ethereum = {
    isTestWallet: true,
    request: ({ method, params }) => new Promise((resolve, reject) => {
      const id = ++next;
      pending[id] = { resolve, reject };
      window.__hiWallet(JSON.stringify({ id, method, params: params || [] }));
    }),
  };
})();
"""


class Cdp:
    """Just enough of the Chrome DevTools Protocol: commands, and the wallet binding."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.wallet_calls: list[str] = []
        self.errors: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read())

    async def send(self, method: str, **params: Any) -> Any:
        message_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 20)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply.get("result", {}).get("value")

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._waiting:
                self._waiting.pop(message["id"]).set_result(message.get("result", {}))
            elif message.get("method") == "Runtime.bindingCalled":
                call = json.loads(message["params"]["payload"])
                task = asyncio.create_task(self._wallet(call))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif message.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(message["params"])[:300])

    async def _wallet(self, call: dict[str, Any]) -> None:
        self.wallet_calls.append(call["method"])
        if call["method"] in ("eth_requestAccounts", "eth_accounts"):
            ok, value = True, [PARTNER.address]
        elif call["method"] == "personal_sign":
            data = bytes.fromhex(call["params"][0].removeprefix("0x"))
            signed = PARTNER.sign_message(encode_defunct(primitive=data))
            ok, value = True, "0x" + bytes(signed.signature).hex()
        else:
            ok, value = False, {"code": 4200, "message": f"unsupported {call['method']}"}
        await self.evaluate(
            f"window.__hiAnswer({call['id']}, {json.dumps(ok)}, {json.dumps(value)})"
        )

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@pytest.fixture
async def browser() -> AsyncIterator[Cdp]:
    profile = tempfile.TemporaryDirectory(prefix="hi-chromium-")
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile.name}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        port = None
        while port is None:
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            if not line:
                raise AssertionError("chromium exited before DevTools was listening")
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])
        async with httpx.AsyncClient(trust_env=False) as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**24) as ws:
            cdp = Cdp(ws)
            await cdp.send("Runtime.enable")
            await cdp.send("Page.enable")
            await cdp.send("Runtime.addBinding", name="__hiWallet")
            await cdp.send("Page.addScriptToEvaluateOnNewDocument", source=WALLET_JS)
            try:
                yield cdp
            finally:
                await cdp.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        profile.cleanup()


async def until(cdp: Cdp, expression: str, within_s: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await cdp.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            status = await cdp.evaluate("document.getElementById('status')?.textContent")
            raise AssertionError(f"{expression!r} never held; status: {status}; {cdp.errors}")
        await asyncio.sleep(0.1)


async def test_sign_in_with_the_browser_wallet_shows_the_partners_keys(
    backend: Backend, browser: Cdp
) -> None:
    _info, full_key = await backend.auth.create_key(
        name="partner live", owner_type="partner", owner_id=PARTNER.address.lower()
    )
    await browser.send("Page.navigate", url=f"{backend.url}/login")
    await until(
        browser, "document.readyState === 'complete' && !!document.getElementById('connect')"
    )
    assert await browser.evaluate("window.ethereum && window.ethereum.isTestWallet") is True
    await browser.evaluate("document.getElementById('connect').click()")
    shown = await until(browser, "document.getElementById('address').textContent")
    assert shown == PARTNER.address
    assert browser.wallet_calls == ["eth_requestAccounts", "personal_sign"]
    names = await until(
        browser, "[...document.querySelectorAll('#keys tr')].map(r => r.children[1].textContent)"
    )
    assert names == ["partner live"]
    await browser.evaluate("document.querySelector('#keys button.reveal').click()")
    revealed = await until(browser, "document.querySelector('#keys code.secret')?.textContent")
    assert revealed == full_key
    assert browser.errors == []  # no script error, nothing blocked by the CSP
    entries = await backend.services_by_name["wallet"].logins()  # type: ignore[attr-defined]
    assert entries.items[0].outcome == "ok"
    assert "HeadlessChrome" in (entries.items[0].user_agent or "")


async def test_without_a_wallet_the_page_says_so(backend: Backend, browser: Cdp) -> None:
    await browser.send("Page.addScriptToEvaluateOnNewDocument", source="delete window.ethereum;")
    await browser.send("Page.navigate", url=f"{backend.url}/login")
    await until(
        browser, "document.readyState === 'complete' && !!document.getElementById('connect')"
    )
    await browser.evaluate("document.getElementById('connect').click()")
    status = await until(browser, "document.getElementById('status').textContent")
    assert "No browser wallet found" in status
