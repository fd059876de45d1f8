#include "stackfile/liquid.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <set>

#include "common/error.h"
#include "stackfile/stackfile.h"
#include "stackfile/util.h"

namespace kontena::stackfile {

bool liquid_truthy(const nlohmann::json& v) { return !(v.is_null() || (v.is_boolean() && !v.get<bool>())); }

namespace {

using json = nlohmann::json;

struct LiquidError {
  int line;
  std::string message;
};

// ---- tokens -------------------------------------------------------------------------------------

struct Tok {
  enum class T { text, output, tag } t;
  std::string s;
  int line = 1;
  bool lstrip = false;  // {{- / {%-
  bool rstrip = false;  // -}} / -%}
};

int count_nl(std::string_view s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::string tag_name(const std::string& markup) {
  std::size_t i = 0;
  while (i < markup.size() && (std::isalnum(static_cast<unsigned char>(markup[i])) || markup[i] == '_')) ++i;
  return markup.substr(0, i);
}

std::vector<Tok> tokenize(const std::string& src) {
  std::vector<Tok> toks;
  std::size_t pos = 0;
  int line = 1;
  auto add_text = [&](std::size_t from, std::size_t to) {
    if (to > from) {
      toks.push_back({Tok::T::text, src.substr(from, to - from), line});
      line += count_nl(std::string_view(src).substr(from, to - from));
    }
  };
  // Cached next positions of "{{" and "{%" (searching again from every tag would be quadratic).
  std::size_t next_a = 0, next_b = 0;
  bool have_a = false, have_b = false;
  while (pos < src.size()) {
    if (!have_a || (next_a != std::string::npos && next_a < pos)) {
      next_a = src.find("{{", pos);
      have_a = true;
    }
    if (!have_b || (next_b != std::string::npos && next_b < pos)) {
      next_b = src.find("{%", pos);
      have_b = true;
    }
    std::size_t a = next_a, b = next_b;
    std::size_t open = std::min(a, b);
    if (open == std::string::npos) {
      add_text(pos, src.size());
      break;
    }
    add_text(pos, open);
    bool is_tag = open == b;
    const char* closer = is_tag ? "%}" : "}}";
    std::size_t close = src.find(closer, open + 2);
    if (close == std::string::npos) {
      throw LiquidError{line, std::string(is_tag ? "tag '{%'" : "variable '{{'") + " was not properly terminated with '" +
                                  closer + "'"};
    }
    std::string inner = src.substr(open + 2, close - open - 2);
    Tok t{is_tag ? Tok::T::tag : Tok::T::output, "", line};
    if (!inner.empty() && inner.front() == '-') {
      t.lstrip = true;
      inner.erase(0, 1);
    }
    if (!inner.empty() && inner.back() == '-') {
      t.rstrip = true;
      inner.pop_back();
    }
    t.s = util::trim(inner);
    line += count_nl(std::string_view(src).substr(open, close + 2 - open));
    pos = close + 2;
    if (is_tag && (tag_name(t.s) == "raw" || tag_name(t.s) == "comment")) {
      std::string end = "end" + tag_name(t.s);
      bool raw = tag_name(t.s) == "raw";
      // Find the matching {% endraw %} / {% endcomment %}.
      std::size_t search = pos;
      std::size_t body_end = std::string::npos, after = 0;
      bool end_rstrip = false, end_lstrip = false;
      std::size_t last_c = std::string::npos;
      while (true) {
        std::size_t o = src.find("{%", search);
        if (o == std::string::npos) break;
        std::size_t c = (last_c != std::string::npos && last_c >= o + 2) ? last_c : src.find("%}", o + 2);
        if (c == std::string::npos) break;
        last_c = c;
        if (c - o - 2 > 64) {  // far longer than "- endcomment -": not the closing tag
          search = o + 2;
          continue;
        }
        std::string m = src.substr(o + 2, c - o - 2);
        bool ls = !m.empty() && m.front() == '-';
        bool rs = !m.empty() && m.back() == '-';
        if (ls) m.erase(0, 1);
        if (!m.empty() && rs) m.pop_back();
        if (util::trim(m) == end) {
          body_end = o;
          after = c + 2;
          end_lstrip = ls;
          end_rstrip = rs;
          break;
        }
        search = o + 2;
      }
      if (body_end == std::string::npos) throw LiquidError{t.line, "'" + tag_name(t.s) + "' tag was never closed"};
      // Keep the opening tag's whitespace control by emitting an empty tag token pair.
      Tok opener{Tok::T::tag, "#open", t.line, t.lstrip, t.rstrip};
      toks.push_back(opener);
      std::string body = src.substr(pos, body_end - pos);
      if (raw) {
        toks.push_back({Tok::T::text, body, line});
      }
      line += count_nl(src.substr(pos, after - pos));
      toks.push_back({Tok::T::tag, "#close", line, end_lstrip, end_rstrip});
      pos = after;
    } else {
      toks.push_back(std::move(t));
    }
  }
  // Whitespace control: strip the text next to {%- / -%} / {{- / -}}.
  for (std::size_t i = 0; i < toks.size(); ++i) {
    if (toks[i].t == Tok::T::text) continue;
    if (toks[i].lstrip && i > 0 && toks[i - 1].t == Tok::T::text) {
      std::string& s = toks[i - 1].s;
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    }
    if (toks[i].rstrip && i + 1 < toks.size() && toks[i + 1].t == Tok::T::text) {
      std::string& s = toks[i + 1].s;
      std::size_t k = 0;
      while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
      toks[i + 1].line += count_nl(std::string_view(s).substr(0, k));
      s.erase(0, k);
    }
  }
  return toks;
}

// ---- AST ----------------------------------------------------------------------------------------

struct Node {
  enum class T { text, output, cond, for_, assign, capture, case_, break_, continue_ };
  Node(T t_, std::string a_, int line_) : t(t_), a(std::move(a_)), line(line_) {}
  T t;
  std::string a;  // text, output markup, assign/capture/for markup, case subject
  int line = 1;
  bool unless = false;
  // cond: (condition markup, body) pairs; case: (when markup, body) pairs
  std::vector<std::pair<std::string, std::vector<Node>>> branches;
  std::vector<Node> body;
  std::vector<Node> else_body;
  bool has_else = false;
};

class Parser {
 public:
  explicit Parser(std::vector<Tok> toks) : toks_(std::move(toks)) {}

  std::vector<Node> parse() {
    std::string end;
    auto body = block({}, 0, end);
    return body;
  }

 private:
  // Parses until one of `ends` (a tag name) and returns the body; `end` gets the closing tag's
  // full markup.
  std::vector<Node> block(const std::vector<std::string>& ends, int depth, std::string& end) {
    if (depth > kMaxNesting) throw LiquidError{line(), "blocks nested deeper than " + std::to_string(kMaxNesting)};
    std::vector<Node> out;
    while (i_ < toks_.size()) {
      const Tok& t = toks_[i_++];
      if (t.t == Tok::T::text) {
        if (!t.s.empty()) out.push_back(Node{Node::T::text, t.s, t.line});
        continue;
      }
      if (t.t == Tok::T::output) {
        out.push_back(Node{Node::T::output, t.s, t.line});
        continue;
      }
      if (t.s == "#open" || t.s == "#close") continue;
      std::string name = tag_name(t.s);
      std::string rest = util::trim(t.s.substr(name.size()));
      if (std::find(ends.begin(), ends.end(), name) != ends.end()) {
        end = t.s;
        return out;
      }
      if (name == "if" || name == "unless") {
        Node n{Node::T::cond, "", t.line};
        n.unless = name == "unless";
        std::string cond = rest, closing;
        std::string endname = "end" + name;
        while (true) {
          auto body = block({"elsif", "else", endname}, depth + 1, closing);
          n.branches.emplace_back(cond, std::move(body));
          std::string cname = tag_name(closing);
          if (cname == "elsif") {
            cond = util::trim(closing.substr(5));
            continue;
          }
          if (cname == "else") {
            n.has_else = true;
            n.else_body = block({endname}, depth + 1, closing);
            if (tag_name(closing) != endname) throw LiquidError{t.line, "'" + name + "' tag was never closed"};
          } else if (cname != endname) {
            throw LiquidError{t.line, "'" + name + "' tag was never closed"};
          }
          break;
        }
        out.push_back(std::move(n));
      } else if (name == "case") {
        Node n{Node::T::case_, rest, t.line};
        std::string closing;
        block({"when", "else", "endcase"}, depth + 1, closing);  // text before the first when is ignored
        while (tag_name(closing) == "when") {
          std::string cond = util::trim(closing.substr(4));
          auto body = block({"when", "else", "endcase"}, depth + 1, closing);
          n.branches.emplace_back(cond, std::move(body));
        }
        if (tag_name(closing) == "else") {
          n.has_else = true;
          n.else_body = block({"endcase"}, depth + 1, closing);
        }
        if (tag_name(closing) != "endcase") throw LiquidError{t.line, "'case' tag was never closed"};
        out.push_back(std::move(n));
      } else if (name == "for") {
        Node n{Node::T::for_, rest, t.line};
        std::string closing;
        n.body = block({"else", "endfor"}, depth + 1, closing);
        if (tag_name(closing) == "else") {
          n.has_else = true;
          n.else_body = block({"endfor"}, depth + 1, closing);
        }
        if (tag_name(closing) != "endfor") throw LiquidError{t.line, "'for' tag was never closed"};
        out.push_back(std::move(n));
      } else if (name == "capture") {
        Node n{Node::T::capture, rest, t.line};
        std::string closing;
        n.body = block({"endcapture"}, depth + 1, closing);
        if (tag_name(closing) != "endcapture") throw LiquidError{t.line, "'capture' tag was never closed"};
        out.push_back(std::move(n));
      } else if (name == "assign") {
        out.push_back(Node{Node::T::assign, rest, t.line});
      } else if (name == "break") {
        out.push_back(Node{Node::T::break_, "", t.line});
      } else if (name == "continue") {
        out.push_back(Node{Node::T::continue_, "", t.line});
      } else if (name.empty()) {
        throw LiquidError{t.line, "empty tag '{% " + t.s + " %}'"};
      } else {
        bool known_end = name == "endif" || name == "endunless" || name == "endfor" || name == "endcase" ||
                         name == "endcapture" || name == "else" || name == "elsif" || name == "when" ||
                         name == "endraw" || name == "endcomment";
        if (known_end) throw LiquidError{t.line, "unexpected '" + name + "' tag"};
        throw LiquidError{t.line, "unknown tag '" + name + "'"};
      }
    }
    if (!ends.empty()) end.clear();
    return out;
  }

  int line() const { return i_ < toks_.size() ? toks_[i_].line : (toks_.empty() ? 1 : toks_.back().line); }

  std::vector<Tok> toks_;
  std::size_t i_ = 0;
};

// ---- expressions --------------------------------------------------------------------------------

struct Lex {
  enum class K { ident, str, num, op, pipe, colon, comma, dot, lbr, rbr, lpar, rpar, range, end } k;
  std::string s;
};

std::vector<Lex> lex(const std::string& m, int line) {
  std::vector<Lex> out;
  std::size_t i = 0;
  while (i < m.size()) {
    char c = m[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::size_t e = m.find(c, i + 1);
      if (e == std::string::npos) throw LiquidError{line, "unterminated string in '" + m + "'"};
      out.push_back({Lex::K::str, m.substr(i + 1, e - i - 1)});
      i = e + 1;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '-' && i + 1 < m.size() && std::isdigit(static_cast<unsigned char>(m[i + 1])))) {
      std::size_t e = i + 1;
      while (e < m.size() && (std::isdigit(static_cast<unsigned char>(m[e])) ||
                              (m[e] == '.' && e + 1 < m.size() && std::isdigit(static_cast<unsigned char>(m[e + 1]))))) {
        ++e;
      }
      out.push_back({Lex::K::num, m.substr(i, e - i)});
      i = e;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t e = i + 1;
      while (e < m.size() && (std::isalnum(static_cast<unsigned char>(m[e])) || m[e] == '_' || m[e] == '-')) ++e;
      if (e < m.size() && m[e] == '?') ++e;
      out.push_back({Lex::K::ident, m.substr(i, e - i)});
      i = e;
      continue;
    }
    if (m.compare(i, 2, "..") == 0) {
      out.push_back({Lex::K::range, ".."});
      i += 2;
      continue;
    }
    if (m.compare(i, 2, "==") == 0 || m.compare(i, 2, "!=") == 0 || m.compare(i, 2, "<>") == 0 ||
        m.compare(i, 2, "<=") == 0 || m.compare(i, 2, ">=") == 0) {
      out.push_back({Lex::K::op, m.substr(i, 2)});
      i += 2;
      continue;
    }
    switch (c) {
      case '<': case '>': out.push_back({Lex::K::op, std::string(1, c)}); break;
      case '|': out.push_back({Lex::K::pipe, "|"}); break;
      case ':': out.push_back({Lex::K::colon, ":"}); break;
      case ',': out.push_back({Lex::K::comma, ","}); break;
      case '.': out.push_back({Lex::K::dot, "."}); break;
      case '[': out.push_back({Lex::K::lbr, "["}); break;
      case ']': out.push_back({Lex::K::rbr, "]"}); break;
      case '(': out.push_back({Lex::K::lpar, "("}); break;
      case ')': out.push_back({Lex::K::rpar, ")"}); break;
      default: throw LiquidError{line, std::string("unexpected character '") + c + "' in '" + m + "'"};
    }
    ++i;
  }
  out.push_back({Lex::K::end, ""});
  return out;
}

struct Value {
  enum class K { value, range, empty, blank } k = K::value;
  json v;
  long long lo = 0, hi = 0;
};

class Renderer;

class Expr {
 public:
  Expr(const std::string& markup, int line, Renderer& r) : toks_(lex(markup, line)), line_(line), r_(r), m_(markup) {}

