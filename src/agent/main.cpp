// kontena-agent: the node agent. Connects to the master over a WebSocket and keeps the node's
// state there (docs: README "kontena-agent"). Exit status: 0 stopped by SIGTERM/SIGINT, 2 bad
// flags or environment, 3 the master told the agent to stop (close codes, agent_protocol.h).
#include "common/asio.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "agent/agent.h"
#include "agent/connection/master_url.h"
#include "agent/docker/docker_client.h"
#include "agent/etcd_rpc.h"
#include "agent/logs/log_sync.h"
#include "agent/network_sync.h"
#include "agent/options.h"
#include "agent/pod_sync.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

namespace {

using kontena::agent::AgentOptions;

// An empty environment variable counts as unset.
std::string or_default(const std::string& value, const char* fallback) { return value.empty() ? fallback : value; }

// --pod-concurrency: 1..64 pods at once.
int parse_pod_concurrency(const std::string& text) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > 64)
    kontena::invalid("--pod-concurrency", "--pod-concurrency must be a number of pods from 1 to 64; got \"" + text + "\"");
  return v;
}

}  // namespace

int parse_port(const std::string& text, const char* flag) {
  int v = 0;
  try {
    std::size_t used = 0;
    v = std::stoi(text, &used);
    if (used != text.size()) v = -1;
  } catch (const std::exception&) {
    v = -1;
  }
  if (v < 1 || v > 65535) kontena::invalid(flag, std::string(flag) + " \"" + text + "\" is not a port (1..65535)");
  return v;
}

