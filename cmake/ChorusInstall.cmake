# `cmake --install`: headers, the static libraries, the executables, CMake
# package files (find_package(Chorus CONFIG) -> Chorus::overlay, ...) and
# chorus.pc. Static libraries carry their private dependencies in the link
# interface, so ChorusConfig.cmake re-finds every one of them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CHORUS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Chorus)

# Chorus::<name> for each chorus_<name> library.
set(_chorus_libs chorus_base chorus_compression chorus_overlay chorus_overlay_node chorus_dht chorus_dht_node chorus_nano chorus_swarm)
foreach(lib IN LISTS _chorus_libs)
  string(REGEX REPLACE "^chorus_" "" name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${name})
endforeach()

install(TARGETS ${_chorus_libs} EXPORT ChorusTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS chorus chorus-nano RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

foreach(module base compression overlay dht nano_app swarm)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
endforeach()

install(EXPORT ChorusTargets NAMESPACE Chorus:: FILE ChorusTargets.cmake
  DESTINATION ${CHORUS_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ChorusConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ChorusConfig.cmake INSTALL_DESTINATION ${CHORUS_INSTALL_CMAKEDIR})
# 0.x: no compatibility promised between minor versions yet.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ChorusConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ChorusConfig.cmake ${CMAKE_BINARY_DIR}/ChorusConfigVersion.cmake
  DESTINATION ${CHORUS_INSTALL_CMAKEDIR})

# pkg-config. The prefix is found from the .pc file's own place, so
# `cmake --install --prefix DIR` (and a relocated tree) gets the right paths.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  message(FATAL_ERROR "chorus.pc expects CMAKE_INSTALL_LIBDIR/INCLUDEDIR relative to the prefix")
endif()
file(RELATIVE_PATH CHORUS_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" CHORUS_PC_TO_PREFIX "${CHORUS_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/chorus.pc.in ${CMAKE_BINARY_DIR}/chorus.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/chorus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
