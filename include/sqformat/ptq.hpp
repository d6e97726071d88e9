// sqformat/ptq.hpp: post-training quantization on the host (spec section 2): calibration
// statistics, SmoothQuant factors, GPTQ-compensated SQ and uniform weights, static activation
// masks (Algorithm 2) and the calibrate-then-quantize activation interface. Plain C++17.
// See docs/ptq.md. The GPU path lives in sqformat/gpu/ptq/.
#pragma once

#include <sqformat/ptq/activation_quantizer.hpp>
#include <sqformat/ptq/calibration_stats.hpp>
#include <sqformat/ptq/inverse_hessian.hpp>
#include <sqformat/ptq/layer_error.hpp>
#include <sqformat/ptq/smoothing.hpp>
#include <sqformat/ptq/sq_weights.hpp>
#include <sqformat/ptq/static_activation_mask.hpp>
#include <sqformat/ptq/uniform_weights.hpp>
