"""Who may see the dashboard.

- Virtual keys configured (``server.keys``): only an *admin* key (``admin: true``) opens it. A
  script sends it as ``Authorization: Bearer <key>`` or ``x-api-key: <key>``; a browser posts it
  once to ``/dashboard/login`` (the form the page shows) and gets it back as an HttpOnly,
  SameSite=Strict cookie scoped to ``/dashboard``. Keys are compared as SHA-256 digests, in
  constant time, against every admin digest.
- ``hybridllm dashboard`` adds a one-time launch token (printed in the URL it opens), accepted
  like an admin key.
- Nothing to check against (no keys, no token): the dashboard answers loopback clients only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum

from hybridllm.config.models import ServerKey

__all__ = ["COOKIE", "Access", "DashboardAuth"]

COOKIE = "hybridllm_dashboard"


class Access(Enum):
    ALLOWED = "allowed"
    NEEDS_KEY = "needs_key"  # 401: no key, or not an admin key
    LOOPBACK_ONLY = "loopback_only"  # 403: no keys configured and the client is remote


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DashboardAuth:
    def __init__(self, keys: Sequence[ServerKey], tokens: Iterable[str] = ()) -> None:
        self._digests = tuple(bytes.fromhex(k.key_sha256) for k in keys if k.admin) + tuple(
            _digest(t) for t in tokens
        )
        self.keys_configured = bool(keys)

    @property
    def open_on_loopback(self) -> bool:
        """No secret to check: loopback clients get in without one."""
        return not self._digests and not self.keys_configured

    def accepts(self, secret: str | None) -> bool:
        if not secret:
            return False
        digest = _digest(secret)
        found = False
        for expected in self._digests:  # no early exit: constant time over the digests
            found = hmac.compare_digest(digest, expected) or found
        return found

    def check(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], client: str | None
    ) -> Access:
        # Imported here: the gateway's package imports this one when it mounts the dashboard.
        from hybridllm.server.auth import presented_key

        if self.open_on_loopback:
            return Access.ALLOWED if is_loopback(client) else Access.LOOPBACK_ONLY
        if self.accepts(presented_key(headers)) or self.accepts(cookies.get(COOKIE)):
            return Access.ALLOWED
        return Access.NEEDS_KEY
