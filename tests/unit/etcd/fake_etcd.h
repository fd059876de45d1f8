// An in-memory EtcdClient for unit tests (header-only, thread-safe). It keeps etcd's semantics that
// callers rely on: one global revision that every change bumps, create/mod revisions per key,
// leases whose keys vanish when the lease ends, and the error a client sees when the cluster has
// lost its majority. Test hooks:
//   set_unavailable(true)  every call throws Error(unavailable) as the real client does without
//                          quorum (endpoint_status() reports every endpoint unhealthy instead)
//   expire_lease(id)       the lease ends as if its TTL ran out: its keys are deleted
//   set_members / set_endpoint_status   what members() / endpoint_status() answer
//   set_before_call(fn)    fn(op, key) runs before each call, outside the lock (to inject a
//                          concurrent writer; guard against recursion if fn calls the fake)
//   calls()                how many interface calls were made (failed ones included)
//   keys()                 a snapshot key -> value
#pragma once
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "etcd/etcd_client.h"

namespace kontena::etcd {

class FakeEtcd : public EtcdClient {
 public:
  FakeEtcd() {
    Member member;
    member.id = 0x8e9e05c52164694dULL;
    member.name = "node-1";
    member.peer_urls = {"http://127.0.0.1:2380"};
    member.client_urls = {"http://127.0.0.1:2379"};
    members_.push_back(member);
  }

  // --- test hooks
  void set_unavailable(bool unavailable) { unavailable_ = unavailable; }
  int calls() const { return calls_; }
  void set_before_call(std::function<void(const std::string& op, const std::string& key)> hook) {
    std::lock_guard lock(mutex_);
    before_call_ = std::move(hook);
  }
  void expire_lease(std::int64_t lease) {
    std::lock_guard lock(mutex_);
    end_lease(lease);
  }
  bool lease_exists(std::int64_t lease) const {
    std::lock_guard lock(mutex_);
    return leases_.count(lease) > 0;
  }
  void set_members(std::vector<Member> members) {
    std::lock_guard lock(mutex_);
    members_ = std::move(members);
  }
  // Once set, endpoint_status() answers exactly this (unless unavailable).
  void set_endpoint_status(std::vector<EndpointStatus> statuses) {
    std::lock_guard lock(mutex_);
    statuses_ = std::move(statuses);
    statuses_set_ = true;
  }
  std::map<std::string, std::string> keys() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, std::string> out;
    for (const auto& [key, kv] : data_) out.emplace(key, kv.value);
    return out;
  }

