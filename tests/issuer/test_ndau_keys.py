"""ndau key/signature text against vectors taken from ndau's own sources and docs."""

from __future__ import annotations

import base64

import pytest

from backend.ndau.keys import (
    ALPHABET,
    Algorithm,
    NdauKeyError,
    PrivateKey,
    PublicKey,
    Signature,
    _add_checksum,
    _b32decode,
    _b32encode,
    _checksum_width,
    generate_keypair,
    sign,
    verify,
)

# ndau/ndaumath pkg/signature/sig_test.go (TestUnmarshal): a real Ed25519 keypair.
ED_NPUB = "npuba8jadtbbebmmi9j8838464z7u7vxgpzyfebhuhyrqcnuz97mitidqytia3pu7nbe43pn2m6x"
ED_NPVT = (
    "npvtayjadtcbibvri9mw8awpwks773tj5nwfz93xzbi98gaqyajxek3q923jq8xt6xxwrw9rn9pqpm83q34vg55cuav3d5"
    "hzbgjm98xwiwbzmiwany3qd9tth2qh"
)
ED_PUB_HEX = "56b47d3ef67dae6afd97675336f62902791ecf70992bffab4450375a28065b2e"
ED_SEED_HEX = "66f47d74f028da2a1dee629db285bff35b851ff180eb013522b2efe32977ab1e"

# ndau/ndaumath pkg/keyaddr/api_test.go (TestKey_ToPublic, TestKey_Sign): BIP32 secp256k1 keys
# and the exact signatures Go produces over base64 "AQIDBA==" (bytes 01 02 03 04).
HD_NPVT = (
    "npvta8jaftcjebc56pvxgs8w2448fibvc4yqeub8b49b7k4tdg7t5dsdhayzi569eaaaaaaaaaaaadmt69zefwr5pfdk99"
    "mg23ufiu58nazicguu9g6r58xeqwguxxachhw8sfiuejtf"
)
HD_NPUB = (
    "npuba4jaftckeebzgm7usrcx9jxve8rhst5uejqqtzdtjvhdeswdyzvhn22k98kq25iaaaaaaaaaaaapqhv86syt9pwwpm"
    "97n5dgixcmr3sc7ai4km65t9r4wt4s4kywai6fkiae5jkc"
)
HD_SIG = (
    "aujaftchgbcseiiay7mr4bc69rgj3g4dnf82ijp8t22rnstjerrbwujy5mkbp2382vmseiahffbgsf6aujtn6vs5m3jhnm"
    "7qt952f59xemarjrcycphty726ybcgx82x"
)
HD_HARDENED_NPVT = (
    "npvta8jaftcjebe8sxbuvxcmh6xw37wuam8y2tmzachdzqh24mhjyr4j5pxgzw93aap98fg2aaaaaenphqxyh7nh2zhjfu"
    "gk3a9xvqwkcarfau8239ykec4h69kzkcs8dx2ek3uwekhx"
)
HD_HARDENED_SIG = (
    "ayjaftcggbcaeibatkbh6whxa5qvica5jp7btt3v44z6mtzcyuwad8xifbsnb3rzp6bcan54rfdkmvif8x4z9p5gwrx24f"
    "4qx9ukfx2k5u8rjkfgq5fmpmparr9zkyw9"
)
HD_MESSAGE = base64.b64decode("AQIDBA==")

# ndau API docs (transactions.md, "Submittal"): a secp256k1 signature from a mainnet transfer;
# the node's query output shows the same bytes as [2, "MEQCIDwh…"].
DOCS_SIG = (
    "ayjaftcggbcaeib6ehzcwu7t85svchaj5kp6xhu5vmhrky25z7jfcwni3thp2evrrebcaz3vv5pn5hwtm5puecfj6w5s74"
    "iy64mji4wmawzefwxp5qbew9yjs56aqieb"
)
DOCS_SIG_B64 = (
    "MEQCIDwh7ipLsfbhMRwJ2pvKnluazvVbG79SUVGIzE7cEm95"
    "AiBfM57azZ6RXtsiCKnlNw7pFuaWlGqLBS5C0q3bgkp+yQ=="
)


def _swap_last_char(text: str) -> str:
    return text[:-1] + ("a" if text[-1] != "a" else "b")


# --- ndaumath's own low-level vectors -------------------------------------------------------


def test_b32_matches_ndaumath_vectors() -> None:
    # pkg/b32/b32_test.go
    assert _b32encode(bytes([1, 2, 3, 4, 5])) == "aebagbaf"
    assert _b32encode(bytes([99, 100, 21, 0, 0])) == "npubkaaa"
    assert _b32decode("npvt9999", "t") == bytes([99, 103, 31, 255, 255])
    assert _b32decode("NPUBAAAA", "t") == bytes([99, 100, 16, 0, 0])


