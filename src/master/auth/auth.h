// Authentication: the initial admin, one-time codes, bearer access tokens (stored as SHA-256
// digests only), refresh tokens; and the role policy every route consults.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "master/store/store.h"

namespace kontena::master {

inline constexpr const char* kInitialAdminEmail = "admin";
inline constexpr std::int64_t kDefaultLoginTokenSeconds = 7200;
inline constexpr std::int64_t kDefaultLoginCodeSeconds = 600;
inline constexpr std::int64_t kInviteCodeSeconds = 7 * 24 * 3600;

// Who is calling, resolved from the bearer token.
struct Principal {
  User user;
  AccessToken token;
};

// A freshly issued token: the only moment the clear values exist.
struct IssuedToken {
  AccessToken record;
  std::string access_token;
  std::string refresh_token;  // empty when none was issued
  User user;
};

class Auth {
 public:
  Auth(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // At first start (no users at all) creates user "admin" with role master_admin and a login code
  // that never expires until used: initial_code when given, else a random one. Returns the code
  // when it was generated here (the caller prints it), nullopt otherwise.
  std::optional<std::string> bootstrap_admin(const std::string& initial_code);

  // Resolves "Bearer <token>"; throws unauthorized with the reason (missing, unknown, expired).
  Principal authenticate(const std::string& authorization_header);

  // expires_in_seconds: 0 = never expires.
  IssuedToken issue_token(const User& user, std::int64_t expires_in_seconds, const std::string& description,
                          const std::string& scopes, bool internal, bool with_refresh_token);
  // Exchanges a one-time code (login or invite) for a login token with a refresh token.
  IssuedToken exchange_code(const std::string& code, std::int64_t expires_in_seconds);
  // Rotates the token that owns refresh_token: new access and refresh tokens, new expiry.
  IssuedToken refresh(const std::string& refresh_token, std::int64_t expires_in_seconds);
  // A one-time code for user; expires_in_seconds 0 = never.
  std::string create_code(const User& user, const std::string& kind, std::int64_t expires_in_seconds);

 private:
  Store& store_;
  const Clock& clock_;
};

// --- policy: pure functions of the user (and, for grids, membership)
bool has_role(const User& user, std::string_view role);
bool is_master_admin(const User& user);
bool is_known_role(std::string_view role);
// Grid-scoped checks; `member` says whether the user belongs to the grid.
bool can_see_grid(const User& user, bool member);
bool can_create_grid(const User& user);
bool can_admin_grid(const User& user, bool member);        // update/remove grid, remove nodes
bool can_manage_grid_users(const User& user, bool member);
bool can_manage_users(const User& user);                    // invite, list, remove users
bool can_grant_role(const User& granter, std::string_view role);

}  // namespace kontena::master
