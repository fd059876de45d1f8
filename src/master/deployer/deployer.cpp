#include "common/clock.h"
#include "master/deployer/deployer.h"

#include <algorithm>

#include "common/error.h"
#include "common/log.h"
#include "master/deployer/deployer_impl.h"

namespace kontena::master {

using std::chrono::milliseconds;
namespace sch = kontena::scheduler;

std::int64_t unix_ms(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string format_duration(milliseconds d) {
  auto ms = d.count();
  if (ms % 1000) return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s % 60) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 60) + "m";
}

Json Deployer::Impl::items_json(const std::vector<Item>& items) {
  Json out = Json::array();
  for (const auto& i : items)
    out.push_back({{"instance_number", i.number},
                   {"node", i.node_name.empty() ? Json() : Json(i.node_name)},
                   {"state", i.state},
                   {"error", i.error.empty() ? Json() : Json(i.error)}});
  return out;
}

Deployer::Impl::Impl(Store& s, const Clock& c, AgentLink& a, DeployerOptions o)
    : store(s), clock(c), agents(a), opt(std::move(o)) {
  std::uint64_t seed = opt.random_seed ? opt.random_seed : static_cast<std::uint64_t>(clock.now_unix_ms());
  rng.seed(seed);
}

const Node* Deployer::Impl::GridView::node(std::int64_t id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

const Node* Deployer::Impl::GridView::node_named(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

void Deployer::Impl::hold_back(std::int64_t service, std::set<int> numbers) {
  std::lock_guard lock(held_mu);
  if (numbers.empty()) held_back.erase(service);
  else held_back[service] = std::move(numbers);
}

void Deployer::Impl::release(std::int64_t service, std::optional<int> number) {
  std::lock_guard lock(held_mu);
  auto it = held_back.find(service);
  if (it == held_back.end()) return;
  if (number) it->second.erase(*number);
  if (!number || it->second.empty()) held_back.erase(it);
}

bool Deployer::Impl::held(std::int64_t service, int number) {
  std::lock_guard lock(held_mu);
  auto it = held_back.find(service);
  return it != held_back.end() && it->second.count(number);
}

void Deployer::Impl::wake() {
  {
    std::lock_guard lock(wake_mu);
    woken = true;
  }
  wake_cv.notify_all();
}

Deployer::Impl::GridView Deployer::Impl::load_grid(std::int64_t grid_id) {
  GridView gv;
  auto grid = store.grid_by_id(grid_id);
  if (!grid) fail(ErrorKind::not_found, "grid " + std::to_string(grid_id) + " does not exist");
  gv.grid = *grid;
  gv.nodes = store.nodes_of_grid(grid_id);
  for (auto& s : store.services_of_grid(grid_id)) gv.services.emplace(s.id, std::move(s));
  gv.instances = store.instances_of_grid(grid_id);
  return gv;
}

std::vector<sch::SchedulerNode> Deployer::Impl::scheduler_nodes(const GridView& gv, std::int64_t service_id,
                                                                 TimePoint now) {
  std::map<std::int64_t, std::vector<sch::NodeInstance>> on_node;
  for (const auto& inst : gv.instances) {
    if (inst.service_id == service_id || inst.node_id == 0) continue;
    auto s = gv.services.find(inst.service_id);
    if (s == gv.services.end()) continue;
    sch::NodeInstance ni;
    ni.service = deployer::service_path(s->second);
    ni.instance_number = inst.instance_number;
    ni.ports = deployer::spec_ports(s->second.spec);
    on_node[inst.node_id].push_back(std::move(ni));
  }
  TimePoint not_before = first_tick.value_or(now);
  std::vector<sch::SchedulerNode> out;
  out.reserve(gv.nodes.size());
  for (const auto& n : gv.nodes) {
    auto it = on_node.find(n.id);
    out.push_back(deployer::scheduler_node(n, not_before,
                                           it == on_node.end() ? std::vector<sch::NodeInstance>{} : std::move(it->second)));
  }
  return out;
}

std::vector<sch::CurrentInstance> Deployer::Impl::current_of(const GridView& gv, std::int64_t service_id) {
  std::vector<sch::CurrentInstance> out;
  for (const auto& inst : gv.instances)
    if (inst.service_id == service_id) out.push_back({inst.instance_number, deployer::node_key(inst.node_id)});
  return out;
}

void Deployer::Impl::event(const Service& s, int instance, const std::string& node, const std::string& type,
                           int severity, const std::string& message) {
  EventLog e;
  e.grid_id = s.grid_id;
  e.stack = s.stack_name.empty() ? "null" : s.stack_name;
  e.service = s.name;
  e.instance_number = instance;
  e.node = node;
  e.type = type;
  e.severity = severity;
  e.message = message;
  e.created_at = clock.now_unix_ms();
  try {
    store.append_events({e});
  } catch (const std::exception& ex) {
    spdlog::warn("cannot write an event log entry type={} error=\"{}\"", type, ex.what());
  }
}

void Deployer::Impl::notify_nodes(const std::set<std::int64_t>& nodes, const std::string& reason) {
  for (auto n : nodes) {
    if (n == 0) continue;
    if (!agents.notify(n, std::string(protocol::kMethodServicePodsNotifyUpdate), Json::array({reason})))
      spdlog::debug("node not connected, it syncs its service pods when it comes back node={}", n);
  }
}

ServiceDeploy Deployer::Impl::queue_deploy(std::int64_t service_id, bool force, const std::string& reason,
                                           std::int64_t stack_deploy) {
  ServiceDeploy out;
  const auto now = clock.now_unix_ms();
  store.transaction([&] {
    auto s = store.service_by_id(service_id);
    if (!s) fail(ErrorKind::not_found, "service " + std::to_string(service_id) + " does not exist");
    if (s->stack_id) {
      auto stack = store.stack_by_id(s->stack_id);
      if (!stack) fail(ErrorKind::conflict, "service " + deployer::service_path(*s) + " is being removed");
      auto rev = store.stack_revision(stack->id, stack->revision);
      if (rev) {
        auto names = deployer::link_order(rev->definition, stack->name);
        if (std::find(names.begin(), names.end(), s->name) == names.end())
          fail(ErrorKind::conflict, "service " + deployer::service_path(*s) + " is not in revision " +
                                        std::to_string(stack->revision) + " of stack " + stack->name +
                                        ": it is removed when the stack is deployed");
      }
    }
    if (force) {
      s->revision += 1;
      s->updated_at = now;
    }
    s->state = "running";
    store.update_service(*s);
    ServiceDeploy d;
    d.service_id = s->id;
    d.stack_deploy_id = stack_deploy;
    d.state = "created";
    d.reason = reason.empty() ? (force ? "force" : "deploy") : reason;
    d.force = force;
    d.created_at = now;
    out = store.insert_service_deploy(d);
  });
  spdlog::info("service deploy queued id={} service={} reason={} force={}", out.id, service_id, out.reason, force);
  wake();
  return out;
}

void Deployer::Impl::remove_service_rows(const Service& s) {
  std::set<std::int64_t> nodes;
  store.transaction([&] {
    for (const auto& inst : store.instances_of_service(s.id)) nodes.insert(inst.node_id);
    store.delete_service(s.id);
  });
  {
    std::lock_guard lock(hooks_mu);
    for (auto it = done_hooks.begin(); it != done_hooks.end();)
      it = it->first.first == s.id ? done_hooks.erase(it) : std::next(it);
  }
  notify_nodes(nodes, "remove");
  event(s, 0, "", "service:remove", 1, "service " + deployer::service_path(s) + " removed");
  spdlog::info("service removed service={} nodes={}", deployer::service_path(s), nodes.size());
}

// ------------------------------------------------------------------------------------ tick

void Deployer::Impl::watch_nodes() {
  std::map<std::int64_t, std::pair<bool, std::string>> snap;
  for (const auto& g : store.grids())
    for (const auto& n : store.nodes_of_grid(g.id)) snap[n.id] = {n.connected, n.availability};
  if (snap != node_snapshot) {
    node_snapshot = std::move(snap);
    reschedule_now = true;
  }
}

void Deployer::Impl::advance_stack_deploys(TimePoint now) {
  std::set<std::int64_t> seen;
  for (auto sd : store.pending_stack_deploys()) {
    if (!seen.insert(sd.stack_id).second) continue;  // one deploy of a stack at a time, oldest first
    auto stack = store.stack_by_id(sd.stack_id);
    if (!stack) continue;
    auto end = [&](const std::string& state, const std::string& error) {
      sd.state = state;
      sd.error = error;
      sd.finished_at = unix_ms(now);
      store.update_stack_deploy(sd);
      if (state == "success") {
        store.transaction([&] {
          auto st = store.stack_by_id(sd.stack_id);
          if (!st) return;
          st->deployed_revision = std::max(st->deployed_revision, sd.revision);
          st->updated_at = unix_ms(now);
          store.update_stack(*st);
        });
      }
      spdlog::info("stack deploy finished id={} stack={} state={} error=\"{}\"", sd.id, stack->name, state, error);
    };
    try {
      auto rev = store.stack_revision(stack->id, sd.revision);
      if (!rev) {
        end("error", "revision " + std::to_string(sd.revision) + " of stack " + stack->name + " does not exist");
        continue;
      }
      auto order = deployer::link_order(rev->definition, stack->name);
      if (sd.state == "created") {
        sd.state = "ongoing";
        store.update_stack_deploy(sd);
        // Services the revision no longer has go first.
        for (const auto& s : store.services_of_grid(stack->grid_id, stack->id))
          if (std::find(order.begin(), order.end(), s.name) == order.end()) remove_service_rows(s);
      }
      auto deploys = store.deploys_of_stack_deploy(sd.id);
      std::set<std::string> started;
      bool waiting = false;
      std::string failed;
      for (const auto& d : deploys) {
        auto s = store.service_by_id(d.service_id);
        std::string name = s ? s->name : std::to_string(d.service_id);
        started.insert(name);
        if (d.state == "created" || d.state == "ongoing") waiting = true;
        else if ((d.state == "error" || d.state == "aborted") && failed.empty())
          failed = "service " + name + ": " + (d.error.empty() ? d.state : d.error);
      }
      if (!failed.empty()) {
        end("error", failed);
        continue;
      }
      if (waiting) continue;
      auto next = std::find_if(order.begin(), order.end(), [&](const std::string& n) { return !started.count(n); });
      if (next == order.end()) {
        end("success", "");
        continue;
      }
      auto svc = store.service_by_name(stack->grid_id, stack->id, *next);
      if (!svc) {
        end("error", "service " + *next + " of revision " + std::to_string(sd.revision) + " does not exist");
        continue;
      }
      queue_deploy(svc->id, false, "stack deploy", sd.id);
    } catch (const std::exception& e) {
      end("error", e.what());
    }
  }
}

void Deployer::Impl::advance_service_deploys(TimePoint now) {
  auto pending = store.pending_service_deploys();
  std::set<std::int64_t> seen, live;
  for (auto& d : pending) {
    live.insert(d.id);
    if (!seen.insert(d.service_id).second) continue;  // one deploy per service at a time, oldest first
    auto svc = store.service_by_id(d.service_id);
    if (!svc) continue;
    try {
      auto it = runs.find(d.id);
      if (it == runs.end()) {
        if (svc->state != "running") {
          finish(d, *svc, "aborted", "the service was stopped before the deploy started");
          continue;
        }
        if (d.state == "created" || d.started_at == 0) {
          d.state = "ongoing";
          d.started_at = unix_ms(now);
          // The deploy_rev (its start time) must differ from the previous deploy's, even within a ms.
          for (const auto& inst : store.instances_of_service(svc->id))
            if (auto prev = kontena::parse_time_ms(inst.deploy_rev); prev && *prev >= d.started_at)
              d.started_at = *prev + 1;
        }
        Run run;
        start_run(run, d, *svc, now);
        store.update_service_deploy(d);
        it = runs.emplace(d.id, std::move(run)).first;
      }
      if (svc->state != "running") {
        finish(d, *svc, "aborted", "the service was stopped during the deploy");
        continue;
      }
      if (now - TimePoint(milliseconds(d.started_at)) > opt.deploy_timeout) {
        finish(d, *svc, "error", "the deploy did not finish within " + format_duration(opt.deploy_timeout));
        continue;
      }
      if (step(it->second, d, *svc, now)) store.update_service_deploy(d);
    } catch (const Error& e) {
      finish(d, *svc, "error", e.what());
    } catch (const std::exception& e) {
      finish(d, *svc, "error", std::string("internal error: ") + e.what());
    }
  }
  for (auto it = runs.begin(); it != runs.end();) it = live.count(it->first) ? std::next(it) : runs.erase(it);
  {
    // Services whose deploy went away (removed with the service) hold nothing back.
    std::lock_guard lock(held_mu);
    for (auto it = held_back.begin(); it != held_back.end();) it = seen.count(it->first) ? std::next(it) : held_back.erase(it);
  }
}

bool Deployer::Impl::serving(const GridView& gv, std::int64_t service, int number) {
  for (const auto& inst : gv.instances)
    if (inst.service_id == service && inst.instance_number == number)
      return inst.desired_state == "running" && inst.state == "running" && inst.node_id != 0;
  return false;
}

void Deployer::Impl::start_run(Run& run, ServiceDeploy& d, const Service& svc, TimePoint now) {
  GridView gv = load_grid(svc.grid_id);
  run.deploy_rev = format_time_ms(d.started_at);
  std::set<std::int64_t> touched;
  std::vector<int> remove;
  bool planned = d.reason == "reschedule" && d.instances.is_array() && !d.instances.empty();
  if (planned) {
    // A reschedule: the plan's placement, as the loop recorded it.
    for (const auto& e : d.instances) {
      Item item;
      item.number = e.value("instance_number", 0);
      item.node_name = e.value("node", Json()).is_string() ? e["node"].get<std::string>() : "";
      item.state = e.value("state", std::string("pending"));
      if (item.state == "removed") {
        remove.push_back(item.number);
      } else if (item.state == "pending" || item.state == "deploying") {
        const Node* n = gv.node_named(item.node_name);
        if (!n) fail(ErrorKind::conflict, "instance " + std::to_string(item.number) + ": node " + item.node_name + " no longer exists");
        item.node = n->id;
        item.state = "pending";
        item.throttled = deployer::service_spec(svc, gv.grid).stateful || serving(gv, svc.id, item.number);
      }
      run.items.push_back(std::move(item));
    }
  } else {
    auto spec = deployer::service_spec(svc, gv.grid);
    auto nodes = scheduler_nodes(gv, svc.id, now);
    auto placement = sch::schedule(nodes, spec, current_of(gv, svc.id), rng);
    for (const auto& a : placement.instances) {
      Item item;
      item.number = a.instance_number;
      item.node = gv.nodes[a.node_index].id;
      item.node_name = gv.nodes[a.node_index].name;
      item.throttled = spec.stateful || serving(gv, svc.id, a.instance_number);
      run.items.push_back(std::move(item));
    }
    for (const auto& inst : gv.instances)
      if (inst.service_id == svc.id && inst.instance_number > placement.instance_count) {
        remove.push_back(inst.instance_number);
        Item item;
        item.number = inst.instance_number;
        if (const Node* n = gv.node(inst.node_id)) item.node_name = n->name;
        item.state = "removed";
        run.items.push_back(std::move(item));
      }
  }
  for (int number : remove) {
    auto inst = store.instance(svc.id, number);
    if (!inst) continue;
    store.delete_instance(svc.id, number);
    touched.insert(inst->node_id);
    const Node* n = gv.node(inst->node_id);
    event(svc, number, n ? n->name : "", "service:remove_instance", 1,
          "instance " + std::to_string(number) + " removed (scale down)");
  }
  notify_nodes(touched, "deploy");
  int count = 0;
  std::set<int> waiting;
  for (const auto& i : run.items) {
    count += i.state != "removed";
    if (i.state == "pending") waiting.insert(i.number);
  }
  hold_back(svc.id, std::move(waiting));
  run.limit = deployer::max_in_flight(count, deployer::min_health(svc.spec));
  d.instances = items_json(run.items);
  if (const Json* secrets = svc.spec.contains("secrets") ? &svc.spec["secrets"] : nullptr;
      secrets && secrets->is_array() && !secrets->empty())
    event(svc, 0, "", "service:deploy", 2,
          "secrets are not delivered: the vault does not exist yet (" + std::to_string(secrets->size()) +
              " secret(s) skipped)");
  event(svc, 0, "", "service:deploy", 1,
        "deploy " + std::to_string(d.id) + " started (" + d.reason + "): " + std::to_string(count) + " instance(s), " +
            std::to_string(run.limit) + " at a time");
  spdlog::info("service deploy started id={} service={} instances={} in_flight={} reason={}", d.id,
               deployer::service_path(svc), count, run.limit, d.reason);
}

bool Deployer::Impl::step(Run& run, ServiceDeploy& d, const Service& svc, TimePoint now) {
  bool changed = false;
  std::set<std::int64_t> touched;
  auto fail_item = [&](Item& item, const std::string& why) {
    item.state = "error";
    item.error = why;
    d.instances = items_json(run.items);
    notify_nodes(touched, "deploy");
    throw Error(ErrorKind::conflict,
                "instance " + std::to_string(item.number) + " on " + (item.node_name.empty() ? "?" : item.node_name) +
                    ": " + why);
  };
  for (bool progress = true; progress;) {
    progress = false;
    int in_flight = 0;            // every instance being deployed (at most kMaxInFlight)
    int throttled_in_flight = 0;  // those that count against min_health (at most run.limit)
    for (auto& item : run.items) {
      if (item.state != "deploying") continue;
      auto inst = store.instance(svc.id, item.number);
      if (!inst) fail_item(item, "the instance was removed during the deploy");
      if (inst->node_id == item.node && inst->rev == run.deploy_rev) {
        if (!inst->error.empty()) fail_item(item, inst->error);
        if (inst->state == "running") {
          item.state = "running";
          changed = progress = true;
          event(svc, item.number, item.node_name, "service:deploy_instance", 1,
                "instance " + std::to_string(item.number) + " running on " + item.node_name);
          continue;
        }
      }
      if (now - item.started >= opt.instance_timeout) {
        std::string why = "no running report from the agent within " + format_duration(opt.instance_timeout);
        if (!agents.connected(item.node)) why += " (node " + item.node_name + " is offline)";
        else if (inst->rev == run.deploy_rev && !inst->state.empty()) why += " (state " + inst->state + ")";
        fail_item(item, why);
      }
      ++in_flight;
      throttled_in_flight += item.throttled;
    }
    for (auto& item : run.items) {
      if (in_flight >= deployer::kMaxInFlight) break;
      if (item.state != "pending") continue;
      if (item.throttled && throttled_in_flight >= run.limit) continue;
      const auto now_ms = unix_ms(now);
      std::int64_t old_node = 0;
      bool placed = false;
      store.transaction([&] {
        // Stopped or removed since this tick began: place nothing more (the next tick aborts).
        auto current = store.service_by_id(svc.id);
        if (!current || current->state != "running") return;
        auto inst = store.instance(svc.id, item.number);
        ServiceInstance row;
        if (inst) row = *inst;
        else {
          row.service_id = svc.id;
          row.instance_number = item.number;
          row.created_at = now_ms;
        }
        old_node = row.node_id;
        if (row.node_id != item.node) {
          row.state.clear();
          row.error.clear();
          row.rev.clear();
          row.health.clear();
          row.reported_at = 0;
        }
        row.node_id = item.node;
        row.desired_state = "running";
        row.deploy_rev = run.deploy_rev;
        row.updated_at = now_ms;
        store.upsert_instance(row);
        placed = true;
      });
      if (!placed) break;
      release(svc.id, item.number);
      if (old_node && old_node != item.node) touched.insert(old_node);
      touched.insert(item.node);
      item.state = "deploying";
      item.started = now;
      ++in_flight;
      throttled_in_flight += item.throttled;
      changed = progress = true;
    }
  }
  notify_nodes(touched, "deploy");
  bool all = std::all_of(run.items.begin(), run.items.end(),
                         [](const Item& i) { return i.state == "running" || i.state == "removed"; });
  d.instances = items_json(run.items);
  if (all) {
    finish(d, svc, "success", "");
    return false;  // finish() wrote the row
  }
  return changed;
}

void Deployer::Impl::finish(ServiceDeploy& d, const Service& svc, const std::string& state, const std::string& error) {
  const auto now = clock.now_unix_ms();
  d.state = state;
  d.error = error;
  d.finished_at = now;
  if (d.started_at == 0) d.started_at = now;
  store.update_service_deploy(d);
  runs.erase(d.id);
  release(svc.id);
  if (state == "success") {
    store.transaction([&] {
      auto s = store.service_by_id(svc.id);
      if (!s) return;
      s->deployed_at = now;
      store.update_service(*s);
    });
    event(svc, 0, "", "service:deploy", 1, "deploy " + std::to_string(d.id) + " finished");
  } else {
    event(svc, 0, "", "service:deploy", 3, "deploy " + std::to_string(d.id) + " " + state + ": " + error);
  }
  spdlog::info("service deploy finished id={} service={} state={} error=\"{}\"", d.id, deployer::service_path(svc),
               state, error);
  wake();  // a stack deploy may go on with its next service
}

bool Deployer::Impl::note_once(std::int64_t service, int instance, const std::string& text) {
  auto& last = reported[{service, instance}];
  if (last == text) return false;
  last = text;
  return true;
}

void Deployer::Impl::reschedule(TimePoint now) {
  std::set<std::int64_t> busy_services, busy_stacks;
  for (const auto& d : store.pending_service_deploys()) busy_services.insert(d.service_id);
  for (const auto& d : store.pending_stack_deploys()) busy_stacks.insert(d.stack_id);
  for (const auto& g : store.grids()) {
    GridView gv;
    try {
      gv = load_grid(g.id);
    } catch (const std::exception& e) {
      spdlog::warn("reschedule cannot read a grid grid={} error=\"{}\"", g.name, e.what());
      continue;
    }
    for (const auto& [id, svc] : gv.services) {
      if (svc.state != "running" || busy_services.count(id) || (svc.stack_id && busy_stacks.count(svc.stack_id)))
        continue;
      try {
        reschedule_service(gv, svc, now);
      } catch (const std::exception& e) {
        spdlog::warn("reschedule failed service={} error=\"{}\"", deployer::service_path(svc), e.what());
      }
    }
  }
}

void Deployer::Impl::reschedule_service(const GridView& gv, const Service& svc, TimePoint now) {
  auto last = store.deploys_of_service(svc.id, 1);
  // Never deployed, or a user's deploy of it failed: the user deploys it again (no retry loop
  // every interval). A failed reschedule is retried: that is what keeps services placed.
  if (last.empty() || (last.front().state == "error" && last.front().reason != "reschedule")) return;
  // deploy.interval: redeploy when it has elapsed since the last successful deploy.
  if (const Json* d = svc.spec.contains("deploy") ? &svc.spec["deploy"] : nullptr; d && d->is_object()) {
    auto it = d->find("interval");
    if (it != d->end() && it->is_number() && it->get<double>() > 0 && svc.deployed_at > 0 &&
        unix_ms(now) >= svc.deployed_at + static_cast<std::int64_t>(it->get<double>() * 1000)) {
      queue_deploy(svc.id, false, "interval", 0);
      return;
    }
  }
  auto nodes = scheduler_nodes(gv, svc.id, now);
  auto spec = deployer::service_spec(svc, gv.grid);
  sch::PlanOptions po;
  po.grace = opt.grace;
  auto plan = sch::plan(nodes, spec, current_of(gv, svc.id), now, rng, po);
  if (plan.next_check) {
    auto at = std::max(*plan.next_check, now + opt.tick);
    next_reschedule = std::min(next_reschedule, at);
  }
  auto node_name = [&](const std::string& key) -> std::string {
    for (const auto& n : gv.nodes)
      if (deployer::node_key(n.id) == key) return n.name;
    return "";
  };
  const std::string path = deployer::service_path(svc);

  // Stateful instances on drained nodes stop; they start again once no longer held.
  std::map<int, const sch::Held*> held;
  for (const auto& h : plan.held) held[h.instance_number] = &h;
  std::set<std::int64_t> touched;
  for (const auto& inst : gv.instances) {
    if (inst.service_id != svc.id) continue;
    auto h = held.find(inst.instance_number);
    bool stop = h != held.end() && h->second->stop;
    std::string want = inst.desired_state;
    if (stop && inst.desired_state == "running") want = "stopped";
    else if (!stop && inst.desired_state == "stopped") want = "running";
    if (want != inst.desired_state) {
      bool done = false;
      store.transaction([&] {
        auto row = store.instance(svc.id, inst.instance_number);
        if (!row || row->desired_state != inst.desired_state) return;
        row->desired_state = want;
        row->updated_at = unix_ms(now);
        store.upsert_instance(*row);
        done = true;
      });
      if (!done) continue;
      touched.insert(inst.node_id);
      std::string node = node_name(deployer::node_key(inst.node_id));
      std::string why = want == "stopped" ? "instance " + std::to_string(inst.instance_number) + " of " + path +
                                                " stopped: " + h->second->reason +
                                                " (stateful instances are not moved automatically)"
                                          : "instance " + std::to_string(inst.instance_number) + " of " + path +
                                                " started again: node " + node + " is usable again";
      event(svc, inst.instance_number, node, "scheduler", want == "stopped" ? 2 : 1, why);
      spdlog::info("scheduler {}", why);
    } else if (h != held.end() && !stop) {
      std::string why = "instance " + std::to_string(inst.instance_number) + " of " + path + " stays on node " +
                        node_name(h->second->node_id) + ": " + h->second->reason;
      if (note_once(svc.id, inst.instance_number, why)) event(svc, inst.instance_number, "", "scheduler", 2, why);
    }
  }
  notify_nodes(touched, "scheduler");
  for (const auto& u : plan.unplaced)
    if (note_once(svc.id, u.instance_number, u.error.what()))
      event(svc, u.instance_number, "", "scheduler", 3, std::string(u.error.what()));

  if (plan.moves.empty() && plan.removals.empty()) return;
  std::map<int, const sch::Move*> moved;
  for (const auto& m : plan.moves) moved[m.instance_number] = &m;
  Json items = Json::array();
  for (const auto& a : plan.desired) {
    bool moves = moved.count(a.instance_number) > 0;
    items.push_back({{"instance_number", a.instance_number},
                     {"node", gv.nodes[a.node_index].name},
                     {"state", moves ? "pending" : "running"},
                     {"error", nullptr}});
  }
  for (const auto& r : plan.removals) {
    std::string name = node_name(r.node_id);
    items.push_back({{"instance_number", r.instance_number},
                     {"node", name.empty() ? Json() : Json(name)},
                     {"state", "removed"},
                     {"error", nullptr}});
  }
  ServiceDeploy d;
  d.service_id = svc.id;
  d.state = "created";
  d.reason = "reschedule";
  d.instances = items;
  d.created_at = unix_ms(now);
  d = store.insert_service_deploy(d);
  for (const auto& m : plan.moves) {
    std::string from = node_name(m.from_node), to = node_name(m.to_node);
    std::string why;
    switch (m.reason) {
      case sch::MoveReason::new_instance: why = "new instance"; break;
      case sch::MoveReason::node_removed: why = "its node was removed"; break;
      case sch::MoveReason::node_offline:
        why = "node " + from + " has been offline for more than " + format_duration(opt.grace.of(spec.strategy));
        break;
      case sch::MoveReason::node_drained: why = "node " + from + " is drained"; break;
      case sch::MoveReason::node_unfit: why = m.detail.empty() ? "node " + from + " no longer fits" : m.detail; break;
    }
    std::string text = "instance " + std::to_string(m.instance_number) + " of " + path +
                       (from.empty() ? " placed on " + to : " moves from " + from + " to " + to) + ": " + why;
    event(svc, m.instance_number, to, "scheduler", m.reason == sch::MoveReason::new_instance ? 1 : 2, text);
    spdlog::info("scheduler {}", text);
    reported.erase({svc.id, m.instance_number});
  }
  for (const auto& r : plan.removals)
    event(svc, r.instance_number, node_name(r.node_id), "scheduler", 1,
          "instance " + std::to_string(r.instance_number) + " of " + path + " is removed");
  spdlog::info("reschedule deploy queued id={} service={} moves={} removals={}", d.id, path, plan.moves.size(),
               plan.removals.size());
  wake();
}

// ------------------------------------------------------------------------------------ Deployer

Deployer::Deployer(Store& store, const Clock& clock, AgentLink& agents, DeployerOptions options)
    : impl_(std::make_unique<Impl>(store, clock, agents, std::move(options))) {}

Deployer::~Deployer() { stop(); }

void Deployer::tick(std::chrono::system_clock::time_point now) {
  auto& m = *impl_;
  std::lock_guard lock(m.work_mu);
  if (!m.first_tick) {
    m.first_tick = now;
    m.next_reschedule = now + m.opt.reschedule_interval;
  }
  auto guard = [](const char* what, auto&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::warn("deployer {} failed error=\"{}\"", what, e.what());
    }
  };
  // Wakes (agent reports) come often during deploys: the nodes are polled once per tick period.
  if (!m.last_watch || now - *m.last_watch >= m.opt.tick || now < *m.last_watch) {
    m.last_watch = now;
    guard("node watch", [&] { m.watch_nodes(); });
  }
  guard("stack deploys", [&] { m.advance_stack_deploys(now); });
  guard("service deploys", [&] { m.advance_service_deploys(now); });
  if (m.reschedule_now.exchange(false) || now >= m.next_reschedule) {
    m.next_reschedule = now + m.opt.reschedule_interval;
    guard("reschedule", [&] { m.reschedule(now); });
  }
}

void Deployer::start() {
  auto& m = *impl_;
  if (m.thread.joinable()) return;
  {
    std::lock_guard lock(m.wake_mu);
    m.stopping = false;
  }
  m.thread = std::thread([this, &m] {
    spdlog::info("deployer started tick_ms={} reschedule_interval_ms={}", m.opt.tick.count(),
                 m.opt.reschedule_interval.count());
    while (true) {
      {
        std::unique_lock lock(m.wake_mu);
        m.wake_cv.wait_for(lock, m.opt.tick, [&] { return m.woken || m.stopping; });
        if (m.stopping) break;
        m.woken = false;
      }
      tick(m.clock.now());
    }
  });
}

void Deployer::stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.wake_mu);
    m.stopping = true;
  }
  m.wake_cv.notify_all();
  if (m.thread.joinable()) m.thread.join();
}

