// The whole pipeline: top-level keys, $VAR, Liquid in files, only_if/skip_if, extends, depends,
// URL loading, errors with lines, limits.
#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "helpers.h"

namespace kontena::stackfile::test {
namespace {

using json = nlohmann::json;

TEST(StackPipeline, MinimalStackNormalised) {
  auto s = load("stack: user/hello\nservices:\n  web:\n    image: nginx\n");
  EXPECT_EQ(s.stack["stack"], "user/hello");
  EXPECT_EQ(s.stack["name"], "hello");
  EXPECT_EQ(s.stack["version"], "0.0.1");
  EXPECT_TRUE(s.stack["expose"].is_null());
  ASSERT_EQ(s.stack["services"].size(), 1u);
  const json& web = s.stack["services"][0];
  EXPECT_EQ(web["name"], "web");
  EXPECT_EQ(web["image"], "nginx:latest");
  EXPECT_EQ(web["instances"], 1);
  EXPECT_EQ(web["stateful"], false);
  EXPECT_EQ(web["deploy"], (json{{"strategy", "ha"}, {"wait_for_port", nullptr}, {"min_health", 0.8}, {"interval", nullptr}}));
  EXPECT_EQ(web["environment"], json::array());
  EXPECT_EQ(web["stop_grace_period"], 10);
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(s.stack["source"], "stack: user/hello\nservices:\n  web:\n    image: nginx\n");
}

TEST(StackPipeline, TopLevelKeys) {
  auto s = load(R"(stack: acme/shop:1.2.3
description: The shop
expose: web
labels:
  - fi.acme.team=shop
  - env=prod
meta:
  required_kontena_version: ">= 1.4"
data:
  anything: goes
services:
  web:
    image: acme/shop:1.2
)");
  EXPECT_EQ(s.stack["stack"], "acme/shop");
  EXPECT_EQ(s.stack["name"], "shop");
  EXPECT_EQ(s.stack["version"], "1.2.3");
  EXPECT_EQ(s.stack["description"], "The shop");
  EXPECT_EQ(s.stack["expose"], "web");
  EXPECT_EQ(s.stack["labels"], json::array({"fi.acme.team=shop", "env=prod"}));
  EXPECT_EQ(s.stack["meta"]["required_kontena_version"], ">= 1.4");
  EXPECT_EQ(s.stack["services"][0]["image"], "acme/shop:1.2");
}

TEST(StackPipeline, VersionKeyAndStackNameOption) {
  LoadInput in;
  in.stack_name = "shop-staging";
  auto s = load("stack: acme/shop\nversion: 2.0.0-rc.1\nservices:\n  web:\n    image: x\n", in);
  EXPECT_EQ(s.stack["name"], "shop-staging");
  EXPECT_EQ(s.stack["version"], "2.0.0-rc.1");
}

TEST(StackPipeline, TopLevelErrors) {
  EXPECT_EQ(load_error("services:\n  web:\n    image: x\n"),
            "kontena.yml:1: key \"stack\" is missing (e.g. stack: user/name)");
  EXPECT_EQ(load_error("stack: Bad_Name\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:1: stack: \"Bad_Name\" is not a valid stack name (lowercase letters, digits and '-', not "
            "starting with '-')");
  EXPECT_EQ(load_error("stack: a/-x\nservices:\n  web:\n    image: x\n").substr(0, 22), "kontena.yml:1: stack: ");
  EXPECT_EQ(load_error("stack: a/b\nversion: one\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:2: version: must be a version such as 1.0.0, not \"one\"");
  EXPECT_EQ(load_error("stack: a/b\n"), "kontena.yml:1: the stack does not list any services or volumes");
  EXPECT_EQ(load_error("stack: a/b\nexpose: db\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:2: expose: \"db\" is not a service of this stack");
  EXPECT_EQ(load_error("stack: a/b\nlabels:\n  - Bad=1\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:3: labels[0]: must be \"key=value\" with a key of a-z, 0-9, '.' and '-'");
  EXPECT_EQ(load_error("stack: a/b\nservices: [1]\n"),
            "kontena.yml:2: services: must be a mapping of service names to definitions\n"
            "kontena.yml:1: the stack does not list any services or volumes");
  EXPECT_EQ(load_error("- a\n- b\n"), "kontena.yml:1: the stack file must be a mapping (stack, services, ...)");
  LoadInput bad;
  bad.stack_name = "Bad";
  EXPECT_NE(load_error("stack: a/b\nservices:\n  web:\n    image: x\n", bad).find("\"Bad\" is not a valid stack name"),
            std::string::npos);
}

TEST(StackPipeline, TopLevelNotifications) {
  auto s = load("stack: a/b\nnetworks:\n  front: {}\nfoo: 1\nservices:\n  Web_1:\n    image: x\n");
  EXPECT_TRUE(has_warning(s, "kontena.yml:2: networks: Kontena does not support multiple networks"));
  EXPECT_TRUE(has_warning(s, "kontena.yml:4: foo: unknown top-level key is ignored"));
  EXPECT_TRUE(has_warning(s, "services.Web_1: \"Web_1\" is not a valid service name"));
}

TEST(StackPipeline, UnknownServiceKeyNamesKeyAndLine) {
  std::string text = R"(stack: user/app
services:
  web:
    image: nginx
    networks:
      - front
    ports:
      - 80:80
)";
  EXPECT_EQ(load_error(text), "kontena.yml:5: services.web: key \"networks\" is not expected");
  LoadInput in;
  in.origin = "/srv/app/kontena.yml";
  EXPECT_EQ(load_error(text, in), "/srv/app/kontena.yml:5: services.web: key \"networks\" is not expected");
}

TEST(StackPipeline, AllErrorsReportedTogether) {
  std::string text = R"(stack: user/app
services:
  web:
    image: nginx
    networks: [a]
    instances: many
    ports:
      - "80"
  db:
    image: mysql
    dns: 8.8.8.8
)";
  try {
    load(text);
    FAIL() << "no error";
  } catch (const StackFileError& e) {
    ASSERT_EQ(e.diagnostics().size(), 4u) << e.what();
    EXPECT_EQ(e.diagnostics()[0].line, 5);
    EXPECT_EQ(e.diagnostics()[0].path, "services.web");
    EXPECT_EQ(e.diagnostics()[1].line, 6);
    EXPECT_EQ(e.diagnostics()[1].path, "services.web.instances");
    EXPECT_EQ(e.diagnostics()[2].line, 8);
    EXPECT_EQ(e.diagnostics()[2].path, "services.web.ports[0]");
    EXPECT_EQ(e.diagnostics()[3].to_string(), "kontena.yml:11: services.db: key \"dns\" is not expected");
    EXPECT_EQ(e.field(), "");
  }
}

TEST(StackPipeline, YamlSyntaxErrorHasLine) {
  std::string err = load_error("stack: a/b\nservices:\n  web:\n    image: [x\n  db: {\n");
  EXPECT_NE(err.find("kontena.yml:"), std::string::npos);
  EXPECT_NE(err.find("YAML syntax error"), std::string::npos) << err;
  err = load_error("stack: a/b\nservices:\n  web:\n    image: x\n   bad indent: y\n");
  EXPECT_NE(err.find("kontena.yml:5: YAML syntax error"), std::string::npos) << err;
}

TEST(StackPipeline, BillionLaughsIsRejected) {
  std::string text = "stack: a/b\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 12; ++i) {
    text += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    text += "]\n";
  }
  text += "services:\n  web:\n    image: x\n";
  std::string err = load_error(text);
  EXPECT_NE(err.find("expands to more than"), std::string::npos) << err;
}

TEST(StackPipeline, DeepNestingIsRejected) {
  std::string text = "stack: a/b\nservices:\n  web:\n    image: x\n    command: " + std::string(5000, '[') + "\n";
  std::string err = load_error(text);
  EXPECT_NE(err.find("nesting deeper than 64 levels"), std::string::npos) << err;
  std::string liquid = "stack: a/b\n";
  for (int i = 0; i < 100; ++i) liquid += "{% if true %}";
  std::string err2 = load_error(liquid + "\nservices:\n  web:\n    image: x\n");
  EXPECT_NE(err2.find("nested deeper than 64"), std::string::npos) << err2;
}

TEST(StackPipeline, TooLargeInputIsRejected) {
  std::string text = "stack: a/b\n# " + std::string(kMaxSourceBytes, 'x') + "\n";
  EXPECT_EQ(load_error(text), "kontena.yml: the file is larger than 1048576 bytes");
}

TEST(StackPipeline, AliasesAndMergeKeys) {
  auto s = load(R"(stack: a/b
x-defaults: &defaults
  image: app:1
  environment:
    - A=1
services:
  web:
    <<: *defaults
    instances: 2
  worker:
    <<: *defaults
    image: app:2
)");
  EXPECT_EQ(s.stack["services"][0]["image"], "app:1");
  EXPECT_EQ(s.stack["services"][0]["instances"], 2);
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"A=1"}));
  EXPECT_EQ(s.stack["services"][1]["image"], "app:2");
  EXPECT_TRUE(has_warning(s, "x-defaults: unknown top-level key"));
}

