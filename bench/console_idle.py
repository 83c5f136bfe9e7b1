"""What the console costs while nobody touches it: CPU share of one core, per screen.

Starts its own headless demo backend (200 simulated miners, 10 s sweeps) on a free port, opens
the console against it in a detached tmux session (a real terminal, 120x36), waits for the
screen to settle, then reads the console process's utime+stime from /proc/PID/stat over
`--seconds` of wall time. Screens are switched with the keys the footer shows, one after the
other in the same console. Prints each screen's share of a core against the goal and the
baseline below, with the machine's load average (other work on a shared box moves the figure).

    python bench/console_idle.py [--seconds 60] [--settle 15] [--screens fleet,health,alerts]
                                 [--tree DIR]

`--tree DIR` runs the console from another checkout's `hashinsight_tui` (put first on
PYTHONPATH), to measure an older version against this one under the same load.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `hashinsight_tui` from a checkout

from hashinsight_tui.app import SCREENS

GOAL_PCT = 2.0
# Measured with this script before the screens repainted only what changed (2026-12-07, load
# average 1.9-3.7): every clock tick repainted the whole fleet table and refilled the Health
# table, and every line was laid out again even when its text had not changed.
BASELINE_PCT = {"fleet": 3.97, "health": 8.73, "alerts": 2.83}
SIZE = (120, 36)
KEYS = {name: key for name, _title, key, _cls in SCREENS}
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo(home: Path, port: int) -> tuple[subprocess.Popen[bytes], str, str]:
    """The demo backend and its URL and operator key (read from its first lines)."""
    log = (home / "demo.log").open("wb")
    demo = subprocess.Popen(
        ["hashinsight", "demo", "--headless", "--port", str(port)],
        env={**os.environ, "HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = key = ""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and not (url and key):
        if demo.poll() is not None:
            raise SystemExit(f"the demo exited early; see {home / 'demo.log'}")
        for line in (home / "demo.log").read_text(errors="replace").splitlines():
            if line.startswith("HashInsight API:"):
                url = line.split(":", 1)[1].strip()
            elif line.startswith("Operator key:"):
                key = line.split(":", 1)[1].strip()
        time.sleep(0.5)
    if not (url and key):
        stop(demo)
        raise SystemExit("the demo printed no URL and key in time")
    return demo, url, key


def stop(process: subprocess.Popen[bytes]) -> None:
    """Its own process group only: SIGINT (a clean shutdown), then SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def console_pid(session: str) -> int:
    """The python process of the console under the tmux pane (the pane's shell may exec it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        todo = [int(tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])]
        while todo:
            pid = todo.pop()
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                todo.extend(children(pid))
            except OSError:
                continue
            if b"console" in cmdline and any(b"python" in part for part in cmdline[:1]):
                return pid
        time.sleep(0.5)
    raise SystemExit("no console process found under the tmux pane")


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def measure(pid: int, seconds: float) -> float:
    """Share of one core used by `pid` over `seconds` of wall time, in percent."""
    tick = os.sysconf("SC_CLK_TCK")
    start_cpu, start = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    used = (cpu_ticks(pid) - start_cpu) / tick
    return 100.0 * used / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0, help="wait after a screen opens")
    parser.add_argument("--screens", default="fleet,health,alerts")
    parser.add_argument("--tree", type=Path, help="a checkout whose console to run instead")
    args = parser.parse_args()
    screens = [name.strip() for name in args.screens.split(",") if name.strip()]
    unknown = [name for name in screens if name not in KEYS]
    if unknown:
        parser.error(f"unknown screens {unknown}; known: {', '.join(KEYS)}")
    if shutil.which("tmux") is None or shutil.which("hashinsight") is None:
        parser.error("needs tmux and the `hashinsight` command on PATH")

    home = Path(tempfile.mkdtemp(prefix="console-idle-"))
    session = f"console-idle-{os.getpid()}"
    demo, url, key = start_demo(home, free_port())
    results: list[tuple[str, float, str]] = []
    try:
        key_file = home / "console.key"  # read by the pane's shell: never on a command line
        key_file.touch(mode=0o600)
        key_file.write_text(key)
        env = [f"HOME={home}"]
        if args.tree:
            env.append(f"PYTHONPATH={args.tree.resolve()}")
        command = (
            f'HASHINSIGHT_CONSOLE__API_KEY="$(cat {shlex.quote(str(key_file))})" '
            f"exec hashinsight console --url {url} --screen {screens[0]}"
        )
        width, height = SIZE
        tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height),
             *[part for item in env for part in ("-e", item)], command)  # fmt: skip
        pid = console_pid(session)
        for number, name in enumerate(screens):
            if number:
                tmux("send-keys", "-t", session, KEYS[name])
            time.sleep(args.settle * (2 if number == 0 else 1))  # the first also loads the fleet
            share = measure(pid, args.seconds)
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            results.append((name, share, load))
            print(f"{name:<8} {share:5.2f} % of a core  (load {load})", flush=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
        stop(demo)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\nidle console, {args.seconds:.0f} s per screen, goal < {GOAL_PCT:.0f} % of a core")
    print(f"{'screen':<8} {'now':>7} {'baseline':>9}  goal")
    for name, share, _load in results:
        base = BASELINE_PCT.get(name)
        shown = f"{base:.1f} %" if base is not None else "—"
        verdict = "met" if share < GOAL_PCT else "MISSED"
        print(f"{name:<8} {share:5.2f} % {shown:>9}  {verdict}")
    return 0 if all(share < GOAL_PCT for _name, share, _load in results) else 1


if __name__ == "__main__":
    sys.exit(main())
