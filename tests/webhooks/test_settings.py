"""The webhook's settings: declared once (flag, variable, default), https unless
loopback, refused without a signing secret, and the secret never printed nor
handed to workers when it lives in a file. A webhook URL may itself be a secret
(a token in its path), so no error repeats it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from loomal.cli import main
from loomal.config import ServerSettings
from loomal.errors import ValidationError

TOKEN_URL = "https://hooks.example.com/services/T0K3N-s3cr3t"
SECRET = "whsec-" + "Zx81" * 8


def load(**flags: object) -> ServerSettings:
    return ServerSettings.load(flags, env={})


def test_a_webhook_url_without_a_secret_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValidationError, match="needs a signing secret") as refused:
        load(webhook_url=TOKEN_URL)
    assert "T0K3N" not in str(refused.value)


@pytest.mark.parametrize(
    "bad",
    [
        "http://hooks.example.com/T0K3N",
        "http://10.0.0.7/T0K3N",
        "https://user:T0K3N@hooks.example.com/",
        "hooks.example.com/T0K3N",
        "ftp://hooks.example.com/T0K3N",
    ],
)
def test_a_webhook_url_must_be_https_unless_loopback(bad: str) -> None:
    with pytest.raises(ValidationError, match="webhook URL") as refused:
        ServerSettings.load({"webhook_url": bad}, env={"LOOMAL_WEBHOOK_SECRET": SECRET})
    assert "T0K3N" not in str(refused.value)


@pytest.mark.parametrize(
    "good", [TOKEN_URL, "http://127.0.0.1:9000/hook", "http://[::1]:9000/", "http://localhost/"]
)
def test_https_or_loopback_http_is_taken(good: str) -> None:
    settings = ServerSettings.load({"webhook_url": good}, env={"LOOMAL_WEBHOOK_SECRET": SECRET})
    assert (settings.webhook_url, settings.webhook_secret) == (good, SECRET.encode())


def test_a_secret_file_is_read_and_never_printed_nor_passed_to_workers(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_text(SECRET + "\n")
    settings = load(webhook_url=TOKEN_URL, webhook_secret_file=str(secret_file))
    assert settings.webhook_secret == SECRET.encode()
    assert SECRET not in repr(settings)
    env = settings.to_env()
    assert SECRET not in repr(env)
    assert env["LOOMAL_WEBHOOK_SECRET_FILE"] == str(secret_file)
    worker = ServerSettings.load(env=env)  # a worker reads the file itself
    assert worker.webhook_secret == SECRET.encode()


def test_a_secret_from_the_environment_reaches_workers(tmp_path: Path) -> None:
    settings = ServerSettings.load(
        {"webhook_url": TOKEN_URL}, env={"LOOMAL_WEBHOOK_SECRET": SECRET}
    )
    assert ServerSettings.load(env=settings.to_env()).webhook_secret == SECRET.encode()


def test_a_short_or_unreadable_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="too short"):
        ServerSettings.load({"webhook_url": TOKEN_URL}, env={"LOOMAL_WEBHOOK_SECRET": "abc"})
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ValidationError, match="too short") as refused:
        load(webhook_url=TOKEN_URL, webhook_secret_file=str(short))
    assert "abc" not in str(refused.value).replace(str(short), "")
    with pytest.raises(ValidationError, match="Cannot read"):
        load(webhook_url=TOKEN_URL, webhook_secret_file=str(tmp_path / "missing"))


def test_serve_refuses_to_start_with_a_url_and_no_secret(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--data-dir", str(tmp_path / "d"), "--webhook-url", TOKEN_URL],
        env={"LOOMAL_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 1
    assert "needs a signing secret" in result.stderr
    assert "T0K3N" not in result.output + result.stderr
    assert not (tmp_path / "d").exists()
