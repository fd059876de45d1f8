// kontena stack validate: the real command tree over files in a temporary directory (no master).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fake_master.h"

using namespace kontena;
using namespace kontena::cli;
using kontena::cli::testing::CliHarness;
using nlohmann::json;

namespace {

constexpr const char* kStack =
    "stack: user/demo\n"
    "version: 1.2.3\n"
    "variables:\n"
    "  tag:\n"
    "    type: string\n"
    "    default: latest\n"
    "services:\n"
    "  web:\n"
    "    image: nginx:${tag}\n"
    "    ports:\n"
    "      - 80:80\n";

std::string write(CliHarness& cli, const std::string& name, const std::string& text) {
  const auto path = (cli.dir.path() / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST(StackValidate, PrintsTheInterpolatedFile) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml", kStack);
  ASSERT_EQ(cli.run({"stack", "validate", file}), 0) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:latest"), std::string::npos) << cli.out.str();
  EXPECT_NE(cli.out.str().find("stack: user/demo"), std::string::npos) << cli.out.str();
  EXPECT_TRUE(cli.master->requests.empty());
}

TEST(StackValidate, HelpListsTheOptions) {
  CliHarness cli;
  EXPECT_EQ(cli.run({"stack", "validate", "--help"}), 0);
  for (const char* option : {"--values-from", "--values-to", "--var", "--json", "--online", "--name"})
    EXPECT_NE(cli.out.str().find(option), std::string::npos) << option << "\n" << cli.out.str();
  EXPECT_EQ(cli.run({"stack"}), 0);
  EXPECT_NE(cli.out.str().find("validate"), std::string::npos) << cli.out.str();
}

TEST(StackValidate, ValuesOverrideDefaults) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml", kStack);
  ASSERT_EQ(cli.run({"stack", "validate", file, "-v", "tag=1.19"}), 0) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:1.19"), std::string::npos) << cli.out.str();
  ASSERT_EQ(cli.run({"stack", "validate", file, "--var", "tag=2.0"}), 0) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:2.0"), std::string::npos) << cli.out.str();
  ASSERT_EQ(cli.run({"stack", "validate", "-v", "tag=a", "-v", "tag=b", file}), 0) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:b"), std::string::npos) << cli.out.str();
  EXPECT_EQ(cli.run({"stack", "validate", file, "-v", "no-equals-sign"}), 1);
  EXPECT_NE(cli.err.str().find("error:"), std::string::npos) << cli.err.str();
}

TEST(StackValidate, ValuesFromAndValuesTo) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml", kStack);
  const auto from = write(cli, "values.yml", "tag: \"3.1\"\n");
  const auto to = (cli.dir.path() / "out.yml").string();
  ASSERT_EQ(cli.run({"stack", "validate", file, "--values-from", from, "--values-to", to}), 0) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:3.1"), std::string::npos) << cli.out.str();
  const std::string written = slurp(to);
  EXPECT_NE(written.find("tag"), std::string::npos) << written;
  EXPECT_NE(written.find("3.1"), std::string::npos) << written;
}

TEST(StackValidate, JsonPrintsTheNormalisedStack) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml", kStack);
  ASSERT_EQ(cli.run({"stack", "validate", file, "--json", "-v", "tag=9"}), 0) << cli.err.str();
  const json stack = json::parse(cli.out.str());
  EXPECT_EQ(stack.value("name", ""), "demo") << stack.dump();
  EXPECT_EQ(stack.value("version", ""), "1.2.3") << stack.dump();
  ASSERT_TRUE(stack["services"].is_array()) << stack.dump();
  EXPECT_NE(stack["services"].dump().find("nginx:9"), std::string::npos) << stack.dump();
  ASSERT_EQ(cli.run({"stack", "validate", file, "--json", "--name", "other"}), 0) << cli.err.str();
  EXPECT_EQ(json::parse(cli.out.str()).value("name", ""), "other");
}

TEST(StackValidate, ErrorsNameTheLineAndExit1) {
  CliHarness cli;
  const auto file = write(cli, "bad.yml",
                          "stack: user/demo\n"
                          "services:\n"
                          "  web:\n"
                          "    image: nginx\n"
                          "    bogus_key: 1\n");
  const auto to = (cli.dir.path() / "out.yml").string();
  EXPECT_EQ(cli.run({"stack", "validate", file, "--values-to", to}), 1);
  EXPECT_NE(cli.err.str().find("bad.yml:5:"), std::string::npos) << cli.err.str();
  EXPECT_NE(cli.err.str().find("bogus_key"), std::string::npos) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "");
  EXPECT_FALSE(std::filesystem::exists(to));
  EXPECT_EQ(cli.run({"stack", "validate", (cli.dir.path() / "missing.yml").string()}), 1);
  EXPECT_NE(cli.err.str().find("missing.yml"), std::string::npos) << cli.err.str();
}

TEST(StackValidate, PromptsOnlyOnATerminal) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml",
                          "stack: user/demo\n"
                          "variables:\n"
                          "  tag:\n"
                          "    from:\n"
                          "      prompt: Which tag?\n"
                          "services:\n"
                          "  web:\n"
                          "    image: nginx:${tag}\n");
  cli.stdin_is_terminal = false;
  EXPECT_EQ(cli.run({"stack", "validate", file}), 1);
  EXPECT_NE(cli.err.str().find("tag"), std::string::npos) << cli.err.str();
  EXPECT_NE(cli.err.str().find("-v tag="), std::string::npos) << cli.err.str();
  cli.stdin_is_terminal = true;
  cli.in.clear();
  cli.in.str("5.5\n");
  ASSERT_EQ(cli.run({"stack", "validate", file}), 0) << cli.err.str();
  EXPECT_NE(cli.err.str().find("Which tag?"), std::string::npos) << cli.err.str();
  EXPECT_NE(cli.out.str().find("image: nginx:5.5"), std::string::npos) << cli.out.str();
}

TEST(StackValidate, MasterResolversNeedAMaster) {
  CliHarness cli;
  const auto file = write(cli, "kontena.yml",
                          "stack: user/demo\n"
                          "variables:\n"
                          "  secret:\n"
                          "    from:\n"
                          "      vault: db-password\n"
                          "services:\n"
                          "  web:\n"
                          "    image: nginx\n");
  EXPECT_EQ(cli.run({"stack", "validate", file}), 1);
  EXPECT_NE(cli.err.str().find("needs a master"), std::string::npos) << cli.err.str();
  EXPECT_EQ(cli.run({"stack", "validate", file, "--online"}), 1);
  EXPECT_NE(cli.err.str().find("not supported yet"), std::string::npos) << cli.err.str();
  ASSERT_EQ(cli.run({"stack", "validate", file, "-v", "secret=x"}), 0) << cli.err.str();
  EXPECT_TRUE(cli.master->requests.empty());
}
