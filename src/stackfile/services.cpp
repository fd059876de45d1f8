#include "stackfile/services.h"

#include <algorithm>
#include <cmath>

#include "stackfile/util.h"

namespace kontena::stackfile {

using json = nlohmann::json;

const std::set<std::string> kServiceKeys = {
    "image", "build", "extends", "instances", "stateful", "command", "entrypoint", "environment", "env_file",
    "links", "depends_on", "external_links", "ports", "volumes", "volumes_from", "affinity", "cpus",
    "cpu_shares", "mem_limit", "memswap_limit", "mem_swaplimit", "shm_size", "network_mode", "pid",
    "privileged", "read_only", "cap_add", "cap_drop", "user", "logging", "deploy", "health_check", "hooks",
    "secrets", "certificates", "stop_signal", "stop_grace_period", "only_if", "skip_if", "devices"};

namespace {

bool is_digits(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string describe(const YNode& n) {
  switch (n.kind) {
    case YNode::Kind::null: return "nothing";
    case YNode::Kind::seq: return "a list";
    case YNode::Kind::map: return "a mapping";
    case YNode::Kind::scalar: {
      json v = scalar_value(n);
      if (v.is_string()) return "\"" + n.value + "\"";
      return n.value;
    }
  }
  return "?";
}

bool valid_ipv4(const std::string& s) {
  int parts = 0;
  std::size_t pos = 0;
  while (true) {
    std::size_t dot = s.find('.', pos);
    std::string p = s.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (!is_digits(p) || p.size() > 3 || std::stoi(p) > 255) return false;
    ++parts;
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return parts == 4;
}

class Checker {
 public:
  Checker(const ServiceContext& c, std::string base) : c_(c), base_(std::move(base)) {}

  void err(const YNode& n, const std::string& sub, const std::string& msg) const {
    c_.rep.error(n.line, sub.empty() ? base_ : base_ + "." + sub, msg);
  }
  void warn(const YNode& n, const std::string& sub, const std::string& msg) const {
    c_.rep.warn(n.line, sub.empty() ? base_ : base_ + "." + sub, msg);
  }

  std::optional<std::string> str(const YNode& n, const std::string& key, bool allow_numbers = false) const {
    if (n.is_scalar()) {
      json v = scalar_value(n);
      if (v.is_string() || (allow_numbers && (v.is_number() || v.is_boolean()))) return n.value;
    }
    err(n, key, "must be a string, not " + describe(n));
    return std::nullopt;
  }
  std::optional<bool> boolean(const YNode& n, const std::string& key) const {
    json v = scalar_value(n);
    if (n.is_scalar() && v.is_boolean()) return v.get<bool>();
    err(n, key, "must be true or false, not " + describe(n));
    return std::nullopt;
  }
  std::optional<long long> integer(const YNode& n, const std::string& key, long long lo, long long hi) const {
    json v = n.is_scalar() ? scalar_value(n) : json(nullptr);
    if (v.is_string()) {
      if (auto i = util::parse_int(util::trim(v.get<std::string>()))) v = *i;
    }
    if (!v.is_number_integer()) {
      err(n, key, "must be an integer, not " + describe(n));
      return std::nullopt;
    }
    long long i = v.get<long long>();
    if (i < lo || i > hi) {
      err(n, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", not " + std::to_string(i));
      return std::nullopt;
    }
    return i;
  }
  std::optional<double> number(const YNode& n, const std::string& key) const {
    json v = n.is_scalar() ? scalar_value(n) : json(nullptr);
    if (v.is_string()) {
      if (auto d = util::parse_number(util::trim(v.get<std::string>()))) v = *d;
    }
    if (!v.is_number()) {
      err(n, key, "must be a number, not " + describe(n));
      return std::nullopt;
    }
    return v.get<double>();
  }
  // A list of strings (a single string is accepted as a list of one when `single` is set).
  std::optional<std::vector<std::pair<std::string, const YNode*>>> strings(const YNode& n, const std::string& key,
                                                                          bool single = false) const {
    std::vector<std::pair<std::string, const YNode*>> out;
    if (single && n.is_scalar()) {
      out.emplace_back(n.value, &n);
      return out;
    }
    if (!n.is_seq()) {
      err(n, key, "must be a list of strings, not " + describe(n));
      return std::nullopt;
    }
    bool ok = true;
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      const YNode& item = n.items[i];
      if (!item.is_scalar()) {
        err(item, key + "[" + std::to_string(i) + "]", "must be a string, not " + describe(item));
        ok = false;
        continue;
      }
      out.emplace_back(item.value, &item);
    }
    if (!ok) return std::nullopt;
    return out;
  }
  void unknown_keys(const YNode& n, const std::string& key, const std::set<std::string>& known) const {
    for (const auto& [k, v] : n.entries) {
      if (!known.count(k)) err(v, key, "key \"" + k + "\" is not expected");
    }
  }
  bool is_map(const YNode& n, const std::string& key) const {
    if (n.is_map()) return true;
    err(n, key, "must be a mapping, not " + describe(n));
    return false;
  }

  const ServiceContext& c_;
  std::string base_;
};

json parse_link(const std::string& s) {
  std::size_t colon = s.find(':');
  std::string name = s.substr(0, colon);
  std::string alias = colon == std::string::npos ? name : s.substr(colon + 1);
  if (colon == std::string::npos) {
    std::size_t slash = name.rfind('/');
    alias = slash == std::string::npos ? name : name.substr(slash + 1);
  }
  return json{{"name", name}, {"alias", alias}};
}

bool valid_link_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  }
  return s.front() != '/' && s.back() != '/';
}

json links(const Checker& ck, const YNode& n, const std::string& key) {
  json out = json::array();
  if (!n.is_seq()) {
    ck.err(n, key, "must be a list such as [\"db\", \"db:mysql\", \"otherstack/api:api\"], not " + describe(n));
    return out;
  }
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const YNode& item = n.items[i];
    std::string sub = key + "[" + std::to_string(i) + "]";
    json link;
    if (item.is_scalar()) {
      link = parse_link(item.value);
    } else if (item.is_map()) {
      ck.unknown_keys(item, sub, {"name", "alias"});
      const YNode* name = item.find("name");
      if (!name || !name->is_scalar()) {
        ck.err(item, sub, "a link needs a name");
        continue;
      }
      const YNode* alias = item.find("alias");
      link = parse_link(name->value);
      if (alias && alias->is_scalar()) link["alias"] = alias->value;
    } else {
      ck.err(item, sub, "must be a string or {name, alias}, not " + describe(item));
      continue;
    }
    if (!valid_link_name(link["name"].get<std::string>()) || link["alias"].get<std::string>().empty()) {
      ck.err(item, sub, "\"" + item.value + "\" is not a link (SERVICE, SERVICE:ALIAS or STACK/SERVICE:ALIAS)");
      continue;
    }
    out.push_back(link);
  }
  return out;
}

