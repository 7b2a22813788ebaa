"""The Python SDK: a client of the HTTP API (it shares only the wire models with the server)."""

from loomal.client.async_ import AsyncLoomal
from loomal.client.platform import AsyncLoomalPlatform, LoomalPlatform
from loomal.client.sync import Loomal

__all__ = ["AsyncLoomal", "AsyncLoomalPlatform", "Loomal", "LoomalPlatform"]
