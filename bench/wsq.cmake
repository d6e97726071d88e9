# W(SQ) decode kernels against cuBLAS BF16 and cuBLASLt INT8 / FP8.
sqformat_add_benchmark(NAME bench_wsq_decode SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_wsq_decode.cu
                       LIBS CUDA::cublas CUDA::cublasLt)