json port(const Checker& ck, const YNode& item, const std::string& sub) {
  const char* form = "must be \"[IP:]NODE_PORT:CONTAINER_PORT[/PROTOCOL]\" (e.g. \"80:80\" or \"127.0.0.1:53:53/udp\")";
  if (!item.is_scalar()) {
    ck.err(item, sub, form);
    return nullptr;
  }
  std::string s = item.value, proto = "tcp";
  std::size_t slash = s.find('/');
  if (slash != std::string::npos) {
    proto = lower(s.substr(slash + 1));
    s = s.substr(0, slash);
    if (proto != "tcp" && proto != "udp") {
      ck.err(item, sub, "protocol \"" + proto + "\" is not tcp or udp");
      return nullptr;
    }
  }
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    std::size_t c = s.find(':', pos);
    parts.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  std::string ip = "0.0.0.0";
  if (parts.size() == 3) {
    ip = parts[0];
    if (!valid_ipv4(ip)) {
      ck.err(item, sub, "\"" + ip + "\" is not an IPv4 address");
      return nullptr;
    }
    parts.erase(parts.begin());
  }
  if (parts.size() != 2 || !is_digits(parts[0]) || !is_digits(parts[1])) {
    ck.err(item, sub, form + std::string(", not ") + describe(item));
    return nullptr;
  }
  long long node = std::stoll(parts[0]), ctr = std::stoll(parts[1]);
  if (node < 1 || node > 65535 || ctr < 1 || ctr > 65535) {
    ck.err(item, sub, "ports must be 1..65535");
    return nullptr;
  }
  return json{{"ip", ip}, {"protocol", proto}, {"node_port", node}, {"container_port", ctr}};
}

bool valid_flags(const std::string& f) {
  if (f.empty()) return false;
  for (char c : f) {
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == ',')) return false;
  }
  return true;
}

