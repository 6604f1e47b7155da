# ASan + UBSan for the whole build when CHORUS_SANITIZE is on.
if(CHORUS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer builds (clang): coverage and ASan for every target, so the fuzzers
# in tests/fuzz see into Chorus code; only those link the fuzzer main.
if(CHORUS_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address)
endif()