  bool at_end() const { return toks_[i_].k == Lex::K::end; }
  const Lex& peek() const { return toks_[i_]; }
  Lex next() {
    Lex l = toks_[i_];
    if (l.k != Lex::K::end) ++i_;
    return l;
  }
  void expect_end() {
    if (!at_end()) throw LiquidError{line_, "unexpected '" + peek().s + "' in '" + m_ + "'"};
  }
  Lex expect(Lex::K k, const char* what) {
    if (peek().k != k) throw LiquidError{line_, std::string("expected ") + what + " in '" + m_ + "'"};
    return next();
  }

  Value primary();
  json filtered();  // primary | filter: args ...
  bool condition();  // comparison (and|or condition)?
  int line() const { return line_; }

 private:
  bool comparison();
  json lookup(const std::string& name);
  json member(const json& base, const json& key, const std::string& path);

  std::vector<Lex> toks_;
  std::size_t i_ = 0;
  int depth_ = 0;
  int line_;
  Renderer& r_;
  std::string m_;
};

struct BreakSignal {};
struct ContinueSignal {};

class Renderer {
 public:
  Renderer(std::string file, const std::map<std::string, json>& vars) : file_(std::move(file)) {
    scopes_.emplace_back(vars.begin(), vars.end());
  }

  LiquidResult run(const std::vector<Node>& nodes) {
    render(nodes, 0);
    LiquidResult r;
    r.text = std::move(out_);
    r.line_origin = std::move(origin_);
    return r;
  }

