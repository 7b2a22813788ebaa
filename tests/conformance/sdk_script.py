"""Every vault call of the official Python SDK (loomal-sdk 0.6.2), sync and async,
plus ``identity.whoami()`` and the error paths, against a running Loomal Vault.

Run by ``test_official_sdk.py`` twice: with the official SDK's interpreter (its own
virtual environment: both packages are imported as ``loomal``) and with ours. It
uses only what the official SDK offers, so a program written for Loomal that does
the same runs unchanged. It prints one JSON document of what it saw, with ids and
times reduced to their shape, so the two runs can be compared; any broken
expectation exits non-zero naming the step.

Environment: LOOMAL_API_KEY, LOOMAL_API_URL, LOOMAL_READONLY_KEY.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from typing import Any

from loomal import AsyncLoomal, Loomal, LoomalError

SECRETS = ("sk_live_abc123...", "sk_live_2", "cs-secret", "4242 4242 4242 4242", "JBSWY3DPEHPK3PXP")


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}")


def shape(value: Any) -> Any:
    """Ids and times vary between runs; what they look like does not."""
    if value is None:
        return None
    return "set"


async def settle(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def expect_error(call: Any, status: int, code: str, what: str) -> dict[str, Any]:
    try:
        await settle(call())
    except LoomalError as error:
        check(error.status == status, f"{what}: status {error.status} != {status}")
        check(error.code == code, f"{what}: code {error.code!r} != {code!r}")
        text = f"{error} {error!r}"
        check(not any(s in text for s in SECRETS), f"{what}: a secret in the error text")
        return {"status": error.status, "code": error.code}
    raise SystemExit(f"FAILED: {what}: no error raised")


async def steps(c: Any, readonly: Any, bad: Any, p: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    v = c.vault

    stored = await settle(
        v.store(
            f"{p}stripe",
            type="API_KEY",
            data={"key": "sk_live_abc123..."},
            metadata={"service": "stripe", "prefix": "sk_live_...c123"},
        )
    )
    check(stored.credential_id.startswith("cred_"), "store: credential_id")
    out["store"] = [stored.type, stored.name, stored.metadata, shape(stored.expires_at)]
    out["store.created_at"] = shape(stored.created_at)
    again = await settle(v.store(f"{p}stripe", "API_KEY", {"key": "sk_live_2"}))
    check(again.credential_id == stored.credential_id, "overwrite keeps credential_id")
    out["overwrite.last_rotated_at"] = shape(again.last_rotated_at)

    got = await settle(v.get(f"{p}stripe"))
    check(got.data == {"key": "sk_live_2"}, "get: data")
    out["get"] = [got.type, got.name, got.metadata, shape(got.last_used_at)]

    await settle(v.store_api_key(f"{p}plain-key", "sk_live_abc123...", {"service": "x"}))
    out["store_api_key(str)"] = (await settle(v.get(f"{p}plain-key"))).data
    await settle(v.store_api_key(f"{p}pair", {"clientId": "cid-1", "secret": "cs-secret"}))
    pair = await settle(v.get(f"{p}pair"))
    check(pair.data == {"clientId": "cid-1", "secret": "cs-secret"}, "store_api_key(pair): data")
    out["store_api_key(pair)"] = [pair.type, pair.metadata]

    card = {"number": "4242 4242 4242 4242", "expMonth": "12", "expYear": "2030", "cvc": "123"}
    stored_card = await settle(v.store_card(f"{p}card", card, {"brand": "visa"}))
    out["store_card"] = [stored_card.type, stored_card.metadata]
    check((await settle(v.get(f"{p}card"))).data == card, "store_card: data")
    address = {"name": "Ada", "line1": "1 Main St", "city": "London", "country": "GB"}
    stored_address = await settle(v.store_shipping_address(f"{p}home", address))
    out["store_shipping_address"] = stored_address.type
    check((await settle(v.get(f"{p}home"))).data == address, "store_shipping_address: data")

    await settle(
        v.store(
            f"{p}github-2fa",
            type="TOTP",
            data={"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["abcd-1234", "efgh-5678"]},
            metadata={"issuer": "GitHub", "account": "agent-bot"},
        )
    )
    code = await settle(v.totp(f"{p}github-2fa"))
    check(len(code.code) == 6 and code.code.isdigit(), "totp: a 6-digit code")
    check(1 <= code.remaining <= 30, "totp: remaining seconds")
    out["totp.backup_codes_remaining"] = code.backup_codes_remaining
    first = await settle(v.totp_use_backup(f"{p}github-2fa"))
    second = await settle(v.totp_use_backup(f"{p}github-2fa"))
    out["totp_use_backup"] = [[first.code, first.remaining], [second.code, second.remaining]]
    out["totp_use_backup.none_left"] = await expect_error(
        lambda: v.totp_use_backup(f"{p}github-2fa"), 400, "bad_request", "no backup codes left"
    )
    seen = await settle(v.get(f"{p}github-2fa"))
    out["get(totp).data"] = seen.data

    listed = await settle(v.list())
    mine = sorted(item.name for item in listed["credentials"] if item.name.startswith(p))
    check(listed["count"] == len(listed["credentials"]), "list: count")
    out["list"] = mine
    check(all(not hasattr(item, "data") for item in listed["credentials"]), "list: no data")

    me = await settle(c.identity.whoami())
    out["whoami"] = [me.type, me.purpose, sorted(me.scopes), shape(me.identity_id)]
    check(me.usage_count > 0, "whoami: usage_count")

    out["errors"] = {
        "missing": await expect_error(lambda: v.get(f"{p}nothing"), 404, "not_found", "missing"),
        "not_totp": await expect_error(
            lambda: v.totp(f"{p}stripe"), 400, "bad_request", "totp on an API key"
        ),
        "bad_type": await expect_error(
            lambda: v.store(f"{p}x", "PASSWORD", {"password": "p"}), 422, "validation_error", "type"
        ),
        "typo": await expect_error(
            lambda: v.store(f"{p}x", "LOGIN", {"pasword": "sk_live_abc123..."}),
            422,
            "validation_error",
            "a LOGIN without its password",
        ),
        "no_key": await expect_error(lambda: bad.vault.list(), 401, "unauthorized", "bad key"),
        "read_only": await expect_error(
            lambda: readonly.vault.store(f"{p}x", "LOGIN", {"password": "p"}),
            403,
            "forbidden",
            "read-only key writes",
        ),
    }
    await settle(v.store(f"{p}old", "LOGIN", {"password": "p"}, None, "2020-01-01T00:00:00Z"))
    out["errors"]["expired"] = await expect_error(
        lambda: v.get(f"{p}old"), 410, "expired", "expired credential"
    )

    for name in [*mine, f"{p}old"]:
        check(await settle(v.delete(name)) is None, "delete returns None")
    out["after_delete"] = await expect_error(
        lambda: v.get(f"{p}stripe"), 404, "not_found", "deleted"
    )
    return out


async def main() -> None:
    key, readonly_key = os.environ["LOOMAL_API_KEY"], os.environ["LOOMAL_READONLY_KEY"]
    results: dict[str, Any] = {}

    c, ro, bad = Loomal(), Loomal(api_key=readonly_key), Loomal(api_key="loid-" + "x" * 43)
    results["sync"] = await steps(c, ro, bad, "sync-")
    for client in (c, ro, bad):
        client.close()

    ac = AsyncLoomal(api_key=key)
    aro, abad = AsyncLoomal(api_key=readonly_key), AsyncLoomal(api_key="loid-" + "y" * 43)
    results["async"] = await steps(ac, aro, abad, "async-")
    for aclient in (ac, aro, abad):
        await aclient.close()

    del os.environ["LOOMAL_API_KEY"]
    try:
        Loomal()
    except ValueError:
        results["no_api_key"] = "ValueError"
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    if "LOOMAL_API_KEY" not in os.environ:
        sys.exit("set LOOMAL_API_KEY, LOOMAL_API_URL and LOOMAL_READONLY_KEY")
    asyncio.run(main())
