# PTQ on the GPU: Hessian accumulation, inverse-Hessian factor (cuSOLVER), GPTQ-SQ (cuBLAS).
sqformat_add_test(NAME test_ptq_gptq_sq SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ptq_gptq_sq.cu GPU
                  LIBS CUDA::cublas CUDA::cusolver)