  std::optional<json> find(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return std::nullopt;
  }

  void check_size(std::size_t n, int line) const {
    if (n > kMaxRenderedBytes) throw LiquidError{line, "a value grows over " + std::to_string(kMaxRenderedBytes) + " bytes"};
  }

 private:
  void emit(std::string_view s, int line, bool mapped) {
    if (out_.size() + s.size() > kMaxRenderedBytes) {
      throw LiquidError{line, "the rendered file is larger than " + std::to_string(kMaxRenderedBytes) + " bytes"};
    }
    for (char c : s) {
      if (at_line_start_) {
        origin_.push_back(line);
        at_line_start_ = false;
      }
      out_ += c;
      if (c == '\n') {
        at_line_start_ = true;
        if (mapped) ++line;
      }
    }
  }

  void render(const std::vector<Node>& nodes, int depth) {
    for (const Node& n : nodes) render(n, depth);
  }

  void render(const Node& n, int depth) {
    switch (n.t) {
      case Node::T::text: emit(n.a, n.line, true); break;
      case Node::T::output: {
        Expr e(n.a, n.line, *this);
        json v = e.filtered();
        e.expect_end();
        emit(util::to_s(v), n.line, false);
        break;
      }
      case Node::T::cond: {
        for (const auto& [cond, body] : n.branches) {
          Expr e(cond, n.line, *this);
          bool c = e.condition();
          e.expect_end();
          if (n.unless && &cond == &n.branches.front().first) c = !c;
          if (c) {
            render(body, depth + 1);
            return;
          }
        }
        if (n.has_else) render(n.else_body, depth + 1);
        break;
      }
      case Node::T::case_: {
        Expr subject(n.a, n.line, *this);
        json s = subject.filtered();
        bool matched = false;
        for (const auto& [when, body] : n.branches) {
          Expr e(when, n.line, *this);
          bool hit = false;
          while (true) {
            Value v = e.primary();
            if (v.k == Value::K::value && v.v == s) hit = true;
            if (e.peek().k == Lex::K::comma || (e.peek().k == Lex::K::ident && e.peek().s == "or")) {
              e.next();
              continue;
            }
            break;
          }
          e.expect_end();
          if (hit) {
            render(body, depth + 1);
            matched = true;
          }
        }
        if (!matched && n.has_else) render(n.else_body, depth + 1);
        break;
      }
      case Node::T::assign: {
        std::size_t eq = n.a.find('=');
        if (eq == std::string::npos) throw LiquidError{n.line, "syntax error in 'assign' - valid syntax: assign [var] = [source]"};
        std::string name = util::trim(n.a.substr(0, eq));
        if (name.empty()) throw LiquidError{n.line, "syntax error in 'assign' - valid syntax: assign [var] = [source]"};
        Expr e(n.a.substr(eq + 1), n.line, *this);
        json v = e.filtered();
        e.expect_end();
        scopes_.front()[name] = std::move(v);
        break;
      }
      case Node::T::capture: {
        std::string name = util::trim(n.a);
        std::string saved_out = std::move(out_);
        std::vector<int> saved_origin = std::move(origin_);
        bool saved_start = at_line_start_;
        out_.clear();
        origin_.clear();
        at_line_start_ = true;
        try {
          render(n.body, depth + 1);
        } catch (...) {
          out_ = std::move(saved_out);
          origin_ = std::move(saved_origin);
          at_line_start_ = saved_start;
          throw;
        }
        std::string captured = std::move(out_);
        out_ = std::move(saved_out);
        origin_ = std::move(saved_origin);
        at_line_start_ = saved_start;
        scopes_.front()[name] = captured;
        break;
      }
      case Node::T::for_: render_for(n, depth); break;
      case Node::T::break_: throw BreakSignal{};
      case Node::T::continue_: throw ContinueSignal{};
    }
  }

