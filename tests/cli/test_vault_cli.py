"""``loomal vault`` and ``loomal run`` against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from loomal.cli import main
from loomal.core.totp import TotpParameters, totp_code
from tests.conftest import ServerProcess, auth, free_port

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)


@pytest.fixture
def cli(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    return CliRunner()


def invoke(cli: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return cli.invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_seed_cli_example_verbatim_in_a_real_shell(server: ServerProcess, tmp_path: Path) -> None:
    seed = """loomal vault store stripe \\
  --type API_KEY \\
  --data '{"key":"sk_live_abc123..."}' \\
  --metadata '{"service":"stripe","prefix":"sk_live_...c123"}'"""
    env = {
        **os.environ,
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["sh", "-c", seed], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Created stripe (API_KEY, cred_" in result.stdout
    got = subprocess.run(
        ["sh", "-c", "loomal vault get stripe --field data.key"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.stdout == "sk_live_abc123...\n"


def test_store_get_list_delete(cli: CliRunner, server: ServerProcess, tmp_path: Path) -> None:
    stored = invoke(
        cli,
        "vault",
        "store",
        "github",
        "--type",
        "LOGIN",
        "--data",
        '{"password":"s3cret!"}',
        "--metadata",
        '{"username":"agent-bot"}',
        "--json",
    )
    assert stored.exit_code == 0
    assert json.loads(stored.output)["name"] == "github"

    secret_file = tmp_path / "secret.json"
    secret_file.write_text('{"key": "from-file"}')
    assert (
        invoke(
            cli, "vault", "store", "f", "--type", "API_KEY", "--data", f"@{secret_file}"
        ).exit_code
        == 0
    )
    assert invoke(cli, "vault", "get", "f", "--field", "data.key").output == "from-file\n"
    piped = invoke(
        cli, "vault", "store", "p", "--type", "API_KEY", "--data", "-", stdin='{"key":"piped"}'
    )
    assert piped.exit_code == 0
    assert invoke(cli, "vault", "get", "p", "--field", "data.key").output == "piped\n"

    shown = invoke(cli, "vault", "get", "github")
    assert "s3cret!" in shown.output
    assert "agent-bot" in shown.output
    as_json = json.loads(invoke(cli, "vault", "get", "github", "--json").output)
    assert as_json["data"] == {"password": "s3cret!"}

    listed = invoke(cli, "vault", "list")
    assert "github" in listed.output
    assert "s3cret!" not in listed.output
    # --json prints the API's JSON: GET /v0/vault's object, not a bare array
    with httpx.Client(base_url=server.base_url, headers=auth(server.api_key or "")) as api:
        everything = json.loads(invoke(cli, "vault", "list", "--json").output)
        assert everything == api.get("/v0/vault").json()
        assert [c["name"] for c in everything["credentials"]] == ["f", "github", "p"]
        assert (everything["count"], "nextCursor" in everything) == (3, False)
        page = json.loads(invoke(cli, "vault", "list", "--limit", "2", "--json").output)
        assert page == api.get("/v0/vault", params={"limit": 2}).json()
        assert (len(page["credentials"]), page["count"]) == (2, 2)
        assert page["nextCursor"]
        cursor = ["--cursor", page["nextCursor"]]
        last = json.loads(invoke(cli, "vault", "list", "--limit", "2", *cursor, "--json").output)
        assert last == {"credentials": last["credentials"], "count": 1}
        assert as_json == api.get("/v0/vault/github").json() | {"lastUsedAt": as_json["lastUsedAt"]}

    assert invoke(cli, "vault", "delete", "github", "--yes").exit_code == 0
    gone = invoke(cli, "vault", "get", "github")
    assert gone.exit_code == 1
    assert "No credential named 'github'" in gone.output


def test_otpauth_import_totp_and_backup_codes(cli: CliRunner) -> None:
    uri = "otpauth://totp/GitHub:agent-bot?secret=jbsw%20y3dp%20ehpk%203pxp&algorithm=sha256&digits=8&period=60"
    stored = invoke(cli, "vault", "store", "gh", "--otpauth", uri, "--backup-codes", "a-1, b-2")
    assert stored.exit_code == 0, stored.output
    credential = json.loads(invoke(cli, "vault", "get", "gh", "--json").output)
    assert credential["metadata"] == {
        "issuer": "GitHub",
        "account": "agent-bot",
        "algorithm": "SHA256",
        "digits": 8,
        "period": 60,
    }
    assert credential["data"]["backupCodes"] == ["a-1", "b-2"]
    before = time.time()
    code = json.loads(invoke(cli, "vault", "totp", "gh", "--json").output)
    assert len(code["code"]) == 8
    assert code["period"] == 60
    params = TotpParameters("SHA256", 8, 60)
    assert code["code"] in {
        totp_code("JBSWY3DPEHPK3PXP", at=at, params=params).code for at in (before, time.time())
    }
    human = invoke(cli, "vault", "totp", "gh")
    assert "s more; 2 backup codes left)" in human.output
    used = invoke(cli, "vault", "totp-use-backup", "gh")
    assert used.stdout.splitlines()[0] == "a-1"
    assert used.stderr == "1 backup code left.\n"  # singular, not "1 backup codes left."
    assert "s more; 1 backup code left)" in invoke(cli, "vault", "totp", "gh").output
    assert invoke(cli, "vault", "totp-use-backup", "gh", "--json").output.count("b-2") == 1
    empty = invoke(cli, "vault", "totp-use-backup", "gh")
    assert empty.exit_code == 1
    assert "no unused backup codes" in empty.output

    hotp = invoke(
        cli, "vault", "store", "h", "--otpauth", "otpauth://hotp/X:y?secret=JBSWY3DP&counter=0"
    )
    assert hotp.exit_code == 1
    assert "HOTP" in hotp.output
    assert "JBSWY3DP" not in hotp.output


def test_store_says_created_or_replaced_and_no_overwrite_refuses(cli: CliRunner) -> None:
    def store(key: str, *extra: str) -> Result:
        return invoke(cli, "vault", "store", "k", "--type", "API_KEY", "--data", key, *extra)

    created = store('{"key":"one"}')
    assert created.exit_code == 0
    assert created.output.startswith("Created k (API_KEY, cred_")
    replaced = store('{"key":"two"}')
    assert replaced.exit_code == 0
    assert replaced.output.startswith("Replaced k (API_KEY, cred_")
    assert replaced.output.endswith("; now version 2).\n")

    refused = store('{"key":"three"}', "--no-overwrite")
    assert refused.exit_code == 1
    assert refused.output == (
        "error: k exists already; nothing was stored (--no-overwrite). "
        "Drop --no-overwrite to replace it.\n"
    )
    assert invoke(cli, "vault", "get", "k", "--field", "data.key").output == "two\n"
    fresh = invoke(
        cli,
        "vault",
        "store",
        "new",
        "--type",
        "LOGIN",
        "--data",
        '{"password":"p"}',
        "--no-overwrite",
    )
    assert fresh.output.startswith("Created new (LOGIN, cred_")


def test_usage_errors_exit_2_and_api_errors_exit_1(cli: CliRunner) -> None:
    assert invoke(cli, "vault", "store", "x", "--type", "LOGIN").exit_code == 2
    assert invoke(cli, "vault", "nope").exit_code == 2
    bad_json = invoke(cli, "vault", "store", "x", "--type", "LOGIN", "--data", "{oops")
    assert bad_json.exit_code == 1
    assert "--data is not valid JSON" in bad_json.output
    typo = invoke(cli, "vault", "store", "x", "--type", "LOGIN", "--data", '{"pasword":"p"}')
    assert typo.exit_code == 1
    assert "CUSTOM" in typo.output
    missing_field = invoke(cli, "vault", "totp", "x", "--field", "nothing")
    assert missing_field.exit_code == 1


def test_down_server_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens there (port 1 may be served)
    monkeypatch.setenv("LOOMAL_API_KEY", "loid-" + "x" * 43)
    monkeypatch.setenv("LOOMAL_API_URL", down)
    result = CliRunner().invoke(main, ["vault", "list"])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: Could not reach Loomal at {down}")
    assert "Traceback" not in result.output


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOMAL_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["vault", "list"])
    assert result.exit_code == 1
    assert "LOOMAL_API_KEY" in result.output


def test_run_passes_secrets_to_the_child_only(server: ServerProcess, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "loomal",
            "vault",
            "store",
            "stripe",
            "--type",
            "API_KEY",
            "--data",
            '{"key":"sk_live_0123456789"}',
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    child = "import os, sys; print(len(os.environ['STRIPE_KEY'])); sys.exit(7)"
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loomal",
            "run",
            "--env",
            "STRIPE_KEY=stripe.key",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=60,
    )
    assert result.returncode == 7
    assert result.stdout.strip() == str(len("sk_live_0123456789"))
    assert "sk_live" not in result.stdout + result.stderr
    assert list(workdir.iterdir()) == []  # nothing written to disk
    bare = subprocess.run(
        [
            sys.executable,
            "-m",
            "loomal",
            "run",
            "--env",
            "K=stripe",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['K'][:7])",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.stdout.strip() == "sk_live"
    missing = subprocess.run(
        [sys.executable, "-m", "loomal", "run", "--env", "K=stripe.nope", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "no data field 'nope'" in missing.stderr


def test_run_sets_the_current_totp_code_and_says_how_long_it_lasts(
    cli: CliRunner, server: ServerProcess
) -> None:
    seed = "JBSWY3DPEHPK3PXP"
    invoke(cli, "vault", "store", "gh", "--otpauth", f"otpauth://totp/GitHub:bot?secret={seed}")
    login = '{"password":"p","totp":"' + seed + '"}'
    invoke(cli, "vault", "store", "acme-login", "--type", "LOGIN", "--data", login)
    invoke(cli, "vault", "store", "stripe", "--type", "API_KEY", "--data", '{"key":"sk"}')
    env = {**os.environ, "LOOMAL_API_KEY": server.api_key or "", "LOOMAL_API_URL": server.base_url}
    print_codes = "import os; print(os.environ['A'], os.environ['B'], os.environ['C'])"

    def run(*mappings: str, child: str = print_codes) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "loomal", "run"]
        for mapping in mappings:
            command += ["--env", mapping]
        return subprocess.run(
            [*command, "--", sys.executable, "-c", child],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    before = time.time()
    result = run("A=acme-login.totp", "B=gh.totp", "C=gh.secret")
    current = {totp_code(seed, at=at).code for at in (before, time.time())}
    assert result.returncode == 0, result.stderr
    codes = result.stdout.split()
    assert len(codes) == 3 and set(codes) <= current
    assert "[use" not in result.stdout
    for var, name in (("A", "acme-login"), ("B", "gh"), ("C", "gh")):
        assert re.search(
            rf"^{var}: the current TOTP code of {name}, valid \d+s more\.$", result.stderr, re.M
        )

    refused = run("A=stripe.totp", child="print('ran')")
    assert refused.returncode == 1
    assert refused.stderr == "error: --env A: stripe has no TOTP seed, so no code to set.\n"
    assert refused.stdout == ""


def test_run_exits_like_a_shell_when_the_command_cannot_start(
    server: ServerProcess, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "LOOMAL_API_KEY": server.api_key or "",
        "LOOMAL_API_URL": server.base_url,
    }
    secret = "sk_live_0123456789"
    stored = subprocess.run(
        [
            sys.executable,
            "-m",
            "loomal",
            "vault",
            "store",
            "stripe",
            "--type",
            "API_KEY",
            "--data",
            json.dumps({"key": secret}),
        ],
        env=env,
        capture_output=True,
    )
    assert stored.returncode == 0, stored.stderr
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\necho hi\n")
    no_interpreter = tmp_path / "orphan.sh"
    no_interpreter.write_text("#!/nonexistent/interpreter\necho hi\n")
    no_interpreter.chmod(0o755)
    cases = [
        ("/nonexistent/cmd", 127, "error: command not found: /nonexistent/cmd"),
        ("no-such-command-anywhere", 127, "error: command not found: no-such-command-anywhere"),
        (str(tmp_path), 126, f"error: cannot execute {tmp_path}: Permission denied"),
        (str(not_executable), 126, f"error: cannot execute {not_executable}: Permission denied"),
        (str(no_interpreter), 126, f"error: cannot execute {no_interpreter}: bad interpreter"),
    ]
    for program, code, message in cases:
        result = subprocess.run(
            [sys.executable, "-m", "loomal", "run", "--env", "K=stripe.key", "--", program, "x"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr, result.stdout) == (code, message + "\n", "")
        assert secret not in result.stderr
    # the shell's own codes, for comparison
    assert subprocess.run(["sh", "-c", "/nonexistent/cmd"], capture_output=True).returncode == 127
    assert subprocess.run(["sh", "-c", str(tmp_path)], capture_output=True).returncode == 126


def test_whoami_names_the_identity_of_the_key(cli: CliRunner, server: ServerProcess) -> None:
    shown = invoke(cli, "whoami")
    assert shown.exit_code == 0
    assert shown.output.startswith("default (id_")
    assert "scopes: vault:read vault:write" in shown.output
    as_json = json.loads(invoke(cli, "whoami", "--json").output)
    assert (as_json["name"], as_json["type"], as_json["purpose"]) == ("default", "AGENT", "BUYER")
    assert as_json["usageCount"] >= 1


def test_the_old_base_url_variable_still_works(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.delenv("LOOMAL_API_URL", raising=False)
    monkeypatch.setenv("LOOMAL_BASE_URL", server.base_url)
    assert invoke(CliRunner(), "vault", "list").exit_code == 0
    assert invoke(CliRunner(), "whoami").exit_code == 0
