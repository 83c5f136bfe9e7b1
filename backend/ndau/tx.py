"""The ndau Issue transaction: wire JSON, signable bytes and hash exactly as the node computes them.

Why exact: the node recomputes the signable bytes itself, so one byte of difference means a
rejected signature, and the hash is how we find our transaction again after submitting it.
Sources: ``github.com/ndau/ndau`` ``pkg/ndau/transactions.go`` (``Issue``, tx id 20),
``pkg/ndau/signable_bytes_gen.go``, ``pkg/ndau/tx_issue.go``; ``github.com/ndau/metanode``
``pkg/meta/transaction/transactable.go`` (``Hash``); ndau's API docs (``transactions.md``,
``cmd/ndauapi`` README):

* ``Issue{Qty math.Ndau json:"qty"; Sequence uint64 json:"sequence";
  Signatures []signature.Signature json:"signatures"}``; ``math.Ndau`` is an int64 of napu and
  the node rejects ``qty <= 0``.
* Signable bytes: the node marshals the tx to JSON, drops ``signature``/``signatures``, sorts
  the remaining keys and concatenates each value; numbers become 8-byte big-endian int64
  (``json.Number.Int64``). For Issue that is ``qty || sequence``. A sequence above 2**63 - 1
  makes ``Int64`` fail and the node computes no signable bytes at all, so we cap it at int64.
* Hash: ``base64.RawURLEncoding(md5(signable bytes))``.
* Submission: ``POST /tx/submit/issue`` (prevalidate: ``/tx/prevalidate/issue``) with the
  JSON above. Signatures marshal through ``Signature.MarshalText``, so each one is its ndau
  text string; the docs' example shows ``"signatures": ["ayjaf…"]``. Go writes an empty slice
  as ``null``; we always write a list, which Go reads the same way.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.ndau.keys import NdauKeyError, PrivateKey, Signature, sign

NAPU_PER_NDAU = 100_000_000
NAPU_DECIMALS = 8
INT64_MAX = 2**63 - 1

TX_ID = 20
TX_NAME = "issue"
SUBMIT_PATH = f"/tx/submit/{TX_NAME}"
PREVALIDATE_PATH = f"/tx/prevalidate/{TX_NAME}"

_JSON_KEYS = frozenset({"qty", "sequence", "signatures"})


class NdauAmountError(ValueError):
    """An ndau amount that cannot become a whole, non-negative int64 of napu."""


class FractionalNapuError(NdauAmountError):
    """An amount finer than 1 napu: refusing beats silently issuing less than was sold."""


class IssueTxError(ValueError):
    """An Issue transaction the node would reject or could not sign-check."""


def ndau_to_napu(amount: Decimal | str | int) -> int:
    """Exact ndau -> napu. Floats are refused: ``0.1`` as a float is not 0.1 ndau."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | str | int):
        raise TypeError(f"ndau amount must be Decimal, str or int, not {type(amount).__name__}")
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(amount)
    except InvalidOperation:
        raise NdauAmountError(f"not a decimal number: {amount!r}") from None
    if not value.is_finite():
        raise NdauAmountError(f"ndau amount must be finite, got {amount!r}")
    sign_bit, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        return 0
    if sign_bit:
        raise NdauAmountError(f"ndau amount must not be negative, got {amount!r}")
    shift = exponent + NAPU_DECIMALS
    if shift > 19:  # coefficient >= 1, so at least 10**20 napu: far beyond int64
        raise NdauAmountError(f"{amount!r} ndau does not fit in an int64 of napu")
    if shift >= 0:
        napu = coefficient * 10**shift
    else:
        if -shift > len(digits):
            raise FractionalNapuError(f"{amount!r} ndau is not a whole number of napu")
        napu, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise FractionalNapuError(f"{amount!r} ndau is not a whole number of napu")
    if napu > INT64_MAX:
        raise NdauAmountError(f"{amount!r} ndau does not fit in an int64 of napu")
    return napu


def napu_to_ndau(napu: int) -> Decimal:
    """Exact napu -> ndau, for display and audit."""
    if isinstance(napu, bool) or not isinstance(napu, int):
        raise TypeError(f"napu must be int, not {type(napu).__name__}")
    return Decimal(napu).scaleb(-NAPU_DECIMALS)


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass and floats are not JSON integers to Go; both are mistakes here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise IssueTxError(f"{name} must be an integer, got {type(value).__name__}")
    if not 1 <= value <= INT64_MAX:
        raise IssueTxError(f"{name} must be between 1 and 2**63 - 1, got {value}")
    return value


def _signature_text(index: int, value: object) -> str:
    if isinstance(value, Signature):
        return value.to_text()
    if not isinstance(value, str):
        raise IssueTxError(f"signatures[{index}] must be ndau signature text")
    try:
        # canonical text: a pasted signature's case or stray whitespace never reaches the wire
        return Signature.from_text(value).to_text()
    except NdauKeyError as exc:
        raise IssueTxError(f"signatures[{index}]: {exc}") from None


@dataclass(frozen=True)
class IssueTx:
    """``Issue`` (tx id 20): circulates ``qty`` napu already released from the endowment."""

    qty: int
    sequence: int
    signatures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_int("qty", self.qty)
        _check_int("sequence", self.sequence)
        if isinstance(self.signatures, str | bytes) or not isinstance(self.signatures, Iterable):
            raise IssueTxError("signatures must be a sequence of signature texts")
        texts = tuple(_signature_text(i, s) for i, s in enumerate(self.signatures))
        object.__setattr__(self, "signatures", texts)

    def signable_bytes(self) -> bytes:
        """``qty || sequence`` as 8-byte big-endian integers: the node's sorted-JSON walk."""
        return self.qty.to_bytes(8, "big") + self.sequence.to_bytes(8, "big")

    def tx_hash(self) -> str:
        """The node's tx hash (independent of signatures), for finding the tx after submit."""
        digest = hashlib.md5(self.signable_bytes(), usedforsecurity=False).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def to_json(self) -> dict[str, Any]:
        """Body for ``POST /tx/submit/issue``."""
        return {"qty": self.qty, "sequence": self.sequence, "signatures": list(self.signatures)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssueTx:
        """Strict inverse of :meth:`to_json`; unknown keys (``seq``!) are errors, not ignored."""
        if not isinstance(data, Mapping):
            raise IssueTxError(f"Issue JSON must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - _JSON_KEYS)
        if unknown:
            raise IssueTxError(f"unknown Issue field(s) {unknown}; expected {sorted(_JSON_KEYS)}")
        missing = sorted({"qty", "sequence"} - set(data))
        if missing:
            raise IssueTxError(f"Issue JSON is missing {missing}")
        signatures = data.get("signatures")
        if signatures is None:
            signatures = ()
        elif not isinstance(signatures, list | tuple):
            raise IssueTxError("signatures must be a list of signature texts")
        return cls(data["qty"], data["sequence"], tuple(signatures))

    def with_signature(self, signature: Signature | str) -> IssueTx:
        """A copy with one more signature; a repeated signature is refused as a signing bug."""
        text = _signature_text(len(self.signatures), signature)
        if text in self.signatures:
            raise IssueTxError("this signature is already on the transaction")
        return dataclasses.replace(self, signatures=(*self.signatures, text))

    def signed_by(self, private_key: PrivateKey) -> IssueTx:
        """Sign this tx's signable bytes (never anything else) and append the signature."""
        return self.with_signature(sign(private_key, self.signable_bytes()))
