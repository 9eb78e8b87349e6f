"""A journey drawn as an SVG diagram of its steps, laid out here in Python.

`transitions` lists every move the engine can make between steps (workflows/journey.py:
the implicit next step is the following one in the list, `end` as a target ends the run, a
step's `on_timeout`/`on_outcome`/`on_failure` and branch, split and goto targets); moves of
one step to the same target are one edge whose label names them all.

`journey_diagram` draws one node per step and one edge per transition, top to bottom:
layers by the longest path from the first step along forward edges, long edges routed
through the layers they cross, edges back up (loops) drawn along lanes to the right. Every
node names its kind in words and every edge kind has its own line style, so nothing is said
by colour alone; every text is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from markupsafe import Markup

from domain.durations import format_duration
from domain.journey import (
    CONTINUE,
    END,
    BranchStep,
    CallbackStep,
    EndStep,
    GotoStep,
    HoldoutStep,
    JourneyDefinition,
    SendStep,
    SplitStep,
    StartStep,
    Step,
    SurveyStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
    step_kind,
)
from entrypoints.console.charts import FONT, INK, MUTED, fit_text, num, svg_text, text_width

EdgeKind = Literal[
    "next", "goto", "branch", "else", "timeout", "outcome", "split", "holdout", "failure"
]
Gettext = Callable[[str], str]

NODE_W = 236
NODE_H = 70
NAMED_NODE_H = 86  # with a fourth line: the id under the step's name
END_W, END_H = 96, 34
GAP_X = 40
GAP_Y = 72  # between layers: room for edge labels
DUMMY_W = 18
MARGIN = 16
LANE = 18
LABEL_SIZE = 11
LABEL_MAX = 200  # px a label may take; longer ones are cut, the full text is their tooltip

# Fill, border and kind-text colours; kind text is at least 7:1 on its fill, ink 15:1.
_MESSAGE = ("#e8f1fb", "#1f5f99", "#17466f")
_WAITING = ("#fdf3e1", "#8a5a00", "#5c3c00")
_LOGIC = ("#f1ebfa", "#5b3a8e", "#432a6a")
_ACTION = ("#e6f4ea", "#2e6b3a", "#1f4a28")
_FINAL = ("#ececec", "#3d3d3d", "#2b2b2b")
EDGE_INK = "#4a4a4a"  # 8.9:1 on white
FAILURE_INK = "#a3262a"  # 6.9:1 on white
_DASHES: dict[str, str] = {
    "timeout": "7 4",
    "else": "2 3",
    "failure": "1.5 3",
    "holdout": "10 3 2 3",
}


@dataclass(frozen=True)
class Transition:
    """One edge: from a step to a step id or 'end', of a kind, with a label (maybe empty)."""

    source: str
    target: str
    kind: EdgeKind
    label: str = ""


def transitions(definition: JourneyDefinition, gettext: Gettext = lambda s: s) -> list[Transition]:
    """Every move the engine can make, one per (step, target): labels of merged moves join."""
    merged: dict[tuple[str, str], Transition] = {}
    steps = definition.steps
    for index, step in enumerate(steps):
        following = steps[index + 1].id if index + 1 < len(steps) else END
        for move in _moves(step, following, gettext):
            key = (move.source, move.target)
            known = merged.get(key)
            if known is None:
                merged[key] = move
            elif move.label and move.label not in known.label.split(" / "):
                label = f"{known.label} / {move.label}" if known.label else move.label
                merged[key] = Transition(known.source, known.target, known.kind, label)
    return list(merged.values())


def _moves(step: Step, following: str, _: Gettext) -> list[Transition]:
    """The moves of one step, in the order the engine tries them."""

    def move(target: str, kind: EdgeKind, label: str = "") -> Transition:
        return Transition(step.id, target, kind, label)

    match step:
        case SendStep():
            if step.send.on_failure == CONTINUE:
                return [move(following, "next")]
            return [
                move(following, "next", _("sent")),
                move(step.send.on_failure, "failure", _("fails")),
            ]
        case WaitForStep():
            return [
                move(following, "next", _("received")),
                move(step.on_timeout or following, "timeout", _("timeout")),
            ]
        case BranchStep():
            moves = [
                move(case.target, "else", _("else"))
                if case.when is None
                else move(case.target, "branch", " ".join(case.when.split()))
                for case in step.branch
            ]
            if step.branch[-1].else_ is None:
                moves.append(move(following, "else", _("no case holds")))
            return moves
        case SplitStep():
            total = sum(variant.weight for variant in step.split)
            return [
                move(variant.goto, "split", f"{variant.name} {_percent(variant.weight, total)}")
                for variant in step.split
            ]
        case HoldoutStep():
            return [move(following, "holdout", _("control and treatment"))]
        case CallbackStep():
            named = [
                move(target, "outcome", _outcome(outcome, _))
                for outcome, target in step.on_outcome.items()
            ]
            rest = _("other outcomes") if step.on_outcome else _("outcome")
            timeout = move(step.on_timeout or following, "timeout", _("timeout"))
            return [*named, move(following, "next", rest), timeout]
        case SurveyStep():
            return [
                move(following, "next", _("answered")),
                move(step.on_timeout or following, "timeout", _("timeout")),
            ]
        case GotoStep():
            return [move(step.goto, "goto")]
        case EndStep():
            return []
        case _:  # wait, update: on to the following step
            return [move(following, "next")]


def _outcome(outcome: str, _: Gettext) -> str:
    match outcome:
        case "reached":
            return _("reached")
        case "no_answer":
            return _("no answer")
        case "call_back_later":
            return _("call back later")
        case "do_not_contact":
            return _("do not contact")
    return outcome


def _percent(weight: float, total: float) -> str:
    share = 100 * weight / total if total else 0
    return f"{share:.0f}%" if share == round(share) or share >= 10 else f"{share:.1f}%"


# --- what a node says ------------------------------------------------------------------------


def kind_name(step: Step, _: Gettext) -> str:
    match step:
        case SendStep():
            match step.send.channel:
                case "email":
                    return _("Send email")
                case "sms":
                    return _("Send SMS")
                case _:
                    return _("Send webhook")
        case WaitStep():
            return _("Wait")
        case WaitForStep():
            return _("Wait for event")
        case BranchStep():
            return _("Branch")
        case SplitStep():
            return _("Split")
        case HoldoutStep():
            return _("Holdout")
        case UpdateStep():
            return _("Update profile")
        case CallbackStep():
            return _("Callback")
        case SurveyStep():
            return _("Survey")
        case StartStep():
            return _("Start journey")
        case GotoStep():
            return _("Go to")
        case _:
            return _("End")


def _detail(step: Step, _: Gettext) -> str:
    match step:
        case SendStep():
            return step.send.template
        case WaitStep():
            spec = step.wait
            if spec.for_ is not None and spec.until is not None:
                text = _("{duration}, then until {time}").format(
                    duration=format_duration(spec.for_), time=spec.until
                )
            elif spec.for_ is not None:
                text = _("for {duration}").format(duration=format_duration(spec.for_))
            else:
                text = _("until {time}").format(time=spec.until)
            return f"{text} ({', '.join(spec.on_days)})" if spec.on_days else text
        case WaitForStep():
            timeout = format_duration(step.wait_for.timeout)
            return f"{step.wait_for.event} · " + _("up to {duration}").format(duration=timeout)
        case BranchStep():
            return _("cases: {count}").format(count=len(step.branch))
        case SplitStep():
            total = sum(variant.weight for variant in step.split)
            return " / ".join(f"{v.name} {_percent(v.weight, total)}" for v in step.split)
        case HoldoutStep():
            return _("{percent}% get no messages").format(percent=f"{step.holdout.percent:g}")
        case UpdateStep():
            update = step.update
            parts = [_("set {fields}").format(fields=", ".join(update.set))] if update.set else []
            parts += [f"+{tag}" for tag in update.add_tags]
            parts += [f"−{tag}" for tag in update.remove_tags]
            return " · ".join(parts)
        case CallbackStep():
            due = format_duration(step.callback.due_in)
            return f"{step.callback.queue} · " + _("due in {duration}").format(duration=due)
        case SurveyStep():
            timeout = format_duration(step.survey.timeout)
            wait = _("up to {duration}").format(duration=timeout)
            return f"{step.survey.kind.upper()} · {step.survey.channel} · {wait}"
        case StartStep():
            return _("starts {journey}").format(journey=step.start.journey)
        case GotoStep():
            return f"→ {step.goto}"
        case EndStep():
            return step.end.reason
    return ""


def _palette(step: Step) -> tuple[str, str, str]:
    match step:
        case SendStep() | SurveyStep():
            return _MESSAGE
        case WaitStep() | WaitForStep():
            return _WAITING
        case BranchStep() | SplitStep() | HoldoutStep() | GotoStep():
            return _LOGIC
        case UpdateStep() | CallbackStep() | StartStep():
            return _ACTION
    return _FINAL


# --- layout ----------------------------------------------------------------------------------


@dataclass
class _Layout:
    x: dict[int, float]  # centre of every item (steps, 'end', dummies)
    layer: dict[int, int]
    width: dict[int, float]
    chains: dict[int, list[int]]  # forward edge index -> items it passes, source to target
    back: list[int]  # edge indexes drawn as loops up the right side
    edges: list[tuple[int, int]]  # every edge's (source, target) items


def _back_edges(count: int, edges: list[tuple[int, int]]) -> set[int]:
    """Edges that close a cycle in a depth-first walk from the first step (iterative)."""
    outgoing: dict[int, list[int]] = {v: [] for v in range(count)}
    for index, (source, _target) in enumerate(edges):
        outgoing[source].append(index)
    for v in outgoing:
        outgoing[v].sort(key=lambda e: edges[e][1])
    state = [0] * count  # 0 new, 1 on the stack, 2 done
    back: set[int] = set()
    for root in range(count):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(outgoing[root]))]
        while stack:
            vertex, pending = stack[-1]
            for edge in pending:
                target = edges[edge][1]
                if state[target] == 1:
                    back.add(edge)
                elif state[target] == 0:
                    state[target] = 1
                    stack.append((target, iter(outgoing[target])))
                    break
            else:
                state[vertex] = 2
                stack.pop()
    return back


def _layers(count: int, edges: list[tuple[int, int]], forward: list[int]) -> dict[int, int]:
    """Longest-path layers along the forward edges (a DAG): Kahn's order, then relax."""
    preds: dict[int, list[int]] = {v: [] for v in range(count)}
    succs: dict[int, list[int]] = {v: [] for v in range(count)}
    for edge in forward:
        source, target = edges[edge]
        preds[target].append(source)
        succs[source].append(target)
    remaining = {v: len(preds[v]) for v in range(count)}
    ready = [v for v in range(count) if not remaining[v]]
    layer = dict.fromkeys(range(count), 0)
    while ready:
        vertex = ready.pop(0)
        for target in succs[vertex]:
            layer[target] = max(layer[target], layer[vertex] + 1)
            remaining[target] -= 1
            if not remaining[target]:
                ready.append(target)
    return layer


