// The agents' service-pod RPCs (docs/api/stacks-services.md "Agent RPC"), and the AgentLink over
// the hub.
#include <charconv>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "master/agents/agent_hub.h"
#include "master/deployer/deployer.h"
#include "master/deployer/deployer_impl.h"

namespace kontena::master {

namespace {

[[noreturn]] void bad(const std::string& message) { fail(ErrorKind::bad_request, message); }

// The service id of a report: std::nullopt for one that cannot be a service of this master (not
// a decimal id: an unknown service, ignored); bad_request when missing or not a string.
std::optional<std::int64_t> parse_service_id(const Json& v, const std::string& where) {
  std::string text;
  if (v.is_string()) text = v.get<std::string>();
  else if (v.is_number_integer()) return v.get<std::int64_t>();
  else bad(where + ".service_id must be a service id string");
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || p != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

int parse_instance(const Json& obj, const std::string& where) {
  auto it = obj.find("instance_number");
  if (it == obj.end() || !it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 100000)
    bad(where + ".instance_number must be an integer 1..100000");
  return it->get<int>();
}

std::string opt_string(const Json& obj, const char* key, const std::string& where, bool required = false) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(where + "." + key + " is missing");
    return {};
  }
  if (!it->is_string()) bad(where + "." + key + " must be a string");
  return it->get<std::string>();
}

// params [node_id, object]: the object.
const Json& second_object(const Json& params, const std::string& method) {
  if (!params.is_array() || params.size() < 2 || !params[1].is_object())
    bad(method + " params must be [node_id, {...}]");
  return params[1];
}

class HubLink final : public AgentLink {
 public:
  explicit HubLink(AgentHub& hub) : hub_(hub) {}
  bool connected(std::int64_t node) const override { return hub_.connected(node); }
  bool notify(std::int64_t node, const std::string& method, nlohmann::json params) override {
    return hub_.notify(node, method, std::move(params));
  }
  std::future<protocol::RpcResponse> call(std::int64_t node, const std::string& method, nlohmann::json params,
                                          std::chrono::milliseconds timeout) override {
    return hub_.call(node, method, std::move(params), timeout);
  }

 private:
  AgentHub& hub_;
};

}  // namespace

std::unique_ptr<AgentLink> agent_link(AgentHub& hub) { return std::make_unique<HubLink>(hub); }

std::set<std::string> Deployer::Impl::hooks_done(std::int64_t service, int instance) {
  std::lock_guard lock(hooks_mu);
  auto it = done_hooks.find({service, instance});
  return it == done_hooks.end() ? std::set<std::string>{} : it->second;
}

Json Deployer::Impl::pods_of_node(std::int64_t node) {
  Json pods = Json::array();
  auto n = store.node_by_id(node);
  if (!n) return Json{{"service_pods", pods}};
  auto grid = store.grid_by_id(n->grid_id);
  std::string grid_name = grid ? grid->name : "";
  std::map<std::int64_t, std::optional<Service>> services;
  std::map<std::int64_t, std::string> exposed_of_stack;  // stack id -> its `expose` service
  auto exposed = [&](const Service& svc) {
    if (svc.stack_id == 0) return false;
    auto e = exposed_of_stack.find(svc.stack_id);
    if (e == exposed_of_stack.end()) {
      auto stack = store.stack_by_id(svc.stack_id);
      e = exposed_of_stack.emplace(svc.stack_id, stack ? stack->expose : std::string()).first;
    }
    return !e->second.empty() && e->second == svc.name;
  };
  auto instances = store.instances_on_node(node);
  std::sort(instances.begin(), instances.end(), [](const ServiceInstance& a, const ServiceInstance& b) {
    return std::tie(a.service_id, a.instance_number) < std::tie(b.service_id, b.instance_number);
  });
  for (const auto& inst : instances) {
    if (inst.desired_state == "terminated") continue;
    auto it = services.find(inst.service_id);
    if (it == services.end()) it = services.emplace(inst.service_id, store.service_by_id(inst.service_id)).first;
    if (!it->second) continue;
    try {
      auto pod = deployer::service_pod(*it->second, inst, grid_name, hooks_done(inst.service_id, inst.instance_number),
                                       exposed(*it->second));
      // Not reached yet by the rolling deploy: the agent keeps the container it has.
      if (held(inst.service_id, inst.instance_number)) pod.service_revision = 0;
      pods.push_back(protocol::to_json(pod));
    } catch (const std::exception& e) {
      spdlog::warn("cannot build a service pod service={} instance={} error=\"{}\"", it->second->name,
                   inst.instance_number, e.what());
    }
  }
  return Json{{"service_pods", pods}};
}

