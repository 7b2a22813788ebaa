"""The type table of the SPEC: required and allowed secret fields, CUSTOM, names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loomal.core.types import (
    CredentialType,
    parse_credential_type,
    validate_credential_name,
    validate_data,
    validate_metadata,
)
from loomal.errors import ValidationError

VALID: dict[CredentialType, dict[str, Any]] = {
    CredentialType.LOGIN: {"password": "s3cret!"},
    CredentialType.API_KEY: {"key": "sk_live_abc123..."},
    CredentialType.OAUTH: {"accessToken": "at", "refreshToken": "rt"},
    CredentialType.TOTP: {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a-1", "b-2"]},
    CredentialType.SSH_KEY: {"privateKey": "-----BEGIN", "passphrase": "pp"},
    CredentialType.DATABASE: {"connectionString": "postgresql://u:p@h/db"},
    CredentialType.SMTP: {"password": "p"},
    CredentialType.AWS: {"secretAccessKey": "s", "sessionToken": "t"},
    CredentialType.CERTIFICATE: {"privateKey": "-----BEGIN"},
    CredentialType.CUSTOM: {"anything": {"nested": [1, 2]}, "n": 3},
}


@pytest.mark.parametrize("ctype", list(CredentialType))
def test_every_type_accepts_its_fields(ctype: CredentialType) -> None:
    stored = validate_data(ctype, VALID[ctype])
    for field in VALID[ctype]:
        assert field in stored


@pytest.mark.parametrize(
    ("ctype", "data", "field"),
    [
        (CredentialType.LOGIN, {"pasword": "x"}, "data.pasword"),
        (CredentialType.LOGIN, {}, "data.password"),
        (CredentialType.LOGIN, {"password": ""}, "data.password"),
        (CredentialType.LOGIN, {"password": 123}, "data.password"),
        (CredentialType.API_KEY, {"key": "k", "username": "u"}, "data.username"),
        (CredentialType.OAUTH, {"refreshToken": "r"}, "data.accessToken"),
        (CredentialType.TOTP, {"backupCodes": []}, "data.secret"),
        (CredentialType.TOTP, {"secret": "not base32!"}, "data.secret"),
        (CredentialType.TOTP, {"secret": "JBSWY3DP", "backupCodes": "a,b"}, "data.backupCodes"),
        (
            CredentialType.TOTP,
            {"secret": "JBSWY3DP", "backupCodes": ["a", "a"]},
            "data.backupCodes",
        ),
        (
            CredentialType.TOTP,
            {"secret": "JBSWY3DP", "usedBackupCodes": [1]},
            "data.usedBackupCodes",
        ),
        (CredentialType.DATABASE, {}, "password or connectionString"),
        (CredentialType.AWS, {"sessionToken": "t"}, "data.secretAccessKey"),
        (CredentialType.CUSTOM, {}, "at least one field"),
    ],
)
def test_bad_data_names_the_field(ctype: CredentialType, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        validate_data(ctype, data)


def test_unknown_field_suggests_custom() -> None:
    with pytest.raises(ValidationError, match="CUSTOM"):
        validate_data(CredentialType.LOGIN, {"password": "p", "username": "u"})


def test_validation_messages_never_contain_values() -> None:
    secret = "hunter2-very-secret"
    for ctype, data in [
        (CredentialType.LOGIN, {"password": secret, "pasword": secret}),
        (CredentialType.TOTP, {"secret": secret + "!"}),
        (CredentialType.LOGIN, {"password": [secret]}),
    ]:
        with pytest.raises(ValidationError) as info:
            validate_data(ctype, data)
        assert secret not in str(info.value)


def test_totp_secret_stored_normalised_with_empty_code_lists() -> None:
    stored = validate_data(CredentialType.TOTP, {"secret": "jbsw y3dp ehpk 3pxp=="})
    assert stored == {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": [], "usedBackupCodes": []}


def test_totp_metadata_checked_other_metadata_free() -> None:
    with pytest.raises(ValidationError, match="metadata.digits"):
        validate_metadata(CredentialType.TOTP, {"digits": 5})
    assert validate_metadata(CredentialType.LOGIN, {"digits": 5, "x": [1]}) == {
        "digits": 5,
        "x": [1],
    }
    assert validate_metadata(CredentialType.LOGIN, None) == {}


def test_unknown_type_lists_the_types() -> None:
    with pytest.raises(ValidationError, match="LOGIN, API_KEY"):
        parse_credential_type("PASSWORD")


@pytest.mark.parametrize("name", ["stripe", "github-2fa", "a", "A.b_c-9", "x" * 128, "_x", "-x"])
def test_good_names(name: str) -> None:
    assert validate_credential_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "x" * 129, "a/b", "a b", "é", "a\x00", "../x"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        validate_credential_name(name)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5))
def test_property_login_accepts_exactly_a_non_empty_password(data: dict[str, str]) -> None:
    ok = set(data) == {"password"} and data["password"] != ""
    try:
        validate_data(CredentialType.LOGIN, data)
    except ValidationError:
        assert not ok
    else:
        assert ok
