#include "master/api/service_spec.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "common/error.h"
#include "master/api/validation.h"
#include "master/scheduler/scheduler.h"
#include "stackfile/services.h"

namespace kontena::master {

using Json = nlohmann::json;

namespace {

constexpr std::size_t kMaxEnvironmentBytes = 128 * 1024;
constexpr std::size_t kMaxDnsName = 64;
constexpr std::size_t kMaxList = 1000;
constexpr std::size_t kMaxString = 64 * 1024;

std::string at(const std::string& prefix, const std::string& key) { return prefix.empty() ? key : prefix + "." + key; }
std::string idx(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

const char* type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "a list";
    case Json::value_t::object: return "an object";
    default: return "an unexpected value";
  }
}

[[noreturn]] void wrong_type(const std::string& field, const std::string& expected, const Json& got) {
  invalid(field, field + " must be " + expected + ", not " + type_name(got));
}

void known_keys(const Json& obj, const std::string& path, const std::vector<std::string>& keys) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) != keys.end()) continue;
    std::string allowed;
    for (const auto& k : keys) allowed += (allowed.empty() ? "" : ", ") + k;
    invalid(at(path, it.key()), "unknown key \"" + it.key() + "\"" + (path.empty() ? "" : " in " + path) +
                                    ": allowed keys are " + allowed);
  }
}

Json object(const Json& v, const std::string& f) {
  if (!v.is_object()) wrong_type(f, "an object", v);
  return v;
}

Json string(const Json& v, const std::string& f, bool nullable, bool non_empty = false, std::size_t max = 4096) {
  if (v.is_null() && nullable) return nullptr;
  if (!v.is_string()) wrong_type(f, nullable ? "a string or null" : "a string", v);
  const auto& s = v.get_ref<const std::string&>();
  if (non_empty && s.empty()) invalid(f, f + " must not be empty");
  if (s.size() > max) invalid(f, f + " is longer than " + std::to_string(max) + " characters");
  return v;
}

Json boolean(const Json& v, const std::string& f) {
  if (!v.is_boolean()) wrong_type(f, "true or false", v);
  return v;
}

Json integer(const Json& v, const std::string& f, std::int64_t lo, std::int64_t hi, bool nullable) {
  if (v.is_null() && nullable) return nullptr;
  if (!v.is_number_integer()) wrong_type(f, nullable ? "an integer or null" : "an integer", v);
  bool fits = v.is_number_unsigned() ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi) &&
                                           static_cast<std::int64_t>(v.get<std::uint64_t>()) >= lo
                                     : v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
  if (!fits)
    invalid(f, f + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", not " + v.dump());
  return v.get<std::int64_t>();
}

Json string_list(const Json& v, const std::string& f, bool non_empty_items = true) {
  if (!v.is_array()) wrong_type(f, "a list of strings", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  for (std::size_t i = 0; i < v.size(); ++i) string(v[i], idx(f, i), false, non_empty_items);
  return v;
}

Json string_map(const Json& v, const std::string& f) {
  object(v, f);
  for (auto it = v.begin(); it != v.end(); ++it) string(*it, at(f, it.key()), false, false, kMaxString);
  return v;
}

bool valid_ipv4(const std::string& s) {
  auto cidr = parse_ipv4_cidr(s + "/32");
  return cidr.has_value();
}

bool valid_link_name(const std::string& s) {
  if (s.empty() || s.size() > 255 || s.front() == '/' || s.back() == '/') return false;
  if (std::count(s.begin(), s.end(), '/') > 1) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  return true;
}

std::string image_with_tag(const std::string& image) {
  if (image.find('@') != std::string::npos) return image;
  auto slash = image.rfind('/');
  auto last = slash == std::string::npos ? image : image.substr(slash + 1);
  return last.find(':') == std::string::npos ? image + ":latest" : image;
}

Json image(const Json& v, const std::string& f) {
  string(v, f, false, true, 512);
  const auto& s = v.get_ref<const std::string&>();
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      invalid(f, f + " \"" + s + "\" is not an image name: no spaces (e.g. nginx:1.25 or registry/user/app:tag)");
  if (s.front() == ':' || s.front() == '@' || s.front() == '/' || s.back() == ':' || s.back() == '/')
    invalid(f, f + " \"" + s + "\" is not an image name (e.g. nginx:1.25 or registry/user/app:tag)");
  return image_with_tag(s);
}

Json environment(const Json& v, const std::string& f) {
  if (!v.is_array()) wrong_type(f, "a list of \"NAME=VALUE\" strings", v);
  if (v.size() > 4096) invalid(f, f + " has more than 4096 variables");
  std::set<std::string> names;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    string(v[i], item, false, true, kMaxEnvironmentBytes);
    const auto& s = v[i].get_ref<const std::string&>();
    auto eq = s.find('=');
    if (eq == 0 || eq == std::string::npos) invalid(item, item + " \"" + s + "\" is not NAME=VALUE");
    auto name = s.substr(0, eq);
    if (!names.insert(name).second) invalid(item, item + ": variable " + name + " is given twice");
  }
  return v;
}

