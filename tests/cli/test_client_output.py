"""How the client commands print a list or one result: the API's JSON for
scripts (a page whole, its cursor included), lines for people, a sentence for an
empty list."""

from __future__ import annotations

import json

import msgspec
import pytest

from loomal.cli.output import echo_listing, echo_result


class Page(msgspec.Struct, rename="camel"):
    items: list[str]
    next_cursor: str | None = None


def test_a_listing_is_the_whole_page_as_json_or_a_line_an_item(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = Page(["a", "b"], next_cursor="c2")
    echo_listing(page, page.items, str.upper, as_json=True, empty="None.")
    assert json.loads(capsys.readouterr().out) == {"items": ["a", "b"], "nextCursor": "c2"}
    echo_listing(page, page.items, str.upper, as_json=False, empty="None.")
    assert capsys.readouterr().out == "A\nB\n"
    echo_listing(Page([]), [], str.upper, as_json=False, empty="None.")
    assert capsys.readouterr().out == "None.\n"


def test_one_result_is_json_or_shown_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    echo_result(Page(["a"]), lambda page: print(f"{len(page.items)} item"), as_json=True)
    assert json.loads(capsys.readouterr().out) == {"items": ["a"], "nextCursor": None}
    echo_result(Page(["a"]), lambda page: print(f"{len(page.items)} item"), as_json=False)
    assert capsys.readouterr().out == "1 item\n"
