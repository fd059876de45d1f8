#include "cli/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/error.h"
#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::TempDir;
using nlohmann::json;

namespace {

ClientConfig sample_config() {
  ClientConfig config;
  config.current_server = "prod";
  ServerEntry dev{"dev", "http://127.0.0.1:9292", "admin", "demo", StoredToken{"a1", "r1", 1700000000}, json::object()};
  ServerEntry prod{"prod", "https://master.example.com", "ops@example.com", "", StoredToken{"a2", "", std::nullopt},
                   json::object()};
  ServerEntry logged_out{"old", "http://old:9292", "", "", std::nullopt, json::object()};
  config.servers = {dev, prod, logged_out};
  return config;
}

EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0);
  return info.st_mode & 0777;
}

}  // namespace

TEST(Config, JsonHasTheOriginalsShape) {
  const json document = to_json(sample_config());
  EXPECT_EQ(document["current_server"], "prod");
  ASSERT_EQ(document["servers"].size(), 3u);
  const json& dev = document["servers"][0];
  EXPECT_EQ(dev["name"], "dev");
  EXPECT_EQ(dev["url"], "http://127.0.0.1:9292");
  EXPECT_EQ(dev["username"], "admin");
  EXPECT_EQ(dev["grid"], "demo");
  EXPECT_EQ(dev["token"]["access_token"], "a1");
  EXPECT_EQ(dev["token"]["refresh_token"], "r1");
  EXPECT_EQ(dev["token"]["expires_at"], 1700000000);
  EXPECT_TRUE(document["servers"][1]["token"]["expires_at"].is_null());
  EXPECT_TRUE(document["servers"][1]["grid"].is_null());
  EXPECT_TRUE(document["servers"][2]["token"].is_null());
}

TEST(Config, SaveAndLoadRoundTrip) {
  TempDir dir;
  const std::string path = (dir.path() / "config.json").string();
  save_config(sample_config(), path);
  const ClientConfig loaded = load_config(path);
  EXPECT_EQ(to_json(loaded), to_json(sample_config()));
  EXPECT_EQ(loaded.current_server, "prod");
  ASSERT_EQ(loaded.servers.size(), 3u);
  EXPECT_EQ(loaded.servers[0].token->expires_at, 1700000000);
  EXPECT_FALSE(loaded.servers[1].token->expires_at.has_value());
  EXPECT_FALSE(loaded.servers[2].token.has_value());
}

TEST(Config, UnknownKeysSurviveARoundTrip) {
  const json document = {{"current_server", "a"},
                         {"current_account", "kontena"},
                         {"servers", {{{"name", "a"}, {"url", "http://a"}, {"account", "master"}}}}};
  const json again = to_json(config_from_json(document));
  EXPECT_EQ(again["current_account"], "kontena");
  EXPECT_EQ(again["servers"][0]["account"], "master");
}

TEST(Config, MissingOrEmptyFileIsAnEmptyConfig) {
  TempDir dir;
  const ClientConfig missing = load_config((dir.path() / "nope.json").string());
  EXPECT_TRUE(missing.servers.empty());
  EXPECT_TRUE(missing.current_server.empty());
  std::ofstream((dir.path() / "empty.json").string()) << "\n";
  EXPECT_TRUE(load_config((dir.path() / "empty.json").string()).servers.empty());
}

