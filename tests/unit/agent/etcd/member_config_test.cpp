// The pure half of the etcd member supervisor: member_config_for, grid_etcd_endpoints,
// plan_bootstrap (every branch), etcd_arguments, and apply_membership against FakeEtcd.
#include "agent/etcd/member_config.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "fake_etcd.h"

namespace kontena::agent::etcd {
namespace {

using kontena::etcd::FakeEtcd;
using kontena::etcd::Member;

EtcdMemberConfig node(int n) { return member_config_for("demo", "10.81.0.0/16", 3, n, "/usr/bin/etcd", "/var/lib/kontena/etcd"); }

Member started(std::uint64_t id, int n) {
  Member member;
  member.id = id;
  member.name = "node-" + std::to_string(n);
  member.peer_urls = {"http://10.81.0." + std::to_string(n) + ":2380"};
  member.client_urls = {"http://10.81.0." + std::to_string(n) + ":2379"};
  return member;
}

std::string invalid_field(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
    return e.field();
  }
  ADD_FAILURE() << "no Error(invalid)";
  return {};
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

TEST(MemberConfig, NodeOfGrid) {
  auto config = node(2);
  EXPECT_EQ(config.cluster_token, "demo");
  EXPECT_EQ(config.member_name(), "node-2");
  EXPECT_EQ(config.etcd_bin, "/usr/bin/etcd");
  EXPECT_EQ(config.data_dir, "/var/lib/kontena/etcd");
  EXPECT_EQ(config.initial_peer_urls,
            (std::vector<std::string>{"http://10.81.0.1:2380", "http://10.81.0.2:2380", "http://10.81.0.3:2380"}));
  EXPECT_EQ(config.initial_client_urls,
            (std::vector<std::string>{"http://10.81.0.1:2379", "http://10.81.0.2:2379", "http://10.81.0.3:2379"}));
  EXPECT_EQ(config.listen_client_urls, (std::vector<std::string>{"http://127.0.0.1:2379", "http://10.81.0.2:2379"}));
  EXPECT_EQ(config.peer_url(), "http://10.81.0.2:2380");
  EXPECT_EQ(config.client_url(), "http://10.81.0.2:2379");
  EXPECT_EQ(config.local_client_url(), "http://127.0.0.1:2379");
  EXPECT_EQ(config.other_client_urls(), (std::vector<std::string>{"http://10.81.0.1:2379", "http://10.81.0.3:2379"}));
}

TEST(MemberConfig, SubnetBaseIsMasked) {
  auto config = member_config_for("g", "10.90.7.9/16", 1, 1, "etcd", "/d");
  EXPECT_EQ(config.initial_peer_urls, (std::vector<std::string>{"http://10.90.0.1:2380"}));
  EXPECT_TRUE(config.other_client_urls().empty());
}

TEST(MemberConfig, InvalidInputsNameTheField) {
  EXPECT_EQ(invalid_field([] { node(4); }), "node_number");
  EXPECT_EQ(invalid_field([] { node(0); }), "node_number");
  EXPECT_EQ(invalid_field([] { member_config_for("", "10.81.0.0/16", 3, 1, "etcd", "/d"); }), "grid");
  EXPECT_EQ(invalid_field([] { member_config_for("g", "10.81.0.0/16", 0, 1, "etcd", "/d"); }), "initial_size");
  for (const char* subnet : {"10.81.0.0", "300.1.0.0/16", "10.81.0.0/33", "10.81.0.0/", "10.81.0.0/1x", "fd00::/64", ""})
    EXPECT_EQ(invalid_field([&] { member_config_for("g", subnet, 3, 1, "etcd", "/d"); }), "subnet") << subnet;
  // A /30 has two host addresses: no room for three initial nodes.
  EXPECT_EQ(invalid_field([] { member_config_for("g", "10.81.0.0/30", 3, 1, "etcd", "/d"); }), "subnet");
  EXPECT_NO_THROW(member_config_for("g", "10.81.0.0/30", 2, 2, "etcd", "/d"));
  EXPECT_EQ(invalid_field([] { member_config_for("g", "10.81.0.0/16", 3, 1, "etcd", ""); }), "data_dir");
  EXPECT_EQ(invalid_field([] { member_config_for("g", "10.81.0.0/16", 3, 1, "", "/d"); }), "etcd_bin");
}

TEST(MemberConfig, ValidateCatchesInconsistentConfigs) {
  auto config = node(1);
  config.initial_client_urls.pop_back();
  EXPECT_EQ(invalid_field([&] { validate_member_config(config); }), "initial_client_urls");
  config = node(1);
  config.initial_peer_urls[2] = config.initial_peer_urls[0];
  EXPECT_EQ(invalid_field([&] { validate_member_config(config); }), "initial_peer_urls");
  config = node(1);
  config.listen_client_urls = {"127.0.0.1:2379"};
  EXPECT_EQ(invalid_field([&] { validate_member_config(config); }), "urls");
  config = node(1);
  config.election_ms = 200;
  EXPECT_EQ(invalid_field([&] { validate_member_config(config); }), "election_ms");
  config = node(1);
  config.node_number = 7;
  EXPECT_EQ(invalid_field([&] { plan_bootstrap(config, false, std::nullopt); }), "node_number");
}

TEST(MemberConfig, GridEndpoints) {
  EXPECT_EQ(grid_etcd_endpoints("10.81.0.0/16", 3),
            (std::vector<std::string>{"http://10.81.0.1:2379", "http://10.81.0.2:2379", "http://10.81.0.3:2379"}));
  EXPECT_EQ(grid_etcd_endpoints("192.168.4.0/24", 1, 12379), (std::vector<std::string>{"http://192.168.4.1:12379"}));
  EXPECT_EQ(invalid_field([] { grid_etcd_endpoints("nope", 3); }), "subnet");
  EXPECT_EQ(invalid_field([] { grid_etcd_endpoints("10.81.0.0/16", 3, 0); }), "client_port");
}

const std::vector<std::string> full_initial_cluster = {
    "node-1=http://10.81.0.1:2380", "node-2=http://10.81.0.2:2380", "node-3=http://10.81.0.3:2380"};

TEST(PlanBootstrap, WithDataUsesTheSavedClusterAndExisting) {
  std::vector<std::string> saved = {"node-1=http://10.81.0.1:2380", "node-3=http://10.81.0.3:2380"};
  auto plan = plan_bootstrap(node(3), true, std::vector<Member>{started(1, 1)}, saved);
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::restart_with_data);
  EXPECT_EQ(plan.cluster_state, "existing");
  EXPECT_EQ(plan.initial_cluster, saved);
  EXPECT_FALSE(plan.add_member);
  EXPECT_FALSE(plan.remove_member);
  // Nothing saved (data from an older agent): the initial members, still "existing".
  plan = plan_bootstrap(node(3), true, std::nullopt);
  EXPECT_EQ(plan.cluster_state, "existing");
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
}

TEST(PlanBootstrap, NoAnswerBootstrapsNew) {
  auto plan = plan_bootstrap(node(2), false, std::nullopt);
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::bootstrap);
  EXPECT_EQ(plan.cluster_state, "new");
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
  EXPECT_FALSE(plan.add_member);
  EXPECT_FALSE(plan.remove_member);
}

