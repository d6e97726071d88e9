// Every public GPU header, included by two translation units of consumer_cuda: a kernel or
// function that a header defines without `inline` or a template would then be defined twice, and
// the link would fail.
#pragma once

#include <sqformat/gpu/datapath/all.cuh>
#include <sqformat/gpu/gemm/w4_prepack.cuh>
#include <sqformat/gpu/gemm/w4a_sq_static.cuh>
#include <sqformat/gpu/gemm/w4a_sq_static_auto.cuh>
#include <sqformat/gpu/ptq/gptq_sq.cuh>
#include <sqformat/gpu/ptq/hessian_accumulate.cuh>
#include <sqformat/gpu/ptq/inverse_hessian_factor.cuh>
#include <sqformat/gpu/wsq/wsq.hpp>
#include <sqformat/gpu/wsq/wsq_a16_large_m.hpp>
