#include "master/http/message.h"

namespace kontena::master {
namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percent_decode(const std::string& in, bool plus_is_space, bool& ok) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) { ok = false; return out; }
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) { ok = false; return out; }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool parse_target(const std::string& target, std::string& path, std::map<std::string, std::string>& query) {
  bool ok = true;
  auto q = target.find('?');
  path = percent_decode(target.substr(0, q), false, ok);
  if (q == std::string::npos) return ok;
  std::string rest = target.substr(q + 1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    auto amp = rest.find('&', start);
    std::string pair = rest.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq), true, ok);
      std::string value = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1), true, ok);
      query[key] = value;
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return ok;
}

}  // namespace kontena::master
