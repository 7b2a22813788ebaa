"""Content encodings of an upstream's answer: the vault asks for none
(``Accept-Encoding: identity``), decodes the ones it can (``gzip``, ``x-gzip``,
``deflate``, stacked in any order) and refuses any other (502
``unsupported_encoding``). A body passed on still encoded could not be
scrubbed, and the agent would decode it and read the secret.

Decoding is bounded: a decoder never makes more than it is allowed at once, so
a compressed bomb is cut at the answer's limit, not after filling memory.
"""

from __future__ import annotations

import zlib

from loomal.errors import BadGatewayError

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "body_decoder", "too_large"]

ACCEPT_ENCODING = "identity"
"""What the vault asks upstreams for: an encoding it decodes (every one it decodes,
it accepts when sent anyway)."""

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Inflate:
    """One zlib stream; ``deflate`` may arrive without its zlib header (raw), as
    some servers send it: tried again raw when the header is not there."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._engine = zlib.decompressobj(_WBITS[name])
        self._started = False

    def __call__(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._engine.decompress(data, limit + 1)
        except zlib.error:
            if self._name != "deflate" or self._started:
                raise _undecodable(self._name) from None
            self._engine = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self._engine.decompress(data, limit + 1)
            except zlib.error:
                raise _undecodable(self._name) from None
        self._started = True
        if len(out) > limit or self._engine.unconsumed_tail:
            raise too_large(limit)
        return out

    def flush(self, limit: int) -> bytes:
        try:
            out = self._engine.flush()
        except zlib.error:
            raise _undecodable(self._name) from None
        if len(out) > limit:
            raise too_large(limit)
        return out


def _undecodable(name: str) -> BadGatewayError:
    return BadGatewayError(
        f"The upstream's answer is not valid {name} data.", reason="upstream_error"
    )


def too_large(limit: int) -> BadGatewayError:
    size = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
    return BadGatewayError(
        f"The upstream's answer is larger than {size}, the limit of a brokered request.",
        reason="response_too_large",
    )


class BodyDecoder:
    """Undoes the answer's content encodings, in the reverse of the order applied."""

    def __init__(self, stages: list[_Inflate]) -> None:
        self._stages = stages

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes of ``data``; 502 ``response_too_large`` past ``limit``."""
        for stage in self._stages:
            data = stage(data, limit)
        return data

    def finish(self, limit: int) -> bytes:
        data = b""
        for stage in self._stages:
            data = stage(data, limit) + stage.flush(limit) if data else stage.flush(limit)
        return data


def body_decoder(content_encoding: str | None) -> BodyDecoder:
    """The decoder for an answer's ``Content-Encoding`` (several headers joined by
    ", "); 502 ``unsupported_encoding`` for one the vault cannot decode."""
    names = [
        token.strip().lower() for token in (content_encoding or "").split(",") if token.strip()
    ]
    stages = []
    for name in reversed(names):
        if name == "identity":
            continue
        if name not in _WBITS:
            raise BadGatewayError(
                f"The upstream answered in the {name[:32]!r} content encoding, which the vault "
                "cannot decode (and so could not scrub); it asks for identity and decodes "
                "gzip and deflate.",
                reason="unsupported_encoding",
            )
        stages.append(_Inflate(name))
    return BodyDecoder(stages)
