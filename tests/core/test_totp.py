"""TOTP: RFC 6238 known answers, base32 tolerance, otpauth parsing."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loomal.core.totp import (
    TotpParameters,
    decode_base32_secret,
    normalise_base32_secret,
    parse_otpauth_uri,
    totp_code,
)
from loomal.errors import ValidationError

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6238.json").read_text())
CASES = [
    (algorithm, case["time"], case[algorithm])
    for case in VECTORS["cases"]
    for algorithm in ("SHA1", "SHA256", "SHA512")
]


@pytest.mark.parametrize(("algorithm", "at", "expected"), CASES)
def test_rfc6238_appendix_b(algorithm: str, at: int, expected: str) -> None:
    secret = base64.b32encode(VECTORS["seeds"][algorithm].encode()).decode()
    code = totp_code(secret, at=at, params=TotpParameters(algorithm=algorithm, digits=8))
    assert code.code == expected


LONG_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # pyotp refuses secrets under 112 bits


def test_code_matches_an_independent_implementation_and_says_how_long_it_lasts() -> None:
    secret = LONG_SECRET
    for at in (0, 29, 30, 1_700_000_000, 1_700_000_017):
        code = totp_code(secret, at=at)
        assert code.code == pyotp.TOTP(secret).at(at)
        assert code.expires_at == (at // 30 + 1) * 30
        assert code.seconds_remaining == code.expires_at - at


def test_period_and_digits_from_metadata() -> None:
    params = TotpParameters.from_metadata({"algorithm": "sha256", "digits": "8", "period": 60})
    assert params == TotpParameters("SHA256", 8, 60)
    code = totp_code(LONG_SECRET, at=100, params=params)
    assert code.code == pyotp.TOTP(LONG_SECRET, digits=8, interval=60, digest="sha256").at(100)
    assert code.period == 60
    assert code.expires_at == 120


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"algorithm": "MD5"}, "metadata.algorithm"),
        ({"digits": 7}, "metadata.digits"),
        ({"digits": True}, "metadata.digits"),
        ({"period": 0}, "metadata.period"),
        ({"period": "soon"}, "metadata.period"),
    ],
)
def test_bad_totp_parameters_name_the_field(metadata: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        TotpParameters.from_metadata(metadata)


@pytest.mark.parametrize(
    "written",
    ["JBSWY3DPEHPK3PXP", "jbswy3dpehpk3pxp", "JBSW Y3DP EHPK 3PXP", "JBSWY3DPEHPK3PXP===="],
)
def test_base32_accepted_as_authenticators_export_it(written: str) -> None:
    assert normalise_base32_secret(written) == "JBSWY3DPEHPK3PXP"


def test_the_seeds_80_bit_example_secret_gives_codes() -> None:
    # pyotp would refuse this secret; authenticators and the seed accept it.
    assert totp_code("JBSWY3DPEHPK3PXP", at=59).code == "996554"


def test_unpadded_secret_of_odd_length_is_accepted() -> None:
    assert normalise_base32_secret("JBSWY3DPEE") == "JBSWY3DPEE"


@pytest.mark.parametrize("bad", ["", "   ", "not base32!", "JBSWY3DP1", 42])
def test_not_base32_is_refused_without_echoing_it(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_base32_secret(bad)
    if isinstance(bad, str) and bad.strip():
        assert bad not in info.value.message


def test_otpauth_uri_with_issuer_in_label_and_query() -> None:
    uri = "otpauth://totp/GitHub:agent-bot?secret=jbswy3dpehpk3pxp&issuer=GitHub&algorithm=sha256&digits=8&period=60"
    parsed = parse_otpauth_uri(uri)
    assert parsed.secret == "JBSWY3DPEHPK3PXP"
    assert parsed.metadata() == {
        "issuer": "GitHub",
        "account": "agent-bot",
        "algorithm": "SHA256",
        "digits": 8,
        "period": 60,
    }
    assert "JBSWY3DP" not in repr(parsed)


def test_otpauth_uri_defaults_and_encoded_label() -> None:
    parsed = parse_otpauth_uri(
        "otpauth://totp/Example%20Co%3Aalice%40example.com?secret=JBSW%20Y3DP%20EHPK%203PXP"
    )
    assert (parsed.issuer, parsed.account) == ("Example Co", "alice@example.com")
    assert parsed.params == TotpParameters()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("otpauth://hotp/X:y?secret=JBSWY3DPEHPK3PXP&counter=1", "HOTP"),
        ("https://example.com/?secret=JBSWY3DPEHPK3PXP", "otpauth://totp/"),
        ("otpauth://totp/X:y?issuer=X", "no secret"),
        ("otpauth://totp/X:y?secret=!!!!", "base32"),
        ("otpauth://totp/X:y?secret=JBSWY3DPEHPK3PXP&digits=9", "digits"),
    ],
)
def test_bad_otpauth_uris_are_refused_clearly(uri: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        parse_otpauth_uri(uri)
    assert "JBSWY3DPEHPK3PXP" not in info.value.message


@given(
    st.one_of(
        st.binary(max_size=40).map(lambda raw: base64.b32encode(raw).decode()),
        st.binary(max_size=40).map(lambda raw: base64.b32encode(raw).decode().rstrip("=").lower()),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcxyz=_-+ 0189!é", max_size=24),
    )
)
def test_base32_decoding_agrees_with_the_standard_library(text: str) -> None:
    """Our C-speed decoder accepts and refuses exactly what base64.b32decode does."""
    padded = text if "=" in text else text + "=" * (-len(text) % 8)
    try:
        expected: bytes | None = base64.b32decode(padded, casefold=True)
    except (binascii.Error, ValueError):
        expected = None
    try:
        got: bytes | None = decode_base32_secret(text)
    except (binascii.Error, ValueError):
        got = None
    assert got == expected
