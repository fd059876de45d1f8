#include "cli/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace kontena::cli {

using nlohmann::json;

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

ServerEntry* ClientConfig::find_server(const std::string& name) {
  auto it = std::find_if(servers.begin(), servers.end(), [&](const ServerEntry& s) { return s.name == name; });
  return it == servers.end() ? nullptr : &*it;
}

const ServerEntry* ClientConfig::find_server(const std::string& name) const {
  return const_cast<ClientConfig*>(this)->find_server(name);
}

ServerEntry* ClientConfig::find_server_by_url(const std::string& url) {
  auto it = std::find_if(servers.begin(), servers.end(), [&](const ServerEntry& s) { return s.url == url; });
  return it == servers.end() ? nullptr : &*it;
}

ServerEntry* ClientConfig::current() { return current_server.empty() ? nullptr : find_server(current_server); }

bool ClientConfig::remove_server(const std::string& name) {
  auto it = std::find_if(servers.begin(), servers.end(), [&](const ServerEntry& s) { return s.name == name; });
  if (it == servers.end()) return false;
  servers.erase(it);
  if (current_server == name) current_server.clear();
  return true;
}

std::string config_path(const EnvLookup& env) {
  if (auto path = env("KONTENA_CONFIG"); path && !path->empty()) return *path;
  auto home = env("HOME");
  if (!home || home->empty())
    throw Error(ErrorKind::invalid, "cannot find the client config: HOME is not set (set KONTENA_CONFIG=PATH)");
  return *home + "/.kontena_client.json";
}

namespace {

const char* const kKnownServerKeys[] = {"name", "url", "username", "grid", "token"};
const char* const kKnownTopKeys[] = {"current_server", "servers"};

json nullable_string(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string optional_string(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) throw Error(ErrorKind::invalid, where + "." + key + " must be a string", key);
  return it->get<std::string>();
}

json unknown_keys_of(const json& object, const auto& known) {
  json extra = json::object();
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(std::begin(known), std::end(known), it.key()) == std::end(known)) extra[it.key()] = it.value();
  }
  return extra;
}

StoredToken token_from_json(const json& object, const std::string& where) {
  if (!object.is_object()) throw Error(ErrorKind::invalid, where + " must be an object", "token");
  StoredToken token;
  token.access_token = optional_string(object, "access_token", where);
  token.refresh_token = optional_string(object, "refresh_token", where);
  if (auto it = object.find("expires_at"); it != object.end() && !it->is_null()) {
    if (!it->is_number_integer()) throw Error(ErrorKind::invalid, where + ".expires_at must be unix seconds or null");
    token.expires_at = it->get<std::int64_t>();
  }
  return token;
}

}  // namespace

json to_json(const ClientConfig& config) {
  json document = config.unknown_keys.is_object() ? config.unknown_keys : json::object();
  document["current_server"] = nullable_string(config.current_server);
  json servers = json::array();
  for (const auto& server : config.servers) {
    json entry = server.unknown_keys.is_object() ? server.unknown_keys : json::object();
    entry["name"] = server.name;
    entry["url"] = server.url;
    entry["username"] = nullable_string(server.username);
    entry["grid"] = nullable_string(server.grid);
    if (server.token) {
      entry["token"] = {{"access_token", server.token->access_token},
                        {"refresh_token", nullable_string(server.token->refresh_token)},
                        {"expires_at", server.token->expires_at ? json(*server.token->expires_at) : json(nullptr)}};
    } else {
      entry["token"] = nullptr;
    }
    servers.push_back(std::move(entry));
  }
  document["servers"] = std::move(servers);
  return document;
}

