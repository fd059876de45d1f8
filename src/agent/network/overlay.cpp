#include "agent/network/overlay.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/ipv4.h"
#include "common/json.h"

namespace kontena::agent::network {
namespace {

using Json = nlohmann::json;

constexpr const char* kFloodMac = "00:00:00:00:00:00";

bool is_ipv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  char back[INET_ADDRSTRLEN];
  // Only the canonical form: it is what `ip -j` prints, and what the comparisons below expect.
  return ::inet_ntop(AF_INET, &a, back, sizeof back) != nullptr && s == back;
}

struct Cidr {
  std::string ip;
  int prefix = 0;
  std::string text() const { return ip + "/" + std::to_string(prefix); }
};

std::optional<Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  Cidr c;
  c.ip = s.substr(0, slash);
  std::string len = s.substr(slash + 1);
  if (len.empty() || len.size() > 2 || !std::all_of(len.begin(), len.end(), ::isdigit)) return std::nullopt;
  c.prefix = std::stoi(len);
  if (!is_ipv4(c.ip) || c.prefix < 1 || c.prefix > 32) return std::nullopt;
  return c;
}

bool is_link_name(const std::string& s) {
  // The kernel's limit is 15 bytes; the characters keep the name safe in messages and rules.
  return !s.empty() && s.size() <= 15 && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
  });
}

// The config with its peers sorted and without duplicates; throws invalid for anything wrong.
OverlayConfig validated(const OverlayConfig& in) {
  OverlayConfig c = in;
  if (!is_link_name(c.bridge)) invalid("bridge", "the overlay bridge name \"" + c.bridge + "\" is not a valid interface name (1-15 characters of a-z, 0-9, - _ .)");
  if (!is_link_name(c.vxlan)) invalid("vxlan", "the VXLAN device name \"" + c.vxlan + "\" is not a valid interface name (1-15 characters of a-z, 0-9, - _ .)");
  if (c.bridge == c.vxlan) invalid("vxlan", "the bridge and the VXLAN device need different names (both are \"" + c.bridge + "\")");
  if (c.vni < 1 || c.vni > 16777215) invalid("vni", "the VXLAN id " + std::to_string(c.vni) + " is not in 1-16777215");
  if (c.port < 1 || c.port > 65535) invalid("port", "the VXLAN port " + std::to_string(c.port) + " is not in 1-65535");
  if (c.mtu < 68 || c.mtu > 65535) invalid("mtu", "the overlay MTU " + std::to_string(c.mtu) + " is not in 68-65535");
  if (!parse_cidr(c.address)) {
    invalid("address", "the node's overlay address \"" + c.address + "\" is not an IPv4 address with a prefix length, like 10.81.0.3/16");
  }
  if (!is_ipv4(c.local_ip)) invalid("local_ip", "the node's private IP \"" + c.local_ip + "\" is not an IPv4 address");
  std::set<std::string> peers;
  for (const auto& p : c.peers) {
    if (!is_ipv4(p)) invalid("peers", "the peer address \"" + p + "\" is not an IPv4 address");
    if (p == c.local_ip) invalid("peers", "the peer list holds this node's own private IP " + p + ": list the other nodes only");
    peers.insert(p);
  }
  c.peers.assign(peers.begin(), peers.end());
  return c;
}

Json parse_output(const std::vector<std::string>& argv, const std::string& out) {
  // `ip -j` prints nothing at all (not "[]") for some empty answers.
  if (out.find_first_not_of(" \t\r\n") == std::string::npos) return Json::array();
  Json j = Json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    fail(ErrorKind::internal, "`" + command_line(argv) + "` printed something that is not a JSON list: " + out.substr(0, 200));
  }
  return j;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

Error command_failed(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string why = trimmed(r.err.empty() ? r.out : r.err);
  return Error(ErrorKind::unavailable, "cannot set up the overlay network: `" + command_line(argv) + "` failed (exit code " +
                                           std::to_string(r.exit_code) + ")" + (why.empty() ? "" : ": " + why));
}


bool has_flag(const Json& link, const std::string& flag) {
  auto it = link.find("flags");
  if (it == link.end() || !it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [&](const Json& f) { return f.is_string() && f.get<std::string>() == flag; });
}