Json named_refs(const Json& v, const std::string& f, const std::string& id_key) {
  if (!v.is_array()) wrong_type(f, "a list of {" + id_key + ", name, type}", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  Json out = Json::array();
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    object(v[i], item);
    known_keys(v[i], item, {id_key, "name", "type"});
    Json r{{"type", "env"}};
    for (const std::string& k : {id_key, std::string("name")}) {
      if (!v[i].contains(k)) invalid(at(item, k), at(item, k) + " is required");
      r[k] = string(v[i][k], at(item, k), false, true, 256);
    }
    if (v[i].contains("type") && !v[i]["type"].is_null()) {
      string(v[i]["type"], at(item, "type"), false);
      if (v[i]["type"] != "env") invalid(at(item, "type"), at(item, "type") + " must be \"env\" (the only type)");
    }
    out.push_back(r);
  }
  return out;
}

Json links(const Json& v, const std::string& f) {
  if (!v.is_array()) wrong_type(f, "a list of {name, alias}", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  Json out = Json::array();
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    std::string name, alias;
    if (v[i].is_string()) {
      // "svc", "svc:alias", "stack/svc[:alias]"
      const auto& s = v[i].get_ref<const std::string&>();
      auto colon = s.find(':');
      name = s.substr(0, colon);
      if (colon != std::string::npos) alias = s.substr(colon + 1);
    } else if (v[i].is_object()) {
      known_keys(v[i], item, {"name", "alias"});
      if (!v[i].contains("name")) invalid(at(item, "name"), at(item, "name") + " is required");
      name = string(v[i]["name"], at(item, "name"), false, true, 255).get<std::string>();
      if (v[i].contains("alias") && !v[i]["alias"].is_null())
        alias = string(v[i]["alias"], at(item, "alias"), false, true, 255).get<std::string>();
    } else {
      wrong_type(item, "{name, alias} or \"SERVICE[:ALIAS]\"", v[i]);
    }
    if (!valid_link_name(name))
      invalid(item, item + ": \"" + name + "\" is not a link target (SERVICE or STACK/SERVICE)");
    if (alias.empty()) {
      auto slash = name.find('/');
      alias = slash == std::string::npos ? name : name.substr(slash + 1);
    }
    out.push_back({{"name", name}, {"alias", alias}});
  }
  return out;
}

Json ports(const Json& v, const std::string& f) {
  if (!v.is_array()) wrong_type(f, "a list of {ip, protocol, node_port, container_port}", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  Json out = Json::array();
  std::set<std::string> published;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    object(v[i], item);
    known_keys(v[i], item, {"ip", "protocol", "node_port", "container_port"});
    Json p{{"ip", "0.0.0.0"}, {"protocol", "tcp"}};
    for (const char* k : {"node_port", "container_port"}) {
      if (!v[i].contains(k) || v[i][k].is_null()) invalid(at(item, k), at(item, k) + " is required (1..65535)");
      p[k] = integer(v[i][k], at(item, k), 1, 65535, false);
    }
    if (v[i].contains("ip") && !v[i]["ip"].is_null()) {
      auto ip = string(v[i]["ip"], at(item, "ip"), false).get<std::string>();
      if (!valid_ipv4(ip)) invalid(at(item, "ip"), at(item, "ip") + " \"" + ip + "\" is not an IPv4 address");
      p["ip"] = ip;
    }
    if (v[i].contains("protocol") && !v[i]["protocol"].is_null()) {
      auto proto = string(v[i]["protocol"], at(item, "protocol"), false).get<std::string>();
      if (proto != "tcp" && proto != "udp")
        invalid(at(item, "protocol"), at(item, "protocol") + " must be tcp or udp, not \"" + proto + "\"");
      p["protocol"] = proto;
    }
    auto key = p["ip"].get<std::string>() + ":" + p["node_port"].dump() + "/" + p["protocol"].get<std::string>();
    if (!published.insert(key).second)
      invalid(at(item, "node_port"), at(item, "node_port") + ": node port " + p["node_port"].dump() + "/" +
                                         p["protocol"].get<std::string>() + " is published twice");
    out.push_back(p);
  }
  return out;
}

