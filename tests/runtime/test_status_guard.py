"""The status API against what a web page in the operator's browser can send: real HTTP requests
(aiohttp's client) to a real server on loopback, with a foreign Origin, a `text/plain` body, a
rebinding Host, no token, a wrong one and the right one."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from rulebot.runtime.status import StatusServer, read_token, token_file_for

EVIL = "http://evil.example"


@dataclass
class Bot:
    """A status server whose flatten only records that it was called."""

    server: StatusServer
    port: int
    flattened: list[str | None] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    calls: list[str | None] = []

    async def flatten(market: str | None) -> list[str]:
        calls.append(market)
        return ["ETH: every order cancelled"]

    server = StatusServer(
        lambda: {"running": True},
        port=0,
        flatten=flatten,
        token_file=token_file_for(tmp_path / "state.sqlite"),
    )
    port = await server.start()
    try:
        yield Bot(server, port, calls)
    finally:
        await server.stop()


async def ask(
    method: str, url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, data=data) as answer,
    ):
        return answer.status, await answer.text()


async def test_a_page_of_another_site_cannot_flatten(bot: Bot) -> None:
    """The cross-site form post a browser sends without asking: foreign Origin, text/plain."""
    headers = {"Origin": EVIL, "Content-Type": "text/plain"}
    status, _ = await ask("POST", f"{bot.base}/api/flatten", headers, b"x=1")
    assert status == 403
    # the same post with no Origin at all (an older browser, a form) is still refused
    status, _ = await ask("POST", f"{bot.base}/api/flatten", {"Content-Type": "text/plain"}, b"x")
    assert status == 415
    assert bot.flattened == []


async def test_flatten_needs_the_token_even_on_loopback(bot: Bot) -> None:
    url = f"{bot.base}/api/flatten?market=ETH"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": bot.server.token}):
        status, text = await ask("POST", url, headers)
        assert status == 401 and "token" in text
    assert bot.flattened == []
    right = {"Authorization": f"Bearer {bot.server.token}", "Content-Type": "application/json"}
    status, text = await ask("POST", url, right, b"{}")
    assert status == 200 and "every order cancelled" in text
    status, _ = await ask("POST", url, {"Authorization": f"Bearer {bot.server.token}"})
    assert status == 200  # no body at all: fine too
    assert bot.flattened == ["ETH", "ETH"]
    # even the right token does not make another site's page welcome
    status, _ = await ask("POST", url, {**right, "Origin": EVIL}, b"{}")
    assert status == 403
    assert bot.flattened == ["ETH", "ETH"]


async def test_a_rebinding_host_gets_nothing(bot: Bot) -> None:
    """DNS rebinding: the page's own name resolves to 127.0.0.1, so its Host is that name."""
    for path in ("/api/status", "/api/positions", "/", "/static/dashboard.js"):
        status, text = await ask("GET", f"{bot.base}{path}", {"Host": f"evil.example:{bot.port}"})
        assert status == 421 and "running" not in text
    status, _ = await ask(
        "POST", f"{bot.base}/api/flatten", {"Host": f"evil.example:{bot.port}", "Origin": EVIL}
    )
    assert status == 421 and bot.flattened == []


async def test_the_dashboard_reads_on_loopback_without_a_token(bot: Bot) -> None:
    for host in (f"127.0.0.1:{bot.port}", f"localhost:{bot.port}", f"LOCALHOST:{bot.port}"):
        status, text = await ask("GET", f"{bot.base}/api/status", {"Host": host})
        assert status == 200 and '"running": true' in text
    own = {"Origin": bot.base}  # the dashboard's own page
    assert (await ask("GET", f"{bot.base}/api/status", own))[0] == 200
    status, _ = await ask("GET", f"{bot.base}/api/status", {"Origin": EVIL})
    assert status == 403


async def test_the_generated_token_is_kept_private_beside_the_journal_until_stop(
    tmp_path: Path,
) -> None:
    path = token_file_for(tmp_path / "state.sqlite")
    server = StatusServer(lambda: {}, port=0, token_file=path)
    await server.start()
    try:
        assert path.name == "state.sqlite.token"
        assert read_token(path) == server.token and len(server.token) >= 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        await server.stop()
    assert not path.exists()


async def test_a_token_given_is_never_written_and_guards_reads(tmp_path: Path) -> None:
    path = token_file_for(tmp_path / "state.sqlite")
    server = StatusServer(lambda: {}, port=0, token="given-token", token_file=path)
    port = await server.start()
    try:
        assert not path.exists()
        assert (await ask("GET", f"http://127.0.0.1:{port}/api/status"))[0] == 401
        given = {"Authorization": "Bearer given-token"}
        assert (await ask("GET", f"http://127.0.0.1:{port}/api/status", given))[0] == 200
        assert (await ask("GET", f"http://127.0.0.1:{port}/"))[0] == 200  # the page holds no data
    finally:
        await server.stop()