  void render_for(const Node& n, int depth) {
    Expr e(n.a, n.line, *this);
    Lex var = e.expect(Lex::K::ident, "a loop variable");
    Lex in = e.expect(Lex::K::ident, "'in'");
    if (in.s != "in") throw LiquidError{n.line, "syntax error in 'for' - valid syntax: for [item] in [collection]"};
    Value coll = e.primary();
    bool reversed = false;
    std::optional<long long> limit, offset;
    while (!e.at_end()) {
      Lex opt = e.expect(Lex::K::ident, "a 'for' option");
      if (opt.s == "reversed") {
        reversed = true;
        continue;
      }
      if (opt.s != "limit" && opt.s != "offset") throw LiquidError{n.line, "unknown 'for' option '" + opt.s + "'"};
      e.expect(Lex::K::colon, "':'");
      Value v = e.primary();
      if (!v.v.is_number_integer()) throw LiquidError{n.line, "'" + opt.s + "' takes an integer"};
      (opt.s == "limit" ? limit : offset) = v.v.get<long long>();
      if (e.peek().k == Lex::K::comma) e.next();
    }
    std::vector<json> items;
    if (coll.k == Value::K::range) {
      if (coll.hi >= coll.lo) {
        unsigned long long count = static_cast<unsigned long long>(coll.hi) - static_cast<unsigned long long>(coll.lo) + 1;
        if (count > kMaxLoopIterations) {
          throw LiquidError{n.line, "a loop of more than " + std::to_string(kMaxLoopIterations) + " iterations"};
        }
        for (long long i = coll.lo; i <= coll.hi; ++i) items.push_back(i);
      }
    } else if (coll.v.is_array()) {
      for (const auto& i : coll.v) items.push_back(i);
    } else if (coll.v.is_object()) {
      for (const auto& [k, v] : coll.v.items()) items.push_back(json::array({k, v}));
    } else if (coll.v.is_string() && !coll.v.get_ref<const std::string&>().empty()) {
      items.push_back(coll.v);
    }
    long long off = std::max<long long>(0, offset.value_or(0));
    if (off > 0) items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(std::min<long long>(off, static_cast<long long>(items.size()))));
    if (limit && *limit >= 0 && static_cast<std::size_t>(*limit) < items.size()) items.resize(static_cast<std::size_t>(*limit));
    if (reversed) std::reverse(items.begin(), items.end());
    if (items.empty()) {
      if (n.has_else) render(n.else_body, depth + 1);
      return;
    }
    scopes_.emplace_back();
    std::size_t len = items.size();
    try {
      for (std::size_t i = 0; i < len; ++i) {
        if (++iterations_ > kMaxLoopIterations) {
          throw LiquidError{n.line, "more than " + std::to_string(kMaxLoopIterations) + " loop iterations in total"};
        }
        auto& scope = scopes_.back();
        scope[var.s] = items[i];
        scope["forloop"] = json{{"index", i + 1}, {"index0", i}, {"rindex", len - i}, {"rindex0", len - i - 1},
                                {"first", i == 0}, {"last", i + 1 == len}, {"length", len}};
        try {
          render(n.body, depth + 1);
        } catch (const ContinueSignal&) {
        }
      }
    } catch (const BreakSignal&) {
    } catch (...) {
      scopes_.pop_back();
      throw;
    }
    scopes_.pop_back();
  }

