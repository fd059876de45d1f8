#include "cli/requests.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace kontena::cli {

using nlohmann::json;

std::pair<std::string, std::string> parse_key_value(const std::string& text, const std::string& option) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0)
    throw Error(ErrorKind::invalid, option + " expects KEY=VALUE, got '" + text + "'", option);
  return {text.substr(0, equals), text.substr(equals + 1)};
}

json parse_statsd_server(const std::string& text) {
  std::string host = text;
  int port = 8125;
  const auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    host = text.substr(0, colon);
    const std::string port_text = text.substr(colon + 1);
    const bool numeric = !port_text.empty() && port_text.size() <= 5 &&
                         std::all_of(port_text.begin(), port_text.end(), [](unsigned char c) { return std::isdigit(c); });
    port = numeric ? std::stoi(port_text) : 0;
    if (port < 1 || port > 65535)
      throw Error(ErrorKind::invalid, "--statsd-server expects HOST:PORT with a port 1..65535, got '" + text + "'",
                  "--statsd-server");
  }
  if (host.empty())
    throw Error(ErrorKind::invalid, "--statsd-server expects HOST:PORT, got '" + text + "'", "--statsd-server");
  return {{"server", host}, {"port", port}};
}

namespace {

json log_options(const std::vector<std::string>& opts) {
  json object = json::object();
  for (const auto& opt : opts) {
    auto [key, value] = parse_key_value(opt, "--log-opt");
    object[key] = value;
  }
  return object;
}

}  // namespace

json grid_create_body(const GridCreateOptions& options) {
  json body = {{"name", options.name}, {"initial_size", options.initial_size}};
  if (!options.token.empty()) body["token"] = options.token;
  if (!options.subnet.empty()) body["subnet"] = options.subnet;
  if (!options.supernet.empty()) body["supernet"] = options.supernet;
  if (!options.default_affinity.empty()) body["default_affinity"] = options.default_affinity;
  if (!options.trusted_subnets.empty()) body["trusted_subnets"] = options.trusted_subnets;
  if (!options.statsd_server.empty()) body["stats"] = {{"statsd", parse_statsd_server(options.statsd_server)}};
  if (!options.log_forwarder.empty()) {
    body["logs"] = {{"forwarder", options.log_forwarder}, {"opts", log_options(options.log_opts)}};
  } else if (!options.log_opts.empty()) {
    throw Error(ErrorKind::invalid, "--log-opt needs --log-forwarder", "--log-opt");
  }
  return body;
}

json grid_update_body(const GridUpdateOptions& options, const json& current_grid) {
  json body = json::object();
  if (options.no_default_affinity) {
    body["default_affinity"] = json::array();
  } else if (!options.default_affinity.empty()) {
    body["default_affinity"] = options.default_affinity;
  }
  if (options.no_statsd_server) {
    body["stats"] = json::object();
  } else if (!options.statsd_server.empty()) {
    body["stats"] = {{"statsd", parse_statsd_server(options.statsd_server)}};
  }
  if (options.no_log_forwarder) {
    body["logs"] = {{"forwarder", "none"}, {"opts", json::object()}};
  } else if (!options.log_forwarder.empty() || !options.log_opts.empty()) {
    std::string forwarder = options.log_forwarder;
    if (forwarder.empty() && current_grid.is_object() && current_grid.contains("logs") &&
        current_grid["logs"].is_object())
      forwarder = current_grid["logs"].value("forwarder", "");
    if (forwarder.empty() || forwarder == "none")
      throw Error(ErrorKind::invalid, "--log-opt needs a log forwarder: add --log-forwarder fluentd", "--log-opt");
    body["logs"] = {{"forwarder", forwarder}, {"opts", log_options(options.log_opts)}};
  }
  if (body.empty())
    throw Error(ErrorKind::invalid,
                "nothing to update: give --default-affinity, --statsd-server, --log-forwarder, --log-opt or a --no-... "
                "option");
  return body;
}

json node_create_body(const std::string& name, const std::string& token, const std::vector<std::string>& labels) {
  json body = {{"name", name}};
  if (!token.empty()) body["token"] = token;
  if (!labels.empty()) body["labels"] = labels;
  return body;
}

json node_update_body(const NodeUpdateOptions& options) {
  json body = json::object();
  if (options.clear_labels) {
    body["labels"] = json::array();
  } else if (!options.labels.empty()) {
    body["labels"] = options.labels;
  }
  if (!options.availability.empty()) body["availability"] = options.availability;
  if (body.empty()) throw Error(ErrorKind::invalid, "nothing to update: give --label, --clear-labels or --availability");
  return body;
}

std::vector<std::string> list_with(std::vector<std::string> current, const std::vector<std::string>& added) {
  for (const auto& label : added)
    if (std::find(current.begin(), current.end(), label) == current.end()) current.push_back(label);
  return current;
}

std::vector<std::string> list_without(std::vector<std::string> current, const std::vector<std::string>& removed,
                                      const std::string& what) {
  for (const auto& label : removed) {
    auto it = std::find(current.begin(), current.end(), label);
    if (it == current.end()) throw Error(ErrorKind::not_found, "'" + label + "' is not among the " + what);
    current.erase(it);
  }
  return current;
}

json authorization_code_body(const std::string& code, std::int64_t expires_in) {
  return {{"grant_type", "authorization_code"}, {"code", code}, {"expires_in", expires_in}};
}

json token_create_body(const TokenCreateOptions& options) {
  json body = {{"response_type", options.code ? "code" : "token"}};
  if (!options.user.empty()) body["user"] = options.user;
  if (options.code) {
    if (options.expires_in_given) body["expires_in"] = options.expires_in;
    if (!options.description.empty() || !options.scopes.empty())
      throw Error(ErrorKind::invalid, "--description and --scopes apply to tokens, not to --code", "--code");
    return body;
  }
  body["expires_in"] = options.expires_in;
  if (!options.description.empty()) body["description"] = options.description;
  if (!options.scopes.empty()) body["scopes"] = options.scopes;
  return body;
}

json config_set_body(const std::vector<std::string>& assignments) {
  json body = json::object();
  for (const auto& assignment : assignments) {
    auto [key, value] = parse_key_value(assignment, "KEY=VALUE");
    body[key] = value;
  }
  return body;
}

json config_unset_body(const std::vector<std::string>& keys) {
  json body = json::object();
  for (const auto& key : keys) body[key] = nullptr;
  return body;
}

std::vector<std::string> string_list(const json& object, const char* key) {
  std::vector<std::string> items;
  if (!object.is_object()) return items;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return items;
  for (const auto& item : *it)
    if (item.is_string()) items.push_back(item.get<std::string>());
  return items;
}

}  // namespace kontena::cli
