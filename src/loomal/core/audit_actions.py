"""The audit log's action names, in one place, and how a server-host command is
audited.

Every adapter names actions from :data:`AUDIT_ACTIONS` (the seed's names:
``totp_use_backup``, not ``totp_backup``), and a filter on an unknown action is
refused, naming the known ones, rather than answering an empty log.

Operator actions (commands run on the server host: identities, platform keys,
master keys, sealing) are recorded with the OS user who ran them in
``operator``, never a secret; changes made over the platform API carry the
platform key's prefix and name instead. A command wraps its work in
:func:`operator_action`, which writes one event when the work ends (``ok``, or
the error code it ended with) straight to the store: a command exits right
after, so nothing may wait in a batch.

Backup and restore (``backup``, ``restore``) are named here for the commands
that will make them: such a command wraps its work in ``operator_action(store,
operator, "backup")`` and is audited like the others.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loomal.core.ports import AuditEvent, AuditStore
from loomal.core.timestamps import to_micros
from loomal.errors import LoomalError, ValidationError

__all__ = [
    "AUDIT_ACTIONS",
    "CREDENTIAL_ACTIONS",
    "OperatorNote",
    "check_action",
    "operator_action",
]

CREDENTIAL_ACTIONS = (
    "store",
    "get",
    "list",
    "totp",
    "totp_use_backup",
    "delete",
    "restore_version",
    "undelete",
    "destroy",
    "fetch",
    "proxy",
    "approval_approve",
    "approval_deny",
    "request_create",
    "request_fulfill",
    "request_decline",
    "oauth_refresh",
    "oauth_connect",
)
"""Calls that touch a credential, made with an identity's key."""

AUDIT_ACTIONS = (
    *CREDENTIAL_ACTIONS,
    "authenticate",
    "identity_create",
    "identity_add_key",
    "identity_rotate_key",
    "identity_update",
    "identity_revoke",
    "identity_delete",
    "identity_login_link",
    "platform_key_create",
    "platform_key_revoke",
    "master_key_rotate",
    "master_key_retire",
    "seal",
    "unseal",
    "backup",
    "restore",
    "webhook_dead",
    "webhook_retry",
)
"""Every action an event may carry (``webhook_dead``: a webhook event given up after
its last attempt, in the log of the identity it told of; ``webhook_retry``: an
operator gave it its attempts again)."""

_KNOWN = frozenset(AUDIT_ACTIONS)


def check_action(action: str | None) -> str | None:
    """``action`` if the log knows it (None: no filter); otherwise refused, naming
    the known ones, so that a typo is not mistaken for an empty log."""
    if action is None or action in _KNOWN:
        return action
    raise ValidationError(f"Unknown action {action!r}; known: {', '.join(AUDIT_ACTIONS)}.")


@dataclass(slots=True)
class OperatorNote:
    """What a command fills in as it learns it (the identity it made, a key's prefix
    and label, a short detail); written when the command's work ends."""

    identity_id: str | None = None
    key_prefix: str | None = None
    key_label: str | None = None
    detail: str | None = None


@asynccontextmanager
async def operator_action(
    store: AuditStore,
    operator: str,
    action: str,
    *,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[OperatorNote]:
    """Audit one server-host command run by ``operator`` (an OS user name): one
    event, ``ok`` or the code of the LoomalError it ended with (which propagates)."""
    check_action(action)
    note = OperatorNote()
    outcome = "ok"
    try:
        yield note
    except LoomalError as error:
        outcome = error.reason or error.code
        raise
    except BaseException:
        outcome = "failed"
        raise
    finally:
        await store.append_audit_events(
            events=[
                AuditEvent(
                    at=to_micros(clock()),
                    identity_id=note.identity_id,
                    actor_identity_id=None,
                    key_prefix=note.key_prefix,
                    action=action,
                    credential_name=None,
                    outcome=outcome,
                    client=None,
                    detail=note.detail,
                    key_label=note.key_label,
                    operator=operator,
                )
            ]
        )
