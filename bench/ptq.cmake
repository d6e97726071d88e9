# PTQ cost of one 8192 x 8192 layer: GPU Hessian, inverse factor and GPTQ-SQ; host path for scale.
sqformat_add_benchmark(NAME bench_ptq_gptq SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/bench_ptq_gptq.cu
                       LIBS CUDA::cublas CUDA::cusolver)
