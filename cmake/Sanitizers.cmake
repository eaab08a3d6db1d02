# GK_SANITIZE=address,undefined | thread: applied to every target (make asan / make tsan).
if(GK_SANITIZE)
  add_compile_options(-fsanitize=${GK_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${GK_SANITIZE})
endif()
