# `cmake --install`: the public headers, the libraries (static, and shared when
# CHORUS_SHARED_LIBS is on), the executables, CMake package files
# (find_package(Chorus CONFIG) -> Chorus::overlay, ...) and chorus.pc.
# Static libraries carry their private dependencies in the link interface,
# so ChorusConfig.cmake re-finds every one of them.
#
# Versions: project(VERSION) in the top-level CMakeLists.txt is the only
# place; the soname follows docs/versioning.md (0.x: major.minor, then major).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CHORUS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Chorus)

set(_chorus_compiled chorus_compression chorus_overlay chorus_overlay_node chorus_dht chorus_dht_node chorus_web chorus_metrics chorus_nano chorus_nano_node chorus_swarm)

# Chorus::<name> for each chorus_<name> library: the shared one when
# CHORUS_SHARED_LIBS is on (then the static one is Chorus::<name>_static),
# else the static one. In the tree, chorus::<name> stays static.
set(_chorus_libs chorus_base)
if(CHORUS_SHARED_LIBS)
  foreach(lib IN LISTS _chorus_compiled)
    string(REGEX REPLACE "^chorus_" "" name ${lib})
    set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name}_static)
  endforeach()
  chorus_add_shared_twins(${_chorus_compiled})
  foreach(lib IN LISTS _chorus_compiled)
    list(APPEND _chorus_libs ${lib} ${lib}_shared)
  endforeach()
else()
  foreach(lib IN LISTS _chorus_compiled)
    string(REGEX REPLACE "^chorus_" "" name ${lib})
    set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name})
    list(APPEND _chorus_libs ${lib})
  endforeach()
endif()
set_target_properties(chorus_base PROPERTIES EXPORT_NAME base)

# Components (the .deb packages of ChorusPackaging.cmake): `runtime` is what
# a program needs to run, `development` what it needs to be built.
install(TARGETS ${_chorus_libs} EXPORT ChorusTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS chorus chorus-nano chorus-relay RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

# Headers: only the public ones each library lists with chorus_public_headers()
# (cmake/ChorusPublicHeaders.cmake), never a whole include directory.
get_property(_chorus_header_targets GLOBAL PROPERTY CHORUS_PUBLIC_HEADER_TARGETS)
foreach(lib IN LISTS _chorus_header_targets)
  if(NOT lib IN_LIST _chorus_libs)
    message(FATAL_ERROR "${lib} lists public headers but is not installed")
  endif()
  get_target_property(root ${lib} CHORUS_PUBLIC_HEADER_ROOT)
  get_target_property(headers ${lib} CHORUS_PUBLIC_HEADERS)
  foreach(header IN LISTS headers)
    get_filename_component(dir ${header} DIRECTORY)
    install(FILES ${root}/${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${dir}
      COMPONENT development)
  endforeach()
endforeach()

install(EXPORT ChorusTargets NAMESPACE Chorus:: FILE ChorusTargets.cmake
  DESTINATION ${CHORUS_INSTALL_CMAKEDIR} COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ChorusConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ChorusConfig.cmake INSTALL_DESTINATION ${CHORUS_INSTALL_CMAKEDIR})
# 0.x: no compatibility promised between minor versions yet.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ChorusConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ChorusConfig.cmake ${CMAKE_BINARY_DIR}/ChorusConfigVersion.cmake
  DESTINATION ${CHORUS_INSTALL_CMAKEDIR} COMPONENT development)

# pkg-config. The prefix is found from the .pc file's own place, so
# `cmake --install --prefix DIR` (and a relocated tree) gets the right paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  message(FATAL_ERROR "chorus.pc expects CMAKE_INSTALL_LIBDIR/INCLUDEDIR relative to the prefix")
endif()
file(RELATIVE_PATH CHORUS_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" CHORUS_PC_TO_PREFIX "${CHORUS_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/chorus.pc.in ${CMAKE_BINARY_DIR}/chorus.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/chorus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT development)