std::string link_kind(const Json& link) {
  auto li = link.find("linkinfo");
  if (li == link.end() || !li->is_object()) return "device";
  return json_value_or<std::string>(*li, "info_kind", "device");
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    l = trimmed(l);
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

std::string accept_rule(const std::string& peer) {
  return std::string("-A ") + kOverlayChain + " -s " + peer + "/32 -j ACCEPT";
}
std::string drop_rule() { return std::string("-A ") + kOverlayChain + " -j DROP"; }
// The INPUT rule as `iptables -S` prints it (with the implied `-m udp`).
std::string jump_rule(int port) {
  return "-A INPUT -p udp -m udp --dport " + std::to_string(port) + " -j " + kOverlayChain;
}
// `-A CHAIN spec...` -> {"iptables", "-w", "-D", CHAIN, spec...}; only for rules this file wrote.
std::vector<std::string> delete_command(const std::string& rule) {
  auto words = split_words(rule);
  std::vector<std::string> argv{"iptables", "-w", "-D"};
  argv.insert(argv.end(), words.begin() + 1, words.end());
  return argv;
}

// (name, kind) of the link, or nullopt when there is none.
std::optional<Json> show_link(CommandRunner& run, const std::string& name) {
  std::vector<std::string> argv{"ip", "-j", "-d", "link", "show", "dev", name};
  auto r = run.run(argv);
  if (r.exit_code != 0) {
    if (r.err.find("does not exist") != std::string::npos || r.err.find("Cannot find device") != std::string::npos) {
      return std::nullopt;
    }
    throw command_failed(argv, r);
  }
  Json j = parse_output(argv, r.out);
  if (j.empty() || !j[0].is_object()) return std::nullopt;
  return j[0];
}

std::vector<std::string> flood_entries(CommandRunner& run, const std::string& vxlan) {
  std::vector<std::string> argv{"bridge", "-j", "fdb", "show", "dev", vxlan};
  auto r = run.run(argv);
  if (r.exit_code != 0) throw command_failed(argv, r);
  std::set<std::string> peers;
  for (const auto& e : parse_output(argv, r.out)) {
    if (!e.is_object() || json_value_or<std::string>(e, "mac", "") != kFloodMac) continue;
    std::string dst = json_value_or<std::string>(e, "dst", "");
    if (!dst.empty()) peers.insert(dst);
  }
  return {peers.begin(), peers.end()};
}

}  // namespace

Overlay::Overlay(CommandRunner& run) : run_(run) {}

CommandResult Overlay::must(const std::vector<std::string>& argv) {
  auto r = run_.run(argv);
  if (r.exit_code != 0) throw command_failed(argv, r);
  return r;
}

std::vector<std::string> Overlay::ensure(const OverlayConfig& config) {
  OverlayConfig c = validated(config);
  std::string dev = interface_of(run_, c.local_ip);
  if (dev.empty()) {
    invalid("local_ip", "the node's private IP " + c.local_ip +
                            " is on no interface of this node: give the address of this node's private network interface");
  }
  if (dev == c.bridge || dev == c.vxlan) {
    invalid("local_ip", "the node's private IP " + c.local_ip + " is on the overlay's own device " + dev +
                            ": give the address of the node's private network interface");
  }
  std::vector<std::string> changes;
  ensure_bridge(c, changes);
  ensure_vxlan(c, dev, changes);
  ensure_flood(c, changes);
  ensure_filter(c, changes);
  for (const auto& change : changes) spdlog::info("overlay: {}", change);
  return changes;
}