TEST(PlanBootstrap, ClusterStillBootstrappingStartsNew) {
  // Nodes 1 and 2 formed the cluster from the initial list; node-3 is named but never started.
  auto waiting = started(3, 3);
  waiting.client_urls.clear();
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), started(2, 2), waiting});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::bootstrap);
  EXPECT_EQ(plan.cluster_state, "new");
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
  EXPECT_FALSE(plan.add_member);
  EXPECT_FALSE(plan.remove_member);
}

TEST(PlanBootstrap, StartedMemberWithOurNameIsReplaced) {
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), started(2, 2), started(33, 3)});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::replace);
  EXPECT_EQ(plan.cluster_state, "existing");
  ASSERT_TRUE(plan.remove_member);
  EXPECT_EQ(*plan.remove_member, 33u);
  EXPECT_TRUE(plan.add_member);
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
}

TEST(PlanBootstrap, StartedMemberWithOurPeerUrlButAnotherNameIsReplaced) {
  auto old = started(44, 3);
  old.name = "old-node";
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), old, started(2, 2)});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::replace);
  ASSERT_TRUE(plan.remove_member);
  EXPECT_EQ(*plan.remove_member, 44u);
  EXPECT_TRUE(plan.add_member);
  EXPECT_FALSE(contains(plan.initial_cluster, "old-node=http://10.81.0.3:2380"));
  EXPECT_TRUE(contains(plan.initial_cluster, "node-3=http://10.81.0.3:2380"));
  EXPECT_EQ(plan.initial_cluster.size(), 3u);
}

