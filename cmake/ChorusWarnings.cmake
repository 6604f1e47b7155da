# Warning flags for every Chorus target. CI turns them into errors (CHORUS_WERROR).
add_library(chorus_warnings INTERFACE)
target_compile_options(chorus_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough
  $<$<BOOL:${CHORUS_WERROR}>:-Werror>)
