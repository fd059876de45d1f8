#include "agent/options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/error.h"

namespace kontena::agent {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Millis parse_duration(std::string_view text, const std::string& flag) {
  auto bad = [&]() -> Millis {
    invalid(flag, flag + " must be a positive duration: seconds (\"30\", \"0.5\") or with a unit (\"250ms\", \"1.5s\", \"2m\"); got \"" +
                      std::string(text) + "\"");
  };
  std::string_view t = trim(text);
  std::size_t unit_at = t.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(t[unit_at - 1]))) --unit_at;
  std::string number(t.substr(0, unit_at));
  std::string unit = lower(t.substr(unit_at));
  if (number.empty()) return bad();
  for (char c : number)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return bad();
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) return bad();
  } catch (const std::exception&) {
    return bad();
  }
  double ms = 0;
  if (unit.empty() || unit == "s") ms = value * 1000.0;
  else if (unit == "ms") ms = value;
  else if (unit == "m") ms = value * 60'000.0;
  else if (unit == "h") ms = value * 3'600'000.0;
  else return bad();
  if (!std::isfinite(ms) || ms < 1.0 || ms > 1e12) return bad();
  return Millis(static_cast<std::int64_t>(std::llround(ms)));
}

bool parse_bool(std::string_view text, const std::string& what) {
  std::string t = lower(trim(text));
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  invalid(what, what + " must be true or false; got \"" + std::string(text) + "\"");
}

std::vector<std::string> parse_labels(std::string_view text) {
  std::vector<std::string> labels;
  while (true) {
    auto comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) {
      auto eq = item.find('=');
      bool has_space = std::any_of(item.begin(), item.end(), [](unsigned char c) { return std::isspace(c); });
      if (eq == 0 || has_space)
        invalid("labels", "node labels must be key=value items separated by commas (e.g. \"region=eu,disk=ssd\"); got \"" +
                              std::string(item) + "\"");
      labels.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return labels;
}

std::string parse_docker_socket(std::string_view text) {
  std::string_view t = trim(text);
  if (t.empty()) return "/var/run/docker.sock";
  if (t.substr(0, 7) == "unix://") t.remove_prefix(7);
  else if (t.find("://") != std::string_view::npos)
    invalid("docker-socket", "only a unix socket is supported for the Docker Engine (unix:///var/run/docker.sock or a path); got \"" +
                                 std::string(text) + "\"");
  if (t.empty() || t.front() != '/')
    invalid("docker-socket", "the Docker socket must be an absolute path (e.g. unix:///var/run/docker.sock); got \"" +
                                 std::string(text) + "\"");
  return std::string(t);
}

std::string format_duration(Millis d) {
  char buf[32];
  if (d.count() < 1000) std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(d.count()));
  else std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace kontena::agent
