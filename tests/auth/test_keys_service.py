"""Key format, hashing, the verification caches, revocation and expiry, the Fernet copy."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from backend.auth import keys, service
from backend.auth.keys import cache_fingerprint, hash_key, mask_key, new_key, parse_key
from backend.auth.service import AuthService, KeyRequestError
from backend.core.clock import ManualClock


def test_key_format_carries_an_id_and_256_random_bits() -> None:
    key_id, full = new_key()
    assert re.fullmatch(r"hsk_[a-z0-9]{12}_[0-9a-f]{64}", full)
    parsed = parse_key(full)
    assert parsed is not None and parsed.key_id == key_id and len(parsed.secret) == 64
    assert parsed.secret not in repr(parsed)
    assert mask_key(full) == f"hsk_{key_id}_…"
    assert parse_key("hsk_short_abc") is None and parse_key(full + "0") is None
    assert len({new_key()[1] for _ in range(50)}) == 50


def test_hash_is_argon2id_over_key_and_pepper() -> None:
    _id, full = new_key()
    hasher = PasswordHasher()
    digest = hash_key(full, b"pepper-one-16chars", hasher)
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,") and full not in digest
    assert keys.verify_key_hash(digest, full, b"pepper-one-16chars", hasher)
    assert not keys.verify_key_hash(digest, full, b"pepper-two-16chars", hasher)
    other = full[:-1] + ("1" if full.endswith("0") else "0")
    assert not keys.verify_key_hash(digest, other, b"pepper-one-16chars", hasher)
    assert not keys.verify_key_hash("not a hash", full, b"pepper-one-16chars", hasher)
    # A hash made at another cost still verifies: it carries its own parameters.
    cheap = PasswordHasher(time_cost=1, memory_cost=8_192)
    assert keys.verify_key_hash(
        hash_key(full, b"pepper-one-16chars", cheap), full, b"pepper-one-16chars", hasher
    )


async def test_verify_uses_one_row_then_the_cache(
    auth: AuthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, full = await auth.create_key(name="ops", scopes="read stream")
    calls: list[str] = []
    original = service.verify_key_hash

    def counting(stored: str, key: str, pepper: bytes, hasher: PasswordHasher) -> bool:
        calls.append(key[:16])
        return original(stored, key, pepper, hasher)

    monkeypatch.setattr(service, "verify_key_hash", counting)
    for _ in range(5):
        verified = await auth.verify(full)
        assert verified is not None and verified.key_id == info.key_id
    assert len(calls) == 1  # one Argon2 check, then the TTL cache
    assert all(full not in k and full.split("_")[2] not in k for k in auth._good._items)
    assert cache_fingerprint(full) in auth._good._items
    bad = full[:-4] + ("1111" if full.endswith("0000") else "0000")
    assert await auth.verify(bad) is None
    assert await auth.verify(bad) is None
    assert len(calls) == 2  # the negative cache answered the second time
    assert await auth.verify("garbage") is None


async def test_revoke_and_mode_change_take_effect_at_once_for_that_key_only(
    auth: AuthService,
) -> None:
    one, key_one = await auth.create_key(name="one")
    _two, key_two = await auth.create_key(name="two")
    assert await auth.verify(key_one) and await auth.verify(key_two)
    changed = await auth.update(one.key_id, mode="semi_auto", actor="test")
    assert changed is not None and changed.needs_approval
    again = await auth.verify(key_one)
    assert again is not None and again.mode == "semi_auto"
    assert await auth.revoke(one.key_id)
    assert await auth.verify(key_one) is None
    assert await auth.verify(key_two) is not None
    with pytest.raises(KeyRequestError):
        await auth.update(one.key_id, mode="auto")
    with pytest.raises(KeyRequestError):
        await auth.update((await auth.verify(key_two)).key_id, mode="manual")  # type: ignore[union-attr]


async def test_expired_keys_stop_even_when_cached(auth: AuthService, clock: ManualClock) -> None:
    _info, full = await auth.create_key(name="short", expires_in=timedelta(seconds=30))
    assert await auth.verify(full) is not None
    clock.advance(31)
    assert await auth.verify(full) is None


async def test_fernet_copy_reveals_the_key_to_its_owner(auth: AuthService) -> None:
    info, full = await auth.create_key(name="copy", owner_type="partner", owner_id="ptn_x")
    assert await auth.reveal(info.key_id) == full
    await auth.revoke(info.key_id)
    assert await auth.reveal(info.key_id) is None


async def test_requests_are_validated(auth: AuthService) -> None:
    with pytest.raises(KeyRequestError, match="unknown scope"):
        await auth.create_key(name="x", scopes="read launch")
    with pytest.raises(KeyRequestError, match="tier"):
        await auth.create_key(name="x", tier="gold")
    with pytest.raises(KeyRequestError, match="mode"):
        await auth.create_key(name="x", mode="yolo")


async def test_a_burst_with_one_uncached_key_costs_one_check(
    auth: AuthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    _info, full = await auth.create_key(name="burst")
    calls: list[int] = []
    original = service.verify_key_hash

    def counting(stored: str, key: str, pepper: bytes, hasher: PasswordHasher) -> bool:
        calls.append(1)
        return original(stored, key, pepper, hasher)

    monkeypatch.setattr(service, "verify_key_hash", counting)
    results = await asyncio.gather(*(auth.verify(full) for _ in range(50)))
    assert all(r is not None for r in results) and len(calls) == 1
    bad = [f"hsk_{'a' * 12}_{n:064x}" for n in range(20)]
    assert await asyncio.gather(*(auth.verify(k) for k in bad)) == [None] * 20


async def test_past_the_pending_checks_bound_new_keys_are_busy_not_queued(
    auth: AuthService,
) -> None:
    info, good = await auth.create_key(name="console")
    assert await auth.verify(good) is not None  # cached before the burst
    guesses = [f"hsk_{info.key_id}_{n:064x}" for n in range(service.MAX_QUEUED_CHECKS + 4)]
    answers = await asyncio.gather(*(auth.verify(g) for g in guesses), return_exceptions=True)
    busy = [a for a in answers if isinstance(a, service.ChecksBusy)]
    assert len(busy) == 4 and answers.count(None) == service.MAX_QUEUED_CHECKS
    assert await auth.verify(good) is not None  # a cached key is never busy
    assert await auth.verify(guesses[-1]) is None  # once the queue drains, checked again
