#include "stackfile/variables.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <fstream>

#include "stackfile/liquid.h"
#include "stackfile/util.h"

namespace kontena::stackfile {

using json = nlohmann::json;

namespace {

const std::set<std::string> kDefinitionKeys = {
    "type", "value", "default", "from", "to", "only_if", "skip_if", "description", "label", "required",
    // string
    "min_length", "max_length", "upcase", "downcase", "strip", "chomp", "capitalize", "hexdigest", "encode_64",
    "decode_64", "empty_is_nil", "echo",
    // integer
    "min", "max", "nil_is_zero",
    // boolean
    "truthy", "nil_is", "blank_is", "as", "true", "false",
    // enum
    "options", "can_be_other",
    // uri
    "schemes",
    // array
    "split", "join", "sort", "uniq", "count", "compact",
    // all
    "in"};

const std::set<std::string> kTypes = {"string", "integer", "boolean", "enum", "uri", "array"};
const std::set<std::string> kLocalResolvers = {"env", "file", "random_number", "random_string", "random_uuid",
                                               "interpolate", "evaluate", "prompt", "vault", "default"};
const std::set<std::string> kRemoteResolvers = {"service_instances", "certificates", "vault_cert_prompt",
                                                "service_link"};

struct EvalError {
  std::string message;
};

// Arithmetic for the `evaluate` resolver: + - * / % ( ) on integers and decimals.
class Arith {
 public:
  explicit Arith(std::string s) : s_(std::move(s)) {}
  json run() {
    json v = expr(0);
    skip();
    if (i_ != s_.size()) throw EvalError{"unexpected '" + s_.substr(i_, 1) + "'"};
    return v;
  }

 private:
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  json expr(int depth) {
    json v = term(depth);
    while (true) {
      skip();
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) {
        char op = s_[i_++];
        v = apply(op, v, term(depth));
      } else {
        return v;
      }
    }
  }
  json term(int depth) {
    json v = factor(depth);
    while (true) {
      skip();
      if (i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '/' || s_[i_] == '%')) {
        char op = s_[i_++];
        v = apply(op, v, factor(depth));
      } else {
        return v;
      }
    }
  }
  json factor(int depth) {
    if (depth > kMaxNesting) throw EvalError{"expression nested too deeply"};
    skip();
    if (i_ >= s_.size()) throw EvalError{"unexpected end of expression"};
    char c = s_[i_];
    if (c == '(') {
      ++i_;
      json v = expr(depth + 1);
      skip();
      if (i_ >= s_.size() || s_[i_] != ')') throw EvalError{"missing ')'"};
      ++i_;
      return v;
    }
    if (c == '-' || c == '+') {
      ++i_;
      json v = factor(depth + 1);
      if (c == '+') return v;
      return apply('-', json(0), v);
    }
    std::size_t b = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.')) ++i_;
    std::string num = s_.substr(b, i_ - b);
    if (num.empty()) throw EvalError{"unexpected '" + std::string(1, c) + "'"};
    if (num.find('.') != std::string::npos) {
      auto d = util::parse_number(num);
      if (!d) throw EvalError{"invalid number " + num};
      return *d;
    }
    auto n = util::parse_int(num);
    if (!n) throw EvalError{"number out of range " + num};
    return *n;
  }
  static json apply(char op, const json& a, const json& b) {
    if (a.is_number_integer() && b.is_number_integer()) {
      long long x = a.get<long long>(), y = b.get<long long>(), r = 0;
      bool of = false;
      switch (op) {
        case '+': of = __builtin_add_overflow(x, y, &r); break;
        case '-': of = __builtin_sub_overflow(x, y, &r); break;
        case '*': of = __builtin_mul_overflow(x, y, &r); break;
        default: {
          if (y == 0) throw EvalError{"division by zero"};
          if (x == LLONG_MIN && y == -1) throw EvalError{"integer overflow"};
          long long q = x / y, m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) {
            --q;
            m += y;
          }
          r = op == '/' ? q : m;
        }
      }
      if (of) throw EvalError{"integer overflow"};
      return r;
    }
    double x = a.get<double>(), y = b.get<double>(), r;
    switch (op) {
      case '+': r = x + y; break;
      case '-': r = x - y; break;
      case '*': r = x * y; break;
      case '/':
        if (y == 0) throw EvalError{"division by zero"};
        r = x / y;
        break;
      default:
        if (y == 0) throw EvalError{"division by zero"};
        r = std::fmod(x, y);
    }
    if (!std::isfinite(r)) throw EvalError{"the result is not a finite number"};
    return r;
  }
  std::string s_;
  std::size_t i_ = 0;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_true_value(const json& v) {
  return !(v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_string() && v.get<std::string>() == "false"));
}

}  // namespace