TEST(StackPipeline, DuplicateKeyWarns) {
  auto s = load("stack: a/b\nservices:\n  web:\n    image: a\n    image: b\n");
  EXPECT_EQ(s.stack["services"][0]["image"], "b:latest");
  EXPECT_TRUE(has_warning(s, "kontena.yml:5: duplicate key \"image\""));
}

TEST(StackPipeline, PathologicalInputsStayFast) {
  auto timed = [](const std::string& text) {
    auto start = std::chrono::steady_clock::now();
    std::string err = load_error(text);
    return std::make_pair(err, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
  };
  std::string many_tags;
  for (int i = 0; i < 300000; ++i) many_tags += "{%";
  auto [e1, t1] = timed("stack: a/b\n{% raw %}" + many_tags + "%}");
  EXPECT_NE(e1.find("'raw' tag was never closed"), std::string::npos);
  EXPECT_LT(t1, 5000);
  std::string ifs;
  for (int i = 0; i < 40000; ++i) ifs += "{% if true %}{% endif %}";
  auto [e2, t2] = timed("stack: a/b\n" + ifs + "\n");
  EXPECT_NE(e2.find("does not list any services"), std::string::npos) << e2.substr(0, 200);
  EXPECT_LT(t2, 5000);
  std::string keys = "stack: a/b\nx:\n";
  for (int i = 0; i < 80000; ++i) keys += "  k" + std::to_string(i) + ": 1\n";
  auto [e3, t3] = timed(keys);
  EXPECT_LT(t3, 5000);
  std::string services = "stack: a/b\nservices:\n";
  for (int i = 0; i < 10000; ++i) services += "  s" + std::to_string(i) + ": {image: x, extends: s" + std::to_string(i + 1) + "}\n";
  auto [e4, t4] = timed(services);
  EXPECT_NE(e4.find("more problems"), std::string::npos) << e4.substr(0, 300);
  EXPECT_LT(t4, 30000);  // (ASan) 10000 services, 11 levels each
  std::string dollars = "stack: a/b\nservices:\n  web:\n    image: x\n    command: ";
  for (int i = 0; i < 100000; ++i) dollars += "$v ";
  auto [e5, t5] = timed(dollars + "\n");
  EXPECT_NE(e5.find("... and 99900 more problems"), std::string::npos) << e5.substr(0, 200);
  EXPECT_LT(t5, 5000);
}

// ---- $VAR interpolation -------------------------------------------------------------------------

TEST(StackInterpolation, DeclaredVariablesAndBuiltins) {
  LoadInput in;
  in.grid = "prod";
  in.values = {{"tag", "1.4"}};
  auto s = load(R"(stack: a/app
variables:
  tag:
    type: string
services:
  web:
    image: "app:$tag"
    environment:
      - GRID=$GRID
      - STACK=${STACK}
      - PLATFORM=$PLATFORM
      - TAG=${tag}-x
)", in);
  const json& web = s.stack["services"][0];
  EXPECT_EQ(web["image"], "app:1.4");
  EXPECT_EQ(web["environment"], json::array({"GRID=prod", "STACK=app", "PLATFORM=prod", "TAG=1.4-x"}));
  EXPECT_EQ(s.values, (json{{"tag", "1.4"}}));
  EXPECT_NE(s.interpolated.find("image: \"app:1.4\""), std::string::npos);
}

TEST(StackInterpolation, UndeclaredVariableIsAnErrorWithLine) {
  std::string text = "stack: a/app\nservices:\n  web:\n    image: nginx\n    environment:\n      - A=$NOPE\n      - B=${ALSO_NOPE}\n";
  EXPECT_EQ(load_error(text),
            "kontena.yml:6: undeclared variable \"NOPE\" (declare it under variables:, or write $$NOPE for a literal $)\n"
            "kontena.yml:7: undeclared variable \"ALSO_NOPE\" (declare it under variables:, or write $$ALSO_NOPE for a "
            "literal $)");
}

TEST(StackInterpolation, DoubleDollarEscapes) {
  auto s = load("stack: a/app\nservices:\n  web:\n    image: nginx\n    command: sh -c 'echo $$HOME $${PATH} $$$$'\n");
  EXPECT_EQ(s.stack["services"][0]["command"], json::array({"sh", "-c", "echo $HOME ${PATH} $$"}));
}

TEST(StackInterpolation, EnvironmentIsNotReadForUndeclared) {
  LoadInput in;
  in.env = {{"HOME", "/root"}};
  EXPECT_NE(load_error("stack: a/b\nservices:\n  web:\n    image: x\n    user: $HOME\n", in).find("undeclared variable \"HOME\""),
            std::string::npos);
}

TEST(StackInterpolation, ValuesWithNewlinesAndQuotesAreQuoted) {
  LoadInput in;
  in.values = {{"motd", "line one\nline \"two\""}, {"pipe", "a|b"}};
  auto s = load(R"(stack: a/b
variables:
  motd:
    type: string
  pipe:
    type: string
services:
  web:
    image: x
    environment:
      MOTD: $motd
      PIPE: $pipe
)", in);
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"MOTD=line one\nline \"two\"", "PIPE=a|b"}));
}