def test_checksum_matches_ndaumath_vectors() -> None:
    # pkg/signature/checksum_test.go
    widths = [4, 3, 7, 6, 5, 4, 3, 7, 6, 5, 4]
    assert [_checksum_width(n) for n in range(11)] == widths
    assert _add_checksum(b"one")[-6:] == bytes([176, 192, 177, 150, 249, 175])
    assert _add_checksum(b"five")[-5:] == bytes([88, 10, 161, 100, 95])
    assert _add_checksum(b"two")[0] == 6


# --- real keys and signatures ---------------------------------------------------------------


def test_real_ed25519_keypair_decodes_and_reencodes() -> None:
    public = PublicKey.from_text(ED_NPUB)
    assert public.algorithm is Algorithm.ED25519
    assert public.key.hex() == ED_PUB_HEX
    assert public.extra == b""
    assert public.to_text() == ED_NPUB

    private = PrivateKey.from_text(ED_NPVT)
    assert private.algorithm is Algorithm.ED25519
    assert private.key.hex() == ED_SEED_HEX + ED_PUB_HEX
    assert private.to_text() == ED_NPVT
    assert private.public_key() == public

    signature = sign(private, b"ndau issue")
    assert verify(public, b"ndau issue", signature)


def test_real_hd_secp256k1_keys_roundtrip_with_bip32_extra() -> None:
    private = PrivateKey.from_text(HD_NPVT)
    public = PublicKey.from_text(HD_NPUB)
    assert private.algorithm is public.algorithm is Algorithm.SECP256K1
    assert len(private.key) == 32
    assert public.key.hex() == "03732fb283c55fa6b3279e784772225ce8dc714cce324283b5e676630aff94ec6d"
    assert len(public.extra) == 40 and public.extra == private.extra
    assert public.extra[:8] == bytes(8)  # depth 0, parent fingerprint 0, child 0: a master key
    assert private.to_text() == HD_NPVT
    assert public.to_text() == HD_NPUB
    assert private.public_key().to_text() == HD_NPUB


@pytest.mark.parametrize(
    ("npvt", "expected"), [(HD_NPVT, HD_SIG), (HD_HARDENED_NPVT, HD_HARDENED_SIG)]
)
def test_secp256k1_signatures_are_byte_identical_to_go(npvt: str, expected: str) -> None:
    private = PrivateKey.from_text(npvt)
    signature = sign(private, HD_MESSAGE)
    assert signature.to_text() == expected
    assert Signature.from_text(expected) == signature
    assert verify(private.public_key(), HD_MESSAGE, signature)
    assert not verify(private.public_key(), HD_MESSAGE + b"\x05", signature)


def test_docs_signature_decodes_to_the_der_the_node_stores() -> None:
    signature = Signature.from_text(DOCS_SIG)
    assert signature.algorithm is Algorithm.SECP256K1
    assert signature.data == base64.b64decode(DOCS_SIG_B64)
    assert signature.to_text() == DOCS_SIG


# --- generated round trips ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_generated_keys_text_sign_verify_roundtrip(algorithm: Algorithm) -> None:
    public, private = generate_keypair(algorithm)
    assert PublicKey.from_text(public.to_text()) == public
    assert PrivateKey.from_text(private.to_text()) == private
    assert public.to_text().startswith("npub") and private.to_text().startswith("npvt")
    assert private.public_key() == public

    message = b"\x00\x03L6vt\xce\xea\x00\x0e\x17\xf7\xb0h\xdc\xa4"
    signature = sign(private, message)
    text = signature.to_text()
    assert not text.startswith(("npub", "npvt"))  # signatures carry no prefix
    assert set(text) <= set(ALPHABET)
    assert Signature.from_text(text) == signature
    assert verify(public, message, Signature.from_text(text))
    assert not verify(public, message + b"!", signature)
    other_public, _ = generate_keypair(algorithm)
    assert not verify(other_public, message, signature)


def test_ed25519_and_secp256k1_signatures_do_not_cross_verify() -> None:
    ed_public, ed_private = generate_keypair(Algorithm.ED25519)
    _, k1_private = generate_keypair(Algorithm.SECP256K1)
    assert not verify(ed_public, b"m", sign(k1_private, b"m"))
    assert verify(ed_public, b"m", sign(ed_private, b"m"))


def test_uppercase_and_surrounding_whitespace_are_accepted() -> None:
    assert PublicKey.from_text("  npub" + ED_NPUB[4:].upper() + "\n").to_text() == ED_NPUB


# --- errors ---------------------------------------------------------------------------------


def test_tampered_checksum_is_a_clear_error() -> None:
    with pytest.raises(NdauKeyError, match="bad checksum"):
        PublicKey.from_text(_swap_last_char(ED_NPUB))
    with pytest.raises(NdauKeyError, match="bad checksum"):
        Signature.from_text(_swap_last_char(HD_SIG))


def test_tampered_body_is_caught_by_the_checksum() -> None:
    tampered = ED_NPUB[:20] + ("a" if ED_NPUB[20] != "a" else "b") + ED_NPUB[21:]
    with pytest.raises(NdauKeyError, match="bad checksum"):
        PublicKey.from_text(tampered)


