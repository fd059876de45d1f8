#include "common/error.h"

#include <gtest/gtest.h>

using namespace kontena;

TEST(Error, KindsMapToHttpStatusAndBack) {
  for (auto k : {ErrorKind::invalid, ErrorKind::bad_request, ErrorKind::unauthorized, ErrorKind::forbidden,
                 ErrorKind::not_found, ErrorKind::conflict, ErrorKind::too_large, ErrorKind::rate_limited, ErrorKind::unavailable,
                 ErrorKind::internal}) {
    EXPECT_EQ(kind_from_http_status(http_status(k)), k) << to_string(k);
  }
}

TEST(Error, InvalidCarriesField) {
  try {
    invalid("name", "name is too short");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_EQ(e.field(), "name");
    EXPECT_STREQ(e.what(), "name is too short");
  }
}
