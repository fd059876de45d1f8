// libFuzzer target for the stack-file pipeline (load_stack). Build with clang:
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DKONTENA_FUZZ=ON
//   cmake --build build-fuzz --target stackfile_fuzz
//   build-fuzz/tests/fuzz/stackfile_fuzz tests/fuzz/corpus/stackfile -max_len=4096 -timeout=10
#include "stackfile_fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kontena::stackfile::fuzz::run_stackfile_input(data, size);
  return 0;
}
