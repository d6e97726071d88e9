// Must NOT compile: banks larger than 1024 elements are not supported.
#include <sqformat/config.hpp>

int main() { return sqformat::SqConfig<2048, 4>::bank; }
