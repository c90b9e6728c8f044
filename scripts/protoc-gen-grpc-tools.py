"""A protoc plugin that runs one of the generators compiled into grpcio-tools.

buf calls it with a CodeGeneratorRequest; the parameter names the generator:
`python` (messages), `pyi` (their type stubs) or `grpc_python` (grpcio stubs).
grpc_python exists only inside grpc_tools' protoc, never as a standalone
protoc-gen-* binary, and running all three through the same pinned wheel keeps
the Python output identical on every machine (see scripts/generate-clients.sh).
"""

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc

GENERATORS = {"python", "pyi", "grpc_python"}


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    generator = request.parameter
    if generator not in GENERATORS:
        response.error = f"parameter must be one of {sorted(GENERATORS)}, got {generator!r}"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = pathlib.Path(tmp)
            # proto_file holds every file to generate and all it imports, dependencies first,
            # which is exactly what --descriptor_set_in needs: no .proto sources are read again.
            descriptors = work / "descriptors.binpb"
            descriptors.write_bytes(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
            out = work / "out"
            out.mkdir()
            args = ["protoc", f"--descriptor_set_in={descriptors}", f"--{generator}_out={out}", *request.file_to_generate]
            if protoc.main(args) != 0:
                response.error = f"grpc_tools.protoc --{generator}_out failed (its message is above)"
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