def _isotonic(targets: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `targets` by weighted squares (pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, items]
    for value, weight in zip(targets, weights, strict=True):
        blocks.append([value * weight, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight_sum, size = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight_sum
            blocks[-1][2] += size
    out: list[float] = []
    for total, weight_sum, size in blocks:
        out += [total / weight_sum] * int(size)
    return out


def _layout(count: int, widths: list[float], edges: list[tuple[int, int]]) -> _Layout:
    back = _back_edges(count, edges)
    forward = [e for e in range(len(edges)) if e not in back]
    layer = _layers(count, edges, forward)
    if widths[-1] == END_W and count > 1:  # the end terminal sits below everything
        layer[count - 1] = max(layer[v] for v in range(count - 1)) + 1
    width = dict(enumerate(widths))
    chains: dict[int, list[int]] = {}
    next_item = count
    order_key: dict[int, float] = {v: float(v) for v in range(count)}
    for edge in forward:
        source, target = edges[edge]
        chain = [source]
        for level in range(layer[source] + 1, layer[target]):
            layer[next_item], width[next_item] = level, DUMMY_W
            order_key[next_item] = source + 0.5
            chain.append(next_item)
            next_item += 1
        chains[edge] = [*chain, target]
    up: dict[int, list[int]] = {item: [] for item in layer}
    down: dict[int, list[int]] = {item: [] for item in layer}
    for chain in chains.values():
        for a, b in pairwise(chain):
            down[a].append(b)
            up[b].append(a)
    depth = max(layer.values()) + 1
    rows: list[list[int]] = [[] for _ in range(depth)]
    for item in sorted(layer, key=lambda i: order_key[i]):
        rows[layer[item]].append(item)

    position = {item: float(i) for row in rows for i, item in enumerate(row)}
    for sweep in range(8):  # barycentre ordering, down then up
        downward = sweep % 2 == 0
        levels = range(1, depth) if downward else range(depth - 2, -1, -1)
        for level in levels:
            row = rows[level]
            keys = {}
            for item in row:
                near = up[item] if downward else down[item]
                keys[item] = sum(position[n] for n in near) / len(near) if near else position[item]
            row.sort(key=lambda i: keys[i])
            for i, item in enumerate(row):
                position[item] = float(i)

    def separation(a: int, b: int) -> float:
        gap = GAP_X if width[a] > DUMMY_W and width[b] > DUMMY_W else GAP_X / 2
        return (width[a] + width[b]) / 2 + gap

    x: dict[int, float] = {}
    for row in rows:
        cursor = 0.0
        for i, item in enumerate(row):
            cursor += separation(row[i - 1], item) if i else 0
            x[item] = cursor
        shift = cursor / 2
        for item in row:
            x[item] -= shift

    def place(row: list[int], desired: dict[int, float]) -> None:
        offsets, cursor = [], 0.0
        for i, item in enumerate(row):
            cursor += separation(row[i - 1], item) if i else 0
            offsets.append(cursor)
        # A step holds its place; an edge passing through (a dummy) gives way.
        fitted = _isotonic(
            [desired[item] - off for item, off in zip(row, offsets, strict=True)],
            [1.0 if width[item] > DUMMY_W else 0.1 for item in row],
        )
        for item, value, off in zip(row, fitted, offsets, strict=True):
            x[item] = value + off

    # Align to parents and children by turns, then to both, and last to the parents: a
    # straight run of steps then stands in one column under where it starts.
    for direction in ("down", "up") * 3 + ("both", "both", "down", "down"):
        levels = range(depth) if direction != "up" else range(depth - 1, -1, -1)
        for level in levels:
            desired = {}
            for item in rows[level]:
                near = {"down": up[item], "up": down[item], "both": up[item] + down[item]}[
                    direction
                ]
                desired[item] = sum(x[n] for n in near) / len(near) if near else x[item]
            place(rows[level], desired)
    _straighten(chains, rows, x, separation)
    return _Layout(x=x, layer=layer, width=width, chains=chains, back=sorted(back), edges=edges)


def _straighten(
    chains: dict[int, list[int]],
    rows: list[list[int]],
    x: dict[int, float],
    separation: Callable[[int, int], float],
) -> None:
    """Run each long edge straight down through the layers it crosses, where there is room."""
    where = {item: (level, i) for level, row in enumerate(rows) for i, item in enumerate(row)}
    for chain in chains.values():
        dummies = chain[1:-1]
        if not dummies:
            continue
        for candidate in sorted({x[d] for d in dummies}, key=lambda v: abs(v - x[chain[0]])):
            fits = True
            for dummy in dummies:
                level, i = where[dummy]
                row = rows[level]
                if i > 0 and candidate - x[row[i - 1]] < separation(row[i - 1], dummy):
                    fits = False
                if i + 1 < len(row) and x[row[i + 1]] - candidate < separation(dummy, row[i + 1]):
                    fits = False
            if fits:
                for dummy in dummies:
                    x[dummy] = candidate
                break


# --- drawing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    right: float
    bottom: float

    def overlap(self, other: _Box) -> float:
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        return w * h if w > 0 and h > 0 else 0.0


def _bezier(p0: tuple[float, float], p1: tuple[float, float], t: float) -> tuple[float, float]:
    """A point of the vertical S-curve from p0 down to p1 (control points halfway in y)."""
    (x0, y0), (x1, y1) = p0, p1
    ym = (y0 + y1) / 2
    u = 1 - t
    x = u**3 * x0 + 3 * u * u * t * x0 + 3 * u * t * t * x1 + t**3 * x1
    y = u**3 * y0 + 3 * u * u * t * ym + 3 * u * t * t * ym + t**3 * y1
    return x, y


def journey_diagram(
    definition: JourneyDefinition,
    counts: Mapping[str, int] | None = None,
    *,
    gettext: Gettext = lambda s: s,
    count_format: Callable[[int], str] = lambda n: f"{n:,}",
) -> Markup:
    """The journey as one `<svg>`: a node per step, an edge per transition (see module doc).

    `counts` maps step ids to how many runs reached the step (the funnel); each node then
    shows its count (0 for a step missing from it). `gettext` translates the diagram's own
    words; `count_format` writes a count (e.g. the console's locale number format).
    """
    _ = gettext
    steps = definition.steps
    moves = transitions(definition, gettext)
    ids = [step.id for step in steps]
    ends = any(move.target == END for move in moves)
    vertex = {step_id: i for i, step_id in enumerate([*ids, END] if ends else ids)}
    named = any(step.name for step in steps)
    node_h = NAMED_NODE_H if named else NODE_H
    widths = [float(NODE_W)] * len(ids) + ([float(END_W)] if ends else [])
    edges = [(vertex[m.source], vertex[m.target]) for m in moves]
    layout = _layout(len(widths), widths, edges)
    x, layer, width = layout.x, layout.layer, layout.width

    def top(item: int) -> float:
        return layer[item] * (node_h + GAP_Y)

    def height(item: int) -> float:
        return END_H if ends and item == len(ids) else node_h

    boxes = {
        v: _Box(x[v] - width[v] / 2, top(v), x[v] + width[v] / 2, top(v) + height(v))
        for v in range(len(widths))
    }

    # Where edges leave and enter nodes: spread along the bottom and top, in the order of the
    # items at their other end, so edges of one node do not cross right at it.
    out_at: dict[int, float] = {}
    in_at: dict[int, float] = {}
    for v in range(len(widths)):
        outgoing = [e for e, c in layout.chains.items() if c[0] == v]
        _spread(v, outgoing, 1, out_at, layout)
        incoming = [e for e, c in layout.chains.items() if c[-1] == v]
        _spread(v, incoming, -2, in_at, layout)

    routes: dict[int, list[tuple[str, list[tuple[float, float]]]]] = {}
    paths: dict[int, str] = {}
    arrows: dict[int, str] = {}
    for edge, chain in layout.chains.items():
        points = [(x[chain[0]] + out_at[edge], boxes[chain[0]].bottom)]
        for item in chain[1:-1]:
            points += [(x[item], top(item)), (x[item], top(item) + node_h)]
        end_x, end_y = x[chain[-1]] + in_at[edge], boxes[chain[-1]].top
        points.append((end_x, end_y - 6))
        d = [f"M{num(points[0][0])},{num(points[0][1])}"]
        segments: list[tuple[str, list[tuple[float, float]]]] = []
        for i in range(len(points) - 1):
            (x0, y0), (x1, y1) = points[i], points[i + 1]
            if i % 2 == 0:  # across a gap between layers
                ym = (y0 + y1) / 2
                d.append(f"C{num(x0)},{num(ym)} {num(x1)},{num(ym)} {num(x1)},{num(y1)}")
                segments.append(("curve", [(x0, y0), (x1, y1)]))
            else:  # straight down through a layer, past its nodes
                d.append(f"L{num(x1)},{num(y1)}")
        paths[edge] = " ".join(d)
        arrows[edge] = _arrow(end_x, end_y, "down")
        routes[edge] = segments

    right_of = _lanes(layout, boxes, len(widths))
    lane_out: dict[int, int] = {}
    lane_in: dict[int, int] = {}
    for edge in layout.back:
        source, target = edges[edge]
        k_out = lane_out.get(source, 0)
        k_in = lane_in.get(target, 0)
        lane_out[source], lane_in[target] = k_out + 1, k_in + 1
        spread = 18 if source == target else 8  # a loop onto itself needs room to show
        y0 = (boxes[source].top + boxes[source].bottom) / 2 + spread + 9 * k_out
        y1 = (boxes[target].top + boxes[target].bottom) / 2 - spread - 9 * k_in
        x0, x1 = boxes[source].right, boxes[target].right + 6
        lane = right_of[edge]
        r = min(10.0, abs(y0 - y1) / 2)
        paths[edge] = (
            f"M{num(x0)},{num(y0)} H{num(lane - r)} Q{num(lane)},{num(y0)} "
            f"{num(lane)},{num(y0 - r)} V{num(y1 + r)} Q{num(lane)},{num(y1)} "
            f"{num(lane - r)},{num(y1)} H{num(x1)}"
        )
        arrows[edge] = _arrow(x1 - 6, y1, "left")
        routes[edge] = [("line", [(lane, y0), (lane, y1)])]

    # Labels: at the first place along their edge that covers no node and no other label.
    taken = [_Box(b.left - 2, b.top - 2, b.right + 2, b.bottom + 2) for b in boxes.values()]
    labels: dict[int, tuple[_Box, str]] = {}
    for edge, move in enumerate(moves):
        if not move.label:
            continue
        shown = fit_text(move.label, LABEL_MAX, LABEL_SIZE)
        w, h = text_width(shown, LABEL_SIZE) + 8, LABEL_SIZE + 7
        best: tuple[float, _Box] | None = None
        for kind, (p0, p1) in routes[edge]:
            for t in (0.5, 0.35, 0.65, 0.2, 0.8):
                if kind == "curve":
                    cx, cy = _bezier(p0, p1, t)
                else:
                    # Beside a lane going up, not on it: lanes run close to each other.
                    cx, cy = p0[0] + 4 + w / 2, p0[1] + (p1[1] - p0[1]) * t
                box = _Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                cost = sum(box.overlap(other) for other in taken)
                if best is None or cost < best[0]:
                    best = (cost, box)
                if not cost:
                    break
            if best is not None and not best[0]:
                break
        if best is not None:
            taken.append(best[1])
            labels[edge] = (best[1], shown)

    every = list(boxes.values()) + [box for box, _text in labels.values()]
    every += [  # the long edges' way through the layers, which may pass left of every node
        _Box(x[item] - DUMMY_W / 2, top(item), x[item] + DUMMY_W / 2, top(item))
        for item in x
        if item >= len(widths)
    ]
    left = min(b.left for b in every) - MARGIN
    right = max([b.right for b in every] + list(right_of.values())) + MARGIN
    top_y = -MARGIN
    bottom = max(b.bottom for b in every) + MARGIN
    view_w, view_h = right - left, bottom - top_y

    prefix = f"journey-diagram-{definition.id}"
    title = _("Journey diagram: {name}").format(name=definition.name)
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="journey-diagram" role="img" '
            'aria-labelledby="{p}-title {p}-desc" viewBox="{vb}" width="100%" '
            'style="max-width: {w}px; height: auto" preserveAspectRatio="xMidYMin meet" '
            'font-family="{font}">'
        ).format(
            p=prefix,
            vb=f"{num(left)} {num(top_y)} {num(view_w)} {num(view_h)}",
            w=num(view_w),
            font=FONT,
        ),
        Markup('<title id="{}-title">{}</title>').format(prefix, title),
        Markup('<desc id="{}-desc">{}</desc>').format(
            prefix, _describe(definition, moves, counts, gettext, count_format)
        ),
    ]
    for edge, move in enumerate(moves):
        parts.append(_edge_markup(move, paths[edge], arrows[edge], labels.get(edge)))
    for index, step in enumerate(steps):
        count = None if counts is None else counts.get(step.id, 0)
        parts.append(_node_markup(step, boxes[index], count, named, gettext, count_format))
    if ends:
        parts.append(_end_markup(boxes[len(ids)], gettext))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _spread(
    item: int, edges: list[int], neighbour: int, store: dict[int, float], layout: _Layout
) -> None:
    """Offsets from `item`'s centre for `edges`, ordered by the x of their next/previous item."""
    edges = sorted(edges, key=lambda e: (layout.x[layout.chains[e][neighbour]], e))
    span = layout.width[item] * (0.6 if len(edges) > 2 else 0.4)
    for i, edge in enumerate(edges):
        store[edge] = 0.0 if len(edges) == 1 else -span / 2 + span * i / (len(edges) - 1)


def _lanes(layout: _Layout, boxes: dict[int, _Box], count: int) -> dict[int, float]:
    """The x of every back edge's lane: right of all it passes, apart from other lanes."""
    placed: list[tuple[float, int, int]] = []  # x, highest layer, lowest layer
    lanes: dict[int, float] = {}
    ordered = sorted(layout.back, key=lambda e: _span(layout, e))
    for edge in ordered:
        low, high = _span(layout, edge)
        lane = (
            max(
                box.right
                for item, box in _items_in(layout, boxes, count)
                if low <= layout.layer[item] <= high
            )
            + 2 * LANE
        )
        while any(
            abs(lane - other) < LANE and not (bottom < low or top > high)
            for other, top, bottom in placed
        ):
            lane += LANE
        placed.append((lane, low, high))
        lanes[edge] = lane
    return lanes


def _span(layout: _Layout, edge: int) -> tuple[int, int]:
    """The highest and lowest layer a back edge passes."""
    levels = [layout.layer[v] for v in layout.edges[edge]]
    return min(levels), max(levels)


def _items_in(layout: _Layout, boxes: dict[int, _Box], count: int) -> list[tuple[int, _Box]]:
    items = list(boxes.items())
    items += [
        (item, _Box(layout.x[item] - DUMMY_W / 2, 0, layout.x[item] + DUMMY_W / 2, 0))
        for item in layout.x
        if item >= count
    ]
    return items


def _arrow(x: float, y: float, direction: Literal["down", "left"]) -> str:
    if direction == "down":
        return f"M{num(x - 5)},{num(y - 7)} L{num(x + 5)},{num(y - 7)} L{num(x)},{num(y)} Z"
    return f"M{num(x + 7)},{num(y - 5)} L{num(x + 7)},{num(y + 5)} L{num(x)},{num(y)} Z"


def _edge_markup(move: Transition, path: str, arrow: str, label: tuple[_Box, str] | None) -> Markup:
    ink = FAILURE_INK if move.kind == "failure" else EDGE_INK
    dash = _DASHES.get(move.kind)
    parts = [
        Markup('<g class="edge" data-from="{}" data-to="{}" data-kind="{}">').format(
            move.source, move.target, move.kind
        ),
        Markup('<path d="{}" fill="none" stroke="{}" stroke-width="1.6"{}/>').format(
            path, ink, Markup(' stroke-dasharray="{}"').format(dash) if dash else Markup("")
        ),
        Markup('<path d="{}" fill="{}"/>').format(arrow, ink),
    ]
    if label is not None:
        box, shown = label
        parts.append(
            Markup(
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="#ffffff" '
                'fill-opacity="0.94" stroke="{}" stroke-width="0.6"/>'
            ).format(
                num(box.left),
                num(box.top),
                num(box.right - box.left),
                num(box.bottom - box.top),
                ink,
            )
        )
        full = Markup("<title>{}</title>").format(move.label) if shown != move.label else ""
        parts.append(
            Markup(
                '<text class="edge-label" x="{}" y="{}" font-size="{}" text-anchor="middle" '
                'fill="{}">{}{}</text>'
            ).format(
                num((box.left + box.right) / 2),
                num(box.bottom - 5),
                LABEL_SIZE,
                ink,
                full,
                shown,
            )
        )
    parts.append(Markup("</g>"))
    return Markup("").join(parts)


def _node_markup(
    step: Step,
    box: _Box,
    count: int | None,
    named: bool,
    _: Gettext,
    count_format: Callable[[int], str],
) -> Markup:
    fill, stroke, kind_ink = _palette(step)
    kind = kind_name(step, _)
    detail = _detail(step, _)
    heading = step.name or step.id
    inner = NODE_W - 24
    left = box.left + 12
    count_text = _("{count} runs").format(count=count_format(count)) if count is not None else ""
    count_w = text_width(count_text, 11, bold=True) + 12 if count_text else 0
    described = f"{heading} ({step.id}) — {kind}" if step.name else f"{heading} — {kind}"
    described += f": {detail}" if detail else ""
    described += f" — {count_text}" if count_text else ""
    final = isinstance(step, EndStep)
    parts = [
        Markup('<g class="node" data-step="{}" data-kind="{}">').format(step.id, step_kind(step)),
        Markup("<title>{}</title>").format(described),
        Markup(
            '<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{}" stroke="{}" '
            'stroke-width="{}"/>'
        ).format(
            num(box.left),
            num(box.top),
            NODE_W,
            num(box.bottom - box.top),
            18 if final else 6,
            fill,
            stroke,
            2.5 if final else 1.5,
        ),
        svg_text(
            kind,
            left,
            box.top + 18,
            width=inner - count_w,
            size=11,
            fill=kind_ink,
            css_class="kind",
            bold=True,
        ),
        svg_text(heading, left, box.top + 39, width=inner, size=13.5, bold=True, css_class="name"),
        svg_text(detail, left, box.top + 58, width=inner, size=12, fill=MUTED, css_class="detail"),
    ]
    if named:
        parts.append(
            svg_text(
                step.id, left, box.top + 76, width=inner, size=11, fill=MUTED, css_class="step-id"
            )
        )
    if count_text:
        parts.append(
            Markup(
                '<rect x="{}" y="{}" width="{}" height="18" rx="9" fill="#ffffff" stroke="{}"/>'
            ).format(num(box.right - 8 - count_w), num(box.top + 5), num(count_w), stroke)
        )
        parts.append(
            svg_text(
                count_text,
                box.right - 8 - count_w / 2,
                box.top + 18,
                size=11,
                bold=True,
                anchor="middle",
                fill=INK,
                css_class="count",
            )
        )
    parts.append(Markup("</g>"))
    return Markup("").join(parts)


def _end_markup(box: _Box, _: Gettext) -> Markup:
    return Markup(
        '<g class="terminal" data-step="{end}"><rect x="{x}" y="{y}" width="{w}" height="{h}" '
        'rx="17" fill="#ffffff" stroke="{ink}" stroke-width="2.5"/>{text}</g>'
    ).format(
        end=END,
        x=num(box.left),
        y=num(box.top),
        w=END_W,
        h=END_H,
        ink=_FINAL[1],
        text=svg_text(
            _("End"), (box.left + box.right) / 2, box.top + 22, size=13, bold=True, anchor="middle"
        ),
    )


def _describe(
    definition: JourneyDefinition,
    moves: list[Transition],
    counts: Mapping[str, int] | None,
    _: Gettext,
    count_format: Callable[[int], str],
) -> str:
    """The diagram in words, for screen readers: each step, its kind, where it goes."""
    out: dict[str, list[str]] = {}
    for move in moves:
        target = _("End") if move.target == END else move.target
        out.setdefault(move.source, []).append(f"{target} ({move.label})" if move.label else target)
    lines = []
    for step in definition.steps:
        text = f"{step.name or step.id}: {kind_name(step, _)}"
        if counts is not None:
            text += ", " + _("{count} runs").format(count=count_format(counts.get(step.id, 0)))
        if step.id in out:
            text += " → " + ", ".join(out[step.id])
        lines.append(text)
    return "; ".join(lines)
