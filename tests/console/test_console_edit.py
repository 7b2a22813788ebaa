"""Editing in the console without a browser (both stores): an edit changes only what
the person changed, reads no secret, and never overwrites a change made meanwhile.
Each form is posted as a browser would post the page (tests/console/html_forms.py)."""

from __future__ import annotations

import re
from typing import Any

from loomal.core.models import Credential, StoreRequest
from tests.conftest import Api
from tests.console.html_forms import posted_fields
from tests.console.test_console_http import SECRET, sign_in

SEED = "JBSWY3DPEHPK3PXP"
BROKERED = {
    "allowedHosts": ["api.example.com", "*.example.org"],
    "baseUrl": "https://api.example.com/v1",
    "inject": {"header": "X-Api-Key", "prefix": "Key "},
    "rules": [{"methods": ["GET"], "paths": ["/v1/**"], "budget": {"max": 5, "perSeconds": 60}}],
    "oauth": {"tokenUrl": "https://auth.example.com/token", "clientId": "c1"},
    "team": {"name": "billing", "size": 3},
}
EXPIRES = "2027-01-01T00:00:00Z"


def put(api: Api, key: str, name: str, request: StoreRequest) -> None:
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    api.call(api.vault.service.store_credential, principal, name, request)


def read(api: Api, key: str, name: str) -> Credential:
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    got: Credential = api.call(api.vault.service.get_credential, principal, name)
    return got


def opened(api: Api, name: str) -> dict[str, str]:
    page = api.client.get(f"/credentials/{name}/edit")
    assert page.status_code == 200, page.text
    return posted_fields(page.text)


def save(api: Api, name: str, fields: dict[str, str]) -> Any:
    return api.client.post(f"/credentials/{name}/edit", data=fields, follow_redirects=False)


def kept(credential: Credential) -> tuple[Any, ...]:
    return (
        credential.type,
        credential.data,
        credential.metadata,
        credential.expires_at,
        credential.version,
        credential.last_rotated_at,
    )