void Overlay::ensure_bridge(const OverlayConfig& c, std::vector<std::string>& changes) {
  auto link = show_link(run_, c.bridge);
  if (link && link_kind(*link) != "bridge") {
    fail(ErrorKind::conflict, "cannot set up the overlay network: " + c.bridge + " exists and is a " + link_kind(*link) +
                                  ", not a bridge; remove it (ip link del " + c.bridge + ") or choose another bridge name");
  }
  if (!link) {
    must({"ip", "link", "add", c.bridge, "type", "bridge"});
    changes.push_back("bridge " + c.bridge + " created");
  }
  if (!link || json_value_or<int>(*link, "mtu", 0) != c.mtu) {
    must({"ip", "link", "set", "dev", c.bridge, "mtu", std::to_string(c.mtu)});
    if (link) changes.push_back("bridge " + c.bridge + " MTU " + std::to_string(json_value_or<int>(*link, "mtu", 0)) + " -> " + std::to_string(c.mtu));
  }

  Cidr want = *parse_cidr(c.address);
  const std::string mac = bridge_mac(want.ip);
  std::string had_mac = link ? json_value_or<std::string>(*link, "address", "") : "";
  std::transform(had_mac.begin(), had_mac.end(), had_mac.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (had_mac != mac) {
    must({"ip", "link", "set", "dev", c.bridge, "address", mac});
    if (link) changes.push_back("bridge " + c.bridge + " MAC " + (had_mac.empty() ? "?" : had_mac) + " -> " + mac);
  }

  bool have_want = false;
  std::vector<std::string> stale;
  if (link) {
    std::vector<std::string> argv{"ip", "-j", "addr", "show", "dev", c.bridge};
    for (const auto& l : parse_output(argv, must(argv).out)) {
      auto infos = l.find("addr_info");
      if (infos == l.end() || !infos->is_array()) continue;
      for (const auto& a : *infos) {
        if (json_value_or<std::string>(a, "family", "") != "inet") continue;
        Cidr got{json_value_or<std::string>(a, "local", ""), json_value_or<int>(a, "prefixlen", 0)};
        if (got.ip == want.ip && got.prefix == want.prefix) {
          have_want = true;
        } else {
          stale.push_back(got.text());
        }
      }
    }
  }
  // The old address goes first: the node's overlay address may have moved to another prefix.
  for (const auto& s : stale) {
    must({"ip", "addr", "del", s, "dev", c.bridge});
    changes.push_back("bridge " + c.bridge + " address " + s + " removed");
  }
  if (!have_want) {
    must({"ip", "addr", "add", want.text(), "dev", c.bridge});
    changes.push_back("bridge " + c.bridge + " address " + want.text() + " added");
  }
  if (!link || !has_flag(*link, "UP")) {
    must({"ip", "link", "set", "dev", c.bridge, "up"});
    if (link) changes.push_back("bridge " + c.bridge + " set up");
  }
}

void Overlay::ensure_vxlan(const OverlayConfig& c, const std::string& dev, std::vector<std::string>& changes) {
  auto link = show_link(run_, c.vxlan);
  if (link && link_kind(*link) != "vxlan") {
    fail(ErrorKind::conflict, "cannot set up the overlay network: " + c.vxlan + " exists and is a " + link_kind(*link) +
                                  ", not a VXLAN device; remove it (ip link del " + c.vxlan + ") or choose another name");
  }
  if (link) {
    Json data = Json::object();
    if (auto li = link->find("linkinfo"); li != link->end() && li->is_object()) data = li->value("info_data", Json::object());
    std::vector<std::string> differ;
    auto compare = [&](const std::string& what, const std::string& have, const std::string& want) {
      if (have != want) differ.push_back(what + " " + (have.empty() ? "none" : have) + " -> " + want);
    };
    compare("vni", std::to_string(json_value_or<int>(data, "id", 0)), std::to_string(c.vni));
    compare("local", json_value_or<std::string>(data, "local", ""), c.local_ip);
    compare("port", std::to_string(json_value_or<int>(data, "port", 0)), std::to_string(c.port));
    compare("dev", json_value_or<std::string>(data, "link", ""), dev);
    compare("learning", json_value_or<bool>(data, "learning", false) ? "on" : "off", "on");
    if (!differ.empty()) {
      // These cannot be changed on a live VXLAN device: it is made again (its fdb entries too).
      must({"ip", "link", "del", "dev", c.vxlan});
      std::string what;
      for (const auto& d : differ) what += (what.empty() ? "" : ", ") + d;
      changes.push_back("vxlan " + c.vxlan + " re-created (" + what + ")");
      link.reset();
    }
  } else {
    changes.push_back("vxlan " + c.vxlan + " created (vni " + std::to_string(c.vni) + ", local " + c.local_ip + ", dev " + dev +
                      ", port " + std::to_string(c.port) + ")");
  }
  if (!link) {
    must({"ip", "link", "add", c.vxlan, "type", "vxlan", "id", std::to_string(c.vni), "local", c.local_ip, "dev", dev,
          "dstport", std::to_string(c.port), "learning"});
  }
  if (!link || json_value_or<int>(*link, "mtu", 0) != c.mtu) {
    must({"ip", "link", "set", "dev", c.vxlan, "mtu", std::to_string(c.mtu)});
    if (link) changes.push_back("vxlan " + c.vxlan + " MTU " + std::to_string(json_value_or<int>(*link, "mtu", 0)) + " -> " + std::to_string(c.mtu));
  }
  if (!link || json_value_or<std::string>(*link, "master", "") != c.bridge) {
    must({"ip", "link", "set", "dev", c.vxlan, "master", c.bridge});
    if (link) changes.push_back("vxlan " + c.vxlan + " attached to " + c.bridge);
  }
  if (!link || !has_flag(*link, "UP")) {
    must({"ip", "link", "set", "dev", c.vxlan, "up"});
    if (link) changes.push_back("vxlan " + c.vxlan + " set up");
  }
}

void Overlay::ensure_flood(const OverlayConfig& c, std::vector<std::string>& changes) {
  auto have = flood_entries(run_, c.vxlan);
  for (const auto& p : c.peers) {
    if (std::find(have.begin(), have.end(), p) != have.end()) continue;
    must({"bridge", "fdb", "append", kFloodMac, "dev", c.vxlan, "dst", p});
    changes.push_back("peer " + p + " added");
  }
  for (const auto& p : have) {
    if (std::find(c.peers.begin(), c.peers.end(), p) != c.peers.end()) continue;
    must({"bridge", "fdb", "del", kFloodMac, "dev", c.vxlan, "dst", p});
    changes.push_back("peer " + p + " removed");
  }
}

bool Overlay::iptables_usable() {
  if (!iptables_checked_) {
    iptables_checked_ = true;
    auto r = run_.run({"iptables", "-w", "-S", "INPUT"});
    iptables_ok_ = r.exit_code == 0;
    if (!iptables_ok_) {
      spdlog::warn("overlay: iptables does not work on this node, so the VXLAN port is open to any sender "
                   "(see src/agent/network/README.md) error={}",
                   trimmed(r.err));
    }
  }
  return iptables_ok_;
}

void Overlay::ensure_filter(const OverlayConfig& c, std::vector<std::string>& changes) {
  if (!iptables_usable()) return;
  // The chain: one ACCEPT per peer, then one DROP, nothing else. Wrong rules are deleted by
  // number from the bottom up (numbers above them stay valid); the DROP stays in place while
  // peers change, so no packet of a non-peer slips through meanwhile.
  auto listed = run_.run({"iptables", "-w", "-S", kOverlayChain});
  if (listed.exit_code != 0) {
    must({"iptables", "-w", "-N", kOverlayChain});
    changes.push_back(std::string("iptables chain ") + kOverlayChain + " created");
    listed.out.clear();
  }
  std::vector<std::string> rules;
  for (const auto& l : lines_of(listed.out)) {
    if (l.rfind("-A ", 0) == 0) rules.push_back(l);
  }
  std::set<std::string> wanted;
  for (const auto& p : c.peers) wanted.insert(accept_rule(p));
  std::vector<bool> keep(rules.size(), false);
  std::set<std::string> kept;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (wanted.count(rules[i]) && !kept.count(rules[i])) {
      keep[i] = true;
      kept.insert(rules[i]);
    }
  }
  bool drop_last = !rules.empty() && rules.back() == drop_rule();
  if (drop_last) keep.back() = true;
  for (std::size_t i = rules.size(); i-- > 0;) {
    if (keep[i]) continue;
    must({"iptables", "-w", "-D", kOverlayChain, std::to_string(i + 1)});
    changes.push_back("iptables rule removed: " + rules[i]);
  }
  for (const auto& p : c.peers) {
    if (kept.count(accept_rule(p))) continue;
    must({"iptables", "-w", "-I", kOverlayChain, "1", "-s", p + "/32", "-j", "ACCEPT"});
    changes.push_back("iptables: UDP " + std::to_string(c.port) + " from peer " + p + " accepted");
  }
  if (!drop_last) {
    must({"iptables", "-w", "-A", kOverlayChain, "-j", "DROP"});
    changes.push_back("iptables: UDP " + std::to_string(c.port) + " from other senders dropped");
  }

  // The jump from INPUT, first so that no earlier ACCEPT lets other senders in.
  std::vector<std::string> input_argv{"iptables", "-w", "-S", "INPUT"};
  bool have_jump = false;
  for (const auto& l : lines_of(must(input_argv).out)) {
    if (l.find(std::string("-j ") + kOverlayChain) == std::string::npos) continue;
    if (l == jump_rule(c.port) && !have_jump) {
      have_jump = true;
      continue;
    }
    must(delete_command(l));
    changes.push_back("iptables rule removed: " + l);
  }
  if (!have_jump) {
    must({"iptables", "-w", "-I", "INPUT", "1", "-p", "udp", "-m", "udp", "--dport", std::to_string(c.port), "-j", kOverlayChain});
    changes.push_back("iptables: INPUT UDP " + std::to_string(c.port) + " goes through " + kOverlayChain);
  }
}