Json volumes(const Json& v, const std::string& f) {
  if (!v.is_array()) wrong_type(f, "a list of {type, source, target, flags}", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  Json out = Json::array();
  std::set<std::string> targets;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    object(v[i], item);
    known_keys(v[i], item, {"type", "source", "target", "flags"});
    Json vol{{"type", nullptr}, {"source", nullptr}, {"target", nullptr}, {"flags", nullptr}};
    if (!v[i].contains("target") || v[i]["target"].is_null()) invalid(at(item, "target"), at(item, "target") + " is required");
    auto target = string(v[i]["target"], at(item, "target"), false, true, 1024).get<std::string>();
    if (target[0] != '/') invalid(at(item, "target"), at(item, "target") + " \"" + target + "\" must be an absolute path");
    if (!targets.insert(target).second)
      invalid(at(item, "target"), at(item, "target") + ": duplicate mount point \"" + target + "\"");
    vol["target"] = target;
    std::string source;
    if (v[i].contains("source") && !v[i]["source"].is_null())
      source = string(v[i]["source"], at(item, "source"), false, true, 1024).get<std::string>();
    std::string type = source.empty() ? "anonymous" : (source[0] == '/' || source[0] == '.' || source[0] == '~' ? "bind" : "named");
    if (v[i].contains("type") && !v[i]["type"].is_null()) {
      auto given = string(v[i]["type"], at(item, "type"), false).get<std::string>();
      if (given != "anonymous" && given != "bind" && given != "named")
        invalid(at(item, "type"), at(item, "type") + " must be anonymous, bind or named, not \"" + given + "\"");
      if (given != type)
        invalid(at(item, "type"), at(item, "type") + " \"" + given + "\" does not fit the source " +
                                      (source.empty() ? std::string("(none: anonymous)") : "\"" + source + "\" (" + type + ")"));
    }
    vol["type"] = type;
    if (!source.empty()) vol["source"] = source;
    if (v[i].contains("flags") && !v[i]["flags"].is_null()) {
      auto flags = string(v[i]["flags"], at(item, "flags"), false, true, 64).get<std::string>();
      for (char c : flags)
        if (!std::isalpha(static_cast<unsigned char>(c)) && c != ',')
          invalid(at(item, "flags"), at(item, "flags") + " \"" + flags + "\" are not mount flags (ro, rw, z, Z, nocopy, ...)");
      vol["flags"] = flags;
    }
    out.push_back(vol);
  }
  return out;
}

Json affinity(const Json& v, const std::string& f) {
  string_list(v, f);
  for (std::size_t i = 0; i < v.size(); ++i) {
    try {
      scheduler::parse_affinity(v[i].get<std::string>());
    } catch (const Error& e) {
      invalid(idx(f, i), idx(f, i) + ": " + e.what());
    }
  }
  return v;
}

Json logging(const Json& v, const std::string& f) {
  if (v.is_null()) return nullptr;
  object(v, f);
  known_keys(v, f, {"driver", "options"});
  if (!v.contains("driver") || v["driver"].is_null()) invalid(at(f, "driver"), at(f, "driver") + " is required");
  Json l{{"driver", string(v["driver"], at(f, "driver"), false, true, 64)}, {"options", Json::object()}};
  if (v.contains("options") && !v["options"].is_null()) l["options"] = string_map(v["options"], at(f, "options"));
  return l;
}

Json deploy(const Json& v, const std::string& f) {
  Json d{{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}};
  if (v.is_null()) return d;
  object(v, f);
  known_keys(v, f, {"strategy", "wait_for_port", "min_health", "interval"});
  if (v.contains("strategy") && !v["strategy"].is_null()) {
    auto s = string(v["strategy"], at(f, "strategy"), false).get<std::string>();
    if (s != "ha" && s != "daemon" && s != "random")
      invalid(at(f, "strategy"), at(f, "strategy") + " must be ha, daemon or random, not \"" + s + "\"");
    d["strategy"] = s;
  }
  if (v.contains("wait_for_port")) d["wait_for_port"] = integer(v["wait_for_port"], at(f, "wait_for_port"), 1, 65535, true);
  if (v.contains("min_health") && !v["min_health"].is_null()) {
    const auto& m = v["min_health"];
    if (!m.is_number()) wrong_type(at(f, "min_health"), "a number between 0.0 and 1.0", m);
    double x = m.get<double>();
    if (x < 0 || x > 1) invalid(at(f, "min_health"), at(f, "min_health") + " must be between 0.0 and 1.0, not " + m.dump());
    d["min_health"] = m;
  }
  if (v.contains("interval")) d["interval"] = integer(v["interval"], at(f, "interval"), 1, 10LL * 365 * 86400, true);
  return d;
}

