// Naming and format rules of the master's resources. Each validate_* throws invalid (422) with
// a message naming the field, the rule and an example.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kontena::master {

struct Ipv4Cidr {
  std::uint32_t address = 0;  // host order, masked to the prefix
  int prefix = 0;
  std::string to_string() const;
};

std::optional<Ipv4Cidr> parse_ipv4_cidr(const std::string& text);  // strict "a.b.c.d/n"
bool cidr_contains(const Ipv4Cidr& outer, const Ipv4Cidr& inner);

void validate_grid_name(const std::string& name);
void validate_node_name(const std::string& name);
Ipv4Cidr validate_cidr(const std::string& field, const std::string& value);
void validate_affinity(const std::string& field, const std::string& value);
void validate_label(const std::string& field, const std::string& value);
void validate_email(const std::string& field, const std::string& value);
void validate_config_key(const std::string& key);
void validate_token_value(const std::string& field, const std::string& value);
// {"statsd": {"server": host, "port": n}} (or {}); returns the normalised form.
nlohmann::json validate_stats(const nlohmann::json& stats);
// {"forwarder": "fluentd"|"none", "opts": {k: string}}; returns the normalised form.
nlohmann::json validate_logs(const nlohmann::json& logs);

}  // namespace kontena::master
