// The audit-log table, shared by 'master audit-log' and 'grid audit-log'.
#pragma once
#include <nlohmann/json.hpp>
#include <ostream>

namespace kontena::cli {

// TIME USER GRID RESOURCE EVENT STATUS SOURCE, one row per entry of {"logs": [...]}.
void print_audit_log(std::ostream& out, const nlohmann::json& answer);

}  // namespace kontena::cli
