// The Liquid subset: tags, expressions, filters, strictness, limits, line mapping.
#include <gtest/gtest.h>

#include "common/error.h"
#include "stackfile/liquid.h"
#include "stackfile/stackfile.h"

namespace kontena::stackfile {
namespace {

using json = nlohmann::json;

std::string render(const std::string& src, std::map<std::string, json> vars = {}) {
  return render_liquid(src, "t.yml", vars).text;
}

std::string render_error(const std::string& src, std::map<std::string, json> vars = {}) {
  try {
    render_liquid(src, "t.yml", vars);
  } catch (const kontena::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    return e.what();
  }
  return "";
}

const std::map<std::string, json> kVars = {
    {"name", "World"}, {"n", 3}, {"f", 2.5}, {"yes", true}, {"no", false}, {"nil", nullptr},
    {"list", json::array({"b", "a", "c"})}, {"nums", json::array({3, 1, 2})},
    {"obj", {{"k", "v"}, {"inner", {{"x", 1}}}}}, {"empty_s", ""}, {"csv", "a,b,,c"}};

TEST(Liquid, PlainTextUntouched) {
  EXPECT_EQ(render("no tags here\n  at all\n"), "no tags here\n  at all\n");
  EXPECT_EQ(render(""), "");
  EXPECT_EQ(render("a { b } c %"), "a { b } c %");
}

TEST(Liquid, Output) {
  EXPECT_EQ(render("Hello {{ name }}!", kVars), "Hello World!");
  EXPECT_EQ(render("{{n}}-{{ f }}-{{ yes }}-{{ no }}-[{{ nil }}]", kVars), "3-2.5-true-false-[]");
  EXPECT_EQ(render("{{ 'lit' }} {{ \"dq\" }} {{ 42 }} {{ -1 }} {{ 1.25 }} {{ true }} {{ nil }}"), "lit dq 42 -1 1.25 true ");
  EXPECT_EQ(render("{{ obj.k }} {{ obj.inner.x }} {{ obj['k'] }} {{ list[0] }} {{ list[-1] }}", kVars), "v 1 v b c");
  EXPECT_EQ(render("{{ list.size }} {{ list.first }} {{ list.last }} {{ name.size }}", kVars), "3 b c 5");
  EXPECT_EQ(render("{{ list }}", kVars), "bac");
  EXPECT_EQ(render("{{ list[7] }}|", kVars), "|");
}

TEST(Liquid, StrictVariables) {
  EXPECT_EQ(render_error("line1\n{{ ghost }}"), "t.yml:2: Liquid error: undefined variable ghost");
  EXPECT_EQ(render_error("{{ obj.ghost }}", kVars), "t.yml:1: Liquid error: undefined variable obj.ghost");
  EXPECT_EQ(render_error("{% if ghost %}x{% endif %}"), "t.yml:1: Liquid error: undefined variable ghost");
}

TEST(Liquid, IfElsifElse) {
  std::string t = "{% if n > 5 %}big{% elsif n == 3 %}three{% else %}other{% endif %}";
  EXPECT_EQ(render(t, {{"n", 9}}), "big");
  EXPECT_EQ(render(t, {{"n", 3}}), "three");
  EXPECT_EQ(render(t, {{"n", 1}}), "other");
  EXPECT_EQ(render("{% if yes %}Y{% endif %}{% if no %}N{% endif %}{% if nil %}Z{% endif %}", kVars), "Y");
  EXPECT_EQ(render("{% if empty_s %}truthy{% endif %}", kVars), "truthy");  // "" is truthy in Liquid
  EXPECT_EQ(render("{% if 0 %}truthy{% endif %}"), "truthy");
  EXPECT_EQ(render("{% unless no %}U{% else %}E{% endunless %}", kVars), "U");
  EXPECT_EQ(render("{% unless yes %}U{% else %}E{% endunless %}", kVars), "E");
}

TEST(Liquid, Operators) {
  EXPECT_EQ(render("{% if name == 'World' %}1{% endif %}{% if name != 'World' %}2{% endif %}{% if name <> 'x' %}3{% endif %}", kVars), "13");
  EXPECT_EQ(render("{% if n >= 3 and n <= 3 %}a{% endif %}{% if n < 3 or n > 2 %}b{% endif %}", kVars), "ab");
  EXPECT_EQ(render("{% if name contains 'orl' %}a{% endif %}{% if list contains 'a' %}b{% endif %}{% if list contains 'z' %}c{% endif %}", kVars), "ab");
  EXPECT_EQ(render("{% if obj contains 'k' %}k{% endif %}", kVars), "k");
  // right to left: true or false and false == true or (false and false)
  EXPECT_EQ(render("{% if true or false and false %}t{% else %}f{% endif %}"), "t");
  EXPECT_EQ(render("{% if false and false or true %}t{% else %}f{% endif %}"), "f");
  EXPECT_EQ(render("{% if empty_s == empty %}e{% endif %}{% if list == empty %}x{% endif %}{% if nil == blank %}b{% endif %}", kVars), "eb");
  EXPECT_EQ(render("{% if 'b' > 'a' %}s{% endif %}{% if nil > 1 %}x{% endif %}"), "s");
  EXPECT_EQ(render_error("{% if name > 1 %}x{% endif %}", kVars), "t.yml:1: Liquid error: comparison of string with number failed");
  EXPECT_EQ(render("{% if 1 == 1.0 %}eq{% endif %}"), "eq");
}

TEST(Liquid, ForLoops) {
  EXPECT_EQ(render("{% for i in (1..3) %}{{ i }},{% endfor %}"), "1,2,3,");
  EXPECT_EQ(render("{% for i in (1..n) %}{{ i }}{% endfor %}", kVars), "123");
  EXPECT_EQ(render("{% for x in list %}{{ forloop.index }}{{ x }}{% if forloop.last %}.{% endif %}{% endfor %}", kVars), "1b2a3c.");
  EXPECT_EQ(render("{% for x in list %}{{ forloop.index0 }}{{ forloop.rindex }}{{ forloop.first }}|{% endfor %}", kVars),
            "03true|12false|21false|");
  EXPECT_EQ(render("{% for x in list limit: 2 %}{{ x }}{% endfor %}", kVars), "ba");
  EXPECT_EQ(render("{% for x in list offset: 1 %}{{ x }}{% endfor %}", kVars), "ac");
  EXPECT_EQ(render("{% for x in list reversed %}{{ x }}{% endfor %}", kVars), "cab");
  EXPECT_EQ(render("{% for x in nums %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}", kVars), "3");
  EXPECT_EQ(render("{% for x in nums %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}", kVars), "32");
  EXPECT_EQ(render("{% for x in nil %}{{ x }}{% else %}none{% endfor %}", kVars), "none");
  EXPECT_EQ(render("{% for i in (3..1) %}{{ i }}{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for kv in obj %}{{ kv[0] }};{% endfor %}", kVars), "inner;k;");
  EXPECT_EQ(render("{% for i in (1..2) %}{% for j in (1..2) %}{{ i }}{{ j }} {% endfor %}{% endfor %}"), "11 12 21 22 ");
  EXPECT_EQ(render("{% for x in list %}{% endfor %}{{ x }}", {{"list", json::array({1})}, {"x", "outer"}}), "outer");
}

TEST(Liquid, AssignCaptureCase) {
  EXPECT_EQ(render("{% assign x = name | upcase %}{{ x }}", kVars), "WORLD");
  EXPECT_EQ(render("{% capture c %}[{{ n }}]{% endcapture %}{{ c }}{{ c }}", kVars), "[3][3]");
  std::string c = "{% case v %}{% when 1 %}one{% when 2, 3 %}two-three{% else %}other{% endcase %}";
  EXPECT_EQ(render(c, {{"v", 1}}), "one");
  EXPECT_EQ(render(c, {{"v", 3}}), "two-three");
  EXPECT_EQ(render(c, {{"v", 9}}), "other");
  EXPECT_EQ(render_error("{% assign = 1 %}"), "t.yml:1: Liquid error: syntax error in 'assign' - valid syntax: assign [var] = [source]");
}

TEST(Liquid, RawAndComment) {
  EXPECT_EQ(render("{% raw %}{{ .Name }} {% if %}{% endraw %}"), "{{ .Name }} {% if %}");
  EXPECT_EQ(render("a{% comment %} {{ ghost }} {% endcomment %}b"), "ab");
  EXPECT_EQ(render_error("{% raw %}never closed"), "t.yml:1: Liquid error: 'raw' tag was never closed");
}

TEST(Liquid, WhitespaceControl) {
  EXPECT_EQ(render("a\n  {%- if true -%}\n  b\n{%- endif %}\nc"), "ab\nc");
  EXPECT_EQ(render("x  {{- 'y' -}}  z"), "xyz");
}

TEST(Liquid, Filters) {
  EXPECT_EQ(render("{{ 'Ab' | upcase }} {{ 'Ab' | downcase }} {{ 'hELLO wORLD' | capitalize }}"), "AB ab Hello world");
  EXPECT_EQ(render("[{{ '  x ' | strip }}][{{ '  x ' | lstrip }}][{{ '  x ' | rstrip }}]"), "[x][x ][  x]");
  EXPECT_EQ(render("{{ 'a' | append: 'b' | prepend: '>' }}"), ">ab");
  EXPECT_EQ(render("{{ 'a-b-a' | replace: 'a', 'x' }} {{ 'a-b-a' | replace_first: 'a', 'x' }}"), "x-b-x x-b-a");
  EXPECT_EQ(render("{{ 'a-b-a' | remove: 'a' }} {{ 'a-b-a' | remove_first: 'a' }}"), "-b- -b-a");
  EXPECT_EQ(render("{{ list | size }} {{ name | size }} {{ 5 | size }}", kVars), "3 5 0");
  EXPECT_EQ(render("{{ nil | default: 'd' }} {{ empty_s | default: 'd' }} {{ no | default: 'd' }} {{ name | default: 'd' }}", kVars), "d d d World");
  EXPECT_EQ(render("{{ csv | split: ',' | join: '+' }}", kVars), "a+b++c");
  EXPECT_EQ(render("{{ list | join }} {{ list | join: ', ' }}", kVars), "b a c b, a, c");
  EXPECT_EQ(render("{{ list | first }}{{ list | last }}{{ name | first }}", kVars), "bcW");
  EXPECT_EQ(render("{{ list | sort | join: '' }} {{ nums | sort | join: '' }} {{ list | reverse | join: '' }}", kVars), "abc 123 cab");
  EXPECT_EQ(render("{{ 'a,b,a' | split: ',' | uniq | join: '' }}"), "ab");
  EXPECT_EQ(render("{{ arr | compact | size }}", {{"arr", json::array({1, nullptr, 2})}}), "2");
  EXPECT_EQ(render("{{ a | concat: b | join: '' }}", {{"a", json::array({1})}, {"b", json::array({2, 3})}}), "123");
  EXPECT_EQ(render("{{ people | map: 'n' | join: ',' }}", {{"people", json::array({json{{"n", "x"}}, json{{"n", "y"}}})}}), "x,y");
  EXPECT_EQ(render("{{ 1 | plus: 2 }} {{ 5 | minus: 7 }} {{ 3 | times: 4 }} {{ 7 | divided_by: 2 }} {{ 7 | modulo: 3 }}"), "3 -2 12 3 1");
  EXPECT_EQ(render("{{ 7.0 | divided_by: 2 }} {{ '3' | plus: '4' }} {{ 1.5 | plus: 1 }} {{ -7 | divided_by: 2 }}"), "3.5 7 2.5 -4");
  EXPECT_EQ(render("{{ -3 | abs }} {{ 1.2 | ceil }} {{ 1.8 | floor }} {{ 1.5 | round }} {{ 3.14159 | round: 2 }}"), "3 2 1 2 3.14");
  EXPECT_EQ(render("{{ 3 | at_least: 5 }} {{ 3 | at_most: 1 }}"), "5 1");
  EXPECT_EQ(render("{{ 'abcdefghij' | truncate: 6 }} {{ 'abc' | truncate: 6 }} {{ 'abcdefgh' | truncate: 5, '' }}"), "abc... abc abcde");
  EXPECT_EQ(render("{{ 'hello' | slice: 1 }} {{ 'hello' | slice: 1, 3 }} {{ 'hello' | slice: -2, 2 }}"), "e ell lo");
  EXPECT_EQ(render("{{ '<a href=\"x\">' | escape }}"), "&lt;a href=&quot;x&quot;&gt;");
  EXPECT_EQ(render("{{ 'a b&c' | url_encode }} {{ 'a+b%26c' | url_decode }}"), "a+b%26c a b&c");
  EXPECT_EQ(render("{{ 'hi' | base64_encode }} {{ 'aGk=' | base64_decode }}"), "aGk= hi");
  EXPECT_EQ(render("{{ 'a\nb' | newline_to_br }}|{{ 'a\nb' | strip_newlines }}"), "a<br />\nb|ab");
}

TEST(Liquid, FilterErrors) {
  EXPECT_EQ(render_error("{{ 1 | nope }}"), "t.yml:1: Liquid error: undefined filter nope");
  EXPECT_EQ(render_error("{{ 1 | divided_by: 0 }}"), "t.yml:1: Liquid error: divided by 0");
  EXPECT_EQ(render_error("{{ 1 | append }}"), "t.yml:1: Liquid error: filter 'append' needs 1 argument(s)");
  EXPECT_EQ(render_error("{{ 999999999999999999 | times: 10 }}"), "t.yml:1: Liquid error: integer overflow in times");
  EXPECT_EQ(render_error("{{ '%%%' | base64_decode }}"), "t.yml:1: Liquid error: invalid base64 provided to base64_decode");
}

TEST(Liquid, SyntaxErrors) {
  EXPECT_EQ(render_error("{{ name"), "t.yml:1: Liquid error: variable '{{' was not properly terminated with '}}'");
  EXPECT_EQ(render_error("a\n{% if x"), "t.yml:2: Liquid error: tag '{%' was not properly terminated with '%}'");
  EXPECT_EQ(render_error("{% if true %}"), "t.yml:1: Liquid error: 'if' tag was never closed");
  EXPECT_EQ(render_error("{% for x in (1..2) %}"), "t.yml:1: Liquid error: 'for' tag was never closed");
  EXPECT_EQ(render_error("{% endif %}"), "t.yml:1: Liquid error: unexpected 'endif' tag");
  EXPECT_EQ(render_error("{% include 'x' %}"), "t.yml:1: Liquid error: unknown tag 'include'");
  EXPECT_EQ(render_error("{% %}"), "t.yml:1: Liquid error: empty tag '{%  %}'");
  EXPECT_EQ(render_error("{{ 'open }}"), "t.yml:1: Liquid error: unterminated string in ''open'");
  EXPECT_EQ(render_error("{{ a b }}", {{"a", 1}}), "t.yml:1: Liquid error: unexpected 'b' in 'a b'");
  EXPECT_EQ(render_error("{% for x of y %}{% endfor %}"), "t.yml:1: Liquid error: syntax error in 'for' - valid syntax: for [item] in [collection]");
  EXPECT_EQ(render_error("{% break %}"), "t.yml: Liquid error: 'break' outside a 'for' loop");
  EXPECT_EQ(render_error("{{ @ }}"), "t.yml:1: Liquid error: unexpected character '@' in '@'");
}

TEST(Liquid, Limits) {
  EXPECT_NE(render_error("{% for i in (1..1000000) %}{% endfor %}").find("more than 100000 iterations"), std::string::npos);
  EXPECT_NE(render_error("{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}").find("loop iterations in total"),
            std::string::npos);
  EXPECT_NE(render_error("{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}").find(
                "grows over"),
            std::string::npos);
  EXPECT_NE(render_error("{% for i in (1..5000) %}" + std::string(1000, 'x') + "{% endfor %}").find("larger than"), std::string::npos);
  EXPECT_NE(render_error("{{ " + std::string(10000, '[') + " }}").find("nested deeper than"), std::string::npos);
  std::string long_and = "{% if true";
  for (int i = 0; i < 20000; ++i) long_and += " and true";
  EXPECT_EQ(render(long_and + " %}ok{% endif %}"), "ok");
}

TEST(Liquid, LineOrigin) {
  auto r = render_liquid("a\n{% for i in (1..2) %}\nx{{ i }}\n{% endfor %}\nb\n", "t.yml", {});
  EXPECT_EQ(r.text, "a\n\nx1\n\nx2\n\nb\n");
  EXPECT_EQ(r.line_origin, (std::vector<int>{1, 2, 3, 2, 3, 4, 5}));
  auto multi = render_liquid("{{ v }}\nend\n", "t.yml", {{"v", "one\ntwo"}});
  EXPECT_EQ(multi.line_origin, (std::vector<int>{1, 1, 2}));
}

}  // namespace
}  // namespace kontena::stackfile
