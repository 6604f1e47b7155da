# Every external library comes from a Debian package (scripts/deps.sh).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
find_package(spdlog REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(Threads REQUIRED)
# The NANO ledger store (nano_app/): Debian's liblmdb.
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
# HTTP and WebSocket servers on the libuv loop (web/): libwebsockets, whose
# libuv event library is a plugin it loads at run time.
pkg_check_modules(LWS REQUIRED IMPORTED_TARGET libwebsockets)
# The relay's PBKDF2 (OpenSSL's libcrypto, Debian's libssl-dev).
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
# Scenario files of `chorus swarm --scenario` (swarm/): toml++ (used header-only).
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)

# The NANO node's IPC (spec/ipc.md): protobuf 3, Debian's libprotobuf and
# protoc (C++ generated at build time; Python for the client test).
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf)
find_program(CHORUS_PROTOC protoc REQUIRED)

# Compression codecs (compression/): zlib, libbz2, liblzma, snappy.
find_package(ZLIB REQUIRED)
find_package(BZip2 REQUIRED)
pkg_check_modules(LZMA REQUIRED IMPORTED_TARGET liblzma)
# Debian's libsnappy-dev ships SnappyConfig.cmake; fall back to a plain
# library + header lookup where it does not.
find_package(Snappy CONFIG QUIET)
if(NOT TARGET Snappy::snappy)
  find_library(SNAPPY_LIBRARY snappy REQUIRED)
  find_path(SNAPPY_INCLUDE_DIR snappy.h REQUIRED)
  add_library(Snappy::snappy UNKNOWN IMPORTED)
  set_target_properties(Snappy::snappy PROPERTIES
    IMPORTED_LOCATION "${SNAPPY_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${SNAPPY_INCLUDE_DIR}")
endif()
# An HTTP client: `chorus-nano devnet` asks its nodes' RPC, tests ask servers.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
if(CHORUS_TESTS)
  find_package(GTest REQUIRED)
endif()
if(CHORUS_BENCH)
  find_package(benchmark REQUIRED)
endif()
