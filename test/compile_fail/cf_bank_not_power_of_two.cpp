// Must NOT compile: a bank of 24 elements is not a power of two.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<24, 4>::bank; }
