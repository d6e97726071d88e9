// sqformat/reference/products.hpp: all reference products and the float64 oracle.
#pragma once

#include <sqformat/reference/product_common.hpp>
#include <sqformat/reference/product_sq.hpp>
#include <sqformat/reference/product_static.hpp>
