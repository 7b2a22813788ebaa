"""Run with the official SDK's interpreter (``loomal-sdk==0.6.2``): read every named
credential and the current TOTP codes, print them as JSON.

argv: credential names (TOTP ones prefixed ``totp:``); environment: LOOMAL_API_KEY,
LOOMAL_API_URL.
"""

from __future__ import annotations

import json
import sys
import time

from loomal import Loomal

vault = Loomal().vault
out: dict[str, object] = {}
for arg in sys.argv[1:]:
    name = arg.removeprefix("totp:")
    got = vault.get(name)
    out[name] = {"data": got.data, "id": got.credential_id, "createdAt": got.created_at}
    if arg.startswith("totp:"):
        before = time.time()
        code = vault.totp(name)
        out[f"{name}#totp"] = {"code": code.code, "between": [before, time.time()]}
print(json.dumps(out))
