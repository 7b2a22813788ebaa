"""The Activity page's filters over HTTP (both stores): action, outcome and
credential, and Older keeping them."""

from __future__ import annotations

import re

from loomal.core.models import StoreRequest
from tests.conftest import Api
from tests.console.test_console_edit import put
from tests.console.test_console_http import sign_in


def rows(html: str) -> list[tuple[str, str, str]]:
    return re.findall(
        r'data-label="Action">([^<]*)</td><td data-label="Credential">([^<]*)</td>'
        r'<td data-label="Outcome">([^<]*)</td>',
        html,
    )


def test_activity_filters_and_pages_keep_them(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    for i in range(60):
        put(api, key, f"c{i:02}", StoreRequest("LOGIN", {"password": "p"}))
    api.client.get("/v0/vault/nope", headers={"Authorization": f"Bearer {key}"})
    api.client.get("/v0/vault/c07", headers={"Authorization": f"Bearer {key}"})
    page = api.client.get("/activity", params={"action": "store"})
    assert len(rows(page.text)) == 50 and {r[0] for r in rows(page.text)} == {"store"}
    older = re.search(r'href="/activity\?([^"]+)">Older', page.text)
    assert older and "action=store" in older.group(1).replace("&amp;", "&")
    rest = api.client.get("/activity?" + older.group(1).replace("&amp;", "&"))
    assert len(rows(rest.text)) == 10 and {r[0] for r in rows(rest.text)} == {"store"}
    failed = api.client.get("/activity", params={"outcome": "failed"})
    assert rows(failed.text) == [("get", "nope", "not_found")]
    one = api.client.get("/activity", params={"credential": "c07"})
    assert rows(one.text) == [("get", "c07", "ok"), ("store", "c07", "ok")]
    none = api.client.get("/activity", params={"credential": "c07", "outcome": "expired"})
    assert "No activity matches these filters" in none.text