Json health_check(const Json& v, const std::string& f) {
  if (v.is_null()) return nullptr;
  object(v, f);
  known_keys(v, f, {"protocol", "port", "uri", "timeout", "interval", "initial_delay"});
  Json h{{"protocol", nullptr}, {"port", nullptr}, {"uri", nullptr}, {"timeout", 10}, {"interval", 60}, {"initial_delay", 10}};
  if (!v.contains("protocol") || v["protocol"].is_null())
    invalid(at(f, "protocol"), at(f, "protocol") + " is required (http or tcp)");
  auto proto = string(v["protocol"], at(f, "protocol"), false).get<std::string>();
  if (proto != "http" && proto != "tcp")
    invalid(at(f, "protocol"), at(f, "protocol") + " must be http or tcp, not \"" + proto + "\"");
  h["protocol"] = proto;
  if (!v.contains("port") || v["port"].is_null()) invalid(at(f, "port"), at(f, "port") + " is required (1..65535)");
  h["port"] = integer(v["port"], at(f, "port"), 1, 65535, false);
  if (proto == "http") h["uri"] = "/";
  if (v.contains("uri") && !v["uri"].is_null()) {
    auto uri = string(v["uri"], at(f, "uri"), false, true, 2048).get<std::string>();
    if (uri[0] != '/') invalid(at(f, "uri"), at(f, "uri") + " must start with / (e.g. /health)");
    h["uri"] = uri;
  }
  for (const char* k : {"timeout", "interval", "initial_delay"})
    if (v.contains(k) && !v[k].is_null()) h[k] = integer(v[k], at(f, k), 0, 365LL * 86400, false);
  if (h["interval"].get<std::int64_t>() < h["timeout"].get<std::int64_t>())
    invalid(at(f, "interval"), at(f, "interval") + " (" + h["interval"].dump() + ") must not be shorter than timeout (" +
                                   h["timeout"].dump() + ")");
  return h;
}

bool valid_hook_instances(const std::string& s) {
  if (s == "*") return true;
  if (s.empty()) return false;
  std::size_t p = 0;
  while (true) {
    auto c = s.find(',', p);
    auto part = s.substr(p, c == std::string::npos ? std::string::npos : c - p);
    auto b = part.find_first_not_of(' '), e = part.find_last_not_of(' ');
    if (b == std::string::npos) return false;
    part = part.substr(b, e - b + 1);
    if (part.empty() || part.size() > 6 || !std::all_of(part.begin(), part.end(), ::isdigit)) return false;
    if (c == std::string::npos) return true;
    p = c + 1;
  }
}

Json hook_list(const Json& v, const std::string& f, bool build) {
  if (!v.is_array()) wrong_type(f, "a list of {name, cmd}", v);
  if (v.size() > kMaxList) invalid(f, f + " has more than " + std::to_string(kMaxList) + " items");
  Json out = Json::array();
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = idx(f, i);
    object(v[i], item);
    if (build) known_keys(v[i], item, {"name", "cmd", "file"});
    else known_keys(v[i], item, {"name", "cmd", "instances", "oneshot"});
    Json h = Json::object();
    for (const char* k : {"name", "cmd"}) {
      if (!v[i].contains(k) || v[i][k].is_null()) invalid(at(item, k), at(item, k) + " is required");
      h[k] = string(v[i][k], at(item, k), false, true, kMaxString);
    }
    if (build) {
      if (v[i].contains("file") && !v[i]["file"].is_null()) h["file"] = string(v[i]["file"], at(item, "file"), false, true);
    } else {
      h["instances"] = "*";
      h["oneshot"] = false;
      if (v[i].contains("instances") && !v[i]["instances"].is_null()) {
        const auto& in = v[i]["instances"];
        std::string s = in.is_number_integer() ? std::to_string(in.get<std::int64_t>())
                                               : string(in, at(item, "instances"), false).get<std::string>();
        if (!valid_hook_instances(s))
          invalid(at(item, "instances"), at(item, "instances") + " must be \"*\" or instance numbers such as \"1,2\"");
        h["instances"] = s;
      }
      if (v[i].contains("oneshot") && !v[i]["oneshot"].is_null()) h["oneshot"] = boolean(v[i]["oneshot"], at(item, "oneshot"));
    }
    out.push_back(h);
  }
  return out;
}