TEST(Config, BrokenFileIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string path = (dir.path() / "broken.json").string();
  std::ofstream(path) << "{\"servers\": [";
  try {
    load_config(path);
    FAIL() << "broken JSON accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::ofstream(path, std::ios::trunc) << R"({"servers": [{"url": "http://x"}]})";
  EXPECT_THROW(load_config(path), Error) << "a server without a name";
  std::ofstream(path, std::ios::trunc) << R"({"servers": [{"name": "x", "token": {"access_token": "a", "expires_at": "soon"}}]})";
  EXPECT_THROW(load_config(path), Error) << "expires_at must be a number";
}

TEST(Config, SaveIsPrivateEvenOverAReadableFile) {
  TempDir dir;
  const std::string path = (dir.path() / "config.json").string();
  std::ofstream(path) << "{}";
  ::chmod(path.c_str(), 0644);
  const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
  save_config(sample_config(), path);
  ::umask(old_umask);
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(Config, SaveReplacesAtomicallyAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = (dir.path() / "config.json").string();
  save_config(sample_config(), path);
  struct stat before {};
  ::stat(path.c_str(), &before);
  ClientConfig changed = sample_config();
  changed.current_server = "dev";
  save_config(changed, path);
  struct stat after {};
  ::stat(path.c_str(), &after);
  EXPECT_NE(before.st_ino, after.st_ino) << "written to a new file and renamed, not rewritten in place";
  EXPECT_EQ(load_config(path).current_server, "dev");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Config, SaveIntoAMissingDirectoryFailsAndKeepsNothing) {
  TempDir dir;
  EXPECT_THROW(save_config(sample_config(), (dir.path() / "no" / "config.json").string()), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Config, PathFromEnvironment) {
  EXPECT_EQ(config_path(env_of({{"KONTENA_CONFIG", "/x/c.json"}, {"HOME", "/home/u"}})), "/x/c.json");
  EXPECT_EQ(config_path(env_of({{"HOME", "/home/u"}})), "/home/u/.kontena_client.json");
  EXPECT_THROW(config_path(env_of({})), Error);
}

TEST(Config, FindAndRemoveServers) {
  ClientConfig config = sample_config();
  ASSERT_NE(config.find_server("dev"), nullptr);
  EXPECT_EQ(config.find_server_by_url("https://master.example.com")->name, "prod");
  EXPECT_EQ(config.current()->name, "prod");
  EXPECT_TRUE(config.remove_server("prod"));
  EXPECT_EQ(config.current(), nullptr);
  EXPECT_TRUE(config.current_server.empty());
  EXPECT_FALSE(config.remove_server("prod"));
}

TEST(ResolveServer, CurrentServerWithoutOverrides) {
  auto server = resolve_server(sample_config(), env_of({}));
  ASSERT_TRUE(server);
  EXPECT_EQ(server->name, "prod");
  EXPECT_EQ(server->url, "https://master.example.com");
  EXPECT_EQ(server->token->access_token, "a2");
  EXPECT_TRUE(server->in_config);
  EXPECT_FALSE(server->token_from_environment);
}

TEST(ResolveServer, EnvironmentOverridesUrlTokenAndGrid) {
  auto server = resolve_server(
      sample_config(),
      env_of({{"KONTENA_URL", "http://other:9292/"}, {"KONTENA_TOKEN", "env-token"}, {"KONTENA_GRID", "g2"}}));
  ASSERT_TRUE(server);
  EXPECT_EQ(server->name, "prod");
  EXPECT_EQ(server->url, "http://other:9292");
  EXPECT_EQ(server->token->access_token, "env-token");
  EXPECT_TRUE(server->token->refresh_token.empty());
  EXPECT_FALSE(server->token->expires_at);
  EXPECT_TRUE(server->token_from_environment);
  EXPECT_EQ(server->grid, "g2");
}

TEST(ResolveServer, KontenaMasterSelectsByName) {
  auto server = resolve_server(sample_config(), env_of({{"KONTENA_MASTER", "dev"}}));
  ASSERT_TRUE(server);
  EXPECT_EQ(server->name, "dev");
  EXPECT_EQ(server->grid, "demo");
  EXPECT_THROW(resolve_server(sample_config(), env_of({{"KONTENA_MASTER", "nope"}})), Error);
}

TEST(ResolveServer, NothingConfigured) {
  EXPECT_FALSE(resolve_server(ClientConfig{}, env_of({})));
  EXPECT_FALSE(resolve_server(ClientConfig{}, env_of({{"KONTENA_GRID", "x"}, {"KONTENA_URL", ""}})));
  auto ad_hoc = resolve_server(ClientConfig{}, env_of({{"KONTENA_URL", "http://m:1"}, {"KONTENA_TOKEN", "t"}}));
  ASSERT_TRUE(ad_hoc);
  EXPECT_EQ(ad_hoc->name, "default");
  EXPECT_FALSE(ad_hoc->in_config);
  EXPECT_EQ(ad_hoc->token->access_token, "t");
}

TEST(StoredToken, Expiry) {
  StoredToken never{"a", "r", std::nullopt};
  EXPECT_FALSE(never.expired(2'000'000'000));
  StoredToken soon{"a", "r", 1000};
  EXPECT_FALSE(soon.expired(999));
  EXPECT_TRUE(soon.expired(1000));
  EXPECT_TRUE(soon.expired(995, 10));
}
