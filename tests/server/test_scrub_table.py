"""Issue 28's table: an echoing loopback upstream writes the injected secret back
in every encoding of tests/broker/echo_forms.py, and none of them comes back
through any of the three delivery paths: the /fetch body, the /fetch headers,
the proxy (body and headers). The secret holds characters each encoder treats
differently and non-ASCII ones, so it is injected as a query parameter (an
HTTP header cannot carry it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from litestar.testing import TestClient

from loomal.broker.scrubbing import REDACTED
from loomal.config import ServerSettings
from loomal.server.app import create_app
from tests.broker.echo_forms import FORMS, SECRET
from tests.conftest import Api
from tests.upstream import Upstream, running_upstream

PATHS = ("fetch_body", "fetch_headers", "proxy_body", "proxy_headers")


@pytest.fixture(scope="module")
def echoing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Upstream, Any]]:
    """One server (SQLite: scrubbing does not depend on the store) and one upstream
    for the whole table; the credential injects SECRET as ``?k=``."""
    data = tmp_path_factory.mktemp("scrub-table") / "data"
    settings = dataclasses.replace(
        ServerSettings.load({"data_dir": str(data)}, env={}), fetch_allow_private=("127.0.0.1",)
    )
    with running_upstream() as upstream:
        app = create_app(settings=settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            api = Api(client=client, settings=settings, app=app)
            h = api.headers()
            credential = {
                "type": "API_KEY",
                "data": {"key": SECRET},
                "metadata": {
                    "allowedHosts": ["127.0.0.1"],
                    "baseUrl": upstream.base_url,
                    "inject": {"query": "k"},
                },
            }
            assert client.put("/v0/vault/echo", json=credential, headers=h).is_success
            yield api, upstream, h


def echoed(api: Api, upstream: Upstream, h: dict[str, str], form: str, path: str) -> str:
    """What the caller got back, from between the upstream's << and >> markers."""
    if path.startswith("fetch"):
        response = api.client.post(
            "/v0/vault/echo/fetch",
            json={"url": f"{upstream.base_url}/form?name={form}"},
            headers=h,
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        # a header's bytes come back as the Latin-1 text that spells them
        text: str = (
            answer["body"]
            if path == "fetch_body"
            else answer["headers"]["x-echo"].encode("latin-1").decode("utf-8", "replace")
        )
    else:
        response = api.client.get(f"/v0/proxy/echo/form?name={form}", headers=h)
        assert response.status_code == 200, response.text
        raw: bytes = (
            response.content if path == "proxy_body" else dict(response.headers.raw)[b"x-echo"]
        )
        text = raw.decode("utf-8", "replace")
    assert text.startswith("<<") and text.endswith(">>"), text
    return text[2:-2]


def test_the_upstream_really_receives_the_secret(echoing: tuple[Api, Upstream, Any]) -> None:
    api, upstream, h = echoing
    api.client.post(
        "/v0/vault/echo/fetch", json={"url": f"{upstream.base_url}/form?name=raw"}, headers=h
    )
    path, _, query = upstream.seen[-1].path.partition("?")
    assert path == "/form" and parse_qs(query) == {"name": ["raw"], "k": [SECRET]}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("form", sorted(FORMS))
def test_no_encoding_of_the_secret_comes_back(
    echoing: tuple[Api, Upstream, Any], form: str, path: str
) -> None:
    api, upstream, h = echoing
    text = echoed(api, upstream, h, form, path)
    assert FORMS[form](SECRET) not in text
    assert REDACTED in text
    assert len(text.replace(REDACTED, "")) <= 12, text  # quotes, or base64 edges


def test_the_table_covers_at_least_twenty_encodings_on_each_path() -> None:
    assert len(FORMS) >= 20 and len(PATHS) >= 3