Variables::Variables(const YNode* block, const LoadInput& input, std::map<std::string, json> builtins,
                     const Reporter& rep)
    : input_(input), rep_(rep), env_(input.env) {
  rng_.seed(input.random_seed ? *input.random_seed : std::random_device{}());
  for (auto& [k, v] : builtins) {
    builtins_.insert(k);
    values_[k] = v;
  }
  if (!block || block->is_null()) return;
  if (!block->is_map()) {
    rep_.error(block->line, "variables", "must be a mapping of variable names to definitions");
    return;
  }
  for (const auto& [name, def] : block->entries) {
    std::string path = "variables." + name;
    if (name.empty()) {
      rep_.error(def.line, "variables", "a variable needs a name");
      continue;
    }
    if (builtins_.count(name)) {
      rep_.error(def.line, path, "\"" + name + "\" is set by Kontena and cannot be redefined");
      continue;
    }
    if (defs_.count(name)) continue;  // duplicate key: the YAML layer warned
    Def d;
    d.name = name;
    d.node = &def;
    d.line = def.line;
    if (!def.is_map() && !def.is_null()) {
      rep_.error(def.line, path, "the definition must be a mapping (type, default, from, ...)");
      d.state = Def::State::done;
    } else if (def.is_map()) {
      for (const auto& [key, v] : def.entries) {
        if (!kDefinitionKeys.count(key)) rep_.warn(v.line, path, "unknown option \"" + key + "\" is ignored");
      }
      std::string type = opt_string(d, "type", "string");
      if (!kTypes.count(type)) {
        rep_.error(def.key_line("type"), path + ".type",
                   "unknown type \"" + type + "\" (string, integer, boolean, enum, uri or array)");
        d.state = Def::State::done;
      }
      const YNode* to = opt(d, "to");
      const YNode* from = opt(d, "from");
      if (to && to->is_map() && to->find("vault")) d.vault = true;
      if (from && from->is_map() && from->find("vault")) d.vault = true;
      if (from && from->is_scalar() && from->value == "vault") d.vault = true;
    }
    order_.push_back(name);
    values_[name] = nullptr;
    defs_.emplace(name, std::move(d));
  }
}

std::string Variables::opt_string(const Def& d, const char* key, const std::string& fallback) const {
  const YNode* n = opt(d, key);
  if (!n || n->is_null()) return fallback;
  if (n->is_scalar()) return n->value;
  return fallback;
}

bool Variables::opt_bool(const Def& d, const char* key, bool fallback) const {
  const YNode* n = opt(d, key);
  if (!n) return fallback;
  json v = scalar_value(*n);
  if (v.is_boolean()) return v.get<bool>();
  return fallback;
}

void Variables::resolve_all() {
  for (const auto& name : order_) resolve(name, 0);
}

json Variables::resolve(const std::string& name, int depth) {
  auto it = defs_.find(name);
  if (it == defs_.end()) {
    auto v = values_.find(name);
    return v == values_.end() ? json(nullptr) : v->second;
  }
  Def& d = it->second;
  if (d.state == Def::State::done) return values_[name];
  if (d.state == Def::State::resolving) {
    rep_.error(d.line, "variables." + name, "refers to itself (through interpolate, evaluate, only_if or skip_if)");
    d.state = Def::State::done;
    return nullptr;
  }
  if (depth > kMaxNesting) {
    rep_.error(d.line, "variables." + name, "variables refer to each other more than " + std::to_string(kMaxNesting) + " levels deep");
    d.state = Def::State::done;
    return nullptr;
  }
  d.state = Def::State::resolving;
  resolve_def(d, depth + 1);
  d.state = Def::State::done;
  return values_[name];
}

