// The grid's etcd as the agent sees it (DESIGN §2.4: a small interface at the seam; §5: IPAM,
// service discovery and load balancers keep their state here). The real implementation
// (http_etcd_client.h) speaks etcd v3's JSON gateway (POST /v3/kv/range, /v3/kv/put,
// /v3/kv/deleterange, /v3/kv/txn, /v3/lease/*, /v3/cluster/member/*, /v3/maintenance/status) over
// plain HTTP to the members' client URLs; unit tests use tests/unit/etcd/fake_etcd.h.
//
// All calls are blocking and thread-safe, and every call ends within the client's timeout: etcd's
// gateway hangs when quorum is lost, so a call that gets no answer in time fails instead.
// Errors: kontena::Error
//   unavailable — no member answered in time, or the cluster has no leader / lost its majority;
//                 the message names the endpoints tried and says what to do (e.g. "the grid's etcd
//                 did not answer in 2 s (tried http://10.81.0.1:2379, http://10.81.0.2:2379): a
//                 majority of the initial nodes must be online; see kontena grid health")
//   invalid     — bad key / argument (empty key, ...)
//   internal    — an answer that cannot be understood
// A key that does not exist is not an error: get() returns nullopt, remove() returns 0.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kontena::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;  // 0 = none
};

struct Member {
  std::uint64_t id = 0;
  std::string name;                      // empty while the member was added but has not started
  std::vector<std::string> peer_urls;    // "http://10.81.0.3:2380"
  std::vector<std::string> client_urls;  // empty while not started
};

// One endpoint's view (GET-like /v3/maintenance/status against that endpoint only).
struct EndpointStatus {
  std::string endpoint;        // "http://10.81.0.1:2379"
  bool healthy = false;        // answered in time, and a leader is known
  std::string error;           // why not healthy
  std::uint64_t member_id = 0;
  std::uint64_t leader = 0;    // 0 = no leader known
  std::int64_t raft_term = 0;
  std::int64_t db_size = 0;
  std::string version;         // "3.4.23"
};

class EtcdClient {
 public:
  virtual ~EtcdClient() = default;

  // --- keys (linearizable reads: they fail without a majority rather than return stale data)
  virtual std::optional<KeyValue> get(const std::string& key) = 0;
  // Every key that starts with prefix, sorted by key. limit 0 = all.
  virtual std::vector<KeyValue> list(const std::string& prefix, std::int64_t limit = 0) = 0;
  // The store revision now (cheap: a count-only range); changes whenever any key changes.
  virtual std::int64_t revision(const std::string& prefix) = 0;
  virtual void put(const std::string& key, const std::string& value, std::int64_t lease = 0) = 0;
  // Creates key only if it does not exist (a txn comparing create_revision == 0). true = created.
  virtual bool create(const std::string& key, const std::string& value, std::int64_t lease = 0) = 0;
  // Replaces key only if its mod_revision is still `mod_revision` (0 = only if absent). true = done.
  virtual bool compare_and_swap(const std::string& key, std::int64_t mod_revision, const std::string& value,
                                std::int64_t lease = 0) = 0;
  // Deletes key only if its value is `value`. true = deleted.
  virtual bool compare_and_delete(const std::string& key, const std::string& value) = 0;
  // Deletes key (prefix=false) or every key under it (prefix=true); returns how many were deleted.
  virtual std::int64_t remove(const std::string& key, bool prefix = false) = 0;

  // --- leases
  virtual std::int64_t lease_grant(std::chrono::seconds ttl) = 0;  // returns the lease id
  // Refreshes the lease; false when it expired or does not exist (grant a new one then).
  virtual bool lease_keepalive(std::int64_t lease) = 0;
  virtual void lease_revoke(std::int64_t lease) = 0;

  // --- cluster
  virtual std::vector<Member> members() = 0;
  // Adds a member (it must then start with --initial-cluster-state existing); returns its id.
  virtual std::uint64_t member_add(const std::vector<std::string>& peer_urls) = 0;
  virtual void member_remove(std::uint64_t id) = 0;
  // Each configured endpoint on its own, never throws (an endpoint that fails is reported so).
  virtual std::vector<EndpointStatus> endpoint_status() = 0;
};

}  // namespace kontena::etcd
