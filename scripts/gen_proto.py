"""Generate the Python code for proto/ into llmgw/v1/, or check it is current.

The google/api protos come from the installed googleapis-common-protos package and
the well-known types from grpcio-tools, so nothing third-party is copied into the
repository by hand. Usage: `python scripts/gen_proto.py [--check | --deps]`.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

import google.api
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEPS_DIR = ROOT / "build" / "proto-deps"
OUT_PACKAGE = Path("llmgw") / "v1"
GOOGLE_API_FILES = ("annotations.proto", "http.proto", "httpbody.proto")


def copy_google_api_protos() -> None:
    """Put google/api/*.proto where buf and protoc find them (build/, not committed)."""
    target = DEPS_DIR / "google" / "api"
    target.mkdir(parents=True, exist_ok=True)
    source = Path(next(iter(google.api.__path__)))
    for name in GOOGLE_API_FILES:
        shutil.copyfile(source / name, target / name)


def generate(out_root: Path) -> None:
    """Run protoc with the python, grpc and mypy plugins into out_root/llmgw/v1."""
    wkt = Path(next(iter(grpc_tools.__path__))) / "_proto"
    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{DEPS_DIR}",
        f"-I{wkt}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out=quiet:{out_root}",
        f"--mypy_grpc_out=quiet:{out_root}",
        # The HTTP bridge reads proto comments (source info) from this set for /openapi.json.
        f"--descriptor_set_out={out_root / OUT_PACKAGE / 'descriptors.binpb'}",
        "--include_source_info",
        "--include_imports",
        *sources,
    ]
    # The mypy plugins live beside this interpreter; protoc finds plugins on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (out_root / OUT_PACKAGE / "__init__.py").write_text('"""Generated from proto/llmgw/v1; do not edit."""\n')


def check() -> int:
    """Regenerate into a temporary folder and compare with what is committed."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / OUT_PACKAGE
        committed = ROOT / OUT_PACKAGE
        fresh_names = {p.name for p in fresh.iterdir() if p.is_file()}
        committed_names = {p.name for p in committed.iterdir() if p.is_file()}
        differing = sorted(
            (fresh_names ^ committed_names)
            | {n for n in fresh_names & committed_names if not filecmp.cmp(fresh / n, committed / n, shallow=False)}
        )
    if differing:
        print(f"generated code is stale, run scripts/gen_proto.py: {', '.join(differing)}", file=sys.stderr)
        return 1
    print("generated code is current")
    return 0


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if llmgw/v1 differs from a fresh generation")
    parser.add_argument("--deps", action="store_true", help="only put the google/api protos where buf finds them")
    args = parser.parse_args()
    copy_google_api_protos()
    if args.deps:
        return 0
    if args.check:
        return check()
    shutil.rmtree(ROOT / OUT_PACKAGE, ignore_errors=True)
    generate(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