TEST(StackInterpolation, UnsetVariableWarnsAndSubstitutesEmpty) {
  auto s = load(R"(stack: a/b
variables:
  maybe:
    type: string
    required: false
services:
  web:
    image: x
    environment:
      - MAYBE=$maybe
)");
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"MAYBE="}));
  EXPECT_TRUE(has_warning(s, "kontena.yml:10: the value of maybe is not set: substituting an empty string"));
}

TEST(StackInterpolation, InterpolateAndEvaluateLinesAreSkipped) {
  LoadInput in;
  in.values = {{"name", "World"}, {"nodes", "5"}};
  auto s = load(R"(stack: a/b
variables:
  name:
    type: string
  nodes:
    type: integer
  greeting:
    type: string
    from:
      interpolate: Hello ${name}
  quorum:
    type: integer
    from:
      evaluate: (${nodes} / 2) + 1
services:
  web:
    image: x
    environment:
      - GREETING=$greeting
      - QUORUM=$quorum
)", in);
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"GREETING=Hello World", "QUORUM=3"}));
  EXPECT_EQ(s.values["quorum"], 3);
}

TEST(StackInterpolation, EnvSetterNamesAreUsable) {
  LoadInput in;
  in.values = {{"db_password", "s3cret"}};
  auto s = load(R"(stack: a/b
variables:
  db_password:
    type: string
    to:
      env: DB_PASSWORD
services:
  web:
    image: x
    environment:
      - PASSWORD=$DB_PASSWORD
)", in);
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"PASSWORD=s3cret"}));
}

