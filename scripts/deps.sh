#!/usr/bin/env bash
# Installs every Debian package Chorus needs to build, test and run its demo.
# Idempotent: packages already present are left alone. Uses sudo when not root.
#   scripts/deps.sh           # build, test, demo
#   scripts/deps.sh --bench   # and what bench/ compares against (OpenDHT)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang clang-format
  libclang-rt-dev  # libFuzzer and the sanitizer runtimes for clang (only Recommended by clang)
  libuv1-dev libsodium-dev
  liblmdb-dev  # the NANO ledger store
  libprotobuf-dev protobuf-compiler python3-protobuf  # the NANO node's IPC (spec/ipc.proto)
  libwebsockets-dev libwebsockets-evlib-uv  # HTTP/WebSocket servers on the loop (web/)
  libcurl4-openssl-dev curl  # HTTP client: chorus-nano devnet, and tests
  libssl-dev openssl  # libcrypto: link frame AEAD, PBKDF2 for relay passwords; TLS certificates in tests
  python3-prometheus-client  # an independent parser for the metrics scrape test
  iproute2  # network namespaces and veth links for scripts/faults.sh
  nodejs  # tests with existing NANO clients from npm (tests/nano/js)
  chromium  # headless browser for the relay chat page test, driven by playwright-core
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libtomlplusplus-dev  # swarm scenario files (TOML)
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libbz2-dev liblzma-dev libsnappy-dev
  gzip bzip2 xz-utils
  procps util-linux  # pgrep; unshare for the time-namespace test
  doxygen
)
# Peers the benchmarks measure against; the tests never need them.
if [ "${1:-}" = --bench ]; then
  PACKAGES+=(python3-opendht)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm comes with some nodejs builds and is a package of its own in Debian's:
# ask for it only when the command is missing.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
