// The service-discovery names (reference §6, DESIGN §5) and the addresses they stand for, for
// the agent's DNS server (dns_server.h). Built from the grid's service instances:
//   <svc>.<stack>.<grid>.kontena.local       the service: its healthy instances' addresses
//   <svc>-<n>.<stack>.<grid>.kontena.local   instance n, whatever its health
//   null stack ("" or "null"): <svc>.<grid>.kontena.local, <svc>-<n>.<grid>.kontena.local,
//                              <svc>.kontena.local, <svc>-<n>.kontena.local
//   a stack's exposed service:  also <stack>.<grid>.kontena.local, <stack>-<n>.<grid>.kontena.local
// Health: an instance whose health check says unhealthy (healthy == false) is left out of the
// service names; instances without a health check (nullopt) count as healthy. A service whose
// instances are all unhealthy still exists: it answers without an address (NOERROR, no data).
// The names between a service name and kontena.local (e.g. <stack>.<grid>.kontena.local without
// an exposed service) exist too, without addresses, as empty non-terminals do (RFC 8020).
//
// Thread-safe: set_instances() builds a new immutable snapshot and swaps it in; a lookup takes
// the current snapshot and never waits for a writer.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/dns/dns_packet.h"

namespace kontena::agent::dns {

inline constexpr std::string_view kZone = "kontena.local";

struct ServiceInstance {
  std::string grid;
  std::string stack;  // "" or "null" = the null stack
  std::string service;
  int instance_number = 0;
  std::string ip;                // IPv4, the overlay address
  std::optional<bool> healthy;   // nullopt = no health check
  bool exposed = false;          // the stack's `expose` service
  std::string node;              // the node id it runs on

  bool operator==(const ServiceInstance&) const = default;
};

// Why an instance cannot be served ("" = it can): an invalid IPv4 address, a name part that is
// not a DNS label (1..63 of a-z, 0-9, '-', '_'), an instance number below 1, a name over 253.
std::string instance_problem(const ServiceInstance& instance);

// true for kontena.local and the names below it (name lowercase, without a trailing dot).
bool in_zone(std::string_view name);

class DnsTable {
 public:
  struct Record {
    std::vector<Ipv4> addresses;  // empty: the name exists without an address
  };
  // One immutable generation of the table. Keys: lowercase, without a trailing dot.
  class Snapshot {
   public:
    // name must be lowercase without a trailing dot (a parsed Query's name()); null = no such name.
    const Record* find(std::string_view name) const;
    std::size_t size() const { return records_.size(); }

   private:
    friend class DnsTable;
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, Record, Hash, std::equal_to<>> records_;
  };

  struct Answer {
    bool in_zone = false;  // the name is under kontena.local: never forwarded
    bool exists = false;
    std::vector<std::string> ips;
  };

  DnsTable();

  // Replaces the whole table. Instances that cannot be served (instance_problem) are left out
  // with a warning; the others are served.
  void set_instances(std::vector<ServiceInstance> instances);
  // name in any case, with or without the trailing dot.
  Answer lookup(std::string_view name) const;
  std::size_t size() const;  // names
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

}  // namespace kontena::agent::dns