void Deployer::wake() { impl_->wake(); }

ServiceDeploy Deployer::deploy_service(const Service& service, bool force, const std::string& reason) {
  return impl_->queue_deploy(service.id, force, reason, 0);
}

StackDeploy Deployer::deploy_stack(const Stack& stack) {
  auto& m = *impl_;
  StackDeploy out;
  m.store.transaction([&] {
    auto st = m.store.stack_by_id(stack.id);
    if (!st) fail(ErrorKind::not_found, "stack " + stack.name + " does not exist");
    StackDeploy sd;
    sd.stack_id = st->id;
    sd.revision = st->revision;
    sd.state = "created";
    sd.created_at = m.clock.now_unix_ms();
    out = m.store.insert_stack_deploy(sd);
  });
  spdlog::info("stack deploy queued id={} stack={} revision={}", out.id, stack.name, out.revision);
  m.wake();
  return out;
}

void Deployer::stop_service(const Service& service) {
  auto& m = *impl_;
  std::set<std::int64_t> nodes;
  const auto now = m.clock.now_unix_ms();
  Service s = service;
  m.store.transaction([&] {
    auto row = m.store.service_by_id(service.id);
    if (!row) fail(ErrorKind::not_found, "service " + deployer::service_path(service) + " does not exist");
    s = *row;
    s.state = "stopped";
    s.updated_at = now;
    m.store.update_service(s);
    for (auto inst : m.store.instances_of_service(s.id)) {
      nodes.insert(inst.node_id);
      if (inst.desired_state != "running") continue;
      inst.desired_state = "stopped";
      inst.updated_at = now;
      m.store.upsert_instance(inst);
    }
  });
  m.notify_nodes(nodes, "stop");
  m.event(s, 0, "", "service:stop", 1, "service " + deployer::service_path(s) + " stopped");
}

