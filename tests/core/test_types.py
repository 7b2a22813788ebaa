"""The type table of the SPEC: required and allowed secret fields, CUSTOM, names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loomal.core.types import (
    TOTP_REDACTED,
    CredentialType,
    parse_credential_type,
    redact_totp_seed,
    totp_seed,
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
    CredentialType.CARD: {"number": "4242 4242 4242 4242", "expMonth": "12", "cvc": "123"},
    CredentialType.SHIPPING_ADDRESS: {"name": "Ada", "line1": "1 Main St", "country": "GB"},
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
        (CredentialType.API_KEY, {"clientId": "c"}, "data.clientId and data.secret"),
        (CredentialType.API_KEY, {"secret": "s"}, "data.key, or data.clientId"),
        (CredentialType.CARD, {"cvc": "123"}, "data.number"),
        (CredentialType.CARD, {"number": 4242424242424242}, "data.number must be a string"),
        (CredentialType.SHIPPING_ADDRESS, {"city": "Paris"}, "data.line1"),
        (CredentialType.LOGIN, {"password": "p", "totp": "not base32!"}, "data.totp"),
        (CredentialType.LOGIN, {"password": "p", "totp": "otpauth://hotp/x?secret=A"}, "HOTP"),
        (
            CredentialType.LOGIN,
            {"password": "p", "totp": "JBSWY3DP", "backupCodes": "a,b"},
            "data.backupCodes",
        ),
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
        (CredentialType.DATABASE, {}, "data.password, or data.connectionString"),
        (CredentialType.AWS, {"sessionToken": "t"}, "data.secretAccessKey"),
        (CredentialType.CUSTOM, {}, "at least one field"),
    ],
)
def test_bad_data_names_the_field(ctype: CredentialType, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        validate_data(ctype, data)


def test_a_typo_for_the_required_field_is_named_and_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"found data\.pasword, data\.username: a typo\?.*CUSTOM"
    ):
        validate_data(CredentialType.LOGIN, {"pasword": "p", "username": "u"})


def test_fields_beyond_the_known_ones_are_kept_as_given() -> None:
    data = {"password": "p", "recoveryEmail": "a@b.c", "pins": [1, 2], "nested": {"x": None}}
    assert validate_data(CredentialType.LOGIN, data) == data
    pair = {"clientId": "cid", "secret": "cs", "tenant": "t1"}
    assert validate_data(CredentialType.API_KEY, pair) == pair


def test_any_type_may_carry_a_totp_seed() -> None:
    stored = validate_data(CredentialType.LOGIN, {"password": "p", "totp": "jbsw y3dp ehpk 3pxp"})
    assert stored["totp"] == "JBSWY3DPEHPK3PXP"
    assert stored["backupCodes"] == [] and stored["usedBackupCodes"] == []
    assert totp_seed("LOGIN", stored) == "JBSWY3DPEHPK3PXP"
    uri = "otpauth://totp/GitHub:bot?secret=JBSWY3DPEHPK3PXP&digits=8"
    assert validate_data(CredentialType.API_KEY, {"key": "k", "totp": uri})["totp"] == uri
    assert totp_seed("API_KEY", {"key": "k"}) is None
    # without a seed, backupCodes is just another field, stored as given
    assert validate_data(CredentialType.LOGIN, {"password": "p", "backupCodes": "x"}) == {
        "password": "p",
        "backupCodes": "x",
    }


def test_the_seed_is_redacted_and_backup_codes_are_not() -> None:
    totp = {"secret": "JBSWY3DP", "backupCodes": ["a"], "usedBackupCodes": ["b"]}
    assert redact_totp_seed("TOTP", totp) is True
    assert totp == {"secret": TOTP_REDACTED, "backupCodes": ["a"], "usedBackupCodes": ["b"]}
    login = {"password": "p", "totp": "JBSWY3DP"}
    assert redact_totp_seed("LOGIN", login) is True
    assert login == {"password": "p", "totp": "[use /v0/vault/:name/totp]"}
    plain = {"password": "p"}
    assert redact_totp_seed("LOGIN", plain) is False
    assert plain == {"password": "p"}


def test_validation_messages_never_contain_values() -> None:
    secret = "hunter2-very-secret"
    cases: list[tuple[CredentialType, dict[str, Any]]] = [
        (CredentialType.LOGIN, {"pasword": secret}),
        (CredentialType.TOTP, {"secret": secret + "!"}),
        (CredentialType.LOGIN, {"password": [secret]}),
        (CredentialType.LOGIN, {"password": "p", "totp": secret + "!"}),
        (CredentialType.LOGIN, {"password": "p", "totp": f"otpauth://totp/x?secret={secret}!"}),
        (CredentialType.CARD, {"number": [secret]}),
    ]
    for ctype, data in cases:
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


@given(st.dictionaries(st.text(max_size=20).filter(lambda k: k != "totp"), st.text(max_size=20)))
def test_property_login_accepts_exactly_a_non_empty_password(data: dict[str, str]) -> None:
    ok = data.get("password", "") != ""
    try:
        validate_data(CredentialType.LOGIN, data)
    except ValidationError:
        assert not ok
    else:
        assert ok
