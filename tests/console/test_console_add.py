"""Adding a credential in the console without a browser (both stores): a name that
exists already is never replaced unasked."""

from __future__ import annotations

from typing import Any

from loomal.core.models import StoreRequest
from tests.conftest import Api
from tests.console.html_forms import posted_fields
from tests.console.test_console_edit import kept, put, read
from tests.console.test_console_http import SECRET, sign_in


def add(api: Api, fields: dict[str, str]) -> Any:
    return api.client.post("/add", data=fields, follow_redirects=False)


def test_adding_an_existing_name_asks_before_replacing(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    put(
        api,
        key,
        "github",
        StoreRequest(
            "LOGIN", {"password": SECRET}, {"username": "bot", "allowedHosts": ["api.github.com"]}
        ),
    )
    before = kept(read(api, key, "github"))
    fields = posted_fields(api.client.get("/add?type=API_KEY").text)
    fields.update({"name": "github", "data.key": "ghp_new", "metadata.service": "github"})
    refused = add(api, fields)
    assert refused.status_code == 409
    assert "A credential named “github” exists already" in refused.text
    assert "type them again" in refused.text and "ghp_new" not in refused.text
    box = refused.text[refused.text.index('id="replace-title"') :]
    for shown in ("LOGIN", "<code>allowedHosts</code>, <code>username</code>", "version 1"):
        assert shown in box, shown
    assert kept(read(api, key, "github")) == before  # nothing replaced

    again = posted_fields(refused.text)  # the form as it came back, the box not ticked
    assert "replace" not in again and again["metadata.service"] == "github"
    again["data.key"] = "ghp_new"
    assert add(api, again).status_code == 409  # still not replaced
    assert kept(read(api, key, "github")) == before

    again["replace"] = "1"  # ticked: replace version 1, the one shown
    put(api, key, "github", StoreRequest("LOGIN", {"password": "agent-rotated"}))  # meanwhile
    changed = add(api, again)
    assert changed.status_code == 409 and "changed after you chose to replace it" in changed.text
    assert read(api, key, "github").data == {"password": "agent-rotated"}
    assert 'name="replace" value="2"' in changed.text

    again["replace"] = "2"
    assert add(api, again).status_code == 303
    replaced = read(api, key, "github")
    assert (replaced.type, replaced.data) == ("API_KEY", {"key": "ghp_new"})
    assert replaced.metadata == {"service": "github"}
