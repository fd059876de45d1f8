// kontena-server: the master. Opens the store, creates the initial admin at first start, serves
// the REST API and the agents' WebSocket (the agent hub) until SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "common/asio.h"
#include "common/error.h"
#include "common/log.h"
#include "master/agents/agent_hub.h"
#include "master/api/api.h"
#include "master/deployer/deployer.h"
#include "master/http/server.h"
#include "master/store/store.h"
#include "protocol/agent_protocol.h"

namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// "HOST:PORT", "[v6]:PORT" or ":PORT".
void parse_listen(const std::string& listen, std::string& host, unsigned short& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) kontena::invalid("listen", "--listen must be HOST:PORT (e.g. 0.0.0.0:9292)");
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  try {
    std::size_t used = 0;
    int p = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || p < 0 || p > 65535) throw std::out_of_range("port");
    port = static_cast<unsigned short>(p);
  } catch (const std::exception&) {
    kontena::invalid("listen", "--listen port must be a number 0..65535 (e.g. 0.0.0.0:9292)");
  }
}

// "30", "1.5" (seconds), "500ms", "2s" -> milliseconds (> 0).
std::chrono::milliseconds parse_duration(const std::string& flag, const std::string& text) {
  std::string number = text;
  double scale = 1000.0;
  if (number.size() > 2 && number.ends_with("ms")) {
    number.resize(number.size() - 2);
    scale = 1.0;
  } else if (number.size() > 1 && number.ends_with("s")) {
    number.resize(number.size() - 1);
  }
  double value = 0;
  try {
    std::size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    kontena::invalid(flag, flag + " \"" + text + "\" is not a duration: seconds (30, 1.5) or milliseconds (500ms)");
  }
  auto ms = static_cast<long long>(value * scale + 0.5);
  if (!(value > 0) || ms < 1 || ms > 24LL * 3600 * 1000)
    kontena::invalid(flag, flag + " must be between 1ms and 24h (got \"" + text + "\")");
  return std::chrono::milliseconds(ms);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kontena-server: the Kontena/C++ master (REST API, auth, grids, nodes, stacks and services)"};
  std::string listen = env_or("KONTENA_LISTEN", "0.0.0.0:9292");
  std::string db = env_or("KONTENA_DB", "./data/master.db");
  std::string tls_cert = env_or("KONTENA_TLS_CERT", "");
  std::string tls_key = env_or("KONTENA_TLS_KEY", "");
  std::string log_level = env_or("LOG_LEVEL", "info");
  int threads = 2;
  std::string ping_interval = env_or("KONTENA_PING_INTERVAL", std::to_string(kontena::protocol::kDefaultPingIntervalSeconds));
  std::string ping_timeout = env_or("WEBSOCKET_TIMEOUT", std::to_string(kontena::protocol::kDefaultPingTimeoutSeconds));
  std::string clock_skew = env_or("KONTENA_CLOCK_SKEW", std::to_string(kontena::protocol::kDefaultClockSkewSeconds));
  std::string slow_pong = env_or("KONTENA_SLOW_PONG", "");
  std::string reschedule_interval = env_or("KONTENA_RESCHEDULE_INTERVAL", "20");
  std::string grace_ha = env_or("KONTENA_GRACE_HA", "120");
  std::string grace_daemon = env_or("KONTENA_GRACE_DAEMON", "600");
  std::string grace_random = env_or("KONTENA_GRACE_RANDOM", "30");
  std::string instance_timeout = env_or("KONTENA_INSTANCE_TIMEOUT", "300");
  app.add_option("--listen", listen, "address to serve on, HOST:PORT (env KONTENA_LISTEN)")->capture_default_str();
  app.add_option("--db", db, "SQLite database file (env KONTENA_DB)")->capture_default_str();
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve HTTPS (env KONTENA_TLS_CERT)");
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert (env KONTENA_TLS_KEY)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (env LOG_LEVEL)")->capture_default_str();
  app.add_option("--threads", threads, "threads serving requests")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--ping-interval", ping_interval,
                 "agent WebSocket ping interval: seconds (1.5) or 500ms (env KONTENA_PING_INTERVAL)")
      ->capture_default_str();
  app.add_option("--ping-timeout", ping_timeout,
                 "an agent whose pong takes longer goes offline: seconds or ms (env WEBSOCKET_TIMEOUT)")
      ->capture_default_str();
  app.add_option("--clock-skew", clock_skew,
                 "allowed agent clock difference at connect: seconds or ms (env KONTENA_CLOCK_SKEW)")
      ->capture_default_str();
  app.add_option("--slow-pong", slow_pong,
                 "log a warning for pongs slower than this: seconds or ms; default half the ping timeout "
                 "(env KONTENA_SLOW_PONG)");
  app.add_option("--reschedule-interval", reschedule_interval,
                 "how often the scheduler checks every service's placement: seconds or ms "
                 "(env KONTENA_RESCHEDULE_INTERVAL)")
      ->capture_default_str();
  app.add_option("--grace-ha", grace_ha,
                 "instances of ha services leave an offline node after this: seconds or ms (env KONTENA_GRACE_HA)")
      ->capture_default_str();
  app.add_option("--grace-daemon", grace_daemon,
                 "the same for daemon services: seconds or ms (env KONTENA_GRACE_DAEMON)")
      ->capture_default_str();
  app.add_option("--grace-random", grace_random,
                 "the same for random services: seconds or ms (env KONTENA_GRACE_RANDOM)")
      ->capture_default_str();
  app.add_option("--instance-timeout", instance_timeout,
                 "a deploy fails when an instance's agent has not reported it running after this: seconds or ms "
                 "(env KONTENA_INSTANCE_TIMEOUT)")
      ->capture_default_str();
  app.add_flag_function("--version", [](std::int64_t) {
    std::cout << "kontena-server " << KONTENA_VERSION << "\n";
    std::exit(0);
  }, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  kontena::init_logging("master", log_level);
  try {
    kontena::master::HttpServerOptions http;
    parse_listen(listen, http.host, http.port);
    http.tls_cert_file = tls_cert;
    http.tls_key_file = tls_key;
    http.threads = threads;

    kontena::master::AgentHubOptions hub_options;
    hub_options.ping_interval = parse_duration("--ping-interval", ping_interval);
    hub_options.ping_timeout = parse_duration("--ping-timeout", ping_timeout);
    hub_options.clock_skew = parse_duration("--clock-skew", clock_skew);
    if (!slow_pong.empty()) hub_options.slow_pong = parse_duration("--slow-pong", slow_pong);

    kontena::master::DeployerOptions deployer_options;
    deployer_options.reschedule_interval = parse_duration("--reschedule-interval", reschedule_interval);
    deployer_options.grace.ha = parse_duration("--grace-ha", grace_ha);
    deployer_options.grace.daemon = parse_duration("--grace-daemon", grace_daemon);
    deployer_options.grace.random = parse_duration("--grace-random", grace_random);
    deployer_options.instance_timeout = parse_duration("--instance-timeout", instance_timeout);

    auto store = kontena::master::open_sqlite_store({db});
    kontena::SystemClock clock;
    kontena::master::AgentHub hub(*store, clock, hub_options);
    hub.mark_all_disconnected();  // no agent socket survives a restart
    auto agent_link = kontena::master::agent_link(hub);
    kontena::master::Deployer deployer(*store, clock, *agent_link, deployer_options);
    deployer.register_agent_handlers(hub);  // before the hub serves agents
    kontena::master::MasterApi api(*store, clock, &hub, &deployer);
    http.websocket_handler = [&hub](const kontena::master::HttpRequest& r,
                                    std::shared_ptr<kontena::master::NodeChannel> channel) {
      return hub.open(r, std::move(channel));
    };
    if (auto code = api.auth().bootstrap_admin(env_or("INITIAL_ADMIN_CODE", ""))) {
      spdlog::warn("initial admin code (one use): {}  log in with: kontena master login --code {} <master url>", *code,
                   *code);
    }

    kontena::master::HttpServer server(http, [&api](const kontena::master::HttpRequest& r) { return api.handle(r); });
    server.start();
    hub.start();
    deployer.start();
    spdlog::info("master listening address={}:{} tls={} db={} version={} ping_interval_ms={} ping_timeout_ms={}",
                 http.host, server.port(), tls_cert.empty() ? "off" : "on", db, KONTENA_VERSION,
                 hub_options.ping_interval.count(), hub_options.ping_timeout.count());
    spdlog::info("deployer options reschedule_interval_ms={} grace_ha_ms={} grace_daemon_ms={} grace_random_ms={} "
                 "instance_timeout_ms={}",
                 deployer_options.reschedule_interval.count(), deployer_options.grace.ha.count(),
                 deployer_options.grace.daemon.count(), deployer_options.grace.random.count(),
                 deployer_options.instance_timeout.count());

    // Stop cleanly on SIGINT/SIGTERM: a signal set on its own io_context thread.
    kontena::asio::io_context signal_io;
    kontena::asio::signal_set signals(signal_io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("stopping signal={}", sig);
      server.stop();
    });
    std::thread signal_thread([&] { signal_io.run(); });
    server.run();
    deployer.stop();
    hub.stop();
    hub.mark_all_disconnected();  // the sockets are gone with the server
    signal_io.stop();
    signal_thread.join();
    spdlog::info("stopped");
  } catch (const kontena::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
  return 0;
}
