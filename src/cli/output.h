// Human output: aligned tables with capitalised headers (as the original CLI printed them),
// "key: value" blocks, times, and the one format for error messages.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace kontena::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void add_row(std::vector<std::string> cells);  // missing cells print empty; extra cells are an error
  std::size_t row_count() const { return rows_.size(); }
  // Columns separated by two spaces, padded to the widest cell; no trailing spaces.
  void print(std::ostream& out) const;
  std::string to_string() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Width in terminal columns: UTF-8 continuation bytes do not count.
std::size_t display_width(std::string_view text);

// Pretty JSON followed by a newline (--json).
void print_json(std::ostream& out, const nlohmann::json& value);

// The string value of a JSON field, or `fallback` when it is missing or null; numbers and
// booleans are printed as JSON.
std::string field_text(const nlohmann::json& object, const char* key, const std::string& fallback = "-");

std::string join(const std::vector<std::string>& items, std::string_view separator);

// Parses the master's RFC 3339 UTC times ("2026-11-24T16:20:00.000Z"); nullopt when unparsable.
std::optional<std::int64_t> parse_time(std::string_view text);
// "2026-11-24 16:20:00" (UTC) for a master time; the input unchanged when unparsable.
std::string format_time(std::string_view text);
// "5 minutes ago" / "in 2 hours" relative to now; "-" for empty input.
std::string relative_time(std::string_view text, std::int64_t now_unix);
std::string describe_duration(std::int64_t seconds);  // "2 hours", "1 minute", "30 seconds"

// "error: <message> (field: <field>)" plus, for some kinds, a hint line. No trailing newline.
std::string format_error(const Error& error);

}  // namespace kontena::cli