  std::string file_;
  std::vector<std::map<std::string, json>> scopes_;
  std::string out_;
  std::vector<int> origin_;
  bool at_line_start_ = true;
  std::size_t iterations_ = 0;
};

// ---- expression evaluation ----------------------------------------------------------------------

json Expr::lookup(const std::string& name) {
  auto v = r_.find(name);
  if (!v) throw LiquidError{line_, "undefined variable " + name};
  return *v;
}

json Expr::member(const json& base, const json& key, const std::string& path) {
  if (base.is_object() && key.is_string()) {
    auto it = base.find(key.get<std::string>());
    if (it != base.end()) return *it;
  }
  if (base.is_array() && key.is_number_integer()) {
    long long i = key.get<long long>();
    long long n = static_cast<long long>(base.size());
    if (i < 0) i += n;
    if (i >= 0 && i < n) return base[static_cast<std::size_t>(i)];
    return nullptr;
  }
  if (key.is_string()) {
    const std::string& k = key.get_ref<const std::string&>();
    if (k == "size") {
      if (base.is_string()) return base.get_ref<const std::string&>().size();
      if (base.is_array() || base.is_object()) return base.size();
    }
    if (k == "first" && base.is_array()) return base.empty() ? json(nullptr) : base.front();
    if (k == "last" && base.is_array()) return base.empty() ? json(nullptr) : base.back();
  }
  if (base.is_null() || base.is_object()) throw LiquidError{line_, "undefined variable " + path};
  return nullptr;
}

Value Expr::primary() {
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& x) : d(x) { ++d; }
    ~DepthGuard() { --d; }
  } guard(depth_);
  if (depth_ > kMaxNesting) throw LiquidError{line_, "expression nested deeper than " + std::to_string(kMaxNesting)};
  Lex t = next();
  Value out;
  switch (t.k) {
    case Lex::K::str: out.v = t.s; return out;
    case Lex::K::num: {
      if (t.s.find('.') != std::string::npos) {
        auto d = util::parse_number(t.s);
        if (!d) throw LiquidError{line_, "invalid number " + t.s};
        out.v = *d;
      } else {
        auto i = util::parse_int(t.s);
        if (!i) throw LiquidError{line_, "number out of range " + t.s};
        out.v = *i;
      }
      return out;
    }
    case Lex::K::lpar: {
      Value lo = primary();
      expect(Lex::K::range, "'..'");
      Value hi = primary();
      expect(Lex::K::rpar, "')'");
      auto to_int = [&](const Value& v) -> long long {
        if (v.v.is_number_integer()) return v.v.get<long long>();
        if (v.v.is_number_float()) {
          double d = v.v.get<double>();
          if (d > -1e15 && d < 1e15) return static_cast<long long>(d);
        }
        if (v.v.is_string()) {
          if (auto i = util::parse_int(util::trim(v.v.get<std::string>()))) return *i;
        }
        throw LiquidError{line_, "a range takes integers"};
      };
      out.k = Value::K::range;
      out.lo = to_int(lo);
      out.hi = to_int(hi);
      return out;
    }
    case Lex::K::ident: {
      if (t.s == "true" || t.s == "false") {
        out.v = t.s == "true";
        return out;
      }
      if (t.s == "nil" || t.s == "null") return out;
      if (t.s == "empty" && peek().k != Lex::K::dot && peek().k != Lex::K::lbr) {
        out.k = Value::K::empty;
        return out;
      }
      if (t.s == "blank" && peek().k != Lex::K::dot && peek().k != Lex::K::lbr) {
        out.k = Value::K::blank;
        return out;
      }
      std::string path = t.s;
      json v = lookup(t.s);
      while (peek().k == Lex::K::dot || peek().k == Lex::K::lbr) {
        if (next().k == Lex::K::dot) {
          Lex k = expect(Lex::K::ident, "a name after '.'");
          path += "." + k.s;
          v = member(v, k.s, path);
        } else {
          Value k = primary();
          expect(Lex::K::rbr, "']'");
          path += "[" + util::to_s(k.v) + "]";
          v = member(v, k.v, path);
        }
      }
      out.v = std::move(v);
      return out;
    }
    case Lex::K::lbr: {
      // [ "name" ] variable lookup
      Value k = primary();
      expect(Lex::K::rbr, "']'");
      out.v = lookup(util::to_s(k.v));
      return out;
    }
    default: throw LiquidError{line_, "unexpected '" + t.s + "' in '" + m_ + "'"};
  }
}

