# ASan + UBSan for the whole build when CHORUS_SANITIZE is on. Any UBSan
# report aborts (no recover), so a test that trips one fails.
if(CHORUS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer builds (clang): coverage, ASan and UBSan for every target, so the
# fuzzers in tests/fuzz see into Chorus code and undefined behaviour is a
# crash; only the fuzzers link the fuzzer main (chorus_fuzz_target()).
if(CHORUS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CHORUS_FUZZ needs clang (libFuzzer): CC=clang CXX=clang++ cmake ...")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
