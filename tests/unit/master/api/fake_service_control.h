// A ServiceControl for the route tests: records every call and does the minimum a deployer does
// to the store (deploy rows, service state, removal), so the routes' answers can be checked.
#pragma once
#include <string>
#include <vector>

#include "common/error.h"
#include "master/api/service_control.h"
#include "master/store/store.h"

namespace kontena::master::testing {

class FakeServiceControl final : public ServiceControl {
 public:
  Store* store = nullptr;  // set once the fixture opened it
  std::vector<std::string> calls;
  nlohmann::json exec_result{{"exit_code", 0}, {"stdout", "hello\n"}, {"stderr", ""}};
  std::string conflict;  // when set, deploy_service refuses with this message (ErrorKind::conflict)

  static std::string ref(const Service& s) { return s.stack_name + "/" + s.name; }

  ServiceDeploy deploy_service(const Service& service, bool force, const std::string& reason) override {
    calls.push_back("deploy_service " + ref(service) + " force=" + (force ? "1" : "0") + " reason=" + reason +
                    " instances=" + service.spec.value("instances", nlohmann::json(-1)).dump());
    if (!conflict.empty()) fail(ErrorKind::conflict, conflict);
    ServiceDeploy d;
    d.service_id = service.id;
    d.reason = reason;
    d.force = force;
    d.created_at = 1'700'000'000'000;
    d = store->insert_service_deploy(d);
    auto s = *store->service_by_id(service.id);
    s.state = "running";
    store->update_service(s);
    return d;
  }
  StackDeploy deploy_stack(const Stack& stack) override {
    calls.push_back("deploy_stack " + stack.name + " revision=" + std::to_string(stack.revision));
    StackDeploy sd;
    sd.stack_id = stack.id;
    sd.revision = stack.revision;
    sd.created_at = 1'700'000'000'000;
    sd = store->insert_stack_deploy(sd);
    for (auto s : store->services_of_grid(stack.grid_id, stack.id)) {
      ServiceDeploy d;
      d.service_id = s.id;
      d.stack_deploy_id = sd.id;
      d.reason = "deploy";
      d.created_at = sd.created_at;
      store->insert_service_deploy(d);
      s.state = "running";
      store->update_service(s);
    }
    return sd;
  }
  void stop_service(const Service& service) override { set_state("stop_service", service, "stopped"); }
  void start_service(const Service& service) override { set_state("start_service", service, "running"); }
  void restart_service(const Service& service) override { calls.push_back("restart_service " + ref(service)); }
  void remove_service(const Service& service) override {
    calls.push_back("remove_service " + ref(service));
    store->delete_service(service.id);
  }
  void remove_stack(const Stack& stack) override {
    calls.push_back("remove_stack " + stack.name);
    store->delete_stack(stack.id);
  }
  void node_availability_changed(const Node& node) override {
    calls.push_back("node_availability_changed " + node.name + " " + node.availability);
  }
  nlohmann::json exec(const Node& node, const std::string& container, const std::vector<std::string>& cmd,
                      std::chrono::milliseconds timeout) override {
    std::string words;
    for (const auto& w : cmd) words += " " + w;
    calls.push_back("exec " + node.name + " " + container + words + " timeout=" + std::to_string(timeout.count()));
    if (container == "missing") fail(ErrorKind::not_found, "container \"missing\" does not exist on node " + node.name);
    return exec_result;
  }

 private:
  void set_state(const std::string& call, const Service& service, const std::string& state) {
    calls.push_back(call + " " + ref(service));
    auto s = *store->service_by_id(service.id);
    s.state = state;
    store->update_service(s);
  }
};

}  // namespace kontena::master::testing
