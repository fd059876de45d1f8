// The API with a fake deployer and a grid "demo": the fixture of the stack, service, container
// and log route tests.
#pragma once
#include "api/api_fixture.h"
#include "api/fake_service_control.h"

namespace kontena::master::testing {

class StackApiFixture : public ApiFixture {
 protected:
  void SetUp() override {
    service_control_ = &fake_;
    ApiFixture::SetUp();
    fake_.store = store_.get();
    auto g = call("POST", "/v1/grids", admin_token_, nlohmann::json{{"name", "demo"}});
    ASSERT_EQ(g.status, 201) << g.body.dump();
    grid_id_ = store_->grid_by_name("demo")->id;
  }

  // A two-service stack: web (2 instances, port 80) links db; web is exposed.
  static nlohmann::json shop() {
    using nlohmann::json;
    return {{"name", "shop"},
            {"stack", "user/shop"},
            {"version", "1.0.0"},
            {"expose", "web"},
            {"labels", {"team=web"}},
            {"variables", {{"tag", "1"}}},
            {"services",
             json::array({json{{"name", "db"}, {"image", "postgres:15"}},
                          json{{"name", "web"},
                               {"image", "nginx"},
                               {"instances", 2},
                               {"links", json::array({json{{"name", "db"}, {"alias", "db"}}})},
                               {"ports", json::array({json{{"node_port", 80}, {"container_port", 80}}})}}})}};
  }
  Reply install(const nlohmann::json& definition) { return call("POST", "/v1/grids/demo/stacks", admin_token_, definition); }
  std::vector<Service> services(std::optional<std::int64_t> stack_id = std::nullopt) {
    return store_->services_of_grid(grid_id_, stack_id);
  }
  std::int64_t stack_id(const std::string& name) { return store_->stack_by_name(grid_id_, name)->id; }
  Service service(const std::string& stack, const std::string& name) {
    return *store_->service_by_name(grid_id_, stack == "null" ? 0 : stack_id(stack), name);
  }
  // Marks the service's instances 1..n as placed on `node_id` and reported `state`.
  void report(const Service& svc, int n, const std::string& state, std::int64_t node_id = 0) {
    for (int i = 1; i <= n; ++i) {
      ServiceInstance inst;
      inst.service_id = svc.id;
      inst.instance_number = i;
      inst.node_id = node_id;
      inst.desired_state = "running";
      inst.state = state;
      inst.deploy_rev = "r1";
      inst.rev = "r1";
      store_->upsert_instance(inst);
    }
  }
  // Ends every created/ongoing deploy with success.
  void finish_deploys() {
    for (auto d : store_->pending_service_deploys()) {
      d.state = "success";
      store_->update_service_deploy(d);
    }
    for (auto d : store_->pending_stack_deploys()) {
      d.state = "success";
      store_->update_stack_deploy(d);
    }
  }
  bool audited(const std::string& resource_type, const std::string& event_name, int status) {
    for (const auto& e : store_->audit_entries("demo", 1000))
      if (e.resource_type == resource_type && e.event_name == event_name && e.http_status == status) return true;
    return false;
  }

  FakeServiceControl fake_;
  std::int64_t grid_id_ = 0;
};

}  // namespace kontena::master::testing
