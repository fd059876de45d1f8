// The ServicePod contract (src/protocol/service_pod.h): parsing, validation, round trip, naming,
// the container spec (labels io.kontena.*, env KONTENA_*), and the pod state report.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "protocol/service_pod.h"

using namespace kontena;
using namespace kontena::protocol;

namespace {

Json minimal() {
  return Json{{"service_id", "svc1"},
              {"service_name", "web"},
              {"stack_name", "shop"},
              {"grid_name", "demo"},
              {"instance_number", 2},
              {"image", "nginx"}};
}

Json full() {
  Json j = minimal();
  j.update(Json{{"deploy_rev", "2026-11-25T20:00:00.000Z"},
                {"service_revision", 7},
                {"desired_state", "running"},
                {"cmd", {"nginx", "-g", "daemon off;"}},
                {"entrypoint", {"/docker-entrypoint.sh"}},
                {"env", {"FOO=bar", "EMPTY="}},
                {"secrets", {{{"name", "DB_PASSWORD"}, {"value", "s3cr3t"}, {"type", "env"}}}},
                {"labels", {{"team", "a"}}},
                {"ports", {{{"container_port", 80}, {"node_port", 8080}, {"protocol", "tcp"}, {"ip", "0.0.0.0"}}}},
                {"volumes", {"data:/data", "/host:/ctr:ro"}},
                {"net", "bridge"},
                {"cpus", 0.5},
                {"cpu_shares", 512},
                {"mem_limit", 67108864},
                {"memswap_limit", 134217728},
                {"shm_size", 1048576},
                {"privileged", true},
                {"cap_add", {"NET_ADMIN"}},
                {"cap_drop", {"MKNOD"}},
                {"user", "nobody"},
                {"read_only", true},
                {"pid", "host"},
                {"log_driver", "json-file"},
                {"log_opts", {{"max-size", "10m"}}},
                {"stop_signal", "SIGQUIT"},
                {"stop_grace_period", 3},
                {"hooks",
                 {{"pre_start", {{{"name", "migrate"}, {"cmd", "echo migrate"}, {"oneshot", true}}}},
                  {"post_start", {{{"name", "warm"}, {"cmd", "echo warm"}}}},
                  {"pre_stop", {{{"name", "drain"}, {"cmd", "echo drain"}}}}}},
                {"health_check",
                 {{"protocol", "http"}, {"port", 80}, {"uri", "/health"}, {"timeout", 2}, {"interval", 5},
                  {"initial_delay", 1}}},
                {"wait_for_port", 80},
                {"init", true},
                {"network", {{"name", "kontena"}, {"ip", "10.81.128.5"}}},
                {"dns", {"10.81.0.1"}},
                {"dns_search", {"shop.demo.kontena.local"}}});
  return j;
}

std::string error_of(const Json& j) {
  try {
    service_pod_from_json(j);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    return e.field() + " | " + e.what();
  }
  return "no error";
}

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST(ServicePod, MinimalDefaults) {
  ServicePod p = service_pod_from_json(minimal());
  EXPECT_EQ(p.service_id, "svc1");
  EXPECT_EQ(p.instance_number, 2);
  EXPECT_EQ(p.desired_state, "running");
  EXPECT_EQ(p.image, "nginx:latest");
  EXPECT_EQ(p.stop_grace_period, 10);
  EXPECT_EQ(p.service_revision, 0);
  EXPECT_FALSE(p.cmd);
  EXPECT_FALSE(p.entrypoint);
  EXPECT_FALSE(p.health_check);
  EXPECT_FALSE(p.wait_for_port);
}

TEST(ServicePod, FullRoundTrip) {
  ServicePod p = service_pod_from_json(full());
  ASSERT_TRUE(p.health_check);
  EXPECT_EQ(p.health_check->uri, "/health");
  EXPECT_EQ(p.hooks.pre_start.size(), 1u);
  EXPECT_TRUE(p.hooks.pre_start[0].oneshot);
  EXPECT_EQ(*p.wait_for_port, 80);
  EXPECT_EQ(p.network->ip, "10.81.128.5");
  Json again = to_json(p);
  ServicePod q = service_pod_from_json(again);
  EXPECT_EQ(to_json(q), again);
  EXPECT_EQ(again["image"], "nginx:latest");
  EXPECT_EQ(again["secrets"][0]["value"], "s3cr3t");
}

TEST(ServicePod, ImageTags) {
  auto img = [](const std::string& i) {
    Json j = minimal();
    j["image"] = i;
    return service_pod_from_json(j).image;
  };
  EXPECT_EQ(img("redis"), "redis:latest");
  EXPECT_EQ(img("redis:7"), "redis:7");
  EXPECT_EQ(img("10.0.0.1:5000/x/redis"), "10.0.0.1:5000/x/redis:latest");
  EXPECT_EQ(img("10.0.0.1:5000/x/redis:1"), "10.0.0.1:5000/x/redis:1");
  EXPECT_EQ(img("redis@sha256:abc"), "redis@sha256:abc");
}

TEST(ServicePod, NullStack) {
  Json j = minimal();
  j.erase("stack_name");
  ServicePod p = service_pod_from_json(j);
  EXPECT_TRUE(p.null_stack());
  EXPECT_EQ(container_name(p), "web-2");
  EXPECT_EQ(pod_domainname(p), "demo.kontena.local");
  j["stack_name"] = "null";
  EXPECT_EQ(container_name(service_pod_from_json(j)), "web-2");
}

TEST(ServicePod, Naming) {
  ServicePod p = service_pod_from_json(minimal());
  EXPECT_EQ(container_name(p), "shop.web-2");
  EXPECT_EQ(pod_hostname(p), "web-2");
  EXPECT_EQ(pod_domainname(p), "shop.demo.kontena.local");
  p.hostname = "custom";
  EXPECT_EQ(pod_hostname(p), "custom");
}

TEST(ServicePod, ValidationErrors) {
  auto with = [](const char* key, Json v) {
    Json j = full();
    j[key] = std::move(v);
    return error_of(j);
  };
  auto without = [](const char* key) {
    Json j = full();
    j.erase(key);
    return error_of(j);
  };
  EXPECT_EQ(error_of(Json::array()), "service_pod | service pod: service_pod must be an object");
  EXPECT_EQ(without("service_id"), "service_pod.service_id | service pod: service_pod.service_id is missing");
  EXPECT_EQ(without("service_name"), "service_pod.service_name | service pod: service_pod.service_name is missing");
  EXPECT_EQ(without("grid_name"), "service_pod.grid_name | service pod: service_pod.grid_name is missing");
  EXPECT_EQ(without("instance_number"),
            "service_pod.instance_number | service pod: service_pod.instance_number is missing");
  EXPECT_EQ(without("image"), "service_pod.image | service pod: service_pod.image is missing");
  EXPECT_NE(with("instance_number", 0).find("must be between 1 and"), std::string::npos);
  EXPECT_NE(with("instance_number", "1").find("must be an integer"), std::string::npos);
  EXPECT_NE(with("desired_state", "paused").find("must be running, stopped or terminated"), std::string::npos);
  EXPECT_NE(with("service_name", "we b").find("letters, digits"), std::string::npos);
  EXPECT_NE(with("service_id", "a b").find("printable characters without spaces"), std::string::npos);
  EXPECT_EQ(with("service_id", "demo/shop/web"), "no error");
  EXPECT_NE(with("env", {"NOEQUALS"}).find("must be NAME=VALUE"), std::string::npos);
  EXPECT_NE(with("env", {"=x"}).find("must be NAME=VALUE"), std::string::npos);
  EXPECT_NE(with("env", "A=b").find("must be an array of strings"), std::string::npos);
  EXPECT_NE(with("cmd", {1}).find("service_pod.cmd[0] | "), std::string::npos);
  EXPECT_NE(with("labels", {{"a", 1}}).find("service_pod.labels.a"), std::string::npos);
  EXPECT_NE(with("ports", {{{"container_port", 0}}}).find("service_pod.ports[0].container_port"), std::string::npos);
  EXPECT_NE(with("ports", {{{"container_port", 80}, {"protocol", "sctp"}}}).find("must be tcp or udp"),
            std::string::npos);
  EXPECT_NE(with("net", "weird").find("must be bridge, host or container:<name>"), std::string::npos);
  EXPECT_EQ(with("net", "container:foo").find("no error"), 0u);
  EXPECT_NE(with("pid", "container").find("must be host"), std::string::npos);
  EXPECT_NE(with("cpus", 0).find("above 0"), std::string::npos);
  EXPECT_NE(with("cpu_shares", 2048).find("between 0 and 1024"), std::string::npos);
  EXPECT_NE(with("stop_grace_period", -1).find("stop_grace_period"), std::string::npos);
  EXPECT_NE(with("privileged", "yes").find("must be true or false"), std::string::npos);
  EXPECT_NE(with("secrets", {{{"name", "A"}, {"value", "b"}, {"type", "file"}}}).find("must be env"),
            std::string::npos);
  EXPECT_NE(with("hooks", {{"pre_start", {{{"name", "x"}}}}}).find("service_pod.hooks.pre_start[0].cmd is missing"),
            std::string::npos);
  EXPECT_NE(with("health_check", {{"protocol", "udp"}, {"port", 1}}).find("must be http or tcp"), std::string::npos);
  EXPECT_NE(with("health_check", {{"protocol", "http"}}).find("health_check.port is missing"), std::string::npos);
  EXPECT_NE(with("health_check", {{"protocol", "http"}, {"port", 80}, {"uri", "x"}}).find("must start with /"),
            std::string::npos);
  EXPECT_NE(with("health_check", {{"protocol", "tcp"}, {"port", 80}, {"timeout", 20}, {"interval", 10}})
                .find("must not be shorter than the timeout"),
            std::string::npos);
  EXPECT_NE(with("wait_for_port", 70000).find("wait_for_port"), std::string::npos);
  EXPECT_NE(with("network", {{"ip", "1.2.3.4"}}).find("network.name is missing"), std::string::npos);
  // A terminated pod needs no image.
  Json t = minimal();
  t.erase("image");
  t["desired_state"] = "terminated";
  EXPECT_NO_THROW(service_pod_from_json(t));
  // Unknown keys are ignored.
  Json u = minimal();
  u["something_new"] = {1, 2};
  EXPECT_NO_THROW(service_pod_from_json(u));
}

TEST(ServicePod, ListResult) {
  Json a = minimal();
  Json b = minimal();
  b["instance_number"] = 3;
  auto pods = service_pods_from_list_result(Json{{"service_pods", {a, b}}});
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[1].instance_number, 3);
  EXPECT_TRUE(service_pods_from_list_result(Json{{"service_pods", Json::array()}}).empty());
  try {
    service_pods_from_list_result(Json{{"service_pods", {a, a}}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "service pod: service_pods[1] repeats service svc1 instance 2");
  }
  try {
    Json bad = b;
    bad["ports"] = "80";
    service_pods_from_list_result(Json{{"service_pods", {a, bad}}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "service_pods[1].ports");
  }
  EXPECT_THROW(service_pods_from_list_result(Json::array()), Error);
  EXPECT_THROW(service_pods_from_list_result(Json{{"pods", Json::array()}}), Error);
}

TEST(ServicePod, ContainerSpec) {
  ServicePod p = service_pod_from_json(full());
  auto s = container_spec(p, "node-1");
  EXPECT_EQ(s.name, "shop.web-2");
  EXPECT_EQ(s.image, "nginx:latest");
  EXPECT_EQ(s.hostname, "web-2");
  EXPECT_EQ(s.domainname, "shop.demo.kontena.local");
  EXPECT_EQ(s.cmd, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(*s.entrypoint, std::vector<std::string>{"/docker-entrypoint.sh"});
  EXPECT_EQ(s.labels.at("io.kontena.service.id"), "svc1");
  EXPECT_EQ(s.labels.at("io.kontena.service.name"), "web");
  EXPECT_EQ(s.labels.at("io.kontena.service.instance_number"), "2");
  EXPECT_EQ(s.labels.at("io.kontena.stack.name"), "shop");
  EXPECT_EQ(s.labels.at("io.kontena.grid.name"), "demo");
  EXPECT_EQ(s.labels.at("io.kontena.platform.name"), "demo");
  EXPECT_EQ(s.labels.at("io.kontena.container.type"), "container");
  EXPECT_EQ(s.labels.at("io.kontena.container.name"), "shop.web-2");
  EXPECT_EQ(s.labels.at("io.kontena.container.pod"), "shop.web-2");
  EXPECT_EQ(s.labels.at("io.kontena.container.deploy_rev"), "2026-11-25T20:00:00.000Z");
  EXPECT_EQ(s.labels.at("io.kontena.container.service_revision"), "7");
  EXPECT_EQ(s.labels.at("io.kontena.container.stop_grace_period"), "3");
  EXPECT_EQ(s.labels.at("io.kontena.container.overlay_cidr"), "10.81.128.5/16");
  EXPECT_EQ(s.labels.at("io.kontena.health_check.protocol"), "http");
  EXPECT_EQ(s.labels.at("io.kontena.health_check.uri"), "/health");
  EXPECT_EQ(s.labels.at("io.kontena.health_check.initial_delay"), "1");
  EXPECT_EQ(s.labels.at("team"), "a");
  EXPECT_TRUE(has(s.env, "FOO=bar"));
  EXPECT_TRUE(has(s.env, "EMPTY="));
  EXPECT_TRUE(has(s.env, "DB_PASSWORD=s3cr3t"));
  EXPECT_TRUE(has(s.env, "KONTENA_SERVICE_ID=svc1"));
  EXPECT_TRUE(has(s.env, "KONTENA_SERVICE_NAME=web"));
  EXPECT_TRUE(has(s.env, "KONTENA_GRID_NAME=demo"));
  EXPECT_TRUE(has(s.env, "KONTENA_PLATFORM_NAME=demo"));
  EXPECT_TRUE(has(s.env, "KONTENA_STACK_NAME=shop"));
  EXPECT_TRUE(has(s.env, "KONTENA_NODE_NAME=node-1"));
  EXPECT_TRUE(has(s.env, "KONTENA_SERVICE_INSTANCE_NUMBER=2"));
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].container_port, 80);
  EXPECT_EQ(s.ports[0].host_port, 8080);
  EXPECT_EQ(s.ports[0].host_ip, "");
  EXPECT_EQ(s.binds, (std::vector<std::string>{"data:/data", "/host:/ctr:ro"}));
  EXPECT_EQ(s.network_mode, "bridge");
  EXPECT_EQ(*s.cpus, 0.5);
  EXPECT_EQ(*s.cpu_shares, 512);
  EXPECT_EQ(*s.memory_bytes, 67108864);
  EXPECT_EQ(*s.memory_swap_bytes, 134217728);
  EXPECT_EQ(*s.shm_size_bytes, 1048576);
  EXPECT_TRUE(s.privileged);
  EXPECT_TRUE(s.read_only);
  EXPECT_TRUE(s.init);
  EXPECT_EQ(s.pid_mode, "host");
  EXPECT_EQ(s.user, "nobody");
  EXPECT_EQ(s.cap_add, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(s.cap_drop, std::vector<std::string>{"MKNOD"});
  EXPECT_EQ(s.log_driver, "json-file");
  EXPECT_EQ(s.log_opts.at("max-size"), "10m");
  EXPECT_EQ(s.stop_signal, "SIGQUIT");
  EXPECT_EQ(*s.stop_timeout_seconds, 3);
  EXPECT_EQ(s.restart_policy, "");
  EXPECT_EQ(s.network_ips.at("kontena"), "10.81.128.5");
  EXPECT_EQ(s.dns, std::vector<std::string>{"10.81.0.1"});
  EXPECT_EQ(s.dns_search, std::vector<std::string>{"shop.demo.kontena.local"});
}

TEST(ServicePod, ContainerSpecEnvPrecedence) {
  Json j = minimal();
  j["env"] = {"KONTENA_NODE_NAME=fake", "A=1", "SECRET=plain"};
  j["secrets"] = {{{"name", "SECRET"}, {"value", "hidden"}}};
  j["labels"] = {{"io.kontena.service.id", "spoofed"}};
  auto s = container_spec(service_pod_from_json(j), "n1");
  EXPECT_TRUE(has(s.env, "KONTENA_NODE_NAME=n1"));
  EXPECT_FALSE(has(s.env, "KONTENA_NODE_NAME=fake"));
  EXPECT_TRUE(has(s.env, "SECRET=hidden"));
  EXPECT_FALSE(has(s.env, "SECRET=plain"));
  EXPECT_TRUE(has(s.env, "A=1"));
  EXPECT_EQ(s.labels.at("io.kontena.service.id"), "svc1");
  EXPECT_FALSE(s.labels.count("io.kontena.health_check.port"));
  EXPECT_FALSE(s.labels.count("io.kontena.container.overlay_cidr"));
  EXPECT_TRUE(s.network_ips.empty());
}

TEST(ServicePod, HostNetHasNoHostname) {
  Json j = minimal();
  j["net"] = "host";
  auto s = container_spec(service_pod_from_json(j), "n1");
  EXPECT_EQ(s.hostname, "");
  EXPECT_EQ(s.network_mode, "host");
  j["net"] = "";
  j["network"] = {{"name", "kontena"}};
  auto t = container_spec(service_pod_from_json(j), "n1");
  EXPECT_EQ(t.network_mode, "kontena");
  EXPECT_EQ(t.network_ips.at("kontena"), "");
}

TEST(PodState, JsonRoundTrip) {
  PodState s{"svc1", 2, "rev-1", "running", ""};
  Json j = to_json(s);
  EXPECT_EQ(j, Json::parse(R"({"service_id":"svc1","instance_number":2,"rev":"rev-1","state":"running","error":null})"));
  EXPECT_EQ(pod_state_from_json(j), s);
  PodState e{"svc1", 1, "", "missing", "create failed"};
  EXPECT_EQ(to_json(e)["error"], "create failed");
  EXPECT_EQ(pod_state_from_json(to_json(e)), e);
  Json bad = j;
  bad["state"] = "dead";
  EXPECT_THROW(pod_state_from_json(bad), Error);
  EXPECT_THROW(pod_state_from_json(Json::array()), Error);
}
