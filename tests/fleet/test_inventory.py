"""Miner addresses from settings, labels from CSV, and the discovery scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.core.miner_config import parse_address
from backend.fleet.inventory import configured_miners, read_label_csv, scan
from backend.settings import SettingsError, load_settings
from backend.sim.fleet import FleetSimulator
from tests.conftest import isolated_env


def test_address_forms() -> None:
    assert parse_address("10.0.1.23") == [("10.0.1.23", 4028)]
    assert parse_address("10.0.1.23:4029") == [("10.0.1.23", 4029)]
    assert parse_address("[fd00::7]:4030") == [("fd00::7", 4030)]
    assert parse_address("miner-a.lan") == [("miner-a.lan", 4028)]
    assert [h for h, _ in parse_address("10.0.0.0/30")] == ["10.0.0.1", "10.0.0.2"]
    assert parse_address("10.0.0.8/31:4029") == [("10.0.0.8", 4029), ("10.0.0.9", 4029)]
    for bad, why in (
        ("10.0.0.1:99999", "out of range"),
        ("10.0.0.0/8", "limit"),
        ("a b", "not an IP"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_address(bad)


def test_env_and_toml_miners(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, HASHINSIGHT_MINERS="10.0.0.1, 10.0.0.2:4029 10.0.1.0/30")
    settings = load_settings(env)
    assert [m.id for m in configured_miners(settings)] == [
        "10.0.0.1:4028",
        "10.0.0.2:4029",
        "10.0.1.1:4028",
        "10.0.1.2:4028",
    ]
    config = tmp_path / "config" / "hashinsight" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[[miners]]\naddress = "10.0.0.5"\nname = "rig-5"\nsite = "North"\nrack = "R2"\n'
        '[fleet]\nsite = "South"\nminers = ["10.0.2.1", "10.0.0.5"]\n'
    )
    miners = configured_miners(load_settings(isolated_env(tmp_path)))
    assert [(m.id, m.site, m.rack) for m in miners] == [
        ("rig-5", "North", "R2"),
        ("10.0.2.1:4028", "South", None),
    ]
    with pytest.raises(SettingsError, match="miners"):
        load_settings(isolated_env(tmp_path, HASHINSIGHT_MINERS="10.0.0.300"))


def test_label_csv(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "Address,Site,Rack,Position,Name\n10.0.0.5,North,R1,3,\n\n10.0.0.6:4029,South,R9,1,rig-6\n"
    )
    rows = read_label_csv(path)
    assert [(r.line, r.spec.id, r.spec.site, r.spec.position) for r in rows] == [
        (2, "10.0.0.5:4028", "North", "3"),
        (4, "rig-6", "South", "1"),
    ]
    path.write_text("address,site\n10.0.0.5,A\n10.0.0.0/24,B\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: .*one miner per line"):
        read_label_csv(path)
    path.write_text("site,rack\nA,B\n")
    with pytest.raises(ValueError, match="needs an 'address'"):
        read_label_csv(path)


async def test_scan_finds_the_miners_that_answer() -> None:
    async with FleetSimulator(
        3, use_ports=True, families=["antminer", "whatsminer", "cgminer"]
    ) as sim:
        await sim.miners[1].set_fault("offline")
        ports = [m.port for m in sim.miners]
        targets = [f"127.0.0.1:{port}" for port in ports]
        hits = await scan(targets, concurrency=2, timeout_s=0.5)
    assert [(h.port, h.family) for h in hits] == [(ports[0], "antminer"), (ports[2], "cgminer")]
    assert hits[0].model == "Antminer S19 Pro"
