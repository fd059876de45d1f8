// /oauth2/*: code and refresh-token exchange, token/code/invite issuance, token listing.
#include "common/error.h"
#include "master/api/access.h"
#include "master/api/fields.h"
#include "master/api/validation.h"
#include "master/api/views.h"

namespace kontena::master {

namespace {

std::int64_t expires_in_field(Fields& f, std::int64_t default_seconds) {
  auto v = f.integer("expires_in");
  if (!v) return default_seconds;
  if (*v < 0 || *v > 10LL * 365 * 24 * 3600)
    invalid("expires_in", "expires_in must be 0 (never expires) or a number of seconds up to 10 years");
  return *v;
}

// The user a token/code is for: self, or (master_admin only) another user.
User target_user(ApiServices& s, ApiCall& call, Fields& f) {
  auto email = f.string("user");
  if (!email || *email == call.user().email) return call.user();
  require(is_master_admin(call.user()), "only a master_admin can create tokens or codes for another user");
  return user_or_404(s, *email);
}

AccessToken owned_token(ApiServices& s, ApiCall& call) {
  const auto& id_text = call.param("id");
  std::int64_t id = 0;
  try {
    std::size_t used = 0;
    id = std::stoll(id_text, &used);
    if (used != id_text.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    fail(ErrorKind::not_found, "access token \"" + id_text + "\" does not exist: use the ID from 'kontena master token ls'");
  }
  auto token = s.store.token_by_id(id);
  if (!token || token->user_id != call.user().id) fail(ErrorKind::not_found, "access token " + id_text + " does not exist");
  call.audit.resource_id = std::to_string(token->id);
  return *token;
}

}  // namespace

void add_auth_routes(Router& r, ApiServices& s) {
  r.add("POST", "/oauth2/token", {false, "access_token", "create"}, [&s](ApiCall& call) {
    if (!s.token_rate.allow(call.request.source_ip))
      fail(ErrorKind::rate_limited, "too many token requests from " + call.request.source_ip + ": wait a minute and retry");
    Fields f(call.body);
    auto grant = f.string("grant_type", true);
    f.allow("code");
    f.allow("refresh_token");
    auto expires_in = expires_in_field(f, kDefaultLoginTokenSeconds);
    IssuedToken issued;
    if (*grant == "authorization_code" || *grant == "invite_code") {
      auto code = f.string("code", true);
      f.reject_unknown();
      issued = s.auth.exchange_code(*code, expires_in);
    } else if (*grant == "refresh_token") {
      auto refresh = f.string("refresh_token", true);
      f.reject_unknown();
      issued = s.auth.refresh(*refresh, expires_in);
      call.audit.event_name = "refresh";
    } else {
      invalid("grant_type", "grant_type \"" + *grant + "\" is not supported: use authorization_code or refresh_token");
    }
    call.audit.resource_id = std::to_string(issued.record.id);
    call.audit.resource_name = issued.user.email;
    return ApiResult{201, issued_token_json(issued, s.clock.now_unix_ms())};
  });

  r.add("POST", "/oauth2/authorize", {true, "access_token", "create"}, [&s](ApiCall& call) {
    Fields f(call.body);
    auto type = f.string("response_type", true);
    if (*type == "invite") {
      call.audit.resource_type = "user";
      call.audit.event_name = "invite";
      auto email = f.string("email", true, 254);
      f.reject_unknown();
      validate_email("email", *email);
      require(can_manage_users(call.user()), "inviting users needs the master_admin or user_admin role");
      call.audit.resource_name = *email;
      User user;
      std::string code;
      s.store.transaction([&] {
        auto existing = s.store.user_by_email(*email);
        if (existing) {
          user = *existing;
        } else {
          user.email = *email;
          user.name = *email;
          user.created_at = s.clock.now_unix_ms();
          user = s.store.insert_user(user);
        }
        code = s.auth.create_code(user, "invite", kInviteCodeSeconds);
      });
      call.audit.resource_id = std::to_string(user.id);
      return ApiResult{201, {{"email", user.email}, {"invite_code", code}, {"user", user_json(user)}}};
    }
    if (*type == "token") {
      auto expires_in = expires_in_field(f, 0);
      auto description = f.string("description", false, 256).value_or("");
      auto scopes = f.string("scopes", false, 256).value_or("user");
      auto user = target_user(s, call, f);
      f.reject_unknown();
      auto issued = s.auth.issue_token(user, expires_in, description, scopes, false, true);
      call.audit.resource_id = std::to_string(issued.record.id);
      call.audit.resource_name = user.email;
      return ApiResult{201, issued_token_json(issued, s.clock.now_unix_ms())};
    }
    if (*type == "code") {
      call.audit.resource_type = "auth_code";
      auto expires_in = expires_in_field(f, kDefaultLoginCodeSeconds);
      auto user = target_user(s, call, f);
      f.reject_unknown();
      auto code = s.auth.create_code(user, "login", expires_in);
      call.audit.resource_name = user.email;
      return ApiResult{201, {{"code", code}, {"user", user_json(user)}}};
    }
    invalid("response_type", "response_type \"" + *type + "\" is not supported: use token, code or invite");
  });

  r.add("GET", "/oauth2/tokens", {}, [&s](ApiCall& call) {
    Json list = Json::array();
    for (const auto& t : s.store.tokens_of_user(call.user().id)) list.push_back(token_info_json(t, call.user()));
    return ApiResult{200, {{"access_tokens", list}}};
  });
  r.add("GET", "/oauth2/tokens/current", {}, [](ApiCall& call) {
    return ApiResult{200, token_info_json(call.principal->token, call.user())};
  });
  r.add("GET", "/oauth2/tokens/:id", {}, [&s](ApiCall& call) {
    return ApiResult{200, token_info_json(owned_token(s, call), call.user())};
  });
  r.add("DELETE", "/oauth2/tokens/:id", {true, "access_token", "delete"}, [&s](ApiCall& call) {
    auto token = owned_token(s, call);
    s.store.delete_token(token.id);
    return ApiResult{200, Json::object()};
  });
}

}  // namespace kontena::master