json volume(const Checker& ck, const YNode& item, const std::string& sub, const ServiceContext& ctx) {
  if (!item.is_scalar() || item.value.empty()) {
    ck.err(item, sub, "must be \"/path\", \"/host/path:/path[:ro]\" or \"volume:/path[:ro]\", not " + describe(item));
    return nullptr;
  }
  std::vector<std::string> parts;
  std::size_t pos = 0;
  const std::string& s = item.value;
  while (true) {
    std::size_t c = s.find(':', pos);
    parts.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  json v{{"type", "anonymous"}, {"source", nullptr}, {"target", nullptr}, {"flags", nullptr}};
  if (parts.size() == 1) {
    v["target"] = parts[0];
  } else if (parts.size() == 2 && !parts[1].empty() && parts[1][0] != '/' && valid_flags(parts[1])) {
    v["target"] = parts[0];
    v["flags"] = parts[1];
  } else if (parts.size() == 2 || parts.size() == 3) {
    v["source"] = parts[0];
    v["target"] = parts[1];
    if (parts.size() == 3) {
      if (!valid_flags(parts[2])) {
        ck.err(item, sub, "\"" + parts[2] + "\" are not mount flags (ro, rw, z, Z, nocopy, ...)");
        return nullptr;
      }
      v["flags"] = parts[2];
    }
    const std::string& src = parts[0];
    if (src.empty()) {
      ck.err(item, sub, "empty volume source in \"" + s + "\"");
      return nullptr;
    }
    if (src[0] == '/' || src[0] == '.' || src[0] == '~') {
      v["type"] = "bind";
    } else {
      v["type"] = "named";
      if (!ctx.declared_volumes.count(src)) {
        ck.err(item, sub, "the volume \"" + src + "\" is not declared in the top-level volumes");
      }
    }
  } else {
    ck.err(item, sub, "\"" + s + "\" is not a volume");
    return nullptr;
  }
  const std::string target = v["target"].get<std::string>();
  if (target.empty() || target[0] != '/') {
    ck.err(item, sub, "the mount point \"" + target + "\" must be an absolute path");
    return nullptr;
  }
  return v;
}

void env_entries(const Checker& ck, const YNode& n, const std::string& key, std::vector<std::string>& out) {
  if (n.is_seq()) {
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      const YNode& item = n.items[i];
      std::string sub = key + "[" + std::to_string(i) + "]";
      if (!item.is_scalar()) {
        ck.err(item, sub, "must be a \"NAME=VALUE\" string, not " + describe(item));
        continue;
      }
      std::size_t eq = item.value.find('=');
      if (eq == 0 || eq == std::string::npos) {
        ck.err(item, sub, "\"" + item.value + "\" is not NAME=VALUE");
        continue;
      }
      out.push_back(item.value);
    }
  } else if (n.is_map()) {
    for (const auto& [k, v] : n.entries) {
      if (k.empty()) {
        ck.err(v, key, "an environment variable needs a name");
        continue;
      }
      if (!v.is_scalar() && !v.is_null()) {
        ck.err(v, key + "." + k, "must be a string, number or boolean, not " + describe(v));
        continue;
      }
      out.push_back(k + "=" + (v.is_null() ? std::string() : v.value));
    }
  } else {
    ck.err(n, key, "must be a list of \"NAME=VALUE\" or a mapping, not " + describe(n));
  }
}

std::string env_name(const std::string& e) { return e.substr(0, e.find('=')); }

json hook_list(const Checker& ck, const YNode& n, const std::string& key, bool build) {
  json out = json::array();
  if (!n.is_seq()) {
    ck.err(n, key, "must be a list of {name, cmd}, not " + describe(n));
    return out;
  }
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const YNode& h = n.items[i];
    std::string sub = key + "[" + std::to_string(i) + "]";
    if (!ck.is_map(h, sub)) continue;
    if (build) ck.unknown_keys(h, sub, {"name", "cmd", "file"});
    else ck.unknown_keys(h, sub, {"name", "cmd", "instances", "oneshot"});
    json hook = json::object();
    const YNode* name = h.find("name");
    const YNode* cmd = h.find("cmd");
    if (!name) ck.err(h, sub, "a hook needs a name");
    else if (auto s = ck.str(*name, sub + ".name", true)) hook["name"] = *s;
    if (!cmd) ck.err(h, sub, "a hook needs a cmd");
    else if (auto s = ck.str(*cmd, sub + ".cmd")) hook["cmd"] = *s;
    if (build) {
      if (const YNode* f = h.find("file")) {
        if (auto s = ck.str(*f, sub + ".file")) hook["file"] = *s;
      }
    } else {
      hook["instances"] = "*";
      hook["oneshot"] = false;
      if (const YNode* inst = h.find("instances")) {
        json iv = scalar_value(*inst);
        if (iv.is_number_integer()) hook["instances"] = std::to_string(iv.get<long long>());
        else if (inst->is_scalar()) {
          std::string s = inst->value;
          bool ok = s == "*";
          if (!ok) {
            ok = !s.empty();
            std::size_t p = 0;
            while (ok) {
              std::size_t c = s.find(',', p);
              std::string part = util::trim(s.substr(p, c == std::string::npos ? std::string::npos : c - p));
              ok = is_digits(part);
              if (c == std::string::npos) break;
              p = c + 1;
            }
          }
          if (ok) hook["instances"] = s;
          else ck.err(*inst, sub + ".instances", "must be \"*\" or instance numbers such as \"1,2\"");
        } else {
          ck.err(*inst, sub + ".instances", "must be \"*\" or instance numbers such as \"1,2\"");
        }
      }
      if (const YNode* o = h.find("oneshot")) {
        if (auto b = ck.boolean(*o, sub + ".oneshot")) hook["oneshot"] = *b;
      }
    }
    out.push_back(hook);
  }
  return out;
}