ClientConfig config_from_json(const json& document) {
  if (!document.is_object()) throw Error(ErrorKind::invalid, "the top level must be a JSON object");
  ClientConfig config;
  config.current_server = optional_string(document, "current_server", "config");
  config.unknown_keys = unknown_keys_of(document, kKnownTopKeys);
  if (auto it = document.find("servers"); it != document.end() && !it->is_null()) {
    if (!it->is_array()) throw Error(ErrorKind::invalid, "servers must be an array", "servers");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string where = "servers[" + std::to_string(i) + "]";
      if (!item.is_object()) throw Error(ErrorKind::invalid, where + " must be an object", "servers");
      ServerEntry server;
      server.name = optional_string(item, "name", where);
      server.url = optional_string(item, "url", where);
      if (server.name.empty()) throw Error(ErrorKind::invalid, where + " has no name", "name");
      server.username = optional_string(item, "username", where);
      server.grid = optional_string(item, "grid", where);
      if (auto token = item.find("token"); token != item.end() && !token->is_null()) {
        server.token = token_from_json(*token, where + ".token");
        if (server.token->access_token.empty()) server.token.reset();
      }
      server.unknown_keys = unknown_keys_of(item, kKnownServerKeys);
      config.servers.push_back(std::move(server));
    }
  }
  return config;
}

ClientConfig load_config(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return {};
    throw Error(ErrorKind::invalid, "cannot read the client config " + path + ": " + std::strerror(errno));
  }
  std::ifstream file(path);
  if (!file) throw Error(ErrorKind::invalid, "cannot read the client config " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << file.rdbuf();
  if (text.str().find_first_not_of(" \t\r\n") == std::string::npos) return {};  // empty file = no config
  try {
    return config_from_json(json::parse(text.str()));
  } catch (const json::exception& e) {
    throw Error(ErrorKind::invalid, "the client config " + path + " is not valid JSON (" + e.what() +
                                        "): fix it or remove it and log in again");
  } catch (const Error& e) {
    throw Error(ErrorKind::invalid, "the client config " + path + " is broken: " + e.what() +
                                        ": fix it or remove it and log in again");
  }
}

void save_config(const ClientConfig& config, const std::string& path) {
  const std::string text = to_json(config).dump(2) + "\n";
  const std::string temp_path = path + ".tmp." + std::to_string(::getpid());
  auto fail_with = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp_path.c_str());
    throw Error(ErrorKind::internal, "cannot write the client config " + path + ": " + what + ": " + reason);
  };
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail_with("create " + temp_path);
  // O_CREAT's mode only applies to new files; make sure a leftover temp file is private too.
  if (::fchmod(fd, 0600) != 0) {
    ::close(fd);
    fail_with("chmod");
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      fail_with("write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail_with("fsync");
  }
  if (::close(fd) != 0) fail_with("close");
  if (::rename(temp_path.c_str(), path.c_str()) != 0) fail_with("rename");
}

std::optional<EffectiveServer> resolve_server(const ClientConfig& config, const EnvLookup& env) {
  auto non_empty = [&](const char* name) -> std::optional<std::string> {
    auto value = env(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  const auto master = non_empty("KONTENA_MASTER");
  const auto url = non_empty("KONTENA_URL");
  const auto token = non_empty("KONTENA_TOKEN");
  const auto grid = non_empty("KONTENA_GRID");

  const ServerEntry* entry = nullptr;
  if (master) {
    entry = config.find_server(*master);
    if (!entry && !url)
      throw Error(ErrorKind::not_found, "KONTENA_MASTER names the master '" + *master +
                                            "', which is not in the client config (see 'kontena master list')");
  } else if (!config.current_server.empty()) {
    entry = config.find_server(config.current_server);
  }

  EffectiveServer server;
  if (entry) {
    server = EffectiveServer{entry->name, entry->url, entry->username, entry->grid, entry->token, false, true};
  } else if (url) {
    server.name = master ? *master : "default";
  } else {
    return std::nullopt;
  }
  if (url) {
    server.url = *url;
    while (!server.url.empty() && server.url.back() == '/') server.url.pop_back();
  }
  if (token) {
    server.token = StoredToken{*token, "", std::nullopt};
    server.token_from_environment = true;
  }
  if (grid) server.grid = *grid;
  return server;
}

}  // namespace kontena::cli
