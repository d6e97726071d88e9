// sqformat/reference.hpp: the host reference of the SQ-format, the executable form of
// docs/layouts.md. Plain C++17, no CUDA headers. See docs/reference.md for an overview.
#pragma once

#include <sqformat/reference/bitpack.hpp>
#include <sqformat/reference/config_name.hpp>
#include <sqformat/reference/products.hpp>
#include <sqformat/reference/quantize.hpp>
#include <sqformat/reference/selection.hpp>
#include <sqformat/reference/serialize.hpp>
#include <sqformat/reference/sq_tensor.hpp>
#include <sqformat/reference/static_split.hpp>
#include <sqformat/reference/uniform.hpp>
