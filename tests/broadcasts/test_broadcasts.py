"""`journeys broadcast`: a one-off send to a segment, on the real stack (dev server, worker,
SMTP capture). Exactly one email per consenting member, the others skipped with their reason;
`--at` sends nothing before its time; a name used twice, and every bad input, is refused
naming the field and writes nothing; `broadcast show` counts what the capture holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.broadcasts.conftest import Stack, eventually
from workers.settings import get_settings

HEADERS = ("members", "enrolled", "sent", "deferred", "skipped", "failed", "running")


def progress(out: str) -> dict[str, str]:
    """The progress table of `broadcast show` as {column: cell}."""
    rows = [
        cells
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.replace("┃", "│").strip("│ ").split("│")]) == 7
    ]
    header = next(i for i, row in enumerate(rows) if tuple(row) == HEADERS)
    return dict(zip(HEADERS, rows[header + 1], strict=True))


async def _done(stack: Stack, name: str) -> str:
    async def probe() -> str | None:
        code, out = await stack.journeys("broadcast", "show", name)
        assert code == 0, out
        return out if "state: done" in out else None

    return await eventually(probe, what=f"{name} done")


async def test_each_consenting_member_gets_one_email_and_the_others_are_skipped_with_why(
    stack: Stack,
) -> None:
    subscribed = stack.customers("launch", 3)
    [unsubscribed] = stack.customers("launch", 1)
    [no_address] = stack.customers("launch", 1, email=False)
    code, out = await stack.journeys(
        "consent", "set", unsubscribed, "--channel", "email", "--unsubscribed"
    )
    assert code == 0, out
    code, out = await stack.journeys(
        "broadcast", "create", "winter_launch", "--segment", "launch",
        "--template", str(stack.template()), "--channel", "email",
    )  # fmt: skip
    assert code == 0, out
    assert "winter_launch: email to segment launch now" in out
    out = await _done(stack, "winter_launch")
    assert stack.mails_to(subscribed) == {c: 1 for c in subscribed}
    assert stack.mails_to([unsubscribed, no_address]) == {unsubscribed: 0, no_address: 0}
    [mail] = stack.capture.to(f"{subscribed[0]}@example.com")
    assert mail.subject == "Winter sale, Member0"
    assert mail.message["List-Unsubscribe"]  # marketing: the unsubscribe path of any send
    assert progress(out) == {
        "members": "5",
        "enrolled": "5",
        "sent": "3",
        "deferred": "0",
        "skipped": "2",
        "failed": "0",
        "running": "0",
    }
    assert "skipped 1: unsubscribed from email" in out
    assert "skipped 1: no email address" in out
    # Its own funnel: the send step of its journey, entered by every member.
    assert "broadcast_winter_launch" in out and "Steps" in out
    # Listed, 80 columns wide.
    code, out = await stack.journeys("broadcast", "list")
    assert code == 0 and "winter_launch" in out and "launch" in out, out


async def test_a_broadcast_at_a_future_time_sends_nothing_before_it_and_sends_after(
    stack: Stack,
) -> None:
    members = stack.customers("later", 2)
    at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    code, out = await stack.journeys(
        "broadcast", "create", "winter_later", "--segment", "later",
        "--template", str(stack.template()), "--at", at.isoformat(),
    )  # fmt: skip
    assert code == 0, out
    assert f"at {at:%Y-%m-%d %H:%M} UTC" in out
    code, out = await stack.journeys("broadcast", "show", "winter_later")
    assert datetime.now(UTC) < at, "the machine took too long to look before the time"
    assert code == 0 and "state: scheduled" in out, out
    assert progress(out)["enrolled"] == "0"
    assert stack.mails_to(members) == {m: 0 for m in members}
    out = await _done(stack, "winter_later")
    assert datetime.now(UTC) >= at
    assert stack.mails_to(members) == {m: 1 for m in members}
    # Sent after its time, never before: the capture got them after `at`.
    for member in members:
        [mail] = stack.capture.to(f"{member}@example.com")
        sent = datetime.fromtimestamp(mail.path.stat().st_mtime, UTC)
        assert sent >= at, (sent, at)
    assert progress(out)["sent"] == "2"


async def test_the_same_name_twice_is_refused_and_nobody_gets_it_twice(stack: Stack) -> None:
    members = stack.customers("twice", 2)
    template = str(stack.template())
    args = ("broadcast", "create", "winter_twice", "--segment", "twice", "--template", template)
    code, out = await stack.journeys(*args)
    assert code == 0, out
    await _done(stack, "winter_twice")
    before = stack.rows()
    code, out = await stack.journeys(*args)
    assert code == 1
    assert "NAME: a broadcast named 'winter_twice' exists already" in out
    assert stack.rows() == before
    # A name whose journey id is a journey someone published is taken too.
    journey = stack.template(
        "id: broadcast_taken\nname: Taken\ntrigger: {event: signed_up}\n"
        "steps:\n  - {id: done, end: done}\n"
    )
    code, out = await stack.journeys("publish", str(journey))
    assert code == 0, out
    before = stack.rows()
    code, out = await stack.journeys(
        "broadcast", "create", "taken", "--segment", "twice", "--template", template
    )
    assert code == 1
    assert "NAME: the name is taken: a journey 'broadcast_taken' is published already" in out
    assert stack.rows() == before
    assert stack.mails_to(members) == {m: 1 for m in members}
    # Starting it again is harmless: nobody is enrolled twice.
    code, out = await stack.journeys("broadcast", "start", "winter_twice")
    assert code == 0 and "winter_twice: scheduled" in out, out
    await _done(stack, "winter_twice")
    assert stack.mails_to(members) == {m: 1 for m in members}


BAD_TEMPLATES = {
    "does not load": "subject: [unclosed\n",
    "not a template": "- a list\n",
    "unknown field": "subject: Hi\ntext: Hi\nsender: me\n",
    "does not render": 'subject: "Hi {{ profile.frist_name }}"\ntext: Hi\n',
    "does not parse": 'subject: Hi\ntext: "{% if %}"\n',
    "a locale does not render": (
        "subject: Hi\ntext: Hi\nlocales:\n"
        '  zh-CN: {subject: "你好 {{ trigger.nope }}", text: 你好}\n'
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
async def test_a_template_that_does_not_load_or_render_is_refused_naming_it(
    stack: Stack, case: str
) -> None:
    stack.customers("bad", 1)
    path = stack.template(BAD_TEMPLATES[case])
    before = stack.rows()
    code, out = await stack.journeys(
        "broadcast", "create", "bad_template", "--segment", "bad", "--template", str(path)
    )
    assert code == 1, out
    assert f"error: --template: {path}" in out, out
    assert stack.rows() == before


async def test_each_bad_input_is_refused_naming_the_field_and_writes_nothing(
    stack: Stack,
) -> None:
    stack.customers("bad", 2)
    good = str(stack.template())
    no_subject = str(stack.template("text: Hi\n"))
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    cases = [
        (("NAME", "Black-Friday"), ["Black-Friday", "--segment", "bad", "--template", good]),
        (("--segment", "unknown segment 'vips'"), ["n1", "--segment", "vips", "--template", good]),
        (("--segment", "no members"), ["n2", "--segment", "nobody", "--template", good]),
        (("--template", "cannot read"), ["n3", "--segment", "bad", "--template", "/nope.yaml"]),
        (("--channel", "unknown channel 'fax'"),
         ["n4", "--segment", "bad", "--template", good, "--channel", "fax"]),
        (("--channel", "sms channel is not configured"),
         ["n5", "--segment", "bad", "--template", good, "--channel", "sms"]),
        (("--channel", "email needs a subject"),
         ["n6", "--segment", "bad", "--template", no_subject]),
        (("--at", "is in the past"),
         ["n7", "--segment", "bad", "--template", good, "--at", "2020-01-01T09:00:00Z"]),
        (("--at", "has no timezone"),
         ["n8", "--segment", "bad", "--template", good, "--at", soon]),
        (("--at", "is not an ISO 8601 time"),
         ["n9", "--segment", "bad", "--template", good, "--at", "tomorrow"]),
        (("--category", "is not marketing or transactional"),
         ["n10", "--segment", "bad", "--template", good, "--category", "promo"]),
    ]  # fmt: skip
    before = stack.rows()
    for (option, words), args in cases:
        code, out = await stack.journeys("broadcast", "create", *args)
        flat = " ".join(out.split())
        assert code == 1, (args, out)
        assert f"error: {option}: " in flat and words in flat, (args, out)
        assert stack.rows() == before, args
    code, out = await stack.journeys("broadcast", "show", "n1")
    assert code == 1 and "no broadcast named 'n1'" in out


async def test_a_broadcast_saved_while_temporal_is_away_starts_later_and_sends_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = stack.customers("counts", 2)
    template = str(stack.template())
    address = get_settings().temporal_address
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", "127.0.0.1:9")
    get_settings.cache_clear()
    code, out = await stack.journeys(
        "broadcast", "create", "winter_away", "--segment", "counts", "--template", template
    )
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", address)
    get_settings.cache_clear()
    flat = " ".join(out.split())
    assert code == 1, out
    assert "broadcast 'winter_away' is saved but not started" in flat, out
    assert "`journeys broadcast start winter_away` starts it" in flat, out
    code, out = await stack.journeys("broadcast", "show", "winter_away")
    assert code == 0 and "state: not started" in out, out
    assert stack.mails_to(members) == {m: 0 for m in members}
    for _ in range(2):  # a second start changes nothing
        code, out = await stack.journeys("broadcast", "start", "winter_away")
        assert code == 0 and "winter_away: scheduled" in out, out
    await _done(stack, "winter_away")
    assert stack.mails_to(members) == {m: 1 for m in members}
    # Temporal away again: show still gives the store's numbers, and says it could not ask.
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", "127.0.0.1:9")
    get_settings.cache_clear()
    code, out = await stack.journeys("broadcast", "show", "winter_away")
    monkeypatch.setenv("JOURNEYS_TEMPORAL_ADDRESS", address)
    get_settings.cache_clear()
    assert code == 0 and "state: unknown" in out, out
    assert (progress(out)["enrolled"], progress(out)["sent"]) == ("2", "2")


async def test_caps_hold_a_second_broadcast_and_show_counts_it_deferred(stack: Stack) -> None:
    members = stack.customers("capped", 2)
    template = str(stack.template())
    for name in ("capped_first", "capped_second"):
        code, out = await stack.journeys(
            "broadcast", "create", name, "--segment", "capped", "--template", template
        )
        assert code == 0, out
        if name == "capped_first":
            await _done(stack, "capped_first")

    async def deferred() -> str | None:
        _code, out = await stack.journeys("broadcast", "show", "capped_second")
        return out if progress(out)["deferred"] == "2" else None

    out = await eventually(deferred, what="the second broadcast deferred by the cap")
    assert "state: sending" in out
    assert "deferred 2: cap" in out
    assert progress(out) | {"members": "2"} == {
        "members": "2",
        "enrolled": "2",
        "sent": "0",
        "deferred": "2",
        "skipped": "0",
        "failed": "0",
        "running": "2",
    }
    assert stack.mails_to(members) == {m: 1 for m in members}  # the first broadcast only


async def test_list_fits_80_columns(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints import cli_common

    monkeypatch.setattr(cli_common.console, "width", 80)
    code, out = await stack.journeys("broadcast", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert any("name" in line and "segment" in line for line in lines), out
    assert max(len(line) for line in lines) <= 80, out


async def test_an_open_case_holds_the_members_broadcast_and_the_others_get_it(
    stack: Stack,
) -> None:
    held, free = stack.customers("held", 2)
    code, out = await stack.journeys(
        "cases", "open", held, "--category", "delivery", "--summary", "Parcel lost", "--quiet"
    )
    assert code == 0, out
    code, out = await stack.journeys(
        "broadcast", "create", "winter_held", "--segment", "held",
        "--template", str(stack.template()),
    )  # fmt: skip
    assert code == 0, out

    async def waiting() -> str | None:
        _code, out = await stack.journeys("broadcast", "show", "winter_held")
        counts = progress(out)
        return out if (counts["sent"], counts["deferred"]) == ("1", "1") else None

    out = await eventually(waiting, what="one sent, one held by the open case")
    assert "deferred 1: open case" in out and "state: sending" in out
    subjects = {c: [m.subject for m in stack.capture.to(f"{c}@example.com")] for c in (held, free)}
    assert subjects[free] == ["Winter sale, Member1"]
    assert not any(s.startswith("Winter sale") for s in subjects[held]), subjects


async def test_pausing_its_journey_before_its_time_stops_a_scheduled_broadcast(
    stack: Stack,
) -> None:
    members = stack.customers("paused", 2)
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    code, out = await stack.journeys(
        "broadcast", "create", "winter_paused", "--segment", "paused",
        "--template", str(stack.template()), "--at", at.isoformat(),
    )  # fmt: skip
    assert code == 0, out
    code, out = await stack.journeys("pause", "broadcast_winter_paused")
    assert code == 0, out

    async def stopped() -> str | None:
        _code, out = await stack.journeys("broadcast", "show", "winter_paused")
        return out if "state: stopped" in out else None

    out = await eventually(stopped, what="winter_paused stopped")
    assert "journey paused" in out
    assert progress(out)["enrolled"] == "0"
    assert stack.mails_to(members) == {m: 0 for m in members}
