// The Liquid subset stack files use (reference §1.1 step 4): {{ expr | filter: arg }},
// {% if/elsif/else/endif %}, {% unless %}, {% case/when %}, {% for %} (ranges, limit, offset,
// reversed, forloop, break/continue, else), {% assign %}, {% capture %}, {% raw %},
// {% comment %}, whitespace control ({%- -%}). Strict variables and strict filters: an unknown
// variable or filter is an error. Rendering is bounded (nesting, loop iterations, output size).
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kontena::stackfile {

struct LiquidResult {
  std::string text;
  // line_origin[i] = the source line (1-based) that output line i+1 comes from.
  std::vector<int> line_origin;
};

// Throws kontena::Error(invalid) "FILE:LINE: Liquid error: ...".
LiquidResult render_liquid(const std::string& source, const std::string& file_name,
                           const std::map<std::string, nlohmann::json>& variables);

// Liquid truthiness: everything but nil and false.
bool liquid_truthy(const nlohmann::json& v);

}  // namespace kontena::stackfile