// ---- Liquid in stack files ----------------------------------------------------------------------

TEST(StackLiquid, ConditionalServicesAndLoops) {
  std::string text = R"(stack: a/b
variables:
  with_cache:
    type: boolean
  workers:
    type: integer
services:
  web:
    image: app
    {% if with_cache %}
    links:
      - cache
    {% endif %}
  {% if with_cache %}
  cache:
    image: redis:4
  {% endif %}
  {% for i in (1..workers) %}
  worker-{{ i }}:
    image: app
    command: work --shard {{ i }}
  {% endfor %}
)";
  LoadInput in;
  in.values = {{"with_cache", "yes"}, {"workers", "3"}};
  auto s = load(text, in);
  ASSERT_EQ(s.stack["services"].size(), 5u);
  EXPECT_EQ(s.stack["services"][0]["links"], json::array({json{{"name", "cache"}, {"alias", "cache"}}}));
  EXPECT_EQ(s.stack["services"][1]["name"], "cache");
  EXPECT_EQ(s.stack["services"][4]["name"], "worker-3");
  EXPECT_EQ(s.stack["services"][4]["command"], json::array({"work", "--shard", "3"}));
  in.values = {{"with_cache", "no"}, {"workers", "0"}};
  auto t = load(text, in);
  ASSERT_EQ(t.stack["services"].size(), 1u);
  EXPECT_EQ(t.stack["services"][0]["links"], json::array());
}

