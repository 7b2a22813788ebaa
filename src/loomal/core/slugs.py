"""Readable names for identities created without one (``calm-river-7f3a``): two
words people can say, and four hex digits so that two made at once rarely meet
(the caller retries on the rare clash)."""

from __future__ import annotations

import secrets

__all__ = ["readable_slug"]

_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clear", "deft", "eager", "fair", "gentle", "keen",
    "lucid", "merry", "nimble", "quiet", "rapid", "steady", "sunny", "swift", "tidy", "vivid",
)  # fmt: skip
_NOUNS = (
    "badger", "brook", "cedar", "comet", "falcon", "fern", "harbor", "heron", "lark", "maple",
    "meadow", "otter", "pine", "quill", "river", "sparrow", "summit", "thistle", "willow", "wren",
)  # fmt: skip


def readable_slug() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.token_hex(2)}"
