# W(SQ) weight kernels (spec 1.1): decode A16 / A8 and the large-M path.
sqformat_add_test(NAME test_wsq_a16 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wsq_a16.cu GPU)
sqformat_add_test(NAME test_wsq_a8 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wsq_a8.cu GPU)
sqformat_add_test(NAME test_wsq_large_m SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_wsq_large_m.cu GPU
                  LIBS CUDA::cublas)
foreach(_t test_wsq_a16 test_wsq_a8 test_wsq_large_m)
  target_include_directories(${_t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
endforeach()
