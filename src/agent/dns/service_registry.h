// Service discovery across the grid (DESIGN §5): every agent publishes its node's service
// instances in the grid's etcd and reads everyone's into its DnsTable.
//
//   /kontena/dns/<grid>/<node_id>/<stack>.<service>-<n>  =  JSON of the ServiceInstance
//                                                           (stack "null" for the null stack)
//
// The keys are attached to a lease of this node (TTL 10 s, refreshed every TTL/3), so a node that
// is lost takes its records with it within the TTL. When the lease is gone (expired while etcd
// or the node was away) a new one is granted and everything is published again; so are records
// of ours that vanished from etcd for any other reason.
//
// The table = the records of the other nodes as last read from etcd + this node's instances
// straight from local_instances(): a local change shows at once, with or without etcd. Without an
// etcd majority the last table is kept (running containers keep resolving each other) and the
// failure is logged once when it starts and once when it ends.
//
// Reading is cheap when nothing changed: a count-only revision() of the prefix each round, the
// full list() only when the revision moved. Publishing is a diff against what this node last
// wrote (put changed, remove gone), so a round with no change writes nothing.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/dns/dns_table.h"
#include "common/clock.h"
#include "etcd/etcd_client.h"

namespace kontena::agent::dns {

struct ServiceDiscoveryOptions {
  std::chrono::seconds ttl{10};                  // the lease of this node's records
  std::chrono::milliseconds sync_interval{1000};  // how often remote records are checked
  const Clock* clock = nullptr;                  // nullptr = the system clock
};

inline constexpr const char* kDnsPrefix = "/kontena/dns/";

// The record's key and value (for tests and tools).
std::string service_record_key(const std::string& grid, const std::string& node_id, const ServiceInstance& instance);
std::string service_record_json(const ServiceInstance& instance);
// false (out untouched) when the value is not a record we understand.
bool parse_service_record(const std::string& json, ServiceInstance& out);

class ServiceDiscovery {
 public:
  ServiceDiscovery(::kontena::etcd::EtcdClient& etcd, DnsTable& table, std::string grid, std::string node_id,
                   std::function<std::vector<ServiceInstance>()> local_instances, ServiceDiscoveryOptions options = {});
  ~ServiceDiscovery();
  ServiceDiscovery(const ServiceDiscovery&) = delete;
  ServiceDiscovery& operator=(const ServiceDiscovery&) = delete;

  // Runs sync_once() every sync_interval (and soon after poke()) on its own thread. stop() ends
  // it; the records stay until their lease ends (the containers keep running without the agent).
  void start();
  void stop();
  // The local instances changed: publish and refresh the table soon.
  void poke();
  // One round: the table from local_instances(), the lease (granted, or refreshed when due), the
  // publishing diff, the remote records when their revision moved. false when etcd failed (the
  // table then still has the local change and the last remote records).
  bool sync_once();

  std::string prefix() const { return prefix_; }  // /kontena/dns/<grid>/
  bool etcd_ok() const;

 private:
  using Clock = std::chrono::system_clock;
  std::chrono::milliseconds keepalive_period() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl) / 3;
  }
  void rebuild_table();
  void ensure_lease(Clock::time_point now);
  void new_lease();
  void publish();
  bool read_remote();  // true when the remote records changed

  ::kontena::etcd::EtcdClient& etcd_;
  DnsTable& table_;
  std::string grid_;
  std::string node_id_;
  std::string prefix_;
  std::string own_prefix_;
  std::function<std::vector<ServiceInstance>()> local_instances_;
  ServiceDiscoveryOptions options_;
  SystemClock system_clock_;
  const kontena::Clock& clock_;

  // Touched by sync_once() only (one round at a time: round_mutex_).
  std::mutex round_mutex_;
  std::vector<ServiceInstance> local_;
  std::vector<ServiceInstance> remote_;
  bool table_built_ = false;
  std::map<std::string, std::string> desired_;    // key -> value of this node's records
  std::map<std::string, std::string> published_;  // what this node last wrote to etcd
  std::int64_t lease_ = 0;
  Clock::time_point last_keepalive_{};
  std::int64_t remote_revision_ = -1;

  mutable std::mutex mutex_;  // state shared with start/stop/poke
  std::condition_variable wake_;
  bool poked_ = false;
  bool stopping_ = false;
  bool etcd_ok_ = true;
  Clock::time_point next_keepalive_ = Clock::time_point::max();
  std::thread thread_;
};

}  // namespace kontena::agent::dns
