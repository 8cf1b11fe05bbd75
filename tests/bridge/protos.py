"""Compile test protos at test time and load their services from a fresh descriptor pool."""

from __future__ import annotations

from pathlib import Path

import google.api
import grpc_tools
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor
from grpc_tools import protoc

GOOGLE_API_ROOT = Path(next(iter(google.api.__path__))).parent.parent
WKT_ROOT = Path(next(iter(grpc_tools.__path__))) / "_proto"


def compile_services(folder: Path, source: str, name: str = "test.proto") -> list[ServiceDescriptor]:
    """Write `source` to folder/name, compile it with protoc, and return its services."""
    (folder / name).write_text(source)
    out = folder / f"{name}.binpb"
    args = [
        "protoc",
        f"-I{folder}",
        f"-I{GOOGLE_API_ROOT}",
        f"-I{WKT_ROOT}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out}",
        name,
    ]
    if protoc.main(args) != 0:
        raise AssertionError(f"protoc failed on {name}")
    pool = descriptor_pool.DescriptorPool()
    file_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    for file in file_set.file:
        pool.Add(file)
    package = file_set.file[-1].package
    return [pool.FindServiceByName(f"{package}.{s.name}") for s in file_set.file[-1].service]
