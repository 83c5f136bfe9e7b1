"""The `hashinsight` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from backend.core.db import DatabaseError
from backend.core.secrets import SecretFileError
from backend.core.settings import Settings, SettingsError, ensure_dirs, load_settings

if TYPE_CHECKING:
    from backend.core.db import Database
    from backend.fleet.shard import FleetRole

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashinsight",
        description="HashInsight: operator console and backend for Bitcoin mining sites.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = sub.add_parser("console", help="open the console (the default command)")
    console.add_argument("--url", help="URL of a running backend to attach to")
    console.add_argument("--screen", default="health", help="screen to open first")

    serve = sub.add_parser("serve", help="run the backend headless (API, pollers, issuer)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8765)")
    serve.add_argument(
        "--no-collect",
        action="store_true",
        help="poll no miners: API and console only, the fleet read from the shared database "
        "and kept live from the collectors' events (needs DATABASE_URL; REDIS_URL for live)",
    )

    collector = sub.add_parser(
        "collector", help="poll one shard of the fleet into the shared database (no API)"
    )
    part = collector.add_mutually_exclusive_group(required=True)
    part.add_argument("--shard", metavar="I/N", help="shard I of N (by a hash of the miner id)")
    part.add_argument("--site", metavar="NAME", help="the miners labelled with this site")
    collector.add_argument(
        "--adopt-stale",
        action="store_true",
        help="also poll shards of the same split whose collector stopped (via their lease)",
    )
    collector.add_argument(
        "--adopt-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how old a shard's heartbeat must be to adopt it (default: 2x the stale age)",
    )

    demo = sub.add_parser("demo", help="the whole product offline, against local simulators")
    demo.add_argument("--headless", action="store_true", help="no console: print URL and key")
    demo.add_argument("--port", type=int, default=0, help="API port (default: any free port)")
    demo.add_argument("--screen", default="health", help="screen to open first")

    config = sub.add_parser("config", help="settings")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    config_sub.add_parser("show", help="print the effective settings, secrets masked")

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations")

    keys = sub.add_parser("keys", help="API keys on the local database")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = keys_sub.add_parser("create", help="create a key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--owner", choices=["operator", "partner"], default="operator")
    create.add_argument("--partner-id", default=None)
    create.add_argument(
        "--scopes",
        default=None,
        help="comma-separated scopes (default: all for operators, read,stream for partners)",
    )
    create.add_argument("--tier", choices=["basic", "pro", "enterprise", "operator"], default=None)
    create.add_argument("--mode", choices=["auto", "semi_auto"], default="auto")
    create.add_argument("--expires-days", type=float, default=None)
    list_keys = keys_sub.add_parser("list", help="list keys")
    list_keys.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    rotate = keys_sub.add_parser(
        "rotate-secrets",
        help="new pepper and/or Fernet key; every key keeps working (backend stopped)",
    )
    rotate.add_argument("--pepper", action="store_true", help="rotate the API-key pepper")
    rotate.add_argument("--fernet", action="store_true", help="rotate the Fernet key")

    shots = sub.add_parser("screenshots", help="write an SVG of every screen from a demo run")
    shots.add_argument("--out", type=Path, default=Path("screenshots"))

    notary = sub.add_parser("notary", help="notarized reports")  # notary & wallet
    notary_sub = notary.add_subparsers(dest="notary_command", metavar="ACTION", required=True)
    verify = notary_sub.add_parser("verify", help="verify a notarization, step by step")
    verify.add_argument("notarization_id", type=int, metavar="ID")
    verify.add_argument("--url", help="URL of a running backend to ask")
    notary_sub.add_parser(
        "rotate-key", help="a new notary signing key from the next start (backend stopped)"
    )

    fleet = sub.add_parser(
        "fleet", help="miner inventory: import labels, discover miners, control credentials"
    )
    fleet_sub = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    import_csv = fleet_sub.add_parser("import-csv", help="site/rack/position labels from a CSV")
    import_csv.add_argument("file", type=Path, help="columns: address,site,rack,position[,name]")
    scan = fleet_sub.add_parser("scan", help="find CGMiner APIs in address ranges")
    scan.add_argument("targets", nargs="+", metavar="CIDR", help="e.g. 10.0.1.0/24 10.0.2.7")
    scan.add_argument("--port", type=int, default=4028, help="API port (default 4028)")
    scan.add_argument("--add", action="store_true", help="add what answers to the inventory")
    creds = fleet_sub.add_parser("credentials", help="control credentials per site or miner")
    creds_sub = creds.add_subparsers(dest="credentials_command", metavar="ACTION", required=True)
    creds_set = creds_sub.add_parser("set", help="store (the password is asked for, or stdin)")
    creds_remove = creds_sub.add_parser("remove", help="remove; the factory default applies")
    creds_sub.add_parser("list", help="stored credentials, masked, and the defaults")
    for creds_parser in (creds_set, creds_remove):
        where = creds_parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--site", help="every miner of this site")
        where.add_argument("--miner", help="one miner (its id)")
        creds_parser.add_argument(
            "--kind", required=True, choices=("web", "luxos", "whatsminer", "braiins", "vnish")
        )
    creds_set.add_argument("--user", help="login name (web: root by default)")
    creds_set.add_argument("--port", type=int, help="the access's port (web: 80 by default)")
    creds_set.add_argument(
        "--no-password", action="store_true", help="store only the user and/or port"
    )

    sim = sub.add_parser("sim", help="run the simulators alone and print their addresses")
    sim.add_argument("--miners", type=int, default=50, help="simulated miners")

    signer = sub.add_parser("signer", help="run the ndau signing service (dials the issuer)")
    signer.add_argument("-c", "--config", type=Path, required=True, help="path of signer.toml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return _dispatch(args, settings)
    except (SettingsError, SecretFileError, DatabaseError) as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _fleet_credentials(settings: Settings, args: argparse.Namespace) -> int:
    """`hashinsight fleet credentials set|list|remove` (backend/fleet/admin.py does the work)."""
    from backend.fleet import admin

    if args.credentials_command == "list":
        return asyncio.run(admin.credentials_list(settings))
    scope, target = ("site", args.site) if args.site else ("miner", args.miner)
    if args.credentials_command == "remove":
        return asyncio.run(
            admin.credentials_remove(settings, scope=scope, target=target, kind=args.kind)
        )
    password = None if args.no_password else admin.read_password()
    return asyncio.run(
        admin.credentials_set(
            settings,
            scope=scope,
            target=target,
            kind=args.kind,
            user=args.user,
            port=args.port,
            password=password,
        )
    )


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command or "console"
    if command == "config":
        return _config_show(settings)
    if command == "sim":
        return asyncio.run(_run_sims(args.miners))
    if command == "signer":
        from backend.signer.main import run as run_signer

        return run_signer(args.config, log_level=settings.log_level)
    ensure_dirs(settings)
    if command == "fleet":  # fleet
        from backend.fleet import admin

        if args.fleet_command == "import-csv":
            return asyncio.run(admin.import_csv(settings, args.file))
        if args.fleet_command == "credentials":
            return _fleet_credentials(settings, args)
        return asyncio.run(admin.scan_network(settings, args.targets, args.port, args.add))
    if command == "console":
        return _console(settings, url=args.url if args.command else None, screen=_screen(args))
    if command == "serve":
        return _serve(settings, args.host, args.port, no_collect=args.no_collect)
    if command == "collector":
        return _collector(settings, args)
    if command == "demo":
        return _demo(settings, headless=args.headless, port=args.port, screen=args.screen)
    if command == "db":
        return asyncio.run(_db_upgrade(settings))
    if command == "keys" and args.keys_command == "rotate-secrets":
        from backend.auth.rotate import run as rotate_secrets

        return rotate_secrets(settings, pepper=args.pepper, fernet=args.fernet)
    if command == "keys":
        return asyncio.run(_keys(settings, args))
    if command == "notary" and args.notary_command == "rotate-key":
        return asyncio.run(_rotate_notary_key(settings))
    if command == "notary":  # notary & wallet
        from hashinsight_tui.widgets.notary_checks import verify_command

        return verify_command(settings, args.notarization_id, args.url)
    if command == "screenshots":
        from hashinsight_tui.screenshots import write_screenshots

        for path in asyncio.run(write_screenshots(settings, args.out)):
            print(path)
        return 0
    raise SettingsError(f"unknown command {command}")


def _screen(args: argparse.Namespace) -> str:
    return getattr(args, "screen", None) or "health"


def _config_show(settings: Settings) -> int:
    import json

    print(json.dumps(settings.masked(), indent=2, sort_keys=True, default=str, ensure_ascii=False))
    return 0


def _run_console(settings: Settings, target: object, screen: str) -> int:
    from backend.core.logging import setup_logging
    from hashinsight_tui.app import HashInsightApp
    from hashinsight_tui.launcher import Target, console_options, log_file

    assert isinstance(target, Target)
    setup_logging(settings.log_level, log_file(settings), to_stderr=False)
    app = HashInsightApp(console_options(settings, target, screen))
    try:
        app.run()
    finally:
        if target.embedded is not None:
            target.embedded.stop()
    return app.return_code or 0


def _need_terminal() -> None:
    """The console draws on a terminal and reads its keys: without one it would spin on end of
    input and ignore signals, so refuse at once (scripts use the API or `serve`)."""
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        if stream is None or not stream.isatty():
            raise SettingsError(
                f"console: standard {name} is not a terminal; run it in a terminal "
                "(scripts: use the API, or `hashinsight serve` / `demo --headless`)"
            )


def _console(settings: Settings, url: str | None, screen: str) -> int:
    from hashinsight_tui.launcher import check_console_settings, resolve_target

    check_console_settings(settings)
    _need_terminal()
    return _run_console(settings, resolve_target(settings, url), screen)


def _demo(settings: Settings, *, headless: bool, port: int, screen: str) -> int:
    from hashinsight_tui.launcher import demo_settings, remove_demo_dir, start_embedded

    if not headless:
        _need_terminal()
    demo = demo_settings(settings, port)
    try:
        if not headless:
            return _run_console(demo, start_embedded(demo, mode="demo"), screen)
        return asyncio.run(_serve_backend(demo, mode="demo"))
    finally:
        remove_demo_dir(demo)


def _serve(settings: Settings, host: str | None, port: int | None, *, no_collect: bool) -> int:
    from backend.fleet.shard import FleetRole

    updates = {k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}
    role = FleetRole(collect=not no_collect)
    return asyncio.run(_serve_backend(settings.model_copy(update=updates), "serve", role))


def _collector(settings: Settings, args: argparse.Namespace) -> int:
    from backend.fleet.shard import FleetRole, parse_shard, site_shard

    try:
        shard = site_shard(args.site) if args.site is not None else parse_shard(args.shard)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if args.adopt_after is not None and args.adopt_after <= 0:
        raise SettingsError("--adopt-after must be a positive number of seconds")
    role = FleetRole(shard=shard, adopt=args.adopt_stale, adopt_after_s=args.adopt_after)
    return asyncio.run(_serve_backend(settings, "collector", role))


async def _serve_backend(settings: Settings, mode: str, role: FleetRole | None = None) -> int:
    """Run a backend on this loop until SIGINT/SIGTERM; print URL and keys first."""
    from backend.core.logging import setup_logging
    from backend.runtime import Backend

    setup_logging(settings.log_level, None, to_stderr=True)
    backend = Backend(settings, mode=mode, fleet_role=role)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, backend.request_stop)
    try:
        await backend.start()
        if mode == "collector":
            assert role is not None and role.shard is not None
            print(f"HashInsight collector: shard {role.shard.key}", flush=True)
            print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
            await backend.wait_stopped()
            return 0
        print(f"HashInsight API: {backend.url}", flush=True)
        if mode == "demo":
            print(f"Operator key: {backend.initial_operator_key}", flush=True)
        elif backend.initial_operator_key:
            print(
                f"Initial operator key (shown once, store it now): {backend.initial_operator_key}",
                flush=True,
            )
        # Only once it is out: a start killed before this line shows the same key next time.
        await backend.initial_key_shown()
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        await backend.wait_stopped()
    except (OSError, DatabaseError) as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if hasattr(backend, "db"):
            await backend.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await _let_cleanups_finish(settings.shutdown_timeout_s)
    return 0


async def _let_cleanups_finish(grace_s: float) -> None:
    """A stop step abandoned on a loaded host may leave a rollback or close still running; the
    loop's teardown would cancel it half-way (a traceback from the connection pool). This
    process's loop is ours alone: give what is left a bounded grace to end on its own."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if left:
        await asyncio.wait(left, timeout=grace_s)


