#include "stackfile/yaml_tree.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include "common/error.h"
#include "stackfile/stackfile.h"

namespace kontena::stackfile {

const YNode* YNode::find(const std::string& key) const {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

int YNode::key_line(const std::string& key) const {
  const YNode* n = find(key);
  return n ? n->line : line;
}

namespace {

struct LimitError {
  int line;
  std::string message;
};

std::size_t count_nodes(const YNode& n) {
  std::size_t c = 1;
  for (const auto& i : n.items) c += count_nodes(i);
  for (const auto& [k, v] : n.entries) c += 1 + count_nodes(v);
  return c;
}

class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(std::string file, const std::vector<int>* origin) : file_(std::move(file)), origin_(origin) {}

  int L(const YAML::Mark& m) const { return map_line(m.line, origin_); }
  static int map_line(int zero_based, const std::vector<int>* origin) {
    if (zero_based < 0) return 0;
    if (origin && !origin->empty()) {
      std::size_t i = static_cast<std::size_t>(zero_based);
      return i < origin->size() ? (*origin)[i] : origin->back();
    }
    return zero_based + 1;
  }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YNode n;
    n.kind = YNode::Kind::null;
    n.line = L(mark);
    finish(std::move(n), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw LimitError{L(mark), "unknown alias"};
    nodes_ += it->second.second;
    if (nodes_ > kMaxNodes) {
      throw LimitError{L(mark), "the document expands to more than " + std::to_string(kMaxNodes) +
                                          " nodes (aliases referring to aliases?)"};
    }
    YNode copy = it->second.first;
    finish(std::move(copy), 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YNode n;
    n.kind = YNode::Kind::scalar;
    n.value = value;
    n.plain = tag == "?";
    if (tag != "?" && tag != "!") n.tag = tag;
    n.line = L(mark);
    count(mark);
    finish(std::move(n), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    push(YNode::Kind::seq, mark, anchor);
  }
  void OnSequenceEnd() override { pop(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    push(YNode::Kind::map, mark, anchor);
  }
  void OnMapEnd() override { pop(); }

  bool done = false;
  YNode root;
  std::vector<std::string> warnings;

 private:
  struct Frame {
    YNode node;
    YAML::anchor_t anchor = 0;
    bool have_key = false;
    std::string key;
    bool key_plain = true;
    int key_line = 0;
    std::vector<bool> merge;  // entry i came from a plain "<<" key
    std::set<std::string> keys;
  };

  void count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxNodes) {
      throw LimitError{L(mark), "the document has more than " + std::to_string(kMaxNodes) + " nodes"};
    }
  }

  void push(YNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (static_cast<int>(stack_.size()) >= kMaxNesting) {
      throw LimitError{L(mark), "nesting deeper than " + std::to_string(kMaxNesting) + " levels"};
    }
    count(mark);
    Frame f;
    f.node.kind = kind;
    f.node.line = L(mark);
    f.anchor = anchor;
    stack_.push_back(std::move(f));
  }

  void pop() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.node.kind == YNode::Kind::map) apply_merges(f);
    finish(std::move(f.node), f.anchor);
  }

  void apply_merges(Frame& f) {
    bool any = false;
    for (bool m : f.merge) any = any || m;
    if (!any) return;
    std::vector<YEntry> own;
    std::vector<const YNode*> sources;
    for (std::size_t i = 0; i < f.node.entries.size(); ++i) {
      if (f.merge[i]) {
        const YNode& v = f.node.entries[i].second;
        if (v.is_map()) {
          sources.push_back(&v);
        } else if (v.is_seq()) {
          for (const auto& item : v.items) {
            if (!item.is_map()) throw LimitError{item.line, "a merge key (<<) takes a mapping or a list of mappings"};
            sources.push_back(&item);
          }
        } else {
          throw LimitError{v.line, "a merge key (<<) takes a mapping or a list of mappings"};
        }
      } else {
        own.push_back(std::move(f.node.entries[i]));
      }
    }
    std::vector<YEntry> merged;
    std::set<std::string> present;
    for (const auto& e : own) present.insert(e.first);
    for (const YNode* s : sources) {
      for (const auto& e : s->entries) {
        if (present.insert(e.first).second) merged.push_back(e);
      }
    }
    for (auto& e : own) merged.push_back(std::move(e));
    f.node.entries = std::move(merged);
    f.merge.clear();
  }

  void finish(YNode n, YAML::anchor_t anchor) {
    if (anchor != 0) anchors_[anchor] = {n, count_nodes(n)};
    if (stack_.empty()) {
      if (!done) {
        root = std::move(n);
        done = true;
      }
      return;
    }
    Frame& f = stack_.back();
    if (f.node.kind == YNode::Kind::seq) {
      f.node.items.push_back(std::move(n));
      return;
    }
    if (!f.have_key) {
      if (n.kind == YNode::Kind::null) {
        f.key.clear();
        f.key_plain = true;
      } else if (n.kind == YNode::Kind::scalar) {
        f.key = n.value;
        f.key_plain = n.plain;
      } else {
        throw LimitError{n.line, "a mapping key must be a plain value, not a list or a mapping"};
      }
      f.key_line = n.line;
      f.have_key = true;
      return;
    }
    f.have_key = false;
    bool merge = f.key_plain && f.key == "<<";
    if (!merge && !f.keys.insert(f.key).second) {
      warnings.push_back(file_ + ":" + std::to_string(f.key_line) + ": duplicate key \"" + f.key +
                         "\" (the last one is used)");
    }
    // A block collection starts on the line after its key: report it at the key.
    if ((n.kind == YNode::Kind::map || n.kind == YNode::Kind::seq) && f.key_line > 0 && f.key_line < n.line) {
      n.line = f.key_line;
    }
    f.node.entries.push_back(YEntry{f.key, std::move(n)});
    f.merge.push_back(merge);
  }

  std::string file_;
  const std::vector<int>* origin_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, std::pair<YNode, std::size_t>> anchors_;
  std::size_t nodes_ = 0;
};

bool is_null_word(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

std::optional<bool> bool_word(const std::string& s) {
  static const char* t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char* f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (auto* w : t) if (s == w) return true;
  for (auto* w : f) if (s == w) return false;
  return std::nullopt;
}

std::optional<long long> int_word(const std::string& s0) {
  std::string s;
  for (char c : s0) if (c != '_') s += c;
  if (s.empty() || s0.front() == '_') return std::nullopt;
  std::size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return std::nullopt;
  int base = 10;
  std::string digits = s.substr(i);
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits = digits.substr(2);
  } else if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'b')) {
    base = digits[1] == 'o' ? 8 : 2;
    digits = digits.substr(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits = digits.substr(1);
  }
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  unsigned long long v = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (v > (9223372036854775807ULL - static_cast<unsigned>(d)) / static_cast<unsigned>(base)) return std::nullopt;
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
  }
  long long r = static_cast<long long>(v);
  return neg ? -r : r;
}

