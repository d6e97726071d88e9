# GPU tests of the GEMM kernels (include/sqformat/gpu/gemm).
sqformat_add_test(NAME test_gemm_w4a_sq_static
                  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gemm_w4a_sq_static.cu GPU)
