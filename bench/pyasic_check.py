"""What an independent client (pyasic) reads from our simulators, per firmware family.

    python bench/pyasic_check.py [--pyasic-python /tmp/pyasic-venv/bin/python]

Serves one simulated miner per family on its own loopback address with the real ports pyasic
dials (RPC 4028, the Antminer web CGI on 80, Whatsminer API v3 on 4433, Braiins OS's gRPC API
on 50051: binding 80 needs root or CAP_NET_BIND_SERVICE), then runs pyasic's ``get_miner`` and
``get_data`` in pyasic's own venv (never installed into the project; build it with
``python -m venv /tmp/pyasic-venv && /tmp/pyasic-venv/bin/pip install pyasic``) and prints per
family what it identified and read, then one summary line per family against what that
firmware really reports (``EXPECTED``). The exit status is 1 when any family falls short: a
check, not only a report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.sim.fleet import FleetSimulator  # noqa: E402

FAMILIES = ("antminer", "whatsminer", "luxos", "braiins", "cgminer", "vnish")
PER_MINER_S = 30.0

# What pyasic must identify and read per family: what the real firmware reports over the
# interfaces pyasic uses. Families not listed must be identified and give a hashrate.
Expect = tuple[bool, tuple[str, ...]]
EXPECTED: dict[str, Expect] = {
    # stock S19 Pro: no power over RPC or web; MAC from get_system_info.cgi
    "antminer": (True, ("hashrate", "boards", "fans", "pools", "mac")),
    "whatsminer": (True, ("hashrate", "boards", "fans", "pools", "wattage", "mac")),
    # LuxOS gives MACAddr in `config`, but pyasic 0.79's LuxOS _get_mac returns before reading it
    "luxos": (True, ("hashrate", "boards", "fans", "pools", "wattage")),
    # BOSer: hashrate and the rest through the RPC and the gRPC API (port 50051)
    "braiins": (True, ("hashrate", "boards", "fans", "pools", "wattage", "mac")),
    # upstream cgminer 4.11 names no vendor or model (VERSION: CGMiner + API only) and pyasic
    # 0.79 has no rule for it: its factory recognises cgminer only through a vendor string
    "cgminer": (False, ()),
}
FIELDS = ("hashrate", "boards", "fans", "pools", "wattage", "mac")

# Runs inside pyasic's venv: one JSON line per address.
PROBE = r"""
import asyncio, json, sys
from pyasic import get_miner, settings

# Braiins OS's factory login is root without a password; pyasic assumes "root" unless told
settings.update("default_bosminer_password", "")

def ths(h):
    if not h:
        return None
    try:
        return round(float(h["rate"]) * float(h["unit"]["value"]) / 1e12, 3)
    except (KeyError, TypeError, ValueError):
        return str(h)

async def one(ip):
    out = {"ip": ip}
    try:
        miner = await asyncio.wait_for(get_miner(ip), 20)
        out["class"] = type(miner).__name__ if miner is not None else None
        if miner is None:
            return out
        data = await asyncio.wait_for(miner.get_data(), 20)
        d = data.as_dict()
        out.update(
            model=d.get("model"), make=d.get("make"), firmware=d.get("firmware"),
            fw_ver=d.get("fw_ver"), api_ver=d.get("api_ver"),
            hashrate=ths(d.get("hashrate")), expected=ths(d.get("expected_hashrate")),
            boards=[[b.get("slot"), ths(b.get("hashrate")), b.get("temp"), b.get("chip_temp"),
                     b.get("chips")] for b in d.get("hashboards") or []],
            fans=[f.get("speed") for f in d.get("fans") or []],
            pools=[[p.get("url"), p.get("user"), p.get("active")] for p in d.get("pools") or []],
            wattage=d.get("wattage"), uptime=d.get("uptime"), is_mining=d.get("is_mining"),
            fault_light=d.get("fault_light"), errors=[str(e) for e in d.get("errors") or []],
            mac=d.get("mac"),
        )
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out

async def main():
    for ip in sys.argv[1:]:
        print(json.dumps(await one(ip), default=str), flush=True)

asyncio.run(main())
"""


async def run(python: str, base_ip: str) -> int:
    sim = FleetSimulator(
        len(FAMILIES),
        base_ip=base_ip,
        families=FAMILIES,
        web_port=80,
        whatsminer_v3_port=4433,
        braiins_grpc_port=50051,
    )
    async with sim:
        ips = [m.host for m in sim.miners]
        proc = await asyncio.create_subprocess_exec(
            python,
            "-c",
            PROBE,
            *ips,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(PER_MINER_S * len(ips)):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            print("pyasic did not finish in time", file=sys.stderr)
            return 1
    family_of = {m.host: m.dialect for m in sim.miners}
    rows: dict[str, dict[str, Any]] = {}
    for line in out.decode().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        family = family_of.get(row.get("ip"), "?")
        rows[family] = row
        print(f"== {family} ({row.get('ip')})")
        for key, value in row.items():
            if key != "ip":
                print(f"   {key}: {value}")
    if proc.returncode:
        print(err.decode()[-2000:], file=sys.stderr)
    print("\nsummary (pyasic against each simulated firmware):")
    failed = 0
    for family in dict.fromkeys(m.dialect for m in sim.miners):
        ok, line = summarize(family, rows.get(family))
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {family:<11} {line}")
    return 1 if failed or proc.returncode else 0


def fields_read(row: dict[str, Any]) -> list[str]:
    """The FIELDS pyasic read with a usable value."""
    boards = row.get("boards") or []
    got = {
        "hashrate": isinstance(row.get("hashrate"), int | float) and row["hashrate"] > 0,
        "boards": bool(boards)
        and all(isinstance(b[1], int | float) and b[2] is not None for b in boards),
        "fans": bool(row.get("fans")) and all(f is not None for f in row["fans"]),
        "pools": bool(row.get("pools")) and all(p[0] for p in row["pools"]),
        "wattage": isinstance(row.get("wattage"), int | float) and row["wattage"] > 0,
        "mac": bool(row.get("mac")),
    }
    return [name for name in FIELDS if got[name]]


def summarize(family: str, row: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether pyasic met ``EXPECTED`` for ``family``, and one line saying what it got."""
    want_id, want = EXPECTED.get(family, (True, ("hashrate",)))
    if row is None:
        return False, "no answer from the pyasic probe"
    cls = row.get("class")
    ident = f"identified: yes ({cls})" if cls else "identified: no"
    if not cls:
        if want_id:
            return False, f"{ident}; MISSING (expected): identification"
        return True, f"{ident} (as expected: pyasic has no rule for this firmware)"
    if row.get("error"):
        return False, f"{ident}; get_data failed: {row['error'][:160]}"
    got = fields_read(row)
    missing = [f for f in want if f not in got]
    line = f"{ident}; read: {', '.join(got) or 'nothing'}"
    not_read = [f for f in FIELDS if f not in got]
    if not_read:
        line += f"; not read: {', '.join(not_read)}"
    if missing:
        line += f"; MISSING (expected): {', '.join(missing)}"
    return not missing, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyasic-python", default="/tmp/pyasic-venv/bin/python")
    parser.add_argument("--base-ip", default="127.77.1.1", help="first loopback address")
    args = parser.parse_args()
    if not Path(args.pyasic_python).exists():
        print(f"pyasic: not available ({args.pyasic_python} missing)")
        return 2
    return asyncio.run(run(args.pyasic_python, args.base_ip))


if __name__ == "__main__":
    sys.exit(main())
