// The real client against real etcd members on loopback (skipped only when /usr/bin/etcd is not
// installed): keys, txns, leases, members, and what happens when the cluster loses its majority.
#include "etcd/http_etcd_client.h"

#include <gtest/gtest.h>

#include <memory>

#include "common/error.h"
#include "etcd_process.h"

namespace kontena::etcd {
namespace {

using namespace std::chrono_literals;
using testing::EtcdCluster;
using Clock = std::chrono::steady_clock;

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no kontena::Error thrown";
  return ErrorKind::internal;
}

TEST(HttpEtcdClientConfig, BadEndpointsAreInvalidAtConstruction) {
  EXPECT_EQ(kind_of([] { make_http_etcd_client({}); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([] { make_http_etcd_client({"10.81.0.1:2379"}); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([] { make_http_etcd_client({"http://127.0.0.1:2379", "https://x:2379"}); }), ErrorKind::invalid);
  EXPECT_EQ(kind_of([] { make_http_etcd_client({"http://127.0.0.1:2379"}, 0ms); }), ErrorKind::invalid);
}

TEST(HttpEtcdClientConfig, NobodyListeningIsUnavailableNamingTheEndpoints) {
  const std::string a = "http://127.0.0.1:" + std::to_string(testing::free_port());
  const std::string b = "http://127.0.0.1:" + std::to_string(testing::free_port());
  auto client = make_http_etcd_client({a, b}, 500ms);
  std::string message;
  EXPECT_EQ(kind_of([&] { client->put("/k", "v"); }, &message), ErrorKind::unavailable);
  EXPECT_NE(message.find(a), std::string::npos) << message;
  EXPECT_NE(message.find(b), std::string::npos) << message;
  EXPECT_NE(message.find("majority of the grid's initial nodes"), std::string::npos) << message;
  EXPECT_NE(message.find("kontena grid health"), std::string::npos) << message;
  auto statuses = client->endpoint_status();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_FALSE(statuses[0].healthy);
  EXPECT_FALSE(statuses[0].error.empty());
}

// One member for the whole suite; every test works under its own key prefix.
class HttpEtcdSingle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::etcd_installed()) return;
    cluster_ = new EtcdCluster(1);
    if (!cluster_->wait_healthy()) {
      delete cluster_;
      cluster_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!testing::etcd_installed()) GTEST_SKIP() << "/usr/bin/etcd is not installed (Debian package etcd-server)";
    ASSERT_NE(cluster_, nullptr) << "the etcd member did not become healthy";
    client_ = make_http_etcd_client(cluster_->client_urls(), 2s);
  }
  static EtcdCluster* cluster_;
  std::unique_ptr<EtcdClient> client_;
};
EtcdCluster* HttpEtcdSingle::cluster_ = nullptr;

TEST_F(HttpEtcdSingle, PutGetListAndRevision) {
  std::int64_t before = client_->revision("/pgl/");
  client_->put("/pgl/b", "two");
  client_->put("/pgl/a", "one");
  client_->put("/pgl0", "outside the prefix");
  client_->put("/pgl/bin", std::string("\0\xff\n", 3));
  EXPECT_EQ(client_->revision("/pgl/"), before + 4);

  auto a = client_->get("/pgl/a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->key, "/pgl/a");
  EXPECT_EQ(a->value, "one");
  EXPECT_EQ(a->create_revision, before + 2);
  EXPECT_EQ(a->mod_revision, before + 2);
  EXPECT_EQ(client_->get("/pgl/bin")->value, std::string("\0\xff\n", 3));
  EXPECT_FALSE(client_->get("/pgl/missing"));

  auto listed = client_->list("/pgl/");
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].key, "/pgl/a");
  EXPECT_EQ(listed[1].key, "/pgl/b");
  EXPECT_EQ(listed[2].key, "/pgl/bin");
  EXPECT_EQ(client_->list("/pgl/", 2).size(), 2u);
  EXPECT_TRUE(client_->list("/nothing-here/").empty());

  client_->put("/pgl/a", "uno");
  a = client_->get("/pgl/a");
  EXPECT_EQ(a->value, "uno");
  EXPECT_EQ(a->create_revision, before + 2);
  EXPECT_EQ(a->mod_revision, before + 5);
  EXPECT_EQ(kind_of([&] { client_->put("", "v"); }), ErrorKind::invalid);
}

TEST_F(HttpEtcdSingle, CreateTwiceAndCompareAndSwap) {
  EXPECT_TRUE(client_->create("/cas/k", "v1"));
  EXPECT_FALSE(client_->create("/cas/k", "v2"));
  EXPECT_EQ(client_->get("/cas/k")->value, "v1");

  std::int64_t mod = client_->get("/cas/k")->mod_revision;
  EXPECT_FALSE(client_->compare_and_swap("/cas/k", mod - 1, "stale"));
  EXPECT_EQ(client_->get("/cas/k")->value, "v1");
  EXPECT_TRUE(client_->compare_and_swap("/cas/k", mod, "v2"));
  EXPECT_EQ(client_->get("/cas/k")->value, "v2");
  EXPECT_FALSE(client_->compare_and_swap("/cas/k", mod, "again with the old revision"));
  EXPECT_FALSE(client_->compare_and_swap("/cas/k", 0, "only if absent"));
  EXPECT_TRUE(client_->compare_and_swap("/cas/new", 0, "absent, so written"));
  EXPECT_EQ(client_->get("/cas/new")->value, "absent, so written");
}

TEST_F(HttpEtcdSingle, CompareAndDeleteAndRemovePrefix) {
  client_->put("/del/k", "mine");
  EXPECT_FALSE(client_->compare_and_delete("/del/k", "someone else's"));
  EXPECT_TRUE(client_->get("/del/k"));
  EXPECT_TRUE(client_->compare_and_delete("/del/k", "mine"));
  EXPECT_FALSE(client_->get("/del/k"));
  EXPECT_FALSE(client_->compare_and_delete("/del/k", "mine"));

  client_->put("/del/p/1", "x");
  client_->put("/del/p/2", "x");
  client_->put("/del/p3", "not under /del/p/");
  EXPECT_EQ(client_->remove("/del/p/1"), 1);
  EXPECT_EQ(client_->remove("/del/p/1"), 0);
  client_->put("/del/p/4", "x");
  EXPECT_EQ(client_->remove("/del/p/", true), 2);
  EXPECT_TRUE(client_->list("/del/p/").empty());
  EXPECT_TRUE(client_->get("/del/p3"));
}

TEST_F(HttpEtcdSingle, LeasedKeyVanishesAfterExpiry) {
  auto lease = client_->lease_grant(1s);
  ASSERT_NE(lease, 0);
  client_->put("/lease/short", "x", lease);
  EXPECT_EQ(client_->get("/lease/short")->lease, lease);
  // etcd raises short TTLs to its minimum (about 2 s with these election settings).
  auto until = Clock::now() + 6s;
  while (client_->get("/lease/short") && Clock::now() < until) std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(client_->get("/lease/short"));
  EXPECT_FALSE(client_->lease_keepalive(lease));
  EXPECT_EQ(kind_of([&] { client_->put("/lease/late", "x", lease); }), ErrorKind::not_found);
  EXPECT_FALSE(client_->get("/lease/late"));
}

TEST_F(HttpEtcdSingle, KeepaliveKeepsTheKeyAndRevokeEndsIt) {
  auto lease = client_->lease_grant(1s);
  client_->put("/lease/kept", "x", lease);
  for (auto until = Clock::now() + 3s; Clock::now() < until;) {
    ASSERT_TRUE(client_->lease_keepalive(lease));
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(client_->get("/lease/kept"));
  client_->lease_revoke(lease);
  EXPECT_FALSE(client_->get("/lease/kept"));
  client_->lease_revoke(lease);  // already gone: no error
  EXPECT_FALSE(client_->lease_keepalive(lease));
  EXPECT_FALSE(client_->lease_keepalive(123456789));
}

TEST_F(HttpEtcdSingle, ConcurrentCreatesHaveOneWinner) {
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      if (client_->create("/race/k", std::to_string(i))) ++won;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
}

TEST_F(HttpEtcdSingle, StatusAndMembers) {
  auto members = client_->members();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].name, "m1");
  EXPECT_EQ(members[0].client_urls, cluster_->client_urls());
  auto statuses = client_->endpoint_status();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_TRUE(statuses[0].healthy) << statuses[0].error;
  EXPECT_EQ(statuses[0].member_id, members[0].id);
  EXPECT_EQ(statuses[0].leader, members[0].id);
  EXPECT_EQ(statuses[0].version, "3.4.23");
  EXPECT_EQ(kind_of([&] { client_->member_remove(42); }), ErrorKind::not_found);
  EXPECT_EQ(client_->members().size(), 1u);
}

