"""What an independent client (pyasic) reads from our simulators, per firmware family.

    python bench/pyasic_check.py [--pyasic-python /tmp/pyasic-venv/bin/python]

Serves one simulated miner per family on its own loopback address with the real ports pyasic
dials (RPC 4028, the Antminer web CGI on 80, Whatsminer API v3 on 4433: binding 80 needs root
or CAP_NET_BIND_SERVICE), then runs pyasic's ``get_miner`` and ``get_data`` in pyasic's own venv
(never installed into the project; build it with ``python -m venv /tmp/pyasic-venv &&
/tmp/pyasic-venv/bin/pip install pyasic``) and prints per family what it identified and read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.sim.fleet import FleetSimulator  # noqa: E402

FAMILIES = ("antminer", "whatsminer", "luxos", "braiins", "cgminer")
PER_MINER_S = 30.0

# Runs inside pyasic's venv: one JSON line per address.
PROBE = r"""
import asyncio, json, sys
from pyasic import get_miner

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
            hashrate=str(d.get("hashrate")), expected=str(d.get("expected_hashrate")),
            boards=[[b.get("slot"), str(b.get("hashrate")), b.get("temp"), b.get("chip_temp"),
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
    for line in out.decode().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        print(f"== {family_of.get(row.get('ip'), '?')} ({row.get('ip')})")
        for key, value in row.items():
            if key != "ip":
                print(f"   {key}: {value}")
    if proc.returncode:
        print(err.decode()[-2000:], file=sys.stderr)
    return proc.returncode or 0


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
