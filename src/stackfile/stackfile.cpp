#include "stackfile/stackfile.h"

#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "stackfile/liquid.h"
#include "stackfile/services.h"
#include "stackfile/util.h"
#include "stackfile/variables.h"
#include "stackfile/yaml_tree.h"

namespace kontena::stackfile {

using json = nlohmann::json;

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& d) {
  constexpr std::size_t kMaxListed = 100;
  std::string out;
  for (std::size_t i = 0; i < d.size() && i < kMaxListed; ++i) {
    if (!out.empty()) out += "\n";
    out += d[i].to_string();
  }
  if (d.size() > kMaxListed) out += "\n... and " + std::to_string(d.size() - kMaxListed) + " more problems";
  return out;
}
}  // namespace

StackFileError::StackFileError(std::vector<Diagnostic> diagnostics)
    : kontena::Error(ErrorKind::invalid, join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

std::optional<std::string> Resolver::vault_read(const std::string& key) {
  fail(ErrorKind::unavailable, "the vault is not available here (reading \"" + key + "\")");
}

void Resolver::vault_write(const std::string& key, const std::string&) {
  fail(ErrorKind::unavailable, "the vault is not available here (writing \"" + key + "\")");
}

namespace {

bool is_url(const std::string& s) { return util::starts_with(s, "http://") || util::starts_with(s, "https://"); }

// A file named in `base`'s file (extends, env_file): relative to its directory or URL.
std::string relative_to(const std::string& base, const std::string& name) {
  if (is_url(name) || (!name.empty() && name[0] == '/')) return name;
  std::size_t slash = base.rfind('/');
  if (is_url(base)) {
    std::size_t scheme_end = base.find("://") + 3;
    if (slash == std::string::npos || slash < scheme_end) return base + "/" + name;
  }
  if (slash == std::string::npos) return name;
  return base.substr(0, slash + 1) + name;
}

bool valid_stack_name(const std::string& s) {
  if (s.empty() || s[0] == '-' || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool valid_semver(const std::string& v) {
  // MAJOR.MINOR.PATCH[-pre][+build]
  std::size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    std::size_t b = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i == b) return false;
    if (part < 2) {
      if (i >= v.size() || v[i] != '.') return false;
      ++i;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != '-' && v[i] != '+') return false;
  if (i + 1 >= v.size()) return false;
  for (std::size_t k = i + 1; k < v.size(); ++k) {
    char c = v[k];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+')) return false;
  }
  return true;
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Keeps only the top-level blocks `keys` (other lines blanked, so lines keep their numbers) and
// substitutes $GRID, $STACK, $PLATFORM (reference §1.1 step 2).
std::string internals_text(const std::string& raw, const std::map<std::string, std::string>& subst) {
  static const std::set<std::string> keys = {"stack", "version", "variables", "depends"};
  std::string out;
  bool keep = false;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t nl = raw.find('\n', pos);
    std::string line = raw.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    bool top = !line.empty() && !std::isspace(static_cast<unsigned char>(line[0])) && line[0] != '#';
    bool liquid = util::starts_with(line, "{%") || util::starts_with(line, "{{");
    if (top && !liquid) {
      std::size_t colon = line.find(':');
      std::string key = colon == std::string::npos ? "" : line.substr(0, colon);
      keep = keys.count(key) > 0;
    }
    if (keep && !liquid && line != "---" && line != "...") out += line;
    if (nl == std::string::npos) break;
    out += '\n';
    pos = nl + 1;
  }
  // $GRID/${GRID}...; other references stay as they are here.
  std::string res;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '$' && i + 1 < out.size() && out[i + 1] == '$') {
      res += '$';
      ++i;
      continue;
    }
    if (out[i] == '$') {
      std::size_t j = i + 1;
      bool brace = j < out.size() && out[j] == '{';
      if (brace) ++j;
      std::size_t b = j;
      while (j < out.size() && word_char(out[j])) ++j;
      std::string name = out.substr(b, j - b);
      auto it = subst.find(name);
      if (!name.empty() && it != subst.end() && (!brace || (j < out.size() && out[j] == '}'))) {
        res += it->second;
        i = brace ? j : j - 1;
        continue;
      }
    }
    res += out[i];
  }
  return res;
}

struct StackRef {
  std::string user, name, version;
};

StackRef parse_stack_ref(const std::string& ref) {
  StackRef r;
  std::string s = ref;
  std::size_t colon = s.rfind(':');
  if (colon != std::string::npos) {
    r.version = s.substr(colon + 1);
    s = s.substr(0, colon);
  }
  std::size_t slash = s.find('/');
  if (slash != std::string::npos) {
    r.user = s.substr(0, slash);
    r.name = s.substr(slash + 1);
  } else {
    r.name = s;
  }
  return r;
}

// One loaded file: the parsed text after variables, Liquid and $VAR.
struct Doc {
  LoadInput input;  // Variables keeps a reference to it
  std::string origin;
  std::string file;  // display name
  std::string raw;
  std::string interpolated;
  YNode root;
  std::unique_ptr<Variables> vars;
  ServiceContext ctx;
  std::map<std::string, const YNode*> services;  // the `services:` entries by name (last wins)
  std::map<std::string, json> normalized;  // before extends
  std::map<std::string, json> merged;      // after extends
};

class Loader {
 public:
  explicit Loader(const LoadInput& in) : in_(in) {}

  LoadedStack run() {
    auto doc = prepare(in_, true);
    if (!errors_.empty()) throw StackFileError(errors_);
    LoadedStack out;
    out.stack = build(*doc);
    if (!errors_.empty()) throw StackFileError(errors_);
    out.values = doc->vars->user_values();
    out.warnings = warnings_;
    out.interpolated = doc->interpolated;
    return out;
  }

 private:
  Reporter reporter(const std::string& file) { return Reporter{file, &errors_, &warnings_}; }

  std::string fetch(const std::string& origin) {
    if (!in_.local_files && !is_url(origin)) fail(ErrorKind::invalid, "cannot read " + origin + ": reading local files is disabled here");
    return read_source(origin, in_.fetcher);
  }

  // Steps 1-5 of the pipeline for one file. Returns a doc whose root is valid when no error was
  // added.
  // inherited: the values of the file that extends this one (usable here unless redeclared).
  std::unique_ptr<Doc> prepare(LoadInput input, bool main, const std::map<std::string, json>* inherited = nullptr) {
    auto doc = std::make_unique<Doc>();
    doc->input = std::move(input);
    const LoadInput& in = doc->input;
    doc->origin = in.origin;
    doc->file = in.origin;
    Reporter rep = reporter(doc->file);
    if (in.text.empty()) {
      try {
        doc->raw = fetch(in.origin);
      } catch (const kontena::Error& e) {
        rep.error(0, "", e.what());
        return doc;
      }
    } else {
      doc->raw = in.text;
    }
    if (doc->raw.size() > kMaxSourceBytes) {
      rep.error(0, "", "the file is larger than " + std::to_string(kMaxSourceBytes) + " bytes");
      return doc;
    }
    std::string grid = in.grid, platform = in.platform.empty() ? in.grid : in.platform;
    std::map<std::string, std::string> subst{{"GRID", grid}, {"PLATFORM", platform}};
    // The stack name: -n, else the file's `stack:` ([user/]name[:version]).
    std::string ref_text;
    {
      ParsedYaml first = parse_yaml(internals_text(doc->raw, subst), doc->file);
      if (first.ok && first.root.is_map()) {
        if (const YNode* s = first.root.find("stack"); s && s->is_scalar()) ref_text = s->value;
      }
    }
    std::string name = in.stack_name.empty() ? parse_stack_ref(ref_text).name : in.stack_name;
    subst["STACK"] = name;
    ParsedYaml internals = parse_yaml(internals_text(doc->raw, subst), doc->file);
    if (!internals.ok) {
      rep.error(internals.error_line, "", internals.error);
      return doc;
    }
    const YNode* iroot = &internals.root;
    if (!iroot->is_map() && !iroot->is_null()) {
      rep.error(iroot->line, "", "the stack file must be a mapping (stack, services, ...)");
      return doc;
    }
    std::map<std::string, json> builtins{{"GRID", grid}, {"STACK", name}, {"PLATFORM", platform}};
    if (!in.parent_stack.empty()) builtins["PARENT_STACK"] = in.parent_stack;
    if (inherited) {
      const YNode* own = iroot->is_map() ? iroot->find("variables") : nullptr;
      std::set<std::string> declared;
      if (own && own->is_map()) {
        for (const auto& e : own->entries) declared.insert(e.first);
      }
      for (const auto& [k, v] : *inherited) {
        if (!declared.count(k) && !builtins.count(k)) builtins[k] = v;
      }
    }
    if (const YNode* deps = iroot->find("depends"); deps && deps->is_map()) {
      for (const auto& [alias, d] : deps->entries) builtins[alias] = name + "-" + alias;
    }
    doc->vars = std::make_unique<Variables>(iroot->is_map() ? iroot->find("variables") : nullptr, in, builtins, rep);
    doc->vars->resolve_all();
    if (!errors_.empty()) return doc;
    (void)main;

    // Liquid
    LiquidResult liquid;
    try {
      liquid = render_liquid(doc->raw, doc->file, doc->vars->values());
    } catch (const kontena::Error& e) {
      // "FILE:LINE: Liquid error: ..." -> a diagnostic
      std::string msg = e.what();
      int line = 0;
      std::string prefix = doc->file + ":";
      if (util::starts_with(msg, prefix)) {
        std::string rest = msg.substr(prefix.size());
        std::size_t c = rest.find(':');
        if (c != std::string::npos) {
          if (auto l = util::parse_int(rest.substr(0, c))) {
            line = static_cast<int>(*l);
            msg = util::trim(rest.substr(c + 1));
          } else {
            msg = util::trim(rest);
          }
        }
      }
      rep.error(line, "", msg);
      return doc;
    }
    // $VAR
    doc->interpolated = interpolate(liquid.text, liquid.line_origin, *doc->vars, rep);
    if (!errors_.empty()) return doc;
    ParsedYaml parsed = parse_yaml(doc->interpolated, doc->file, &liquid.line_origin);
    for (auto& w : parsed.warnings) warnings_.push_back(std::move(w));
    if (!parsed.ok) {
      rep.error(parsed.error_line, "", parsed.error);
      return doc;
    }
    doc->root = std::move(parsed.root);
    if (!doc->root.is_map()) {
      rep.error(doc->root.line, "", "the stack file must be a mapping (stack, services, ...)");
      return doc;
    }
    if (const YNode* services = doc->root.find("services"); services && services->is_map()) {
      for (const auto& [k, v] : services->entries) doc->services[k] = &v;
    }
    // Service context
    doc->ctx.rep = rep;
    doc->ctx.env = &in_.env;
    if (const YNode* vols = doc->root.find("volumes"); vols && vols->is_map()) {
      for (const auto& [k, v] : vols->entries) doc->ctx.declared_volumes.insert(k);
    }
    std::string origin = doc->origin;
    Fetcher* fetcher = in_.fetcher;
    bool local = in_.local_files;
    doc->ctx.read_file = [origin, fetcher, local](const std::string& name) -> std::optional<std::string> {
      try {
        std::string path = relative_to(origin, name);
        if (!local && !is_url(path)) return std::nullopt;
        return read_source(path, fetcher);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    };
    return doc;
  }

  // $VAR / ${VAR} (reference §1.1 step 5), then $$ -> $.
  std::string interpolate(const std::string& text, const std::vector<int>& origin, Variables& vars,
                          const Reporter& rep) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    int line_no = 0;
    std::set<std::string> unset_warned;
    while (pos <= text.size()) {
      std::size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      int src_line = static_cast<std::size_t>(line_no) < origin.size() ? origin[static_cast<std::size_t>(line_no)] : line_no + 1;
      std::string trimmed = util::trim(line);
      bool skip = util::starts_with(trimmed, "interpolate:") || util::starts_with(trimmed, "evaluate:");
      std::string res;
      for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (skip || c != '$') {
          res += c;
          continue;
        }
        // (?<!\$)\$(?!\$)\{?\w+\}?
        bool prev_dollar = i > 0 && line[i - 1] == '$';
        bool next_dollar = i + 1 < line.size() && line[i + 1] == '$';
        if (prev_dollar || next_dollar) {
          res += c;
          continue;
        }
        std::size_t j = i + 1;
        if (j < line.size() && line[j] == '{') ++j;
        std::size_t b = j;
        while (j < line.size() && word_char(line[j])) ++j;
        if (j == b) {
          res += c;
          continue;
        }
        std::string name = line.substr(b, j - b);
        if (j < line.size() && line[j] == '}') ++j;
        i = j - 1;
        if (vars.declared(name)) {
          const json& v = vars.values().at(name);
          if (v.is_null()) {
            if (unset_warned.insert(name).second) {
              rep.warn(src_line, "", "the value of " + name + " is not set: substituting an empty string");
            }
            continue;
          }
          std::string s = util::to_s(v);
          if (s.find_first_of("\r\n\"'|") != std::string::npos) s = util::quote(s);
          res += s;
        } else if (auto it = vars.env_setters().find(name); it != vars.env_setters().end()) {
          std::string s = it->second;
          if (s.find_first_of("\r\n\"'|") != std::string::npos) s = util::quote(s);
          res += s;
        } else {
          rep.error(src_line, "", "undeclared variable \"" + name + "\" (declare it under variables:, or write $$" + name +
                                      " for a literal $)");
        }
        if (res.size() > kMaxRenderedBytes) {
          rep.error(src_line, "", "the interpolated file is too large");
          return out;
        }
      }
      // $$ -> $
      std::string unescaped;
      for (std::size_t i = 0; i < res.size(); ++i) {
        if (res[i] == '$' && i + 1 < res.size() && res[i + 1] == '$') ++i;
        unescaped += res[i];
      }
      out += unescaped;
      if (nl == std::string::npos) break;
      out += '\n';
      pos = nl + 1;
      ++line_no;
      if (out.size() > kMaxRenderedBytes) {
        rep.error(src_line, "", "the interpolated file is too large");
        return out;
      }
    }
    return out;
  }

  const json& normalized(Doc& doc, const std::string& name, const YNode& node) {
    auto it = doc.normalized.find(name);
    if (it != doc.normalized.end()) return it->second;
    return doc.normalized[name] = normalize_service(name, node, doc.ctx);
  }

  Doc* extends_doc(Doc& from, const std::string& file, int line) {
    std::string origin = relative_to(from.origin, file);
    auto it = docs_.find(origin);
    if (it != docs_.end()) return it->second.get();
    if (docs_.size() > 16) {
      reporter(from.file).error(line, "", "too many files extended");
      return nullptr;
    }
    LoadInput in = in_;
    in.text.clear();
    in.origin = origin;
    in.values.clear();
    in.values_from = from.vars ? from.vars->user_values() : json::object();  // answers for its own variables
    in.require_stack_key = false;
    in.run_setters = false;
    std::size_t before = errors_.size();
    std::map<std::string, json> inherited;
    if (from.vars) inherited = from.vars->values();
    auto doc = prepare(in, false, &inherited);
    if (errors_.size() != before) {
      docs_[origin] = nullptr;
      return nullptr;
    }
    Doc* p = doc.get();
    docs_[origin] = std::move(doc);
    return p;
  }

  // The service after `extends`, or null on an error (reported).
  json resolve_service(Doc& doc, const std::string& name, int depth, std::vector<std::string>& chain, int ref_line) {
    Reporter rep = reporter(doc.file);
    std::string key = doc.origin + "#" + name;
    if (auto it = doc.merged.find(name); it != doc.merged.end()) return it->second;
    if (std::find(chain.begin(), chain.end(), key) != chain.end()) {
      rep.error(ref_line, "services." + name, "extends itself (" + [&] {
        std::string c;
        for (const auto& k : chain) c += k.substr(k.find('#') + 1) + " -> ";
        return c + name;
      }() + ")");
      return nullptr;
    }
    if (depth > kMaxExtendsDepth) {
      rep.error(ref_line, "services." + name, "extends more than " + std::to_string(kMaxExtendsDepth) + " levels deep");
      return nullptr;
    }
    auto found = doc.services.find(name);
    const YNode* node = found == doc.services.end() ? nullptr : found->second;
    if (!node) {
      rep.error(ref_line, "", "the service \"" + name + "\" to extend is not in " + doc.file);
      return nullptr;
    }
    json own = normalized(doc, name, *node);
    const YNode* ext = node->is_map() ? node->find("extends") : nullptr;
    if (!ext || ext->is_null()) {
      doc.merged[name] = own;
      return own;
    }
    std::string parent_name, file;
    if (ext->is_scalar()) {
      parent_name = ext->value;
    } else if (ext->is_map()) {
      const YNode* s = ext->find("service");
      const YNode* f = ext->find("file");
      const YNode* st = ext->find("stack");
      if (!s || !s->is_scalar()) return nullptr;  // reported by normalize_service
      parent_name = s->value;
      if (f && f->is_scalar()) file = f->value;
      if (st) {
        rep.error(st->line, "services." + name + ".extends.stack",
                  "extending a service of a registry stack is not supported; use file");
        return nullptr;
      }
    } else {
      rep.error(ext->line, "services." + name + ".extends", "must be a service name or {service, file}");
      return nullptr;
    }
    Doc* parent_doc = &doc;
    if (!file.empty()) {
      parent_doc = extends_doc(doc, file, ext->line);
      if (!parent_doc) return nullptr;
    } else if (parent_name == name) {
      rep.error(ext->line, "services." + name + ".extends", "a service cannot extend itself");
      return nullptr;
    }
    chain.push_back(key);
    json parent = resolve_service(*parent_doc, parent_name, depth + 1, chain, ext->line);
    chain.pop_back();
    if (parent.is_null()) return nullptr;
    json merged = merge_extended(parent, own, written_keys(*node));
    doc.merged[name] = merged;
    return merged;
  }

  json build(Doc& doc) {
    Reporter rep = reporter(doc.file);
    const YNode& root = doc.root;
    static const std::set<std::string> known = {"stack", "version", "description", "data", "errors", "variables",
                                                "services", "volumes", "networks", "expose", "depends", "labels",
                                                "meta"};
    for (const auto& [k, v] : root.entries) {
      if (k == "networks") rep.warn(v.line, "networks", "Kontena does not support multiple networks: ignored");
      else if (!known.count(k)) rep.warn(v.line, k, "unknown top-level key is ignored");
    }
    json out{{"stack", nullptr},        {"name", nullptr},        {"version", "0.0.1"},
             {"description", nullptr},  {"expose", nullptr},      {"labels", json::array()},
             {"meta", nullptr},         {"services", json::array()}, {"volumes", json::array()},
             {"dependencies", json::array()}, {"variables", json::object()}, {"parent", nullptr},
             {"source", doc.raw}};
    // stack / version
    StackRef ref;
    if (const YNode* s = root.find("stack")) {
      if (!s->is_scalar()) {
        rep.error(s->line, "stack", "must be a string such as user/name");
      } else {
        ref = parse_stack_ref(s->value);
        out["stack"] = ref.user.empty() ? ref.name : ref.user + "/" + ref.name;
        if (!valid_stack_name(ref.name)) {
          rep.error(s->line, "stack", "\"" + ref.name + "\" is not a valid stack name (lowercase letters, digits and '-', not starting with '-')");
        }
        if (!ref.version.empty()) {
          if (!valid_semver(ref.version)) rep.error(s->line, "stack", "\"" + ref.version + "\" is not a version such as 1.0.0");
          else out["version"] = ref.version;
        }
      }
    } else if (in_.require_stack_key) {
      rep.error(root.line, "", "key \"stack\" is missing (e.g. stack: user/name)");
    }
    std::string name = in_.stack_name.empty() ? ref.name : in_.stack_name;
    if (!in_.stack_name.empty() && !valid_stack_name(in_.stack_name)) {
      rep.error(0, "", "\"" + in_.stack_name + "\" is not a valid stack name (lowercase letters, digits and '-')");
    }
    out["name"] = name.empty() ? json(nullptr) : json(name);
    if (const YNode* v = root.find("version")) {
      std::string version = v->is_scalar() ? v->value : "";
      if (!valid_semver(version)) rep.error(v->line, "version", "must be a version such as 1.0.0, not " + (v->is_scalar() ? "\"" + v->value + "\"" : std::string("a collection")));
      else out["version"] = version;
    }
    if (const YNode* d = root.find("description")) {
      if (!d->is_scalar() && !d->is_null()) rep.error(d->line, "description", "must be a string");
      else if (d->is_scalar()) out["description"] = d->value;
    }
    if (const YNode* m = root.find("meta")) out["meta"] = to_json(*m);
    if (const YNode* l = root.find("labels")) {
      if (!l->is_seq()) {
        rep.error(l->line, "labels", "must be a list of \"key=value\"");
      } else {
        for (std::size_t i = 0; i < l->items.size(); ++i) {
          const YNode& item = l->items[i];
          std::string path = "labels[" + std::to_string(i) + "]";
          std::size_t eq = item.is_scalar() ? item.value.find('=') : std::string::npos;
          bool ok = eq != std::string::npos && eq > 0;
          for (std::size_t k = 0; ok && k < eq; ++k) {
            char c = item.value[k];
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
          }
          if (!ok) rep.error(item.line, path, "must be \"key=value\" with a key of a-z, 0-9, '.' and '-'");
          else out["labels"].push_back(item.value);
        }
      }
    }
    // volumes
    std::set<std::string> volume_names;
    if (const YNode* vols = root.find("volumes"); vols && !vols->is_null()) {
      if (!vols->is_map()) {
        rep.error(vols->line, "volumes", "must be a mapping of volume names");
      } else {
        for (const auto& [vname, def] : vols->entries) {
          std::string path = "volumes." + vname;
          const YNode* only_if = def.is_map() ? def.find("only_if") : nullptr;
          const YNode* skip_if = def.is_map() ? def.find("skip_if") : nullptr;
          bool skip = doc.vars->condition_skips(only_if, skip_if, path);
          json external = nullptr;
          if (!def.is_map()) {
            rep.error(def.line, path, "only external volumes are supported (external: true or external: {name: NAME})");
            continue;
          }
          for (const auto& [k, v] : def.entries) {
            if (k != "external" && k != "only_if" && k != "skip_if") rep.error(v.line, path, "key \"" + k + "\" is not expected");
          }
          const YNode* ext = def.find("external");
          if (!ext) {
            rep.error(def.line, path, "only external volumes are supported (external: true or external: {name: NAME})");
            continue;
          }
          json e = to_json(*ext);
          if (e.is_boolean() && e.get<bool>()) external = vname;
          else if (e.is_object() && e.contains("name") && e["name"].is_string()) external = e["name"];
          else {
            rep.error(ext->line, path + ".external", "must be true or {name: NAME}");
            continue;
          }
          if (!skip) {
            out["volumes"].push_back({{"name", vname}, {"external", external}});
            volume_names.insert(vname);
          }
        }
      }
    }
    // services
    std::vector<std::string> service_names;
    const YNode* services = root.find("services");
    if (services && !services->is_null() && !services->is_map()) {
      rep.error(services->line, "services", "must be a mapping of service names to definitions");
      services = nullptr;
    }
    if (services) {
      for (const auto& [sname, def] : services->entries) {
        std::string path = "services." + sname;
        if (!valid_stack_name(sname)) {
          rep.warn(def.line, path, "\"" + sname + "\" is not a valid service name (lowercase letters, digits and '-')");
        }
        const YNode* only_if = def.is_map() ? def.find("only_if") : nullptr;
        const YNode* skip_if = def.is_map() ? def.find("skip_if") : nullptr;
        bool skip = doc.vars->condition_skips(only_if, skip_if, path);
        std::vector<std::string> chain;
        json svc = resolve_service(doc, sname, 0, chain, def.line);
        if (skip || svc.is_null()) continue;
        for (const auto& d : svc["depends_on"]) {
          bool linked = false;
          for (const auto& l : svc["links"]) linked = linked || l["name"] == d;
          if (!linked) svc["links"].push_back({{"name", d}, {"alias", d}});
        }
        if (svc["image"].is_null()) rep.error(def.line, path, "image is missing");
        service_names.push_back(sname);
        out["services"].push_back(svc);
      }
    }
    bool any_defined = (services && !services->entries.empty());
    if (const YNode* vols = root.find("volumes"); vols && vols->is_map() && !vols->entries.empty()) any_defined = true;
    if (!any_defined && in_.require_stack_key) {
      rep.error(root.line, "", "the stack does not list any services or volumes");
    }
    if (const YNode* e = root.find("expose"); e && !e->is_null()) {
      if (!e->is_scalar()) {
        rep.error(e->line, "expose", "must be the name of a service");
      } else if (std::find(service_names.begin(), service_names.end(), e->value) == service_names.end()) {
        rep.error(e->line, "expose", "\"" + e->value + "\" is not a service of this stack");
      } else {
        out["expose"] = e->value;
      }
    }
    // depends: child stacks (references only)
    if (const YNode* deps = root.find("depends"); deps && !deps->is_null()) {
      if (!deps->is_map()) {
        rep.error(deps->line, "depends", "must be a mapping of aliases to {stack, variables}");
      } else {
        for (const auto& [alias, d] : deps->entries) {
          std::string path = "depends." + alias;
          if (doc.services.count(alias)) {
            rep.error(d.line, path, "the alias \"" + alias + "\" is also the name of a service");
          }
          if (!valid_stack_name(alias)) rep.error(d.line, path, "\"" + alias + "\" is not a valid alias (lowercase letters, digits and '-')");
          if (!d.is_map()) {
            rep.error(d.line, path, "must be {stack: FILE|URL|user/stack[:version], variables: {...}}");
            continue;
          }
          for (const auto& [k, v] : d.entries) {
            if (k != "stack" && k != "variables") rep.error(v.line, path, "key \"" + k + "\" is not expected");
          }
          const YNode* st = d.find("stack");
          if (!st || !st->is_scalar() || st->value.empty()) {
            rep.error(d.line, path, "\"stack\" is missing (a file, a URL or user/stack[:version])");
            continue;
          }
          json vars = json::object();
          if (const YNode* v = d.find("variables"); v && !v->is_null()) {
            if (!v->is_map()) rep.error(v->line, path + ".variables", "must be a mapping");
            else vars = to_json(*v);
          }
          std::string prefix = alias + ".";
          for (const auto& [k, v] : in_.values) {
            if (util::starts_with(k, prefix)) vars[k.substr(prefix.size())] = v;
          }
          std::string stack_ref = st->value;
          if (!is_url(stack_ref) && (util::starts_with(stack_ref, "./") || util::starts_with(stack_ref, "../") ||
                                     stack_ref.find(".yml") != std::string::npos || stack_ref.find(".yaml") != std::string::npos)) {
            stack_ref = relative_to(doc.origin, stack_ref);
          }
          out["dependencies"].push_back({{"name", alias}, {"stack", stack_ref}, {"variables", vars}});
        }
      }
    }
    out["variables"] = doc.vars->stored_values();
    if (!in_.parent_stack.empty()) out["parent"] = {{"name", in_.parent_stack}};
    return out;
  }

  const LoadInput& in_;
  std::vector<Diagnostic> errors_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::unique_ptr<Doc>> docs_;
};

}  // namespace

