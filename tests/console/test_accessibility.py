"""What WCAG AA asks of every console page that a parser can check: a language, a title, one
h1, headings that do not skip a level, every field with a label, every table header with a
scope, every image with a text alternative, and no link or button without a name.

The pages are read as an ops user (who sees every form) on the real stack, in both languages.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from domain.customers import CustomerUpsert
from tests.api.conftest import Stack, new_id
from tests.console.conftest import ConsoleFactory

FIELDS = ("input", "select", "textarea")
UNLABELLED_TYPES = ("hidden", "submit", "button", "reset", "image")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.title = ""
        self.headings: list[int] = []
        self.labels_for: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.label_depth = 0
        self.problems: list[str] = []
        self._in_title = False
        self._named: list[tuple[str, dict[str, str | None], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self.label_depth += 1
            if found.get("for"):
                self.labels_for.add(str(found["for"]))
        elif tag in FIELDS and (found.get("type") or "text") not in UNLABELLED_TYPES:
            self.fields.append({**found, "_wrapped": "yes" if self.label_depth else None})
        elif tag == "th" and "scope" not in found:
            self.problems.append(f"<th> without scope: {attrs}")
        elif tag == "img" and "alt" not in found:
            self.problems.append(f"<img> without alt: {attrs}")
        elif tag == "svg" and not found.get("role"):
            self.problems.append("an <svg> without role")
        if tag in ("a", "button"):
            self._named.append((tag, found, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self.label_depth -= 1
        elif tag in ("a", "button") and self._named and self._named[-1][0] == tag:
            _, found, text = self._named.pop()
            if not "".join(text).strip() and not found.get("aria-label"):
                self.problems.append(f"<{tag}> without a name: {found}")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        for _, _, text in self._named:
            text.append(data)


def problems_of(html: str) -> list[str]:
    page = Page()
    page.feed(html)
    found = list(page.problems)
    if page.lang not in ("en", "zh-CN"):
        found.append(f"<html lang> is {page.lang!r}")
    if not page.title.strip():
        found.append("no <title>")
    if page.headings.count(1) != 1:
        found.append(f"{page.headings.count(1)} <h1> elements")
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        if after > before + 1:
            found.append(f"heading h{before} is followed by h{after}")
    for field in page.fields:
        named = field.get("aria-label") or field.get("aria-labelledby") or field.get("title")
        labelled = field.get("id") in page.labels_for or field.get("_wrapped")
        if not (named or labelled):
            found.append(f"a field without a label: {field}")
    return found


@pytest.fixture
def customer_id(console_stack: Stack) -> str:
    customer = new_id("a11y")
    console_stack.service.upsert_customer(
        CustomerUpsert(customer_id=customer, email=f"{customer}@example.com")
    )
    return customer


PAGES = [
    "/console/",
    "/console/journeys",
    "/console/journeys/win_back",
    "/console/journeys/publish",
    "/console/journeys/win_back/pause",
    "/console/journeys/win_back/migrate",
    "/console/customers",
    "/console/customers?q=cdnow-4",
    "/console/customers/{customer}",
    "/console/cases",
    "/console/callbacks",
    "/console/messages",
    "/console/messages?show=decisions",
    "/console/reports",
    "/console/no/such/page",
]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_every_page_passes_the_structural_checks(
    console: ConsoleFactory, customer_id: str, locale: str
) -> None:
    ops = await console("ops", locale=locale)
    failures = {}
    for path in PAGES:
        response = await ops.get(path.format(customer=customer_id))
        assert response.status_code in (200, 404), (path, response.status_code)
        found = problems_of(response.text)
        if found:
            failures[path] = found
    assert not failures, failures


async def test_the_sign_in_page_passes_them_too(console: ConsoleFactory) -> None:
    visitor = await console(None)
    assert problems_of((await visitor.get("/console/sign-in")).text) == []


def test_the_checks_catch_what_they_look_for() -> None:
    bad = (
        '<html lang="de"><title></title><h1>A</h1><h3>skips</h3><h1>two</h1>'
        '<input name="q"><select id="s"></select><label for="other">x</label>'
        '<table><tr><th>no scope</th></tr></table><img src="x"><a href="/x"></a>'
        "<button></button><svg></svg></html>"
    )
    found = problems_of(bad)
    assert len(found) == 11, found
    good = (
        '<html lang="en"><title>t</title><h1>A</h1><h2>b</h2><label for="q">Q</label>'
        '<input id="q"><label>W <select></select></label><input type="hidden">'
        '<table><tr><th scope="col">c</th></tr></table><img src="x" alt="">'
        '<a href="/x">go</a><button aria-label="close"></button><svg role="img"></svg></html>'
    )
    assert problems_of(good) == []
