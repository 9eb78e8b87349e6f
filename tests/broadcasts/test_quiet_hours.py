"""Quiet hours hold a marketing broadcast (a durable deferral per member, shown as deferred
with its rule) and let a transactional one through, which also reaches the unsubscribed."""

from __future__ import annotations

from tests.broadcasts.conftest import Stack, eventually
from tests.broadcasts.test_broadcasts import progress

# Quiet all day for email: whatever the hour the test runs at, marketing mail waits.
POLICY = """\
quiet_hours:
  - {channels: [email], start: "00:00", end: "12:00"}
  - {channels: [email], start: "12:00", end: "00:00"}
caps: []
"""


async def _show(stack: Stack, name: str) -> str:
    code, out = await stack.journeys("broadcast", "show", name)
    assert code == 0, out
    return out


async def test_quiet_hours_defer_a_marketing_broadcast_and_show_says_why(stack: Stack) -> None:
    members = stack.customers("launch", 2)
    code, out = await stack.journeys(
        "broadcast", "create", "quiet_sale", "--segment", "launch",
        "--template", str(stack.template()),
    )  # fmt: skip
    assert code == 0, out

    async def deferred() -> str | None:
        out = await _show(stack, "quiet_sale")
        return out if progress(out)["deferred"] == "2" else None

    out = await eventually(deferred, what="both members deferred by quiet hours")
    assert "state: sending" in out and "deferred 2: quiet hours" in out
    assert (progress(out)["sent"], progress(out)["running"]) == ("0", "2")
    assert stack.mails_to(members) == {m: 0 for m in members}


async def test_a_transactional_broadcast_goes_at_once_even_to_the_unsubscribed(
    stack: Stack,
) -> None:
    members = stack.customers("later", 2)
    code, out = await stack.journeys(
        "consent", "set", members[0], "--channel", "email", "--unsubscribed"
    )
    assert code == 0, out
    code, out = await stack.journeys(
        "broadcast", "create", "service_notice", "--segment", "later",
        "--template", str(stack.template()), "--category", "transactional",
    )  # fmt: skip
    assert code == 0, out

    async def done() -> str | None:
        out = await _show(stack, "service_notice")
        return out if "state: done" in out else None

    out = await eventually(done, what="service_notice done")
    assert "transactional email to segment later" in out
    assert progress(out)["sent"] == "2"
    assert stack.mails_to(members) == {m: 1 for m in members}
