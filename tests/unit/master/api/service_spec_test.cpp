// service_spec.cpp and the helpers of stack_support.cpp without the HTTP layer: normalisation,
// link targets, change detection, stack definition checks, ISO times, derived stack state.
#include <gtest/gtest.h>

#include "common/error.h"
#include "master/api/service_spec.h"
#include "master/api/stack_support.h"

using namespace kontena;
using namespace kontena::master;
using nlohmann::json;

namespace {

std::string field_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
    return e.field();
  }
  return "(no error)";
}

}  // namespace

TEST(ServiceSpec, NormaliseFillsDefaultsAndTagsTheImage) {
  auto spec = normalise_service_spec(json{{"name", "web"}, {"image", "registry:5000/team/app"}});
  EXPECT_EQ(spec["image"], "registry:5000/team/app:latest");
  EXPECT_EQ(spec, [] {
    auto d = default_service_spec("web");
    d["image"] = "registry:5000/team/app:latest";
    return d;
  }());
  EXPECT_EQ(normalise_service_spec(json{{"name", "web"}, {"image", "nginx:1.25"}})["image"], "nginx:1.25");
  EXPECT_EQ(normalise_service_spec(json{{"name", "web"}, {"image", "nginx@sha256:abc"}})["image"], "nginx@sha256:abc");
  // Partial objects get their defaults; null lists mean "default".
  auto d = normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"deploy", {{"strategy", "daemon"}}}, {"ports", nullptr},
                                       {"health_check", {{"protocol", "tcp"}, {"port", 80}}}});
  EXPECT_EQ(d["deploy"], json({{"strategy", "daemon"}, {"min_health", 0.8}, {"wait_for_port", nullptr}, {"interval", nullptr}}));
  EXPECT_EQ(d["ports"], json::array());
  EXPECT_TRUE(d["health_check"]["uri"].is_null());
  EXPECT_EQ(d["health_check"]["interval"], 60);
  // Volumes: the type follows the source.
  auto v = normalise_service_spec(json{{"name", "web"}, {"image", "x"},
                                       {"volumes", json::array({json{{"target", "/a"}}, json{{"source", "/h"}, {"target", "/b"}, {"flags", "ro"}},
                                                                json{{"source", "data"}, {"target", "/c"}}})}});
  EXPECT_EQ(v["volumes"][0]["type"], "anonymous");
  EXPECT_EQ(v["volumes"][1]["type"], "bind");
  EXPECT_EQ(v["volumes"][2]["type"], "named");
  // A normalised spec is a fixed point.
  EXPECT_EQ(normalise_service_spec(v), v);
}

TEST(ServiceSpec, FieldsNameThePlaceWithThePrefix) {
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"ports", json::array({json{{"node_port", 1}, {"container_port", 65536}}})}}, "services[3]"); }),
            "services[3].ports[0].container_port");
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"hooks", {{"pre_stop", json::array({json{{"name", "a"}, {"cmd", "b"}, {"x", 1}}})}}}}); }),
            "hooks.pre_stop[0].x");
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"volumes", json::array({json{{"target", "/a"}}, json{{"target", "/a"}}})}}); }),
            "volumes[1].target");
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"volumes", json::array({json{{"type", "bind"}, {"target", "/a"}}})}}); }),
            "volumes[0].type");
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"environment", {"A=1", "A=2"}}}); }),
            "environment[1]");
  EXPECT_EQ(field_of([] { normalise_service_spec(json{{"name", "web"}, {"image", "x"}, {"instances", json(std::uint64_t{1} << 63)}}); }),
            "instances");
  EXPECT_EQ(field_of([] { normalise_service_spec(json::array()); }), "service");
}

TEST(ServiceSpec, NamesAndLinks) {
  for (const std::string& ok : std::vector<std::string>{"a", "web-1", "0db", std::string(63, 'x')}) EXPECT_NO_THROW(validate_resource_name("name", "stack", ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"", "-a", "A", "a_b", "a.b", "null", std::string(64, 'x')})
    EXPECT_THROW(validate_resource_name("name", "stack", bad), Error) << bad;
  EXPECT_NO_THROW(validate_resource_name("name", "service", "null"));
  auto t = link_target("shop", "db");
  EXPECT_EQ(t.stack, "shop");
  EXPECT_EQ(t.service, "db");
  t = link_target("null", "other/api");
  EXPECT_EQ(t.stack, "other");
  EXPECT_EQ(t.service, "api");
  EXPECT_EQ(link_target("", "db").stack, "null");
}