  // --- keys
  std::optional<KeyValue> get(const std::string& key) override {
    enter("get", key);
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<KeyValue> list(const std::string& prefix, std::int64_t limit = 0) override {
    enter("list", prefix);
    std::lock_guard lock(mutex_);
    std::vector<KeyValue> out;
    for (auto it = data_.lower_bound(prefix); it != data_.end() && it->first.starts_with(prefix); ++it) {
      if (limit > 0 && static_cast<std::int64_t>(out.size()) >= limit) break;
      out.push_back(it->second);
    }
    return out;
  }
  std::int64_t revision(const std::string& prefix) override {
    enter("revision", prefix);
    std::lock_guard lock(mutex_);
    return revision_;
  }
  void put(const std::string& key, const std::string& value, std::int64_t lease = 0) override {
    enter("put", key);
    std::lock_guard lock(mutex_);
    write(key, value, lease);
  }
  bool create(const std::string& key, const std::string& value, std::int64_t lease = 0) override {
    enter("create", key);
    std::lock_guard lock(mutex_);
    if (data_.count(key)) return false;
    write(key, value, lease);
    return true;
  }
  bool compare_and_swap(const std::string& key, std::int64_t mod_revision, const std::string& value,
                        std::int64_t lease = 0) override {
    enter("compare_and_swap", key);
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    std::int64_t current = it == data_.end() ? 0 : it->second.mod_revision;
    if (current != mod_revision) return false;
    write(key, value, lease);
    return true;
  }
  bool compare_and_delete(const std::string& key, const std::string& value) override {
    enter("compare_and_delete", key);
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    if (it == data_.end() || it->second.value != value) return false;
    data_.erase(it);
    ++revision_;
    return true;
  }
  std::int64_t remove(const std::string& key, bool prefix = false) override {
    enter("remove", key);
    std::lock_guard lock(mutex_);
    std::int64_t removed = 0;
    if (!prefix) {
      removed = static_cast<std::int64_t>(data_.erase(key));
    } else {
      auto it = data_.lower_bound(key);
      while (it != data_.end() && it->first.starts_with(key)) {
        it = data_.erase(it);
        ++removed;
      }
    }
    if (removed > 0) ++revision_;  // one delete-range is one revision, as in etcd
    return removed;
  }

  // --- leases
  std::int64_t lease_grant(std::chrono::seconds ttl) override {
    enter("lease_grant", "");
    if (ttl.count() <= 0) fail(ErrorKind::invalid, "a lease needs a TTL of at least 1 s");
    std::lock_guard lock(mutex_);
    std::int64_t id = next_lease_++;
    leases_.insert(id);
    return id;
  }
  bool lease_keepalive(std::int64_t lease) override {
    enter("lease_keepalive", "");
    std::lock_guard lock(mutex_);
    return leases_.count(lease) > 0;
  }
  void lease_revoke(std::int64_t lease) override {
    enter("lease_revoke", "");
    std::lock_guard lock(mutex_);
    end_lease(lease);
  }

  // --- cluster
  std::vector<Member> members() override {
    enter("members", "");
    std::lock_guard lock(mutex_);
    return members_;
  }
  std::uint64_t member_add(const std::vector<std::string>& peer_urls) override {
    enter("member_add", "");
    if (peer_urls.empty()) fail(ErrorKind::invalid, "a new etcd member needs at least one peer URL");
    std::lock_guard lock(mutex_);
    for (const auto& member : members_)
      for (const auto& url : member.peer_urls)
        if (std::find(peer_urls.begin(), peer_urls.end(), url) != peer_urls.end())
          fail(ErrorKind::conflict, "etcd already has a member with peer URL " + url);
    Member member;
    member.id = next_member_++;
    member.peer_urls = peer_urls;
    members_.push_back(member);
    return member.id;
  }
  void member_remove(std::uint64_t id) override {
    enter("member_remove", "");
    std::lock_guard lock(mutex_);
    auto it = std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.id == id; });
    if (it == members_.end()) fail(ErrorKind::not_found, "etcd has no member with id " + std::to_string(id));
    members_.erase(it);
  }
  std::vector<EndpointStatus> endpoint_status() override {
    ++calls_;
    std::lock_guard lock(mutex_);
    std::vector<EndpointStatus> out;
    if (statuses_set_) {
      out = statuses_;
    } else {
      for (const auto& member : members_) {
        if (member.client_urls.empty()) continue;
        EndpointStatus status;
        status.endpoint = member.client_urls.front();
        status.healthy = true;
        status.member_id = member.id;
        status.leader = members_.front().id;
        status.raft_term = 2;
        status.version = "3.4.23";
        out.push_back(status);
      }
    }
    if (unavailable_) {
      for (auto& status : out) {
        status.healthy = false;
        status.leader = 0;
        status.error = "etcd did not answer in time (fake: unavailable)";
      }
    }
    return out;
  }

 private:
  // Counts the call, runs the hook, and fails as a client without quorum does.
  void enter(const std::string& op, const std::string& key) {
    ++calls_;
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard lock(mutex_);
      hook = before_call_;
    }
    if (hook) hook(op, key);
    if (unavailable_)
      fail(ErrorKind::unavailable,
           "the grid's etcd did not answer (fake: no majority): a majority of the grid's initial nodes must be "
           "online to change the grid's network state; see `kontena grid health`");
    if (key.empty() && (op == "get" || op == "put" || op == "create" || op == "compare_and_swap" ||
                        op == "compare_and_delete" || op == "remove"))
      fail(ErrorKind::invalid, "an etcd key must not be empty");
  }
  void write(const std::string& key, const std::string& value, std::int64_t lease) {
    if (lease != 0 && !leases_.count(lease))
      fail(ErrorKind::not_found, "etcd lease " + std::to_string(lease) + " not found (it expired; grant a new one)");
    ++revision_;
    auto [it, inserted] = data_.try_emplace(key);
    KeyValue& kv = it->second;
    kv.key = key;
    kv.value = value;
    if (inserted) kv.create_revision = revision_;
    kv.mod_revision = revision_;
    kv.lease = lease;
  }
  void end_lease(std::int64_t lease) {
    if (!leases_.erase(lease)) return;
    bool removed = false;
    for (auto it = data_.begin(); it != data_.end();) {
      if (it->second.lease == lease) {
        it = data_.erase(it);
        removed = true;
      } else {
        ++it;
      }
    }
    if (removed) ++revision_;
  }

  mutable std::mutex mutex_;
  std::map<std::string, KeyValue> data_;
  std::int64_t revision_ = 1;  // a fresh etcd is at revision 1
  std::set<std::int64_t> leases_;
  std::int64_t next_lease_ = 0x694d7a1f2b3c0001LL;
  std::vector<Member> members_;
  std::uint64_t next_member_ = 0x1000;
  std::vector<EndpointStatus> statuses_;
  bool statuses_set_ = false;
  std::function<void(const std::string&, const std::string&)> before_call_;
  std::atomic<bool> unavailable_{false};
  std::atomic<int> calls_{0};
};

}  // namespace kontena::etcd
