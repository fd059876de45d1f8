// Every service key, valid and invalid, and realistic stacks.
#include "helpers.h"
#include "stackfile/services.h"

namespace kontena::stackfile::test {
namespace {

using json = nlohmann::json;

// Service body lines start at line 4 of the file (see one_service).

TEST(ServiceKeys, Image) {
  EXPECT_EQ(web("image: nginx")["image"], "nginx:latest");
  EXPECT_EQ(web("image: nginx:1.13")["image"], "nginx:1.13");
  EXPECT_EQ(web("image: registry.example.com:5000/team/app")["image"], "registry.example.com:5000/team/app:latest");
  EXPECT_EQ(web("image: registry.example.com:5000/team/app:2")["image"], "registry.example.com:5000/team/app:2");
  EXPECT_EQ(web("image: app@sha256:abc")["image"], "app@sha256:abc");
  EXPECT_EQ(web_error("image: [a]"), "kontena.yml:4: services.web.image: must be a string, not a list\nkontena.yml:3: services.web: image is missing");
  EXPECT_EQ(web_error("image: ''"), "kontena.yml:4: services.web.image: must not be empty\nkontena.yml:3: services.web: image is missing");
  EXPECT_EQ(web_error("instances: 1"), "kontena.yml:3: services.web: image is missing");
}

TEST(ServiceKeys, Build) {
  EXPECT_EQ(web("image: x\nbuild: .")["build"], (json{{"context", "."}, {"dockerfile", nullptr}, {"args", json::object()}}));
  LoadInput in;
  in.env = {{"FROM_ENV", "e"}};
  EXPECT_EQ(web("image: x\nbuild:\n  context: ./app\n  dockerfile: Dockerfile.prod\n  args:\n    A: 1\n    FROM_ENV:\n    MISSING:\n", in)["build"],
            (json{{"context", "./app"}, {"dockerfile", "Dockerfile.prod"}, {"args", {{"A", "1"}, {"FROM_ENV", "e"}, {"MISSING", nullptr}}}}));
  EXPECT_EQ(web("image: x\nbuild:\n  context: .\n  args:\n    - A=1\n    - B=x=y\n")["build"]["args"], (json{{"A", "1"}, {"B", "x=y"}}));
  EXPECT_EQ(web_error("image: x\nbuild:\n  dockerfile: D\n  target: t\n"),
            "kontena.yml:7: services.web.build: key \"target\" is not expected\nkontena.yml:5: services.web.build: \"context\" is missing");
}

TEST(ServiceKeys, InstancesStatefulBooleans) {
  json s = web("image: x\ninstances: 3\nstateful: true\nprivileged: true\nread_only: yes");
  EXPECT_EQ(s["instances"], 3);
  EXPECT_EQ(s["stateful"], true);
  EXPECT_EQ(s["privileged"], true);
  EXPECT_EQ(s["read_only"], true);
  EXPECT_EQ(web("image: x\ninstances: '2'")["instances"], 2);
  EXPECT_EQ(web_error("image: x\ninstances: -1"), "kontena.yml:5: services.web.instances: must be between 0 and 100000, not -1");
  EXPECT_EQ(web_error("image: x\ninstances: 1.5"), "kontena.yml:5: services.web.instances: must be an integer, not 1.5");
  EXPECT_EQ(web_error("image: x\nstateful: maybe"), "kontena.yml:5: services.web.stateful: must be true or false, not \"maybe\"");
  EXPECT_EQ(web_error("image: x\nprivileged: 1"), "kontena.yml:5: services.web.privileged: must be true or false, not 1");
}

TEST(ServiceKeys, CommandAndEntrypoint) {
  EXPECT_EQ(web("image: x\ncommand: bundle exec \"rails s\" -p '3000' a\\ b")["command"],
            json::array({"bundle", "exec", "rails s", "-p", "3000", "a b"}));
  EXPECT_EQ(web("image: x\ncommand: [sh, -c, 'echo hi']")["command"], json::array({"sh", "-c", "echo hi"}));
  EXPECT_EQ(web("image: x\ncommand: \"\"")["command"], json::array());
  EXPECT_EQ(web("image: x\nentrypoint: /docker-entrypoint.sh")["entrypoint"], "/docker-entrypoint.sh");
  EXPECT_EQ(web_error("image: x\ncommand: \"echo 'oops\""), "kontena.yml:5: services.web.command: has an unmatched quote");
  EXPECT_EQ(web_error("image: x\nentrypoint: {a: b}"), "kontena.yml:5: services.web.entrypoint: must be a string, not a mapping");
}

TEST(ServiceKeys, Environment) {
  EXPECT_EQ(web("image: x\nenvironment:\n  - A=1\n  - B=two=2\n  - C=")["environment"], json::array({"A=1", "B=two=2", "C="}));
  EXPECT_EQ(web("image: x\nenvironment:\n  A: 1\n  B: true\n  C:\n  D: text")["environment"], json::array({"A=1", "B=true", "C=", "D=text"}));
  EXPECT_EQ(web("image: x\nenvironment:\n  - A=1\n  - A=2")["environment"], json::array({"A=1"}));
  EXPECT_EQ(web_error("image: x\nenvironment:\n  - NOVALUE\n  - =x"),
            "kontena.yml:6: services.web.environment[0]: \"NOVALUE\" is not NAME=VALUE\n"
            "kontena.yml:7: services.web.environment[1]: \"=x\" is not NAME=VALUE");
  EXPECT_EQ(web_error("image: x\nenvironment: A=1"), "kontena.yml:5: services.web.environment: must be a list of \"NAME=VALUE\" or a mapping, not \"A=1\"");
  EXPECT_EQ(web_error("image: x\nenvironment:\n  A: [1]"), "kontena.yml:6: services.web.environment.A: must be a string, number or boolean, not a list");
}

TEST(ServiceKeys, LinksDependsOnExternalLinks) {
  json s = web("image: x\nlinks:\n  - db\n  - cache:redis\n  - other/api\n  - other/api:backend\n  - name: lb\n    alias: balancer\ndepends_on:\n  - db\n  - queue\nexternal_links:\n  - infra/lb:lb");
  EXPECT_EQ(s["links"], json::array({json{{"name", "db"}, {"alias", "db"}}, json{{"name", "cache"}, {"alias", "redis"}},
                                     json{{"name", "other/api"}, {"alias", "api"}}, json{{"name", "other/api"}, {"alias", "backend"}},
                                     json{{"name", "lb"}, {"alias", "balancer"}}, json{{"name", "queue"}, {"alias", "queue"}}}));
  EXPECT_EQ(s["depends_on"], json::array({"db", "queue"}));
  EXPECT_EQ(s["external_links"], json::array({json{{"name", "infra/lb"}, {"alias", "lb"}}}));
  EXPECT_EQ(web_error("image: x\nlinks: db"), "kontena.yml:5: services.web.links: must be a list such as [\"db\", \"db:mysql\", \"otherstack/api:api\"], not \"db\"");
  EXPECT_EQ(web_error("image: x\nlinks:\n  - 'bad name'"), "kontena.yml:6: services.web.links[0]: \"bad name\" is not a link (SERVICE, SERVICE:ALIAS or STACK/SERVICE:ALIAS)");
  EXPECT_EQ(web_error("image: x\nlinks:\n  - alias: x"), "kontena.yml:6: services.web.links[0]: a link needs a name");
  EXPECT_EQ(web_error("image: x\ndepends_on: db"), "kontena.yml:5: services.web.depends_on: must be a list of strings, not \"db\"");
}

TEST(ServiceKeys, Ports) {
  EXPECT_EQ(web("image: x\nports:\n  - 80:80\n  - \"443:8443/tcp\"\n  - 127.0.0.1:53:53/udp")["ports"],
            json::array({json{{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 80}, {"container_port", 80}},
                         json{{"ip", "0.0.0.0"}, {"protocol", "tcp"}, {"node_port", 443}, {"container_port", 8443}},
                         json{{"ip", "127.0.0.1"}, {"protocol", "udp"}, {"node_port", 53}, {"container_port", 53}}}));
  EXPECT_EQ(web_error("image: x\nports:\n  - 80"),
            "kontena.yml:6: services.web.ports[0]: must be \"[IP:]NODE_PORT:CONTAINER_PORT[/PROTOCOL]\" (e.g. \"80:80\" or "
            "\"127.0.0.1:53:53/udp\"), not 80");
  EXPECT_EQ(web_error("image: x\nports:\n  - 80:80/sctp"), "kontena.yml:6: services.web.ports[0]: protocol \"sctp\" is not tcp or udp");
  EXPECT_EQ(web_error("image: x\nports:\n  - 1.2.3:80:80"), "kontena.yml:6: services.web.ports[0]: \"1.2.3\" is not an IPv4 address");
  EXPECT_EQ(web_error("image: x\nports:\n  - 0:70000"), "kontena.yml:6: services.web.ports[0]: ports must be 1..65535");
  EXPECT_EQ(web_error("image: x\nports: 80:80"), "kontena.yml:5: services.web.ports: must be a list such as [\"80:80\"], not \"80:80\"");
}

TEST(ServiceKeys, Volumes) {
  auto s = load("stack: a/b\nvolumes:\n  data:\n    external: true\nservices:\n  web:\n    image: x\n    volumes:\n"
                "      - /anon\n      - /host:/ctr\n      - /host/ro:/ro:ro\n      - data:/data\n      - ./rel:/rel\n      - /cache:nocopy\n"
                "    volumes_from:\n      - other-%s\n");
  const json& v = s.stack["services"][0]["volumes"];
  EXPECT_EQ(v[0], (json{{"type", "anonymous"}, {"source", nullptr}, {"target", "/anon"}, {"flags", nullptr}}));
  EXPECT_EQ(v[1], (json{{"type", "bind"}, {"source", "/host"}, {"target", "/ctr"}, {"flags", nullptr}}));
  EXPECT_EQ(v[2], (json{{"type", "bind"}, {"source", "/host/ro"}, {"target", "/ro"}, {"flags", "ro"}}));
  EXPECT_EQ(v[3], (json{{"type", "named"}, {"source", "data"}, {"target", "/data"}, {"flags", nullptr}}));
  EXPECT_EQ(v[4]["type"], "bind");
  EXPECT_EQ(v[5], (json{{"type", "anonymous"}, {"source", nullptr}, {"target", "/cache"}, {"flags", "nocopy"}}));
  EXPECT_EQ(s.stack["services"][0]["volumes_from"], json::array({"other-%s"}));
  EXPECT_EQ(web_error("image: x\nvolumes:\n  - undeclared:/data"),
            "kontena.yml:6: services.web.volumes[0]: the volume \"undeclared\" is not declared in the top-level volumes");
  EXPECT_EQ(web_error("image: x\nvolumes:\n  - /a:/data\n  - /b:/data"), "kontena.yml:7: services.web.volumes[1]: duplicate mount point \"/data\"");
  EXPECT_EQ(web_error("image: x\nvolumes:\n  - relative"), "kontena.yml:6: services.web.volumes[0]: the mount point \"relative\" must be an absolute path");
  EXPECT_EQ(web_error("image: x\nvolumes:\n  - /a:/b:r0"), "kontena.yml:6: services.web.volumes[0]: \"r0\" are not mount flags (ro, rw, z, Z, nocopy, ...)");
  EXPECT_EQ(web_error("image: x\nvolumes:\n  - a:b:c:d"), "kontena.yml:6: services.web.volumes[0]: \"a:b:c:d\" is not a volume");
  EXPECT_EQ(web_error("image: x\nvolumes: /data"), "kontena.yml:5: services.web.volumes: must be a list such as [\"/data\", \"data:/var/lib/mysql\"], not \"/data\"");
  EXPECT_EQ(web_error("image: x\nvolumes_from: x"), "kontena.yml:5: services.web.volumes_from: must be a list of strings, not \"x\"");
}

TEST(ServiceKeys, Affinity) {
  auto s = load(one_service("image: x\naffinity:\n  - node==node-1\n  - label!=az=b\n  - service!=~other/api\n  - container==/web-%s/\n  - host==x"));
  EXPECT_EQ(s.stack["services"][0]["affinity"], json::array({"node==node-1", "label!=az=b", "service!=~other/api", "container==/web-%s/", "host==x"}));
  EXPECT_TRUE(has_warning(s, "unknown affinity key \"host\""));
  EXPECT_EQ(web_error("image: x\naffinity:\n  - node=node-1"),
            "kontena.yml:6: services.web.affinity: \"node=node-1\" is not KEY==VALUE or KEY!=VALUE (e.g. node==node-1, label!=az=b)");
}

TEST(ServiceKeys, Resources) {
  json s = web("image: x\ncpus: 1.5\ncpu_shares: 512\nmem_limit: 512m\nmemswap_limit: 1g\nshm_size: 64M");
  EXPECT_EQ(s["cpus"], 1.5);
  EXPECT_EQ(s["cpu_shares"], 512);
  EXPECT_EQ(s["mem_limit"], 512LL * 1024 * 1024);
  EXPECT_EQ(s["memswap_limit"], 1024LL * 1024 * 1024);
  EXPECT_EQ(s["shm_size"], 64LL * 1024 * 1024);
  EXPECT_EQ(web("image: x\nmem_limit: 1048576")["mem_limit"], 1048576);
  EXPECT_EQ(web("image: x\nmem_limit: 64k")["mem_limit"], 65536);
  EXPECT_EQ(web("image: x\nmem_limit: 1.5gb")["mem_limit"], 1536LL * 1024 * 1024);
  EXPECT_EQ(web("image: x\ncpus: 2")["cpus"], 2.0);
  auto quirk = load(one_service("image: x\nmem_swaplimit: 1g"));
  EXPECT_TRUE(quirk.stack["services"][0]["memswap_limit"].is_null());
  EXPECT_TRUE(has_warning(quirk, "mem_swaplimit: is accepted but not used"));
  EXPECT_EQ(web_error("image: x\nmem_limit: lots"), "kontena.yml:5: services.web.mem_limit: must be a size such as 512m, 1g or a number of bytes, not \"lots\"");
  EXPECT_EQ(web_error("image: x\nmem_limit: -1"), "kontena.yml:5: services.web.mem_limit: must be a size such as 512m, 1g or a number of bytes, not -1");
  EXPECT_EQ(web_error("image: x\ncpus: 0"), "kontena.yml:5: services.web.cpus: must be more than 0");
  EXPECT_EQ(web_error("image: x\ncpus: many"), "kontena.yml:5: services.web.cpus: must be a number, not \"many\"");
  EXPECT_EQ(web_error("image: x\ncpu_shares: 2048"), "kontena.yml:5: services.web.cpu_shares: must be between 0 and 1024, not 2048");
}

TEST(ServiceKeys, NetworkPidUserCaps) {
  json s = web("image: x\nnetwork_mode: host\npid: host\nuser: \"1000\"\ncap_add:\n  - NET_ADMIN\ncap_drop: [MKNOD]\ndevices:\n  - /dev/fuse");
  EXPECT_EQ(s["network_mode"], "host");
  EXPECT_EQ(s["pid"], "host");
  EXPECT_EQ(s["user"], "1000");
  EXPECT_EQ(s["cap_add"], json::array({"NET_ADMIN"}));
  EXPECT_EQ(s["cap_drop"], json::array({"MKNOD"}));
  EXPECT_EQ(s["devices"], json::array({"/dev/fuse"}));
  EXPECT_EQ(web("image: x\nnetwork_mode: bridge")["network_mode"], "bridge");
  EXPECT_EQ(web("image: x\nnetwork_mode: container:other")["network_mode"], "container:other");
  EXPECT_EQ(web("image: x\nuser: 1000")["user"], "1000");
  EXPECT_EQ(web_error("image: x\nnetwork_mode: overlay"), "kontena.yml:5: services.web.network_mode: must be host, bridge or container:NAME, not \"overlay\"");
  EXPECT_EQ(web_error("image: x\npid: container"), "kontena.yml:5: services.web.pid: the only value is \"host\"");
  EXPECT_EQ(web_error("image: x\ncap_add: NET_ADMIN"), "kontena.yml:5: services.web.cap_add: must be a list of strings, not \"NET_ADMIN\"");
  EXPECT_EQ(web_error("image: x\ncap_drop:\n  - [x]"), "kontena.yml:6: services.web.cap_drop[0]: must be a string, not a list");
}

TEST(ServiceKeys, Logging) {
  EXPECT_EQ(web("image: x\nlogging:\n  driver: fluentd\n  options:\n    fluentd-address: 192.168.1.1:24224\n    tag: web")["logging"],
            (json{{"driver", "fluentd"}, {"options", {{"fluentd-address", "192.168.1.1:24224"}, {"tag", "web"}}}}));
  EXPECT_EQ(web_error("image: x\nlogging:\n  options: {}\n  format: x"),
            "kontena.yml:7: services.web.logging: key \"format\" is not expected\nkontena.yml:5: services.web.logging: \"driver\" is missing");
  EXPECT_EQ(web_error("image: x\nlogging: syslog"), "kontena.yml:5: services.web.logging: must be a mapping, not \"syslog\"");
}

TEST(ServiceKeys, Deploy) {
  EXPECT_EQ(web("image: x\ndeploy:\n  strategy: daemon\n  wait_for_port: 8080\n  min_health: 0.5\n  interval: 5min")["deploy"],
            (json{{"strategy", "daemon"}, {"wait_for_port", 8080}, {"min_health", 0.5}, {"interval", 300}}));
  EXPECT_EQ(web("image: x\ndeploy:\n  interval: 2h")["deploy"]["interval"], 7200);
  EXPECT_EQ(web("image: x\ndeploy:\n  interval: 1d")["deploy"]["interval"], 86400);
  EXPECT_EQ(web("image: x\ndeploy:\n  interval: 90")["deploy"]["interval"], 90);
  EXPECT_EQ(web("image: x\ndeploy:\n  strategy: random\n  min_health: 1")["deploy"]["min_health"], 1.0);
  EXPECT_EQ(web_error("image: x\ndeploy:\n  strategy: spread"), "kontena.yml:6: services.web.deploy.strategy: must be ha, daemon or random, not \"spread\"");
  EXPECT_EQ(web_error("image: x\ndeploy:\n  min_health: 1.5"), "kontena.yml:6: services.web.deploy.min_health: must be between 0.0 and 1.0");
  EXPECT_EQ(web_error("image: x\ndeploy:\n  interval: 5m"), "kontena.yml:6: services.web.deploy.interval: must be a number with min, h or d (e.g. 30min, 1h, 7d), not \"5m\"");
  EXPECT_EQ(web_error("image: x\ndeploy:\n  wait_for_port: http"), "kontena.yml:6: services.web.deploy.wait_for_port: must be an integer, not \"http\"");
  EXPECT_EQ(web_error("image: x\ndeploy:\n  replicas: 2"), "kontena.yml:6: services.web.deploy: key \"replicas\" is not expected");
}

TEST(ServiceKeys, HealthCheck) {
  EXPECT_EQ(web("image: x\nhealth_check:\n  protocol: http\n  port: 8080")["health_check"],
            (json{{"protocol", "http"}, {"port", 8080}, {"uri", "/"}, {"timeout", 10}, {"interval", 60}, {"initial_delay", 10}}));
  EXPECT_EQ(web("image: x\nhealth_check:\n  protocol: tcp\n  port: 5432\n  timeout: 3\n  interval: 5\n  initial_delay: 30")["health_check"],
            (json{{"protocol", "tcp"}, {"port", 5432}, {"uri", nullptr}, {"timeout", 3}, {"interval", 5}, {"initial_delay", 30}}));
  EXPECT_EQ(web("image: x\nhealth_check:\n  protocol: http\n  port: 80\n  uri: /health")["health_check"]["uri"], "/health");
  EXPECT_EQ(web_error("image: x\nhealth_check:\n  uri: health"),
            "kontena.yml:5: services.web.health_check: \"protocol\" is missing (http or tcp)\n"
            "kontena.yml:5: services.web.health_check: \"port\" is missing\n"
            "kontena.yml:6: services.web.health_check.uri: must start with /");
  EXPECT_EQ(web_error("image: x\nhealth_check:\n  protocol: udp\n  port: 1"), "kontena.yml:6: services.web.health_check.protocol: must be http or tcp, not \"udp\"");
  EXPECT_EQ(web_error("image: x\nhealth_check:\n  protocol: tcp\n  port: 1\n  timeout: 30\n  interval: 10"),
            "kontena.yml:5: services.web.health_check: interval (10) must not be shorter than timeout (30)");
}

TEST(ServiceKeys, Hooks) {
  json h = web(R"(image: x
hooks:
  pre_build:
    - name: npm
      cmd: npm install
  pre_start:
    - name: migrate
      cmd: rake db:migrate
      instances: 1
      oneshot: true
  post_start:
    - name: warm
      cmd: curl localhost
      instances: "1,2"
  pre_stop:
    - name: drain
      cmd: drain.sh
)")["hooks"];
  EXPECT_EQ(h["pre_build"], json::array({json{{"name", "npm"}, {"cmd", "npm install"}}}));
  EXPECT_EQ(h["pre_start"], json::array({json{{"name", "migrate"}, {"cmd", "rake db:migrate"}, {"instances", "1"}, {"oneshot", true}}}));
  EXPECT_EQ(h["post_start"][0]["instances"], "1,2");
  EXPECT_EQ(h["pre_stop"], json::array({json{{"name", "drain"}, {"cmd", "drain.sh"}, {"instances", "*"}, {"oneshot", false}}}));
  EXPECT_EQ(web_error("image: x\nhooks:\n  post_stop: []"), "kontena.yml:6: services.web.hooks: key \"post_stop\" is not expected");
  EXPECT_EQ(web_error("image: x\nhooks:\n  pre_start:\n    - name: a"), "kontena.yml:7: services.web.hooks.pre_start[0]: a hook needs a cmd");
  EXPECT_EQ(web_error("image: x\nhooks:\n  pre_start:\n    - name: a\n      cmd: b\n      instances: some"),
            "kontena.yml:9: services.web.hooks.pre_start[0].instances: must be \"*\" or instance numbers such as \"1,2\"");
  EXPECT_EQ(web_error("image: x\nhooks:\n  pre_start: x"), "kontena.yml:6: services.web.hooks.pre_start: must be a list of {name, cmd}, not \"x\"");
}

TEST(ServiceKeys, SecretsAndCertificates) {
  json s = web("image: x\nsecrets:\n  - secret: DB_PASSWORD\n    name: MYSQL_PASSWORD\n    type: env\ncertificates:\n  - subject: example.com\n    name: SSL_CERTS");
  EXPECT_EQ(s["secrets"], json::array({json{{"secret", "DB_PASSWORD"}, {"name", "MYSQL_PASSWORD"}, {"type", "env"}}}));
  EXPECT_EQ(s["certificates"], json::array({json{{"subject", "example.com"}, {"name", "SSL_CERTS"}, {"type", "env"}}}));
  EXPECT_EQ(web_error("image: x\nsecrets:\n  - secret: A\n    type: file"),
            "kontena.yml:6: services.web.secrets[0]: \"name\" is missing\nkontena.yml:7: services.web.secrets[0].type: the only type is \"env\"");
  EXPECT_EQ(web_error("image: x\ncertificates:\n  - name: SSL_CERTS"), "kontena.yml:6: services.web.certificates[0]: \"subject\" is missing");
  EXPECT_EQ(web_error("image: x\nsecrets: A"), "kontena.yml:5: services.web.secrets: must be a list of {secret, name, type}, not \"A\"");
}

TEST(ServiceKeys, StopSignalAndGracePeriod) {
  json s = web("image: x\nstop_signal: SIGINT\nstop_grace_period: 1m30s");
  EXPECT_EQ(s["stop_signal"], "SIGINT");
  EXPECT_EQ(s["stop_grace_period"], 90);
  EXPECT_EQ(web("image: x\nstop_grace_period: 45")["stop_grace_period"], 45);
  EXPECT_EQ(web("image: x\nstop_grace_period: 2h")["stop_grace_period"], 7200);
  EXPECT_EQ(web("image: x\nstop_grace_period: 1500ms")["stop_grace_period"], 2);
  EXPECT_EQ(web_error("image: x\nstop_grace_period: soon"), "kontena.yml:5: services.web.stop_grace_period: must be a duration such as 30s or 1m30s, not \"soon\"");
}

TEST(ServiceKeys, ServiceMustBeAMapping) {
  EXPECT_EQ(load_error("stack: a/b\nservices:\n  web: nginx\n"),
            "kontena.yml:3: services.web: a service must be a mapping of keys (image, ports, ...), not \"nginx\"\n"
            "kontena.yml:3: services.web: image is missing");
}

TEST(ServiceKeys, EveryUnknownKeyIsNamed) {
  for (const char* key : {"networks", "dns", "hostname", "restart", "labels", "container_name", "expose", "tmpfs"}) {
    EXPECT_EQ(web_error(std::string("image: x\n") + key + ": 1"),
              std::string("kontena.yml:5: services.web: key \"") + key + "\" is not expected");
  }
  EXPECT_EQ(kServiceKeys.size(), 40u);
}

TEST(ServiceHelpers, Parsers) {
  EXPECT_EQ(parse_memory(json("2G")), 2LL << 30);
  EXPECT_EQ(parse_memory(json("100b")), 100);
  EXPECT_EQ(parse_memory(json("")), std::nullopt);
  EXPECT_EQ(parse_memory(json("1e30g")), std::nullopt);
  EXPECT_EQ(parse_duration(json("1h2m3s")), 3723);
  EXPECT_EQ(parse_duration(json("1x")), std::nullopt);
  EXPECT_EQ(parse_interval(json("10min")), 600);
  EXPECT_EQ(parse_interval(json("min")), std::nullopt);
  EXPECT_EQ(shell_split("a  'b c' \"d \\\" e\" f\\ g"), (std::vector<std::string>{"a", "b c", "d \" e", "f g"}));
  EXPECT_EQ(shell_split("''"), (std::vector<std::string>{""}));
  EXPECT_EQ(shell_split("\"open"), std::nullopt);
}

// ---- realistic stacks ---------------------------------------------------------------------------

// The WordPress stack of the original's documentation (kontena/wordpress-cluster style): MySQL
// with vault secrets, WordPress behind the Kontena load balancer, variables with prompts.
const char* kWordpress = R"(stack: kontena/wordpress
version: 0.3.1
description: WordPress with MariaDB behind the Kontena Load Balancer
variables:
  wp_domain:
    type: string
    default: www.example.com
    from:
      env: WP_DOMAIN
      prompt: Domain of the site
  wp_instances:
    type: integer
    min: 1
    default: 2
    from:
      prompt: How many WordPress instances?
  wp_ssl:
    type: boolean
    default: false
    from:
      prompt: Use SSL?
  wp_cert:
    type: string
    only_if: wp_ssl
    from:
      vault: wp-cert
  mysql_root_password:
    type: string
    from:
      vault: ${STACK}-mysql-root
      random_string: 32
    to:
      vault: ${STACK}-mysql-root
  mysql_password:
    type: string
    from:
      vault: ${STACK}-mysql-password
      random_string: 32
    to:
      vault: ${STACK}-mysql-password
expose: lb
services:
  lb:
    image: kontena/lb:latest
    ports:
      - 80:80
      {% if wp_ssl %}
      - 443:443
      {% endif %}
    deploy:
      strategy: daemon
    {% if wp_ssl %}
    certificates:
      - subject: {{ wp_domain }}
        name: SSL_CERTS
        type: env
    {% endif %}
  wordpress:
    image: wordpress:4.9-apache
    instances: {{ wp_instances }}
    links:
      - lb
      - mysql:db
    environment:
      WORDPRESS_DB_HOST: mysql.${STACK}.${GRID}.kontena.local
      WORDPRESS_DB_USER: wordpress
      WORDPRESS_DB_NAME: wordpress
      KONTENA_LB_MODE: http
      KONTENA_LB_BALANCE: roundrobin
      KONTENA_LB_INTERNAL_PORT: 80
      KONTENA_LB_VIRTUAL_HOSTS: {{ wp_domain }}
    secrets:
      - secret: ${STACK}-mysql-password
        name: WORDPRESS_DB_PASSWORD
        type: env
    health_check:
      protocol: http
      port: 80
      uri: /wp-login.php
      interval: 30
    deploy:
      wait_for_port: 80
      min_health: 0.5
    volumes:
      - wp-content:/var/www/html/wp-content
  mysql:
    image: mariadb:10.1
    stateful: true
    mem_limit: 512m
    environment:
      - MYSQL_DATABASE=wordpress
      - MYSQL_USER=wordpress
    secrets:
      - secret: ${STACK}-mysql-root
        name: MYSQL_ROOT_PASSWORD
        type: env
      - secret: ${STACK}-mysql-password
        name: MYSQL_PASSWORD
        type: env
    volumes:
      - mysql-data:/var/lib/mysql
    health_check:
      protocol: tcp
      port: 3306
    stop_grace_period: 1m
volumes:
  wp-content:
    external:
      name: ${STACK}-wp-content
  mysql-data:
    external: true
)";

TEST(RealisticStacks, WordpressWithMysqlAndLb) {
  FakeResolver r;
  r.vault["wp-cert"] = "cert";
  LoadInput in;
  in.grid = "prod";
  in.resolver = &r;
  in.values = {{"wp_domain", "blog.example.org"}, {"wp_ssl", "true"}, {"wp_instances", "3"}};
  auto s = load(kWordpress, in);
  const json& st = s.stack;
  EXPECT_EQ(st["name"], "wordpress");
  EXPECT_EQ(st["version"], "0.3.1");
  EXPECT_EQ(st["expose"], "lb");
  ASSERT_EQ(st["services"].size(), 3u);
  const json& lb = st["services"][0];
  EXPECT_EQ(lb["ports"].size(), 2u);
  EXPECT_EQ(lb["deploy"]["strategy"], "daemon");
  EXPECT_EQ(lb["certificates"], json::array({json{{"subject", "blog.example.org"}, {"name", "SSL_CERTS"}, {"type", "env"}}}));
  const json& wp = st["services"][1];
  EXPECT_EQ(wp["instances"], 3);
  EXPECT_EQ(wp["links"], json::array({json{{"name", "lb"}, {"alias", "lb"}}, json{{"name", "mysql"}, {"alias", "db"}}}));
  EXPECT_EQ(wp["environment"][0], "WORDPRESS_DB_HOST=mysql.wordpress.prod.kontena.local");
  EXPECT_EQ(wp["environment"][6], "KONTENA_LB_VIRTUAL_HOSTS=blog.example.org");
  EXPECT_EQ(wp["secrets"][0]["secret"], "wordpress-mysql-password");
  EXPECT_EQ(wp["health_check"]["uri"], "/wp-login.php");
  EXPECT_EQ(wp["deploy"]["wait_for_port"], 80);
  const json& db = st["services"][2];
  EXPECT_EQ(db["stateful"], true);
  EXPECT_EQ(db["mem_limit"], 512 * 1024 * 1024);
  EXPECT_EQ(db["stop_grace_period"], 60);
  EXPECT_EQ(st["volumes"], json::array({json{{"name", "wp-content"}, {"external", "wordpress-wp-content"}},
                                        json{{"name", "mysql-data"}, {"external", "mysql-data"}}}));
  // generated passwords went to the vault, not into the stored variables
  EXPECT_EQ(r.written.size(), 2u);
  EXPECT_EQ(r.written["wordpress-mysql-root"].size(), 32u);
  EXPECT_FALSE(st["variables"].contains("mysql_password"));
  EXPECT_EQ(st["variables"]["wp_domain"], "blog.example.org");
  EXPECT_EQ(s.values["wp_cert"], "cert");

  // Without SSL: one port, no certificates, wp_cert skipped.
  in.values["wp_ssl"] = "false";
  auto plain = load(kWordpress, in);
  EXPECT_EQ(plain.stack["services"][0]["ports"].size(), 1u);
  EXPECT_EQ(plain.stack["services"][0]["certificates"], json::array());
  EXPECT_FALSE(plain.values.contains("wp_cert"));

  // Answers by prompt on a terminal.
  FakeResolver tty;
  tty.tty = true;
  tty.answers = {{"wp_domain", "typed.example.com"}, {"wp_instances", 1}, {"wp_ssl", false}};
  LoadInput t;
  t.grid = "prod";
  t.resolver = &tty;
  auto prompted = load(kWordpress, t);
  EXPECT_EQ(prompted.stack["services"][1]["instances"], 1);
  EXPECT_EQ(prompted.values["wp_domain"], "typed.example.com");
  EXPECT_EQ(tty.asked.size(), 3u);
}

TEST(RealisticStacks, MicroservicesWithDependsAndLiquidLoops) {
  std::string text = R"(stack: acme/platform
version: 1.0.0
variables:
  regions:
    type: array
    default: eu,us
  replicas:
    type: integer
    default: 2
  log_host:
    type: string
    default: logs.internal:24224
depends:
  queue:
    stack: acme/rabbitmq:3.7.0
    variables:
      memory: 1g
services:
  api:
    image: acme/api:1.0.0
    instances: $replicas
    environment:
      - QUEUE_URL=amqp://rabbitmq.${queue}.${GRID}.kontena.local
    logging:
      driver: fluentd
      options:
        fluentd-address: $log_host
        tag: "{% raw %}api.{{.Name}}{% endraw %}"
    affinity:
      - label!=role=db
{% for region in regions %}
  worker-{{ region }}:
    extends: api
    command: worker --region {{ region }}
    affinity:
      - label==region={{ region }}
    depends_on:
      - api
{% endfor %}
)";
  LoadInput in;
  in.grid = "g1";
  auto s = load(text, in);
  ASSERT_EQ(s.stack["services"].size(), 3u);
  const json& eu = s.stack["services"][1];
  EXPECT_EQ(eu["name"], "worker-eu");
  EXPECT_EQ(eu["image"], "acme/api:1.0.0");
  EXPECT_EQ(eu["instances"], 2);
  EXPECT_EQ(eu["command"], json::array({"worker", "--region", "eu"}));
  EXPECT_EQ(eu["affinity"], json::array({"label==region=eu"}));
  EXPECT_EQ(eu["environment"], json::array({"QUEUE_URL=amqp://rabbitmq.platform-queue.g1.kontena.local"}));
  EXPECT_EQ(eu["logging"]["options"]["tag"], "api.{{.Name}}");
  EXPECT_EQ(eu["links"], json::array({json{{"name", "api"}, {"alias", "api"}}}));
  EXPECT_EQ(s.stack["dependencies"][0], (json{{"name", "queue"}, {"stack", "acme/rabbitmq:3.7.0"}, {"variables", {{"memory", "1g"}}}}));
}

}  // namespace
}  // namespace kontena::stackfile::test
