"""Scrubbing, without any network: every encoding of tests/broker/echo_forms.py,
whole and in a stream cut at every point; the longest secret first; header
names and non-ASCII header values."""

from __future__ import annotations

import pytest

from loomal.broker.answers import answer_headers
from loomal.broker.scrubbing import REDACTED, Scrubber
from tests.broker.echo_forms import FORMS, SECRET

PREFIX_OF_SECRET = SECRET[:12]
"""Another data field that is the secret's first 12 characters (#28.4)."""


def leftover(scrubbed: str) -> str:
    """What a scrubbed echo still says, the redactions taken out."""
    return scrubbed.replace(REDACTED, "")


def assert_gone(form: str, scrubbed: str) -> None:
    assert FORMS[form](SECRET) not in scrubbed, form
    assert REDACTED in scrubbed, form
    assert len(leftover(scrubbed)) <= 12, (form, scrubbed)  # quotes, or base64 edges


def test_the_table_has_at_least_twenty_encodings() -> None:
    assert len(FORMS) >= 20


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_encoding_of_the_secret_is_scrubbed(form: str) -> None:
    scrubber = Scrubber([SECRET, PREFIX_OF_SECRET])
    echoed = FORMS[form](SECRET)
    scrubbed = scrubber.text(f"<<{echoed}>>")
    assert scrubbed.startswith("<<") and scrubbed.endswith(">>")
    assert_gone(form, scrubbed[2:-2])


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_encoding_is_scrubbed_in_a_stream_cut_anywhere(form: str) -> None:
    """#28.4: a shorter secret that is a prefix of the longer one, completed by the
    first chunk, must not be redacted alone and let the longer one's tail through."""
    scrubber = Scrubber([PREFIX_OF_SECRET, SECRET])
    body = f"start {FORMS[form](SECRET)} end".encode()
    for cut in range(1, len(body)):
        stream = scrubber.stream()
        out = stream.feed(body[:cut]) + stream.feed(body[cut:]) + stream.finish()
        text = out.decode("utf-8", "replace")
        assert text.startswith("start ") and text.endswith(" end"), (form, cut)
        assert_gone(form, text[6:-4])


def test_byte_by_byte_stream_of_many_forms() -> None:
    scrubber = Scrubber([SECRET])
    body = "|".join(f(SECRET) for f in FORMS.values()).encode()
    stream = scrubber.stream()
    out = b"".join(stream.feed(body[i : i + 1]) for i in range(len(body))) + stream.finish()
    assert out == scrubber.bytes(body)


def test_a_prefix_secret_alone_is_still_scrubbed() -> None:
    scrubber = Scrubber([SECRET, PREFIX_OF_SECRET])
    assert scrubber.text(f"a {PREFIX_OF_SECRET} b") == f"a {REDACTED} b"


def test_plain_text_is_left_alone() -> None:
    scrubber = Scrubber([SECRET])
    text = 'sk & < > + \' ! * ( ) " é € {"id": 1} %41 &#38; \\u0026 ' * 3
    assert scrubber.text(text) == text


def test_header_values_are_matched_as_the_bytes_they_arrived_as() -> None:
    """#28.3: a UTF-8 secret in a header (read as Latin-1) was missed."""
    headers = answer_headers([(b"X-Echo", f"k={SECRET}".encode())], Scrubber([SECRET]))
    assert headers == [("x-echo", f"k={REDACTED}")]


@pytest.mark.parametrize("spelling", ["X-{token}", "x-{lower}", "X-{upper}-Trace"])
def test_header_names_are_scrubbed_in_any_case(spelling: str) -> None:
    """#28.3: an upstream that echoes the key as a header name (HTTP/2 lower-cases it)."""
    token = "tok" + "A9b8" * 6
    name = spelling.format(token=token, lower=token.lower(), upper=token.upper())
    headers = answer_headers([(name.encode(), b"1")], Scrubber([token]))
    assert token.lower() not in str(headers).lower()
    assert headers[0][0].startswith("x-x-redacted") and headers[0][1] == "1"


def test_repr_says_nothing() -> None:
    assert SECRET not in repr(Scrubber([SECRET])) and "2 secrets" in repr(Scrubber([SECRET]))
