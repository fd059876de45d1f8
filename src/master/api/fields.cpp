#include "master/api/fields.h"

#include "common/error.h"

namespace kontena::master {

Json parse_body(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  Json parsed;
  try {
    parsed = Json::parse(body);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep the readable part.
    auto pos = what.find("] ");
    fail(ErrorKind::bad_request,
         "request body is not valid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  }
  if (!parsed.is_object()) fail(ErrorKind::bad_request, "request body must be a JSON object");
  return parsed;
}

bool Fields::present(const std::string& name) const {
  auto it = body_.find(name);
  return it != body_.end() && !it->is_null();
}

std::optional<std::string> Fields::string(const std::string& name, bool required, std::size_t max_length) {
  known_.insert(name);
  if (!present(name)) {
    if (required) invalid(name, name + " is required");
    return std::nullopt;
  }
  const auto& v = body_.at(name);
  if (!v.is_string()) invalid(name, name + " must be a string");
  auto s = v.get<std::string>();
  if (required && s.empty()) invalid(name, name + " must not be empty");
  if (s.size() > max_length) invalid(name, name + " is longer than " + std::to_string(max_length) + " characters");
  return s;
}

std::optional<std::int64_t> Fields::integer(const std::string& name, bool required) {
  known_.insert(name);
  if (!present(name)) {
    if (required) invalid(name, name + " is required");
    return std::nullopt;
  }
  const auto& v = body_.at(name);
  if (!v.is_number_integer()) invalid(name, name + " must be an integer");
  return v.get<std::int64_t>();
}

std::optional<bool> Fields::boolean(const std::string& name) {
  known_.insert(name);
  if (!present(name)) return std::nullopt;
  const auto& v = body_.at(name);
  if (!v.is_boolean()) invalid(name, name + " must be true or false");
  return v.get<bool>();
}

std::optional<std::vector<std::string>> Fields::string_array(const std::string& name, std::size_t max_items,
                                                             std::size_t max_length) {
  known_.insert(name);
  if (!present(name)) return std::nullopt;
  const auto& v = body_.at(name);
  if (!v.is_array()) invalid(name, name + " must be an array of strings");
  if (v.size() > max_items) invalid(name, name + " has more than " + std::to_string(max_items) + " items");
  std::vector<std::string> out;
  for (const auto& item : v) {
    if (!item.is_string()) invalid(name, name + " must be an array of strings");
    auto s = item.get<std::string>();
    if (s.size() > max_length) invalid(name, name + " has an item longer than " + std::to_string(max_length) + " characters");
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<Json> Fields::object(const std::string& name) {
  known_.insert(name);
  if (!present(name)) return std::nullopt;
  const auto& v = body_.at(name);
  if (!v.is_object()) invalid(name, name + " must be an object");
  return v;
}

void Fields::reject_unknown() const {
  for (auto it = body_.begin(); it != body_.end(); ++it) {
    if (known_.count(it.key())) continue;
    std::string allowed;
    for (const auto& k : known_) allowed += (allowed.empty() ? "" : ", ") + k;
    invalid(it.key(), "unknown field \"" + it.key() + "\"" +
                          (allowed.empty() ? ": this call takes no fields" : ": allowed fields are " + allowed));
  }
}

}  // namespace kontena::master