def test_saving_an_unchanged_edit_form_changes_nothing(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    stored = {
        "stripe": StoreRequest(
            "API_KEY",
            {"key": "sk_live_1", "extra": {"nested": [1, 2]}},
            {"service": "stripe", "prefix": "sk_...1", **BROKERED},
            expires_at=EXPIRES,
        ),
        "site": StoreRequest(
            "LOGIN",
            {"password": "  " + SECRET, "totp": SEED},
            {"username": "bot", "uri": "https://x.example", "digits": 8, "period": 60},
        ),
        "2fa": StoreRequest(
            "TOTP",
            {"secret": SEED, "backupCodes": ["a-1", "b-2", "c-3"]},
            {"issuer": "Example", "algorithm": "sha256", "digits": "6", "note": "multi\nline"},
            expires_at="2027-01-01T12:30:45Z",
        ),
        "bag": StoreRequest("CUSTOM", {"token": SECRET, "n": 7}, {"inject": {"query": "t"}}),
        "cert": StoreRequest(
            "CERTIFICATE",
            {"privateKey": "-----BEGIN KEY-----\nMIIE\n"},
            {"certificate": "\n-----BEGIN CERT-----\nabc\n", "expiresAt": "2026-05-01"},
        ),
    }
    for name, request in stored.items():
        put(api, key, name, request)
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    api.call(api.vault.service.totp_use_backup, principal, "2fa")  # usedBackupCodes: ["a-1"]
    before = {name: kept(read(api, key, name)) for name in stored}
    for name in stored:
        response = save(api, name, opened(api, name))
        assert response.status_code == 303, (name, response.text)
    after = {name: kept(read(api, key, name)) for name in stored}
    assert after == before  # not a field, not the expiry's second, not even a new version
    assert after["2fa"][1]["usedBackupCodes"] == ["a-1"]


def test_an_edit_changes_only_what_the_person_changed(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    put(
        api,
        key,
        "site",
        StoreRequest(
            "LOGIN",
            {"password": SECRET, "totp": SEED, "note": "kept"},
            {"username": "bot", **BROKERED},
            expires_at=EXPIRES,
        ),
    )
    before = read(api, key, "site")
    fields = opened(api, "site")
    fields["metadata.username"] = "bot-2"
    fields["metadata.allowedHosts"] = "api.example.com\r\nnew.example.com\r\n"
    assert save(api, "site", fields).status_code == 303
    after = read(api, key, "site")
    assert after.metadata == {
        **before.metadata,
        "username": "bot-2",
        "allowedHosts": ["api.example.com", "new.example.com"],
    }
    assert after.data == before.data  # the seed too, though the form never had it
    assert after.expires_at == before.expires_at and after.version == before.version + 1
    assert after.last_rotated_at == before.last_rotated_at  # no secret changed

    fields = opened(api, "site")
    fields["data.password"] = "new-password"
    fields["expiresAt"] = "2028-02-03"
    fields["metadata.rules"] = ""  # cleared: every request allowed again
    assert save(api, "site", fields).status_code == 303
    after = read(api, key, "site")
    assert after.data == {**before.data, "password": "new-password"}
    assert "rules" not in after.metadata and after.metadata["oauth"] == BROKERED["oauth"]
    assert f"{after.expires_at:%Y-%m-%dT%H:%M:%S}" == "2028-02-03T23:59:59"


def test_opening_and_saving_an_edit_is_no_use_of_the_secret(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    put(api, key, "bag", StoreRequest("CUSTOM", {"token": SECRET, "user": "u"}))
    put(api, key, "site", StoreRequest("LOGIN", {"password": SECRET}))
    for name in ("bag", "site"):
        fields = opened(api, name)
        assert SECRET not in str(fields)
        if name == "bag":
            assert fields["custom.0.key"] == "token" and fields["custom.0.was"] == "token"
            fields["custom.1.value"] = "u2"
        else:
            fields["metadata.username"] = "bot"
        assert save(api, name, fields).status_code == 303
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    listing = api.call(api.vault.service.list_credentials, principal).credentials
    assert [c.last_used_at for c in listing] == [None, None]
    events = api.call(api.vault.service.audit_log, principal).events
    assert "get" not in {e.action for e in events}
    assert [e.action for e in events if e.credential_name == "bag"].count("store") == 2
    assert read(api, key, "bag").data == {"token": SECRET, "user": "u2"}


def test_custom_rows_keep_remove_and_add_fields(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    put(api, key, "bag", StoreRequest("CUSTOM", {"a": "1", "b": {"x": 1}, "c": "3"}))
    fields = opened(api, "bag")
    rows = {fields[f"custom.{i}.key"]: i for i in range(3)}
    fields[f"custom.{rows['a']}.key"] = ""  # cleared: removed
    fields[f"custom.{rows['c']}.value"] = "33"
    fields["custom.3.key"], fields["custom.3.value"] = "d", "4"
    assert save(api, "bag", fields).status_code == 303
    assert read(api, key, "bag").data == {"b": {"x": 1}, "c": "33", "d": "4"}
    fields = opened(api, "bag")
    fields[f"custom.{[fields[f'custom.{i}.key'] for i in range(3)].index('c')}.key"] = "e"
    renamed = save(api, "bag", fields)
    assert renamed.status_code == 422 and "Type the value of e too" in renamed.text


def test_brokered_fields_and_rules_have_inputs(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    page = api.client.get("/add?type=API_KEY")
    for label in ("Allowed hosts", "Base URL", "Inject into", "Header or query parameter name"):
        assert f">{label}</label>" in page.text, label
    fields = posted_fields(page.text)
    fields.update(
        {
            "name": "gh",
            "data.key": "ghp_1",
            "metadata.allowedHosts": "api.github.com\r\n",
            "metadata.baseUrl": "https://api.github.com",
            "metadata.inject": "header",
            "metadata.inject.name": "Authorization",
            "metadata.inject.prefix": "token ",
            "metadata.rules": '[{"methods": ["GET"], "paths": ["/repos/**"]}]',
            "metadata.other": '{"team": "infra"}',
        }
    )
    assert api.client.post("/add", data=fields, follow_redirects=False).status_code == 303
    assert read(api, key, "gh").metadata == {
        "allowedHosts": ["api.github.com"],
        "baseUrl": "https://api.github.com",
        "inject": {"header": "Authorization", "prefix": "token "},
        "rules": [{"methods": ["GET"], "paths": ["/repos/**"]}],
        "team": "infra",
    }
    before = read(api, key, "gh")
    for rules, message in (
        ('[{"methods": ["GET"]', "Request rules must be JSON: Expecting"),
        ('{"methods": ["GET"]}', "metadata.rules must be an array of rules"),
        ('[{"methods": ["GET"], "paths": ["repos"]}]', "metadata.rules[0].paths must be"),
        ('[{"methods": ["GET"], "paths": ["/"], "budget": {"max": 0, "perSeconds": 1}}]', "max"),
    ):
        fields = opened(api, "gh")
        fields["metadata.rules"] = rules
        refused = save(api, "gh", fields)
        assert refused.status_code == 422, rules
        error = re.search(r'id="b-m-rules-error">([^<]*)<', refused.text)
        assert error and message in error.group(1).replace("&quot;", '"'), refused.text
    fields = opened(api, "gh")
    fields["metadata.inject"] = ""
    fields["metadata.inject.name"] = "X-Key"
    refused = save(api, "gh", fields)
    assert 'id="b-m-inject-error">Choose whether to inject into a header' in refused.text
    assert kept(read(api, key, "gh")) == kept(before)


def test_a_change_made_meanwhile_is_shown_not_overwritten(api: Api) -> None:
    key = api.new_identity().api_key
    sign_in(api.client, key)
    put(api, key, "site", StoreRequest("LOGIN", {"password": SECRET}, {"username": "bot"}))
    fields = opened(api, "site")  # the person opens Edit ...
    agent = StoreRequest(  # ... an agent stores a new version meanwhile ...
        "LOGIN", {"password": "rotated"}, {"username": "bot", "allowedHosts": ["a.example"]}
    )
    put(api, key, "site", agent)
    fields["metadata.username"] = "person"  # ... and the person saves their change
    fields["data.password"] = "typed-by-person"
    conflict = save(api, "site", fields)
    assert conflict.status_code == 409
    assert "“site” changed while you were editing it" in conflict.text
    changes = re.findall(r"<li>([^<]*)</li>", conflict.text)
    assert any(c.startswith("Its secret fields were changed at") for c in changes), changes
    assert "metadata.allowedHosts was added: [&#x27;a.example&#x27;]." in changes
    assert "Secret fields you typed are not kept" in conflict.text
    assert "typed-by-person" not in conflict.text
    stored = read(api, key, "site")
    assert stored.data == {"password": "rotated"} and stored.metadata["username"] == "bot"
    again = posted_fields(conflict.text)  # the form over the new version, the change kept
    assert again["metadata.username"] == "person"
    assert again["metadata.allowedHosts"] == "a.example"
    assert save(api, "site", again).status_code == 303
    assert read(api, key, "site").metadata == {"username": "person", "allowedHosts": ["a.example"]}
    assert read(api, key, "site").data == {"password": "rotated"}

    fields = opened(api, "site")
    principal = api.call(api.vault.identities.authenticate, f"Bearer {key}")
    api.call(api.vault.service.delete_credential, principal, "site")
    fields["metadata.username"] = "late"
    gone = save(api, "site", fields)
    assert gone.status_code == 409 and "was deleted while you were editing it" in gone.text
    assert [
        c.name for c in api.call(api.vault.service.list_credentials, principal).credentials
    ] == []


def test_a_write_key_without_read_edits_a_custom_credential_on_a_page(api: Api) -> None:
    """vault:write + vault:use, no vault:read: the field names cannot be shown, so
    the form says so, and a field named there is set while the others are kept."""
    owner = api.new_identity()
    put(api, owner.api_key, "bag", StoreRequest("CUSTOM", {"a": "1", "b": "2"}))
    writer = api.call(
        api.vault.identities.add_key, owner.name, scopes=["vault:write", "vault:use"]
    ).api_key
    sign_in(api.client, writer)
    page = api.client.get("/credentials/bag/edit")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "its field names are not shown" in page.text
    fields = posted_fields(page.text)
    fields["custom.0.key"], fields["custom.0.value"] = "b", "22"
    assert save(api, "bag", fields).status_code == 303
    assert read(api, owner.api_key, "bag").data == {"a": "1", "b": "22"}
