sqformat_add_test(NAME test_gpu_smoke SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gpu_smoke.cu GPU)