bool is_empty(const json& v) {
  return (v.is_string() && v.get_ref<const std::string&>().empty()) || ((v.is_array() || v.is_object()) && v.empty());
}
bool is_blank(const json& v) {
  if (v.is_null() || (v.is_boolean() && !v.get<bool>())) return true;
  if (v.is_string()) return util::trim(v.get<std::string>()).empty();
  return is_empty(v);
}

bool values_equal(const Value& a, const Value& b) {
  if (a.k == Value::K::empty) return is_empty(b.v);
  if (b.k == Value::K::empty) return is_empty(a.v);
  if (a.k == Value::K::blank) return is_blank(b.v);
  if (b.k == Value::K::blank) return is_blank(a.v);
  if (a.k == Value::K::range || b.k == Value::K::range) {
    return a.k == b.k && a.lo == b.lo && a.hi == b.hi;
  }
  return a.v == b.v;
}

bool Expr::comparison() {
  Value a = primary();
  if (peek().k == Lex::K::op || (peek().k == Lex::K::ident && peek().s == "contains")) {
    std::string op = next().s;
    Value b = primary();
    if (op == "==") return values_equal(a, b);
    if (op == "!=" || op == "<>") return !values_equal(a, b);
    if (op == "contains") {
      if (a.v.is_string() && b.v.is_string()) return a.v.get<std::string>().find(b.v.get<std::string>()) != std::string::npos;
      if (a.v.is_string()) return a.v.get<std::string>().find(util::to_s(b.v)) != std::string::npos;
      if (a.v.is_array()) return std::find(a.v.begin(), a.v.end(), b.v) != a.v.end();
      if (a.v.is_object() && b.v.is_string()) return a.v.contains(b.v.get<std::string>());
      return false;
    }
    if (a.v.is_number() && b.v.is_number()) {
      double x = a.v.get<double>(), y = b.v.get<double>();
      if (op == "<") return x < y;
      if (op == ">") return x > y;
      if (op == "<=") return x <= y;
      return x >= y;
    }
    if (a.v.is_string() && b.v.is_string()) {
      const auto &x = a.v.get_ref<const std::string&>(), &y = b.v.get_ref<const std::string&>();
      if (op == "<") return x < y;
      if (op == ">") return x > y;
      if (op == "<=") return x <= y;
      return x >= y;
    }
    if (a.v.is_null() || b.v.is_null()) return false;
    throw LiquidError{line_, "comparison of " + std::string(a.v.type_name()) + " with " + b.v.type_name() + " failed"};
  }
  if (a.k == Value::K::range) return true;
  if (a.k != Value::K::value) return true;
  return liquid_truthy(a.v);
}

bool Expr::condition() {
  // Liquid evaluates and/or from right to left: a and b or c == a and (b or c).
  std::vector<bool> values{comparison()};
  std::vector<std::string> ops;
  while (peek().k == Lex::K::ident && (peek().s == "and" || peek().s == "or")) {
    ops.push_back(next().s);
    values.push_back(comparison());
  }
  bool acc = values.back();
  for (std::size_t i = ops.size(); i-- > 0;) acc = ops[i] == "and" ? (values[i] && acc) : (values[i] || acc);
  return acc;
}

// ---- filters ------------------------------------------------------------------------------------

