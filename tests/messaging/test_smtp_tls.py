"""Email to a real relay: STARTTLS, implicit TLS and SMTP AUTH against aiosmtpd.

Each relay here requires authentication and presents a certificate made for the test by a
throwaway CA (trustme); the channel trusts that CA only through `JOURNEYS_SMTP_CA_FILE`. A relay
the settings do not fit fails the message with its cause and the setting to fix, once, and
nothing is handed over.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.channels import RenderedMessage, TransientDeliveryError
from activities.email_channel import SmtpConfigurationError, SmtpEmailChannel
from app.journeys import JourneyService
from domain.customers import CustomerUpsert
from entrypoints.api import running
from store.store import Store
from tests.messaging.test_email_delivery import RECEIPT
from tests.messaging.test_exactly_once import Deployment
from workers.data_converter import DATA_CONVERTER
from workers.dev_server import DevServer
from workers.mail_capture import MailCapture, _Handler, free_port
from workers.provider_sink import provider_sink
from workers.settings import Settings
from workers.worker import activities_for, build_worker, default_channels

USER, PASSWORD = "journeys", "relay-secret"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass
class Relay:
    """An SMTP server that keeps what it is given and counts the logins tried."""

    host: str
    port: int
    received: list[tuple[str, list[str], bytes, bool, bool]] = field(default_factory=list)
    logins: list[tuple[Session, str]] = field(default_factory=list)

    def sessions_with_a_login(self) -> int:
        """Connections that tried to log in (a client may try several mechanisms in one)."""
        return len({id(session) for session, _ in self.logins})

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        transport = server.transport
        secured = transport is not None and transport.get_extra_info("ssl_object") is not None
        self.received.append(
            (
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or b""),
                secured,
                bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((session, data.login.decode()))
        ok = (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)


@dataclass
class Relays:
    ca_file: Path
    starttls: Relay  # 587-style: plain text, then STARTTLS, AUTH required
    implicit: Relay  # 465-style: TLS from the first byte, AUTH required
    plain: Relay  # the dev capture's kind: no TLS at all


@pytest.fixture(scope="module")
def relays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relays]:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)

    host = "127.0.0.1"
    starttls, implicit, plain = (Relay(host, free_port()) for _ in range(3))
    # aiosmtpd counts only STARTTLS as TLS (and warns of AUTH without it, see pytestmark);
    # this relay's whole connection is TLS already
    implicit_controller = Controller(
        implicit,
        hostname=host,
        port=implicit.port,
        ssl_context=server_tls,
        auth_required=True,
        auth_require_tls=False,
        authenticator=implicit.authenticate,
    )
    controllers = [
        Controller(
            starttls,
            hostname=host,
            port=starttls.port,
            tls_context=server_tls,
            require_starttls=True,
            auth_required=True,
            authenticator=starttls.authenticate,
        ),
        implicit_controller,
        Controller(plain, hostname=host, port=plain.port),
    ]
    for controller in controllers:
        controller.start()
    try:
        yield Relays(ca_file, starttls, implicit, plain)
    finally:
        for controller in controllers:
            controller.stop()


def channel(relay: Relay, **settings: Any) -> SmtpEmailChannel:
    settings.setdefault("timeout", 5.0)
    return SmtpEmailChannel(relay.host, relay.port, "shop@example.com", **settings)


def message(recipient: str = "ada@example.com") -> RenderedMessage:
    return RenderedMessage(
        idempotency_key=f"k-{uuid.uuid4().hex}",
        channel="email",
        recipient=recipient,
        subject="Your receipt",
        text="Thanks for your order",
    )


def authenticated(relays: Relays, tls: str, **extra: Any) -> dict[str, Any]:
    return {
        "tls": tls,
        "username": USER,
        "password": PASSWORD,
        "ca_file": relays.ca_file,
        **extra,
    }


async def test_starttls_with_a_login_delivers_over_tls(relays: Relays) -> None:
    relay = relays.starttls
    before = len(relay.received)
    provider_id = await channel(relay, **authenticated(relays, "starttls")).deliver(message())
    [(sender, recipients, content, secured, logged_in)] = relay.received[before:]
    assert (sender, recipients) == ("shop@example.com", ["ada@example.com"])
    assert secured and logged_in, "the message went over TLS after a login"
    assert provider_id.encode() in content and b"Thanks for your order" in content


async def test_implicit_tls_with_a_login_delivers_over_tls(relays: Relays) -> None:
    relay = relays.implicit
    before = len(relay.received)
    await channel(relay, **authenticated(relays, "tls")).deliver(message("bo@example.com"))
    [(_, recipients, _, secured, logged_in)] = relay.received[before:]
    assert recipients == ["bo@example.com"] and secured and logged_in


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_a_wrong_password_is_a_permanent_error_naming_the_login(
    relays: Relays, tls: str
) -> None:
    relay = relays.starttls if tls == "starttls" else relays.implicit
    before = len(relay.received)
    wrong = authenticated(relays, tls, password="not-the-password")
    with pytest.raises(SmtpConfigurationError) as refused:
        await channel(relay, **wrong).deliver(message())
    text = str(refused.value)
    assert f"refused the login as '{USER}'" in text and "535" in text
    assert "JOURNEYS_SMTP_USERNAME" in text and "JOURNEYS_SMTP_PASSWORD" in text
    assert "not-the-password" not in text, "the password is never echoed"
    assert len(relay.received) == before


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_an_untrusted_certificate_names_verification_and_the_ca_setting(
    relays: Relays, tls: str
) -> None:
    relay = relays.starttls if tls == "starttls" else relays.implicit
    logins = relay.sessions_with_a_login()
    system_cas_only = authenticated(relays, tls, ca_file=None)
    with pytest.raises(SmtpConfigurationError) as refused:
        await channel(relay, **system_cas_only).deliver(message())
    text = str(refused.value)
    assert "certificate verification failed" in text and "JOURNEYS_SMTP_CA_FILE" in text
    assert relay.sessions_with_a_login() == logins, (
        "no password is sent to a relay that is not trusted"
    )


async def test_a_certificate_for_another_name_fails_verification(relays: Relays) -> None:
    ca = trustme.CA()  # a second relay, whose certificate names someone else
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("smtp.example.net").configure_cert(server_tls)
    relay = Relay("127.0.0.1", free_port())
    controller = Controller(relay, hostname=relay.host, port=relay.port, ssl_context=server_tls)
    controller.start()
    try:
        ca_file = relays.ca_file.with_name("other-ca.pem")
        ca.cert_pem.write_to_path(str(ca_file))
        with pytest.raises(SmtpConfigurationError) as refused:
            await channel(relay, tls="tls", ca_file=ca_file).deliver(message())
    finally:
        controller.stop()
    assert "certificate verification failed" in str(refused.value)
    assert "JOURNEYS_SMTP_HOST" in str(refused.value)


async def test_implicit_tls_to_a_plaintext_port_is_a_handshake_error_naming_the_setting(
    relays: Relays,
) -> None:
    with pytest.raises(SmtpConfigurationError) as refused:
        await channel(relays.plain, **authenticated(relays, "tls")).deliver(message())
    text = str(refused.value)
    assert f"TLS handshake with the relay 127.0.0.1:{relays.plain.port} failed" in text
    assert "JOURNEYS_SMTP_TLS=starttls" in text
    assert relays.plain.received == []


async def test_starttls_to_a_relay_without_it_is_a_clear_error(relays: Relays) -> None:
    with pytest.raises(SmtpConfigurationError) as refused:
        await channel(relays.plain, **authenticated(relays, "starttls")).deliver(message())
    assert "does not offer STARTTLS" in str(refused.value)
    assert "JOURNEYS_SMTP_TLS=tls" in str(refused.value)
    assert relays.plain.received == []


async def test_starttls_to_an_implicit_tls_port_times_out_as_transient_with_a_hint(
    relays: Relays,
) -> None:
    # The relay waits for a TLS handshake, the client for a greeting: only the timeout ends it.
    settings = authenticated(relays, "starttls", timeout=0.5)
    with pytest.raises(TransientDeliveryError) as waited:
        await channel(relays.implicit, **settings).deliver(message())
    assert "JOURNEYS_SMTP_TLS=tls" in str(waited.value)


async def test_a_relay_that_refuses_connections_stays_transient(relays: Relays) -> None:
    closed = Relay("127.0.0.1", free_port())
    with pytest.raises(TransientDeliveryError) as refused:
        await channel(closed, **authenticated(relays, "starttls")).deliver(message())
    assert not isinstance(refused.value, SmtpConfigurationError)


async def test_a_login_to_a_relay_without_auth_is_a_clear_error(relays: Relays) -> None:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    relay = Relay("127.0.0.1", free_port())
    controller = Controller(relay, hostname=relay.host, port=relay.port, ssl_context=server_tls)
    controller.start()
    try:
        ca_file = relays.ca_file.with_name("no-auth-ca.pem")
        ca.cert_pem.write_to_path(str(ca_file))
        settings = authenticated(relays, "tls", ca_file=ca_file)
        with pytest.raises(SmtpConfigurationError) as refused:
            await channel(relay, **settings).deliver(message())
    finally:
        controller.stop()
    assert "offers no SMTP AUTH" in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"tls": "ssl"}, "JOURNEYS_SMTP_TLS='ssl'"),
        ({"tls": "off", "username": USER, "password": PASSWORD}, "clear text"),
        ({"tls": "starttls", "username": USER}, "JOURNEYS_SMTP_PASSWORD"),
        ({"tls": "tls", "ca_file": "/nonexistent/ca.pem"}, "JOURNEYS_SMTP_CA_FILE"),
    ],
)
def test_settings_that_can_never_work_are_refused_when_the_channel_is_built(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        SmtpEmailChannel("127.0.0.1", 587, "shop@example.com", **settings)


def test_the_worker_builds_the_email_channel_from_the_smtp_settings(relays: Relays) -> None:
    settings = Settings(
        smtp_host="smtp.example.net",
        smtp_port=587,
        smtp_tls="starttls",
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_ca_file=relays.ca_file,
        smtp_timeout=7.5,
    )
    email = default_channels(settings)["email"]
    assert isinstance(email, SmtpEmailChannel)
    assert (email.host, email.port, email.tls, email.timeout) == (
        "smtp.example.net",
        587,
        "starttls",
        7.5,
    )
    assert (email.username, email.password) == (USER, PASSWORD)
    assert email.tls_context is not None
    assert email.tls_context.verify_mode == ssl.CERT_REQUIRED
    assert email.tls_context.check_hostname


def test_the_dev_default_stays_plain_smtp_without_a_login() -> None:
    email = default_channels(Settings())["email"]
    assert isinstance(email, SmtpEmailChannel)
    assert (email.tls, email.username, email.tls_context) == ("off", None, None)


# --- through the send activity --------------------------------------------------------------


@pytest_asyncio.fixture
async def journey(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[Store, JourneyService, str]]:
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    queue = f"tls-{uuid.uuid4().hex[:8]}"

    async def connect() -> Any:
        return time_skipping_env.client

    service = JourneyService(store, connect, queue)
    service.publish_definition(RECEIPT)
    try:
        yield store, service, queue
    finally:
        store.close()


async def _run_receipt(
    env: WorkflowEnvironment,
    journey: tuple[Store, JourneyService, str],
    email: SmtpEmailChannel,
    customer_id: str,
) -> Any:
    store, service, queue = journey
    store.customers.upsert(
        CustomerUpsert(customer_id=customer_id, email=f"{customer_id}@example.com"),
        datetime.now(UTC),
    )
    async with build_worker(env.client, queue, activities_for(store, {"email": email})):
        delivery = await service.enroll("mail_receipt", customer_id)
        assert delivery.workflow_id is not None
        await asyncio.wait_for(
            env.client.get_workflow_handle(delivery.workflow_id).result(), timeout=60
        )
    [run] = store.runs.for_customer(customer_id)
    assert run.status == "completed", "the journey goes on"
    [row] = store.outbox.for_customer(customer_id)
    return row


async def test_a_journey_emails_over_starttls_with_a_login_once(
    time_skipping_env: WorkflowEnvironment,
    journey: tuple[Store, JourneyService, str],
    relays: Relays,
) -> None:
    relay = relays.starttls
    before = len(relay.received)
    email = channel(relay, **authenticated(relays, "starttls"))
    row = await _run_receipt(time_skipping_env, journey, email, "ada")
    assert row.status == "sent"
    [(_, recipients, content, secured, logged_in)] = relay.received[before:]
    assert recipients == ["ada@example.com"] and secured and logged_in
    assert row.idempotency_key.encode() in content


async def test_a_refused_login_fails_the_message_once_with_its_reason_recorded(
    time_skipping_env: WorkflowEnvironment,
    journey: tuple[Store, JourneyService, str],
    relays: Relays,
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay = relays.implicit
    logins, before = relay.sessions_with_a_login(), len(relay.received)
    email = channel(relay, **authenticated(relays, "tls", password="stale"))
    row = await _run_receipt(time_skipping_env, journey, email, "cy")
    assert relay.sessions_with_a_login() == logins + 1, "a refused login is not retried"
    assert len(relay.received) == before
    assert row.status == "failed"
    assert "refused the login" in row.detail and "JOURNEYS_SMTP_PASSWORD" in row.detail
    store = journey[0]
    [decision] = store.ledger.decisions(customer_id="cy")
    assert decision.decision == "failed" and "535" in decision.reason
    lines = [r.getMessage() for r in caplog.records if "misconfigured" in r.getMessage()]
    assert len(lines) == 1 and "JOURNEYS_SMTP_PASSWORD" in lines[0]


# --- exactly once over TLS: a real worker killed during DATA --------------------------------


class TlsMailCapture(MailCapture):
    """The dev capture (its faults, hold and release included) behind STARTTLS and AUTH."""

    def __init__(self, directory: Path, tls: ssl.SSLContext, relay: Relay) -> None:
        super().__init__(directory)
        self._tls, self.relay = tls, relay

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            tls_context=self._tls,
            require_starttls=True,
            auth_required=True,
            authenticator=self.relay.authenticate,
        )
        self._controller.start()


@pytest_asyncio.fixture
async def tls_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Deployment]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    relay = Relay("127.0.0.1", 0)
    capture = TlsMailCapture(tmp_path / "mail", server_tls, relay)
    # `journeys worker` reads these from its environment, which Deployment.worker passes on
    for name, value in {
        "JOURNEYS_SMTP_TLS": "starttls",
        "JOURNEYS_SMTP_USERNAME": USER,
        "JOURNEYS_SMTP_PASSWORD": PASSWORD,
        "JOURNEYS_SMTP_CA_FILE": str(ca_file),
        "JOURNEYS_SECRET_KEY": "tls-kill-test-secret",
    }.items():
        monkeypatch.setenv(name, value)
    server = DevServer(tmp_path / "temporal.db", "127.0.0.1", free_port(), free_port())
    await server.start(tmp_path / "temporal.log")
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    app = provider_sink()
    capture.start()
    try:
        client = await Client.connect(server.address, data_converter=DATA_CONVERTER)

        async def connect() -> Client:
            return client

        queue = f"tls-once-{uuid.uuid4().hex[:6]}"
        service = JourneyService(store, connect, queue)
        service.publish_definition(RECEIPT)
        async with running(app) as url:
            yield Deployment(tmp_path, server, store, service, app.state.sink, url, queue, capture)
    finally:
        capture.release()
        capture.stop()
        store.close()
        server.stop()


async def test_a_worker_killed_during_data_over_starttls_does_not_email_twice(
    tls_deployment: Deployment,
) -> None:
    d = tls_deployment
    d.store.customers.upsert(
        CustomerUpsert(customer_id="eve", email="eve@example.com"), datetime.now(UTC)
    )
    d.capture.hold(600)  # the relay takes the whole message and keeps its reply to DATA back

    def sending() -> None:
        [row] = d.store.outbox.for_customer("eve")
        assert row.status == "sending", "the row is committed as sending before DATA"

    await d.kill_mid_send(
        "mail_receipt",
        "eve",
        lambda: d.capture.count() >= 1,
        release=d.capture.release,
        before_kill=sending,
    )
    assert d.capture.commands("DATA") == 1, "the second worker sent the email again"
    [received] = d.capture.to("eve@example.com")
    [message] = d.store.outbox.for_customer("eve")
    assert received.idempotency_key == message.idempotency_key
    assert message.status == "uncertain"
    assert isinstance(d.capture, TlsMailCapture)
    # the first worker logged in over STARTTLS; the second found the row sending, sent nothing
    assert d.capture.relay.sessions_with_a_login() == 1
    profile = d.store.customers.get("eve")
    assert profile is not None and "receipt_done" in profile.tags, "the journey went on"
