// Builders for scheduler tests: nodes and services in a line each.
#pragma once
#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "master/scheduler/scheduler.h"

namespace kontena::scheduler::testing {

inline constexpr std::int64_t GiB = 1024LL * 1024 * 1024;

inline SchedulerNode node(const std::string& name, std::initializer_list<std::string> labels = {}, int number = 0) {
  SchedulerNode n;
  n.id = "id-" + name;
  n.name = name;
  n.node_number = number;
  n.labels = labels;
  n.connected = true;
  n.cpus = 4;
  n.mem_total = 8 * GiB;
  return n;
}

// n nodes named node-1..node-n, numbered 1..n.
inline std::vector<SchedulerNode> nodes(int n) {
  std::vector<SchedulerNode> v;
  for (int i = 1; i <= n; ++i) v.push_back(node("node-" + std::to_string(i), {}, i));
  return v;
}

inline ServiceSpec service(const std::string& name, int instances = 1, Strategy s = Strategy::ha) {
  ServiceSpec svc;
  svc.stack = "app";
  svc.name = name;
  svc.instances = instances;
  svc.strategy = s;
  return svc;
}

inline NodeInstance running(const std::string& service, int number, std::vector<Port> ports = {}) {
  return NodeInstance{service, number, std::move(ports)};
}

// instance number -> node name
inline std::map<int, std::string> by_name(const std::vector<SchedulerNode>& ns, const Placement& p) {
  std::map<int, std::string> m;
  for (const auto& a : p.instances) m[a.instance_number] = ns[a.node_index].name;
  return m;
}

// node name -> instance count
inline std::map<std::string, int> per_node(const std::vector<SchedulerNode>& ns, const std::vector<Assignment>& as) {
  std::map<std::string, int> m;
  for (const auto& a : as) ++m[ns[a.node_index].name];
  return m;
}

inline std::vector<CurrentInstance> on(std::initializer_list<std::pair<int, std::string>> l) {
  std::vector<CurrentInstance> v;
  for (const auto& [k, name] : l) v.push_back({k, name.empty() ? std::string() : "id-" + name});
  return v;
}

// The Error schedule() throws (fails the test when it throws nothing).
template <class F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return Error(ErrorKind::internal, "none");
}

}  // namespace kontena::scheduler::testing