void Deployer::start_service(const Service& service) {
  auto& m = *impl_;
  std::set<std::int64_t> nodes;
  const auto now = m.clock.now_unix_ms();
  Service s = service;
  bool none = false;
  m.store.transaction([&] {
    auto row = m.store.service_by_id(service.id);
    if (!row) fail(ErrorKind::not_found, "service " + deployer::service_path(service) + " does not exist");
    s = *row;
    s.state = "running";
    s.updated_at = now;
    m.store.update_service(s);
    auto instances = m.store.instances_of_service(s.id);
    none = instances.empty();
    for (auto inst : instances) {
      nodes.insert(inst.node_id);
      if (inst.desired_state == "running") continue;
      inst.desired_state = "running";
      inst.updated_at = now;
      m.store.upsert_instance(inst);
    }
  });
  m.notify_nodes(nodes, "start");
  m.event(s, 0, "", "service:start", 1, "service " + deployer::service_path(s) + " started");
  // Never deployed: starting it means deploying it.
  if (none) m.queue_deploy(s.id, false, "start", 0);
}

void Deployer::restart_service(const Service& service) {
  auto& m = *impl_;
  for (const auto& inst : m.store.instances_of_service(service.id)) {
    if (inst.node_id == 0) continue;
    m.agents.notify(inst.node_id, "/service_pods/restart",
                    Json::array({{{"service_id", std::to_string(service.id)}, {"instance_number", inst.instance_number}}}));
  }
  m.event(service, 0, "", "service:restart", 1, "service " + deployer::service_path(service) + " restarted");
}