std::vector<std::string> Overlay::peers(const std::string& vxlan) {
  if (!show_link(run_, vxlan)) return {};
  return flood_entries(run_, vxlan);
}

void Overlay::teardown(const OverlayConfig& config) {
  if (!is_link_name(config.bridge) || !is_link_name(config.vxlan)) {
    invalid("bridge", "the overlay device names \"" + config.bridge + "\" and \"" + config.vxlan + "\" are not valid interface names");
  }
  if (show_link(run_, config.vxlan)) {
    must({"ip", "link", "del", "dev", config.vxlan});
    spdlog::info("overlay: vxlan {} removed", config.vxlan);
  }
  if (show_link(run_, config.bridge)) {
    must({"ip", "link", "del", "dev", config.bridge});
    spdlog::info("overlay: bridge {} removed", config.bridge);
  }
  if (!iptables_usable()) return;
  for (const auto& l : lines_of(must({"iptables", "-w", "-S", "INPUT"}).out)) {
    if (l.find(std::string("-j ") + kOverlayChain) != std::string::npos) must(delete_command(l));
  }
  if (run_.run({"iptables", "-w", "-S", kOverlayChain}).exit_code == 0) {
    must({"iptables", "-w", "-F", kOverlayChain});
    must({"iptables", "-w", "-X", kOverlayChain});
    spdlog::info("overlay: iptables chain {} removed", kOverlayChain);
  }
}