bool Variables::condition_true(const YNode& cond, bool all, const std::string& path, int depth) {
  // all: every condition must hold (only_if); else any (skip_if).
  std::vector<bool> results;
  auto truthy = [&](const std::string& var, int line) {
    if (!declared(var)) {
      rep_.error(line, path, "refers to the undeclared variable \"" + var + "\"");
      return false;
    }
    return is_true_value(resolve(var, depth));
  };
  if (cond.is_scalar()) {
    results.push_back(truthy(cond.value, cond.line));
  } else if (cond.is_seq()) {
    for (const auto& i : cond.items) {
      if (!i.is_scalar()) {
        rep_.error(i.line, path, "a condition list takes variable names");
        continue;
      }
      results.push_back(truthy(i.value, i.line));
    }
  } else if (cond.is_map()) {
    for (const auto& [var, want] : cond.entries) {
      if (!declared(var)) {
        rep_.error(want.line, path, "refers to the undeclared variable \"" + var + "\"");
        results.push_back(false);
        continue;
      }
      json have = resolve(var, depth);
      json w = to_json(want);
      bool eq = have == w;
      if (!eq && have.is_number() && w.is_number()) eq = have.get<double>() == w.get<double>();
      results.push_back(eq);
    }
  } else if (cond.is_null()) {
    return all;
  }
  if (all) return std::all_of(results.begin(), results.end(), [](bool b) { return b; });
  return std::any_of(results.begin(), results.end(), [](bool b) { return b; });
}

bool Variables::condition_skips(const YNode* only_if, const YNode* skip_if, const std::string& path) {
  if (skip_if && condition_true(*skip_if, false, path + ".skip_if", 0)) return true;
  if (only_if && !condition_true(*only_if, true, path + ".only_if", 0)) return true;
  return false;
}