TEST(ServiceSpec, ChangedFieldsAndRevisionRule) {
  auto a = normalise_service_spec(json{{"name", "web"}, {"image", "x"}});
  auto b = a;
  EXPECT_TRUE(changed_spec_fields(a, b).empty());
  b["instances"] = 3;
  EXPECT_EQ(changed_spec_fields(a, b), std::vector<std::string>{"instances"});
  EXPECT_FALSE(spec_change_needs_revision(changed_spec_fields(a, b)));
  b["image"] = "y:latest";
  EXPECT_EQ(changed_spec_fields(a, b), (std::vector<std::string>{"image", "instances"}));
  EXPECT_TRUE(spec_change_needs_revision(changed_spec_fields(a, b)));
}

TEST(ServiceSpec, StackDefinitionDefaultsAndChecks) {
  StackCheckContext ctx;
  ctx.grid = "demo";
  ctx.service_exists = [](const std::string& stack, const std::string& service) { return stack == "db" && service == "pg"; };
  auto def = normalise_stack_definition(
      json{{"name", "app"},
           {"volumes", json::array({json{{"name", "data"}, {"external", true}}})},
           {"services", json::array({json{{"name", "api"}, {"image", "api"}, {"links", {"db/pg"}},
                                          {"volumes", json::array({json{{"source", "data"}, {"target", "/d"}}})}}})}},
      ctx);
  EXPECT_EQ(def["stack"], "app");
  EXPECT_EQ(def["version"], "0.0.1");
  EXPECT_EQ(def["labels"], json::array());
  EXPECT_EQ(def["volumes"][0]["external"], "data");
  EXPECT_TRUE(def["parent"].is_null());
  EXPECT_EQ(def["services"][0]["links"][0]["alias"], "pg");
  EXPECT_EQ(normalise_stack_definition(def, ctx), def);  // a fixed point

  // Volumes alone make a stack.
  EXPECT_NO_THROW(normalise_stack_definition(
      json{{"name", "vols"}, {"services", json::array()}, {"volumes", json::array({json{{"name", "v"}, {"external", "other"}}})}}, ctx));
  // A three-service cycle is named.
  try {
    normalise_stack_definition(json{{"name", "c"},
                                    {"services", json::array({json{{"name", "a"}, {"image", "x"}, {"links", {"b"}}},
                                                              json{{"name", "b"}, {"image", "x"}, {"depends_on", {"c"}}},
                                                              json{{"name", "c"}, {"image", "x"}, {"links", {"a"}}}})}},
                               ctx);
    FAIL() << "no cycle found";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a -> b -> c -> a"), std::string::npos) << e.what();
  }
  // A chain without cycle is fine; a link to this stack by its full name is local.
  EXPECT_NO_THROW(normalise_stack_definition(json{{"name", "c"},
                                                  {"services", json::array({json{{"name", "a"}, {"image", "x"}, {"links", {"c/b"}}},
                                                                            json{{"name", "b"}, {"image", "x"}}})}},
                                             ctx));
  EXPECT_EQ(field_of([&] {
              normalise_stack_definition(json{{"name", "c"}, {"services", json::array()}, {"dependencies", json::array({json{{"name", "x"}}})}}, ctx);
            }),
            "dependencies[0].stack");
  EXPECT_EQ(field_of([&] {
              normalise_stack_definition(json{{"name", "c"}, {"services", json::array()},
                                              {"volumes", json::array({json{{"name", "v"}, {"external", false}}})}},
                                         ctx);
            }),
            "volumes[0].external");
}

TEST(ServiceSpec, DerivedStackState) {
  Stack stack;
  Service a, b;
  a.spec = b.spec = normalise_service_spec(json{{"name", "a"}, {"image", "x"}, {"instances", 2}});
  ServiceFacts fa, fb;
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "initialized");
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, true), "deploying");
  fb.deploying = true;
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "deploying");
  fb.deploying = false;
  stack.deployed_revision = 1;
  a.state = b.state = "stopped";
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "stopped");
  a.state = b.state = "running";
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "partially_running");
  for (int i = 1; i <= 2; ++i) {
    ServiceInstance inst;
    inst.instance_number = i;
    inst.state = "running";
    fa.instances.push_back(inst);
    fb.instances.push_back(inst);
  }
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "running");
  fb.instances[1].state = "missing";
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "partially_running");
  b.state = "stopped";
  EXPECT_EQ(stack_state(stack, {a, b}, {fa, fb}, false), "partially_running");
  // daemon: one running instance per node, whatever `instances` says.
  Service d;
  d.state = "running";
  d.spec = normalise_service_spec(json{{"name", "d"}, {"image", "x"}, {"instances", 5}, {"deploy", {{"strategy", "daemon"}}}});
  ServiceFacts fd;
  fd.instances.push_back(fa.instances[0]);
  EXPECT_EQ(stack_state(stack, {d}, {fd}, false), "running");
}
