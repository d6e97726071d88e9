// A second translation unit with every public GPU header (see gpu_headers.cuh).
#include "gpu_headers.cuh"

int second_translation_unit() { return sqformat::SqConfig<16, 4>::bank; }