async def _db_upgrade(settings: Settings) -> int:
    from backend.core.db import Database

    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    print("database is at the latest schema")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from backend.auth.scopes import OPERATOR_SCOPES, READ_ONLY_SCOPES
    from backend.auth.service import AuthService, KeyRequestError
    from backend.core.db import Database
    from backend.core.secrets import load_backend_secrets

    db = Database(settings.effective_database_url)
    try:
        await db.upgrade()
        auth = AuthService(db, load_backend_secrets(settings))
        if args.keys_command == "create":
            default_scopes = OPERATOR_SCOPES if args.owner == "operator" else READ_ONLY_SCOPES
            tier = args.tier or ("operator" if args.owner == "operator" else "basic")
            try:
                info, full_key = await auth.create_key(
                    name=args.name,
                    owner_type=args.owner,
                    owner_id=args.partner_id,
                    scopes=args.scopes or default_scopes,
                    tier=tier,
                    mode=args.mode,
                    expires_in=timedelta(days=args.expires_days) if args.expires_days else None,
                    actor="cli",
                )
            except KeyRequestError as exc:
                print(f"hashinsight: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"key id:  {info.key_id}")
            print(f"scopes:  {' '.join(info.scopes)}")
            print(f"API key (shown once): {full_key}")
            return 0
        if args.keys_command == "list":
            rows = await auth.list_keys(include_revoked=args.all)
            print(f"{'KEY ID':<14}{'NAME':<24}{'OWNER':<10}{'MODE':<10}{'EXPIRES':<22}SCOPES")
            for key in rows:
                expires = key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "never"
                state = " (revoked)" if key.revoked_at else ""
                print(
                    f"{key.key_id:<14}{key.name[:23]:<24}{key.owner_type:<10}{key.mode:<10}"
                    f"{expires:<22}{' '.join(key.scopes)}{state}"
                )
            return 0
        return await _revoke_key(settings, db, args.key_id)
    finally:
        await db.close()


async def _revoke_key(settings: Settings, db: Database, key_id: str) -> int:
    """Revoke in the database and, with `REDIS_URL`, tell every running instance at once (the
    same `auth.keys` event the API's revoke publishes), so none accepts the key from its cache."""
    from backend.auth.service import AuthService
    from backend.core.redis_bridge import bus_to_instances
    from backend.core.secrets import load_backend_secrets

    async with bus_to_instances(settings.redis_url) as bus:
        auth = AuthService(db, load_backend_secrets(settings), bus=bus)
        if not await auth.revoke(key_id, actor="cli"):
            print(f"hashinsight: no active key with id {key_id}", file=sys.stderr)
            return 1
    print(f"revoked {key_id}")
    if settings.redis_url and bus is None:
        print(
            "hashinsight: Redis unreachable: running instances may accept the key for up to "
            "one more minute (their key cache lifetime)",
            file=sys.stderr,
        )
    return 0


async def _rotate_notary_key(settings: Settings) -> int:
    from backend.notary.rotate import rotate_notary_key
    from backend.notary.signing import NotaryKeyError

    try:
        rotation = await rotate_notary_key(settings)
    except NotaryKeyError as exc:
        print(f"hashinsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if rotation.old_address:
        print(f"old notary address: {rotation.old_address} (key kept as {rotation.kept_as})")
    print(f"new notary address: {rotation.new_address}")
    print("fund the new address on the anchor chain, then start the backend")
    return 0


async def _run_sims(miners: int) -> int:
    from backend.sim.world import SimWorld

    world = SimWorld(miners=miners)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with world:
        for line in world.describe():
            print(line, flush=True)
        print("Press Ctrl+C to stop.", file=sys.stderr, flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
