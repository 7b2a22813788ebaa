"""CORS: off by default (no header, preflight refused); on, only for listed origins,
on the hot read path and the framework path alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.errors import ValidationError
from loomal.server.app import create_app
from tests.conftest import Api, loomal

APP = "https://app.example.com"
OTHER = "https://evil.example"


def make_api(tmp_path: Path, origins: str | None) -> Iterator[Api]:
    settings = ServerSettings.load(
        {"data_dir": str(tmp_path / "data"), "cors_origins": origins}, env={}
    )
    app = create_app(settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path, None)


@pytest.fixture
def open_to_app(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path, f"{APP}, http://localhost:5173")


def calls(api: Api, origin: str) -> list[Any]:
    headers = {**api.headers(), "Origin": origin}
    body = {"type": "API_KEY", "data": {"key": "sk_live_cors"}}
    return [
        api.client.put("/v0/vault/stripe", json=body, headers=headers),  # framework path
        api.client.get("/v0/vault/stripe", headers=headers),  # hot path
        api.client.get("/v0/vault", headers=headers),
        api.client.get("/v0/vault/missing", headers={"Origin": origin}),  # 401
    ]


def preflight(api: Api, origin: str) -> Any:
    return api.client.options(
        "/v0/vault/stripe",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_is_off_by_default(closed: Api) -> None:
    for response in calls(closed, APP):
        assert not any(h.startswith("access-control-") for h in response.headers)
    refused = preflight(closed, APP)
    assert refused.status_code == 401  # as any request without a key
    assert refused.json()["error"] == "unauthorized"
    assert "access-control-allow-origin" not in refused.headers


def test_a_listed_origin_may_call_every_path(open_to_app: Api) -> None:
    responses = calls(open_to_app, APP)
    assert [r.status_code for r in responses] == [200, 200, 200, 401]
    for response in responses:  # errors too, so the page can read them
        assert response.headers["access-control-allow-origin"] == APP
        assert response.headers["vary"] == "Origin"
        assert response.headers["cache-control"] == "no-store"
    allowed = preflight(open_to_app, "http://localhost:5173")
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert allowed.headers["access-control-allow-methods"] == "GET, PUT, POST, DELETE"
    assert "access-control-allow-credentials" not in allowed.headers


def test_another_origin_gets_no_cors_header(open_to_app: Api) -> None:
    for response in calls(open_to_app, OTHER):
        assert "access-control-allow-origin" not in response.headers
    refused = preflight(open_to_app, OTHER)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "origin_not_allowed",
        "message": "This origin may not call the API.",
        "status": 403,
    }
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/", "ftp://x", ""])
def test_malformed_origins_are_refused_at_start(origin: str, tmp_path: Path) -> None:
    if origin:
        with pytest.raises(ValidationError, match="must look like"):
            ServerSettings.load({"cors_origins": origin}, env={})
    result = loomal("serve", "--cors-origin", origin or "https://a.b/c", cwd=tmp_path)
    assert result.returncode == 1
    assert "must look like https://app.example.com[:port]" in result.stderr


def test_origins_reach_the_workers_through_the_environment() -> None:
    settings = ServerSettings.load({"cors_origins": [APP, "http://localhost:5173"]}, env={})
    env = settings.to_env()
    assert env["LOOMAL_CORS_ORIGINS"] == f"{APP},http://localhost:5173"
    assert ServerSettings.load(env=env).cors_origins == settings.cors_origins
    assert "LOOMAL_CORS_ORIGINS" not in ServerSettings.load(env={}).to_env()