TEST(StackLiquid, ErrorLinesPointAtTheSourceAfterLoops) {
  std::string text = R"(stack: a/b
services:
  {% for i in (1..3) %}
  w{{ i }}:
    image: app
  {% endfor %}
  web:
    image: app
    bogus: 1
)";
  EXPECT_EQ(load_error(text), "kontena.yml:9: services.web: key \"bogus\" is not expected");
  std::string loop_error = "stack: a/b\nservices:\n  {% for i in (1..2) %}\n  w{{ i }}:\n    image: app\n    oops: 1\n  {% endfor %}\n";
  EXPECT_EQ(load_error(loop_error),
            "kontena.yml:6: services.w1: key \"oops\" is not expected\nkontena.yml:6: services.w2: key \"oops\" is not expected");
}

TEST(StackLiquid, RawProtectsDockerTemplates) {
  auto s = load(R"(stack: a/b
services:
  web:
    image: app
    logging:
      driver: syslog
      options:
        tag: "{% raw %}{{.Name}}/{{.ID}}{% endraw %}"
)");
  EXPECT_EQ(s.stack["services"][0]["logging"]["options"]["tag"], "{{.Name}}/{{.ID}}");
}

TEST(StackLiquid, UnknownVariableAndFilterAreErrors) {
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  web:\n    image: \"{{ nope }}\"\n"),
            "kontena.yml:4: Liquid error: undefined variable nope");
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  web:\n    image: \"{{ STACK | frobnicate }}\"\n"),
            "kontena.yml:4: Liquid error: undefined filter frobnicate");
  EXPECT_EQ(load_error("stack: a/b\n{% if true %}\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:2: Liquid error: 'if' tag was never closed");
}

TEST(StackLiquid, NilVariablesRenderEmpty) {
  auto s = load(R"(stack: a/b
variables:
  opt:
    type: string
    required: false
services:
  web:
    image: "app{{ opt }}"
)");
  EXPECT_EQ(s.stack["services"][0]["image"], "app:latest");
}

// ---- only_if / skip_if on services and volumes --------------------------------------------------

