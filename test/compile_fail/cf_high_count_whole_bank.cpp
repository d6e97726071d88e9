// Must NOT compile: a bank with no low elements is a uniform format.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<16, 16>::bank; }
