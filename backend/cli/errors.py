"""How every command turns a known failure into one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from backend.core.db import DatabaseError
from backend.core.secrets import SecretFileError
from backend.settings import SettingsError, ensure_dirs, load_settings

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# A wrong setting, database or secret file is the operator's to fix, not a bug: no traceback.
KNOWN_FAILURES = (SettingsError, SecretFileError, DatabaseError)


def fail(message: object, code: int = EXIT_USAGE) -> int:
    """Print `hashinsight: <message>` on stderr and give the exit code to return."""
    print(f"hashinsight: {message}", file=sys.stderr)
    return code


def guarded(action: Callable[[], int]) -> int:
    """Run a command's work; a known failure or Ctrl+C becomes its exit code."""
    try:
        return action()
    except KNOWN_FAILURES as exc:
        return fail(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def with_settings(*, dirs: bool = True) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Load the settings once the arguments are parsed (and, with `dirs`, create the data and
    config directories) and pass them first to the command; failures go through `guarded`."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(command)
        def run(**options: Any) -> int:
            def work() -> int:
                settings = load_settings()
                if dirs:
                    ensure_dirs(settings)
                return command(settings, **options)

            return guarded(work)

        return run

    return decorate


def one_of(*names: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Exactly one of these options (python names, e.g. "shard", "site") must be given: a usage
    error before any setting is read, as for any other malformed command line."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(command)
        def run(**options: Any) -> int:
            flags = [f"--{name.replace('_', '-')}" for name in names]
            given = [
                flag for name, flag in zip(names, flags, strict=True) if options[name] is not None
            ]
            ctx = click.get_current_context()
            if not given:
                raise click.UsageError(f"one of the options {' '.join(flags)} is required", ctx)
            if len(given) > 1:
                raise click.UsageError(f"option {given[1]}: not allowed with {given[0]}", ctx)
            return command(**options)

        return run

    return decorate
