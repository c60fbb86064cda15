"""The dispatcher's pacing, routing, disconnection timing and crash reporting, against a real
local HTTP receiver (generic JSON webhooks)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from rulebot.notify.build import build_channels
from rulebot.notify.channel import Redactor
from rulebot.notify.notifier import Notifier
from rulebot.notify.settings import Notifications
from rulebot.runtime.messages import Notice
from tests.notify.conftest import Receiver, wait_for

T0 = 1_764_072_000_000  # 2025-11-25 12:00:00 UTC


def fill(number: int) -> Notice:
    return Notice(
        "fill",
        T0 + number,
        f"ut_bot ETH: buy 0.{number:04d} at 3012.5",
        {"strategy": "ut_bot", "market": "ETH", "side": "buy", "trade_id": number},
    )


def notifier_for(receiver: Receiver, hooks: list[dict[str, Any]], **pacing: Any) -> Notifier:
    """A notifier whose webhooks post to `receiver` at /<name> (each hook's `url_env`)."""
    settings = Notifications.model_validate(
        {"batch_for": 0, "min_interval": 0, **pacing, "webhooks": hooks}
    )
    env = {hook["url_env"]: f"{receiver.url}/{hook['url_env'].lower()}" for hook in hooks}
    redact = Redactor()
    return Notifier(build_channels(settings, env, redact), settings, redact, retry_delay_s=0.01)


HOOK = [{"format": "json", "url_env": "HOOK"}]


async def test_a_storm_of_100_fills_within_the_window_is_one_summary(receiver: Receiver) -> None:
    notifier = notifier_for(receiver, HOOK, batch_for=0.5, min_interval=60)
    await notifier.start()
    for number in range(100):
        notifier(fill(number))
        await asyncio.sleep(0)  # the sending task runs between the fills
    await wait_for(lambda: notifier.delivered == 1)
    await notifier.aclose()
    (post,) = receiver.posts
    body = post.body
    assert body["summary"] is True
    assert body["counts"] == {"fill": 100}
    assert [n["data"]["trade_id"] for n in body["notices"]] == [0, 1, 2, 3, 4]
    assert body["omitted"] == 95
    lines = body["text"].splitlines()
    assert lines[0] == "rulebot: 100 events (100 fill)"
    assert lines[1] == "- 2025-11-25 12:00:00 UTC fill: ut_bot ETH: buy 0.0000 at 3012.5"
    assert lines[-1] == "... and 95 more"
    assert len(lines) == 7


async def test_what_arrives_within_the_minimum_interval_goes_out_as_one_summary(
    receiver: Receiver,
) -> None:
    notifier = notifier_for(receiver, HOOK, min_interval=30)
    await notifier.start()
    notifier(fill(1))
    await wait_for(lambda: notifier.delivered == 1)
    for number in range(2, 22):
        notifier(fill(number))
        await asyncio.sleep(0.005)
    assert notifier.delivered == 1  # held: the channel sent less than 30 s ago
    await notifier.aclose()  # closing sends what is pending at once
    first, second = (post.body for post in receiver.posts)
    assert first["summary"] is False
    assert first["text"] == ("fill at 2025-11-25 12:00:00 UTC\nut_bot ETH: buy 0.0001 at 3012.5")
    assert first["title"] == "rulebot fill: ut_bot ETH: buy 0.0001 at 3012.5"
    assert second["summary"] is True
    assert second["counts"] == {"fill": 20}
    assert second["omitted"] == 15


async def test_each_channel_gets_only_the_kinds_it_asked_for(receiver: Receiver) -> None:
    hooks = [
        {"format": "json", "url_env": "FILLS", "events": ["fill"]},
        {"format": "json", "url_env": "ALARMS", "events": ["risk", "crash"]},
    ]
    notifier = notifier_for(receiver, hooks, batch_for=0.2)
    async with notifier.running():
        notifier(fill(1))
        notifier(Notice("risk", T0, "max_drawdown: 12% > 10%", {"state": "breached"}))
        notifier(Notice("crash", T0, "error while handling TradesPrinted: boom", {}))
        notifier(Notice("reload", T0, "rules/ut_bot.rule: reloaded", {}))
        await wait_for(lambda: notifier.delivered == 2)
    (fills,) = receiver.on("/fills")
    assert fills.body["counts"] == {"fill": 1}
    (alarms,) = receiver.on("/alarms")
    assert alarms.body["counts"] == {"risk": 1, "crash": 1}
    assert "RISK LIMIT BREACHED: max_drawdown: 12% > 10%" in alarms.body["text"]
    assert len(receiver.posts) == 2  # the successful reload went nowhere


async def test_a_disconnection_shorter_than_the_threshold_sends_nothing(
    receiver: Receiver,
) -> None:
    notifier = notifier_for(receiver, HOOK, disconnection_after=0.3)
    async with notifier.running():
        notifier(Notice("disconnected", T0, "market stream lost: connection reset", {}))
        await asyncio.sleep(0.01)
        notifier(Notice("reconnected", T0, "market stream back", {"reconnects": 1}))
        notifier(fill(1))  # something that is sent, to know the channel works
        await wait_for(lambda: notifier.delivered == 1)
    assert [post.body["counts"] for post in receiver.posts] == [{"fill": 1}]


async def test_a_longer_disconnection_sends_one_message_then_says_it_is_back(
    receiver: Receiver,
) -> None:
    notifier = notifier_for(receiver, HOOK, disconnection_after=0.1)
    async with notifier.running():
        notifier(Notice("disconnected", T0, "market stream lost: connection reset", {}))
        await wait_for(lambda: notifier.delivered == 1)
        notifier(Notice("disconnected", T0, "market stream lost: refused", {}))  # same outage
        notifier(Notice("reconnected", T0, "market stream back", {"reconnects": 2}))
        await wait_for(lambda: notifier.delivered == 2)
    lost, back = (post.body for post in receiver.posts)
    assert lost["counts"] == {"disconnected": 1}
    assert lost["notices"][0]["message"] == (
        "market stream lost: connection reset (for more than 0.1 s, reconnecting)"
    )
    assert back["counts"] == {"reconnected": 1}
    assert back["notices"][0]["message"].startswith("market stream back after ")


async def test_an_error_that_ends_the_run_is_sent_as_a_crash(receiver: Receiver) -> None:
    notifier = notifier_for(receiver, HOOK, batch_for=10, min_interval=60)
    with pytest.raises(RuntimeError, match="journal disk full"):
        async with notifier.running():
            raise RuntimeError("journal disk full")
    (post,) = receiver.posts  # sent at once on the way out, not after `batch_for`
    (notice,) = post.body["notices"]
    assert notice["kind"] == "crash"
    assert notice["message"] == "rulebot stopped by an error: RuntimeError: journal disk full"


async def test_a_failing_channel_is_retried_logged_and_never_raised(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = [
        {"format": "json", "url_env": "FLAKY"},
        {"format": "json", "url_env": "BROKEN"},
        {"format": "json", "url_env": "GOOD"},
    ]
    receiver.script["/flaky"] = [(500, "busy"), (503, "busy")]
    receiver.script["/broken"] = [(500, "down")] * 10
    notifier = notifier_for(receiver, hooks, retries=2)
    with caplog.at_level(logging.WARNING, logger="rulebot.notify"):
        async with notifier.running():
            notifier(fill(1))
            await wait_for(lambda: notifier.delivered + notifier.dropped == 3)
    assert len(receiver.on("/flaky")) == 3  # two failures, then through
    assert len(receiver.on("/broken")) == 3  # the first try and two retries, then dropped
    assert len(receiver.on("/good")) == 1
    assert (notifier.delivered, notifier.dropped) == (2, 1)
    dropped = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in dropped] == [
        "notification to json webhook at 127.0.0.1 not sent: HTTP 500: down"
    ]


async def test_secrets_are_redacted_from_what_is_sent(receiver: Receiver) -> None:
    key = "ab" * 40
    settings = Notifications.model_validate({"batch_for": 0, "webhooks": HOOK})
    redact = Redactor([key])
    channels = build_channels(settings, {"HOOK": f"{receiver.url}/hook"}, redact)
    notifier = Notifier(channels, settings, redact)
    async with notifier.running():
        shouted = f"0X{key.upper()}"  # a key in any case, with or without 0x, as in the logs
        message = f"signer refused key 0x{key}, then {shouted}"
        notifier(Notice("crash", T0, message, {"detail": key, "again": key.upper()}))
        await wait_for(lambda: notifier.delivered == 1)
    (post,) = receiver.posts
    assert key not in str(post.body).lower()
    assert post.body["notices"][0]["message"] == "signer refused key ***, then ***"
    assert post.body["notices"][0]["data"] == {"detail": "***", "again": "***"}


async def test_without_channels_the_notifier_does_nothing() -> None:
    notifier = Notifier([], Notifications())
    async with notifier.running():
        notifier(fill(1))
    assert (notifier.delivered, notifier.dropped) == (0, 0)
