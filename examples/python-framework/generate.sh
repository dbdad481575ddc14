#!/usr/bin/env bash
# Generates the Python modules of dcos-node's protocol from the repository's proto/ into
# OUT (default ./gen): dcos/v1/<file>_pb2.py (messages) and <file>_pb2_grpc.py (service
# stubs). Uses Debian's protoc (protobuf-compiler) and grpc_python_plugin
# (protobuf-compiler-grpc): python3-grpc-tools in Debian 12 bundles protoc 3.6, which
# cannot read proto3 `optional` fields.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
out="${1:-$here/gen}"
for tool in protoc grpc_python_plugin; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "generate.sh: $tool is missing; install it with: sudo apt-get install -y protobuf-compiler protobuf-compiler-grpc python3-grpcio" >&2
    exit 1
  fi
done
mkdir -p "$out"
protoc -I"$proto" --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  "$proto"/dcos/v1/*.proto
echo "Generated the dcos.v1 Python modules in $out" >&2
