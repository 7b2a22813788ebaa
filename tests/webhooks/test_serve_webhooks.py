"""``loomal serve --webhook-url`` as an operator runs it, with two workers: the
banner names the receiver's host only (never the secret or the URL's path), and
an agent's held request reaches the loopback receiver exactly once, signed,
although both workers deliver."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually, new_key, start_server
from tests.webhooks.receiver import running_receiver

pytestmark = pytest.mark.slow

SECRET = "whsec-" + "Pp4u" * 8


def test_two_workers_deliver_a_held_request_once(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_text(SECRET + "\n")
    data = tmp_path / "d"
    with running_receiver() as receiver:
        server = start_server(
            "--data-dir", str(data), "--workers", "2",
            "--fetch-allow-private", "127.0.0.1",
            "--webhook-url", receiver.url + "/T0K3N",
            "--webhook-secret-file", str(secret_file),
            cwd=tmp_path,
        )  # fmt: skip
        try:
            owner = server.api_key or ""
            agent = new_key(
                "add-key", "default", "--scopes", "vault:use", "--data-dir", str(data), cwd=tmp_path
            )
            rules = [{"methods": ["DELETE"], "paths": ["/**"], "approval": {"windowSeconds": 0}}]
            stored = httpx.put(
                f"{server.base_url}/v0/vault/crm",
                json={"type": "API_KEY", "data": {"key": "k" * 20},
                      "metadata": {"allowedHosts": ["127.0.0.1"], "rules": rules}},
                headers={"Authorization": f"Bearer {owner}"},
            )  # fmt: skip
            assert stored.status_code == 200, stored.text
            held = httpx.post(
                f"{server.base_url}/v0/vault/crm/fetch",
                json={"url": "http://127.0.0.1:9/x", "method": "DELETE"},
                headers={"Authorization": f"Bearer {agent}"},
            )
            assert held.status_code == 202, held.text
            eventually(lambda: len(receiver.seen) == 1, what="the webhook delivery")
            (got,) = receiver.seen
            expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
            assert got.headers["x-loomal-signature"] == f"sha256={expected}"
            assert got.event["data"]["id"] == held.json()["approvalId"]
            assert got.path.endswith("/T0K3N")
        finally:
            banner = server.stop()
    assert len(receiver.seen) == 1  # neither worker sent it again
    assert "webhook:    signed events to 127.0.0.1" in banner
    assert SECRET not in banner and "T0K3N" not in banner
