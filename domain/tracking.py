"""Open and click tracking for HTML email: a signed pixel and signed click-through links.

A tracked email carries an open pixel (`{public_url}/t/o/{token}.gif`) and has every http(s)
link of its HTML rewritten to `{public_url}/t/c/{token}`. Tokens are signed with the workspace
secret (domain/tokens.py) and carry the customer, the message's idempotency key and, for a
click, the target URL: the API redirects only to the URL inside a valid signature, so the
click endpoint is no open redirect. Links to the workspace's own pages (unsubscribe, surveys)
are left alone: they are not engagement, and an unsubscribe must never depend on a redirect.
The plain-text part keeps its original links (readers see the URL itself; a long signed one
looks like phishing), so clicks there are not counted.

Event ids derive from the message key (and the target URL), so a message is opened once and
each of its links clicked once however often the customer or the mail client fetches them.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from domain.events import CustomerEvent
from domain.tokens import TokenError, sign, verify

OPEN = "track_open"
CLICK = "track_click"
VALID_FOR = timedelta(days=180)
MAX_URL_LENGTH = 2000
# A 1x1 transparent GIF.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
# href of <a> and <area> tags, quoted or not; the value is HTML-escaped in the markup.
_LINK = re.compile(
    r"""(<(?:a|area)\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'<>`=]+))""",
    re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class TrackedOpen:
    customer_id: str
    message_key: str


@dataclass(frozen=True)
class TrackedClick:
    customer_id: str
    message_key: str
    url: str


def _trackable(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class TrackingLinks:
    secret: str
    public_url: str
    # Keys links were signed with before a rotation: still accepted, never used to sign.
    previous: tuple[str, ...] = ()

    @property
    def _base(self) -> str:
        return self.public_url.rstrip("/")

    def open_url(self, customer_id: str, message_key: str, now: datetime) -> str:
        claims = {"c": customer_id, "m": message_key}
        return f"{self._base}/t/o/{sign(self.secret, OPEN, claims, now + VALID_FOR)}.gif"

    def click_url(self, customer_id: str, message_key: str, url: str, now: datetime) -> str:
        claims = {"c": customer_id, "m": message_key, "u": url}
        return f"{self._base}/t/c/{sign(self.secret, CLICK, claims, now + VALID_FOR)}"

    def instrument(self, markup: str, customer_id: str, message_key: str, now: datetime) -> str:
        """The HTML with its http(s) links rewritten and the open pixel added."""

        def rewrite(match: re.Match[str]) -> str:
            raw = next(g for g in match.groups()[1:] if g is not None)
            target = html.unescape(raw).strip()
            if (
                not _trackable(target)
                or len(target) > MAX_URL_LENGTH
                or target.startswith(self._base + "/")
            ):
                return match.group(0)
            tracked = self.click_url(customer_id, message_key, target, now)
            return f'{match.group(1)}"{html.escape(tracked)}"'

        rewritten = _LINK.sub(rewrite, markup)
        pixel = (
            f'<img src="{html.escape(self.open_url(customer_id, message_key, now))}"'
            ' width="1" height="1" alt="" style="border:0;width:1px;height:1px">'
        )
        ends = list(_BODY_END.finditer(rewritten))
        if not ends:
            return rewritten + pixel
        at = ends[-1].start()
        return rewritten[:at] + pixel + rewritten[at:]

    def read_open(self, token: str, now: datetime) -> TrackedOpen:
        """The open a genuine, unexpired pixel token names; TokenError otherwise."""
        claims = verify(self.secret, OPEN, token, now, previous=self.previous)
        customer, key = claims.get("c"), claims.get("m")
        if not isinstance(customer, str) or not isinstance(key, str):
            raise TokenError("malformed", "the link does not name a message")
        return TrackedOpen(customer_id=customer, message_key=key)

    def read_click(self, token: str, now: datetime) -> TrackedClick:
        """The click a genuine, unexpired link token names; TokenError otherwise."""
        claims = verify(self.secret, CLICK, token, now, previous=self.previous)
        customer, key, url = claims.get("c"), claims.get("m"), claims.get("u")
        if not isinstance(customer, str) or not isinstance(key, str) or not isinstance(url, str):
            raise TokenError("malformed", "the link does not name a message and a target")
        if not _trackable(url):
            raise TokenError("malformed", "the link's target is not an http(s) address")
        return TrackedClick(customer_id=customer, message_key=key, url=url)


def opened_event(
    opened: TrackedOpen, now: datetime, properties: dict[str, str | None]
) -> CustomerEvent:
    """`message_opened`, one per message: its id derives from the message key alone."""
    return CustomerEvent(
        event_id=f"trk.open.{_digest(opened.message_key)}",
        customer_id=opened.customer_id,
        type="message_opened",
        occurred_at=now,
        properties={"message_key": opened.message_key[:200], **properties},
    )


def clicked_event(
    clicked: TrackedClick, now: datetime, properties: dict[str, str | None]
) -> CustomerEvent:
    """`message_clicked`, one per message and link: its id derives from key and URL."""
    return CustomerEvent(
        event_id=f"trk.click.{_digest(clicked.message_key, clicked.url)}",
        customer_id=clicked.customer_id,
        type="message_clicked",
        occurred_at=now,
        properties={"message_key": clicked.message_key[:200], "url": clicked.url, **properties},
    )
