"""The wire structs: the camelCase names they answer to are declared properties
(type checkers and editors see them), and declaring them changed nothing on the wire."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from loomal.core import models as m

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
T2 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
T3 = datetime(2026, 4, 5, 6, 7, 8, tzinfo=UTC)
T4 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)

_STORED: dict[str, Any] = {
    "credential_id": "cred_1",
    "type": "API_KEY",
    "name": "stripe",
    "metadata": {"service": "stripe"},
    "expires_at": T0,
    "created_at": T1,
    "updated_at": T2,
    "last_rotated_at": T3,
    "version": 7,
}
_SUMMARY = m.CredentialSummary(**_STORED, last_used_at=T4, expired=False)
_STORED_JSON = (
    '"credentialId":"cred_1","type":"API_KEY","name":"stripe","metadata":{"service":"stripe"},'
    '"expiresAt":"2026-01-02T03:04:05Z","createdAt":"2026-02-03T04:05:06Z",'
    '"updatedAt":"2026-03-04T05:06:07Z","lastRotatedAt":"2026-04-05T06:07:08Z","version":7'
)
_SUMMARY_JSON = _STORED_JSON + ',"lastUsedAt":"2026-05-06T07:08:09Z","expired":false'

# One instance of every struct the SDK hands out, every field set to a distinct
# value, and its JSON as the struct encoded before the aliases were declared.
SAMPLES: list[tuple[msgspec.Struct, str]] = [
    (m.StoreResponse(**_STORED), "{" + _STORED_JSON + "}"),
    (_SUMMARY, "{" + _SUMMARY_JSON + "}"),
    (
        m.Credential(
            **_STORED, last_used_at=T4, expired=False, has_totp=True, data={"key": "sk_1"}
        ),
        "{" + _SUMMARY_JSON + ',"hasTOTP":true,"data":{"key":"sk_1"}}',
    ),
    (
        m.CredentialList(credentials=[_SUMMARY], count=1, next_cursor="c_2"),
        '{"credentials":[{' + _SUMMARY_JSON + '}],"count":1,"nextCursor":"c_2"}',
    ),
    (
        m.TotpResponse(
            code="123456", remaining=12, backup_codes_remaining=2, period=30, expires_at=T0
        ),
        '{"code":"123456","remaining":12,"backupCodesRemaining":2,"period":30,'
        '"expiresAt":"2026-01-02T03:04:05Z"}',
    ),
    (
        m.TotpBackupResponse(code="abcd-1234", remaining=1, backup_codes_remaining=1),
        '{"code":"abcd-1234","remaining":1,"backupCodesRemaining":1}',
    ),
    (
        m.IdentityResponse(
            identity_id="id_1",
            name="default",
            email=None,
            display_name="Default",
            type="AGENT",
            purpose="BUYER",
            scopes=["vault:read"],
            usage_count=3,
            last_used_at=T4,
            created_at=T1,
        ),
        '{"identityId":"id_1","name":"default","email":null,"displayName":"Default",'
        '"type":"AGENT","purpose":"BUYER","scopes":["vault:read"],"usageCount":3,'
        '"lastUsedAt":"2026-05-06T07:08:09Z","createdAt":"2026-02-03T04:05:06Z"}',
    ),
    (
        m.AuditEntry(
            event_id=7,
            at=T0,
            action="get",
            credential_name="stripe",
            outcome="ok",
            identity_id="id_1",
            actor_identity_id="id_2",
            key_prefix="loid-abc",
            client="127.0.0.1",
            detail="GET",
            count=2,
            key_label="billing-bot",
            operator="alice",
        ),
        '{"eventId":7,"at":"2026-01-02T03:04:05Z","action":"get","credentialName":"stripe",'
        '"outcome":"ok","identityId":"id_1","actorIdentityId":"id_2","keyPrefix":"loid-abc",'
        '"client":"127.0.0.1","detail":"GET","count":2,"keyLabel":"billing-bot",'
        '"operator":"alice"}',
    ),
    (m.AuditPage(events=[], next_cursor="e_8"), '{"events":[],"nextCursor":"e_8"}'),
    (
        m.ApiKeyInfo(
            prefix="loid-abc",
            scopes=["vault:read"],
            created_at=T1,
            expires_at=T2,
            revoked_at=T3,
            label="billing-bot",
        ),
        '{"prefix":"loid-abc","scopes":["vault:read"],"createdAt":"2026-02-03T04:05:06Z",'
        '"expiresAt":"2026-03-04T05:06:07Z","revokedAt":"2026-04-05T06:07:08Z",'
        '"label":"billing-bot"}',
    ),
    (
        m.IdentityInfo(identity_id="id_1", name="default", created_at=T1, keys=[]),
        '{"identityId":"id_1","name":"default","createdAt":"2026-02-03T04:05:06Z","keys":[]}',
    ),
    (
        m.FetchResponse(
            status=200, headers={"a": "b"}, body="{}", body_encoding="text", url="https://x.test/"
        ),
        '{"status":200,"headers":{"a":"b"},"body":"{}","bodyEncoding":"text",'
        '"url":"https://x.test/"}',
    ),
    (
        m.OAuthState(
            name="gmail",
            refreshable=True,
            oauth_status="live",
            expires_at="2026-02-03T04:05:06Z",
            version=2,
        ),
        '{"name":"gmail","refreshable":true,"oauthStatus":"live",'
        '"expiresAt":"2026-02-03T04:05:06Z","version":2}',
    ),
    (
        m.ConnectStarted(
            authorize_url="https://a.test/auth?x=1", redirect_uri="https://v.test/cb", expires_at=T1
        ),
        '{"authorizeUrl":"https://a.test/auth?x=1","redirectUri":"https://v.test/cb",'
        '"expiresAt":"2026-02-03T04:05:06Z"}',
    ),
]
IDS = [type(struct).__name__ for struct, _ in SAMPLES]


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_struct_with_multi_word_fields_is_sampled() -> None:
    # Requests are decoded from callers, never read by them; IdentityCreated is the CLI's.
    not_returned = {"StoreRequest", "FetchRequest", "IdentityCreated", "ConnectRequest"}
    multi_word = {
        name for name in m.__all__ if any("_" in f for f in getattr(m, name).__struct_fields__)
    }
    assert multi_word - not_returned == set(IDS)


@pytest.mark.parametrize(("struct", "wire"), SAMPLES, ids=IDS)
def test_encoding_is_what_it_was(struct: msgspec.Struct, wire: str) -> None:
    assert msgspec.json.encode(struct) == wire.encode()
    assert msgspec.json.decode(wire, type=type(struct)) == struct
    # Properties are not fields: the fields are the wire's, and instances stay slotted.
    assert tuple(msgspec.json.decode(wire)) == type(struct).__struct_encode_fields__
    assert not hasattr(struct, "__dict__")


@pytest.mark.parametrize(("struct", "wire"), SAMPLES, ids=IDS)
def test_every_multi_word_field_has_its_declared_camel_case_alias(
    struct: msgspec.Struct, wire: str
) -> None:
    cls = type(struct)
    multi_word = [f for f in msgspec.structs.fields(cls) if "_" in f.name]
    assert multi_word
    for field in multi_word:
        value = getattr(struct, field.name)
        for alias in {_camel(field.name), field.encode_name}:
            # Declared on the class (what mypy and editors see), not looked up at run time.
            assert isinstance(inspect.getattr_static(cls, alias), property), (cls, alias)
            assert getattr(struct, alias) == value
            with pytest.raises(AttributeError):
                setattr(struct, alias, value)
    assert all("__getattr__" not in vars(k) for k in cls.__mro__)


@pytest.mark.parametrize(("struct", "wire"), SAMPLES, ids=IDS)
def test_unknown_attributes_raise_attribute_error(struct: msgspec.Struct, wire: str) -> None:
    for name in ("nope", "fooBar", "credentialID", "CredentialId", "next_Cursor"):
        with pytest.raises(AttributeError):
            getattr(struct, name)