TEST_F(HttpEtcdSingle, FailsOverFromADeadEndpoint) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::free_port());
  auto urls = cluster_->client_urls();
  urls.insert(urls.begin(), dead);
  auto client = make_http_etcd_client(urls, 2s);
  client->put("/failover/k", "v");
  EXPECT_EQ(client->get("/failover/k")->value, "v");
  auto statuses = client->endpoint_status();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_FALSE(statuses[0].healthy);
  EXPECT_TRUE(statuses[1].healthy);
}

// Three members (heartbeat 100 ms, election 1 s); each test starts its own.
class HttpEtcdCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::etcd_installed()) GTEST_SKIP() << "/usr/bin/etcd is not installed (Debian package etcd-server)";
    cluster_ = std::make_unique<EtcdCluster>(3);
    ASSERT_TRUE(cluster_->wait_healthy()) << "the three etcd members did not elect a leader";
  }
  std::unique_ptr<EtcdCluster> cluster_;
};

TEST_F(HttpEtcdCluster, MembersAddAndRemove) {
  auto client = make_http_etcd_client(cluster_->client_urls(), 2s);
  auto members = client->members();
  ASSERT_EQ(members.size(), 3u);
  std::set<std::string> names;
  for (const auto& m : members) names.insert(m.name);
  EXPECT_EQ(names, (std::set<std::string>{"m1", "m2", "m3"}));

  const std::string peer = "http://127.0.0.1:" + std::to_string(testing::free_port());
  // etcd refuses reconfiguration ("unhealthy cluster") until every member has been connected for
  // 5 s; the client reports that as unavailable, and the caller retries. Once it is ready, adding
  // a peer URL that is already a member's is a conflict (and changes nothing).
  ErrorKind duplicate = ErrorKind::unavailable;
  for (auto until = Clock::now() + 10s; duplicate == ErrorKind::unavailable && Clock::now() < until;) {
    duplicate = kind_of([&] { client->member_add({cluster_->members()[0].peer_url}); });
    if (duplicate == ErrorKind::unavailable) std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(duplicate, ErrorKind::conflict);
  EXPECT_EQ(client->members().size(), 3u);
  std::uint64_t id = client->member_add({peer});
  members = client->members();
  ASSERT_EQ(members.size(), 4u);
  bool found = false;
  for (const auto& m : members)
    if (m.id == id) {
      found = true;
      EXPECT_TRUE(m.name.empty());  // added, not started
      EXPECT_EQ(m.peer_urls, std::vector<std::string>{peer});
    }
  EXPECT_TRUE(found);
  // A second add now is refused as "unhealthy cluster" (the new member never starts): unavailable.
  EXPECT_EQ(kind_of([&] { client->member_add({"http://127.0.0.1:1"}); }), ErrorKind::unavailable);
  client->member_remove(id);
  EXPECT_EQ(client->members().size(), 3u);
  client->put("/after-remove", "still writable");
}

TEST_F(HttpEtcdCluster, OneStoppedMemberIsSkipped) {
  auto urls = cluster_->client_urls();
  cluster_->pause(cluster_->members()[0]);  // hangs: accepts connections, never answers
  auto client = make_http_etcd_client(urls, 3s);
  client->put("/one-down", "v");  // may first spend a share of the timeout on m1
  auto started = Clock::now();
  EXPECT_EQ(client->get("/one-down")->value, "v");
  EXPECT_LT(Clock::now() - started, 500ms) << "the client should stay with the endpoint that answered";
  cluster_->resume(cluster_->members()[0]);
}

TEST_F(HttpEtcdCluster, LostMajorityFailsWithinTheTimeout) {
  auto client = make_http_etcd_client(cluster_->client_urls(), 1s);
  client->put("/before", "v");
  cluster_->pause(cluster_->members()[1]);
  cluster_->pause(cluster_->members()[2]);

  auto started = Clock::now();
  std::string message;
  EXPECT_EQ(kind_of([&] { client->put("/after", "v"); }, &message), ErrorKind::unavailable);
  auto took = Clock::now() - started;
  EXPECT_LT(took, 2s) << "a put without quorum must fail within the timeout, not hang";
  EXPECT_NE(message.find("majority"), std::string::npos) << message;
  for (const auto& url : cluster_->client_urls()) EXPECT_NE(message.find(url), std::string::npos) << message;

  started = Clock::now();
  EXPECT_EQ(kind_of([&] { client->get("/before"); }), ErrorKind::unavailable);
  EXPECT_LT(Clock::now() - started, 2s);

  started = Clock::now();
  auto statuses = client->endpoint_status();
  EXPECT_LT(Clock::now() - started, 2s);
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_FALSE(statuses[1].healthy);
  EXPECT_FALSE(statuses[2].healthy);
  EXPECT_FALSE(statuses[1].error.empty());

  // Back to a majority: writes work again.
  cluster_->resume(cluster_->members()[1]);
  ASSERT_TRUE(cluster_->wait_healthy(10s));
  auto fresh = make_http_etcd_client(cluster_->client_urls(), 3s);
  fresh->put("/after", "v");
  EXPECT_EQ(fresh->get("/after")->value, "v");
}

}  // namespace
}  // namespace kontena::etcd