std::string Variables::interpolate_refs(const std::string& text, const std::string& path, int line, int depth) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      std::size_t e = text.find('}', i + 2);
      if (e != std::string::npos) {
        std::string name = text.substr(i + 2, e - i - 2);
        if (!declared(name)) {
          rep_.error(line, path, "refers to the undeclared variable \"" + name + "\"");
        } else {
          out += util::to_s(resolve(name, depth));
        }
        i = e;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::optional<json> Variables::run_resolver(Def& d, const std::string& resolver, const YNode* hint, int depth) {
  std::string path = "variables." + d.name + ".from." + resolver;
  int line = hint ? hint->line : d.line;
  json h = hint ? to_json(*hint) : json(nullptr);
  auto hint_string = [&]() -> std::string { return h.is_string() ? h.get<std::string>() : (h.is_number() ? util::to_s(h) : ""); };
  if (resolver == "env") {
    std::string var = hint_string();
    std::vector<std::string> names;
    if (!var.empty()) names.push_back(var);
    else {
      names.push_back(d.name);
      std::string up = d.name;
      for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      names.push_back(up);
    }
    for (const auto& n : names) {
      auto it = env_.find(n);
      if (it != env_.end()) return json(it->second);
    }
    return std::nullopt;
  }
  if (resolver == "default") {
    if (h.is_null()) return std::nullopt;
    return h;
  }
  if (resolver == "file") {
    std::string file = h.is_object() ? util::to_s(h.value("path", json(""))) : hint_string();
    bool ignore = h.is_object() && h.value("ignore_errors", false);
    if (!input_.local_files) {
      if (!ignore) rep_.error(line, path, "reading local files is disabled here");
      return std::nullopt;
    }
    std::ifstream f(file, std::ios::binary);
    if (file.empty() || !f) {
      if (!ignore) rep_.error(line, path, "cannot read the file \"" + file + "\"");
      return std::nullopt;
    }
    std::string s;
    char buf[65536];
    while (f.read(buf, sizeof buf) || f.gcount() > 0) {
      s.append(buf, static_cast<std::size_t>(f.gcount()));
      if (s.size() > kMaxSourceBytes) {
        rep_.error(line, path, "the file \"" + file + "\" is too large");
        return std::nullopt;
      }
    }
    return json(s);
  }
  if (resolver == "random_number") {
    long long lo = 0, hi = 100;
    if (h.is_object()) {
      if (h.contains("min") && h["min"].is_number_integer()) lo = h["min"].get<long long>();
      if (h.contains("max") && h["max"].is_number_integer()) hi = h["max"].get<long long>();
    } else if (h.is_number_integer()) {
      hi = h.get<long long>();
    }
    if (hi < lo) {
      rep_.error(line, path, "max is smaller than min");
      return std::nullopt;
    }
    std::uniform_int_distribution<long long> dist(lo, hi);
    return json(dist(rng_));
  }
  if (resolver == "random_string") {
    long long length = 8;
    std::string charset = "alphanumeric";
    if (h.is_number_integer()) length = h.get<long long>();
    else if (h.is_object()) {
      if (h.contains("length") && h["length"].is_number_integer()) length = h["length"].get<long long>();
      if (h.contains("charset") && h["charset"].is_string()) charset = h["charset"].get<std::string>();
    } else if (!h.is_null()) {
      rep_.error(line, path, "takes a length or {length, charset}");
      return std::nullopt;
    }
    if (length < 1 || length > 4096) {
      rep_.error(line, path, "the length must be 1..4096");
      return std::nullopt;
    }
    static const std::map<std::string, std::string> sets = {
        {"numbers", "0123456789"},
        {"letters", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"},
        {"downcase", "abcdefghijklmnopqrstuvwxyz"},
        {"upcase", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
        {"alphanumeric", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"},
        {"hex", "0123456789abcdef"},
        {"hex_upcase", "0123456789ABCDEF"},
        {"base64", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"},
    };
    std::string chars;
    if (auto it = sets.find(charset); it != sets.end()) chars = it->second;
    else if (charset == "ascii_printable") {
      for (char c = 33; c < 127; ++c) chars += c;
    } else {
      chars = charset;  // a literal set of characters
    }
    if (chars.empty()) {
      rep_.error(line, path, "empty charset");
      return std::nullopt;
    }
    std::uniform_int_distribution<std::size_t> dist(0, chars.size() - 1);
    std::string s;
    for (long long i = 0; i < length; ++i) s += chars[dist(rng_)];
    return json(s);
  }
  if (resolver == "random_uuid") {
    unsigned char b[16];
    for (auto& x : b) x = static_cast<unsigned char>(rng_() & 0xff);
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
      s += hex[b[i] >> 4];
      s += hex[b[i] & 15];
    }
    return json(s);
  }
  if (resolver == "interpolate") {
    if (!h.is_string()) {
      rep_.error(line, path, "takes a string such as \"Hello ${name}\"");
      return std::nullopt;
    }
    return json(interpolate_refs(h.get<std::string>(), path, line, depth));
  }
  if (resolver == "evaluate") {
    if (!h.is_string() && !h.is_number()) {
      rep_.error(line, path, "takes an arithmetic expression such as \"(${nodes} / 2) + 1\"");
      return std::nullopt;
    }
    std::string expr = interpolate_refs(util::to_s(h), path, line, depth);
    try {
      return Arith(expr).run();
    } catch (const EvalError& e) {
      rep_.error(line, path, "cannot evaluate \"" + expr + "\": " + e.message);
      return std::nullopt;
    }
  }
  if (resolver == "prompt") {
    if (!input_.resolver || !input_.resolver->interactive()) return std::nullopt;
    PromptRequest req;
    req.variable = d.name;
    req.type = opt_string(d, "type", "string");
    req.label = hint_string();
    if (req.label.empty()) req.label = opt_string(d, "label", opt_string(d, "description", d.name));
    if (const YNode* def = opt(d, "default")) req.default_value = to_json(*def);
    req.echo = opt_bool(d, "echo", true);
    if (const YNode* o = opt(d, "options")) {
      json opts = to_json(*o);
      if (opts.is_array()) {
        for (const auto& i : opts) {
          if (i.is_object() && i.contains("value")) req.options.push_back(util::to_s(i["value"]));
          else req.options.push_back(util::to_s(i));
        }
      } else if (opts.is_object()) {
        for (const auto& [k, v] : opts.items()) req.options.push_back(k);
      }
    }
    return input_.resolver->prompt(req);
  }
  if (resolver == "vault") {
    std::string key = hint_string();
    if (key.empty()) key = d.name;
    if (!input_.resolver) {
      rep_.error(line, path, "the vault is not available here (reading \"" + key + "\")");
      return std::nullopt;
    }
    try {
      auto v = input_.resolver->vault_read(key);
      if (!v) return std::nullopt;
      return json(*v);
    } catch (const kontena::Error& e) {
      rep_.error(line, path, e.what());
      return std::nullopt;
    }
  }
  if (kRemoteResolvers.count(resolver)) {
    if (!input_.resolver) return std::nullopt;
    try {
      return input_.resolver->resolve(resolver, h, d.name);
    } catch (const kontena::Error& e) {
      rep_.error(line, path, e.what());
      return std::nullopt;
    }
  }
  rep_.error(line, path, "unknown resolver \"" + resolver + "\"");
  return std::nullopt;
}

void Variables::resolve_def(Def& d, int depth) {
  std::string path = "variables." + d.name;
  // only_if / skip_if: a skipped variable is not resolved and stays empty.
  if (d.node && d.node->is_map()) {
    const YNode* only_if = d.node->find("only_if");
    const YNode* skip_if = d.node->find("skip_if");
    if ((skip_if && condition_true(*skip_if, false, path + ".skip_if", depth)) ||
        (only_if && !condition_true(*only_if, true, path + ".only_if", depth))) {
      d.skipped = true;
      values_[d.name] = nullptr;
      return;
    }
  }
  std::optional<json> value;
  if (auto it = input_.values.find(d.name); it != input_.values.end()) {
    value = json(it->second);
  } else if (input_.values_from.is_object() && input_.values_from.contains(d.name) && !input_.values_from[d.name].is_null()) {
    value = input_.values_from[d.name];
  } else if (const YNode* v = opt(d, "value"); v && !v->is_null()) {
    value = to_json(*v);
  } else {
    const YNode* from = opt(d, "from");
    std::vector<std::pair<std::string, const YNode*>> resolvers;
    if (!from) {
      resolvers.emplace_back("env", nullptr);
    } else if (from->is_scalar()) {
      resolvers.emplace_back(from->value, nullptr);
    } else if (from->is_map()) {
      for (const auto& [k, v] : from->entries) resolvers.emplace_back(k, &v);
    } else if (from->is_seq()) {
      for (const auto& i : from->items) {
        if (i.is_scalar()) resolvers.emplace_back(i.value, nullptr);
        else if (i.is_map()) {
          for (const auto& [k, v] : i.entries) resolvers.emplace_back(k, &v);
        } else {
          rep_.error(i.line, path + ".from", "takes resolver names or {resolver: hint} mappings");
        }
      }
    } else if (!from->is_null()) {
      rep_.error(from->line, path + ".from", "takes a resolver name, a list or a mapping of resolvers");
    }
    for (const auto& [name, hint] : resolvers) {
      auto v = run_resolver(d, name, hint, depth);
      if (v && !v->is_null()) {
        value = std::move(*v);
        break;
      }
    }
    if (!value) {
      if (const YNode* def = opt(d, "default"); def && !def->is_null()) value = to_json(*def);
    }
  }
  std::size_t errors_before = rep_.errors->size();
  json result = value ? apply_type(d, std::move(*value)) : apply_type(d, json(nullptr));
  bool type_error = rep_.errors->size() != errors_before;
  if (result.is_null() && !type_error && opt_bool(d, "required", true) && opt_string(d, "type", "string") != "boolean") {
    bool prompt_possible = input_.resolver && input_.resolver->interactive();
    rep_.error(d.line, path,
               std::string("no value: give one with -v ") + d.name + "=VALUE, --values-from, a default" +
                   (prompt_possible ? "" : " or a terminal for the prompt") + " (or set required: false)");
  }
  values_[d.name] = result;
  if (!result.is_null()) run_setters(d);
}

json Variables::apply_type(Def& d, json v) {
  std::string path = "variables." + d.name;
  std::string type = opt_string(d, "type", "string");
  auto err = [&](const std::string& m) {
    rep_.error(d.line, path, m);
    return json(nullptr);
  };
  if (type == "string") {
    if (v.is_null()) return v;
    if (v.is_array() || v.is_object()) return err("expects a string, got " + std::string(v.type_name()));
    std::string s = util::to_s(v);
    if (opt_bool(d, "strip", false)) s = util::trim(s);
    if (opt_bool(d, "chomp", false)) {
      if (!s.empty() && s.back() == '\n') s.pop_back();
      if (!s.empty() && s.back() == '\r') s.pop_back();
    }
    if (opt_bool(d, "upcase", false)) for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (opt_bool(d, "downcase", false)) s = lower(s);
    if (opt_bool(d, "capitalize", false)) {
      s = lower(s);
      if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    }
    if (opt_bool(d, "decode_64", false)) {
      bool ok = true;
      s = util::base64_decode(s, &ok);
      if (!ok) return err("is not valid base64");
    }
    if (opt_bool(d, "encode_64", false)) s = util::base64_encode(s);
    if (const YNode* hd = opt(d, "hexdigest"); hd && hd->is_scalar()) {
      std::string digest = util::hex_digest(hd->value, s);
      if (digest.empty()) return err("unknown hexdigest \"" + hd->value + "\" (md5, sha1, sha256, sha384 or sha512)");
      s = digest;
    }
    if (s.empty() && opt_bool(d, "empty_is_nil", false)) return nullptr;
    json min = opt(d, "min_length") ? scalar_value(*opt(d, "min_length")) : json(nullptr);
    json max = opt(d, "max_length") ? scalar_value(*opt(d, "max_length")) : json(nullptr);
    if (min.is_number_integer() && static_cast<long long>(s.size()) < min.get<long long>())
      return err("is shorter than " + min.dump() + " characters");
    if (max.is_number_integer() && static_cast<long long>(s.size()) > max.get<long long>())
      return err("is longer than " + max.dump() + " characters");
    v = s;
  } else if (type == "integer") {
    if (v.is_null()) {
      if (opt_bool(d, "nil_is_zero", false)) return 0;
      return v;
    }
    if (v.is_number_float()) {
      double f = v.get<double>();
      if (f != std::floor(f) || f > 9e18 || f < -9e18) return err("expects an integer, got " + v.dump());
      v = static_cast<long long>(f);
    } else if (v.is_string()) {
      auto i = util::parse_int(util::trim(v.get<std::string>()));
      if (!i) return err("expects an integer, got \"" + v.get<std::string>() + "\"");
      v = *i;
    } else if (!v.is_number_integer()) {
      return err("expects an integer, got " + std::string(v.type_name()));
    }
    json min = opt(d, "min") ? scalar_value(*opt(d, "min")) : json(nullptr);
    json max = opt(d, "max") ? scalar_value(*opt(d, "max")) : json(nullptr);
    if (min.is_number() && v.get<double>() < min.get<double>()) return err("is smaller than " + min.dump());
    if (max.is_number() && v.get<double>() > max.get<double>()) return err("is larger than " + max.dump());
  } else if (type == "boolean") {
    bool b;
    if (v.is_null()) {
      json nil_is = opt(d, "nil_is") ? scalar_value(*opt(d, "nil_is")) : json(nullptr);
      if (!nil_is.is_boolean()) return v;
      b = nil_is.get<bool>();
    } else if (v.is_boolean()) {
      b = v.get<bool>();
    } else {
      std::string s = lower(util::trim(util::to_s(v)));
      if (s.empty() && opt(d, "blank_is")) {
        json blank_is = scalar_value(*opt(d, "blank_is"));
        b = blank_is.is_boolean() && blank_is.get<bool>();
      } else {
        std::vector<std::string> truthy = {"true", "yes", "1", "on", "enabled", "enable", "y"};
        if (const YNode* t = opt(d, "truthy"); t && t->is_seq()) {
          truthy.clear();
          for (const auto& i : t->items) truthy.push_back(lower(i.value));
        }
        b = std::find(truthy.begin(), truthy.end(), s) != truthy.end();
      }
    }
    std::string as = opt_string(d, "as", "boolean");
    if (opt(d, "true") || opt(d, "false")) {
      const YNode* out = opt(d, b ? "true" : "false");
      v = out ? to_json(*out) : json(b);
    } else if (as == "string") {
      v = b ? "true" : "false";
    } else if (as == "integer") {
      v = b ? 1 : 0;
    } else {
      v = b;
    }
  } else if (type == "enum") {
    if (v.is_null()) return v;
    std::string s = util::to_s(v);
    std::vector<std::string> options;
    if (const YNode* o = opt(d, "options")) {
      json opts = to_json(*o);
      if (opts.is_array()) {
        for (const auto& i : opts) options.push_back(i.is_object() && i.contains("value") ? util::to_s(i["value"]) : util::to_s(i));
      } else if (opts.is_object()) {
        for (const auto& [k, x] : opts.items()) options.push_back(k);
      }
    }
    if (!opt_bool(d, "can_be_other", false) && std::find(options.begin(), options.end(), s) == options.end()) {
      std::string list;
      for (const auto& o : options) list += (list.empty() ? "" : ", ") + o;
      return err("\"" + s + "\" is not one of the options (" + list + ")");
    }
    v = s;
  } else if (type == "uri") {
    if (v.is_null()) return v;
    std::string s = util::to_s(v);
    std::size_t colon = s.find("://");
    std::vector<std::string> schemes = {"http", "https"};
    if (const YNode* sc = opt(d, "schemes"); sc && sc->is_seq()) {
      schemes.clear();
      for (const auto& i : sc->items) schemes.push_back(lower(i.value));
    }
    if (colon == std::string::npos || colon == 0 || colon + 3 >= s.size()) return err("\"" + s + "\" is not a URI");
    std::string scheme = lower(s.substr(0, colon));
    if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
      return err("the scheme \"" + scheme + "\" is not allowed");
    }
    v = s;
  } else if (type == "array") {
    if (v.is_null()) return v;
    json arr = json::array();
    if (v.is_array()) {
      arr = v;
    } else {
      std::string sep = opt_string(d, "split", ",");
      std::string s = util::to_s(v);
      if (sep.empty()) {
        for (char c : s) arr.push_back(std::string(1, c));
      } else {
        std::size_t pos = 0;
        while (true) {
          std::size_t f = s.find(sep, pos);
          arr.push_back(util::trim(s.substr(pos, f == std::string::npos ? std::string::npos : f - pos)));
          if (f == std::string::npos) break;
          pos = f + sep.size();
        }
      }
    }
    if (opt_bool(d, "compact", false)) {
      json c = json::array();
      for (const auto& i : arr) if (!i.is_null() && !(i.is_string() && i.get<std::string>().empty())) c.push_back(i);
      arr = c;
    }
    if (opt_bool(d, "sort", false)) std::sort(arr.begin(), arr.end(), [](const json& a, const json& b) { return util::to_s(a) < util::to_s(b); });
    if (opt_bool(d, "uniq", false)) {
      json u = json::array();
      std::set<std::string> seen;
      for (const auto& i : arr) {
        if (seen.insert(i.dump(-1, ' ', false, json::error_handler_t::replace)).second) u.push_back(i);
      }
      arr = u;
    }
    if (arr.empty() && opt_bool(d, "empty_is_nil", false)) return nullptr;
    if (opt_bool(d, "count", false)) {
      v = arr.size();
    } else if (const YNode* j = opt(d, "join"); j && !(scalar_value(*j).is_boolean() && !scalar_value(*j).get<bool>())) {
      json jv = scalar_value(*j);
      std::string sep = jv.is_string() ? jv.get<std::string>() : ",";
      std::string s;
      for (std::size_t i = 0; i < arr.size(); ++i) s += (i ? sep : "") + util::to_s(arr[i]);
      v = s;
    } else {
      v = arr;
    }
  }
  if (const YNode* in = opt(d, "in"); in && in->is_seq() && !v.is_null()) {
    json allowed = to_json(*in);
    bool ok = std::find(allowed.begin(), allowed.end(), v) != allowed.end();
    if (!ok) {
      for (const auto& a : allowed) ok = ok || util::to_s(a) == util::to_s(v);
    }
    if (!ok) return err(v.dump(-1, ' ', false, json::error_handler_t::replace) + " is not one of " + allowed.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return v;
}

void Variables::run_setters(Def& d) {
  const YNode* to = opt(d, "to");
  if (!to || to->is_null()) return;
  std::string path = "variables." + d.name + ".to";
  if (!to->is_map()) {
    rep_.error(to->line, path, "takes a mapping of setters (env, vault)");
    return;
  }
  std::string value = util::to_s(values_[d.name]);
  for (const auto& [setter, hint] : to->entries) {
    std::string target = hint.is_scalar() ? hint.value : d.name;
    if (setter == "env") {
      env_[target] = value;
      env_setters_[target] = value;
    } else if (setter == "vault") {
      if (!input_.run_setters) continue;
      if (!input_.resolver) {
        rep_.error(hint.line, path + ".vault", "the vault is not available here (writing \"" + target + "\")");
        continue;
      }
      try {
        input_.resolver->vault_write(target, value);
      } catch (const kontena::Error& e) {
        rep_.error(hint.line, path + ".vault", e.what());
      }
    } else {
      rep_.error(hint.line, path + "." + setter, "unknown setter \"" + setter + "\" (env or vault)");
    }
  }
}

json Variables::user_values() const {
  json out = json::object();
  for (const auto& name : order_) {
    auto it = defs_.find(name);
    if (it->second.skipped) continue;
    out[name] = values_.at(name);
  }
  return out;
}

json Variables::stored_values() const {
  json out = json::object();
  for (const auto& name : order_) {
    auto it = defs_.find(name);
    if (it->second.skipped || it->second.vault) continue;
    out[name] = values_.at(name);
  }
  return out;
}

}  // namespace kontena::stackfile
