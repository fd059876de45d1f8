#include <gtest/gtest.h>
#include "master/deployer/convert.h"
TEST(Convert, Placeholder) { EXPECT_EQ(kontena::master::deployer::max_in_flight(20, 0.8), 4); }
