# cmake -P script run by the consumer_* tests: configures, builds and runs test/consumer/project
# against sqformat, either installed (MODE=find_package) or as a subdirectory (MODE=add_subdirectory).
cmake_minimum_required(VERSION 3.25)

foreach(var MODE SQFORMAT_SOURCE_DIR SQFORMAT_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR
            BUILD_TYPE CXX_COMPILER WITH_CUDA)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

# Each step echoes its command and stops the test on failure.
function(run_step)
  execute_process(COMMAND ${ARGN} COMMAND_ECHO STDOUT RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test (${MODE}): step failed with '${rc}'")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")

set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCONSUMER_WITH_CUDA=${WITH_CUDA})
if(WITH_CUDA)
  # CUDAARCHS initializes the consumer's CMAKE_CUDA_ARCHITECTURES (a list cannot travel through
  # execute_process arguments).
  string(REPLACE "," ";" archs "${CUDA_ARCHITECTURES}")
  set(ENV{CUDAARCHS} "${archs}")
  list(APPEND configure_args -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER})
endif()

if(MODE STREQUAL "find_package")
  run_step(${CMAKE_COMMAND} --install "${SQFORMAT_BINARY_DIR}" --prefix "${prefix}"
           --config ${BUILD_TYPE})
  # What a consumer needs from the installed tree.
  file(GLOB_RECURSE config_file "${prefix}/*/sqformatConfig.cmake")
  foreach(required "${prefix}/include/sqformat/config.hpp" "${config_file}")
    if(NOT EXISTS "${required}")
      message(FATAL_ERROR "install is missing '${required}' (sqformatConfig.cmake: '${config_file}')")
    endif()
  endforeach()
  list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args "-DSQFORMAT_SUBDIRECTORY=${SQFORMAT_SOURCE_DIR}")
else()
  message(FATAL_ERROR "MODE must be find_package or add_subdirectory, not '${MODE}'")
endif()

run_step(${CMAKE_COMMAND} ${configure_args})

if(MODE STREQUAL "find_package")
  # The package must come from the fresh prefix, never from a copy found elsewhere on the system.
  file(STRINGS "${build}/CMakeCache.txt" found_dir REGEX "^sqformat_DIR:")
  string(FIND "${found_dir}" "${prefix}/" at)
  if(NOT at GREATER -1)
    message(FATAL_ERROR "find_package(sqformat) did not use the fresh install: ${found_dir}")
  endif()
endif()

run_step(${CMAKE_COMMAND} --build "${build}" --config ${BUILD_TYPE})
run_step("${build}/consumer_host")
if(WITH_CUDA)
  run_step("${build}/consumer_cuda")
endif()
message(STATUS "consumer test (${MODE}): configured, built and ran")