void Deployer::Impl::set_state(std::int64_t node, const Json& state) {
  protocol::PodState st;
  try {
    st = protocol::pod_state_from_json(state);
  } catch (const Error& e) {
    bad(std::string("/node_service_pods/set_state: ") + e.what());
  }
  auto sid = parse_service_id(Json(st.service_id), "state");
  if (!sid) {
    spdlog::debug("state report for an unknown service ignored service_id={}", st.service_id);
    return;
  }
  const std::int64_t service_id = *sid;
  const auto now = clock.now_unix_ms();
  bool updated = false;
  std::optional<Service> svc;
  std::string previous_error;
  store.transaction([&] {
    auto inst = store.instance(service_id, st.instance_number);
    if (!inst) {
      spdlog::debug("state report for an unknown instance ignored service_id={} instance={}", st.service_id,
                    st.instance_number);
      return;
    }
    if (inst->node_id != node) {
      spdlog::debug("state report from a node the instance is not on ignored service_id={} instance={} node={}",
                    st.service_id, st.instance_number, node);
      return;
    }
    previous_error = inst->error;
    inst->state = st.state;
    inst->error = st.error;
    inst->rev = st.rev;
    inst->reported_at = now;
    store.upsert_instance(*inst);
    updated = true;
    if (!st.error.empty() && st.error != previous_error) svc = store.service_by_id(service_id);
  });
  if (!updated) return;
  if (svc) {
    auto n = store.node_by_id(node);
    event(*svc, st.instance_number, n ? n->name : "", "service:instance_error", 2,
          "instance " + std::to_string(st.instance_number) + " " + st.state + ": " + st.error);
  }
  wake();  // a deploy may be waiting for this report
}

void Deployer::Impl::health(std::int64_t node, const Json& params) {
  const Json& h = second_object(params, "/containers/health");
  auto sid = parse_service_id(h.contains("service_id") ? h["service_id"] : Json(), "health");
  int number = parse_instance(h, "health");
  std::string status = opt_string(h, "status", "health", true);
  if (status != "healthy" && status != "unhealthy")
    bad("health.status must be healthy or unhealthy (got \"" + status + "\")");
  std::string error = opt_string(h, "error", "health");
  if (!sid) return;
  const std::int64_t service_id = *sid;
  std::string before;
  bool updated = false;
  store.transaction([&] {
    auto inst = store.instance(service_id, number);
    if (!inst || inst->node_id != node) return;
    before = inst->health;
    inst->health = status;
    store.upsert_instance(*inst);
    updated = true;
  });
  if (!updated) {
    spdlog::debug("health result for an unknown instance ignored service_id={} instance={}", service_id, number);
    return;
  }
  if (before != status) {
    if (auto svc = store.service_by_id(service_id)) {
      auto n = store.node_by_id(node);
      event(*svc, number, n ? n->name : "", "service:health_check", status == "healthy" ? 1 : 2,
            "instance " + std::to_string(number) + " is " + status + (error.empty() ? "" : ": " + error));
    }
  }
}

void Deployer::Impl::log_batch(std::int64_t, std::int64_t grid, const std::string& node_name, const Json& params) {
  if (!params.is_array() || params.size() < 2 || !params[1].is_array())
    bad("/containers/log_batch params must be [node_id, [lines]]");
  const Json& lines = params[1];
  if (lines.size() > 1000) bad("/containers/log_batch takes at most 1000 lines a batch");
  struct Parsed {
    std::optional<std::int64_t> service_id;
    ContainerLog line;
  };
  std::vector<Parsed> parsed;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string where = "lines[" + std::to_string(i) + "]";
    const Json& l = lines[i];
    if (!l.is_object()) bad(where + " must be an object");
    Parsed p;
    p.service_id = parse_service_id(l.contains("service_id") ? l["service_id"] : Json(), where);
    p.line.instance_number = parse_instance(l, where);
    p.line.container = opt_string(l, "container", where);
    p.line.stream = opt_string(l, "stream", where, true);
    if (p.line.stream != "stdout" && p.line.stream != "stderr") bad(where + ".stream must be stdout or stderr");
    p.line.data = opt_string(l, "data", where, true);
    std::string time = opt_string(l, "time", where);
    if (time.empty()) p.line.created_at = clock.now_unix_ms();
    else if (auto t = kontena::parse_time_ms(time)) p.line.created_at = *t;
    else bad(where + ".time must be an ISO-8601 UTC time (got \"" + time + "\")");
    parsed.push_back(std::move(p));
  }
  std::map<std::int64_t, std::optional<Service>> services;
  std::vector<ContainerLog> out;
  for (auto& p : parsed) {
    if (!p.service_id) continue;
    auto it = services.find(*p.service_id);
    if (it == services.end()) it = services.emplace(*p.service_id, store.service_by_id(*p.service_id)).first;
    if (!it->second || it->second->grid_id != grid) continue;  // not a service of this grid (gone)
    p.line.grid_id = grid;
    p.line.node = node_name;
    p.line.stack = it->second->stack_name.empty() ? "null" : it->second->stack_name;
    p.line.service = it->second->name;
    out.push_back(std::move(p.line));
  }
  if (!out.empty()) store.append_container_logs(out);
}

