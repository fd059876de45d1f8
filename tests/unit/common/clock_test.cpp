#include "common/clock.h"

#include <gtest/gtest.h>

namespace kontena {
namespace {

TEST(ParseTime, UtcForms) {
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20"), 1'700'000'000'000);
  EXPECT_EQ(parse_time_ms("2023-11-14 22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.5Z"), 1'700'000'000'500);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.123Z"), 1'700'000'000'123);
  EXPECT_EQ(parse_time_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
}

TEST(ParseTime, OffsetsAndNanoseconds) {
  EXPECT_EQ(parse_time_ms("2023-11-14T23:13:20+01:00"), 1'700'000'000'000);
  EXPECT_EQ(parse_time_ms("2023-11-14T20:13:20-02:00"), 1'700'000'000'000);
  // Docker's log timestamps: nine fraction digits
  EXPECT_EQ(parse_time_ns("2023-11-14T22:13:20.123456789Z"), 1'700'000'000'123'456'789LL);
  EXPECT_EQ(parse_time_ms("2023-11-14T22:13:20.123456789Z"), 1'700'000'000'123);
  // more than nine digits: the rest is dropped
  EXPECT_EQ(parse_time_ns("2023-11-14T22:13:20.1234567891Z"), 1'700'000'000'123'456'789LL);
}

TEST(ParseTime, RoundTripsFormat) {
  for (std::int64_t ms : {0LL, 1LL, 999LL, 1'700'000'000'123LL, 1'795'687'200'000LL}) {
    EXPECT_EQ(parse_time_ms(format_time_ms(ms)), ms) << ms;
  }
}

TEST(ParseTime, RejectsMalformed) {
  for (const char* bad : {"", "yesterday", "2023-11-14", "2023-11-14T22:13", "2023-13-14T22:13:20Z",
                          "2023-02-30T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+0100", "2023-11-14T22:13:20+25:00",
                          "2023-11-14T22:13:20 UTC", "2023/11/14T22:13:20Z", "2023-11-14X22:13:20Z",
                          "20a3-11-14T22:13:20Z", "2023-11-14T22:13:20Zjunk"}) {
    EXPECT_FALSE(parse_time_ns(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kontena
