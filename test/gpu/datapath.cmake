# GPU tests of the data-path kernels (include/sqformat/gpu/datapath): one binary per kernel
# family, to keep the number of kernel instantiations CI compiles small.
foreach(family static dynamic weights)
  sqformat_add_test(NAME test_datapath_${family}
                    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_datapath_${family}.cu GPU)
endforeach()
# Misuse found on the host before any CUDA call: needs no device, so it is a host test and runs
# in CI.
sqformat_add_test(NAME test_datapath_misuse SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_datapath_misuse.cu)
