"""What may stand as a Sign-In with Ethereum message's domain: an RFC 3986 authority.

Apart from the parser so the settings can check `public_url` and `wallet_siwe_domain` with the
same rule without loading the Ethereum libraries.
"""

from __future__ import annotations

import re

# A reg-name of unreserved characters or percent escapes (a Docker service name such as
# hashinsight_api included) or an IP literal, an optional port; an international name goes in
# as punycode.
_AUTHORITY = re.compile(
    r"^(?:[^@/\s]+@)?(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2}){1,253})"
    r"(?::\d{1,5})?$"
)


def is_authority(text: str) -> bool:
    """Whether `text` may be a message's domain."""
    return bool(_AUTHORITY.match(text))