json named_refs(const Checker& ck, const YNode& n, const std::string& key, const char* id_key) {
  json out = json::array();
  if (!n.is_seq()) {
    ck.err(n, key, std::string("must be a list of {") + id_key + ", name, type}, not " + describe(n));
    return out;
  }
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const YNode& s = n.items[i];
    std::string sub = key + "[" + std::to_string(i) + "]";
    if (!ck.is_map(s, sub)) continue;
    ck.unknown_keys(s, sub, {id_key, "name", "type"});
    json item{{"type", "env"}};
    bool ok = true;
    for (const char* k : {id_key, "name"}) {
      const YNode* v = s.find(k);
      if (!v) {
        ck.err(s, sub, std::string("\"") + k + "\" is missing");
        ok = false;
      } else if (auto str = ck.str(*v, sub + "." + k)) {
        item[k] = *str;
      } else {
        ok = false;
      }
    }
    if (const YNode* t = s.find("type")) {
      if (!t->is_scalar() || t->value != "env") {
        ck.err(*t, sub + ".type", "the only type is \"env\"");
        ok = false;
      }
    }
    if (ok) out.push_back(item);
  }
  return out;
}

}  // namespace

std::optional<long long> parse_memory(const json& v) {
  if (v.is_number_integer()) {
    long long i = v.get<long long>();
    if (i < 0) return std::nullopt;
    return i;
  }
  if (!v.is_string()) return std::nullopt;
  std::string s = lower(util::trim(v.get<std::string>()));
  if (!s.empty() && s.back() == 'b' && s.size() > 1 && std::isalpha(static_cast<unsigned char>(s[s.size() - 2]))) s.pop_back();
  long long mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'b': mult = 1; s.pop_back(); break;
      case 'k': mult = 1024LL; s.pop_back(); break;
      case 'm': mult = 1024LL * 1024; s.pop_back(); break;
      case 'g': mult = 1024LL * 1024 * 1024; s.pop_back(); break;
      case 't': mult = 1024LL * 1024 * 1024 * 1024; s.pop_back(); break;
      default: break;
    }
  }
  auto d = util::parse_number(s);
  if (!d || *d < 0 || s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  double bytes = *d * static_cast<double>(mult);
  if (bytes > 9e18) return std::nullopt;
  return static_cast<long long>(bytes);
}

std::optional<long long> parse_duration(const json& v) {
  if (v.is_number_integer()) {
    long long i = v.get<long long>();
    if (i < 0) return std::nullopt;
    return i;
  }
  if (!v.is_string()) return std::nullopt;
  std::string s = util::trim(v.get<std::string>());
  if (s.empty()) return std::nullopt;
  if (is_digits(s)) return std::stoll(s);
  double total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t b = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    auto num = util::parse_number(s.substr(b, i - b));
    if (!num) return std::nullopt;
    std::size_t u = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(u, i - u);
    double mult;
    if (unit == "h") mult = 3600;
    else if (unit == "m") mult = 60;
    else if (unit == "s") mult = 1;
    else if (unit == "ms") mult = 0.001;
    else return std::nullopt;
    total += *num * mult;
    if (total > 1e12) return std::nullopt;
  }
  return static_cast<long long>(std::llround(total));
}

std::optional<long long> parse_interval(const json& v) {
  if (v.is_number_integer()) {
    long long i = v.get<long long>();
    if (i < 0) return std::nullopt;
    return i;
  }
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  if (!is_digits(num) || num.size() > 12) return std::nullopt;
  long long n = std::stoll(num);
  if (unit.empty()) return n;
  if (unit == "min") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  return std::nullopt;
}

