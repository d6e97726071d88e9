// Must NOT compile: INT5 is not a low width of the SQ-format.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<16, 4, 8, 5>::bank; }