int main(int argc, char** argv) {
  namespace ka = kontena::agent;
  CLI::App app{"kontena-agent: the Kontena/C++ node agent (connects the node's Docker Engine to the master)"};
  std::string master, grid_token, node_token, node_id, node_name, docker_socket, public_ip, private_ip, peer_interface;
  std::vector<std::string> label_args;
  std::string ping_interval = "30", ping_timeout = "5", update_interval = "60", backoff_max = "90", backoff_base = "1",
              connect_timeout = "10", reconcile_interval = "30", pod_concurrency = "8";
  std::string ssl_verify = "true", ssl_hostname, ssl_ca_file;
  std::string log_level = "info";
  std::string data_dir = "/var/lib/kontena-agent", etcd_bin = "etcd", dns_port = "53", sd_ttl = "10";
  bool no_overlay = false;

  app.add_option("--master", master, "master URL: ws://, wss://, http:// or https:// HOST[:PORT]")->envname("KONTENA_URI");
  app.add_option("--grid-token", grid_token, "the grid's token (joins the grid as a new or known node)")->envname("KONTENA_TOKEN");
  app.add_option("--node-token", node_token, "the token of a node pre-created with `kontena node create`")
      ->envname("KONTENA_NODE_TOKEN");
  app.add_option("--node-id", node_id, "node id (default: the Docker Engine ID)")->envname("KONTENA_NODE_ID");
  app.add_option("--node-name", node_name, "node name (default: the Docker Engine's host name)")->envname("KONTENA_NODE_NAME");
  app.add_option("--label", label_args, "node label k=v; repeat or separate with commas")->envname("KONTENA_NODE_LABELS");
  app.add_option("--docker-socket", docker_socket, "Docker Engine socket: unix:///path or /path (default /var/run/docker.sock)")
      ->envname("DOCKER_HOST");
  app.add_option("--public-ip", public_ip, "the node's public address (default: the private one)")->envname("KONTENA_PUBLIC_IP");
  app.add_option("--private-ip", private_ip, "the node's private address (default: from --peer-interface or the default route)")
      ->envname("KONTENA_PRIVATE_IP");
  app.add_option("--peer-interface", peer_interface, "interface whose IPv4 address is the private address")
      ->envname("KONTENA_PEER_INTERFACE");
  app.add_option("--ping-interval", ping_interval, "WebSocket ping interval: seconds (0.5) or 250ms, 2m")
      ->envname("KONTENA_PING_INTERVAL")->capture_default_str();
  app.add_option("--ping-timeout", ping_timeout, "reconnect when the master answers no ping within this")
      ->envname("KONTENA_PING_TIMEOUT")->capture_default_str();
  app.add_option("--update-interval", update_interval, "interval of /nodes/update and /nodes/stats")
      ->envname("KONTENA_UPDATE_INTERVAL")->capture_default_str();
  app.add_option("--reconcile-interval", reconcile_interval, "period of the full service pod reconcile (fetches the desired pods)")
      ->envname("KONTENA_RECONCILE_INTERVAL")->capture_default_str();
  app.add_option("--pod-concurrency", pod_concurrency, "service pods whose containers a reconcile creates/starts/stops at once")
      ->envname("KONTENA_POD_CONCURRENCY")->capture_default_str();
  app.add_option("--backoff-max", backoff_max, "longest delay between reconnects")->envname("KONTENA_BACKOFF_MAX")->capture_default_str();
  app.add_option("--backoff-base", backoff_base, "first reconnect delay (doubles per failure, with jitter)")
      ->envname("KONTENA_BACKOFF_BASE")->capture_default_str();
  app.add_option("--connect-timeout", connect_timeout, "TCP + TLS + WebSocket handshake timeout")
      ->envname("KONTENA_CONNECT_TIMEOUT")->capture_default_str();
  app.add_option("--ssl-verify", ssl_verify, "verify the master's TLS certificate (true|false)")
      ->envname("KONTENA_SSL_VERIFY")->capture_default_str();
  app.add_option("--ssl-hostname", ssl_hostname, "TLS server name to send and verify (default: the URL host)")
      ->envname("KONTENA_SSL_HOSTNAME");
  app.add_option("--ssl-ca-file", ssl_ca_file, "PEM CA bundle to trust instead of the system store")->envname("KONTENA_SSL_CA_FILE");
  app.add_option("--data-dir", data_dir, "the agent's files: the etcd member's data (initial nodes) under DIR/etcd")
      ->envname("KONTENA_AGENT_DATA_DIR")->capture_default_str();
  app.add_option("--etcd-bin", etcd_bin, "the etcd binary the initial nodes run")->envname("KONTENA_ETCD_BIN")->capture_default_str();
  app.add_option("--dns-port", dns_port, "port of the service discovery DNS on the node's overlay address")
      ->envname("KONTENA_DNS_PORT")->capture_default_str();
  app.add_option("--sd-ttl", sd_ttl, "service discovery: a lost node's names vanish after this (seconds or 5s, 1m)")
      ->envname("KONTENA_SD_TTL")->capture_default_str();
  app.add_flag("--no-overlay", no_overlay,
               "no overlay, etcd, IPAM or DNS on this node: containers join Docker's default network")
      ->envname("KONTENA_NO_OVERLAY");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->envname("LOG_LEVEL")->capture_default_str();
  app.add_flag_function("--version", [](std::int64_t) {
    std::cout << "kontena-agent " << KONTENA_VERSION << "\n";
    std::exit(0);
  }, "print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : ka::kExitUsage;
  }

  kontena::init_logging("agent", or_default(log_level, "info"));

  AgentOptions options;
  ka::PodSyncOptions pod_sync_options;
  ka::NetworkOptions network_options;
  try {
    if (master.empty())
      kontena::invalid("master", "no master URL: set --master or KONTENA_URI (e.g. ws://192.168.1.10:9292)");
    ka::parse_master_url(master);
    options.master_url = master;
    if (grid_token.empty() && node_token.empty())
      kontena::invalid("token", "no token: set --grid-token (env KONTENA_TOKEN) or --node-token (env KONTENA_NODE_TOKEN)");
    if (!grid_token.empty() && !node_token.empty())
      spdlog::warn("both a grid token and a node token are set, using the node token");
    options.grid_token = grid_token;
    options.node_token = node_token;
    options.node_id = node_id;
    options.node_name = node_name;
    for (const auto& arg : label_args)
      for (auto& l : ka::parse_labels(arg)) options.labels.push_back(std::move(l));
    options.docker_socket = ka::parse_docker_socket(docker_socket);
    options.public_ip = public_ip;
    options.private_ip = private_ip;
    options.peer_interface = peer_interface;
    options.ping_interval = ka::parse_duration(or_default(ping_interval, "30"), "--ping-interval");
    options.ping_timeout = ka::parse_duration(or_default(ping_timeout, "5"), "--ping-timeout");
    options.update_interval = ka::parse_duration(or_default(update_interval, "60"), "--update-interval");
    options.backoff_max = ka::parse_duration(or_default(backoff_max, "90"), "--backoff-max");
    options.backoff_base = ka::parse_duration(or_default(backoff_base, "1"), "--backoff-base");
    options.connect_timeout = ka::parse_duration(or_default(connect_timeout, "10"), "--connect-timeout");
    pod_sync_options.interval = ka::parse_duration(or_default(reconcile_interval, "30"), "--reconcile-interval");
    pod_sync_options.pod_concurrency = parse_pod_concurrency(or_default(pod_concurrency, "8"));
    options.tls.verify = ka::parse_bool(or_default(ssl_verify, "true"), "--ssl-verify / KONTENA_SSL_VERIFY");
    options.tls.hostname = ssl_hostname;
    options.tls.ca_file = ssl_ca_file;
    if (options.backoff_base > options.backoff_max) options.backoff_base = options.backoff_max;
    network_options.enabled = !no_overlay;
    network_options.data_dir = data_dir;
    network_options.etcd_bin = etcd_bin;
    network_options.dns_port = parse_port(dns_port, "--dns-port");
    auto ttl = ka::parse_duration(sd_ttl, "--sd-ttl");
    if (ttl < std::chrono::seconds(2)) kontena::invalid("--sd-ttl", "--sd-ttl must be at least 2 s (etcd leases are whole seconds)");
    network_options.sd_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  } catch (const kontena::Error& e) {
    std::cerr << "kontena-agent: " << e.what() << "\n";
    return ka::kExitUsage;
  }
  if (!options.tls.verify) spdlog::warn("TLS certificate verification of the master is off (KONTENA_SSL_VERIFY=false)");

  std::signal(SIGPIPE, SIG_IGN);
  kontena::asio::io_context io(1);
  kontena::asio::thread_pool pool(1);
  kontena::SystemClock clock;
  int status = ka::kExitOk;
  try {
    std::shared_ptr<ka::docker::DockerClient> docker = ka::docker::make_engine_client(options.docker_socket, std::chrono::seconds(30));
    ka::Agent agent(io.get_executor(), pool.get_executor(), options, docker, clock);
    ka::PodSync pod_sync(agent, io.get_executor(), *docker, clock, pod_sync_options);
    ka::logs::LogSync log_sync(agent, io.get_executor(), *docker, clock, ka::logs::LogShipperOptions{});
    ka::NetworkSync network(agent, *docker, network_options);
    network.set_instances_source([&pod_sync] { return pod_sync.running_instances(); });
    // The reconciler does not own the NetworkSync: both live in this scope (network stops last).
    if (network_options.enabled) {
      pod_sync.set_network(std::shared_ptr<ka::pods::PodNetwork>(&network, [](ka::pods::PodNetwork*) {}));
      pod_sync.on_instances_changed([&network] { network.poke_discovery(); });
    }
    ka::EtcdRpcDeps etcd_deps;
    etcd_deps.worker = pool.get_executor();
    etcd_deps.client = [&network] { return network.etcd_client(); };
    etcd_deps.member_status = [&network] { return network.member_status(); };
    etcd_deps.ipam = [&network] { return network.ipam(); };
    etcd_deps.network_status = [&network] { return network.status(); };
    ka::register_etcd_rpc(agent, etcd_deps);
    network.start();
    spdlog::info("kontena-agent starting version={} master={} docker_socket={}", KONTENA_VERSION, options.master_url,
                 options.docker_socket);

    kontena::asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void()> wait_signal;
    wait_signal = [&] {
      signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        spdlog::info("signal received signal={}", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        agent.stop();
        wait_signal();
      });
    };
    wait_signal();

    kontena::asio::co_spawn(io, agent.run(), [&](std::exception_ptr e, int code) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("the agent failed error=\"{}\"", ex.what());
        }
        status = 1;
      } else {
        status = code;
      }
      signals.cancel();
      io.stop();
    });
    io.run();
    // The network first: a pod waiting in NetworkSync::attach() for the network is released at
    // once (else pod_sync.stop() would wait for it), and the etcd member stops with the agent.
    network.stop(true);
    log_sync.stop();
    pod_sync.stop();
    pool.stop();
    pool.join();
  } catch (const kontena::Error& e) {
    spdlog::error("{}", e.what());
    pool.stop();
    pool.join();
    return e.kind() == kontena::ErrorKind::invalid ? ka::kExitUsage : 1;
  }
  return status;
}