std::optional<double> float_word(const std::string& s0) {
  std::string s;
  for (char c : s0) if (c != '_') s += c;
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::nan("");
  // [-+]?([0-9]*\.[0-9]*([eE][-+]?[0-9]+)? | [0-9]+[eE][-+]?[0-9]+) with at least one digit
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  bool exp = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exp = true;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t ed = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++ed;
    if (ed == 0) return std::nullopt;
  }
  if (i != s.size() || (!dot && !exp)) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

}  // namespace

ParsedYaml parse_yaml(const std::string& text, const std::string& file_name, const std::vector<int>* line_origin) {
  ParsedYaml out;
  if (text.size() > kMaxSourceBytes * 4) {
    out.ok = false;
    out.error = "the file is larger than " + std::to_string(kMaxSourceBytes * 4) + " bytes";
    return out;
  }
  std::istringstream in(text);
  TreeBuilder builder(file_name, line_origin);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(builder);
    if (builder.done) {
      // A second document is ignored (as YAML.safe_load does), but reported.
      TreeBuilder rest(file_name, line_origin);
      if (parser.HandleNextDocument(rest) && rest.done) {
        builder.warnings.push_back(file_name + ": only the first YAML document is read");
      }
    }
  } catch (const LimitError& e) {
    out.ok = false;
    out.error_line = e.line;
    out.error = e.message;
  } catch (const YAML::Exception& e) {
    out.ok = false;
    out.error_line = e.mark.is_null() ? 0 : TreeBuilder::map_line(e.mark.line, line_origin);
    out.error = "YAML syntax error: " + e.msg;
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = "YAML syntax error: " + std::string(e.what());
  }
  out.root = std::move(builder.root);
  out.warnings = std::move(builder.warnings);
  return out;
}