int interface_mtu(CommandRunner& run, const std::string& dev) {
  if (dev.empty()) return 0;
  auto link = show_link(run, dev);
  return link ? json_value_or<int>(*link, "mtu", 0) : 0;
}

int overlay_mtu(CommandRunner& run, const std::string& local_ip, int wanted) {
  constexpr int kVxlanOverhead = 50;  // outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
  int underlay = interface_mtu(run, interface_of(run, local_ip));
  if (underlay <= kVxlanOverhead) return wanted;
  return std::min(wanted, underlay - kVxlanOverhead);
}

std::string bridge_mac(const std::string& overlay_ip) {
  auto ip = net::try_parse_ipv4(overlay_ip);
  if (!ip) invalid("address", "the node's overlay address \"" + overlay_ip + "\" is not an IPv4 address");
  char text[18];
  std::snprintf(text, sizeof text, "02:4b:%02x:%02x:%02x:%02x", (*ip >> 24) & 0xffU, (*ip >> 16) & 0xffU,
                (*ip >> 8) & 0xffU, *ip & 0xffU);
  return text;
}

std::string interface_of(CommandRunner& run, const std::string& ip) {
  std::vector<std::string> argv{"ip", "-j", "addr", "show"};
  auto r = run.run(argv);
  if (r.exit_code != 0) throw command_failed(argv, r);
  for (const auto& l : parse_output(argv, r.out)) {
    auto infos = l.find("addr_info");
    if (infos == l.end() || !infos->is_array()) continue;
    for (const auto& a : *infos) {
      if (json_value_or<std::string>(a, "family", "") == "inet" && json_value_or<std::string>(a, "local", "") == ip) {
        return json_value_or<std::string>(l, "ifname", "");
      }
    }
  }
  return {};
}

}  // namespace kontena::agent::network