Json hooks(const Json& v, const std::string& f) {
  Json h{{"pre_build", Json::array()}, {"pre_start", Json::array()}, {"post_start", Json::array()}, {"pre_stop", Json::array()}};
  if (v.is_null()) return h;
  object(v, f);
  known_keys(v, f, {"pre_build", "pre_start", "post_start", "pre_stop"});
  for (const char* k : {"pre_build", "pre_start", "post_start", "pre_stop"})
    if (v.contains(k) && !v[k].is_null()) h[k] = hook_list(v[k], at(f, k), std::string(k) == "pre_build");
  return h;
}

Json build(const Json& v, const std::string& f) {
  if (v.is_null()) return nullptr;
  object(v, f);
  known_keys(v, f, {"context", "dockerfile", "args"});
  Json b{{"context", nullptr}, {"dockerfile", nullptr}, {"args", Json::object()}};
  if (v.contains("context")) b["context"] = string(v["context"], at(f, "context"), true, true, 2048);
  if (v.contains("dockerfile")) b["dockerfile"] = string(v["dockerfile"], at(f, "dockerfile"), true, true, 2048);
  if (v.contains("args") && !v["args"].is_null()) b["args"] = string_map(v["args"], at(f, "args"));
  return b;
}

Json network_mode(const Json& v, const std::string& f) {
  if (v.is_null()) return nullptr;
  auto s = string(v, f, false).get<std::string>();
  if (s == "host" || s == "bridge" || (s.rfind("container:", 0) == 0 && s.size() > 10)) return s;
  invalid(f, f + " must be host, bridge or container:NAME, not \"" + s + "\"");
}

Json cpus(const Json& v, const std::string& f) {
  if (v.is_null()) return nullptr;
  if (!v.is_number()) wrong_type(f, "a number or null", v);
  double x = v.get<double>();
  if (!(x > 0) || x > 1024) invalid(f, f + " must be more than 0 and at most 1024, not " + v.dump());
  return v;
}

// One key of the normalised spec.
Json check_key(const std::string& key, const Json& v, const std::string& f) {
  if (key == "name") {
    validate_resource_name(f, "service", string(v, f, false, true, 63).get<std::string>());
    return v;
  }
  if (key == "image") return v.is_null() ? Json(nullptr) : image(v, f);
  if (key == "build") return build(v, f);
  if (key == "instances") return integer(v, f, 0, 100000, false);
  if (key == "stateful" || key == "privileged" || key == "read_only") return boolean(v, f);
  if (key == "command") {
    if (v.is_null()) return nullptr;
    return string_list(v, f, false);
  }
  if (key == "entrypoint" || key == "user" || key == "stop_signal") return string(v, f, true, true, 1024);
  if (key == "environment") return environment(v, f);
  if (key == "secrets") return named_refs(v, f, "secret");
  if (key == "certificates") return named_refs(v, f, "subject");
  if (key == "links" || key == "external_links") return links(v, f);
  if (key == "depends_on") {
    string_list(v, f);
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!valid_link_name(v[i].get<std::string>()))
        invalid(idx(f, i), idx(f, i) + ": \"" + v[i].get<std::string>() + "\" is not a service name");
    return v;
  }
  if (key == "ports") return ports(v, f);
  if (key == "volumes") return volumes(v, f);
  if (key == "volumes_from" || key == "cap_add" || key == "cap_drop" || key == "devices") return string_list(v, f);
  if (key == "affinity") return affinity(v, f);
  if (key == "cpus") return cpus(v, f);
  if (key == "cpu_shares") return integer(v, f, 0, 1024, true);
  if (key == "mem_limit" || key == "memswap_limit" || key == "shm_size")
    return integer(v, f, 0, std::int64_t{1} << 50, true);
  if (key == "network_mode") return network_mode(v, f);
  if (key == "pid") {
    if (v.is_null()) return nullptr;
    if (string(v, f, false).get<std::string>() != "host") invalid(f, f + " must be \"host\" or null");
    return v;
  }
  if (key == "logging") return logging(v, f);
  if (key == "deploy") return deploy(v, f);
  if (key == "health_check") return health_check(v, f);
  if (key == "hooks") return hooks(v, f);
  if (key == "stop_grace_period") return integer(v, f, 0, 86400, false);
  invalid(f, "unknown key \"" + key + "\"");  // not reached: keys are checked against the defaults first
}

