#include "common/crypto.h"
#include "common/clock.h"

#include <gtest/gtest.h>

#include <set>

using namespace kontena;

TEST(Crypto, Sha256KnownVector) {
  EXPECT_EQ(crypto::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, RandomHexHasLengthAndDiffers) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto s = crypto::random_hex(32);
    ASSERT_EQ(s.size(), 64u);
    ASSERT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Crypto, Base64) {
  EXPECT_EQ(crypto::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(crypto::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(crypto::random_base64(48).size(), 64u);
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(crypto::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(crypto::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(crypto::constant_time_equal("abc", "ab"));
}

TEST(Clock, FormatsRfc3339Millis) {
  EXPECT_EQ(format_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time_ms(1700000000123), "2023-11-14T22:13:20.123Z");
}

TEST(Clock, ManualClockAdvances) {
  ManualClock c;
  auto t0 = c.now_unix_ms();
  c.advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(c.now_unix_ms() - t0, 1500);
}