TEST(StackConditions, ServicesAndVolumes) {
  std::string text = R"(stack: a/b
variables:
  ssl:
    type: boolean
  mode:
    type: enum
    options: [dev, prod]
volumes:
  data:
    external: true
    only_if: ssl
services:
  web:
    image: app
  lb:
    image: kontena/lb
    only_if: ssl
  debug:
    image: busybox
    skip_if:
      mode: prod
  both:
    image: busybox
    only_if: [ssl]
    skip_if: [ssl]
)";
  LoadInput in;
  in.values = {{"ssl", "true"}, {"mode", "prod"}};
  auto s = load(text, in);
  std::vector<std::string> names;
  for (const auto& svc : s.stack["services"]) names.push_back(svc["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"web", "lb"}));
  EXPECT_EQ(s.stack["volumes"], json::array({json{{"name", "data"}, {"external", "data"}}}));
  in.values = {{"ssl", "false"}, {"mode", "dev"}};
  auto t = load(text, in);
  names.clear();
  for (const auto& svc : t.stack["services"]) names.push_back(svc["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"web", "debug"}));
  EXPECT_EQ(t.stack["volumes"], json::array());
}

TEST(StackConditions, UndeclaredConditionVariable) {
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  web:\n    image: x\n    only_if: ghost\n"),
            "kontena.yml:5: services.web.only_if: refers to the undeclared variable \"ghost\"");
}

// ---- volumes ------------------------------------------------------------------------------------

TEST(StackVolumes, ExternalOnly) {
  auto s = load(R"(stack: a/b
volumes:
  data:
    external: true
  logs:
    external:
      name: shared-logs
services:
  db:
    image: mysql
    volumes:
      - data:/var/lib/mysql
      - logs:/var/log:ro
)");
  EXPECT_EQ(s.stack["volumes"], json::array({json{{"name", "data"}, {"external", "data"}},
                                             json{{"name", "logs"}, {"external", "shared-logs"}}}));
  EXPECT_EQ(s.stack["services"][0]["volumes"][1],
            (json{{"type", "named"}, {"source", "logs"}, {"target", "/var/log"}, {"flags", "ro"}}));
  EXPECT_EQ(load_error("stack: a/b\nvolumes:\n  data:\n    driver: local\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:4: volumes.data: key \"driver\" is not expected\n"
            "kontena.yml:3: volumes.data: only external volumes are supported (external: true or external: {name: NAME})");
  EXPECT_EQ(load_error("stack: a/b\nvolumes:\n  data:\n    external: false\n"),
            "kontena.yml:4: volumes.data.external: must be true or {name: NAME}");
  // volumes alone are a valid stack
  auto v = load("stack: a/b\nvolumes:\n  data:\n    external: true\n");
  EXPECT_EQ(v.stack["services"], json::array());
}

// ---- depends ------------------------------------------------------------------------------------

TEST(StackDepends, ReferencesAndAutoVariables) {
  LoadInput in;
  in.origin = "/srv/app/kontena.yml";
  in.values = {{"db.size", "10"}};
  auto s = load(R"(stack: a/app
depends:
  db:
    stack: ./db.yml
    variables:
      user: app
  cache:
    stack: kontena/redis:1.0.0
services:
  web:
    image: x
    environment:
      - DB_STACK=$db
      - CACHE={{ cache }}
)", in);
  EXPECT_EQ(s.stack["dependencies"],
            json::array({json{{"name", "db"}, {"stack", "/srv/app/./db.yml"}, {"variables", {{"user", "app"}, {"size", "10"}}}},
                         json{{"name", "cache"}, {"stack", "kontena/redis:1.0.0"}, {"variables", json::object()}}}));
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"DB_STACK=app-db", "CACHE=app-cache"}));
}

TEST(StackDepends, Errors) {
  EXPECT_EQ(load_error("stack: a/b\ndepends:\n  web:\n    stack: x/y\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:3: depends.web: the alias \"web\" is also the name of a service");
  EXPECT_EQ(load_error("stack: a/b\ndepends:\n  db:\n    file: x.yml\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:4: depends.db: key \"file\" is not expected\nkontena.yml:3: depends.db: \"stack\" is missing "
            "(a file, a URL or user/stack[:version])");
}

TEST(StackParent, ParentStackVariable) {
  LoadInput in;
  in.parent_stack = "shop";
  auto s = load("stack: a/db\nservices:\n  db:\n    image: mysql\n    environment:\n      - PARENT=$PARENT_STACK\n", in);
  EXPECT_EQ(s.stack["parent"], (json{{"name", "shop"}}));
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"PARENT=shop"}));
}

// ---- extends ------------------------------------------------------------------------------------

TEST(StackExtends, SameFileMergeRules) {
  auto s = load(R"(stack: a/b
services:
  base:
    image: app:1
    instances: 2
    environment:
      - A=1
      - B=1
    secrets:
      - secret: s1
        name: S1
      - secret: s2
        name: S2
    build:
      context: .
      args:
        X: "1"
        Y: "1"
    ports:
      - 80:80
  web:
    extends: base
    environment:
      B: 2
      C: 3
    secrets:
      - secret: s2
        name: OTHER
    build:
      context: ./web
      args:
        Y: "2"
    instances: 3
)");
  const json& web = s.stack["services"][1];
  EXPECT_EQ(web["name"], "web");
  EXPECT_EQ(web["image"], "app:1");
  EXPECT_EQ(web["instances"], 3);
  EXPECT_EQ(web["environment"], json::array({"A=1", "B=2", "C=3"}));
  EXPECT_EQ(web["secrets"], json::array({json{{"secret", "s1"}, {"name", "S1"}, {"type", "env"}},
                                         json{{"secret", "s2"}, {"name", "OTHER"}, {"type", "env"}}}));
  EXPECT_EQ(web["build"]["context"], "./web");
  EXPECT_EQ(web["build"]["args"], (json{{"X", "1"}, {"Y", "2"}}));
  EXPECT_EQ(web["ports"].size(), 1u);
}

