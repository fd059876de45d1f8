#include "master/api/validation.h"

#include <regex>

#include "common/error.h"

namespace kontena::master {

namespace {
bool matches(const std::string& value, const std::regex& re) { return std::regex_match(value, re); }
}  // namespace

std::string Ipv4Cidr::to_string() const {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 255) + "." +
         std::to_string((address >> 8) & 255) + "." + std::to_string(address & 255) + "/" + std::to_string(prefix);
}

std::optional<Ipv4Cidr> parse_ipv4_cidr(const std::string& text) {
  static const std::regex re(R"(^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  std::uint32_t addr = 0;
  for (int i = 1; i <= 4; ++i) {
    int octet = std::stoi(m[i].str());
    if (octet > 255) return std::nullopt;
    addr = (addr << 8) | static_cast<std::uint32_t>(octet);
  }
  int prefix = std::stoi(m[5].str());
  if (prefix > 32) return std::nullopt;
  std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return Ipv4Cidr{addr & mask, prefix};
}

bool cidr_contains(const Ipv4Cidr& outer, const Ipv4Cidr& inner) {
  if (inner.prefix < outer.prefix) return false;
  std::uint32_t mask = outer.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - outer.prefix);
  return (inner.address & mask) == outer.address;
}

void validate_grid_name(const std::string& name) {
  static const std::regex re(R"(^[A-Za-z0-9_-]+$)");
  if (name.size() < 3) invalid("name", "grid name \"" + name + "\" is too short: use at least 3 characters");
  if (name.size() > 64) invalid("name", "grid name is too long: use at most 64 characters");
  if (!matches(name, re))
    invalid("name", "grid name \"" + name + "\" is invalid: use letters, digits, '_' and '-' only (e.g. my-grid)");
}

void validate_node_name(const std::string& name) {
  static const std::regex re(R"(^[A-Za-z0-9][A-Za-z0-9_.-]*$)");
  if (name.empty()) invalid("name", "node name is required");
  if (name.size() > 64) invalid("name", "node name is too long: use at most 64 characters");
  if (!matches(name, re))
    invalid("name", "node name \"" + name +
                        "\" is invalid: start with a letter or digit, then letters, digits, '_', '.', '-' (e.g. node-1)");
}

Ipv4Cidr validate_cidr(const std::string& field, const std::string& value) {
  auto cidr = parse_ipv4_cidr(value);
  if (!cidr) invalid(field, field + " \"" + value + "\" is not an IPv4 CIDR (e.g. 10.81.0.0/16)");
  return *cidr;
}

void validate_affinity(const std::string& field, const std::string& value) {
  static const std::regex re(R"(^(node|label|service|container)(==|!=)~?\S+$)");
  if (!matches(value, re))
    invalid(field, field + " \"" + value +
                       "\" is invalid: use <node|label|service|container><==|!=>[~]<value> (e.g. label==az=a)");
}

void validate_label(const std::string& field, const std::string& value) {
  static const std::regex re(R"(^[A-Za-z0-9][A-Za-z0-9_./-]*(=[^,\s]*)?$)");
  if (value.size() > 255 || !matches(value, re))
    invalid(field, "label \"" + value + "\" is invalid: use key=value without spaces or commas (e.g. az=a)");
}

void validate_email(const std::string& field, const std::string& value) {
  static const std::regex re(R"(^[^@\s]+@[^@\s]+$)");
  if (value.size() > 254 || !matches(value, re))
    invalid(field, field + " \"" + value + "\" is not an email address (e.g. jane@example.com)");
}

void validate_config_key(const std::string& key) {
  static const std::regex re(R"(^[a-z0-9_.-]+$)");
  if (key.empty() || key.size() > 128 || !matches(key, re))
    invalid("key", "config key \"" + key + "\" is invalid: use lowercase letters, digits, '.', '_' and '-'");
}

void validate_token_value(const std::string& field, const std::string& value) {
  static const std::regex re(R"(^[A-Za-z0-9+/=_.-]+$)");
  if (value.size() < 16 || value.size() > 256 || !matches(value, re))
    invalid(field, field + " must be 16 to 256 characters of letters, digits and +/=_.-");
}

nlohmann::json validate_stats(const nlohmann::json& stats) {
  if (stats.empty()) return nlohmann::json::object();
  for (auto it = stats.begin(); it != stats.end(); ++it)
    if (it.key() != "statsd") invalid("stats", "unknown field \"stats." + it.key() + "\": allowed is statsd");
  const auto& statsd = stats.at("statsd");
  if (statsd.is_null()) return nlohmann::json::object();
  if (!statsd.is_object() || !statsd.contains("server") || !statsd["server"].is_string() ||
      statsd["server"].get<std::string>().empty())
    invalid("stats", "stats.statsd must be {\"server\": \"host\", \"port\": 8125}");
  for (auto it = statsd.begin(); it != statsd.end(); ++it)
    if (it.key() != "server" && it.key() != "port")
      invalid("stats", "unknown field \"stats.statsd." + it.key() + "\": allowed are server, port");
  std::int64_t port = 8125;
  if (statsd.contains("port")) {
    if (!statsd["port"].is_number_integer()) invalid("stats", "stats.statsd.port must be an integer");
    port = statsd["port"].get<std::int64_t>();
  }
  if (port < 1 || port > 65535) invalid("stats", "stats.statsd.port must be between 1 and 65535");
  return {{"statsd", {{"server", statsd["server"]}, {"port", port}}}};
}

nlohmann::json validate_logs(const nlohmann::json& logs) {
  if (logs.empty()) return nlohmann::json::object();
  for (auto it = logs.begin(); it != logs.end(); ++it)
    if (it.key() != "forwarder" && it.key() != "opts")
      invalid("logs", "unknown field \"logs." + it.key() + "\": allowed are forwarder, opts");
  if (!logs.contains("forwarder") || !logs["forwarder"].is_string())
    invalid("logs", "logs.forwarder is required: fluentd or none");
  auto forwarder = logs["forwarder"].get<std::string>();
  if (forwarder != "fluentd" && forwarder != "none")
    invalid("logs", "logs.forwarder \"" + forwarder + "\" is not supported: use fluentd or none");
  nlohmann::json opts = nlohmann::json::object();
  if (logs.contains("opts") && !logs["opts"].is_null()) {
    if (!logs["opts"].is_object()) invalid("logs", "logs.opts must be an object of strings");
    for (auto it = logs["opts"].begin(); it != logs["opts"].end(); ++it) {
      if (!it->is_string()) invalid("logs", "logs.opts." + it.key() + " must be a string");
      opts[it.key()] = *it;
    }
  }
  if (forwarder == "none") return {{"forwarder", "none"}, {"opts", nlohmann::json::object()}};
  if (!opts.contains("fluentd-address"))
    invalid("logs", "the fluentd forwarder needs logs.opts.fluentd-address (host[:port])");
  return {{"forwarder", forwarder}, {"opts", opts}};
}

}  // namespace kontena::master