std::string stack_dns_suffix(const std::string& stack, const std::string& grid) {
  return (stack.empty() || stack == "null" ? "" : "." + stack) + "." + grid + ".kontena.local";
}

}  // namespace

Json default_service_spec(const std::string& name) { return stackfile::default_service_spec(name); }

void validate_resource_name(const std::string& field, const std::string& what, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-';
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok)
    invalid(field, what + " name \"" + name +
                       "\" is invalid: use at most 63 lowercase letters, digits and '-', not starting with '-' (e.g. web-1)");
  if (what == "stack" && name == "null") invalid(field, "\"null\" is not a stack name: it names the grid's stack-less services");
}

Json normalise_service_spec(const Json& spec, const std::string& prefix) {
  if (!spec.is_object()) wrong_type(prefix.empty() ? "service" : prefix, "an object", spec);
  if (!spec.contains("name") || spec["name"].is_null()) invalid(at(prefix, "name"), at(prefix, "name") + " is required");
  Json out = default_service_spec("");
  std::vector<std::string> keys;
  for (auto it = out.begin(); it != out.end(); ++it) keys.push_back(it.key());
  known_keys(spec, prefix, keys);
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    // null for a key whose default is a list or object means "the default".
    if (it->is_null() && (out[it.key()].is_array() || out[it.key()].is_object())) continue;
    out[it.key()] = check_key(it.key(), *it, at(prefix, it.key()));
  }
  if (out["image"].is_null()) invalid(at(prefix, "image"), at(prefix, "image") + " is required (e.g. nginx:1.25)");
  return out;
}

LinkTarget link_target(const std::string& own_stack, const std::string& link_name) {
  auto slash = link_name.find('/');
  if (slash == std::string::npos) return {own_stack.empty() ? "null" : own_stack, link_name};
  return {link_name.substr(0, slash), link_name.substr(slash + 1)};
}

std::vector<std::string> changed_spec_fields(const Json& before, const Json& after) {
  std::set<std::string> keys;
  for (auto it = before.begin(); it != before.end(); ++it) keys.insert(it.key());
  for (auto it = after.begin(); it != after.end(); ++it) keys.insert(it.key());
  std::vector<std::string> out;
  for (const auto& k : keys) {
    Json a = before.contains(k) ? before[k] : Json(nullptr);
    Json b = after.contains(k) ? after[k] : Json(nullptr);
    if (a != b) out.push_back(k);
  }
  return out;
}

bool spec_change_needs_revision(const std::vector<std::string>& fields) {
  return std::any_of(fields.begin(), fields.end(), [](const std::string& f) { return f != "instances"; });
}

void check_service_limits(const Json& spec, const std::string& stack, const std::string& grid, const std::string& prefix) {
  auto name = spec.value("name", "");
  auto instances = std::max<std::int64_t>(1, spec.value("instances", std::int64_t{1}));
  auto fqdn = name + "-" + std::to_string(instances) + stack_dns_suffix(stack, grid);
  if (fqdn.size() > kMaxDnsName)
    invalid(at(prefix, "name"), "the DNS name " + fqdn + " is " + std::to_string(fqdn.size()) + " characters long (at most " +
                                    std::to_string(kMaxDnsName) + "): shorten the service or stack name");
  std::size_t env_bytes = 0;
  for (const auto& e : spec.value("environment", Json::array())) env_bytes += e.get_ref<const std::string&>().size() + 1;
  for (const auto& s : spec.value("secrets", Json::array())) env_bytes += s.value("name", "").size() + 1;
  if (env_bytes > kMaxEnvironmentBytes)
    invalid(at(prefix, "environment"), "the environment of service " + name + " (env and secrets) is " +
                                           std::to_string(env_bytes) + " bytes: at most 128 KiB is allowed");
}

