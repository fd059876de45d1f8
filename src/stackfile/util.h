// Small helpers shared by the stack-file sources (internal).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kontena::stackfile::util {

// The text of a value as Ruby's to_s would give it: nil -> "", 2.0 -> "2.0", strings as is.
std::string to_s(const nlohmann::json& v);
std::string base64_decode(std::string_view in, bool* ok = nullptr);
std::string base64_encode(std::string_view in);
std::string hex_digest(const std::string& algorithm, std::string_view data);  // md5 sha1 sha256 sha384 sha512; "" when unknown
std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view p);
// A double-quoted YAML/JSON string literal of s (invalid UTF-8 replaced).
std::string quote(const std::string& s);
// Parses "123", "-5" (whole string); nullopt otherwise.
std::optional<long long> parse_int(std::string_view s);
std::optional<double> parse_number(std::string_view s);

}  // namespace kontena::stackfile::util