TEST(StackExtends, ChainAndCycleAndMissing) {
  auto s = load("stack: a/b\nservices:\n  a:\n    image: x\n  b:\n    extends: a\n    user: b\n  c:\n    extends: b\n");
  EXPECT_EQ(s.stack["services"][2]["image"], "x:latest");
  EXPECT_EQ(s.stack["services"][2]["user"], "b");
  std::string cyc = load_error("stack: a/b\nservices:\n  a:\n    extends: b\n  b:\n    extends: a\n");
  EXPECT_NE(cyc.find("extends itself (a -> b -> a)"), std::string::npos) << cyc;
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  a:\n    extends: a\n"),
            "kontena.yml:4: services.a.extends: a service cannot extend itself");
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  a:\n    extends: ghost\n"),
            "kontena.yml:4: the service \"ghost\" to extend is not in kontena.yml");
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  a:\n    user: x\n"), "kontena.yml:3: services.a: image is missing");
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  a:\n    extends:\n      file: x.yml\n"),
            "kontena.yml:4: services.a.extends: \"service\" is missing");
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("kontena-stackfile-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  static inline int counter_ = 0;
};

TEST(StackExtends, FromAnotherFileInTheSameDirectory) {
  TempDir dir;
  dir.write("docker-compose.yml", R"(services:
  web:
    image: app:$tag
    environment:
      - FROM_FILE=1
    env_file: web.env
)");
  dir.write("web.env", "# comment\nFROM_ENV_FILE=1\n\nFROM_FILE=ignored\n");
  std::string main = dir.write("kontena.yml", R"(stack: a/b
variables:
  tag:
    type: string
    default: "2.0"
services:
  web:
    extends:
      file: docker-compose.yml
      service: web
    instances: 2
)");
  LoadInput in;
  in.origin = main;
  in.grid = "g";
  auto s = load_stack(in);
  const json& web = s.stack["services"][0];
  EXPECT_EQ(web["image"], "app:2.0");
  EXPECT_EQ(web["instances"], 2);
  EXPECT_EQ(web["environment"], json::array({"FROM_FILE=1", "FROM_ENV_FILE=1"}));
  EXPECT_EQ(s.stack["source"].get<std::string>().substr(0, 10), "stack: a/b");

  std::string missing = dir.write("k2.yml", "stack: a/b\nservices:\n  web:\n    extends:\n      file: nope.yml\n      service: web\n");
  in.origin = missing;
  try {
    load_stack(in);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_EQ(e.what(), dir.path("nope.yml") + ": cannot read " + dir.path("nope.yml"));
  }
  std::string bad = dir.write("bad.yml", "services:\n  web:\n    image: x\n    bogus: 1\n");
  std::string k3 = dir.write("k3.yml", "stack: a/b\nservices:\n  web:\n    extends:\n      file: bad.yml\n      service: web\n");
  in.origin = k3;
  try {
    load_stack(in);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_EQ(e.what(), dir.path("bad.yml") + ":4: services.web: key \"bogus\" is not expected");
  }
}

TEST(StackExtends, EnvFileMissing) {
  TempDir dir;
  std::string main = dir.write("kontena.yml", "stack: a/b\nservices:\n  web:\n    image: x\n    env_file:\n      - a.env\n");
  LoadInput in;
  in.origin = main;
  try {
    load_stack(in);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_EQ(e.what(), main + ":6: services.web.env_file: cannot read \"a.env\"");
  }
}

// ---- loading ------------------------------------------------------------------------------------

