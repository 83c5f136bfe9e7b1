"""Regenerate the Python modules of Braiins OS's gRPC API subset from its .proto.

    pip install grpcio-tools && python scripts/gen_bos_api.py

The generated ``bos_v1_pb2.py`` / ``bos_v1_pb2_grpc.py`` are committed, so neither running the
product nor its tests needs grpcio-tools. Paths are given from the repository root so the
generated modules import each other as ``backend.fleet.drivers.bos_api...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = "backend/fleet/drivers/bos_api/bos_v1.proto"


def main() -> int:
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        print("grpcio-tools is needed: pip install grpcio-tools", file=sys.stderr)
        return 2
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{well_known}",
            f"--python_out={ROOT}",
            f"--pyi_out={ROOT}",
            f"--grpc_python_out={ROOT}",
            str(ROOT / PROTO),
        ]
    )
    if code != 0:
        print(f"protoc failed ({code})", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
