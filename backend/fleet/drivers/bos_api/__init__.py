"""Braiins OS public gRPC API (braiins.bos.v1): our .proto subset and its generated modules."""

import os

# gRPC's C core logs to stderr, which the console's terminal shares: errors only, and read when
# the first channel or server starts (after this package is imported by its users).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
