"""The one rule for an alert webhook's URL, shared by the configuration (checked when a
workspace opens) and by delivery (:mod:`rung.monitoring.alerts`).

A webhook is an ``http://`` or ``https://`` URL with a host and, if given, a port in
0..65535; any other scheme (``file:``, ``ftp:``, ``data:``…) and any URL that does not parse
(``http://[::1``) is refused in one line.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from rung.core.errors import InvalidInput

WEBHOOK_SCHEMES = ("http", "https")
EXAMPLE = "https://hooks.example.com/rung"


def check_webhook(url: Any) -> str:
    """``url`` if it is an http(s) URL with a host, else :class:`InvalidInput` naming it."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        good = (
            parts is not None
            and parts.scheme.lower() in WEBHOOK_SCHEMES
            and bool(parts.hostname)
            and (parts.port is None or parts.port >= 0)  # .port raises on a bad one
            and url.isprintable()
            and " " not in url
        )
    except ValueError:  # an unclosed [ipv6 bracket, a port out of range
        good = False
    if not good:
        raise InvalidInput(
            f"[monitor] webhook = {url!r} in rung.toml is not an http(s) URL",
            f'write e.g. webhook = "{EXAMPLE}" (only http and https)',
        )
    return str(url)
