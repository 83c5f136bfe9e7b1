"""Issue tx codec: signable bytes, hash, wire JSON and exact napu arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.ndau.keys import Algorithm, PrivateKey, Signature, generate_keypair, verify
from backend.ndau.tx import (
    INT64_MAX,
    NAPU_PER_NDAU,
    SUBMIT_PATH,
    FractionalNapuError,
    IssueTx,
    IssueTxError,
    NdauAmountError,
    napu_to_ndau,
    ndau_to_napu,
)

VECTOR_QTY = 928221729443562
VECTOR_SEQUENCE = 3967002257972388

# ndau/ndaumath pkg/keyaddr/api_test.go: a real BIP32 secp256k1 private key.
HD_NPVT = (
    "npvta8jaftcjebc56pvxgs8w2448fibvc4yqeub8b49b7k4tdg7t5dsdhayzi569eaaaaaaaaaaaadmt69zefwr5pfdk99"
    "mg23ufiu58nazicguu9g6r58xeqwguxxachhw8sfiuejtf"
)


def test_issue_vector_signable_bytes_and_hash() -> None:
    tx = IssueTx(qty=VECTOR_QTY, sequence=VECTOR_SEQUENCE)
    assert tx.signable_bytes().hex() == "00034c367674ceea000e17f7b068dca4"
    assert tx.tx_hash() == "1TKBgjf5Qgs_9RfS-iE-1g"


def test_signatures_change_neither_signable_bytes_nor_hash() -> None:
    tx = IssueTx(qty=VECTOR_QTY, sequence=VECTOR_SEQUENCE)
    signed = tx.signed_by(PrivateKey.from_text(HD_NPVT))
    assert signed.signable_bytes() == tx.signable_bytes()
    assert signed.tx_hash() == tx.tx_hash()


def test_json_is_the_node_wire_shape_and_roundtrips() -> None:
    assert SUBMIT_PATH == "/tx/submit/issue"
    tx = IssueTx(qty=5 * NAPU_PER_NDAU, sequence=7).signed_by(PrivateKey.from_text(HD_NPVT))
    body = tx.to_json()
    assert list(body) == ["qty", "sequence", "signatures"]
    assert body["qty"] == 500_000_000 and body["sequence"] == 7
    assert isinstance(body["signatures"], list) and isinstance(body["signatures"][0], str)
    assert IssueTx.from_json(body) == tx
    assert IssueTx(qty=1, sequence=1).to_json() == {"qty": 1, "sequence": 1, "signatures": []}


def test_from_json_accepts_null_signatures_as_go_writes_them() -> None:
    assert IssueTx.from_json({"qty": 1, "sequence": 2, "signatures": None}).signatures == ()
    assert IssueTx.from_json({"qty": 1, "sequence": 2}).signatures == ()


@pytest.mark.parametrize(
    "body",
    [
        {"qty": 1, "seq": 2},  # the docs' example typo: Go would silently read sequence 0
        {"qty": 1},
        {"qty": 1.0, "sequence": 2},
        {"qty": "1", "sequence": 2},
        {"qty": True, "sequence": 2},
        {"qty": 0, "sequence": 2},
        {"qty": -5, "sequence": 2},
        {"qty": INT64_MAX + 1, "sequence": 2},
        {"qty": 1, "sequence": 0},
        {"qty": 1, "sequence": 2**64 - 1},
        {"qty": 1, "sequence": 2, "signatures": "abc"},
        {"qty": 1, "sequence": 2, "signatures": ["not-a-signature"]},
        {"qty": 1, "sequence": 2, "signatures": [123]},
    ],
)
def test_from_json_rejects_what_the_node_would_reject(body: dict[str, object]) -> None:
    with pytest.raises(IssueTxError):
        IssueTx.from_json(body)


def test_bounds_are_inclusive_at_int64_max() -> None:
    tx = IssueTx(qty=INT64_MAX, sequence=INT64_MAX)
    assert tx.signable_bytes() == b"\x7f" + b"\xff" * 7 + b"\x7f" + b"\xff" * 7


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_signed_by_signs_the_signable_bytes(algorithm: Algorithm) -> None:
    public, private = generate_keypair(algorithm)
    tx = IssueTx(qty=VECTOR_QTY, sequence=VECTOR_SEQUENCE).signed_by(private)
    signature = Signature.from_text(tx.signatures[0])
    assert signature.algorithm is algorithm
    assert verify(public, tx.signable_bytes(), signature)
    assert not verify(public, IssueTx(qty=1, sequence=1).signable_bytes(), signature)


def test_with_signature_accepts_objects_and_text_but_not_duplicates() -> None:
    _, private = generate_keypair(Algorithm.ED25519)
    tx = IssueTx(qty=1, sequence=1)
    signed = tx.signed_by(private)
    text = signed.signatures[0]
    assert tx.with_signature(Signature.from_text(text)) == signed
    assert tx.with_signature(text) == signed
    assert tx.with_signature(f" {text.upper()}\n") == signed  # stored canonically
    with pytest.raises(IssueTxError, match="already"):
        signed.with_signature(text)
    with pytest.raises(IssueTxError, match="signatures\\[0\\]"):
        tx.with_signature(text[:-1] + ("a" if text[-1] != "a" else "b"))


def test_signatures_list_is_frozen_to_a_tuple() -> None:
    _, private = generate_keypair(Algorithm.ED25519)
    text = IssueTx(qty=1, sequence=1).signed_by(private).signatures[0]
    tx = IssueTx(qty=1, sequence=1, signatures=[text])  # type: ignore[arg-type]
    assert tx.signatures == (text,)
    assert hash(tx) == hash(IssueTx(qty=1, sequence=1, signatures=(text,)))


# --- napu arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "napu"),
    [
        ("1", 100_000_000),
        ("0.00000001", 1),
        ("9282217.29443562", VECTOR_QTY),
        (Decimal("9282217.29443562"), VECTOR_QTY),
        ("1.500000000000", 150_000_000),
        ("1e3", 100_000_000_000),
        ("0", 0),
        ("-0", 0),
        (" 2.5 ", 250_000_000),
        (3, 300_000_000),
        ("92233720368.54775807", INT64_MAX),
        ("1234567890.12345678000000000000000000000", 123_456_789_012_345_678),
    ],
)
def test_ndau_to_napu_is_exact(amount: Decimal | str | int, napu: int) -> None:
    assert ndau_to_napu(amount) == napu


@pytest.mark.parametrize(
    "amount", ["0.000000001", "1.123456789", "1e-9", "1e-1000000", "0.000000015"]
)
def test_fractional_napu_raises_instead_of_truncating(amount: str) -> None:
    with pytest.raises(FractionalNapuError) as excinfo:
        ndau_to_napu(amount)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    "amount", ["-1", "-0.00000001", "NaN", "Infinity", "abc", "", "92233720368.54775808", "1e999"]
)
def test_invalid_amounts_raise_value_errors(amount: str) -> None:
    with pytest.raises(NdauAmountError):
        ndau_to_napu(amount)


@pytest.mark.parametrize("amount", [1.5, True, None])
def test_inexact_or_wrong_types_are_refused(amount: object) -> None:
    with pytest.raises(TypeError):
        ndau_to_napu(amount)  # type: ignore[arg-type]


def test_napu_to_ndau_roundtrips() -> None:
    assert napu_to_ndau(VECTOR_QTY) == Decimal("9282217.29443562")
    assert ndau_to_napu(napu_to_ndau(VECTOR_QTY)) == VECTOR_QTY
    assert napu_to_ndau(1) == Decimal("0.00000001")
