// Must NOT compile: INT6 is not a high width of the SQ-format.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<16, 4, 6, 4>::bank; }
