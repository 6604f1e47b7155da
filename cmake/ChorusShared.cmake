# Shared twins of the static libraries, for `cmake --install` and the .deb.
#
# chorus_<name>_shared (output libchorus_<name>.so.<version>, soname
# libchorus_<name>.so.<CHORUS_SOVERSION>) is linked from the very objects of
# the static chorus_<name>, so nothing compiles twice; the static libraries
# are built position-independent for that. Dependencies are copied from the
# static target, mapping chorus::<x> to chorus_<x>_shared, so a dependency
# added to a library's CMakeLists.txt reaches its twin without an edit here.
# The soname's version: docs/versioning.md. 0.x: MAJOR.MINOR (every minor
# may break the ABI), from 1.0: MAJOR.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(CHORUS_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(CHORUS_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

function(chorus_map_to_shared out)
  set(mapped)
  foreach(item IN LISTS ARGN)
    if(item MATCHES "^\\$<LINK_ONLY:")
      continue()  # a static library's private dependency: PRIVATE below
    endif()
    # (${CMAKE_MATCH_1} would expand before MATCHES runs: match first.)
    set(twin "")
    if(item MATCHES "^chorus(::|_)(.+)$")
      set(twin chorus_${CMAKE_MATCH_2}_shared)
    endif()
    if(twin AND TARGET ${twin})
      list(APPEND mapped ${twin})
    else()
      list(APPEND mapped "${item}")
    endif()
  endforeach()
  set(${out} "${mapped}" PARENT_SCOPE)
endfunction()

# Libraries in dependency order (a library's twin links its dependencies' twins).
function(chorus_add_shared_twins)
  foreach(lib IN LISTS ARGN)
    set_target_properties(${lib} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    string(REGEX REPLACE "^chorus_" "" name ${lib})
    set(twin ${lib}_shared)
    add_library(${twin} SHARED $<TARGET_OBJECTS:${lib}>)
    get_target_property(all_deps ${lib} LINK_LIBRARIES)
    get_target_property(public_deps ${lib} INTERFACE_LINK_LIBRARIES)
    if(NOT all_deps)
      set(all_deps)
    endif()
    if(NOT public_deps)
      set(public_deps)
    endif()
    chorus_map_to_shared(private_mapped ${all_deps})
    chorus_map_to_shared(public_mapped ${public_deps})
    list(REMOVE_ITEM private_mapped ${public_mapped})
    target_link_libraries(${twin} PUBLIC ${public_mapped} PRIVATE ${private_mapped})
    foreach(prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_FEATURES INTERFACE_COMPILE_DEFINITIONS)
      get_target_property(value ${lib} ${prop})
      if(value)
        set_target_properties(${twin} PROPERTIES ${prop} "${value}")
      endif()
    endforeach()
    # An unresolved symbol is a missing dependency: fail the link, not the
    # user. (Not with sanitizers: clang leaves their runtime to the executable.)
    if(NOT CHORUS_SANITIZE AND NOT CHORUS_FUZZ)
      target_link_options(${twin} PRIVATE -Wl,--no-undefined)
    endif()
    set_target_properties(${twin} PROPERTIES
      OUTPUT_NAME chorus_${name} EXPORT_NAME ${name}
      VERSION ${PROJECT_VERSION} SOVERSION ${CHORUS_SOVERSION}
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
      # Our libraries load each other from their own directory, so an
      # install under any prefix works without LD_LIBRARY_PATH or ldconfig
      # (a program's RUNPATH covers only its direct dependencies).
      INSTALL_RPATH "$ORIGIN")
    add_library(chorus::${name}_shared ALIAS ${twin})
  endforeach()
endfunction()
