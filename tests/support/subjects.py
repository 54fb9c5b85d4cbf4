"""The contract's subject encoding, written independently of schemas/commands.py: each id
percent-encoded as a URI path segment (RFC 3986 pchar stays, UTF-8 for the rest)."""

from __future__ import annotations

from urllib.parse import quote


def segment(value: str) -> str:
    return quote(value, safe="!$&'()*+,;=:@")
