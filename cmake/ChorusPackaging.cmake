# CPack: two Debian packages from `cpack -G DEB` (or the `package` target).
#
#   chorus      the shared libraries and the chorus / chorus-nano tools.
#               Depends are computed by dpkg-shlibdeps from what the ELF
#               files really link (libsodium23, libuv1, zlib1g, ...).
#   chorus-dev  headers, static libraries, CMake package, chorus.pc. Its
#               Depends are the -dev packages ChorusConfig.cmake and the
#               public headers need: those are build-time facts that no tool
#               can read off a binary, so they are listed here, next to
#               find_dependency() in ChorusConfig.cmake.in, which they mirror.
#
# The version is project(VERSION); install rules name their component in
# ChorusInstall.cmake.
set(CPACK_PACKAGE_NAME chorus)
set(CPACK_PACKAGE_VENDOR "Chorus")
set(CPACK_PACKAGE_CONTACT "Chorus maintainers <chorus@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "P2P framework: encrypted overlay, compression, DHT, NANO primitives")
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME chorus)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# Our own libraries link each other; dpkg-shlibdeps finds them in the
# package being built (paths relative to its staging directory).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS usr/${CMAKE_INSTALL_LIBDIR})
# libwebsockets loads its libuv event library as a plugin, which
# dpkg-shlibdeps cannot see.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libwebsockets-evlib-uv")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "Chorus P2P framework: shared libraries and the chorus, chorus-nano tools")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME chorus-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "chorus (= ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}), libspdlog-dev, nlohmann-json3-dev, libsodium-dev, libssl-dev, libuv1-dev, liblmdb-dev, libwebsockets-dev, libcurl4-openssl-dev, libprotobuf-dev, zlib1g-dev, libbz2-dev, liblzma-dev, libsnappy-dev, pkg-config")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
  "Chorus P2P framework: headers, static libraries, CMake package and pkg-config file")

include(CPack)
