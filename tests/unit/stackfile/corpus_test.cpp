// Replays every file of the fuzz corpus (tests/fuzz/corpus/stackfile) through the pipeline: none
// may crash, hang or throw anything but kontena::Error.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../fuzz/stackfile_fuzz_input.h"

namespace {

TEST(StackFuzzCorpus, EveryFileReplays) {
  std::size_t files = 0, loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KONTENA_FUZZ_CORPUS)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string data = ss.str();
    auto start = std::chrono::steady_clock::now();
    bool ok = false;
    EXPECT_NO_THROW(ok = kontena::stackfile::fuzz::run_stackfile_input(
                        reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))
        << entry.path();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(ms, 5000) << entry.path() << " took " << ms << " ms";
    ++files;
    loaded += ok ? 1 : 0;
  }
  EXPECT_GE(files, 20u) << "the corpus is missing";
  EXPECT_GE(loaded, 5u) << "some corpus files should be valid stacks";
}

}  // namespace