LoadedStack load_stack(const LoadInput& input) {
  Loader loader(input);
  return loader.run();
}

std::string read_source(const std::string& origin, Fetcher* fetcher) {
  if (is_url(origin)) {
    if (!fetcher) fail(ErrorKind::invalid, "cannot load " + origin + ": loading stack files from URLs is not available here");
    std::string text = fetcher->fetch(origin);
    if (text.size() > kMaxSourceBytes) fail(ErrorKind::invalid, origin + ": the file is larger than " + std::to_string(kMaxSourceBytes) + " bytes");
    return text;
  }
  std::ifstream f(origin, std::ios::binary);
  if (!f) fail(ErrorKind::not_found, "cannot read " + origin);
  std::string text;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(f.gcount()));
    if (text.size() > kMaxSourceBytes) fail(ErrorKind::invalid, origin + ": the file is larger than " + std::to_string(kMaxSourceBytes) + " bytes");
  }
  return text;
}

std::pair<std::string, std::string> parse_value_arg(const std::string& arg) {
  std::size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) invalid("values", "\"" + arg + "\" is not NAME=VALUE");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

json parse_values(const std::string& text, const std::string& file_name) {
  ParsedYaml p = parse_yaml(text, file_name);
  if (!p.ok) {
    fail(ErrorKind::invalid, file_name + (p.error_line > 0 ? ":" + std::to_string(p.error_line) : std::string()) + ": " + p.error);
  }
  if (p.root.is_null()) return json::object();
  if (!p.root.is_map()) fail(ErrorKind::invalid, file_name + ": the values file must be a mapping of variable names to values");
  return to_json(p.root);
}

std::string values_to_yaml(const json& values) { return json_to_yaml(values); }

}  // namespace kontena::stackfile