json to_number(const json& v) {
  if (v.is_number()) return v;
  if (v.is_string()) {
    std::string s = util::trim(v.get<std::string>());
    if (auto i = util::parse_int(s)) return *i;
    if (auto d = util::parse_number(s)) return *d;
    // Ruby's to_i: leading digits
    std::size_t k = 0;
    if (k < s.size() && (s[k] == '-' || s[k] == '+')) ++k;
    while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
    if (auto i = util::parse_int(s.substr(0, k))) return *i;
    return 0;
  }
  return 0;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to, bool first_only, int line,
                        const Renderer& r) {
  if (from.empty()) return s;
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t f = s.find(from, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += to;
    r.check_size(out.size(), line);
    pos = f + from.size();
    if (first_only) break;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

json arith(const std::string& name, const json& a0, const json& b0, int line) {
  json a = to_number(a0), b = to_number(b0);
  if (a.is_number_integer() && b.is_number_integer()) {
    long long x = a.get<long long>(), y = b.get<long long>(), r = 0;
    bool overflow = false;
    if (name == "plus") overflow = __builtin_add_overflow(x, y, &r);
    else if (name == "minus") overflow = __builtin_sub_overflow(x, y, &r);
    else if (name == "times") overflow = __builtin_mul_overflow(x, y, &r);
    else {
      if (y == 0) throw LiquidError{line, "divided by 0"};
      if (x == LLONG_MIN && y == -1) throw LiquidError{line, "integer overflow in " + name};
      long long q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      r = name == "modulo" ? m : q;
    }
    if (overflow) throw LiquidError{line, "integer overflow in " + name};
    return r;
  }
  double x = a.get<double>(), y = b.get<double>();
  double r;
  if (name == "plus") r = x + y;
  else if (name == "minus") r = x - y;
  else if (name == "times") r = x * y;
  else if (name == "divided_by") {
    if (y == 0) throw LiquidError{line, "divided by 0"};
    r = x / y;
  } else {
    if (y == 0) throw LiquidError{line, "divided by 0"};
    r = std::fmod(x, y);
  }
  if (!std::isfinite(r)) throw LiquidError{line, "the result of " + name + " is not a finite number"};
  return r;
}

json apply_filter(const std::string& name, const json& in, const std::vector<json>& args, int line, const Renderer& r) {
  auto arg = [&](std::size_t i) -> const json& {
    if (i >= args.size()) throw LiquidError{line, "filter '" + name + "' needs " + std::to_string(i + 1) + " argument(s)"};
    return args[i];
  };
  auto s = [&]() { return util::to_s(in); };
  auto as_array = [&]() -> json {
    if (in.is_array()) return in;
    if (in.is_null()) return json::array();
    return json::array({in});
  };
  if (name == "upcase" || name == "downcase") {
    std::string v = s();
    for (char& c : v) c = static_cast<char>(name == "upcase" ? std::toupper(static_cast<unsigned char>(c))
                                                             : std::tolower(static_cast<unsigned char>(c)));
    return v;
  }
  if (name == "capitalize") {
    std::string v = s();
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!v.empty()) v[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(v[0])));
    return v;
  }
  if (name == "strip") return util::trim(s());
  if (name == "lstrip" || name == "rstrip") {
    std::string v = s();
    if (name == "lstrip") {
      std::size_t k = 0;
      while (k < v.size() && std::isspace(static_cast<unsigned char>(v[k]))) ++k;
      return v.substr(k);
    }
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    return v;
  }
  if (name == "strip_newlines") {
    std::string v;
    for (char c : s()) if (c != '\n' && c != '\r') v += c;
    return v;
  }
  if (name == "newline_to_br") return replace_all(s(), "\n", "<br />\n", false, line, r);
  if (name == "append") {
    std::string v = s() + util::to_s(arg(0));
    r.check_size(v.size(), line);
    return v;
  }
  if (name == "prepend") {
    std::string v = util::to_s(arg(0)) + s();
    r.check_size(v.size(), line);
    return v;
  }
  if (name == "replace" || name == "replace_first") {
    return replace_all(s(), util::to_s(arg(0)), args.size() > 1 ? util::to_s(args[1]) : "", name == "replace_first", line, r);
  }
  if (name == "remove" || name == "remove_first") {
    return replace_all(s(), util::to_s(arg(0)), "", name == "remove_first", line, r);
  }
  if (name == "size") {
    if (in.is_string()) return in.get_ref<const std::string&>().size();
    if (in.is_array() || in.is_object()) return in.size();
    return 0;
  }
  if (name == "default") {
    bool use_default = in.is_null() || (in.is_boolean() && !in.get<bool>()) || is_empty(in);
    return use_default ? arg(0) : in;
  }
  if (name == "split") {
    std::string v = s(), sep = util::to_s(arg(0));
    json out = json::array();
    if (sep.empty()) {
      for (char c : v) out.push_back(std::string(1, c));
    } else {
      std::size_t pos = 0;
      while (true) {
        std::size_t f = v.find(sep, pos);
        out.push_back(v.substr(pos, f == std::string::npos ? std::string::npos : f - pos));
        if (f == std::string::npos) break;
        pos = f + sep.size();
      }
      while (!out.empty() && out.back().get_ref<const std::string&>().empty()) out.erase(out.size() - 1);
    }
    return out;
  }
  if (name == "join") {
    std::string sep = args.empty() ? " " : util::to_s(args[0]);
    std::string out;
    bool first = true;
    for (const auto& i : as_array()) {
      if (!first) out += sep;
      first = false;
      out += util::to_s(i);
      r.check_size(out.size(), line);
    }
    return out;
  }
  if (name == "first" || name == "last") {
    if (in.is_string()) {
      const auto& v = in.get_ref<const std::string&>();
      if (v.empty()) return nullptr;
      return std::string(1, name == "first" ? v.front() : v.back());
    }
    json a = as_array();
    if (a.empty()) return nullptr;
    return name == "first" ? a.front() : a.back();
  }
  if (name == "reverse") {
    json a = as_array();
    std::reverse(a.begin(), a.end());
    return a;
  }
  if (name == "sort") {
    json a = as_array();
    std::vector<json> v(a.begin(), a.end());
    std::stable_sort(v.begin(), v.end(), [](const json& x, const json& y) {
      if (x.is_number() && y.is_number()) return x.get<double>() < y.get<double>();
      return util::to_s(x) < util::to_s(y);
    });
    return json(v);
  }
  if (name == "uniq") {
    json out = json::array();
    std::set<std::string> seen;
    for (const auto& i : as_array()) {
      if (seen.insert(i.dump(-1, ' ', false, json::error_handler_t::replace)).second) out.push_back(i);
    }
    return out;
  }
  if (name == "compact") {
    json out = json::array();
    for (const auto& i : as_array()) if (!i.is_null()) out.push_back(i);
    return out;
  }
  if (name == "concat") {
    json out = as_array();
    const json& b = arg(0);
    if (!b.is_array()) throw LiquidError{line, "concat filter requires an array argument"};
    for (const auto& i : b) out.push_back(i);
    r.check_size(out.size(), line);
    return out;
  }
  if (name == "map") {
    std::string key = util::to_s(arg(0));
    json out = json::array();
    for (const auto& i : as_array()) {
      if (i.is_object() && i.contains(key)) out.push_back(i[key]);
      else out.push_back(nullptr);
    }
    return out;
  }
  if (name == "plus" || name == "minus" || name == "times" || name == "divided_by" || name == "modulo") {
    return arith(name, in, arg(0), line);
  }
  if (name == "abs" || name == "ceil" || name == "floor" || name == "round") {
    json n = to_number(in);
    if (n.is_number_integer()) {
      long long v = n.get<long long>();
      if (name == "abs") {
        if (v == LLONG_MIN) throw LiquidError{line, "integer overflow in abs"};
        return v < 0 ? -v : v;
      }
      return v;
    }
    double d = n.get<double>();
    if (name == "abs") return std::fabs(d);
    if (name == "round" && !args.empty()) {
      json p = to_number(args[0]);
      long long digits = p.is_number_integer() ? p.get<long long>() : 0;
      if (digits < 0 || digits > 15) digits = 0;
      double f = std::pow(10.0, static_cast<double>(digits));
      double res = std::round(d * f) / f;
      if (digits > 0) return res;
      d = res;
    }
    double res = name == "ceil" ? std::ceil(d) : name == "floor" ? std::floor(d) : std::round(d);
    if (!(res > -9e18 && res < 9e18)) throw LiquidError{line, "number out of range in " + name};
    return static_cast<long long>(res);
  }
  if (name == "at_least" || name == "at_most") {
    json a = to_number(in), b = to_number(arg(0));
    bool pick_b = name == "at_least" ? b.get<double>() > a.get<double>() : b.get<double>() < a.get<double>();
    return pick_b ? b : a;
  }
  if (name == "truncate") {
    std::string v = s();
    json lenj = args.empty() ? json(50) : to_number(args[0]);
    long long len = lenj.is_number_integer() ? lenj.get<long long>() : 50;
    std::string ellipsis = args.size() > 1 ? util::to_s(args[1]) : "...";
    if (len < 0) len = 0;
    if (v.size() <= static_cast<std::size_t>(len)) return v;
    long long keep = len - static_cast<long long>(ellipsis.size());
    if (keep < 0) keep = 0;
    return v.substr(0, static_cast<std::size_t>(keep)) + ellipsis;
  }
  if (name == "slice") {
    json startj = to_number(arg(0));
    long long start = startj.is_number_integer() ? startj.get<long long>() : 0;
    long long len = 1;
    if (args.size() > 1) {
      json l = to_number(args[1]);
      len = l.is_number_integer() ? l.get<long long>() : 1;
    }
    if (len < 0) return in.is_array() ? json::array() : json("");
    if (in.is_array()) {
      long long n = static_cast<long long>(in.size());
      if (start < 0) start += n;
      json out = json::array();
      for (long long i = std::max(0LL, start); i < n && i - start < len; ++i) out.push_back(in[static_cast<std::size_t>(i)]);
      return out;
    }
    std::string v = s();
    long long n = static_cast<long long>(v.size());
    if (start < 0) start += n;
    if (start < 0 || start > n) return "";
    return v.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(std::min(len, n - start)));
  }
  if (name == "escape" || name == "escape_once") {
    std::string out;
    for (char c : s()) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return out;
  }
  if (name == "url_encode") {
    std::string out;
    static const char* hex = "0123456789ABCDEF";
    for (char c : s()) {
      unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '*') out += c;
      else if (c == ' ') out += '+';
      else {
        out += '%';
        out += hex[u >> 4];
        out += hex[u & 15];
      }
    }
    return out;
  }
  if (name == "url_decode") {
    std::string v = s(), out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '+') out += ' ';
      else if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
        out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  if (name == "base64_encode") return util::base64_encode(s());
  if (name == "base64_decode") {
    bool ok = true;
    std::string v = util::base64_decode(s(), &ok);
    if (!ok) throw LiquidError{line, "invalid base64 provided to base64_decode"};
    return v;
  }
  throw LiquidError{line, "undefined filter " + name};
}

