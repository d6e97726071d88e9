// Must NOT compile: high and low elements of the same width.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<16, 4, 4, 4>::bank; }