TEST(PlanBootstrap, StartedMemberWithOurNameAndAnotherPeerUrlIsReplaced) {
  auto moved = started(55, 3);
  moved.peer_urls = {"http://10.81.9.9:2380"};
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), started(2, 2), moved});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::replace);
  EXPECT_EQ(plan.remove_member, std::optional<std::uint64_t>(55));
  EXPECT_FALSE(contains(plan.initial_cluster, "node-3=http://10.81.9.9:2380"));
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
}

TEST(PlanBootstrap, UnknownMemberJoins) {
  // node-3 was removed (e.g. by an earlier attempt that failed before its add).
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), started(2, 2)});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::join);
  EXPECT_EQ(plan.cluster_state, "existing");
  EXPECT_TRUE(plan.add_member);
  EXPECT_FALSE(plan.remove_member);
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
}

TEST(PlanBootstrap, AddedButNotStartedResumesTheJoin) {
  Member added;
  added.id = 66;
  added.peer_urls = {"http://10.81.0.3:2380"};
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), started(2, 2), added});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::resume_join);
  EXPECT_EQ(plan.cluster_state, "existing");
  EXPECT_FALSE(plan.add_member);
  EXPECT_FALSE(plan.remove_member);
  EXPECT_EQ(plan.initial_cluster, full_initial_cluster);
}

TEST(PlanBootstrap, OtherUnstartedMembersGetANameForTheInitialCluster) {
  // node-2 is being replaced at the same time (added, not started); an unknown extra member too.
  Member node2;
  node2.id = 2;
  node2.peer_urls = {"http://10.81.0.2:2380"};
  Member stranger;
  stranger.id = 0xabc;
  stranger.peer_urls = {"http://10.81.5.5:2380"};
  auto plan = plan_bootstrap(node(3), false, std::vector<Member>{started(1, 1), node2, stranger});
  EXPECT_EQ(plan.kind, BootstrapPlan::Kind::join);
  EXPECT_TRUE(contains(plan.initial_cluster, "node-2=http://10.81.0.2:2380"));
  EXPECT_TRUE(contains(plan.initial_cluster, "member-abc=http://10.81.5.5:2380"));
  EXPECT_EQ(plan.initial_cluster.back(), "node-3=http://10.81.0.3:2380");
}

TEST(EtcdArguments, AllFlags) {
  auto config = node(2);
  auto plan = plan_bootstrap(config, false, std::nullopt);
  auto args = etcd_arguments(config, plan, "/abs/data");
  auto flag = [&](const std::string& name) -> std::string {
    auto it = std::find(args.begin(), args.end(), name);
    if (it == args.end() || it + 1 == args.end()) return "<missing>";
    return *(it + 1);
  };
  EXPECT_EQ(args.front(), "/usr/bin/etcd");
  EXPECT_EQ(flag("--name"), "node-2");
  EXPECT_EQ(flag("--data-dir"), "/abs/data");
  EXPECT_EQ(flag("--listen-peer-urls"), "http://10.81.0.2:2380");
  EXPECT_EQ(flag("--initial-advertise-peer-urls"), "http://10.81.0.2:2380");
  EXPECT_EQ(flag("--listen-client-urls"), "http://127.0.0.1:2379,http://10.81.0.2:2379");
  EXPECT_EQ(flag("--advertise-client-urls"), "http://10.81.0.2:2379");
  EXPECT_EQ(flag("--initial-cluster"),
            "node-1=http://10.81.0.1:2380,node-2=http://10.81.0.2:2380,node-3=http://10.81.0.3:2380");
  EXPECT_EQ(flag("--initial-cluster-state"), "new");
  EXPECT_EQ(flag("--initial-cluster-token"), "demo");
  EXPECT_EQ(flag("--heartbeat-interval"), "100");
  EXPECT_EQ(flag("--election-timeout"), "1000");
  EXPECT_EQ(flag("--snapshot-count"), "10000");
  EXPECT_EQ(flag("--auto-compaction-retention"), "1");
  EXPECT_NE(flag("--quota-backend-bytes"), "<missing>");
}

