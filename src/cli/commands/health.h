// Printing the agents' etcd health reports (GET /v1/nodes/:grid/:node/health, whose shape is the
// agent's /etcd/health: docs/api/etcd-network.md), shared by `etcd health`, `node health` and
// `grid health`.
#pragma once
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace kontena::cli {

// "etcd: 2 of 3 members healthy, majority kept" or "etcd: 1 of 3 members healthy: MAJORITY LOST —
// ..." for a report with "healthy", "total"/"members" and "majority".
std::string etcd_majority_line(const nlohmann::json& healthy, const nlohmann::json& total, const nlohmann::json& majority);

// One line per endpoint of a node's report: "  node-1 http://10.81.0.1:2379: healthy (leader)" or
// "  ...: unhealthy: connection refused".
void print_etcd_endpoints(std::ostream& out, const nlohmann::json& report);

// "running (pid 42, 0 restarts)" / "failed: <error>" / "-" (not an initial member) for a report's member.
std::string etcd_member_text(const nlohmann::json& member);

}  // namespace kontena::cli
