// sqformat/gpu/wsq/wsq.hpp: the W(SQ) weight kernels (spec 1.1). See docs/wsq.md.
//   WsqA16Decode   bf16/fp16 activations, M <= 64 (five kernels by configuration and M; see
//                  wsq_a16_decode.hpp)
//   WsqA8Decode    INT8 activations with per-token scales, exact int32 sums per bank and path
//   wsq_dequantize W to a dense 16-bit matrix
// The large-M path (cuBLAS) lives in wsq_a16_large_m.hpp, which needs cuBLAS.
#pragma once

#include "policy.hpp"
#include "weights_view.hpp"
#include "wsq_a16_decode.hpp"
#include "wsq_a8_decode.hpp"
#include "wsq_dequantize.hpp"
