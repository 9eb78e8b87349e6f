"""Console pages: journeys.

The list (status, newest version, runs in flight); a journey's page (its diagram with the
funnel counts of the selected version on the nodes, goals, trigger and audience, versions and
the YAML of each, funnel and experiment tables and charts, pause and resume behind a
confirmation); publishing an uploaded journey file with every problem beside its line, or
simulating it instead. The numbers come from the same reads `journeys report` uses
(app/console_journeys.py); pause and resume are JourneyService.set_status, as the API's.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app import console_journeys as journeys_app
from app import journey_pauses
from app.journeys import JourneyService
from domain.durations import format_duration
from domain.event_catalog import EventWarning
from domain.journey import JourneyDefinition, step_kind
from domain.problems import Problem
from entrypoints.console import charts
from entrypoints.console.diagram import journey_diagram, kind_name
from entrypoints.console.web import (
    PREFIX,
    ConsoleError,
    ConsoleUser,
    Form,
    User,
    console_router,
    decode_cursor,
    encode_cursor,
    redirect,
    render,
    require,
    workspace_timezone,
)
from store.errors import UnknownJourney

router = console_router()

PAGE_SIZE = 50
STATUSES = ("active", "paused")
_YAML_LINE = re.compile(r"at line (\d+)")


def _service(request: Request) -> JourneyService:
    service: JourneyService = request.app.state.service
    return service


# --- the list ------------------------------------------------------------------------------


@router.get("/journeys")
def journey_list(
    request: Request,
    user: User,
    status: str | None = None,
    after: str | None = None,
) -> HTMLResponse:
    require(user, "journeys:read")
    chosen = status if status in STATUSES else None
    cursor = decode_cursor(after, user, ("journey_id",))
    last = cursor.get("journey_id")
    if cursor and not isinstance(last, str):
        decode_cursor("x", user, ("journey_id",))  # a cursor of the wrong shape: the 400 page
    rows = journeys_app.journey_page(
        _service(request), status=chosen, after=last, limit=PAGE_SIZE + 1
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    query = f"status={chosen}&" if chosen else ""
    next_url = (
        f"{PREFIX}/journeys?{query}after={encode_cursor({'journey_id': rows[-1].journey_id})}"
        if more
        else None
    )
    first_url = f"{PREFIX}/journeys" + (f"?status={chosen}" if chosen else "") if after else None
    return render(
        request,
        user,
        "journeys/list.html",
        active="journeys",
        rows=rows,
        status=chosen,
        next_url=next_url,
        first_url=first_url,
    )


# --- publishing ----------------------------------------------------------------------------


@dataclass
class Line:
    number: int
    text: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[EventWarning] = field(default_factory=list)


def _key(node: MappingNode, name: str) -> tuple[Node, Node] | None:
    for key, value in node.value:
        if isinstance(key, ScalarNode) and str(key.value) == name:
            return key, value
    return None


def _parts(path: str) -> list[str]:
    """`exit_when[0].match.key` -> exit_when, 0, match, key."""
    return [part for part in re.split(r"[.\[\]]+", path) if part]


def _step_node(root: MappingNode, step: str) -> Node | None:
    found = _key(root, "steps")
    if found is None or not isinstance(found[1], SequenceNode):
        return None
    items = found[1].value
    if step.startswith("#") and step[1:].isdigit():
        index = int(step[1:]) - 1
        return items[index] if 0 <= index < len(items) else None
    for item in items:
        if isinstance(item, MappingNode):
            ident = _key(item, "id")
            if ident is not None and isinstance(ident[1], ScalarNode) and ident[1].value == step:
                return item
    return None


def problem_line(root: Node | None, step: str | None, path: str, message: str) -> int | None:
    """The 1-based line of the file a problem names (its step and field), if it can be found."""
    if root is None:
        found = _YAML_LINE.search(message)
        return int(found.group(1)) if found else None
    if not isinstance(root, MappingNode):
        return 1
    node: Node | None = root
    line: int | None = None
    if step is not None:
        node = _step_node(root, step)
        if node is None:
            return None
        line = node.start_mark.line + 1
    for part in _parts(path):
        if isinstance(node, MappingNode):
            pair = _key(node, part)
            if pair is None:
                break
            line = pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def annotated_lines(checked: journeys_app.Checked) -> tuple[list[Line], list[Any]]:
    """The uploaded file's lines, each with the problems and warnings that name it, and those
    that name no line (the file as a whole)."""
    lines = [Line(number, text) for number, text in enumerate(checked.text.splitlines(), 1)]
    root: Node | None = None
    if not any(p.message.startswith("invalid YAML") for p in checked.problems):
        try:
            root = yaml.compose(checked.text, Loader=yaml.SafeLoader)
        except (yaml.YAMLError, ValueError, RecursionError):
            root = None
    unplaced: list[Any] = []
    for problem in checked.problems:
        number = problem_line(root, problem.step, problem.field, problem.message)
        if number is not None and 1 <= number <= len(lines):
            lines[number - 1].problems.append(problem)
        else:
            unplaced.append(problem)
    for warning in checked.warnings:
        number = problem_line(root, warning.step, warning.field, warning.message)
        if number is not None and 1 <= number <= len(lines):
            lines[number - 1].warnings.append(warning)
        else:
            unplaced.append(warning)
    return lines, unplaced


def _publish_page(
    request: Request,
    user: ConsoleUser,
    *,
    status_code: int = 200,
    message: str | None = None,
    checked: journeys_app.Checked | None = None,
    filename: str = "",
    simulation: Any = None,
    simulated: JourneyDefinition | None = None,
    customers: int = 100,
    days: int = 30,
) -> HTMLResponse:
    lines, unplaced = annotated_lines(checked) if checked is not None else ([], [])
    rows: list[tuple[str, str, dict[str, int]]] = []
    chart = diagram = None
    if simulation is not None and simulated is not None:
        for step in simulated.steps:
            counts = simulation.steps.get(step.id) or {}
            rows.append((step.id, step_kind(step) or "", dict(counts)))
        chart = _bars(
            [(step_id, counts.get("entered", 0)) for step_id, _, counts in rows],
            user,
            user.gettext("Expected funnel: runs that entered each step"),
        )
        diagram = journey_diagram(
            simulated,
            {step_id: counts.get("entered", 0) for step_id, _, counts in rows},
            gettext=user.gettext,
            count_format=user.formats.number,
        )
    return render(
        request,
        user,
        "journeys/publish.html",
        status_code=status_code,
        active="journeys",
        message=message,
        checked=checked,
        lines=lines,
        unplaced=unplaced,
        filename=filename,
        simulation=simulation,
        simulated=simulated,
        simulation_rows=rows,
        simulation_chart=chart,
        simulation_diagram=diagram,
        kinds=kind_names(simulated, user) if simulated is not None else {},
        customers=customers,
        days=days,
        max_bytes=journeys_app.MAX_UPLOAD_BYTES,
        max_customers=journeys_app.MAX_SIMULATED_CUSTOMERS,
        max_days=journeys_app.MAX_SIMULATED_DAYS,
    )


@router.get("/journeys/publish")
def publish_form(request: Request, user: User) -> HTMLResponse:
    require(user, "journeys:write")
    return _publish_page(request, user)


def _bounded(form_value: Any, low: int, high: int) -> int | None:
    try:
        number = int(str(form_value).strip())
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


@router.post("/journeys/publish")
async def publish(request: Request, user: User, form: Form) -> Response:
    require(user, "journeys:write")
    _ = user.gettext
    upload = form.get("file")
    action = str(form.get("action") or "publish")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _publish_page(
            request, user, status_code=400, message=_("Choose a journey file (YAML) to upload.")
        )
    filename = upload.filename
    data = await upload.read(journeys_app.MAX_UPLOAD_BYTES + 1)
    if len(data) > journeys_app.MAX_UPLOAD_BYTES:
        return _publish_page(
            request,
            user,
            status_code=413,
            filename=filename,
            message=_(
                "The file is larger than {limit} KiB, so it was not read and nothing was "
                "published. A journey file is a few KiB of YAML."
            ).format(limit=journeys_app.MAX_UPLOAD_BYTES // 1024),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _publish_page(
            request,
            user,
            status_code=400,
            filename=filename,
            message=_("The file is not UTF-8 text (is it a YAML file?), so nothing was published."),
        )
    if "\x00" in text:
        return _publish_page(
            request,
            user,
            status_code=400,
            filename=filename,
            message=_(
                "The file is not a text file (is it a YAML file?), so nothing was published."
            ),
        )
    service = _service(request)
    checked = await asyncio.to_thread(journeys_app.check_text, service, text, filename)
    if checked.journey is None:
        return _publish_page(
            request,
            user,
            status_code=400,
            filename=filename,
            checked=checked,
            message=_("The file has problems, so nothing was published: see each line below."),
        )
    journey = checked.journey
    if action == "simulate":
        customers = _bounded(form.get("customers"), 1, journeys_app.MAX_SIMULATED_CUSTOMERS)
        days = _bounded(form.get("days"), 1, journeys_app.MAX_SIMULATED_DAYS)
        if customers is None or days is None:
            return _publish_page(
                request,
                user,
                status_code=400,
                filename=filename,
                checked=checked,
                message=_(
                    "A simulation takes 1 to {customers} customers and 1 to {days} days."
                ).format(
                    customers=journeys_app.MAX_SIMULATED_CUSTOMERS,
                    days=journeys_app.MAX_SIMULATED_DAYS,
                ),
            )
        try:
            result = await asyncio.to_thread(journeys_app.simulate, journey, customers, days)
        except journeys_app.SimulationFailed as exc:
            reasons = {
                "busy": _("Another simulation is running; try again in a minute."),
                "timeout": _(
                    "The simulation did not end within {seconds} seconds; try fewer customers "
                    "or days."
                ).format(seconds=int(journeys_app.SIMULATION_TIMEOUT_SECONDS)),
            }
            return _publish_page(
                request,
                user,
                status_code=503,
                filename=filename,
                checked=checked,
                message=reasons.get(exc.kind)
                or _("The simulation did not run: {reason}").format(reason=exc),
            )
        return _publish_page(
            request,
            user,
            filename=filename,
            checked=checked,
            simulation=result,
            simulated=journey,
            customers=customers,
            days=days,
        )
    record = await asyncio.to_thread(journeys_app.publish, service, journey)
    if record.created:
        notice = _("Published {journey} version {version}.").format(
            journey=record.journey_id, version=record.version
        )
    else:
        notice = _("Nothing changed: {journey} version {version} is already this file.").format(
            journey=record.journey_id, version=record.version
        )
    if journey.audience is not None:
        problem = await journeys_app.sync_schedules(service, workspace_timezone(request))
        if problem:
            notice += " " + _(
                "Its audience schedule was not updated ({reason}); run "
                "“journeys audiences sync” when Temporal is up."
            ).format(reason=problem)
    if checked.warnings:
        notice += " " + _("Warnings: {warnings}").format(
            warnings="; ".join(str(w) for w in checked.warnings)
        )
    return redirect(f"{PREFIX}/journeys/{record.journey_id}", notice=notice)


# --- a journey -----------------------------------------------------------------------------


def _bars(items: list[tuple[str, int]], user: ConsoleUser, title: str) -> Markup:
    """Horizontal bars of `items` (label, value) in the user's number format."""
    return charts.bar_chart(
        items, title=title, value_format=user.formats.number, empty_text=user.gettext("none")
    )


