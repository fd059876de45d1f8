#include "etcd/etcd_wire.h"

#include <array>

#include "common/crypto.h"
#include "common/error.h"

namespace kontena::etcd::wire {

std::string base64_encode(std::string_view data) { return crypto::base64_encode(data); }

std::string base64_decode(std::string_view text) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
    return t;
  }();
  auto bad = [&] { fail(ErrorKind::internal, "etcd answered a key or value that is not base64: \"" + std::string(text.substr(0, 40)) + "\""); };
  if (text.size() % 4 != 0) bad();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t bits = 0;
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      int v = 0;
      if (c == '=') {
        // Padding only at the very end, in the last one or two places.
        if (i + 4 != text.size() || j < 2) bad();
        ++padding;
      } else {
        if (padding > 0) bad();
        v = table[static_cast<unsigned char>(c)];
        if (v < 0) bad();
      }
      bits = (bits << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

namespace {

template <typename T>
T integer_field(const Json& object, const char* name) {
  if (!object.is_object()) return 0;
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<T>();
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    try {
      std::size_t used = 0;
      T value;
      if constexpr (std::is_signed_v<T>) {
        value = static_cast<T>(std::stoll(text, &used));
      } else {
        if (text.starts_with("-")) throw std::invalid_argument("negative");
        value = static_cast<T>(std::stoull(text, &used));
      }
      if (used == text.size()) return value;
    } catch (const std::exception&) {
    }
  }
  fail(ErrorKind::internal, std::string("etcd answered a field \"") + name + "\" that is not an integer: " + it->dump());
}

std::vector<std::string> string_list(const Json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& item : *it)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

std::string string_field(const Json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

std::int64_t int_field(const Json& object, const char* name) { return integer_field<std::int64_t>(object, name); }
std::uint64_t uint_field(const Json& object, const char* name) { return integer_field<std::uint64_t>(object, name); }

KeyValue parse_key_value(const Json& kv) {
  KeyValue out;
  out.key = base64_decode(string_field(kv, "key"));
  out.value = base64_decode(string_field(kv, "value"));
  out.create_revision = int_field(kv, "create_revision");
  out.mod_revision = int_field(kv, "mod_revision");
  out.lease = int_field(kv, "lease");
  return out;
}

Member parse_member(const Json& member) {
  Member out;
  out.id = uint_field(member, "ID");
  out.name = string_field(member, "name");
  out.peer_urls = string_list(member, "peerURLs");
  out.client_urls = string_list(member, "clientURLs");
  return out;
}

Endpoint parse_endpoint(const std::string& url) {
  auto bad = [&](const std::string& why) {
    fail(ErrorKind::invalid, "etcd endpoint \"" + url + "\" is not usable: " + why +
                                 " (expected http://HOST:PORT, e.g. http://10.81.0.1:2379)");
  };
  const std::string scheme = "http://";
  if (url.starts_with("https://")) bad("TLS is not supported (the grid's etcd listens on plain HTTP)");
  if (!url.starts_with(scheme)) bad("it does not start with http://");
  Endpoint out;
  std::string authority = url.substr(scheme.size());
  while (authority.ends_with("/")) authority.pop_back();
  out.url = scheme + authority;
  if (authority.find('/') != std::string::npos) bad("it has a path");
  if (authority.empty()) bad("it has no host");
  std::string host;
  std::string port = "2379";
  if (authority.front() == '[') {  // [::1]:2379
    auto close = authority.find(']');
    if (close == std::string::npos) bad("the IPv6 address has no closing ]");
    host = authority.substr(1, close - 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad("unexpected text after the host");
      port = rest.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) bad("it has no host");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    bad("the port must be a number from 1 to 65535");
  out.host = host;
  out.port = port;
  return out;
}

Json range_request(const std::string& key, bool prefix, std::int64_t limit, bool count_only) {
  Json body = {{"key", base64_encode(key)}};
  if (prefix) body["range_end"] = base64_encode(prefix_range_end(key));
  if (limit > 0) body["limit"] = std::to_string(limit);
  if (count_only) body["count_only"] = true;
  return body;
}

Json put_request(const std::string& key, const std::string& value, std::int64_t lease) {
  Json body = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) body["lease"] = std::to_string(lease);
  return body;
}

Json delete_request(const std::string& key, bool prefix) {
  Json body = {{"key", base64_encode(key)}};
  if (prefix) body["range_end"] = base64_encode(prefix_range_end(key));
  return body;
}

Json put_op(const std::string& key, const std::string& value, std::int64_t lease) {
  return {{"request_put", put_request(key, value, lease)}};
}

Json delete_op(const std::string& key) { return {{"request_delete_range", delete_request(key, false)}}; }

Json txn_request(const std::string& key, Compare compare, std::int64_t revision, const std::string& value,
                 const Json& then_op) {
  Json condition = {{"key", base64_encode(key)}, {"result", "EQUAL"}};
  switch (compare) {
    case Compare::create_revision:
      condition["target"] = "CREATE";
      condition["create_revision"] = std::to_string(revision);
      break;
    case Compare::mod_revision:
      condition["target"] = "MOD";
      condition["mod_revision"] = std::to_string(revision);
      break;
    case Compare::value:
      condition["target"] = "VALUE";
      condition["value"] = base64_encode(value);
      break;
  }
  return {{"compare", Json::array({condition})}, {"success", Json::array({then_op})}};
}

std::string error_text(const Json& body) {
  if (body.is_object()) {
    for (const char* name : {"error", "message"}) {
      auto it = body.find(name);
      if (it != body.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) return it->get<std::string>();
    }
  }
  std::string text = body.dump();
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  return text;
}

Verdict classify_error(int http_status, const Json& body) {
  const std::string text = error_text(body);
  // Errors that say this member cannot serve right now, whatever the code: another may.
  for (const char* sign : {"no leader", "timed out", "leader changed", "unhealthy cluster", "too many requests",
                           "not capable", "stopped", "server is not ready"}) {
    if (text.find(sign) != std::string::npos) return Verdict::endpoint_failed;
  }
  std::int64_t code = -1;
  try {
    code = int_field(body, "code");
  } catch (const Error&) {
  }
  switch (code) {
    case 1:   // cancelled
    case 4:   // deadline exceeded
    case 8:   // resource exhausted
    case 14:  // unavailable
      return Verdict::endpoint_failed;
    case 5:
      return Verdict::not_found;
    case 3:
    case 11:
      return Verdict::invalid;
    case 6:
    case 9:
    case 10:
      return Verdict::conflict;
    default:
      break;
  }
  // Not the gateway's error object (a proxy's page, a truncated answer): a server-side failure of
  // this endpoint.
  if (!body.is_object() || !body.contains("code")) {
    if (http_status >= 500 || http_status == 0) return Verdict::endpoint_failed;
  }
  return Verdict::internal;
}

}  // namespace kontena::etcd::wire
