# GK_SANITIZE=address,undefined | thread: applied to every target (make asan / make tsan).
if(GK_SANITIZE)
  add_compile_options(-fsanitize=${GK_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${GK_SANITIZE})
endif()
# GK_FUZZ=ON (make fuzz): libFuzzer's coverage in every target, and undefined behaviour aborts so
# the fuzzer reports it with its input.
if(GK_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link -fno-sanitize-recover=all)
endif()