TEST(StackLoading, FromFileAndUrl) {
  TempDir dir;
  std::string path = dir.write("kontena.yml", "stack: a/b\nservices:\n  web:\n    image: x\n");
  LoadInput in;
  in.origin = path;
  EXPECT_EQ(load_stack(in).stack["name"], "b");
  in.origin = dir.path("missing.yml");
  try {
    load_stack(in);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos);
  }

  FakeFetcher fetcher;
  fetcher.pages["https://example.com/stacks/kontena.yml"] =
      "stack: a/remote\nservices:\n  web:\n    extends:\n      file: base.yml\n      service: web\n";
  fetcher.pages["https://example.com/stacks/base.yml"] = "services:\n  web:\n    image: remote\n";
  LoadInput u;
  u.origin = "https://example.com/stacks/kontena.yml";
  u.fetcher = &fetcher;
  auto s = load_stack(u);
  EXPECT_EQ(s.stack["name"], "remote");
  EXPECT_EQ(s.stack["services"][0]["image"], "remote:latest");
  EXPECT_EQ(fetcher.fetched, (std::vector<std::string>{"https://example.com/stacks/kontena.yml",
                                                       "https://example.com/stacks/base.yml"}));
  u.fetcher = nullptr;
  try {
    load_stack(u);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_NE(std::string(e.what()).find("loading stack files from URLs is not available here"), std::string::npos);
  }
  u.fetcher = &fetcher;
  u.origin = "https://example.com/none.yml";
  try {
    load_stack(u);
    FAIL();
  } catch (const StackFileError& e) {
    EXPECT_EQ(std::string(e.what()), "https://example.com/none.yml: GET https://example.com/none.yml: 404 Not Found");
  }
}

TEST(StackLoading, ValueHelpers) {
  EXPECT_EQ(parse_value_arg("a=b=c"), (std::pair<std::string, std::string>{"a", "b=c"}));
  EXPECT_EQ(parse_value_arg("a="), (std::pair<std::string, std::string>{"a", ""}));
  EXPECT_THROW(parse_value_arg("novalue"), kontena::Error);
  EXPECT_THROW(parse_value_arg("=x"), kontena::Error);
  json v = parse_values("a: 1\nb: hello\nc: [x, y]\nd: null\ne: 'yes'\n", "values.yml");
  EXPECT_EQ(v, (json{{"a", 1}, {"b", "hello"}, {"c", {"x", "y"}}, {"d", nullptr}, {"e", "yes"}}));
  EXPECT_EQ(parse_values("", "v.yml"), json::object());
  EXPECT_THROW(parse_values("- a\n", "v.yml"), kontena::Error);
  EXPECT_THROW(parse_values("a: [\n", "v.yml"), kontena::Error);
  std::string yaml = values_to_yaml(v);
  EXPECT_EQ(parse_values(yaml, "again.yml"), v) << yaml;
  json tricky{{"s", "a: b"}, {"t", "true"}, {"n", "12"}, {"q", "it's \"q\"\nline"}, {"e", ""}, {"h", "#x"}};
  EXPECT_EQ(parse_values(values_to_yaml(tricky), "t.yml"), tricky) << values_to_yaml(tricky);
  EXPECT_EQ(values_to_yaml(json::object()), "{}\n");
}

TEST(StackLoading, ValuesFromAndValuesToRoundTrip) {
  std::string text = R"(stack: a/b
variables:
  password:
    type: string
    from:
      random_string: 16
  replicas:
    type: integer
    default: 2
services:
  web:
    image: x
    instances: ${replicas}
    environment:
      - PASSWORD=$password
)";
  auto first = load(text);
  ASSERT_TRUE(first.values["password"].is_string());
  EXPECT_EQ(first.values["password"].get<std::string>().size(), 16u);
  EXPECT_EQ(first.values["replicas"], 2);
  // --values-to then --values-from gives the same answers
  LoadInput in;
  in.values_from = parse_values(values_to_yaml(first.values), "values.yml");
  in.random_seed = 7;
  auto second = load(text, in);
  EXPECT_EQ(second.values, first.values);
  EXPECT_EQ(second.stack["services"][0]["instances"], 2);
  // -v beats --values-from
  in.values = {{"replicas", "5"}};
  EXPECT_EQ(load(text, in).stack["services"][0]["instances"], 5);
}

}  // namespace
}  // namespace kontena::stackfile::test
