// Service definitions: strict validation and the normalised form (reference §1.3), and the
// `extends` merge rules.
#pragma once
#include <functional>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "stackfile/variables.h"
#include "stackfile/yaml_tree.h"

namespace kontena::stackfile {

struct ServiceContext {
  Reporter rep;
  std::set<std::string> declared_volumes;  // top-level `volumes:` of the service's file
  // Reads a file named relative to the stack file (env_file); nullopt when it cannot be read.
  std::function<std::optional<std::string>(const std::string&)> read_file;
  const std::map<std::string, std::string>* env = nullptr;  // build args with a null value
};

extern const std::set<std::string> kServiceKeys;

// The normalised form of a service that sets nothing but its name: every key with its default
// (docs/stack-file.md). The master fills stack-less services from it too.
nlohmann::json default_service_spec(const std::string& name);

// Validates a service definition (every problem reported through ctx.rep) and returns its
// normalised form (docs/stack-file.md). `image` may still be missing (extends fills it later).
nlohmann::json normalize_service(const std::string& name, const YNode& node, const ServiceContext& ctx);

// The keys written in the definition (the ones that override the extended service).
std::set<std::string> written_keys(const YNode& node);

// `extends` merge: the child's written keys win; environment merged by name (child wins),
// secrets by `secret`, build args by name.
nlohmann::json merge_extended(const nlohmann::json& parent, const nlohmann::json& child,
                              const std::set<std::string>& child_keys);

// Memory "512m" / 1024 -> bytes; durations "1m30s" / 90 -> seconds; deploy intervals "5min" ->
// seconds. nullopt when malformed.
std::optional<long long> parse_memory(const nlohmann::json& v);
std::optional<long long> parse_duration(const nlohmann::json& v);
std::optional<long long> parse_interval(const nlohmann::json& v);
// Shellwords split of `command`; nullopt on an unmatched quote.
std::optional<std::vector<std::string>> shell_split(const std::string& s);

}  // namespace kontena::stackfile
