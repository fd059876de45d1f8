// /v1/config (master configuration) and /v1/audit_logs, both master_admin only.
#include "common/error.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/validation.h"
#include "master/api/views.h"

namespace kontena::master {

namespace {
constexpr std::size_t kMaxConfigValue = 64 * 1024;
const char* kHiddenKey = "server.salt";

void require_admin(const ApiCall& call) {
  require(is_master_admin(call.user()), "the master configuration needs the master_admin role");
}

Json visible_config(Store& store) {
  Json out = Json::object();
  for (const auto& [k, v] : store.config())
    if (k != kHiddenKey) out[k] = v;
  return out;
}

// Validates every key/value of a PATCH/PUT body before anything is written.
std::map<std::string, std::optional<std::string>> config_changes(const Json& body, bool allow_null) {
  std::map<std::string, std::optional<std::string>> changes;
  for (auto it = body.begin(); it != body.end(); ++it) {
    validate_config_key(it.key());
    if (it->is_null() && allow_null) {
      changes[it.key()] = std::nullopt;
      continue;
    }
    if (!it->is_string()) invalid(it.key(), "config value of \"" + it.key() + "\" must be a string");
    if (it->get_ref<const std::string&>().size() > kMaxConfigValue)
      invalid(it.key(), "config value of \"" + it.key() + "\" is larger than 64 KiB");
    changes[it.key()] = it->get<std::string>();
  }
  return changes;
}
}  // namespace

void add_config_routes(Router& r, ApiServices& s) {
  r.add("GET", "/v1/config", {}, [&s](ApiCall& call) {
    require_admin(call);
    return ApiResult{200, visible_config(s.store)};
  });
  r.add("PATCH", "/v1/config", {true, "config", "patch"}, [&s](ApiCall& call) {
    require_admin(call);
    auto changes = config_changes(call.body, true);
    s.store.transaction([&] {
      for (const auto& [k, v] : changes) v ? s.store.set_config(k, *v) : s.store.unset_config(k);
    });
    return ApiResult{200, visible_config(s.store)};
  });
  r.add("PUT", "/v1/config", {true, "config", "update"}, [&s](ApiCall& call) {
    require_admin(call);
    auto changes = config_changes(call.body, false);
    s.store.transaction([&] {
      for (const auto& [k, v] : s.store.config())
        if (k != kHiddenKey && !changes.count(k)) s.store.unset_config(k);
      for (const auto& [k, v] : changes) s.store.set_config(k, *v);
    });
    return ApiResult{200, visible_config(s.store)};
  });
  r.add("GET", "/v1/config/:key", {}, [&s](ApiCall& call) {
    require_admin(call);
    const auto& key = call.param("key");
    auto config = s.store.config();
    auto it = config.find(key);
    if (it == config.end() || key == kHiddenKey) fail(ErrorKind::not_found, "config key \"" + key + "\" is not set");
    return ApiResult{200, {{key, it->second}}};
  });
  r.add("PUT", "/v1/config/:key", {true, "config", "update"}, [&s](ApiCall& call) {
    require_admin(call);
    const auto& key = call.param("key");
    call.audit.resource_name = key;
    validate_config_key(key);
    Fields f(call.body);
    auto value = f.string("value", false, kMaxConfigValue);
    if (!value) invalid("value", "value is required (a string)");
    f.reject_unknown();
    s.store.set_config(key, *value);
    return ApiResult{200, {{key, *value}}};
  });
  r.add("DELETE", "/v1/config/:key", {true, "config", "delete"}, [&s](ApiCall& call) {
    require_admin(call);
    call.audit.resource_name = call.param("key");
    s.store.unset_config(call.param("key"));
    return ApiResult{200, Json::object()};
  });

  r.add("GET", "/v1/audit_logs", {}, [&s](ApiCall& call) {
    require(is_master_admin(call.user()), "the audit log needs the master_admin role");
    int limit = limit_param(call, 500, 3000);
    Json logs = Json::array();
    for (const auto& e : s.store.audit_entries("", limit)) logs.push_back(audit_json(e));
    return ApiResult{200, {{"logs", logs}}};
  });
}

}  // namespace kontena::master