void Deployer::Impl::pod_event(std::int64_t, std::int64_t grid, const std::string& node_name, const Json& params) {
  const Json& e = second_object(params, "/node_service_pods/event");
  auto service_id = parse_service_id(e.contains("service_id") ? e["service_id"] : Json(), "event");
  int number = parse_instance(e, "event");
  std::string type = opt_string(e, "type", "event", true);
  std::string message = opt_string(e, "message", "event", true);
  int severity = 1;
  if (auto it = e.find("severity"); it != e.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int>() < 0 || it->get<int>() > 3)
      bad("event.severity must be an integer 0..3");
    severity = it->get<int>();
  }
  EventLog ev;
  ev.grid_id = grid;
  ev.node = node_name;
  ev.instance_number = number;
  ev.type = type;
  ev.severity = severity;
  ev.message = message;
  ev.created_at = clock.now_unix_ms();
  if (auto svc = service_id ? store.service_by_id(*service_id) : std::nullopt; svc && svc->grid_id == grid) {
    ev.stack = svc->stack_name.empty() ? "null" : svc->stack_name;
    ev.service = svc->name;
  }
  store.append_events({ev});
}

void Deployer::Impl::mark_oneshot_hook(std::int64_t node, const Json& params) {
  const Json& h = second_object(params, "/node_service_pods/mark_oneshot_hook");
  auto sid = parse_service_id(h.contains("service_id") ? h["service_id"] : Json(), "hook");
  int number = parse_instance(h, "hook");
  std::string name = opt_string(h, "name", "hook");
  if (name.empty()) name = opt_string(h, "hook", "hook");
  if (name.empty()) bad("hook.name is missing");
  if (!sid) return;
  const std::int64_t service_id = *sid;
  auto inst = store.instance(service_id, number);
  if (!inst || inst->node_id != node) {
    spdlog::debug("oneshot hook of an unknown instance ignored service_id={} instance={}", service_id, number);
    return;
  }
  std::lock_guard lock(hooks_mu);
  done_hooks[{service_id, number}].insert(name);
}

// ------------------------------------------------------------------------------------ Deployer

void Deployer::register_agent_handlers(AgentHub& hub) {
  Impl* m = impl_.get();
  hub.handle(std::string(protocol::kMethodServicePodsList), [m](const AgentRef& ref, const Json& params) {
    if (!params.is_array()) bad("/node_service_pods/list params must be [node_id]");
    return m->pods_of_node(ref.node);
  });
  hub.handle(std::string(protocol::kMethodServicePodsSetState), [m](const AgentRef& ref, const Json& params) {
    m->set_state(ref.node, second_object(params, "/node_service_pods/set_state"));
    return Json::object();
  });
  auto oneshot = [m](const AgentRef& ref, const Json& params) { m->mark_oneshot_hook(ref.node, params); };
  hub.handle(std::string(protocol::kMethodServicePodsMarkOneshotHook), [oneshot](const AgentRef& ref, const Json& p) {
    oneshot(ref, p);
    return Json::object();
  });
  hub.on_notification(std::string(protocol::kMethodServicePodsMarkOneshotHook), oneshot);
  auto health = [m](const AgentRef& ref, const Json& params) { m->health(ref.node, params); };
  auto logs = [m](const AgentRef& ref, const Json& params) { m->log_batch(ref.node, ref.grid, ref.name, params); };
  auto event = [m](const AgentRef& ref, const Json& params) { m->pod_event(ref.node, ref.grid, ref.name, params); };
  hub.on_notification("/containers/health", health);
  hub.on_notification("/containers/log_batch", logs);
  hub.on_notification("/node_service_pods/event", event);
  // The original sent some of these as requests: answer them too.
  hub.handle("/containers/health", [health](const AgentRef& ref, const Json& p) {
    health(ref, p);
    return Json::object();
  });
  hub.handle("/node_service_pods/event", [event](const AgentRef& ref, const Json& p) {
    event(ref, p);
    return Json::object();
  });
}

nlohmann::json Deployer::node_service_pods(std::int64_t node) { return impl_->pods_of_node(node); }

void Deployer::set_state(std::int64_t node, const nlohmann::json& state) { impl_->set_state(node, state); }

}  // namespace kontena::master
