// The fake other tests rely on behaves as etcd does where it matters to them.
#include "fake_etcd.h"

#include <gtest/gtest.h>

namespace kontena::etcd {
namespace {

TEST(FakeEtcd, PutGetListAndRevisions) {
  FakeEtcd etcd;
  std::int64_t start = etcd.revision("/");
  etcd.put("/a/1", "one");
  etcd.put("/a/2", "two");
  etcd.put("/b/1", "other");
  EXPECT_EQ(etcd.revision("/"), start + 3);

  auto one = etcd.get("/a/1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->value, "one");
  EXPECT_EQ(one->create_revision, start + 1);
  EXPECT_EQ(one->mod_revision, start + 1);

  etcd.put("/a/1", "uno");
  one = etcd.get("/a/1");
  EXPECT_EQ(one->create_revision, start + 1);
  EXPECT_EQ(one->mod_revision, start + 4);

  auto listed = etcd.list("/a/");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "/a/1");
  EXPECT_EQ(listed[1].value, "two");
  EXPECT_EQ(etcd.list("/a/", 1).size(), 1u);
  EXPECT_FALSE(etcd.get("/missing"));
}

TEST(FakeEtcd, CreateCompareAndSwapAndDelete) {
  FakeEtcd etcd;
  EXPECT_TRUE(etcd.create("/k", "v1"));
  EXPECT_FALSE(etcd.create("/k", "v2"));
  EXPECT_EQ(etcd.get("/k")->value, "v1");

  std::int64_t mod = etcd.get("/k")->mod_revision;
  EXPECT_FALSE(etcd.compare_and_swap("/k", mod + 1, "stale"));
  EXPECT_TRUE(etcd.compare_and_swap("/k", mod, "v3"));
  EXPECT_EQ(etcd.get("/k")->value, "v3");
  EXPECT_FALSE(etcd.compare_and_swap("/k", 0, "only-if-absent"));
  EXPECT_TRUE(etcd.compare_and_swap("/new", 0, "absent-ok"));

  EXPECT_FALSE(etcd.compare_and_delete("/k", "v1"));
  EXPECT_TRUE(etcd.compare_and_delete("/k", "v3"));
  EXPECT_FALSE(etcd.get("/k"));
}

TEST(FakeEtcd, RemoveKeyAndPrefix) {
  FakeEtcd etcd;
  etcd.put("/p/1", "x");
  etcd.put("/p/2", "x");
  etcd.put("/q", "x");
  EXPECT_EQ(etcd.remove("/p/1"), 1);
  EXPECT_EQ(etcd.remove("/p/1"), 0);
  etcd.put("/p/3", "x");
  EXPECT_EQ(etcd.remove("/p/", true), 2);
  EXPECT_EQ(etcd.list("/").size(), 1u);
}

TEST(FakeEtcd, LeasesEndWithTheirKeys) {
  FakeEtcd etcd;
  auto lease = etcd.lease_grant(std::chrono::seconds(5));
  etcd.put("/leased", "x", lease);
  etcd.put("/kept", "x");
  EXPECT_TRUE(etcd.lease_keepalive(lease));
  std::int64_t before = etcd.revision("/");
  etcd.expire_lease(lease);
  EXPECT_FALSE(etcd.get("/leased"));
  EXPECT_TRUE(etcd.get("/kept"));
  EXPECT_GT(etcd.revision("/"), before);
  EXPECT_FALSE(etcd.lease_keepalive(lease));
  EXPECT_FALSE(etcd.lease_keepalive(12345));

  auto revoked = etcd.lease_grant(std::chrono::seconds(5));
  etcd.put("/r", "x", revoked);
  etcd.lease_revoke(revoked);
  EXPECT_FALSE(etcd.get("/r"));
  try {
    etcd.put("/late", "x", revoked);
    FAIL() << "a put with an ended lease must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
  EXPECT_FALSE(etcd.get("/late"));
}

TEST(FakeEtcd, UnavailableFailsEveryCallAndChangesNothing) {
  FakeEtcd etcd;
  etcd.put("/k", "v");
  etcd.set_unavailable(true);
  int before = etcd.calls();
  try {
    etcd.put("/k", "changed");
    FAIL() << "put must fail without quorum";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("majority"), std::string::npos);
  }
  EXPECT_THROW(etcd.get("/k"), Error);
  EXPECT_THROW(etcd.members(), Error);
  for (const auto& status : etcd.endpoint_status()) EXPECT_FALSE(status.healthy);
  EXPECT_EQ(etcd.calls(), before + 4);

  etcd.set_unavailable(false);
  EXPECT_EQ(etcd.get("/k")->value, "v");
}

TEST(FakeEtcd, EmptyKeyIsInvalid) {
  FakeEtcd etcd;
  try {
    etcd.put("", "v");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
  }
  EXPECT_TRUE(etcd.keys().empty());
}

TEST(FakeEtcd, MembersAndEndpointStatus) {
  FakeEtcd etcd;
  ASSERT_EQ(etcd.members().size(), 1u);
  auto id = etcd.member_add({"http://10.81.0.2:2380"});
  EXPECT_EQ(etcd.members().size(), 2u);
  EXPECT_THROW(etcd.member_add({"http://10.81.0.2:2380"}), Error);
  // An added member that has not started has no client URL, so it has no endpoint yet.
  EXPECT_EQ(etcd.endpoint_status().size(), 1u);
  etcd.member_remove(id);
  EXPECT_EQ(etcd.members().size(), 1u);
  EXPECT_THROW(etcd.member_remove(id), Error);

  EndpointStatus down;
  down.endpoint = "http://10.81.0.3:2379";
  down.error = "timeout";
  etcd.set_endpoint_status({down});
  auto statuses = etcd.endpoint_status();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].endpoint, "http://10.81.0.3:2379");
  EXPECT_FALSE(statuses[0].healthy);
}

TEST(FakeEtcd, BeforeCallHookCanInjectAConcurrentWriter) {
  FakeEtcd etcd;
  bool injected = false;
  etcd.set_before_call([&](const std::string& op, const std::string& key) {
    if (op == "create" && key == "/race" && !injected) {
      injected = true;
      etcd.put("/race", "other");
    }
  });
  EXPECT_FALSE(etcd.create("/race", "mine"));
  EXPECT_EQ(etcd.get("/race")->value, "other");
}

}  // namespace
}  // namespace kontena::etcd
