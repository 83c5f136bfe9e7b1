"""HashInsight backend: one asyncio process owning pollers, issuer, database and API."""

import contextlib

from backend.core.untrusted import pin_recursion_limit

# py_ecc sets the recursion limit to 100,000 when first imported (by web3 and eth-tester).
# With that limit, C code that recurses (json, pydantic) overflows the C stack on a deeply nested
# document and the process dies with SIGSEGV; at the default it raises RecursionError instead.
# Importing it first, once, and pinning the limit afterwards settles it for the process.
with contextlib.suppress(ImportError):
    import py_ecc  # noqa: F401

__version__ = "0.1.0"

pin_recursion_limit()
