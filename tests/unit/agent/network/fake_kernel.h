// A CommandRunner that plays the node's kernel for the overlay's unit tests: it keeps links
// (bridges, VXLAN devices, plain interfaces), their IPv4 addresses, the VXLAN fdb and the filter
// table's chains, answers `ip -j` / `bridge -j` / `iptables -S` from that state, applies the
// commands that change it, and records every command line. A command can be made to fail.
#pragma once
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/network/command_runner.h"

namespace kontena::agent::network::testing {

using Json = nlohmann::json;

struct FakeLink {
  std::string kind = "veth";  // bridge | vxlan | veth
  int mtu = 1500;
  std::string mac = "5e:1f:00:00:00:01";  // what the kernel picks at random; a bridge's changes with its ports
  bool up = false;
  std::string master;
  std::vector<std::string> addrs;  // "10.81.0.3/16"
  // vxlan only
  int id = 0;
  std::string local;
  std::string dev;
  int port = 0;
  bool learning = false;
  std::vector<std::string> flood;                             // dst of 00:00:00:00:00:00 entries
  std::vector<std::pair<std::string, std::string>> entries;   // other fdb entries: (mac, dst)
};

// An interface that is up with these IPv4 addresses ("10.99.51.11/24").
inline FakeLink iface(std::vector<std::string> addrs, std::string kind = "veth") {
  FakeLink l;
  l.kind = std::move(kind);
  l.up = true;
  l.addrs = std::move(addrs);
  return l;
}

class FakeKernel final : public CommandRunner {
 public:
  FakeKernel() {
    links["lo"] = iface({"127.0.0.1/8"}, "loopback");
    links["eth0"] = iface({"10.99.51.11/24"});
    chains["INPUT"] = {};
  }

  std::map<std::string, FakeLink> links;
  std::map<std::string, std::vector<std::string>> chains;  // rules as `iptables -S` prints them
  bool iptables_installed = true;
  std::vector<std::string> log;  // every command line run

  // The next command whose line starts with `prefix` exits with `code` and prints `err`.
  void fail_on(std::string prefix, int code, std::string err) { failures_.push_back({std::move(prefix), code, std::move(err)}); }

  // Commands of the log that change something (not a read: `-j ... show`, `-S`).
  std::vector<std::string> changing_commands() const {
    std::vector<std::string> out;
    for (const auto& l : log) {
      bool read = l.find(" show") != std::string::npos || l.find(" -S") != std::string::npos;
      if (!read) out.push_back(l);
    }
    return out;
  }
  bool ran(const std::string& line) const { return std::find(log.begin(), log.end(), line) != log.end(); }

  CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds) override {
    std::string line = command_line(argv);
    log.push_back(line);
    for (auto it = failures_.begin(); it != failures_.end(); ++it) {
      if (line.rfind(it->prefix, 0) == 0) {
        CommandResult r{it->code, "", it->err};
        failures_.erase(it);
        return r;
      }
    }
    if (argv[0] == "ip") return ip(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (argv[0] == "bridge") return bridge(std::vector<std::string>(argv.begin() + 1, argv.end()));
    if (argv[0] == "iptables") {
      if (!iptables_installed) return {127, "", "cannot run iptables: No such file or directory"};
      return iptables(std::vector<std::string>(argv.begin() + 1, argv.end()));
    }
    return {127, "", "cannot run " + argv[0] + ": No such file or directory"};
  }

 private:
  struct Failure {
    std::string prefix;
    int code;
    std::string err;
  };
  std::vector<Failure> failures_;

  static CommandResult ok(std::string out = {}) { return {0, std::move(out), ""}; }
  static CommandResult no_device(const std::string& name) { return {1, "", "Device \"" + name + "\" does not exist.\n"}; }
  static CommandResult cannot_find(const std::string& name) { return {1, "", "Cannot find device \"" + name + "\"\n"}; }
  static CommandResult bad(const std::vector<std::string>& a) { return {255, "", "fake kernel: unexpected command: " + command_line(a) + "\n"}; }

  Json link_json(const std::string& name, const FakeLink& l, bool details) const {
    Json j = {{"ifname", name}, {"mtu", l.mtu}, {"address", l.mac}, {"flags", Json::array({"BROADCAST", "MULTICAST"})}};
    if (l.up) j["flags"].push_back("UP");
    if (!l.master.empty()) j["master"] = l.master;
    if (details) {
      Json info = {{"info_kind", l.kind}};
      if (l.kind == "vxlan") {
        info["info_data"] = {{"id", l.id}, {"local", l.local}, {"link", l.dev}, {"port", l.port}, {"learning", l.learning}, {"ttl", 0}};
      }
      if (!l.master.empty()) info["info_slave_kind"] = "bridge";
      j["linkinfo"] = info;
    }
    Json addrs = Json::array();
    for (const auto& a : l.addrs) {
      auto slash = a.find('/');
      addrs.push_back({{"family", "inet"}, {"local", a.substr(0, slash)}, {"prefixlen", std::stoi(a.substr(slash + 1))}, {"scope", "global"}});
    }
    // Every real link also has an IPv6 link-local address: it must be left alone.
    addrs.push_back({{"family", "inet6"}, {"local", "fe80::1"}, {"prefixlen", 64}, {"scope", "link"}});
    j["addr_info"] = addrs;
    return j;
  }

  CommandResult ip(const std::vector<std::string>& a) {
    // ip -j -d link show dev X
    if (a.size() == 6 && a[0] == "-j" && a[1] == "-d" && a[2] == "link" && a[3] == "show" && a[4] == "dev") {
      auto it = links.find(a[5]);
      if (it == links.end()) return no_device(a[5]);
      return ok(Json::array({link_json(it->first, it->second, true)}).dump());
    }
    // ip -j addr show [dev X]
    if (a.size() >= 3 && a[0] == "-j" && a[1] == "addr" && a[2] == "show") {
      Json out = Json::array();
      if (a.size() == 5 && a[3] == "dev") {
        auto it = links.find(a[4]);
        if (it == links.end()) return no_device(a[4]);
        out.push_back(link_json(it->first, it->second, false));
      } else if (a.size() == 3) {
        for (const auto& [n, l] : links) out.push_back(link_json(n, l, false));
      } else {
        return bad(a);
      }
      return ok(out.dump());
    }
    if (a.size() >= 4 && a[0] == "link" && a[1] == "add") {
      const std::string& name = a[2];
      if (links.count(name)) return {2, "", "RTNETLINK answers: File exists\n"};
      FakeLink l;
      if (a[3] == "type" && a.size() == 5 && a[4] == "bridge") {
        l.kind = "bridge";
      } else if (a.size() == 14 && a[4] == "vxlan" && a[5] == "id" && a[7] == "local" && a[9] == "dev" && a[11] == "dstport" &&
                 a[13] == "learning") {
        if (!links.count(a[10])) return cannot_find(a[10]);
        l.kind = "vxlan";
        l.id = std::stoi(a[6]);
        l.local = a[8];
        l.dev = a[10];
        l.port = std::stoi(a[12]);
        l.learning = true;
        for (const auto& [n, other] : links) {
          if (other.kind == "vxlan" && other.id == l.id && other.port == l.port) return {2, "", "RTNETLINK answers: File exists\n"};
        }
      } else {
        return bad(a);
      }
      links[name] = l;
      return ok();
    }
    if (a.size() == 4 && a[0] == "link" && a[1] == "del" && a[2] == "dev") {
      auto it = links.find(a[3]);
      if (it == links.end()) return cannot_find(a[3]);
      for (auto& [n, l] : links) {
        if (l.master == a[3]) l.master.clear();
      }
      links.erase(it);
      return ok();
    }
    if (a.size() >= 5 && a[0] == "link" && a[1] == "set" && a[2] == "dev") {
      auto it = links.find(a[3]);
      if (it == links.end()) return cannot_find(a[3]);
      if (a.size() == 5 && a[4] == "up") {
        it->second.up = true;
      } else if (a.size() == 6 && a[4] == "mtu") {
        it->second.mtu = std::stoi(a[5]);
      } else if (a.size() == 6 && a[4] == "address") {
        it->second.mac = a[5];
      } else if (a.size() == 6 && a[4] == "master") {
        auto m = links.find(a[5]);
        if (m == links.end()) return cannot_find(a[5]);
        if (m->second.kind != "bridge") return {2, "", "RTNETLINK answers: Operation not supported\n"};
        it->second.master = a[5];
      } else {
        return bad(a);
      }
      return ok();
    }
    if (a.size() == 5 && a[0] == "addr" && (a[1] == "add" || a[1] == "del") && a[3] == "dev") {
      auto it = links.find(a[4]);
      if (it == links.end()) return cannot_find(a[4]);
      auto& addrs = it->second.addrs;
      auto pos = std::find(addrs.begin(), addrs.end(), a[2]);
      if (a[1] == "add") {
        if (pos != addrs.end()) return {2, "", "RTNETLINK answers: File exists\n"};
        addrs.push_back(a[2]);
      } else {
        if (pos == addrs.end()) return {2, "", "RTNETLINK answers: Cannot assign requested address\n"};
        addrs.erase(pos);
      }
      return ok();
    }
    return bad(a);
  }

  CommandResult bridge(const std::vector<std::string>& a) {
    if (a.size() == 5 && a[0] == "-j" && a[1] == "fdb" && a[2] == "show" && a[3] == "dev") {
      auto it = links.find(a[4]);
      if (it == links.end()) return cannot_find(a[4]);
      Json out = Json::array();
      if (!it->second.master.empty()) {
        out.push_back({{"mac", "1a:8b:0b:f5:ba:c6"}, {"flags", Json::array()}, {"master", it->second.master}, {"state", "permanent"}});
      }
      for (const auto& d : it->second.flood) {
        out.push_back({{"mac", "00:00:00:00:00:00"}, {"dst", d}, {"flags", Json::array({"self"})}, {"state", "permanent"}});
      }
      for (const auto& [mac, dst] : it->second.entries) {
        out.push_back({{"mac", mac}, {"dst", dst}, {"flags", Json::array({"self"})}});
      }
      return ok(out.dump());
    }
    if (a.size() == 7 && a[0] == "fdb" && (a[1] == "append" || a[1] == "del") && a[3] == "dev" && a[5] == "dst") {
      auto it = links.find(a[4]);
      if (it == links.end()) return cannot_find(a[4]);
      if (a[2] != "00:00:00:00:00:00") return bad(a);
      auto& flood = it->second.flood;
      auto pos = std::find(flood.begin(), flood.end(), a[6]);
      if (a[1] == "append") {
        if (pos != flood.end()) return {2, "", "RTNETLINK answers: File exists\n"};
        flood.push_back(a[6]);
      } else {
        if (pos == flood.end()) return {2, "", "RTNETLINK answers: No such file or directory\n"};
        flood.erase(pos);
      }
      return ok();
    }
    return bad(a);
  }

  CommandResult iptables(std::vector<std::string> a) {
    if (a.empty() || a[0] != "-w") return bad(a);
    a.erase(a.begin());
    auto no_chain = [](const std::string& c) {
      return CommandResult{1, "", "iptables v1.8.9 (nf_tables): chain `" + c + "' in table `filter' is incompatible, use 'nft' tool.\n"};
    };
    if (a.size() < 2) return bad(a);
    const std::string& op = a[0];
    const std::string& chain = a[1];
    auto it = chains.find(chain);
    if (op == "-N") {
      if (it != chains.end()) return {1, "", "iptables: Chain already exists.\n"};
      chains[chain] = {};
      return ok();
    }
    if (it == chains.end()) return no_chain(chain);
    auto& rules = it->second;
    std::vector<std::string> spec(a.begin() + 2, a.end());
    if (op == "-S") {
      std::string out = chain == "INPUT" ? "-P INPUT ACCEPT\n" : "-N " + chain + "\n";
      for (const auto& r : rules) out += r + "\n";
      return ok(out);
    }
    if (op == "-F") {
      rules.clear();
      return ok();
    }
    if (op == "-X") {
      if (!rules.empty()) return {1, "", "iptables: Directory not empty.\n"};
      chains.erase(it);
      return ok();
    }
    if (op == "-A") {
      rules.push_back("-A " + chain + " " + command_line(spec));
      return ok();
    }
    if (op == "-I") {
      if (spec.empty()) return bad(a);
      std::size_t pos = std::stoul(spec[0]);
      if (pos < 1 || pos > rules.size() + 1) return {1, "", "iptables: Index of insertion too big.\n"};
      rules.insert(rules.begin() + static_cast<long>(pos - 1), "-A " + chain + " " + command_line({spec.begin() + 1, spec.end()}));
      return ok();
    }
    if (op == "-D") {
      if (spec.size() == 1 && std::all_of(spec[0].begin(), spec[0].end(), ::isdigit)) {
        std::size_t pos = std::stoul(spec[0]);
        if (pos < 1 || pos > rules.size()) return {1, "", "iptables: Index of deletion too big.\n"};
        rules.erase(rules.begin() + static_cast<long>(pos - 1));
        return ok();
      }
      auto r = std::find(rules.begin(), rules.end(), "-A " + chain + " " + command_line(spec));
      if (r == rules.end()) return {1, "", "iptables: Bad rule (does a matching rule exist in that chain?).\n"};
      rules.erase(r);
      return ok();
    }
    return bad(a);
  }
};

}  // namespace kontena::agent::network::testing
