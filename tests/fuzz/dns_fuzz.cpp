// libFuzzer target for the agent's DNS packet code. Build with clang:
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DKONTENA_FUZZ=ON
//   cmake --build build-fuzz --target dns_fuzz
//   build-fuzz/tests/fuzz/dns_fuzz tests/fuzz/corpus/dns -max_len=1500
#include "dns_fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kontena::agent::dns::fuzz::run_dns_input(data, size);
  return 0;
}
