// Must NOT compile: a bank with no high elements is a uniform format.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<16, 0>::bank; }
