"""The email notifier: one plain-text message per batch of alerts, over SMTP.

One message per run keeps a busy day from becoming a hundred mails. The
Message-ID is derived from the alert ids, so if a crash makes us send the
same batch twice, mail systems that drop duplicate Message-IDs (Gmail,
most list servers) show it once. A failure (connection, TLS, login,
refused sender) fails the whole batch; it stays pending for the next run.
Recipients refused while others accepted are reported on the results
without failing them (sending again would repeat the mail to the others).
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from connectors.alerting.model import Alert
from connectors.errors import ConfigError
from connectors.notifiers.base import Notifier, SendResult, secret_from

__all__ = ["EmailNotifier", "EmailSettings", "build_message"]

_ADDRESS = r"[^@\s<>]+@[^@\s<>]+"


@dataclass(frozen=True, repr=False)
class EmailSettings:
    """The SMTP server, the envelope, and the login (password inline or, better, by env).

    `starttls` upgrades the connection before logging in, verifying the
    server's certificate against the system CAs or `ca_certs`.
    """

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    ca_certs: Path | None = None
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    subject_prefix: str = "libya-watch"

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'***'"
        return (f"EmailSettings(host={self.host!r}, port={self.port!r}, sender={self.sender!r}, "
                f"to={self.to!r}, starttls={self.starttls!r}, username={self.username!r}, "
                f"password={password}, password_env={self.password_env!r})")


def build_message(alerts: Sequence[Alert], settings: EmailSettings) -> EmailMessage:
    """The message for one batch: a subject with the count and one block per alert."""
    count = len(alerts)
    message = EmailMessage()
    first = alerts[0].title or alerts[0].rule_name
    subject = f"{count} new alert{'s' if count != 1 else ''}: {first}"
    message["Subject"] = f"{settings.subject_prefix}: {subject}"[:200]
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    digest = hashlib.sha1("\n".join(sorted(a.id for a in alerts)).encode()).hexdigest()
    message["Message-ID"] = f"<{digest}@libya-watch.alerts>"
    blocks = [f"{count} new alert{'s' if count != 1 else ''} from libya-watch.", ""]
    for alert in alerts:
        details = " · ".join(p for p in (alert.outlet, alert.published) if p)
        blocks.append(f"[{alert.rule_name}] {alert.title or '(no title)'}")
        if details:
            blocks.append(f"  {details}")
        if alert.url:
            blocks.append(f"  {alert.url}")
        blocks.append(f"  story {alert.story_id} · alert {alert.id}")
        blocks.append("")
    message.set_content("\n".join(blocks))
    return message


class EmailNotifier(Notifier):
    kind = "email"
    schema = {
        "type": "object",
        "required": ["host", "from", "to"],
        "additionalProperties": False,
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "from": {"type": "string", "pattern": _ADDRESS, "patternDescription": "an address"},
            "to": {"type": ["string", "array"], "minItems": 1, "pattern": _ADDRESS,
                   "patternDescription": "an address",
                   "items": {"type": "string", "pattern": _ADDRESS,
                             "patternDescription": "an address"}},
            "starttls": {"type": "boolean"},
            "ca_certs": {"type": "string", "minLength": 1},
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string"},
            "password_env": {"type": "string", "pattern": r"[A-Za-z_][A-Za-z0-9_]*",
                             "patternDescription": "an environment variable name"},
            "timeout": {"type": "number", "minimum": 0.001},
            "subject_prefix": {"type": "string"},
        },
    }

    def __init__(self, settings: EmailSettings, *, name: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, name=name, environ=environ)
        self._password = secret_from(settings.password, settings.password_env, environ,
                                     f"notifier '{self.name}'")

    @classmethod
    def settings_from(cls, options: Mapping[str, Any], *, base_dir: Path) -> EmailSettings:
        if "password" in options and "password_env" in options:
            raise ConfigError("give either 'password' or 'password_env', not both")
        has_password = "password" in options or "password_env" in options
        if has_password != ("username" in options):
            raise ConfigError("a username needs a password (or password_env) and vice versa")
        to = options["to"]
        ca_certs = None
        if "ca_certs" in options:
            if not options.get("starttls"):
                raise ConfigError("ca_certs needs starttls: true")
            ca_certs = Path(os.path.expanduser(options["ca_certs"]))
            ca_certs = ca_certs if ca_certs.is_absolute() else base_dir / ca_certs
        return EmailSettings(
            host=options["host"], sender=options["from"],
            to=(to,) if isinstance(to, str) else tuple(to),
            port=options.get("port", 25), starttls=options.get("starttls", False),
            ca_certs=ca_certs,
            username=options.get("username"), password=options.get("password"),
            password_env=options.get("password_env"),
            timeout=float(options.get("timeout", 30.0)),
            subject_prefix=options.get("subject_prefix", "libya-watch"))

    def send(self, alerts: Sequence[Alert]) -> list[SendResult]:
        if not alerts:
            return []
        settings = self.settings
        where = f"smtp {settings.host}:{settings.port}"
        message = build_message(alerts, settings)
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
                if settings.starttls:
                    cafile = os.fspath(settings.ca_certs) if settings.ca_certs else None
                    smtp.starttls(context=ssl.create_default_context(cafile=cafile))
                if settings.username is not None:
                    smtp.login(settings.username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            error = f"{where}: every recipient refused ({', '.join(exc.recipients)})"
            return [SendResult(alert.id, False, error) for alert in alerts]
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)
            error = self._scrub(f"{where}: {exc.smtp_code} {text}")
            return [SendResult(alert.id, False, error) for alert in alerts]
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            error = self._scrub(f"{where}: {type(exc).__name__}: {exc}")
            return [SendResult(alert.id, False, error) for alert in alerts]
        note = f"{where}: refused {', '.join(sorted(refused))}" if refused else None
        return [SendResult(alert.id, True, note) for alert in alerts]

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text
