#!/usr/bin/env bash
# Installs every Debian package Tern needs to build, test, demo and benchmark.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PKGS=(
  # toolchain (ccache: rebuilds and CI reuse object files, cmake/ccache in CMakeLists.txt)
  build-essential cmake ninja-build pkg-config git ccache
  # core libraries
  libasio-dev libmsgpack-cxx-dev nlohmann-json3-dev libcli11-dev libxxhash-dev
  libfmt-dev libzstd-dev liblz4-dev libssl-dev
  # HTTP/2 for the gRPC-compatible codec (src/protocol/http2)
  libnghttp2-dev
  # configuration files (tern::Config, `tern --config`)
  libyaml-cpp-dev
  # protobuf (serialization, protoc plugin)
  libprotobuf-dev libprotoc-dev protobuf-compiler
  # registries: ZooKeeper C client + server, etcd server + client, HTTP client for etcd's JSON gateway
  libzookeeper-mt-dev zookeeper etcd-server etcd-client libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libgrpc++-dev protobuf-compiler-grpc
  # gRPC interop peers the tests start: gRPC C++ (above) and grpc-go
  golang-go golang-google-grpc-dev
  # fuzzing (libFuzzer ships with clang's runtime libraries)
  clang libclang-rt-14-dev
  # misc tools used by tests
  procps iproute2 openssl
  # headless browser for the monitor dashboard test (tests/monitor)
  chromium
  # promtool, which tests/monitor runs on a live /metrics scrape (`promtool check metrics`)
  prometheus
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
