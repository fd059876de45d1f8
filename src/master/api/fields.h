// Typed, strict reading of a JSON request body: each accessor checks the type and records the
// field as known; reject_unknown() then refuses anything the route does not take.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kontena::master {

using Json = nlohmann::json;

// Parses a request body; empty = {}. Throws bad_request for non-JSON or a non-object.
Json parse_body(const std::string& body);

class Fields {
 public:
  explicit Fields(const Json& body) : body_(body) {}

  // Each returns nullopt when the field is absent or null (null = "not given"), and throws
  // invalid (422, naming the field) when it is present with the wrong type or when required
  // and missing.
  std::optional<std::string> string(const std::string& name, bool required = false, std::size_t max_length = 1024);
  std::optional<std::int64_t> integer(const std::string& name, bool required = false);
  std::optional<bool> boolean(const std::string& name);
  std::optional<std::vector<std::string>> string_array(const std::string& name, std::size_t max_items = 256,
                                                       std::size_t max_length = 1024);
  std::optional<Json> object(const std::string& name);
  // Marks a field as known without reading it (handled elsewhere).
  void allow(const std::string& name) { known_.insert(name); }
  bool present(const std::string& name) const;
  void reject_unknown() const;

 private:
  const Json& body_;
  std::set<std::string> known_;
};

}  // namespace kontena::master