// --- membership changes against FakeEtcd

struct Recorded {
  FakeEtcd fake;
  std::vector<std::string> ops;
  Recorded(std::vector<Member> members) {
    fake.set_members(std::move(members));
    fake.set_before_call([this](const std::string& op, const std::string&) { ops.push_back(op); });
  }
};

TEST(ApplyMembership, ReplaceRemovesTheOldMemberThenAddsThisOne) {
  Recorded cluster({started(1, 1), started(2, 2), started(33, 3)});
  auto config = node(3);
  auto plan = plan_bootstrap(config, false, cluster.fake.members());
  ASSERT_EQ(plan.kind, BootstrapPlan::Kind::replace);
  cluster.ops.clear();
  apply_membership(config, plan, cluster.fake);
  EXPECT_EQ(cluster.ops, (std::vector<std::string>{"member_remove", "member_add"}));
  auto members = cluster.fake.members();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_TRUE(std::none_of(members.begin(), members.end(), [](const Member& m) { return m.id == 33; }));
  auto added = std::find_if(members.begin(), members.end(),
                            [](const Member& m) { return m.peer_urls == std::vector<std::string>{"http://10.81.0.3:2380"}; });
  ASSERT_NE(added, members.end());
  EXPECT_TRUE(added->client_urls.empty());
  // The next decision (e.g. after the agent died before etcd started) resumes the join.
  EXPECT_EQ(plan_bootstrap(config, false, members).kind, BootstrapPlan::Kind::resume_join);
}

TEST(ApplyMembership, RepeatedAfterAPartialReplaceStillEndsWithOneMember) {
  // The remove went through, the add did not: planning again joins.
  Recorded cluster({started(1, 1), started(2, 2)});
  auto config = node(3);
  auto plan = plan_bootstrap(config, false, cluster.fake.members());
  ASSERT_EQ(plan.kind, BootstrapPlan::Kind::join);
  apply_membership(config, plan, cluster.fake);
  EXPECT_EQ(cluster.fake.members().size(), 3u);
}

TEST(ApplyMembership, NoMajoritySaysSoAndChangesNothing) {
  Recorded cluster({started(1, 1), started(2, 2), started(33, 3)});
  // members() still answers (etcd 3.4 serves the member list locally); changes need a majority.
  cluster.fake.set_before_call([&](const std::string& op, const std::string&) {
    if (op == "member_remove" || op == "member_add") cluster.fake.set_unavailable(true);
  });
  auto config = node(3);
  auto plan = plan_bootstrap(config, false, cluster.fake.members());
  try {
    apply_membership(config, plan, cluster.fake);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    std::string message = e.what();
    EXPECT_NE(message.find("lost its majority"), std::string::npos) << message;
    EXPECT_NE(message.find("node-3 cannot"), std::string::npos) << message;
    EXPECT_NE(message.find("2 of 3"), std::string::npos) << message;
  }
  cluster.fake.set_unavailable(false);
  cluster.fake.set_before_call({});
  auto members = cluster.fake.members();
  EXPECT_EQ(members.size(), 3u);
  EXPECT_TRUE(std::any_of(members.begin(), members.end(), [](const Member& m) { return m.id == 33; }));
}

TEST(ApplyMembership, AddFailureWithoutMajority) {
  Recorded cluster({started(1, 1), started(2, 2)});
  cluster.fake.set_before_call([&](const std::string& op, const std::string&) {
    if (op == "member_add") cluster.fake.set_unavailable(true);
  });
  auto config = node(3);
  auto plan = plan_bootstrap(config, false, cluster.fake.members());
  try {
    apply_membership(config, plan, cluster.fake);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("cannot join the cluster until a majority"), std::string::npos) << e.what();
  }
}

TEST(ApplyMembership, BootstrapChangesNothing) {
  Recorded cluster({});
  auto plan = plan_bootstrap(node(1), false, std::nullopt);
  apply_membership(node(1), plan, cluster.fake);
  EXPECT_TRUE(cluster.ops.empty());
}

}  // namespace
}  // namespace kontena::agent::etcd
