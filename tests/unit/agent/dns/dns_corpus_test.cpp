// Replays every file of the DNS fuzz corpus (tests/fuzz/corpus/dns) through the same code the
// libFuzzer target runs: none may crash or throw; valid_* files parse as queries, bad_* never do,
// and a bad_* file with a readable header that is not a response gets FORMERR or NOTIMP.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../../fuzz/dns_fuzz_input.h"

namespace kontena::agent::dns {
namespace {

TEST(DnsFuzzCorpus, EveryFileReplays) {
  std::size_t files = 0, valid = 0, bad = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KONTENA_DNS_CORPUS)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string data = ss.str();
    std::string name = entry.path().filename().string();
    ParseOutcome outcome = ParseOutcome::drop;
    EXPECT_NO_THROW(outcome = fuzz::run_dns_input(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))
        << name;
    ++files;
    if (name.starts_with("valid_")) {
      ++valid;
      EXPECT_EQ(outcome, ParseOutcome::query) << name;
    } else if (name.starts_with("bad_")) {
      ++bad;
      EXPECT_NE(outcome, ParseOutcome::query) << name;
      std::uint16_t id = 0, flags = 0;
      if (read_id(data, id, flags) && !(flags & flag::qr)) {
        auto answer = fuzz::fuzz_answer(data);
        ASSERT_TRUE(answer) << name;
        ParsedResponse parsed;
        ASSERT_TRUE(parse_response(*answer, parsed)) << name;
        EXPECT_TRUE(parsed.rcode == Rcode::formerr || parsed.rcode == Rcode::notimp) << name;
        EXPECT_EQ(parsed.id, id) << name;
      }
    }
  }
  EXPECT_GE(files, 30u) << "the corpus is missing";
  EXPECT_GE(valid, 10u);
  EXPECT_GE(bad, 15u);
}

}  // namespace
}  // namespace kontena::agent::dns
