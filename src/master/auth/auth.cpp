#include "master/auth/auth.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/error.h"
#include "common/log.h"

namespace kontena::master {

namespace {
constexpr std::int64_t kLastUsedResolutionMs = 60'000;  // avoid a write on every request

// Fresh bearer (and refresh) secrets for record: only their digests stay on the record.
void mint_secrets(IssuedToken& out, AccessToken& record, bool with_refresh_token) {
  out.access_token = crypto::random_hex(32);
  record.token_hash = crypto::sha256_hex(out.access_token);
  record.token_last4 = out.access_token.substr(out.access_token.size() - 4);
  out.refresh_token.clear();
  record.refresh_token_hash.clear();
  if (with_refresh_token) {
    out.refresh_token = crypto::random_hex(64);
    record.refresh_token_hash = crypto::sha256_hex(out.refresh_token);
  }
}

std::optional<std::int64_t> expiry(std::int64_t now_ms, std::int64_t expires_in_seconds) {
  if (expires_in_seconds < 0) invalid("expires_in", "expires_in must be 0 (never) or a positive number of seconds");
  if (expires_in_seconds == 0) return std::nullopt;
  return now_ms + expires_in_seconds * 1000;
}
}  // namespace

std::optional<std::string> Auth::bootstrap_admin(const std::string& initial_code) {
  std::optional<std::string> generated;
  store_.transaction([&] {
    if (!store_.users().empty()) return;
    User admin;
    admin.email = kInitialAdminEmail;
    admin.name = kInitialAdminEmail;
    admin.roles = {kRoleMasterAdmin};
    admin.created_at = clock_.now_unix_ms();
    admin = store_.insert_user(admin);
    std::string code = initial_code;
    if (code.empty()) {
      code = crypto::random_hex(16);
      generated = code;
    }
    AuthCode c;
    c.code_hash = crypto::sha256_hex(code);
    c.user_id = admin.id;
    c.kind = "login";
    c.created_at = clock_.now_unix_ms();
    store_.insert_code(c);
    spdlog::info("initial admin created user={}", admin.email);
  });
  return generated;
}

Principal Auth::authenticate(const std::string& header) {
  constexpr std::string_view prefix = "Bearer ";
  if (header.empty())
    fail(ErrorKind::unauthorized, "authentication required: send 'Authorization: Bearer <token>' (kontena master login)");
  if (header.size() <= prefix.size() || !std::equal(prefix.begin(), prefix.end(), header.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    fail(ErrorKind::unauthorized, "unsupported Authorization header: use 'Bearer <token>'");
  std::string token = header.substr(prefix.size());
  auto record = store_.token_by_hash(crypto::sha256_hex(token));
  if (!record) fail(ErrorKind::unauthorized, "invalid access token: log in again (kontena master login)");
  auto now = clock_.now_unix_ms();
  if (record->expires_at && *record->expires_at <= now)
    fail(ErrorKind::unauthorized, "access token expired: refresh it or log in again (kontena master login)");
  auto user = store_.user_by_id(record->user_id);
  if (!user) fail(ErrorKind::unauthorized, "the user of this access token no longer exists");
  if (now - record->last_used_at >= kLastUsedResolutionMs) {
    record->last_used_at = now;
    try {
      store_.update_token(*record);
    } catch (const Error& e) {
      spdlog::warn("could not record token use token_id={} error={}", record->id, e.what());
    }
  }
  return Principal{std::move(*user), std::move(*record)};
}

IssuedToken Auth::issue_token(const User& user, std::int64_t expires_in_seconds, const std::string& description,
                              const std::string& scopes, bool internal, bool with_refresh_token) {
  IssuedToken out;
  auto now = clock_.now_unix_ms();
  out.record.user_id = user.id;
  mint_secrets(out, out.record, with_refresh_token);
  out.record.description = description;
  out.record.scopes = scopes.empty() ? "user" : scopes;
  out.record.expires_at = expiry(now, expires_in_seconds);
  out.record.created_at = now;
  out.record.internal = internal;
  out.record = store_.insert_token(out.record);
  out.user = user;
  return out;
}

IssuedToken Auth::exchange_code(const std::string& code, std::int64_t expires_in_seconds) {
  if (code.empty()) invalid("code", "code is required");
  std::optional<IssuedToken> issued;
  store_.transaction([&] {
    auto record = store_.take_code(crypto::sha256_hex(code));
    if (!record) fail(ErrorKind::unauthorized, "invalid or already used code: ask an administrator for a new one");
    if (record->expires_at && *record->expires_at <= clock_.now_unix_ms())
      fail(ErrorKind::unauthorized, "the code has expired: ask an administrator for a new one");
    auto user = store_.user_by_id(record->user_id);
    if (!user) fail(ErrorKind::unauthorized, "the user of this code no longer exists");
    issued = issue_token(*user, expires_in_seconds, record->kind == "invite" ? "invite" : "login", "user", true, true);
  });
  return std::move(*issued);
}

IssuedToken Auth::refresh(const std::string& refresh_token, std::int64_t expires_in_seconds) {
  if (refresh_token.empty()) invalid("refresh_token", "refresh_token is required");
  std::optional<IssuedToken> issued;
  store_.transaction([&] {
    auto record = store_.token_by_refresh_hash(crypto::sha256_hex(refresh_token));
    if (!record) fail(ErrorKind::unauthorized, "invalid refresh token: log in again (kontena master login)");
    auto user = store_.user_by_id(record->user_id);
    if (!user) fail(ErrorKind::unauthorized, "the user of this token no longer exists");
    IssuedToken out;
    auto now = clock_.now_unix_ms();
    mint_secrets(out, *record, true);
    record->expires_at = expiry(now, expires_in_seconds);
    record->last_used_at = now;
    store_.update_token(*record);
    out.record = *record;
    out.user = *user;
    issued = std::move(out);
  });
  return std::move(*issued);
}

std::string Auth::create_code(const User& user, const std::string& kind, std::int64_t expires_in_seconds) {
  std::string code = crypto::random_hex(kind == "invite" ? 6 : 16);
  AuthCode c;
  c.code_hash = crypto::sha256_hex(code);
  c.user_id = user.id;
  c.kind = kind;
  c.created_at = clock_.now_unix_ms();
  c.expires_at = expiry(c.created_at, expires_in_seconds);
  store_.insert_code(c);
  return code;
}

bool has_role(const User& user, std::string_view role) {
  return std::find(user.roles.begin(), user.roles.end(), role) != user.roles.end();
}
bool is_master_admin(const User& user) { return has_role(user, kRoleMasterAdmin); }
bool is_known_role(std::string_view role) {
  return role == kRoleMasterAdmin || role == kRoleGridAdmin || role == kRoleUserAdmin;
}
bool can_see_grid(const User& user, bool member) { return member || is_master_admin(user); }
bool can_create_grid(const User& user) { return is_master_admin(user) || has_role(user, kRoleGridAdmin); }
bool can_admin_grid(const User& user, bool member) {
  return is_master_admin(user) || (member && has_role(user, kRoleGridAdmin));
}
bool can_manage_grid_users(const User& user, bool member) {
  return is_master_admin(user) || has_role(user, kRoleUserAdmin) || (member && has_role(user, kRoleGridAdmin));
}
bool can_manage_users(const User& user) { return is_master_admin(user) || has_role(user, kRoleUserAdmin); }
bool can_grant_role(const User& granter, std::string_view role) {
  if (is_master_admin(granter)) return is_known_role(role);
  return has_role(granter, kRoleUserAdmin) && (role == kRoleGridAdmin || role == kRoleUserAdmin);
}

}  // namespace kontena::master
