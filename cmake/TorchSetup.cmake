# LibTorch: Debian's 1.13 (CPU) here, or any 2.x (CUDA) via CMAKE_PREFIX_PATH. Torch headers cost 10-30 s per
# translation unit, so only model/ and train/ include them, all sharing one precompiled header.
find_package(Torch REQUIRED)
file(WRITE ${CMAKE_BINARY_DIR}/gk_torch_pch.cpp "// precompiled torch header host\n")
add_library(gk_torch_pch OBJECT ${CMAKE_BINARY_DIR}/gk_torch_pch.cpp)
target_include_directories(gk_torch_pch SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
target_link_libraries(gk_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_compile_options(gk_torch_pch PUBLIC ${TORCH_CXX_FLAGS})
target_precompile_headers(gk_torch_pch PUBLIC <torch/torch.h>)
if(TORCH_CUDA_LIBRARIES OR CUDA_FOUND)
  set(GK_TORCH_HAS_CUDA ON)
endif()

function(gk_use_torch target)
  target_include_directories(${target} SYSTEM PRIVATE ${TORCH_INCLUDE_DIRS})
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  # torch's interface definitions (GFLAGS_IS_A_DLL, ...) are also inside the PCH.
  target_compile_options(${target} PRIVATE ${TORCH_CXX_FLAGS} -Wno-macro-redefined)
  target_precompile_headers(${target} REUSE_FROM gk_torch_pch)
  if(GK_TORCH_HAS_CUDA)
    target_compile_definitions(${target} PRIVATE GK_WITH_CUDA=1)
  endif()
endfunction()