std::optional<std::vector<std::string>> shell_split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'') {
      std::size_t e = s.find('\'', i + 1);
      if (e == std::string::npos) return std::nullopt;
      cur += s.substr(i + 1, e - i - 1);
      i = e;
      in_word = true;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      for (; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$' || s[i + 1] == '`')) {
          cur += s[++i];
        } else if (s[i] == '"') {
          closed = true;
          break;
        } else {
          cur += s[i];
        }
      }
      if (!closed) return std::nullopt;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < s.size()) {
        if (s[i + 1] != '\n') cur += s[i + 1];
        ++i;
      }
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::set<std::string> written_keys(const YNode& node) {
  std::set<std::string> keys;
  for (const auto& [k, v] : node.entries) {
    if (k == "env_file") keys.insert("environment");
    else if (k == "mem_swaplimit") continue;
    else keys.insert(k);
  }
  return keys;
}

json default_service_spec(const std::string& name) {
  return {{"name", name},
          {"image", nullptr},
          {"build", nullptr},
          {"instances", 1},
          {"stateful", false},
          {"command", nullptr},
          {"entrypoint", nullptr},
          {"environment", json::array()},
          {"secrets", json::array()},
          {"certificates", json::array()},
          {"links", json::array()},
          {"depends_on", json::array()},
          {"external_links", json::array()},
          {"ports", json::array()},
          {"volumes", json::array()},
          {"volumes_from", json::array()},
          {"affinity", json::array()},
          {"cpus", nullptr},
          {"cpu_shares", nullptr},
          {"mem_limit", nullptr},
          {"memswap_limit", nullptr},
          {"shm_size", nullptr},
          {"network_mode", nullptr},
          {"pid", nullptr},
          {"privileged", false},
          {"read_only", false},
          {"cap_add", json::array()},
          {"cap_drop", json::array()},
          {"user", nullptr},
          {"devices", json::array()},
          {"logging", nullptr},
          {"deploy", {{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}}},
          {"health_check", nullptr},
          {"hooks", {{"pre_build", json::array()}, {"pre_start", json::array()}, {"post_start", json::array()}, {"pre_stop", json::array()}}},
          {"stop_signal", nullptr},
          {"stop_grace_period", 10}};
}

json normalize_service(const std::string& name, const YNode& node, const ServiceContext& ctx) {
  Checker ck(ctx, "services." + name);
  json s = default_service_spec(name);
  if (!node.is_map()) {
    ck.err(node, "", "a service must be a mapping of keys (image, ports, ...), not " + describe(node));
    return s;
  }
  std::vector<std::string> env;
  for (const auto& [key, v] : node.entries) {
    if (!kServiceKeys.count(key)) {
      ck.err(v, "", "key \"" + key + "\" is not expected");
      continue;
    }
    if (key == "image") {
      if (auto str = ck.str(v, key)) {
        std::string img = util::trim(*str);
        if (img.empty()) {
          ck.err(v, key, "must not be empty");
          continue;
        }
        std::size_t slash = img.rfind('/');
        std::string last = slash == std::string::npos ? img : img.substr(slash + 1);
        if (last.find(':') == std::string::npos && last.find('@') == std::string::npos) img += ":latest";
        s["image"] = img;
      }
    } else if (key == "build") {
      if (v.is_scalar()) {
        s["build"] = {{"context", v.value}, {"dockerfile", nullptr}, {"args", json::object()}};
      } else if (ck.is_map(v, key)) {
        ck.unknown_keys(v, key, {"context", "dockerfile", "args"});
        json b{{"context", nullptr}, {"dockerfile", nullptr}, {"args", json::object()}};
        if (const YNode* c = v.find("context")) {
          if (auto str = ck.str(*c, "build.context")) b["context"] = *str;
        } else {
          ck.err(v, key, "\"context\" is missing");
        }
        if (const YNode* d = v.find("dockerfile")) {
          if (auto str = ck.str(*d, "build.dockerfile")) b["dockerfile"] = *str;
        }
        if (const YNode* a = v.find("args")) {
          std::vector<std::string> entries;
          env_entries(ck, *a, "build.args", entries);
          for (const auto& e : entries) {
            std::size_t eq = e.find('=');
            std::string k = e.substr(0, eq), val = e.substr(eq + 1);
            b["args"][k] = val;
          }
          if (a->is_map()) {
            for (const auto& [k, av] : a->entries) {
              if (av.is_null()) {
                json val = nullptr;
                if (ctx.env) {
                  auto it = ctx.env->find(k);
                  if (it != ctx.env->end()) val = it->second;
                }
                b["args"][k] = val;
              }
            }
          }
        }
        s["build"] = b;
      }
    } else if (key == "extends") {
      if (v.is_scalar()) continue;
      if (ck.is_map(v, key)) {
        ck.unknown_keys(v, key, {"service", "file", "stack"});
        if (!v.find("service")) ck.err(v, key, "\"service\" is missing");
        if (v.find("file") && v.find("stack")) ck.err(v, key, "give either file or stack, not both");
      }
    } else if (key == "instances") {
      if (auto i = ck.integer(v, key, 0, 100000)) s["instances"] = *i;
    } else if (key == "stateful" || key == "privileged" || key == "read_only") {
      if (auto b = ck.boolean(v, key)) s[key] = *b;
    } else if (key == "command") {
      if (v.is_seq()) {
        if (auto list = ck.strings(v, key)) {
          json a = json::array();
          for (const auto& [str, n] : *list) a.push_back(str);
          s["command"] = a;
        }
      } else if (auto str = ck.str(v, key, true)) {
        auto words = shell_split(*str);
        if (!words) ck.err(v, key, "has an unmatched quote");
        else s["command"] = *words;
      }
    } else if (key == "entrypoint") {
      if (auto str = ck.str(v, key)) s["entrypoint"] = *str;
    } else if (key == "environment") {
      env_entries(ck, v, key, env);
    } else if (key == "env_file") {
      // handled after environment (lines appended)
      if (auto list = ck.strings(v, key, true)) (void)list;
    } else if (key == "links" || key == "external_links") {
      s[key] = links(ck, v, key);
    } else if (key == "depends_on") {
      if (auto list = ck.strings(v, key)) {
        for (const auto& [str, n] : *list) {
          if (!valid_link_name(str)) ck.err(*n, key, "\"" + str + "\" is not a service name");
          else s["depends_on"].push_back(str);
        }
      }
    } else if (key == "ports") {
      if (!v.is_seq()) {
        ck.err(v, key, "must be a list such as [\"80:80\"], not " + describe(v));
        continue;
      }
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        json p = port(ck, v.items[i], key + "[" + std::to_string(i) + "]");
        if (!p.is_null()) s["ports"].push_back(p);
      }
    } else if (key == "volumes") {
      if (!v.is_seq()) {
        ck.err(v, key, "must be a list such as [\"/data\", \"data:/var/lib/mysql\"], not " + describe(v));
        continue;
      }
      std::set<std::string> targets;
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        std::string sub = key + "[" + std::to_string(i) + "]";
        json vol = volume(ck, v.items[i], sub, ctx);
        if (vol.is_null()) continue;
        std::string target = vol["target"].get<std::string>();
        if (!targets.insert(target).second) {
          ck.err(v.items[i], sub, "duplicate mount point \"" + target + "\"");
          continue;
        }
        s["volumes"].push_back(vol);
      }
    } else if (key == "volumes_from" || key == "cap_add" || key == "cap_drop" || key == "devices") {
      if (auto list = ck.strings(v, key)) {
        for (const auto& [str, n] : *list) s[key].push_back(str);
      }
    } else if (key == "affinity") {
      if (auto list = ck.strings(v, key)) {
        for (const auto& [str, n] : *list) {
          std::size_t op = str.find("==");
          if (op == std::string::npos) op = str.find("!=");
          std::string k = op == std::string::npos ? "" : str.substr(0, op);
          std::string val = op == std::string::npos ? "" : str.substr(op + 2);
          if (!val.empty() && val[0] == '~') val = val.substr(1);
          if (k.empty() || val.empty()) {
            ck.err(*n, key, "\"" + str + "\" is not KEY==VALUE or KEY!=VALUE (e.g. node==node-1, label!=az=b)");
            continue;
          }
          if (k != "node" && k != "label" && k != "service" && k != "container") {
            ck.warn(*n, key, "unknown affinity key \"" + k + "\" (node, label, service or container) never matches");
          }
          s["affinity"].push_back(str);
        }
      }
    } else if (key == "cpus") {
      if (auto d = ck.number(v, key)) {
        if (*d <= 0 || *d > 1024) ck.err(v, key, "must be more than 0");
        else s["cpus"] = *d;
      }
    } else if (key == "cpu_shares") {
      if (auto i = ck.integer(v, key, 0, 1024)) s["cpu_shares"] = *i;
    } else if (key == "mem_limit" || key == "memswap_limit" || key == "shm_size" || key == "mem_swaplimit") {
      auto m = parse_memory(v.is_scalar() ? scalar_value(v) : json(nullptr));
      if (!m) {
        ck.err(v, key, "must be a size such as 512m, 1g or a number of bytes, not " + describe(v));
      } else if (key == "mem_swaplimit") {
        ck.warn(v, key, "is accepted but not used (as in the original Kontena); write memswap_limit");
      } else {
        s[key] = *m;
      }
    } else if (key == "network_mode") {
      if (auto str = ck.str(v, key)) {
        if (*str == "host" || *str == "bridge" || (util::starts_with(*str, "container:") && str->size() > 10)) {
          s["network_mode"] = *str;
        } else {
          ck.err(v, key, "must be host, bridge or container:NAME, not \"" + *str + "\"");
        }
      }
    } else if (key == "pid") {
      if (auto str = ck.str(v, key)) {
        if (*str != "host") ck.err(v, key, "the only value is \"host\"");
        else s["pid"] = *str;
      }
    } else if (key == "user") {
      if (auto str = ck.str(v, key, true)) s["user"] = *str;
    } else if (key == "logging") {
      if (!ck.is_map(v, key)) continue;
      ck.unknown_keys(v, key, {"driver", "options"});
      json l{{"driver", nullptr}, {"options", json::object()}};
      if (const YNode* d = v.find("driver")) {
        if (auto str = ck.str(*d, "logging.driver")) l["driver"] = *str;
      } else {
        ck.err(v, key, "\"driver\" is missing");
      }
      if (const YNode* o = v.find("options")) {
        if (ck.is_map(*o, "logging.options")) {
          for (const auto& [k, ov] : o->entries) {
            if (!ov.is_scalar()) ck.err(ov, "logging.options." + k, "must be a string");
            else l["options"][k] = ov.value;
          }
        }
      }
      s["logging"] = l;
    } else if (key == "deploy") {
      if (!ck.is_map(v, key)) continue;
      ck.unknown_keys(v, key, {"strategy", "wait_for_port", "min_health", "interval"});
      json& d = s["deploy"];
      if (const YNode* st = v.find("strategy")) {
        if (auto str = ck.str(*st, "deploy.strategy")) {
          if (*str != "ha" && *str != "daemon" && *str != "random") ck.err(*st, "deploy.strategy", "must be ha, daemon or random, not \"" + *str + "\"");
          else d["strategy"] = *str;
        }
      }
      if (const YNode* w = v.find("wait_for_port")) {
        if (auto i = ck.integer(*w, "deploy.wait_for_port", 1, 65535)) d["wait_for_port"] = *i;
      }
      if (const YNode* m = v.find("min_health")) {
        if (auto f = ck.number(*m, "deploy.min_health")) {
          if (*f < 0 || *f > 1) ck.err(*m, "deploy.min_health", "must be between 0.0 and 1.0");
          else d["min_health"] = *f;
        }
      }
      if (const YNode* iv = v.find("interval")) {
        auto secs = parse_interval(iv->is_scalar() ? scalar_value(*iv) : json(nullptr));
        if (!secs) ck.err(*iv, "deploy.interval", "must be a number with min, h or d (e.g. 30min, 1h, 7d), not " + describe(*iv));
        else d["interval"] = *secs;
      }
    } else if (key == "health_check") {
      if (!ck.is_map(v, key)) continue;
      ck.unknown_keys(v, key, {"protocol", "port", "uri", "timeout", "interval", "initial_delay"});
      json h{{"protocol", nullptr}, {"port", nullptr}, {"uri", nullptr}, {"timeout", 10}, {"interval", 60}, {"initial_delay", 10}};
      if (const YNode* p = v.find("protocol")) {
        if (auto str = ck.str(*p, "health_check.protocol")) {
          if (*str != "http" && *str != "tcp") ck.err(*p, "health_check.protocol", "must be http or tcp, not \"" + *str + "\"");
          else h["protocol"] = *str;
        }
      } else {
        ck.err(v, key, "\"protocol\" is missing (http or tcp)");
      }
      if (const YNode* p = v.find("port")) {
        if (auto i = ck.integer(*p, "health_check.port", 1, 65535)) h["port"] = *i;
      } else {
        ck.err(v, key, "\"port\" is missing");
      }
      if (h["protocol"] == "http") h["uri"] = "/";
      if (const YNode* u = v.find("uri")) {
        if (auto str = ck.str(*u, "health_check.uri")) {
          if (str->empty() || (*str)[0] != '/') ck.err(*u, "health_check.uri", "must start with /");
          else h["uri"] = *str;
        }
      }
      for (const char* k : {"timeout", "interval", "initial_delay"}) {
        if (const YNode* n = v.find(k)) {
          if (auto i = ck.integer(*n, std::string("health_check.") + k, 0, 86400 * 365)) h[k] = *i;
        }
      }
      if (h["interval"].get<long long>() < h["timeout"].get<long long>()) {
        ck.err(v, key, "interval (" + h["interval"].dump() + ") must not be shorter than timeout (" + h["timeout"].dump() + ")");
      }
      s["health_check"] = h;
    } else if (key == "hooks") {
      if (!ck.is_map(v, key)) continue;
      ck.unknown_keys(v, key, {"pre_build", "pre_start", "post_start", "pre_stop"});
      for (const char* k : {"pre_build", "pre_start", "post_start", "pre_stop"}) {
        if (const YNode* h = v.find(k)) s["hooks"][k] = hook_list(ck, *h, std::string("hooks.") + k, std::string(k) == "pre_build");
      }
    } else if (key == "secrets") {
      s["secrets"] = named_refs(ck, v, key, "secret");
    } else if (key == "certificates") {
      s["certificates"] = named_refs(ck, v, key, "subject");
    } else if (key == "stop_signal") {
      if (auto str = ck.str(v, key, true)) s["stop_signal"] = *str;
    } else if (key == "stop_grace_period") {
      auto secs = parse_duration(v.is_scalar() ? scalar_value(v) : json(nullptr));
      if (!secs) ck.err(v, key, "must be a duration such as 30s or 1m30s, not " + describe(v));
      else s["stop_grace_period"] = *secs;
    }
    // only_if / skip_if: evaluated by the pipeline, not part of the normalised form
  }
  // env_file lines are appended; the first definition of a name wins.
  if (const YNode* ef = node.find("env_file")) {
    std::vector<std::pair<std::string, const YNode*>> files;
    if (ef->is_scalar()) files.emplace_back(ef->value, ef);
    else if (ef->is_seq()) {
      for (const auto& i : ef->items) if (i.is_scalar()) files.emplace_back(i.value, &i);
    }
    for (const auto& [file, n] : files) {
      auto text = ctx.read_file ? ctx.read_file(file) : std::nullopt;
      if (!text) {
        ck.err(*n, "env_file", "cannot read \"" + file + "\"");
        continue;
      }
      std::size_t pos = 0;
      while (pos <= text->size()) {
        std::size_t nl = text->find('\n', pos);
        std::string line = util::trim(text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        if (!line.empty() && line[0] != '#') {
          if (line.find('=') == std::string::npos || line[0] == '=') ck.warn(*n, "env_file", "\"" + file + "\": line \"" + line + "\" is not NAME=VALUE");
          else env.push_back(line);
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
    }
  }
  std::set<std::string> seen;
  for (const auto& e : env) {
    if (seen.insert(env_name(e)).second) s["environment"].push_back(e);
  }
  return s;
}

json merge_extended(const json& parent, const json& child, const std::set<std::string>& child_keys) {
  json out = parent;
  for (const auto& key : child_keys) {
    if (key == "extends" || key == "only_if" || key == "skip_if") continue;
    if (!child.contains(key)) continue;
    out[key] = child[key];
  }
  out["name"] = child["name"];
  // environment: by name, the child wins
  {
    json env = json::array();
    std::set<std::string> names;
    for (const auto& e : child["environment"]) {
      names.insert(env_name(e.get<std::string>()));
      env.push_back(e);
    }
    json merged = json::array();
    for (const auto& e : parent["environment"]) {
      if (!names.count(env_name(e.get<std::string>()))) merged.push_back(e);
    }
    for (const auto& e : env) merged.push_back(e);
    out["environment"] = merged;
  }
  // secrets: by `secret`, the child wins
  {
    json merged = json::array();
    std::set<std::string> names;
    for (const auto& s : child["secrets"]) names.insert(s.value("secret", ""));
    for (const auto& s : parent["secrets"]) {
      if (!names.count(s.value("secret", ""))) merged.push_back(s);
    }
    for (const auto& s : child["secrets"]) merged.push_back(s);
    out["secrets"] = merged;
  }
  // build args: by name
  if (parent["build"].is_object() && child["build"].is_object()) {
    json b = child["build"];
    json args = parent["build"]["args"];
    for (const auto& [k, v] : child["build"]["args"].items()) args[k] = v;
    b["args"] = args;
    out["build"] = b;
  }
  return out;
}

}  // namespace kontena::stackfile
