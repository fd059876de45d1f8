#include "agent/pods/plan.h"

#include <algorithm>
#include <charconv>

namespace kontena::agent::pods {

namespace {

std::optional<long long> parse_ll(const std::string& s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string label(const Observed& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

std::chrono::seconds grace_of(const Observed& c, const ServicePod* pod) {
  if (pod) return std::chrono::seconds(pod->stop_grace_period);
  if (auto g = parse_ll(label(c, protocol::kLabelStopGracePeriod)); g && *g >= 0) return std::chrono::seconds(*g);
  return std::chrono::seconds(10);
}

bool is_running(const Observed& c) { return c.state == "running" || c.state == "restarting" || c.state == "paused"; }

// Why the container no longer matches the pod (empty: it does).
std::string outdated(const ServicePod& pod, const Observed& c, const std::map<std::string, std::string>& image_ids) {
  auto rev = parse_ll(label(c, protocol::kLabelServiceRevision));
  if (!rev || *rev < pod.service_revision)
    return "service revision " + (rev ? std::to_string(*rev) : std::string("?")) + " < " +
           std::to_string(pod.service_revision);
  if (label(c, protocol::kLabelDeployRev) != pod.deploy_rev) {
    auto it = image_ids.find(pod.image);
    if (it != image_ids.end() && !it->second.empty() && it->second != c.image_id)
      return "new deploy with a different image id (" + pod.image + ")";
  }
  return {};
}

}  // namespace

PodKey key_of(const ServicePod& pod) { return {pod.service_id, pod.instance_number}; }

std::optional<PodKey> key_of(const std::map<std::string, std::string>& labels) {
  auto id = labels.find(protocol::kLabelServiceId);
  auto n = labels.find(protocol::kLabelInstanceNumber);
  if (id == labels.end() || n == labels.end() || id->second.empty()) return std::nullopt;
  auto num = parse_ll(n->second);
  if (!num || *num < 1 || *num > 1'000'000) return std::nullopt;
  return PodKey{id->second, static_cast<int>(*num)};
}

const char* to_string(ActionKind kind) {
  switch (kind) {
    case ActionKind::create: return "create";
    case ActionKind::start: return "start";
    case ActionKind::recreate: return "recreate";
    case ActionKind::restart: return "restart";
    case ActionKind::stop: return "stop";
    case ActionKind::remove: return "remove";
  }
  return "?";
}

std::chrono::seconds backoff_delay(int restarts, std::chrono::seconds cap) {
  if (restarts <= 0) return std::chrono::seconds(0);
  long long r = restarts;
  if (r > 1000) return cap;
  return std::min(std::chrono::seconds(r * r), cap);
}

Plan plan(const PlanInput& in) {
  Plan out;
  out.runtime = in.runtime;
  auto due = [&](TimePoint t) {
    if (!out.next_due || t < *out.next_due) out.next_due = t;
  };

  // Group the containers by pod; keep the best one per pod (the expected name first, then a
  // running one, then the newest), the others are extra.
  std::map<PodKey, std::vector<const Observed*>> by_key;
  for (const auto& c : in.observed) {
    auto k = key_of(c.labels);
    if (!k) continue;  // not ours to touch
    by_key[*k].push_back(&c);
  }
  std::map<PodKey, int> desired_index;
  for (int i = 0; i < static_cast<int>(in.desired.size()); ++i) desired_index.emplace(key_of(in.desired[i]), i);

  std::map<PodKey, const Observed*> chosen;
  for (auto& [k, list] : by_key) {
    auto di = desired_index.find(k);
    std::string expected = di == desired_index.end() ? std::string() : protocol::container_name(in.desired[di->second]);
    std::sort(list.begin(), list.end(), [&](const Observed* a, const Observed* b) {
      auto rank = [&](const Observed* c) {
        return std::make_tuple(c->name == expected ? 0 : 1, is_running(*c) ? 0 : 1, -c->created, c->id);
      };
      return rank(a) < rank(b);
    });
    chosen[k] = list.front();
    for (std::size_t i = 1; i < list.size(); ++i) {
      const Observed& c = *list[i];
      const ServicePod* pod = di == desired_index.end() ? nullptr : &in.desired[di->second];
      out.actions.push_back({ActionKind::remove, k, di == desired_index.end() ? -1 : di->second, c.id, c.name,
                             grace_of(c, pod), is_running(c), "duplicate container of the pod"});
    }
  }

  // Containers no pod wants: stop and remove. (Terminated pods are handled below.)
  for (auto& [k, c] : chosen) {
    if (desired_index.count(k)) continue;
    out.actions.push_back({ActionKind::remove, k, -1, c->id, c->name, grace_of(*c, nullptr), is_running(*c),
                           "not desired on this node"});
    out.runtime.erase(k);
  }
  // Forget pods that are neither desired nor found.
  for (auto it = out.runtime.begin(); it != out.runtime.end();) {
    if (!desired_index.count(it->first) && !chosen.count(it->first))
      it = out.runtime.erase(it);
    else
      ++it;
  }

  for (int i = 0; i < static_cast<int>(in.desired.size()); ++i) {
    const ServicePod& pod = in.desired[i];
    PodKey k = key_of(pod);
    auto ci = chosen.find(k);
    const Observed* c = ci == chosen.end() ? nullptr : ci->second;
    PodRuntime& rt = out.runtime[k];
    PodStatus st{k, i, "missing", c ? c->id : std::string(), false};

    if (c && rt.container_id != c->id) {
      // Another container than the one remembered: start the bookkeeping afresh (keeping the
      // failure count only when the agent had no container for the pod).
      int keep = rt.container_id.empty() ? rt.restarts : 0;
      rt = PodRuntime{};
      rt.container_id = c->id;
      rt.restarts = keep;
    }

    if (pod.desired_state == "terminated") {
      if (c)
        out.actions.push_back({ActionKind::remove, k, i, c->id, c->name, grace_of(*c, &pod), is_running(*c),
                               "pod terminated"});
      out.statuses.push_back(st);
      out.runtime.erase(k);
      continue;
    }

    if (pod.desired_state == "stopped") {
      rt.restarts = 0;
      rt.down_since.reset();
      rt.running_since.reset();
      rt.unhealthy = false;
      rt.health_known = false;
      rt.restarted_unhealthy = false;
      rt.next_health_check.reset();
      rt.port_wait_deadline.reset();
      if (c) {
        st.state = "stopped";
        if (is_running(*c))
          out.actions.push_back({ActionKind::stop, k, i, c->id, c->name, grace_of(*c, &pod), true,
                                 "desired state stopped"});
      }
      out.statuses.push_back(st);
      continue;
    }

    // desired running
    if (!c) {
      if (rt.down_since) {  // an earlier attempt failed: backoff
        TimePoint at = *rt.down_since + backoff_delay(rt.restarts, in.options.backoff_cap);
        if (in.now < at) {
          st.waiting = true;
          st.state = "missing";
          due(at);
          out.statuses.push_back(st);
          continue;
        }
      }
      out.actions.push_back({ActionKind::create, k, i, "", protocol::container_name(pod),
                             std::chrono::seconds(pod.stop_grace_period), false, "no container"});
      out.statuses.push_back(st);
      continue;
    }

    if (std::string why = outdated(pod, *c, in.image_ids); !why.empty()) {
      out.actions.push_back({ActionKind::recreate, k, i, c->id, c->name, grace_of(*c, &pod), is_running(*c), why});
      out.statuses.push_back(st);
      continue;
    }

    if (is_running(*c)) {
      st.state = c->state == "restarting" ? "restarting" : "running";
      rt.down_since.reset();
      if (!rt.running_since) rt.running_since = in.now;
      if (in.now - *rt.running_since >= in.options.backoff_reset_after) rt.restarts = 0;
      if (rt.unhealthy && c->state == "running") {
        out.actions.push_back({ActionKind::restart, k, i, c->id, c->name, grace_of(*c, &pod), true,
                               "health check failed"});
      }
      out.statuses.push_back(st);
      continue;
    }

    // created | exited | dead | removing: down.
    st.state = "restarting";
    if (c->state == "removing") {  // Docker is removing it: look again soon
      due(in.now + std::chrono::seconds(1));
      st.waiting = true;
      out.statuses.push_back(st);
      continue;
    }
    if (!rt.down_since) {
      rt.down_since = in.now;
      bool long_run = (c->last_run && *c->last_run >= in.options.backoff_reset_after) ||
                      (!c->last_run && rt.running_since && in.now - *rt.running_since >= in.options.backoff_reset_after);
      if (long_run) rt.restarts = 0;
      rt.running_since.reset();
      rt.unhealthy = false;
      rt.health_known = false;
      rt.restarted_unhealthy = false;
      rt.next_health_check.reset();
    }
    TimePoint at = *rt.down_since + backoff_delay(rt.restarts, in.options.backoff_cap);
    if (in.now < at) {
      st.waiting = true;
      due(at);
      out.statuses.push_back(st);
      continue;
    }
    ActionKind kind = c->state == "dead" ? ActionKind::recreate : ActionKind::start;
    out.actions.push_back({kind, k, i, c->id, c->name, grace_of(*c, &pod), false,
                           c->state == "created" ? "created, not started" : "container " + c->state});
    out.statuses.push_back(st);
  }
  return out;
}

}  // namespace kontena::agent::pods