def kind_names(journey: JourneyDefinition, user: ConsoleUser) -> dict[str, str]:
    """Each step's kind in words, as the diagram names it, in the user's language."""
    return {step.id: kind_name(step, user.gettext) for step in journey.steps}


def _yaml(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100)


@router.get("/journeys/{journey_id}")
async def journey_page(
    request: Request,
    user: User,
    journey_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    require(user, "journeys:read")
    service = _service(request)
    _ = user.gettext

    def read() -> dict[str, Any]:
        summary = service.store.journeys.get(journey_id)
        if summary is None:
            raise UnknownJourney(journey_id)
        number = version or summary.latest_version
        record = service.store.journeys.get_version(journey_id, number)
        if record is None:
            raise ConsoleError(
                404,
                _("Journey {journey} has no version {version} (the newest is {newest}).").format(
                    journey=journey_id, version=number, newest=summary.latest_version
                ),
            )
        try:
            definition = JourneyDefinition.model_validate(record.definition)
        except ValidationError as exc:
            raise ConsoleError(
                409,
                _("Version {version} of {journey} no longer loads: {error}").format(
                    version=number, journey=journey_id, error=exc.errors()[0]["msg"]
                ),
            ) from exc
        changes = None
        if number > 1:
            earlier = service.store.journeys.get_version(journey_id, number - 1)
            if earlier is not None:
                changes = journeys_app.changes(journey_id, earlier, record)
        funnel = journeys_app.funnel(service, journey_id, number, definition)
        arms = journeys_app.experiment(service, journey_id, definition)
        return {
            "summary": summary,
            "version": number,
            "record": record,
            "definition": definition,
            "funnel": funnel,
            "arms": arms,
            "changes": changes,
            "versions": journeys_app.versions(service, journey_id),
            "running": journeys_app.running(service, journey_id),
        }

    found = await asyncio.to_thread(read)
    definition: JourneyDefinition = found["definition"]
    funnel: journeys_app.Funnel = found["funnel"]
    counts = {c.step_id: c.entered for c in funnel.steps}
    diagram = journey_diagram(
        definition, counts, gettext=user.gettext, count_format=user.formats.number
    )
    funnel_chart = (
        charts.grouped_bar_chart(
            [(c.step_id, [c.entered, c.converted]) for c in funnel.steps],
            [_("Entered"), _("Converted")],
            title=_("Runs that entered each step"),
            value_format=user.formats.number,
            empty_text=_("none"),
        )
        if funnel.runs
        else None
    )
    arms = found["arms"]
    arms_chart = (
        charts.bar_chart(
            [(f"{a.step_id} · {a.arm.name}", a.arm.rate) for a in arms],
            title=_("Conversion rate per arm"),
            value_format=user.formats.percent,
            empty_text=_("none"),
        )
        if arms
        else None
    )
    return render(
        request,
        user,
        "journeys/journey.html",
        active="journeys",
        diagram=diagram,
        funnel_chart=funnel_chart,
        arms_chart=arms_chart,
        yaml_text=_yaml(found["record"].definition),
        kinds=kind_names(definition, user),
        workspace_tz=workspace_timezone(request),
        area_names={
            "journey": _("Journey"),
            "trigger": _("Trigger"),
            "goal": _("Goal"),
            "audience": _("Audience"),
            "template": _("Template"),
            "step": _("Step"),
        },
        cooldown=format_duration(definition.trigger.cooldown)
        if definition.trigger.cooldown
        else "",
        **found,
    )


def _confirm_page(
    request: Request, user: ConsoleUser, journey_id: str, action: str
) -> HTMLResponse:
    summary = _service(request).store.journeys.get(journey_id)
    if summary is None:
        raise UnknownJourney(journey_id)
    return render(
        request,
        user,
        "journeys/confirm.html",
        active="journeys",
        summary=summary,
        action=action,
        running=sum(journeys_app.running(_service(request), journey_id).values()),
    )


@router.get("/journeys/{journey_id}/pause")
def confirm_pause(request: Request, user: User, journey_id: str) -> HTMLResponse:
    require(user, "journeys:write")
    return _confirm_page(request, user, journey_id, "pause")


@router.get("/journeys/{journey_id}/resume")
def confirm_resume(request: Request, user: User, journey_id: str) -> HTMLResponse:
    require(user, "journeys:write")
    return _confirm_page(request, user, journey_id, "resume")


async def _change_status(
    request: Request, user: ConsoleUser, form: Any, journey_id: str, action: str
) -> Response:
    require(user, "journeys:write")
    if form.get("confirmed") != "yes":  # not confirmed: ask first, change nothing
        return await asyncio.to_thread(_confirm_page, request, user, journey_id, action)
    service, _, released = _service(request), user.gettext, 0
    if action == "pause":
        hold = form.get("hold_sends") == "yes"
        summary = await asyncio.to_thread(
            journey_pauses.pause, service, journey_id, hold_sends=hold
        )
        notice = (
            _(
                "{journey} is paused and holds its sends: it takes no new entrants, and every "
                "run waits at its next send until the journey is resumed."
            )
            if summary.hold_sends
            else _("{journey} is paused: it takes no new entrants; runs in flight go on.")
        )
    else:
        resumed = await journey_pauses.resume(service, journey_id)
        summary, released = resumed.summary, resumed.released
        notice = (
            _(
                "{journey} is live again: it takes new entrants, and the held sends of "
                "{count} runs go now (quiet hours and caps apply)."
            )
            if released
            else _("{journey} is live again: it takes new entrants.")
        )
    notice = notice.format(journey=summary.journey_id, count=user.formats.number(released))
    return redirect(f"{PREFIX}/journeys/{summary.journey_id}", notice=notice)


@router.post("/journeys/{journey_id}/pause")
async def pause(request: Request, user: User, form: Form, journey_id: str) -> Response:
    return await _change_status(request, user, form, journey_id, "pause")


@router.post("/journeys/{journey_id}/resume")
async def resume(request: Request, user: User, form: Form, journey_id: str) -> Response:
    return await _change_status(request, user, form, journey_id, "resume")
