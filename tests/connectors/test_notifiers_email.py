"""The email notifier against a real SMTP server (aiosmtpd) on 127.0.0.1: one message per batch."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connectors.alerting.model import Alert
from connectors.notifiers.email import EmailNotifier, EmailSettings
from tests.localca import server_tls

PASSWORD = "s3cret-pass"


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    yield controller, mailbox
    controller.stop()


def alert(n: int) -> Alert:
    return Alert(rule_id="wagner-libya", rule_name="Wagner in Libya", story_id=f"story-{n}",
                 doc_id=f"doc-{n}", title=f"Вагнер в Ливии {n}",
                 url=f"https://news.example.org/{n}", published="2025-03-01T10:00:00Z",
                 matched_at="2025-03-01T11:00:00Z", outlet="Example News")


def settings(port: int, **changes) -> EmailSettings:
    values = dict(host="127.0.0.1", port=port, sender="alerts@example.org",
                  to=("desk@example.org", "editor@example.org"), timeout=5.0)
    values.update(changes)
    return EmailSettings(**values)


def test_one_message_carries_the_whole_batch(smtp: tuple[Controller, Mailbox]) -> None:
    controller, mailbox = smtp
    alerts = [alert(1), alert(2)]
    results = EmailNotifier(settings(controller.port)).send(alerts)
    assert [(r.alert_id, r.ok) for r in results] == [(a.id, True) for a in alerts]
    assert len(mailbox.messages) == 1
    sender, recipients, message = mailbox.messages[0]
    assert sender == "alerts@example.org"
    assert recipients == ["desk@example.org", "editor@example.org"]
    assert message["Subject"] == "libya-watch: 2 new alerts: Вагнер в Ливии 1"
    body = message.get_content()
    for one in alerts:
        assert one.title in body and one.url in body and one.id in body


def test_the_same_batch_gets_the_same_message_id(smtp: tuple[Controller, Mailbox]) -> None:
    controller, mailbox = smtp
    notifier = EmailNotifier(settings(controller.port))
    notifier.send([alert(1), alert(2)])
    notifier.send([alert(2), alert(1)])
    notifier.send([alert(3)])
    ids = [message["Message-ID"] for _, _, message in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]


def test_login_with_the_password_from_the_environment(smtp: tuple[Controller, Mailbox]) -> None:
    controller, mailbox = smtp
    good = EmailNotifier(settings(controller.port, username="alerts", password_env="SMTP_PW"),
                         environ={"SMTP_PW": PASSWORD})
    assert good.send([alert(1)])[0].ok
    bad = EmailNotifier(settings(controller.port, username="alerts", password="wrong"))
    results = bad.send([alert(2), alert(3)])
    assert [r.ok for r in results] == [False, False]
    assert results[0].error.startswith(f"smtp 127.0.0.1:{controller.port}: 535")
    assert len(mailbox.messages) == 1


def test_starttls_verifies_the_server_against_ca_certs(tmp_path: Path) -> None:
    server_context, ca_file = server_tls(tmp_path)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(),
                            tls_context=server_context, require_starttls=True)
    controller.start()
    try:
        trusted = settings(controller.port, starttls=True, ca_certs=ca_file)
        assert EmailNotifier(trusted).send([alert(1)])[0].ok
        untrusted = EmailNotifier(replace(trusted, ca_certs=None)).send([alert(2)])
        plain = EmailNotifier(replace(trusted, starttls=False, ca_certs=None)).send([alert(3)])
    finally:
        controller.stop()
    assert len(mailbox.messages) == 1
    assert not untrusted[0].ok and "CERTIFICATE_VERIFY_FAILED" in untrusted[0].error
    assert not plain[0].ok and "530" in plain[0].error  # the server demands STARTTLS


def test_no_server_fails_the_batch() -> None:
    port = free_port()
    results = EmailNotifier(settings(port)).send([alert(1), alert(2)])
    assert [r.ok for r in results] == [False, False]
    assert results[0].error.startswith(f"smtp 127.0.0.1:{port}: ConnectionRefusedError")


def test_nothing_to_send_connects_nowhere() -> None:
    assert EmailNotifier(settings(free_port())).send([]) == []


def test_settings_repr_hides_the_password() -> None:
    assert PASSWORD not in repr(settings(25, username="alerts", password=PASSWORD))