nlohmann::json scalar_value(const YNode& node) {
  if (node.kind == YNode::Kind::null) return nullptr;
  if (node.kind != YNode::Kind::scalar) return to_json(node);
  const std::string& s = node.value;
  if (!node.tag.empty()) {
    const std::string& t = node.tag;
    if (t == "tag:yaml.org,2002:str") return s;
    if (t == "tag:yaml.org,2002:int") {
      if (auto v = int_word(s)) return *v;
      return s;
    }
    if (t == "tag:yaml.org,2002:float") {
      if (auto v = float_word(s)) return *v;
      if (auto v = int_word(s)) return static_cast<double>(*v);
      return s;
    }
    if (t == "tag:yaml.org,2002:bool") {
      if (auto v = bool_word(s)) return *v;
      return s;
    }
    if (t == "tag:yaml.org,2002:null") return nullptr;
    return s;
  }
  if (!node.plain) return s;
  if (is_null_word(s)) return nullptr;
  if (auto b = bool_word(s)) return *b;
  if (auto i = int_word(s)) return *i;
  if (auto f = float_word(s)) {
    if (std::isfinite(*f)) return *f;
    return s;  // JSON has no inf/nan: keep the text
  }
  return s;
}

nlohmann::json to_json(const YNode& node) {
  switch (node.kind) {
    case YNode::Kind::null: return nullptr;
    case YNode::Kind::scalar: return scalar_value(node);
    case YNode::Kind::seq: {
      auto a = nlohmann::json::array();
      for (const auto& i : node.items) a.push_back(to_json(i));
      return a;
    }
    case YNode::Kind::map: {
      auto o = nlohmann::json::object();
      for (const auto& [k, v] : node.entries) o[k] = to_json(v);
      return o;
    }
  }
  return nullptr;
}

namespace {

bool plain_safe(const std::string& s) {
  if (s.empty()) return false;
  YNode probe;
  probe.kind = YNode::Kind::scalar;
  probe.value = s;
  if (!scalar_value(probe).is_string()) return false;
  unsigned char c0 = static_cast<unsigned char>(s[0]);
  if (!(std::isalnum(c0) || c0 == '/' || c0 == '.' || c0 == '_')) return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '/' || c == '.' || c == '_' || c == '-' || c == ' ' || c == ':' || c == '=' ||
          c == '+' || c == '@' || c == ',')) {
      return false;
    }
  }
  if (s.back() == ' ' || s.back() == ':') return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  return true;
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return plain_safe(s) ? s : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return v.dump();
}

void emit(std::ostringstream& out, const nlohmann::json& v, int indent) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [k, item] : v.items()) {
      out << pad << scalar_text(nlohmann::json(k)) << ":";
      if ((item.is_object() && !item.empty()) || (item.is_array() && !item.empty())) {
        out << "\n";
        emit(out, item, indent + 2);
      } else if (item.is_object()) {
        out << " {}\n";
      } else if (item.is_array()) {
        out << " []\n";
      } else {
        out << " " << scalar_text(item) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if ((item.is_object() || item.is_array()) && !item.empty()) {
        out << pad << "-\n";
        emit(out, item, indent + 2);
      } else if (item.is_object()) {
        out << pad << "- {}\n";
      } else if (item.is_array()) {
        out << pad << "- []\n";
      } else {
        out << pad << "- " << scalar_text(item) << "\n";
      }
    }
  } else {
    out << pad << scalar_text(v) << "\n";
  }
}

}  // namespace

std::string json_to_yaml(const nlohmann::json& value) {
  std::ostringstream out;
  if (value.is_object() && value.empty()) return "{}\n";
  emit(out, value, 0);
  return out.str();
}

}  // namespace kontena::stackfile
