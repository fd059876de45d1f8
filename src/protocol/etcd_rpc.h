// The master -> agent etcd and IPAM requests (docs/api/etcd-network.md "Agent RPC"): method names
// and the one rule for keys, checked by the master (before it asks a node) and by the agent.
#pragma once
#include <string>
#include <string_view>

#include "common/error.h"

namespace kontena::protocol {

inline constexpr std::string_view kMethodEtcdGet = "/etcd/get";        // [{key, recursive}]
inline constexpr std::string_view kMethodEtcdSet = "/etcd/set";        // [{key, value}]
inline constexpr std::string_view kMethodEtcdDelete = "/etcd/delete";  // [{key, recursive}]
inline constexpr std::string_view kMethodEtcdHealth = "/etcd/health";  // []
inline constexpr std::string_view kMethodIpamReleaseNode = "/ipam/release_node";  // [{node_id}]

inline constexpr std::size_t kMaxEtcdKeyBytes = 4096;
inline constexpr std::size_t kMaxEtcdValueBytes = 1024 * 1024;  // etcd refuses requests over 1.5 MiB

// Throws Error(invalid, field "key") unless key starts with "/", is at most kMaxEtcdKeyBytes, and
// has no ".." segment and no NUL byte.
inline void validate_etcd_key(const std::string& key) {
  if (key.empty() || key.front() != '/')
    invalid("key", "an etcd key must start with \"/\" (e.g. /kontena/ipam/pools); got \"" + key + "\"");
  if (key.size() > kMaxEtcdKeyBytes) invalid("key", "an etcd key must be at most 4096 bytes");
  if (key.find('\0') != std::string::npos) invalid("key", "an etcd key must not contain a NUL byte");
  std::size_t start = 0;
  while (start <= key.size()) {
    auto slash = key.find('/', start);
    if (slash == std::string::npos) slash = key.size();
    if (std::string_view(key).substr(start, slash - start) == "..")
      invalid("key", "an etcd key must not contain a \"..\" segment; got \"" + key + "\"");
    start = slash + 1;
  }
}

}  // namespace kontena::protocol
