# chorus_public_headers(<target> <header>...): the headers `cmake --install`
# copies for <target>, as paths under the calling directory's include/
# (e.g. chorus/overlay/node.h). Each library lists them next to its
# add_library(); a header in include/ that no list names is internal and is
# not installed. ChorusInstall.cmake installs the lists of the libraries it
# installs (and refuses a list on a library it does not install); the ctest
# `install_public_headers` compares the installed tree with
# tests/install/public_headers.txt and compiles each header against the
# install alone, so a public header that includes an internal one fails.
set_property(GLOBAL PROPERTY CHORUS_PUBLIC_HEADER_TARGETS "")

function(chorus_public_headers target)
  if(NOT TARGET ${target})
    message(FATAL_ERROR "chorus_public_headers: no target ${target}")
  endif()
  set(root ${CMAKE_CURRENT_SOURCE_DIR}/include)
  foreach(header IN LISTS ARGN)
    if(IS_ABSOLUTE "${header}" OR NOT EXISTS "${root}/${header}")
      message(FATAL_ERROR "chorus_public_headers(${target}): no ${root}/${header}")
    endif()
  endforeach()
  set_property(TARGET ${target} PROPERTY CHORUS_PUBLIC_HEADER_ROOT "${root}")
  set_property(TARGET ${target} APPEND PROPERTY CHORUS_PUBLIC_HEADERS ${ARGN})
  set_property(GLOBAL APPEND PROPERTY CHORUS_PUBLIC_HEADER_TARGETS ${target})
endfunction()
