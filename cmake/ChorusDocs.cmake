# `docs` target: the API reference (Doxygen) of the public headers and the
# guides in docs/, into BUILD/docs/html. docs/Doxyfile is the one
# configuration (usable without CMake); this only moves the output into the
# build tree. Warnings are errors (WARN_AS_ERROR in docs/Doxyfile).
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(CHORUS_DOXYFILE ${CMAKE_BINARY_DIR}/docs/Doxyfile)
  file(WRITE ${CHORUS_DOXYFILE}
    "@INCLUDE = ${PROJECT_SOURCE_DIR}/docs/Doxyfile\nOUTPUT_DIRECTORY = ${CMAKE_BINARY_DIR}/docs\n")
  add_custom_target(docs
    COMMAND ${DOXYGEN_EXECUTABLE} ${CHORUS_DOXYFILE}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "API reference: ${CMAKE_BINARY_DIR}/docs/html/index.html"
    VERBATIM)
  if(CHORUS_TESTS)
    add_test(NAME docs_build_without_warnings COMMAND ${DOXYGEN_EXECUTABLE} ${CHORUS_DOXYFILE}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(docs_build_without_warnings PROPERTIES TIMEOUT 300)
  endif()
else()
  message(STATUS "doxygen not found: no `docs` target (scripts/deps.sh installs it)")
endif()
