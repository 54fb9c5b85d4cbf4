"""Database URLs (`dialect+driver://user:password@host:port/db?key=value`) read and amended
with the standard library: settings and logs need the password and the TLS options, and
only `worker.store` may import the database libraries."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit


def url_password(url: str) -> str | None:
    """The URL's password, decoded; None when it has none."""
    password = urlsplit(url).password
    return None if password is None else unquote(password)


def merge_url(url: str, password: str | None, query: dict[str, str]) -> str:
    """`url` with this password (when not None) and these query options (replacing the
    URL's own of the same name)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        host = netloc.rpartition("@")[2]
        user = parts.username or ""
        netloc = f"{user}:{quote(password, safe='')}@{host}"
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.update(query)
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(params), parts.fragment))
