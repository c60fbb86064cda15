"""End to end: `rulebot run` in-process on a fast sim emails its fills to a real local SMTP
server over STARTTLS, and an error that ends the run reaches a webhook as a crash."""

from __future__ import annotations

import pytest

from rulebot.config import Config
from rulebot.runtime.app import RunOptions, run_bot
from rulebot.runtime.journal import Journal
from rulebot.venues.sim.serving import serve_sim
from rulebot.venues.sim.settings import SimSettings
from tests.e2e.test_run import FAST, config, rules_dir, run_until
from tests.notify.conftest import MakeSmtp, Receiver


async def test_the_bot_emails_its_fills(tmp_path, make_smtp: MakeSmtp) -> None:
    server = await make_smtp("starttls")
    notifications = {
        "batch_for": 0.2,
        "email": {
            "host": server.host,
            "port": server.port,
            "ca_file": server.ca_file,
            "from": "rulebot@example.com",
            "to": ["trader@example.com"],
            "events": ["fill"],
        },
    }
    async with serve_sim(SimSettings(speed=FAST)) as sim:
        options = RunOptions(
            paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=tmp_path / "state.sqlite"
        )
        await run_until(
            config(sim, notifications=notifications), options, lambda _: server.messages, 40, sim
        )
    with Journal.open(tmp_path / "state.sqlite", readonly=True) as journal:
        fills = journal.fills()
    mail = server.messages[0]
    assert mail["To"] == "trader@example.com"
    assert "fill" in mail["Subject"]
    journaled = {f"{f.strategy} {f.market}: {f.side} {f.size} at {f.price}" for f in fills}
    lines = mail.get_content().splitlines()
    told = [line[line.index("ut_bot BTC: ") :] for line in lines if "ut_bot BTC: " in line]
    assert told, lines
    assert set(told) <= journaled  # every fill the email tells of is one the journal holds


async def test_an_error_that_ends_the_run_is_sent(
    tmp_path, receiver: Receiver, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RULEBOT_WEBHOOK_URL", f"{receiver.url}/hook")
    settings = {
        "network": {"name": "sim", "url": f"http://127.0.0.1:{unused_tcp_port}"},
        "markets": ["BTC"],
        "runtime": {"status_port": 0},
        "notifications": {"batch_for": 10, "webhooks": [{"format": "json"}]},
    }
    options = RunOptions(paths=[rules_dir(tmp_path, "ut_bot.rule")], journal=tmp_path / "j.sqlite")
    with pytest.raises(Exception) as ended:
        await run_bot(Config.model_validate(settings), options)
    (post,) = receiver.posts  # sent on the way out, without waiting out `batch_for`
    (notice,) = post.body["notices"]
    assert notice["kind"] == "crash"
    assert notice["message"].startswith("rulebot stopped by an error: ")
    assert type(ended.value).__name__ in notice["message"]
