// A YAML document as a small tree that remembers the line of every node, built from yaml-cpp's
// event parser with bounded nesting and bounded alias expansion (no "billion laughs").
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kontena::stackfile {

struct YEntry;

struct YNode {
  enum class Kind { null, scalar, seq, map };
  Kind kind = Kind::null;
  std::string value;  // scalar text
  bool plain = true;  // plain (unquoted, untagged) scalar: typed as YAML 1.1 (Psych)
  std::string tag;    // explicit tag, e.g. "tag:yaml.org,2002:str"
  int line = 0;       // 1-based line in the parsed text
  std::vector<YNode> items;                           // seq
  std::vector<YEntry> entries;  // map (keys as strings, in order)

  bool is_map() const { return kind == Kind::map; }
  bool is_seq() const { return kind == Kind::seq; }
  bool is_scalar() const { return kind == Kind::scalar; }
  bool is_null() const { return kind == Kind::null; }
  const YNode* find(const std::string& key) const;  // last entry with that key
  int key_line(const std::string& key) const;       // line of the key's value
};

struct YEntry {
  std::string first;  // the key
  YNode second;       // the value
};

struct ParsedYaml {
  YNode root;
  std::vector<std::string> warnings;  // duplicate keys, extra documents
  bool ok = true;
  int error_line = 0;  // 1-based, 0 when unknown
  std::string error;   // syntax error or limit, when !ok
};

// Never throws on bad input: a syntax error or a limit sets ok=false. line_origin (optional) maps
// the lines of `text` (index = line - 1) to the lines of the original file.
ParsedYaml parse_yaml(const std::string& text, const std::string& file_name,
                      const std::vector<int>* line_origin = nullptr);

// The YAML 1.1 (Psych) value of a node: null, bool, int, float or string; seq/map recursively.
nlohmann::json to_json(const YNode& node);
nlohmann::json scalar_value(const YNode& node);

// A JSON value as YAML text (block style), for --values-to and `stack validate`.
std::string json_to_yaml(const nlohmann::json& value);

}  // namespace kontena::stackfile
