"""Scrubbing: every spelling of a secret the vault can recognise, replaced by
``[REDACTED]`` in what an upstream sends back.

An upstream in ``allowedHosts`` may echo what it received; the agent must not
get the secret back by decoding the echo once. So a secret is matched:

- **character by character in any escaping**, each character either as itself
  or escaped, and escapings mixed: percent-encoding in either hex case (what
  ``quote``, ``quote_plus``, ``encodeURIComponent``, ``encodeURI`` leave bare is
  covered by "as itself"), ``+`` for a space, JSON ``\\uXXXX`` in either hex case
  (Go's ``\\u0026``, .NET's ``\\u002B``, surrogate pairs), JSON short escapes
  (``\\"``, ``\\/``, ...), with up to seven backslashes (JSON inside JSON),
  ``\\xNN`` and ``\\u{...}``, HTML/XML entities (``&amp;``, ``&#38;``,
  ``&#x26;``), quoted-printable ``=NN``, and a Latin-1 byte for U+0080..U+00FF;
- **as a whole** in base64 and base64url (padded or not), the secret's base64
  at the other two byte alignments (the secret inside a longer base64'd text,
  such as a Basic token), and hex;
- also as the text its UTF-8 bytes make when read as Latin-1 (what an upstream
  that decodes headers as Latin-1 echoes).

The longest secret is tried first at each position (a shorter secret that is a
prefix of a longer one never lets the longer one's tail through), in one
compiled pattern whose every branch starts with a fixed byte, so the regex
engine skips ahead to candidate bytes. A stream is scrubbed with a carry of the
longest possible match, and no match is taken that more data could lengthen.
What is still not recognised is listed in docs/security.md.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["REDACTED", "Scrubber", "StreamScrubber"]

REDACTED = "[REDACTED]"
_REDACTED = REDACTED.encode()
_MIN_WHOLE_FORM = 8
"""Whole-secret forms (base64 cores, hex) shorter than this are not matched alone:
they would redact unrelated text."""
_BACKSLASHES = rb"\\(?:\\{0,6})"
"""One to seven backslashes, written to start with a fixed byte."""
_SHORT_ESCAPES = {
    '"': b'"', "'": b"'", "\\": b"\\", "/": b"/",
    "\b": b"b", "\f": b"f", "\n": b"n", "\r": b"r", "\t": b"t",
}  # fmt: skip
_NAMED_ENTITIES = {"&": b"amp", "<": b"lt", ">": b"gt", '"': b"quot", "'": b"apos"}


@dataclass(frozen=True, slots=True)
class _Spelling:
    pattern: bytes
    longest: int
    """The most bytes it can match."""


def _hex(value: int, digits: int) -> bytes:
    """``value`` in hex, each letter matching either case."""
    return b"".join(
        b"[%s%s]" % (c.upper().encode(), c.lower().encode()) if c.isalpha() else c.encode()
        for c in f"{value:0{digits}x}"
    )


def _spellings(char: str) -> list[_Spelling]:
    """Every way one character is written by the escapings above, plain first.

    Letters and digits only as themselves: no encoder in use escapes them (one that
    escapes every character is a transform docs/security.md lists), and a
    pattern that allowed it would cost ten times the time per byte scanned.
    """
    utf8 = char.encode()
    plain = _Spelling(re.escape(utf8), len(utf8))
    if char.isascii() and char.isalnum():
        return [plain]
    code = ord(char)
    found = [plain]
    byte_forms = [utf8] + ([bytes([code])] if 0x80 <= code < 0x100 else [])
    for raw in byte_forms:
        if raw != utf8:
            found.append(_Spelling(re.escape(raw), 1))
        found.append(_Spelling(b"".join(b"%" + _hex(b, 2) for b in raw), 3 * len(raw)))
        found.append(_Spelling(b"".join(b"=" + _hex(b, 2) for b in raw), 3 * len(raw)))
        found.append(_Spelling(b"".join(_BACKSLASHES + b"x" + _hex(b, 2) for b in raw),
                               10 * len(raw)))  # fmt: skip
    units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10),
                                           0xDC00 + ((code - 0x10000) & 0x3FF)]  # fmt: skip
    found.append(_Spelling(b"".join(_BACKSLASHES + b"u" + _hex(u, 4) for u in units),
                           12 * len(units)))  # fmt: skip
    if not char.isascii():
        found.append(_Spelling(_BACKSLASHES + rb"u\{0{0,4}" + _hex(code, 1) + rb"\}", 19))
    if char in _SHORT_ESCAPES:
        found.append(_Spelling(_BACKSLASHES + re.escape(_SHORT_ESCAPES[char]), 8))
    if char == " ":
        found.append(_Spelling(rb"\+", 1))
    found.append(_Spelling(rb"&\#0{0,4}%d;?" % code, 15))
    found.append(_Spelling(rb"&\#[xX]0{0,4}" + _hex(code, 1).lstrip(b"0") + b";?", 15))
    if char in _NAMED_ENTITIES:
        name = _NAMED_ENTITIES[char]
        found.append(_Spelling(b"&(?:" + name + b"|" + name.upper() + b");", len(name) + 2))
    return found


def _any_spelling(char: str) -> _Spelling:
    spellings = _spellings(char)
    pattern = b"(?:" + b"|".join(s.pattern for s in spellings) + b")"
    return _Spelling(pattern, max(s.longest for s in spellings))


def _escaped_forms(secret: str) -> list[_Spelling]:
    """The character-by-character pattern, one branch per spelling of the first
    character (so that every branch starts with a fixed byte)."""
    rest = [_any_spelling(c) for c in secret[1:]]
    tail = b"".join(s.pattern for s in rest)
    tail_longest = sum(s.longest for s in rest)
    return [_Spelling(first.pattern + tail, first.longest + tail_longest)
            for first in _spellings(secret[0])]  # fmt: skip


def _whole_forms(raw: bytes) -> list[bytes]:
    """Base64 / base64url (padded, unpadded, and the fully determined part at each
    byte alignment), and hex."""
    forms = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw)
        forms += [whole, whole.rstrip(b"=")]
        for skip in range(3):  # the secret starting 0, 2 or 1 bytes into a 3-byte group
            part = raw[skip:]
            part = part[: len(part) - len(part) % 3]
            forms.append(encode(part))
    forms += [raw.hex().encode(), raw.hex().upper().encode()]
    unique = dict.fromkeys(f for f in forms if len(f) >= _MIN_WHOLE_FORM)
    return sorted(unique, key=len, reverse=True)


def _variants(secret: str) -> list[str]:
    """The secret, and the text its UTF-8 makes when read as Latin-1."""
    variants = [secret]
    misread = secret.encode().decode("latin-1")
    if misread != secret:
        variants.append(misread)
    return variants


def _lead(pattern: bytes) -> bytes:
    """The fixed first byte a branch starts with, as the pattern writes it."""
    return pattern[:2] if pattern[:1] == b"\\" else pattern[:1]


def _anchor(text: str) -> bytes | None:
    """A run of the text every spelling of it holds literally: its longest run of
    ASCII letters and digits (no escaping above touches those); None if too short."""
    runs = re.findall(r"[A-Za-z0-9]+", text)
    longest = max(runs, key=len, default="")
    return longest.encode() if len(longest) >= 4 else None


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: re.Pattern[bytes]
    longest: int
    """The most bytes one match spans."""
    anchors: tuple[bytes, ...] | None
    """Fixed strings one of which every match holds: data without any of them
    cannot match (found far faster than the pattern runs); None: no such set."""

    def could_match(self, data: bytes) -> bool:
        return self.anchors is None or any(anchor in data for anchor in self.anchors)


@functools.lru_cache(maxsize=256)
def _compile(texts: tuple[str, ...]) -> _Compiled | None:
    """The pattern for ``texts`` (longest first).

    Branches are grouped by their first byte (branches with different first bytes
    never match at the same place, so the longest-first order is kept) and the
    engine skips to bytes that start one. Cached: building and compiling it takes
    milliseconds, and a credential is used again and again. The cache holds the
    secrets as the pattern does, in this process's memory only, as every
    decrypted credential is while in use.
    """
    branches: list[_Spelling] = []
    anchors: set[bytes] | None = set()
    for text in texts:
        whole = _whole_forms(text.encode())
        branches += [_Spelling(re.escape(f), len(f)) for f in whole]
        branches += _escaped_forms(text)
        anchor = _anchor(text)
        if anchors is not None and anchor is not None:
            anchors |= {anchor, *whole}
        else:
            anchors = None
    if not branches:
        return None
    groups: dict[bytes, list[bytes]] = {}
    for branch in branches:
        lead = _lead(branch.pattern)
        groups.setdefault(lead, []).append(branch.pattern[len(lead) :])
    pattern = b"|".join(lead + b"(?:" + b"|".join(rest) + b")" for lead, rest in groups.items())
    return _Compiled(
        re.compile(pattern),
        max(b.longest for b in branches),
        None if anchors is None else tuple(sorted(anchors, key=len)),
    )


class Scrubber:
    """Replaces every recognisable spelling of the secrets with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        texts = {v for s in secrets if s for v in _variants(s)}
        self._texts = tuple(sorted(texts, key=lambda t: (-len(t), t)))
        self._compiled = _compile(self._texts)
        self.longest = 0 if self._compiled is None else self._compiled.longest
        """The most bytes one match can span (a stream keeps that many back)."""

    def __repr__(self) -> str:
        return f"Scrubber({len(self._texts)} secrets)"

    def header_name(self, name: bytes) -> bytes:
        """A header name, lower-case, with any secret in any letter case (HTTP/2
        lower-cases names) replaced by ``x-redacted``, which is itself a name."""
        lower = name.lower()
        compiled = _compile(tuple(sorted({t.lower() for t in self._texts}, key=len)[::-1]))
        if compiled is None or not compiled.could_match(lower):
            return lower
        return compiled.pattern.sub(b"x-redacted", lower)

    def matches(self, data: bytes) -> Iterator[re.Match[bytes]]:
        compiled = self._compiled
        if compiled is None or not compiled.could_match(data):
            return iter(())
        return compiled.pattern.finditer(data)

    def bytes(self, data: bytes, replacement: bytes = _REDACTED) -> bytes:
        compiled = self._compiled
        if compiled is None or not compiled.could_match(data):
            return data
        return compiled.pattern.sub(replacement, data)

    def text(self, value: str) -> str:
        return self.bytes(value.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def stream(self) -> StreamScrubber:
        return StreamScrubber(self)


class StreamScrubber:
    """Scrubs a body that arrives in chunks. Output stops ``longest - 1`` bytes
    before the end of what has arrived, and a match is taken only where it starts
    in the part given out: one starting later could still grow with the next
    chunk (a longer secret of which the match so far is a prefix)."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._keep = max(scrubber.longest - 1, 0)
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        buffer = self._carry + chunk
        cut = len(buffer) - self._keep
        if cut <= 0:
            self._carry = buffer
            return b""
        out: list[bytes] = []
        position = 0
        for match in self._scrubber.matches(buffer):
            if match.start() >= cut:
                break
            out += [buffer[position : match.start()], _REDACTED]
            position = match.end()
        cut = max(cut, position)
        out.append(buffer[position:cut])
        self._carry = buffer[cut:]
        return b"".join(out)

    def finish(self) -> bytes:
        rest, self._carry = self._scrubber.bytes(self._carry), b""
        return rest
