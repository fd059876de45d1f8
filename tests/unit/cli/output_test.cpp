#include "cli/output.h"

#include <gtest/gtest.h>

using namespace kontena;
using namespace kontena::cli;

TEST(Table, AlignsColumnsWithTwoSpacesAndNoTrailingBlanks) {
  Table table({"NAME", "NODES", "USERS"});
  table.add_row({"demo *", "3", "1"});
  table.add_row({"a", "12", ""});
  EXPECT_EQ(table.to_string(),
            "NAME    NODES  USERS\n"
            "demo *  3      1\n"
            "a       12\n");
}

TEST(Table, HeaderOnlyWhenEmpty) {
  Table table({"EMAIL", "ROLES"});
  EXPECT_EQ(table.row_count(), 0u);
  EXPECT_EQ(table.to_string(), "EMAIL  ROLES\n");
}

TEST(Table, ShortRowsArePaddedAndLongRowsRejected) {
  Table table({"A", "B", "C"});
  table.add_row({"x"});
  EXPECT_EQ(table.to_string(), "A  B  C\nx\n");
  EXPECT_THROW(table.add_row({"1", "2", "3", "4"}), Error);
}

TEST(Table, Utf8CountsCharactersNotBytes) {
  EXPECT_EQ(display_width("grün"), 4u);
  Table table({"N", "X"});
  table.add_row({"grün", "1"});
  table.add_row({"abcd", "2"});
  EXPECT_EQ(table.to_string(), "N     X\ngrün  1\nabcd  2\n");
}

TEST(Output, FieldText) {
  const nlohmann::json node = {{"name", "n1"}, {"cpus", 4}, {"ip", nullptr}, {"empty", ""}, {"up", true}};
  EXPECT_EQ(field_text(node, "name"), "n1");
  EXPECT_EQ(field_text(node, "cpus"), "4");
  EXPECT_EQ(field_text(node, "ip"), "-");
  EXPECT_EQ(field_text(node, "empty"), "-");
  EXPECT_EQ(field_text(node, "missing", "?"), "?");
  EXPECT_EQ(field_text(node, "up"), "true");
  EXPECT_EQ(field_text(nlohmann::json::array(), "name"), "-");
}

TEST(Output, PrintJsonIsPretty) {
  std::ostringstream out;
  print_json(out, {{"a", 1}});
  EXPECT_EQ(out.str(), "{\n  \"a\": 1\n}\n");
}

TEST(Output, Join) {
  EXPECT_EQ(join({}, ","), "");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

TEST(Time, ParsesTheMastersFormat) {
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20.123Z"), 1700000000);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20Z"), 1700000000);
  EXPECT_FALSE(parse_time("yesterday"));
  EXPECT_FALSE(parse_time("2023-13-01T00:00:00Z"));
  EXPECT_EQ(format_time("2023-11-14T22:13:20.123Z"), "2023-11-14 22:13:20");
  EXPECT_EQ(format_time("-"), "-");
}

TEST(Time, RelativeTimes) {
  const std::int64_t now = 1700000000;
  EXPECT_EQ(relative_time("2023-11-14T22:13:20Z", now), "now");
  EXPECT_EQ(relative_time("2023-11-14T22:12:20Z", now), "1 minute ago");
  EXPECT_EQ(relative_time("2023-11-15T00:13:20Z", now), "in 2 hours");
  EXPECT_EQ(relative_time("2023-11-10T22:13:20Z", now), "4 days ago");
  EXPECT_EQ(relative_time("2023-11-10T20:13:20Z", now), "4 days 2 hours ago");
  EXPECT_EQ(relative_time("", now), "-");
  EXPECT_EQ(describe_duration(1), "1 second");
  EXPECT_EQ(describe_duration(59), "59 seconds");
  EXPECT_EQ(describe_duration(7200), "2 hours");
  EXPECT_EQ(describe_duration(7199), "1 hour 59 minutes");
  EXPECT_EQ(describe_duration(90000), "1 day 1 hour");
  EXPECT_EQ(describe_duration(3661), "1 hour 1 minute");
  EXPECT_EQ(describe_duration(0), "0 seconds");
}

TEST(FormatError, MessageFieldAndHint) {
  EXPECT_EQ(format_error(Error(ErrorKind::conflict, "grid demo already exists")), "error: grid demo already exists");
  EXPECT_EQ(format_error(Error(ErrorKind::invalid, "must be 1..7", "initial_size")),
            "error: must be 1..7 (field: initial_size)");
  EXPECT_EQ(format_error(Error(ErrorKind::invalid, "initial_size must be 1..7", "initial_size")),
            "error: initial_size must be 1..7")
      << "the field is not repeated when the message names it";
  const std::string unauthorized = format_error(Error(ErrorKind::unauthorized, "token expired"));
  EXPECT_EQ(unauthorized.rfind("error: token expired\nhint: ", 0), 0u) << unauthorized;
  EXPECT_NE(unauthorized.find("kontena master login"), std::string::npos);
}
