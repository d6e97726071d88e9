# Data-path benchmarks (include/sqformat/gpu/datapath) against a device-to-device copy.
sqformat_add_benchmark(NAME bench_datapath_kernels
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_datapath_kernels.cu)
