// The real EtcdClient: etcd v3's JSON gateway over plain HTTP/1.1 (Boost.Beast), one connection
// per call. See etcd_client.h for the contract and README.md for timeouts and failover.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "etcd/etcd_client.h"

namespace kontena::etcd {

// endpoints: the members' client URLs, "http://10.81.0.1:2379". Each call ends within `timeout`
// (all endpoints tried included). Error(invalid) when the list is empty or a URL is not usable.
std::unique_ptr<EtcdClient> make_http_etcd_client(std::vector<std::string> endpoints,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace kontena::etcd
