#include "cli/output.h"

#include <algorithm>
#include <ctime>
#include <iterator>
#include <sstream>

namespace kontena::cli {

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > headers_.size())
    throw Error(ErrorKind::internal, "table row has " + std::to_string(cells.size()) + " cells for " +
                                         std::to_string(headers_.size()) + " columns");
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = display_width(headers_[c]);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  auto print_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      line += cells[c];
      if (c + 1 < cells.size()) line += std::string(widths[c] - display_width(cells[c]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_line(headers_);
  for (const auto& row : rows_) print_line(row);
}

std::string Table::to_string() const {
  std::ostringstream out;
  print(out);
  return out.str();
}

std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void print_json(std::ostream& out, const nlohmann::json& value) { out << value.dump(2) << '\n'; }

std::string field_text(const nlohmann::json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>().empty() ? fallback : it->get<std::string>();
  return it->dump();
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::optional<std::int64_t> parse_time(std::string_view text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail = 0;
  // Fractions and the zone designator come after the seconds; only UTC ("Z") is produced by the master.
  const std::string copy(text);
  const int parsed = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour, &minute,
                                 &second, &tail);
  if (parsed < 6) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(::timegm(&tm));
}

std::string format_time(std::string_view text) {
  auto seconds = parse_time(text);
  if (!seconds) return std::string(text);
  const std::time_t t = static_cast<std::time_t>(*seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

std::string describe_duration(std::int64_t seconds) {
  struct Unit {
    std::int64_t seconds;
    const char* name;
  };
  static constexpr Unit units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
  auto amount = [](std::int64_t n, const char* name) {
    return std::to_string(n) + " " + name + (n == 1 ? "" : "s");
  };
  for (std::size_t i = 0; i < std::size(units); ++i) {
    if (seconds < units[i].seconds && units[i].seconds != 1) continue;
    const std::int64_t n = seconds / units[i].seconds;
    std::string text = amount(n, units[i].name);
    // Days and hours get the next unit too: "1 hour 59 minutes" is not "1 hour".
    if (i < 2) {
      const std::int64_t rest = (seconds % units[i].seconds) / units[i + 1].seconds;
      if (rest > 0) text += " " + amount(rest, units[i + 1].name);
    }
    return text;
  }
  return "0 seconds";
}

std::string relative_time(std::string_view text, std::int64_t now_unix) {
  if (text.empty()) return "-";
  auto seconds = parse_time(text);
  if (!seconds) return std::string(text);
  const std::int64_t delta = *seconds - now_unix;
  if (delta > 0) return "in " + describe_duration(delta);
  if (delta > -1) return "now";
  return describe_duration(-delta) + " ago";
}

std::string format_error(const Error& error) {
  std::string text = std::string("error: ") + error.what();
  // The field is only worth adding when the message does not already name it.
  if (!error.field().empty() && text.find(error.field()) == std::string::npos) text += " (field: " + error.field() + ")";
  if (error.kind() == ErrorKind::unauthorized && text.find("kontena master login") == std::string::npos)
    text += "\nhint: log in again with 'kontena master login --code CODE URL' or 'kontena master login --token TOKEN URL'";
  return text;
}

}  // namespace kontena::cli
