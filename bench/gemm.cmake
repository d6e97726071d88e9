# GEMM benchmarks (include/sqformat/gpu/gemm) against cuBLASLt baselines.
sqformat_add_benchmark(NAME bench_gemm_w4a_sq_static
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_gemm_w4a_sq_static.cu
                       LIBS CUDA::cublasLt)
