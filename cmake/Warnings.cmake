# Warnings for our own targets. Torch headers are SYSTEM includes so their warnings never reach us.
function(gk_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(GK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# gk_library(<module> SOURCES ... DEPS ...): the library gk_<module> with our include root.
function(gk_library module)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(gk_${module} STATIC ${A_SOURCES})
  target_include_directories(gk_${module} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(gk_${module} PUBLIC ${A_DEPS})
  gk_warnings(gk_${module})
  if(A_TORCH)
    gk_use_torch(gk_${module})
  endif()
endfunction()

# gk_test(<name> SOURCES ... DEPS ... LABELS ...): a GoogleTest binary registered with ctest.
function(gk_test name)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(${name} PRIVATE
    GK_SOURCE_DIR="${CMAKE_SOURCE_DIR}" GK_BINARY_DIR="${CMAKE_BINARY_DIR}")
  gk_warnings(${name})
  if(A_TORCH)
    gk_use_torch(${name})
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  # DISCOVERY_TIMEOUT: listing a LibTorch test binary took over the default 5 s on a loaded 2-vCPU machine.
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 120
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT 900 ENVIRONMENT "OMP_WAIT_POLICY=passive")
endfunction()
