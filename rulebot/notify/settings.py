"""rulebot.yaml's `notifications:` section: where the bot's news goes, and how often.

Secrets never live here. The SMTP password, a webhook's URL (Discord's and Slack's carry a token)
and a Telegram bot token are read from environment variables whose names these settings hold
(`password_env`, `url_env`, `token_env`), when the notifier is built.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StrictInt, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from rulebot.section import Section

NotifiedKind = Literal[
    "fill", "risk", "reload", "reload_error", "disconnected", "reconnected", "reconciled", "crash"
]
"""What a channel can be sent: an engine notice's kind. `disconnected` is sent only for a
disconnection that lasted `disconnection_after` seconds, and `reconnected` only after one."""

DEFAULT_EVENTS: Final[tuple[NotifiedKind, ...]] = (
    "fill",
    "risk",
    "reload_error",
    "disconnected",
    "reconnected",
    "reconciled",
    "crash",
)

Seconds = Annotated[float, Field(ge=0, le=86_400)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class EmailSettings(Section):
    """Email over SMTP; `starttls` (port 587) or `tls` (port 465) encrypt the connection."""

    host: Name
    port: StrictInt = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    """`none` only for a relay on this machine: it cannot log in (a password in clear)."""
    username: Name | None = None
    """Log in as this user, with the password from the `password_env` variable."""
    password_env: EnvName = "RULEBOT_SMTP_PASSWORD"
    sender: Name = Field(alias="from")
    to: Annotated[list[Name], Field(min_length=1)]
    ca_file: str | None = None
    """A CA bundle to trust instead of the system's (a server with a private certificate)."""
    events: list[NotifiedKind] = Field(default_factory=lambda: list(DEFAULT_EVENTS))

    @model_validator(mode="after")
    def _no_login_in_clear(self) -> EmailSettings:
        if self.security == "none" and self.username is not None:
            raise PydanticCustomError(
                "email_security",
                "must use `security: starttls` or `tls` to log in: a password never crosses "
                "the network in clear",
            )
        return self


WebhookFormat = Literal["json", "telegram", "discord", "slack"]

URL_ENV: Final[dict[str, str]] = {
    "json": "RULEBOT_WEBHOOK_URL",
    "discord": "RULEBOT_DISCORD_WEBHOOK_URL",
    "slack": "RULEBOT_SLACK_WEBHOOK_URL",
}
"""Where each format's URL is read from unless `url_env` says otherwise."""
TELEGRAM_TOKEN_ENV: Final = "RULEBOT_TELEGRAM_BOT_TOKEN"


class WebhookSettings(Section):
    """An HTTP POST per message: generic JSON, or Telegram's, Discord's or Slack's format.

    Telegram needs `chat_id` and the bot token (from `token_env`); the others need their URL
    (from `url_env`), which for Discord and Slack holds the token that lets anyone post.
    """

    format: WebhookFormat = "json"
    url_env: EnvName | None = None
    token_env: EnvName = TELEGRAM_TOKEN_ENV
    chat_id: StrictInt | Name | None = None
    api_url: str = "https://api.telegram.org"
    """Telegram's Bot API address (a self-hosted Bot API server has its own)."""
    events: list[NotifiedKind] = Field(default_factory=lambda: list(DEFAULT_EVENTS))

    @model_validator(mode="after")
    def _fits_format(self) -> WebhookSettings:
        if self.format == "telegram":
            if self.chat_id is None:
                raise PydanticCustomError(
                    "webhook", "must have a `chat_id` (the chat the Telegram bot writes to)"
                )
            if self.url_env is not None:
                raise PydanticCustomError(
                    "webhook",
                    "must not have `url_env` with format telegram: the address is built from "
                    "`api_url` and the bot token in `token_env`",
                )
        elif self.chat_id is not None:
            raise PydanticCustomError("webhook", "must have `chat_id` only with format telegram")
        if not self.api_url.startswith(("http://", "https://")):
            raise PydanticCustomError(
                "webhook", "must have an `api_url` starting with http:// or https://"
            )
        return self

    @property
    def url_variable(self) -> str:
        """The environment variable holding this webhook's URL (not used by Telegram)."""
        return self.url_env or URL_ENV.get(self.format, URL_ENV["json"])


class Notifications(Section):
    """Channels, and the pacing that keeps a storm of events to one message."""

    disconnection_after: Seconds = 60.0
    """A market-stream disconnection is sent once it has lasted this long; a shorter one never."""
    batch_for: Seconds = 2.0
    """What arrives within this many seconds of a first event goes out as one message."""
    min_interval: Seconds = 60.0
    """At most one message per channel in this many seconds; meanwhile events are gathered
    into one summary (counts by kind and the first few)."""
    retries: StrictInt = Field(3, ge=0, le=10)
    """A failed send is tried again this many times (waiting longer each time), then dropped."""
    email: EmailSettings | None = None
    webhooks: list[WebhookSettings] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.email is not None or bool(self.webhooks)


__all__ = [
    "DEFAULT_EVENTS",
    "EmailSettings",
    "Notifications",
    "NotifiedKind",
    "WebhookSettings",
]
