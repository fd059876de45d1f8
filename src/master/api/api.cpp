#include "master/api/api.h"

#include "common/error.h"
#include "common/log.h"
#include "master/api/fields.h"

namespace kontena::master {

namespace {

bool is_mutating(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

HttpResponse json_response(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

HttpResponse error_response(int status, const std::string& message, const std::string& field = {}) {
  Json body{{"error", message}};
  if (!field.empty()) body["field"] = field;
  auto r = json_response(status, body);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"kontena\"");
  if (status == 429) r.headers.emplace_back("Retry-After", "60");
  return r;
}

// Secrets never reach the audit log.
Json redact(const Json& body) {
  // Stack definitions and service specs: variables (resolved, maybe from the vault), the stack
  // file's source and environments often hold credentials.
  static const char* secret_keys[] = {"token",  "code",      "refresh_token", "access_token", "password", "value",
                                      "secret", "variables", "source",        "environment",  "env"};
  if (!body.is_object()) return body;
  Json out = body;
  for (const char* key : secret_keys)
    if (out.contains(key)) out[key] = "[redacted]";
  return out;
}

}  // namespace

MasterApi::MasterApi(Store& store, const Clock& clock, NodeEvents* node_events, ServiceControl* service_control)
    : store_(store),
      clock_(clock),
      auth_(store, clock),
      token_rate_(clock, 60, 60'000),
      services_{store_, auth_, clock_, token_rate_, node_events, service_control} {
  router_.add("GET", "/", {false, "", ""}, [](ApiCall&) {
    return ApiResult{200, {{"name", "Kontena Master"},
                           {"tagline", "The maritime friendly container platform"},
                           {"version", KONTENA_VERSION}}};
  });
  router_.add("GET", "/v1/ping", {false, "", ""}, [this](ApiCall&) {
    store_.schema_version();  // throws unavailable when the database cannot answer
    return ApiResult{200, {{"message", "pong"}}};
  });
  add_auth_routes(router_, services_);
  add_user_routes(router_, services_);
  add_config_routes(router_, services_);
  add_grid_routes(router_, services_);
  add_node_routes(router_, services_);
  add_stack_routes(router_, services_);
  add_service_routes(router_, services_);
  add_container_routes(router_, services_);
  add_log_routes(router_, services_);
  add_etcd_routes(router_, services_);
}

HttpResponse MasterApi::handle(const HttpRequest& request) {
  auto match = router_.match(request.method, request.path);
  if (!match.route) {
    if (match.other_method_matched)
      return error_response(405, "method " + request.method + " is not allowed on " + request.path);
    return error_response(404, "no such route: " + request.method + " " + request.path + " (see docs/api.md)");
  }
  const auto& route = *match.route;
  ApiCall call{request, std::move(match.params), std::nullopt, {}, Json::object()};
  call.audit.resource_type = route.options.resource_type;
  call.audit.event_name = route.options.event_name;
  if (auto it = call.params.find("grid"); it != call.params.end()) call.audit.grid = it->second;

  int status = 500;
  std::string error_message;
  HttpResponse response;
  try {
    if (route.options.authenticated) call.principal = auth_.authenticate(request.header("authorization"));
    if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH")
      call.body = parse_body(request.body);
    ApiResult result = route.handler(call);
    status = result.status;
    response = json_response(result.status, result.body);
  } catch (const Error& e) {
    status = http_status(e.kind());
    error_message = e.what();
    // 503: a dependency (deployer, node, store) cannot answer now; expected, not a bug.
    if (status == 503) spdlog::warn("request unavailable method={} path={} error={}", request.method, request.path, e.what());
    else if (status >= 500) spdlog::error("request failed method={} path={} error={}", request.method, request.path, e.what());
    response = error_response(status, e.what(), e.field());
  } catch (const Json::exception& e) {
    // A JSON shape the handler did not expect: the client's input, not our bug.
    status = 422;
    error_message = std::string("request body has an unexpected shape: ") + e.what();
    response = error_response(status, error_message);
  } catch (const std::exception& e) {
    status = 500;
    error_message = e.what();
    spdlog::error("request failed method={} path={} error={}", request.method, request.path, e.what());
    response = error_response(500, "internal error: see the master's log");
  }
  if (is_mutating(request.method)) audit(call, route, status, error_message);
  return response;
}

void MasterApi::audit(const ApiCall& call, const Router::Route& route, int status, const std::string& error) {
  AuditEntry e;
  e.created_at = clock_.now_unix_ms();
  if (call.principal) {
    e.user_id = call.principal->user.id;
    e.user_email = call.principal->user.email;
  }
  e.grid = call.audit.grid;
  e.resource_type = call.audit.resource_type.empty() ? route.options.resource_type : call.audit.resource_type;
  e.resource_id = call.audit.resource_id;
  e.resource_name = call.audit.resource_name;
  e.event_name = call.audit.event_name;
  e.event_status = status < 400 ? "success" : "error";
  e.http_status = status;
  e.error = error;
  e.source_ip = call.request.source_ip;
  e.user_agent = call.request.header("user-agent");
  e.request_method = call.request.method;
  e.request_path = call.request.path;
  e.request_body = redact(call.body);
  try {
    store_.append_audit(e);
  } catch (const std::exception& ex) {
    spdlog::error("audit log write failed path={} error={}", call.request.path, ex.what());
  }
}

}  // namespace kontena::master