void Deployer::remove_service(const Service& service) { impl_->remove_service_rows(service); }

void Deployer::remove_stack(const Stack& stack) {
  auto& m = *impl_;
  for (const auto& s : m.store.services_of_grid(stack.grid_id, stack.id)) m.remove_service_rows(s);
  m.store.delete_stack(stack.id);
  EventLog e;
  e.grid_id = stack.grid_id;
  e.stack = stack.name;
  e.type = "stack:remove";
  e.message = "stack " + stack.name + " removed";
  e.created_at = m.clock.now_unix_ms();
  try {
    m.store.append_events({e});
  } catch (const std::exception&) {
  }
  spdlog::info("stack removed stack={}", stack.name);
}

void Deployer::node_availability_changed(const Node& node) {
  spdlog::info("node availability changed, rescheduling node={} availability={}", node.name, node.availability);
  impl_->reschedule_now = true;
  impl_->wake();
}

nlohmann::json Deployer::exec(const Node& node, const std::string& container, const std::vector<std::string>& cmd,
                              std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  if (!m.agents.connected(node.id)) fail(ErrorKind::unavailable, "node " + node.name + " is offline");
  auto secs = std::max<long long>(1, (timeout.count() + 999) / 1000);
  Json params = Json::array({{{"container", container}, {"cmd", cmd}, {"timeout", secs}}});
  auto wait = timeout + std::chrono::seconds(5);
  auto fut = m.agents.call(node.id, "/containers/exec", std::move(params), wait);
  if (fut.wait_for(wait + std::chrono::seconds(5)) != std::future_status::ready)
    fail(ErrorKind::unavailable, "node " + node.name + " did not answer the exec within " + format_duration(wait));
  auto r = fut.get();
  if (r.ok()) return r.result.is_null() ? Json::object() : r.result;
  int code = r.error.is_object() ? r.error.value("code", 500) : 500;
  std::string message = r.error.is_object() ? r.error.value("message", std::string()) : r.error.dump();
  switch (code) {
    case 404: fail(ErrorKind::not_found, message.empty() ? "container " + container + " not found" : message);
    case 400: fail(ErrorKind::invalid, message);
    case 503:
      if (!m.agents.connected(node.id)) fail(ErrorKind::unavailable, "node " + node.name + " is offline");
      fail(ErrorKind::unavailable, "node " + node.name + ": " + message);
    default: fail(ErrorKind::internal, "exec on node " + node.name + " failed: " + message);
  }
}

}  // namespace kontena::master
