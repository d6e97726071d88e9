// sqformat/gpu/datapath/all.cuh: every kernel of the activation and weight data path
// (docs/datapath.md).
#pragma once

#include "sqformat/gpu/datapath/dynamic_quantize.cuh"
#include "sqformat/gpu/datapath/permute_columns.cuh"
#include "sqformat/gpu/datapath/sq_dequantize.cuh"
#include "sqformat/gpu/datapath/static_quantize_split.cuh"
#include "sqformat/gpu/datapath/weight_pack.cuh"