json Expr::filtered() {
  Value v = primary();
  json cur;
  if (v.k == Value::K::range) {
    if (v.hi >= v.lo && static_cast<unsigned long long>(v.hi) - static_cast<unsigned long long>(v.lo) >= kMaxLoopIterations) {
      throw LiquidError{line_, "a range of more than " + std::to_string(kMaxLoopIterations) + " values"};
    }
    cur = json::array();
    for (long long i = v.lo; i <= v.hi; ++i) cur.push_back(i);
  } else if (v.k == Value::K::value) {
    cur = std::move(v.v);
  } else {
    cur = "";
  }
  while (peek().k == Lex::K::pipe) {
    next();
    Lex name = expect(Lex::K::ident, "a filter name");
    std::vector<json> args;
    if (peek().k == Lex::K::colon) {
      next();
      while (true) {
        // keyword arguments (name: value) are accepted and ignored
        if (peek().k == Lex::K::ident && toks_[i_ + 1].k == Lex::K::colon) {
          next();
          next();
          primary();
        } else {
          Value a = primary();
          args.push_back(a.k == Value::K::value ? a.v : json(""));
        }
        if (peek().k != Lex::K::comma) break;
        next();
      }
    }
    cur = apply_filter(name.s, cur, args, line_, r_);
  }
  return cur;
}

}  // namespace

LiquidResult render_liquid(const std::string& source, const std::string& file_name,
                           const std::map<std::string, nlohmann::json>& variables) {
  try {
    Parser p(tokenize(source));
    auto nodes = p.parse();
    Renderer r(file_name, variables);
    return r.run(nodes);
  } catch (const LiquidError& e) {
    fail(ErrorKind::invalid, file_name + ":" + std::to_string(e.line) + ": Liquid error: " + e.message);
  } catch (const BreakSignal&) {
    fail(ErrorKind::invalid, file_name + ": Liquid error: 'break' outside a 'for' loop");
  } catch (const ContinueSignal&) {
    fail(ErrorKind::invalid, file_name + ": Liquid error: 'continue' outside a 'for' loop");
  }
}

}  // namespace kontena::stackfile
