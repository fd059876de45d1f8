#include "master/agents/handshake.h"

#include <cctype>

#include "common/clock.h"
#include "master/api/validation.h"

namespace kontena::master::agents {

namespace {

// Reads exactly n digits at pos.
bool digits(std::string_view s, std::size_t& pos, int n, int& out) {
  out = 0;
  for (int i = 0; i < n; ++i, ++pos) {
    if (pos >= s.size() || !std::isdigit(static_cast<unsigned char>(s[pos]))) return false;
    out = out * 10 + (s[pos] - '0');
  }
  return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Leading "major.minor" of a version string ("1.4.3-rc1" -> 1, 4).
bool major_minor(std::string_view v, long& major, long& minor) {
  std::size_t pos = 0;
  auto number = [&](long& out) {
    if (pos >= v.size() || !std::isdigit(static_cast<unsigned char>(v[pos]))) return false;
    out = 0;
    while (pos < v.size() && std::isdigit(static_cast<unsigned char>(v[pos]))) {
      out = out * 10 + (v[pos++] - '0');
      if (out > 1'000'000) return false;
    }
    return true;
  };
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) pos = 1;
  if (!number(major)) return false;
  if (pos >= v.size() || v[pos] != '.') return false;
  ++pos;
  return number(minor);
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_connected_at(std::string_view s) {
  s = trim(s);
  std::size_t pos = 0;
  int y, mo, d, h, mi, sec;
  if (!digits(s, pos, 4, y) || !expect(s, pos, '-') || !digits(s, pos, 2, mo) || !expect(s, pos, '-') ||
      !digits(s, pos, 2, d))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != ' ' && s[pos] != 'T')) return std::nullopt;
  ++pos;
  if (!digits(s, pos, 2, h) || !expect(s, pos, ':') || !digits(s, pos, 2, mi) || !expect(s, pos, ':') ||
      !digits(s, pos, 2, sec))
    return std::nullopt;
  long long nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 9; ++i) nanos *= 10;
  }
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) ++pos;
  else if (s.substr(pos) == " UTC") pos = s.size();
  if (pos != s.size()) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + nanoseconds{nanos};
  return time_point_cast<system_clock::duration>(t);
}

std::string format_connected_at(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::string out = format_time_ms(ms);  // 2026-11-24T14:20:00.123Z
  if (auto p = out.find('T'); p != std::string::npos) out[p] = ' ';
  return out;
}

bool version_compatible(std::string_view agent_version, std::string_view master_version) {
  long am, an, mm, mn;
  if (!major_minor(trim(agent_version), am, an) || !major_minor(master_version, mm, mn)) return false;
  return am == mm && an == mn;
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::vector<std::string> parse_labels(std::string_view header, std::vector<std::string>* rejected) {
  std::vector<std::string> out;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (item.empty()) continue;
    std::string label(item);
    try {
      validate_label("labels", label);
      bool seen = false;
      for (const auto& l : out) seen = seen || l == label;
      if (!seen) out.push_back(label);
    } catch (const std::exception&) {
      if (rejected) rejected->push_back(label);
    }
  }
  return out;
}

std::string overlay_ip(const std::string& subnet, int node_number) {
  auto cidr = parse_ipv4_cidr(subnet);
  if (!cidr || node_number < 1 || node_number > 254) return {};
  Ipv4Cidr ip{cidr->address | static_cast<std::uint32_t>(node_number), 32};
  auto text = ip.to_string();  // "a.b.c.d/32"
  return text.substr(0, text.find('/'));
}

}  // namespace kontena::master::agents
