# Data-path benchmarks (include/sqformat/gpu/datapath) against a device-to-device copy: one
# binary, the static split in one source, the SQ-tensor writers in another and the streaming
# floor (a kernel that only moves each operation's bytes) in the third.
sqformat_add_benchmark(NAME bench_datapath_kernels
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_datapath_kernels.cu
                               ${CMAKE_CURRENT_LIST_DIR}/bench_datapath_sq_tensor.cu
                               ${CMAKE_CURRENT_LIST_DIR}/bench_datapath_floor.cu)
