// JSON shapes of the API's answers (docs/api.md).
#pragma once
#include <nlohmann/json.hpp>

#include "master/auth/auth.h"
#include "master/store/model.h"

namespace kontena::master {

nlohmann::json time_json(std::int64_t unix_ms);  // null for 0
nlohmann::json user_json(const User& user);
nlohmann::json token_info_json(const AccessToken& token, const User& user);
nlohmann::json issued_token_json(const IssuedToken& issued, std::int64_t now_ms);
nlohmann::json grid_json(const Grid& grid, std::size_t node_count, std::size_t user_count);
std::string node_status(const Node& node);
nlohmann::json node_json(const Node& node, const Grid& grid);
nlohmann::json audit_json(const AuditEntry& entry);

}  // namespace kontena::master
