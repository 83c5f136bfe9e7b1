"""The issuer's errors: each message is one clear line, safe to log and show (never a secret)."""

from __future__ import annotations


class IssuerError(Exception):
    """Something the issuer cannot do right now; the message says what and why."""


class IssuerConfigError(IssuerError):
    """The issuer is not configured correctly (key file, allow-list, starting point...)."""


class BitmartError(IssuerError):
    """Bitmart refused or failed a request."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class BitmartAuthError(BitmartError):
    """Bitmart rejected the key, the signature or the timestamp (codes 30001-30012)."""


class BitmartRateLimited(BitmartError):
    """Bitmart answered 429 (code 30013) even after backing off."""


class TradeDataError(IssuerError):
    """A Bitmart trade cannot be turned into an exact napu amount; the batch is refused whole."""


class NdauNodeError(IssuerError):
    """The ndau node failed or answered something unusable."""


class SignerError(IssuerError):
    """The signing service is unavailable, timed out, refused, or returned bad signatures."""


class SignerRefused(SignerError):
    """The signing service answered with a refusal (unknown key, policy, bad request)."""


class SignerUnavailable(SignerError):
    """No authenticated signing service holding the needed keys is connected."""


class LeaseLost(IssuerError):
    """Another issuer holds the lease (or ours expired): this one must not write or issue."""
