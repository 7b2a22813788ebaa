"""TOTP codes of the current period are reused only while they are current and the
stored row is the one they came from; pyotp (an independent implementation) is
the reference."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pyotp

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.core.principals import Principal
from loomal.core.service import VaultService
from loomal.runtime import open_vault

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OTHER = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


async def test_codes_follow_the_clock_the_seed_and_the_backup_codes(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = ServerSettings.load({"data_dir": str(tmp_path)}, env={"LOOMAL_MASTER_KEY": key})
    vault = await open_vault(settings, env={"LOOMAL_MASTER_KEY": key})
    now = [1_700_000_010.0]
    service = VaultService(vault.store, vault.keys, clock=lambda: now[0], audit=vault.audit)
    try:
        created = await vault.identities.create_identity("a", scopes=["vault:read", "vault:write"])
        who: Principal = await vault.identities.authenticate(f"Bearer {created.api_key}")
        await service.store_credential(
            who, "gh", StoreRequest(type="TOTP", data={"secret": SEED, "backupCodes": ["b1", "b2"]})
        )

        async def code_at(at: float) -> tuple[str, int, int]:
            now[0] = at
            answer = await service.totp(who, "gh")
            return answer.code, answer.remaining, answer.backup_codes_remaining

        period_start = 1_700_000_010 - 1_700_000_010 % 30
        for at in (period_start + 0.5, period_start + 29.9, period_start + 30, period_start + 95):
            code, remaining, backups = await code_at(at)
            assert code == pyotp.TOTP(SEED).at(at)
            assert remaining == 30 - int(at) % 30
            assert backups == 2
        # a clock that steps back is served the code of its own period
        assert (await code_at(period_start + 1))[0] == pyotp.TOTP(SEED).at(period_start + 1)

        await service.totp_use_backup(who, "gh")  # same period, one backup code fewer
        assert (await code_at(period_start + 2))[2] == 1

        await service.store_credential(  # a new seed within the same period
            who, "gh", StoreRequest(type="TOTP", data={"secret": OTHER})
        )
        assert await code_at(period_start + 3) == (pyotp.TOTP(OTHER).at(period_start + 3), 27, 0)
    finally:
        await vault.close()