@pytest.mark.parametrize("bad_char", ["l", "1", "0", "o", "=", "!"])
def test_characters_outside_ndau_alphabet_are_rejected(bad_char: str) -> None:
    text = ED_NPUB[:10] + bad_char + ED_NPUB[11:]
    with pytest.raises(NdauKeyError, match=r"position 10 is not in ndau's base32 alphabet"):
        PublicKey.from_text(text)


def test_truncated_text_is_rejected() -> None:
    with pytest.raises(NdauKeyError, match="8-character groups"):
        PublicKey.from_text(ED_NPUB[:-3])


def test_bad_prefix_is_a_clear_error() -> None:
    with pytest.raises(NdauKeyError, match=r"bad prefix: must begin with 'npvt'"):
        PrivateKey.from_text(ED_NPUB)
    with pytest.raises(NdauKeyError, match=r"bad prefix: must begin with 'npub'"):
        PublicKey.from_text(ED_NPVT)
    with pytest.raises(NdauKeyError, match="bad prefix"):
        PublicKey.from_text("NPUB" + ED_NPUB[4:])


def test_wrong_algorithm_is_a_clear_error() -> None:
    with pytest.raises(NdauKeyError, match="wrong algorithm: expected ED25519, got SECP256K1"):
        PublicKey.from_text(HD_NPUB, expect=Algorithm.ED25519)
    with pytest.raises(NdauKeyError, match="wrong algorithm"):
        Signature.from_text(DOCS_SIG, expect=Algorithm.ED25519)
    # algorithm id 3 inside a validly checksummed container
    body = _b32encode(_add_checksum(b"\x92\x03\xc4\x21\x20" + bytes(32)))
    with pytest.raises(NdauKeyError, match="wrong algorithm: unsupported id 3"):
        PublicKey.from_text("npub" + body)


_KEY_DATA = b"\x20" + bytes(32)  # 33 bytes: length byte, then a 32-byte key


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (b"\x92\x01\xa1x", "data field is not msgpack bin"),  # str, not bin
        (b"\x92\xc3\xc4\x21" + _KEY_DATA, "algorithm id is not an integer"),  # true
        (b"\x92\x01\xc4\x21" + _KEY_DATA + b"\x00", "trailing bytes"),
        (b"\x92\x01\xc4\x40" + _KEY_DATA, "ends early"),  # bin claims 64 bytes
        (b"\x91\x01", "exactly \\[algorithm, data\\]"),
        (b"\x81\xa1k\x01", "not an ndau \\[algorithm, data\\] container"),  # a map
        (b"\xc1", "not an ndau \\[algorithm, data\\] container"),  # never-used msgpack byte
        (b"\x91" * 2000 + b"\x01", "container"),  # absurd nesting
    ],
)
def test_malformed_container_inside_valid_text_is_a_clear_error(
    container: bytes, message: str
) -> None:
    text = "npub" + _b32encode(_add_checksum(container))
    with pytest.raises(NdauKeyError, match=message):
        PublicKey.from_text(text)


def test_wider_msgpack_forms_decode_like_msgp() -> None:
    # msgp's reader takes any integer width and bin 16/32; the key is the same either way.
    plain = PublicKey.from_text(ED_NPUB)
    key = bytes([len(plain.key)]) + plain.key
    for container in (
        b"\x92\xcc\x01\xc5\x00\x21" + key,
        b"\xdc\x00\x02\xd0\x01\xc6\x00\x00\x00\x21" + key,
    ):
        assert PublicKey.from_text("npub" + _b32encode(_add_checksum(container))) == plain


def test_wrong_key_length_inside_valid_text_is_rejected() -> None:
    body = _b32encode(_add_checksum(b"\x92\x01\xc4\x21\x1f" + bytes(32)))
    with pytest.raises(NdauKeyError, match="must be 32 bytes"):
        PublicKey.from_text("npub" + body)


def test_private_key_material_never_appears_in_repr_or_errors() -> None:
    private = PrivateKey.from_text(ED_NPVT)
    shown = repr(private) + str(private) + repr([private])
    assert "redacted" in shown
    assert ED_SEED_HEX[:8] not in shown and ED_NPVT[4:12] not in shown
    assert private.key[:4].hex() not in shown

    for broken in (_swap_last_char(ED_NPVT), ED_NPVT[:30] + "0" + ED_NPVT[31:], ED_NPVT[:-8]):
        with pytest.raises(NdauKeyError) as excinfo:
            PrivateKey.from_text(broken)
        assert ED_NPVT[4:12] not in str(excinfo.value)
        assert ED_NPVT[-12:] not in str(excinfo.value)


def test_inconsistent_ed25519_private_key_is_refused() -> None:
    good = PrivateKey.from_text(ED_NPVT)
    with pytest.raises(NdauKeyError, match="does not match its seed"):
        PrivateKey(Algorithm.ED25519, good.key[:32] + bytes(32))


def test_secp256k1_private_key_out_of_range_is_refused() -> None:
    with pytest.raises(NdauKeyError, match="curve order"):
        PrivateKey(Algorithm.SECP256K1, bytes(32))