Json normalise_stack_definition(const Json& def, const StackCheckContext& ctx) {
  if (!def.is_object()) wrong_type("definition", "an object", def);
  known_keys(def, "", {"name", "stack", "version", "description", "expose", "labels", "meta", "services", "volumes",
                       "dependencies", "variables", "parent", "source"});
  Json out{{"stack", nullptr},        {"name", nullptr},        {"version", "0.0.1"},
           {"description", nullptr},  {"expose", nullptr},      {"labels", Json::array()},
           {"meta", nullptr},         {"services", Json::array()}, {"volumes", Json::array()},
           {"dependencies", Json::array()}, {"variables", Json::object()}, {"parent", nullptr},
           {"source", nullptr}};
  if (!def.contains("name") || def["name"].is_null()) invalid("name", "name is required (the stack's name)");
  auto name = string(def["name"], "name", false, true, 63).get<std::string>();
  validate_resource_name("name", "stack", name);
  out["name"] = name;
  out["stack"] = name;
  if (def.contains("stack") && !def["stack"].is_null()) {
    auto s = string(def["stack"], "stack", false, true, 255).get<std::string>();
    auto slash = s.find('/');
    if (slash != std::string::npos) validate_resource_name("stack", "stack", s.substr(slash + 1));
    else validate_resource_name("stack", "stack", s);
    out["stack"] = s;
  }
  if (def.contains("version") && !def["version"].is_null()) out["version"] = string(def["version"], "version", false, true, 64);
  if (def.contains("description")) out["description"] = string(def["description"], "description", true, false, kMaxString);
  if (def.contains("labels") && !def["labels"].is_null()) {
    string_list(def["labels"], "labels");
    for (std::size_t i = 0; i < def["labels"].size(); ++i) {
      const auto& l = def["labels"][i].get_ref<const std::string&>();
      if (l.find('=') == std::string::npos || l.find('=') == 0)
        invalid(idx("labels", i), "label \"" + l + "\" is invalid: use key=value (e.g. team=web)");
      validate_label(idx("labels", i), l);
    }
    out["labels"] = def["labels"];
  }
  if (def.contains("meta")) out["meta"] = def["meta"];
  if (def.contains("variables") && !def["variables"].is_null()) out["variables"] = object(def["variables"], "variables");
  if (def.contains("source")) out["source"] = string(def["source"], "source", true, false, 1024 * 1024);
  if (def.contains("parent") && !def["parent"].is_null()) {
    object(def["parent"], "parent");
    known_keys(def["parent"], "parent", {"name"});
    if (!def["parent"].contains("name")) invalid("parent.name", "parent.name is required");
    auto parent = string(def["parent"]["name"], "parent.name", false, true, 63).get<std::string>();
    validate_resource_name("parent.name", "stack", parent);
    if (parent == name) invalid("parent.name", "a stack cannot be its own parent");
    out["parent"] = {{"name", parent}};
  }
  std::set<std::string> volume_names;
  if (def.contains("volumes") && !def["volumes"].is_null()) {
    const auto& vols = def["volumes"];
    if (!vols.is_array()) wrong_type("volumes", "a list of {name, external}", vols);
    for (std::size_t i = 0; i < vols.size(); ++i) {
      auto item = idx("volumes", i);
      object(vols[i], item);
      known_keys(vols[i], item, {"name", "external"});
      if (!vols[i].contains("name")) invalid(at(item, "name"), at(item, "name") + " is required");
      auto vname = string(vols[i]["name"], at(item, "name"), false, true, 255).get<std::string>();
      if (!volume_names.insert(vname).second) invalid(at(item, "name"), "volume \"" + vname + "\" is declared twice");
      Json external = vname;
      if (vols[i].contains("external") && !vols[i]["external"].is_null()) {
        const auto& e = vols[i]["external"];
        if (e.is_string() && !e.get_ref<const std::string&>().empty()) external = e;
        else if (!(e.is_boolean() && e.get<bool>()))
          invalid(at(item, "external"), at(item, "external") + " must be the external volume's name (only external volumes are supported)");
      }
      out["volumes"].push_back({{"name", vname}, {"external", external}});
    }
  }
  if (def.contains("dependencies") && !def["dependencies"].is_null()) {
    const auto& deps = def["dependencies"];
    if (!deps.is_array()) wrong_type("dependencies", "a list of {name, stack, variables}", deps);
    std::set<std::string> names;
    for (std::size_t i = 0; i < deps.size(); ++i) {
      auto item = idx("dependencies", i);
      object(deps[i], item);
      known_keys(deps[i], item, {"name", "stack", "variables"});
      for (const char* k : {"name", "stack"})
        if (!deps[i].contains(k)) invalid(at(item, k), at(item, k) + " is required");
      auto dname = string(deps[i]["name"], at(item, "name"), false, true, 63).get<std::string>();
      if (!names.insert(dname).second) invalid(at(item, "name"), "dependency \"" + dname + "\" is listed twice");
      Json d{{"name", dname}, {"stack", string(deps[i]["stack"], at(item, "stack"), false, true, 2048)},
             {"variables", Json::object()}};
      if (deps[i].contains("variables") && !deps[i]["variables"].is_null())
        d["variables"] = object(deps[i]["variables"], at(item, "variables"));
      out["dependencies"].push_back(d);
    }
  }

  if (!def.contains("services") || def["services"].is_null()) invalid("services", "services is required (a list of service specs)");
  const auto& services = def["services"];
  if (!services.is_array()) wrong_type("services", "a list of service specs", services);
  if (services.size() > kMaxList) invalid("services", "a stack has at most " + std::to_string(kMaxList) + " services");
  if (services.empty() && volume_names.empty()) invalid("services", "a stack must have services or volumes");
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < services.size(); ++i) {
    auto prefix = idx("services", i);
    Json spec = normalise_service_spec(services[i], prefix);
    auto sname = spec["name"].get<std::string>();
    if (!index.emplace(sname, i).second)
      invalid(at(prefix, "name"), "service \"" + sname + "\" is defined twice (also services[" + std::to_string(index[sname]) + "])");
    check_service_limits(spec, name, ctx.grid, prefix);
    for (std::size_t v = 0; v < spec["volumes"].size(); ++v) {
      const auto& vol = spec["volumes"][v];
      if (vol["type"] == "named" && !volume_names.count(vol["source"].get<std::string>()))
        invalid(at(idx(at(prefix, "volumes"), v), "source"),
                "the volume \"" + vol["source"].get<std::string>() + "\" is not declared in the stack's volumes");
    }
    out["services"].push_back(std::move(spec));
  }
  // Links and depends_on: a service of this stack, or one of an existing stack. Local edges for
  // the cycle check.
  std::vector<std::vector<std::size_t>> edges(out["services"].size());
  for (std::size_t i = 0; i < out["services"].size(); ++i) {
    const auto& spec = out["services"][i];
    auto prefix = idx("services", i);
    auto check = [&](const std::string& target_name, const std::string& field) {
      auto t = link_target(name, target_name);
      if (t.stack == name) {
        auto it = index.find(t.service);
        if (it == index.end())
          invalid(field, field + ": \"" + target_name + "\" is not a service of stack " + name);
        if (it->second == i) invalid(field, field + ": service " + t.service + " cannot link to itself");
        edges[i].push_back(it->second);
      } else if (!ctx.service_exists || !ctx.service_exists(t.stack, t.service)) {
        invalid(field, field + ": service " + t.service + " of stack " + t.stack + " does not exist (install that stack first)");
      }
    };
    for (std::size_t l = 0; l < spec["links"].size(); ++l)
      check(spec["links"][l]["name"].get<std::string>(), idx(at(prefix, "links"), l));
    for (std::size_t l = 0; l < spec["depends_on"].size(); ++l)
      check(spec["depends_on"][l].get<std::string>(), idx(at(prefix, "depends_on"), l));
  }
  // Cycle: depth-first search with colours.
  std::vector<int> colour(edges.size(), 0);
  std::vector<std::size_t> path;
  std::function<void(std::size_t)> visit = [&](std::size_t n) {
    colour[n] = 1;
    path.push_back(n);
    for (auto m : edges[n]) {
      if (colour[m] == 1) {
        std::string cycle;
        auto start = std::find(path.begin(), path.end(), m);
        for (auto it = start; it != path.end(); ++it) cycle += out["services"][*it]["name"].get<std::string>() + " -> ";
        cycle += out["services"][m]["name"].get<std::string>();
        invalid(at(idx("services", n), "links"), "the services link in a cycle: " + cycle);
      }
      if (colour[m] == 0) visit(m);
    }
    path.pop_back();
    colour[n] = 2;
  };
  for (std::size_t n = 0; n < edges.size(); ++n)
    if (colour[n] == 0) visit(n);

  if (def.contains("expose") && !def["expose"].is_null()) {
    auto expose = string(def["expose"], "expose", false, true, 63).get<std::string>();
    if (!index.count(expose)) invalid("expose", "expose: \"" + expose + "\" is not a service of stack " + name);
    out["expose"] = expose;
  }
  return out;
}

}  // namespace kontena::master
