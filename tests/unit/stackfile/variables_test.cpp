// The variables block: types and their options, every resolver, setters, conditions, errors.
#include <filesystem>
#include <fstream>

#include "helpers.h"

namespace kontena::stackfile::test {
namespace {

using json = nlohmann::json;

// Loads a stack whose variables block is `vars` (indented by 2 already) and returns the values.
json values(const std::string& vars, LoadInput in = {}) {
  return load("stack: a/b\nvariables:\n" + vars + "services:\n  web:\n    image: x\n", std::move(in)).values;
}
std::string values_error(const std::string& vars, LoadInput in = {}) {
  return load_error("stack: a/b\nvariables:\n" + vars + "services:\n  web:\n    image: x\n", std::move(in));
}

LoadInput with(std::map<std::string, std::string> v) {
  LoadInput in;
  in.values = std::move(v);
  return in;
}

TEST(StackVariables, ValueDefaultAndPrecedence) {
  EXPECT_EQ(values("  a:\n    type: string\n    value: fixed\n"), (json{{"a", "fixed"}}));
  EXPECT_EQ(values("  a:\n    type: string\n    default: dflt\n"), (json{{"a", "dflt"}}));
  EXPECT_EQ(values("  a:\n    type: string\n    default: dflt\n", with({{"a", "given"}})), (json{{"a", "given"}}));
  LoadInput in;
  in.values_from = {{"a", "from-file"}};
  EXPECT_EQ(values("  a:\n    type: string\n    value: fixed\n", in), (json{{"a", "from-file"}}));
  EXPECT_EQ(values("  a:\n    default: untyped\n"), (json{{"a", "untyped"}}));
  EXPECT_EQ(values("  a: {}\n", with({{"a", "x"}})), (json{{"a", "x"}}));
}

TEST(StackVariables, RequiredValueMissing) {
  EXPECT_EQ(values_error("  a:\n    type: string\n"),
            "kontena.yml:3: variables.a: no value: give one with -v a=VALUE, --values-from, a default or a terminal for "
            "the prompt (or set required: false)");
  EXPECT_EQ(values("  a:\n    type: string\n    required: false\n"), (json{{"a", nullptr}}));
}

TEST(StackVariables, DefinitionErrors) {
  EXPECT_EQ(values_error("  a: plain\n"), "kontena.yml:3: variables.a: the definition must be a mapping (type, default, from, ...)");
  EXPECT_EQ(values_error("  a:\n    type: float\n"),
            "kontena.yml:4: variables.a.type: unknown type \"float\" (string, integer, boolean, enum, uri or array)");
  EXPECT_EQ(values_error("  GRID:\n    type: string\n"), "kontena.yml:3: variables.GRID: \"GRID\" is set by Kontena and cannot be redefined");
  EXPECT_EQ(load_error("stack: a/b\nvariables: [a]\nservices:\n  web:\n    image: x\n"),
            "kontena.yml:2: variables: must be a mapping of variable names to definitions");
  auto s = load("stack: a/b\nvariables:\n  a:\n    default: x\n    colour: red\nservices:\n  web:\n    image: x\n");
  EXPECT_TRUE(has_warning(s, "kontena.yml:5: variables.a: unknown option \"colour\" is ignored"));
}

TEST(StackVariables, StringOptions) {
  EXPECT_EQ(values("  a:\n    type: string\n    upcase: true\n", with({{"a", "abc"}}))["a"], "ABC");
  EXPECT_EQ(values("  a:\n    type: string\n    downcase: true\n", with({{"a", "AbC"}}))["a"], "abc");
  EXPECT_EQ(values("  a:\n    type: string\n    capitalize: true\n", with({{"a", "hELLO"}}))["a"], "Hello");
  EXPECT_EQ(values("  a:\n    type: string\n    strip: true\n", with({{"a", "  x  "}}))["a"], "x");
  EXPECT_EQ(values("  a:\n    type: string\n    chomp: true\n", with({{"a", "x\n"}}))["a"], "x");
  EXPECT_EQ(values("  a:\n    type: string\n    encode_64: true\n", with({{"a", "hello"}}))["a"], "aGVsbG8=");
  EXPECT_EQ(values("  a:\n    type: string\n    decode_64: true\n", with({{"a", "aGVsbG8="}}))["a"], "hello");
  EXPECT_EQ(values("  a:\n    type: string\n    hexdigest: md5\n", with({{"a", "abc"}}))["a"], "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(values("  a:\n    type: string\n    hexdigest: sha1\n", with({{"a", "abc"}}))["a"], "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(values("  a:\n    type: string\n    hexdigest: sha256\n", with({{"a", "abc"}}))["a"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(values("  a:\n    type: string\n    hexdigest: sha384\n", with({{"a", ""}}))["a"].get<std::string>().size(), 96u);
  EXPECT_EQ(values("  a:\n    type: string\n    hexdigest: sha512\n", with({{"a", ""}}))["a"].get<std::string>().size(), 128u);
  EXPECT_EQ(values("  a:\n    type: string\n    empty_is_nil: true\n    required: false\n", with({{"a", ""}}))["a"], nullptr);
  EXPECT_EQ(values("  a:\n    type: string\n    default: 5\n")["a"], "5");
  EXPECT_EQ(values_error("  a:\n    type: string\n    min_length: 3\n", with({{"a", "ab"}})),
            "kontena.yml:3: variables.a: is shorter than 3 characters");
  EXPECT_EQ(values_error("  a:\n    type: string\n    max_length: 3\n", with({{"a", "abcd"}})),
            "kontena.yml:3: variables.a: is longer than 3 characters");
  EXPECT_EQ(values_error("  a:\n    type: string\n    hexdigest: crc\n", with({{"a", "x"}})),
            "kontena.yml:3: variables.a: unknown hexdigest \"crc\" (md5, sha1, sha256, sha384 or sha512)");
  EXPECT_EQ(values_error("  a:\n    type: string\n    default: [1]\n"), "kontena.yml:3: variables.a: expects a string, got array");
}

TEST(StackVariables, IntegerOptions) {
  EXPECT_EQ(values("  n:\n    type: integer\n", with({{"n", "42"}}))["n"], 42);
  EXPECT_EQ(values("  n:\n    type: integer\n    default: 3\n")["n"], 3);
  EXPECT_EQ(values("  n:\n    type: integer\n    nil_is_zero: true\n")["n"], 0);
  EXPECT_EQ(values_error("  n:\n    type: integer\n", with({{"n", "4x"}})), "kontena.yml:3: variables.n: expects an integer, got \"4x\"");
  EXPECT_EQ(values_error("  n:\n    type: integer\n    min: 1\n", with({{"n", "0"}})), "kontena.yml:3: variables.n: is smaller than 1");
  EXPECT_EQ(values_error("  n:\n    type: integer\n    max: 7\n", with({{"n", "8"}})), "kontena.yml:3: variables.n: is larger than 7");
  EXPECT_EQ(values_error("  n:\n    type: integer\n    default: 1.5\n"), "kontena.yml:3: variables.n: expects an integer, got 1.5");
}

TEST(StackVariables, BooleanOptions) {
  for (const char* t : {"true", "yes", "1", "on", "enabled", "enable", "y", "YES"}) {
    EXPECT_EQ(values("  b:\n    type: boolean\n", with({{"b", t}}))["b"], true) << t;
  }
  for (const char* f : {"false", "no", "0", "off", "nope"}) {
    EXPECT_EQ(values("  b:\n    type: boolean\n", with({{"b", f}}))["b"], false) << f;
  }
  EXPECT_EQ(values("  b:\n    type: boolean\n    default: true\n")["b"], true);
  EXPECT_EQ(values("  b:\n    type: boolean\n")["b"], nullptr);  // a boolean may stay unset
  EXPECT_EQ(values("  b:\n    type: boolean\n    nil_is: false\n")["b"], false);
  EXPECT_EQ(values("  b:\n    type: boolean\n    blank_is: true\n", with({{"b", ""}}))["b"], true);
  EXPECT_EQ(values("  b:\n    type: boolean\n    truthy: [si]\n", with({{"b", "si"}}))["b"], true);
  EXPECT_EQ(values("  b:\n    type: boolean\n    truthy: [si]\n", with({{"b", "yes"}}))["b"], false);
  EXPECT_EQ(values("  b:\n    type: boolean\n    as: string\n", with({{"b", "yes"}}))["b"], "true");
  EXPECT_EQ(values("  b:\n    type: boolean\n    as: integer\n", with({{"b", "no"}}))["b"], 0);
  EXPECT_EQ(values("  b:\n    type: boolean\n    true: enabled\n    false: disabled\n", with({{"b", "1"}}))["b"], "enabled");
}

TEST(StackVariables, EnumOptions) {
  EXPECT_EQ(values("  e:\n    type: enum\n    options: [a, b]\n", with({{"e", "b"}}))["e"], "b");
  EXPECT_EQ(values("  e:\n    type: enum\n    options:\n      - value: x\n        label: The X\n      - value: y\n", with({{"e", "y"}}))["e"], "y");
  EXPECT_EQ(values("  e:\n    type: enum\n    options: [a]\n    can_be_other: true\n", with({{"e", "z"}}))["e"], "z");
  EXPECT_EQ(values_error("  e:\n    type: enum\n    options: [a, b]\n", with({{"e", "c"}})),
            "kontena.yml:3: variables.e: \"c\" is not one of the options (a, b)");
}

TEST(StackVariables, UriOptions) {
  EXPECT_EQ(values("  u:\n    type: uri\n", with({{"u", "https://example.com/x"}}))["u"], "https://example.com/x");
  EXPECT_EQ(values("  u:\n    type: uri\n    schemes: [redis]\n", with({{"u", "redis://cache:6379"}}))["u"], "redis://cache:6379");
  EXPECT_EQ(values_error("  u:\n    type: uri\n", with({{"u", "ftp://x"}})), "kontena.yml:3: variables.u: the scheme \"ftp\" is not allowed");
  EXPECT_EQ(values_error("  u:\n    type: uri\n", with({{"u", "nope"}})), "kontena.yml:3: variables.u: \"nope\" is not a URI");
}

TEST(StackVariables, ArrayOptions) {
  EXPECT_EQ(values("  l:\n    type: array\n", with({{"l", "a, b,c"}}))["l"], json::array({"a", "b", "c"}));
  EXPECT_EQ(values("  l:\n    type: array\n    split: ';'\n", with({{"l", "a;b"}}))["l"], json::array({"a", "b"}));
  EXPECT_EQ(values("  l:\n    type: array\n    sort: true\n    uniq: true\n", with({{"l", "c,a,c,b"}}))["l"], json::array({"a", "b", "c"}));
  EXPECT_EQ(values("  l:\n    type: array\n    compact: true\n", with({{"l", "a,,b"}}))["l"], json::array({"a", "b"}));
  EXPECT_EQ(values("  l:\n    type: array\n    count: true\n", with({{"l", "a,b,c"}}))["l"], 3);
  EXPECT_EQ(values("  l:\n    type: array\n    join: ' '\n", with({{"l", "a,b"}}))["l"], "a b");
  EXPECT_EQ(values("  l:\n    type: array\n    default: [x, y]\n")["l"], json::array({"x", "y"}));
  EXPECT_EQ(values("  l:\n    type: array\n    empty_is_nil: true\n    compact: true\n    required: false\n", with({{"l", ","}}))["l"], nullptr);
}

TEST(StackVariables, InOption) {
  EXPECT_EQ(values("  a:\n    type: integer\n    in: [1, 3]\n", with({{"a", "3"}}))["a"], 3);
  EXPECT_EQ(values_error("  a:\n    type: string\n    in: [x, y]\n", with({{"a", "z"}})), "kontena.yml:3: variables.a: \"z\" is not one of [\"x\",\"y\"]");
}

TEST(StackVariables, EnvResolver) {
  LoadInput in;
  in.env = {{"A", "from-env"}, {"MY_DB", "db-env"}, {"lower", "l"}};
  EXPECT_EQ(values("  a:\n    type: string\n", in)["a"], "from-env");  // default from: env, upcased name
  EXPECT_EQ(values("  lower:\n    type: string\n", in)["lower"], "l");
  EXPECT_EQ(values("  a:\n    type: string\n    from:\n      env: MY_DB\n", in)["a"], "db-env");
  EXPECT_EQ(values("  a:\n    type: string\n    from:\n      env: NOPE\n    default: d\n", in)["a"], "d");
  EXPECT_EQ(values("  a:\n    type: string\n    from: env\n", in)["a"], "from-env");
  EXPECT_EQ(values("  a:\n    type: string\n    from: [random_uuid]\n", in)["a"].get<std::string>().size(), 36u);
}

TEST(StackVariables, ResolverOrder) {
  LoadInput in;
  in.env = {{"SECOND", "2"}};
  EXPECT_EQ(values("  a:\n    type: string\n    from:\n      - env: FIRST\n      - env: SECOND\n      - random_uuid\n", in)["a"], "2");
  EXPECT_EQ(values_error("  a:\n    type: string\n    from:\n      teleport: x\n"),
            "kontena.yml:6: variables.a.from.teleport: unknown resolver \"teleport\"\n"
            "kontena.yml:3: variables.a: no value: give one with -v a=VALUE, --values-from, a default or a terminal for "
            "the prompt (or set required: false)");
}

TEST(StackVariables, RandomResolvers) {
  json v = values(R"(  n:
    type: integer
    from:
      random_number:
        min: 5
        max: 9
  s:
    type: string
    from:
      random_string: 24
  hex:
    type: string
    from:
      random_string:
        length: 10
        charset: hex
  custom:
    type: string
    from:
      random_string:
        length: 8
        charset: ab
  digits:
    type: string
    from:
      random_string:
        length: 6
        charset: numbers
  uuid:
    type: string
    from: random_uuid
)");
  EXPECT_GE(v["n"].get<int>(), 5);
  EXPECT_LE(v["n"].get<int>(), 9);
  EXPECT_EQ(v["s"].get<std::string>().size(), 24u);
  EXPECT_EQ(v["hex"].get<std::string>().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(v["custom"].get<std::string>().find_first_not_of("ab"), std::string::npos);
  EXPECT_EQ(v["digits"].get<std::string>().find_first_not_of("0123456789"), std::string::npos);
  std::string uuid = v["uuid"];
  ASSERT_EQ(uuid.size(), 36u);
  EXPECT_EQ(uuid[14], '4');
  EXPECT_EQ(uuid[8], '-');
  // deterministic with the same seed
  LoadInput in;
  in.random_seed = 99;
  EXPECT_EQ(values("  s:\n    from:\n      random_string: 12\n", in), values("  s:\n    from:\n      random_string: 12\n", in));
  EXPECT_NE(values_error("  s:\n    from:\n      random_string: 0\n").find("the length must be 1..4096"), std::string::npos);
  EXPECT_NE(values_error("  n:\n    type: integer\n    from:\n      random_number:\n        min: 9\n        max: 1\n").find("max is smaller than min"),
            std::string::npos);
}

TEST(StackVariables, InterpolateAndEvaluate) {
  json v = values(R"(  first:
    type: string
    default: Ada
  greeting:
    type: string
    from:
      interpolate: Hello, ${first}!
  nodes:
    type: integer
    default: 7
  quorum:
    type: integer
    from:
      evaluate: (${nodes} / 2) + 1
  ratio:
    type: string
    from:
      evaluate: ${nodes} * 1.5 - 0.5
)");
  EXPECT_EQ(v["greeting"], "Hello, Ada!");
  EXPECT_EQ(v["quorum"], 4);
  EXPECT_EQ(v["ratio"], "10.0");
  // references resolve on demand, whatever the order
  EXPECT_EQ(values("  b:\n    from:\n      interpolate: x${a}\n  a:\n    default: 1\n")["b"], "x1");
  EXPECT_NE(values_error("  a:\n    type: integer\n    from:\n      evaluate: 1 / 0\n").find("division by zero"), std::string::npos);
  EXPECT_NE(values_error("  a:\n    type: integer\n    from:\n      evaluate: 2 +\n").find("cannot evaluate"), std::string::npos);
  EXPECT_NE(values_error("  a:\n    from:\n      interpolate: ${ghost}\n").find("refers to the undeclared variable \"ghost\""),
            std::string::npos);
}

TEST(StackVariables, CyclesAreErrors) {
  std::string err = values_error("  a:\n    from:\n      interpolate: ${b}\n  b:\n    from:\n      interpolate: ${a}\n");
  EXPECT_NE(err.find("refers to itself"), std::string::npos) << err;
  std::string deep;
  for (int i = 0; i < 100; ++i) {
    deep += "  v" + std::to_string(i) + ":\n    from:\n      interpolate: x${v" + std::to_string(i + 1) + "}\n";
  }
  deep += "  v100:\n    default: end\n";
  err = values_error(deep);
  EXPECT_NE(err.find("levels deep"), std::string::npos) << err.substr(0, 300);
}

TEST(StackVariables, FileResolver) {
  auto path = std::filesystem::temp_directory_path() / "kontena-stackfile-resolver.txt";
  std::ofstream(path) << "from a file";
  EXPECT_EQ(values("  a:\n    from:\n      file: " + path.string() + "\n")["a"], "from a file");
  std::filesystem::remove(path);
  EXPECT_NE(values_error("  a:\n    from:\n      file: /nonexistent/x\n").find("cannot read the file \"/nonexistent/x\""),
            std::string::npos);
  EXPECT_EQ(values("  a:\n    from:\n      file:\n        path: /nonexistent/x\n        ignore_errors: true\n    default: d\n")["a"], "d");
}

TEST(StackVariables, PromptOnlyWithATerminal) {
  FakeResolver r;
  r.answers["name"] = "typed";
  LoadInput in;
  in.resolver = &r;
  std::string vars = "  name:\n    type: string\n    default: dflt\n    from:\n      prompt: Your name\n";
  EXPECT_EQ(values(vars, in)["name"], "dflt");
  EXPECT_TRUE(r.asked.empty());
  r.tty = true;
  EXPECT_EQ(values(vars, in)["name"], "typed");
  ASSERT_EQ(r.asked.size(), 1u);
  EXPECT_EQ(r.asked[0].label, "Your name");
  EXPECT_EQ(r.asked[0].default_value, "dflt");
  EXPECT_EQ(r.asked[0].type, "string");
  EXPECT_TRUE(r.asked[0].echo);
  r.asked.clear();
  r.answers["mode"] = "b";
  r.answers["pw"] = "hunter2";
  json v = values("  mode:\n    type: enum\n    options: [a, b]\n    from: prompt\n  pw:\n    type: string\n    echo: false\n    description: Password\n    from: prompt\n", in);
  EXPECT_EQ(v["mode"], "b");
  EXPECT_EQ(r.asked[0].options, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.asked[0].label, "mode");
  EXPECT_FALSE(r.asked[1].echo);
  EXPECT_EQ(r.asked[1].label, "Password");
  // -v answers are not asked again
  r.asked.clear();
  in.values = {{"name", "given"}};
  EXPECT_EQ(values(vars, in)["name"], "given");
  EXPECT_TRUE(r.asked.empty());
  // a boolean prompt answer is typed
  r.answers["ok"] = true;
  in.values.clear();
  EXPECT_EQ(values("  ok:\n    type: boolean\n    from: prompt\n", in)["ok"], true);
}

TEST(StackVariables, VaultResolverAndSetter) {
  FakeResolver r;
  r.vault["db-password"] = "from-vault";
  LoadInput in;
  in.resolver = &r;
  std::string text = R"(stack: a/b
variables:
  db_password:
    type: string
    from:
      vault: db-password
      random_string: 20
    to:
      vault: db-password
  new_secret:
    type: string
    from:
      vault: new-secret
      random_string: 20
    to:
      vault: new-secret
  plain:
    type: string
    default: p
services:
  web:
    image: x
)";
  auto s = load(text, in);
  EXPECT_EQ(s.values["db_password"], "from-vault");
  EXPECT_EQ(r.written["db-password"], "from-vault");
  EXPECT_EQ(r.written["new-secret"], s.values["new_secret"]);
  EXPECT_EQ(s.values["new_secret"].get<std::string>().size(), 20u);
  // vault values are not stored with the stack
  EXPECT_EQ(s.stack["variables"], (json{{"plain", "p"}}));
  // run_setters=false (validate, dry run) does not write
  FakeResolver r2;
  in.resolver = &r2;
  in.run_setters = false;
  load(text, in);
  EXPECT_TRUE(r2.written.empty());
  // without a vault
  LoadInput none;
  std::string err = load_error(text, none);
  EXPECT_NE(err.find("variables.db_password.from.vault: the vault is not available here (reading \"db-password\")"), std::string::npos) << err;
  // the default Resolver has no vault
  Resolver plain;
  LoadInput dflt;
  dflt.resolver = &plain;
  err = load_error(text, dflt);
  EXPECT_NE(err.find("the vault is not available here"), std::string::npos) << err;
}

TEST(StackVariables, RemoteResolvers) {
  FakeResolver r;
  r.remote["service_instances"] = 3;
  r.remote["certificates"] = json::array({"example.com"});
  LoadInput in;
  in.resolver = &r;
  json v = values(R"(  instances:
    type: integer
    from:
      service_instances: web
    default: 1
  certs:
    type: array
    from:
      certificates: Pick certificates
    required: false
  link:
    type: string
    from:
      service_link:
        prompt: Pick the LB
        image: kontena/lb
    default: none
)", in);
  EXPECT_EQ(v["instances"], 3);
  EXPECT_EQ(v["certs"], json::array({"example.com"}));
  EXPECT_EQ(v["link"], "none");
}

TEST(StackVariables, EnvSetterFeedsLaterEnvResolvers) {
  json v = values("  a:\n    default: va\n    to:\n      env: SHARED\n  b:\n    from:\n      env: SHARED\n");
  EXPECT_EQ(v["b"], "va");
  EXPECT_EQ(values_error("  a:\n    default: x\n    to:\n      mail: me\n"), "kontena.yml:6: variables.a.to.mail: unknown setter \"mail\" (env or vault)");
}

TEST(StackVariables, OnlyIfSkipIfOnVariables) {
  std::string vars = R"(  ssl:
    type: boolean
  cert:
    type: string
    only_if: ssl
    default: my-cert
  http_port:
    type: integer
    skip_if: ssl
    default: 80
  level:
    type: string
    default: low
  alarm:
    type: string
    only_if:
      level: high
    default: ring
)";
  json on = values(vars, with({{"ssl", "true"}}));
  EXPECT_EQ(on["cert"], "my-cert");
  EXPECT_FALSE(on.contains("http_port"));
  EXPECT_FALSE(on.contains("alarm"));
  json off = values(vars, with({{"ssl", "false"}, {"level", "high"}}));
  EXPECT_FALSE(off.contains("cert"));
  EXPECT_EQ(off["http_port"], 80);
  EXPECT_EQ(off["alarm"], "ring");
  // a skipped variable is not prompted and has no value in the file
  auto s = load("stack: a/b\nvariables:\n  ssl:\n    type: boolean\n  cert:\n    type: string\n    only_if: ssl\nservices:\n  web:\n    image: x\n    environment:\n      - CERT={{ cert }}\n",
                with({{"ssl", "false"}}));
  EXPECT_EQ(s.stack["services"][0]["environment"], json::array({"CERT="}));
}

TEST(StackVariables, TheStringFalseIsFalse) {
  json v = values("  flag:\n    type: string\n    default: \"false\"\n  x:\n    only_if: flag\n    default: set\n");
  EXPECT_FALSE(v.contains("x"));
}

TEST(StackVariables, BuiltinsInVariables) {
  LoadInput in;
  in.grid = "prod";
  in.stack_name = "shop";
  json v = values("  where:\n    default: ${GRID}-$STACK-$PLATFORM\n  lit:\n    default: $$GRID\n", in);
  EXPECT_EQ(v["where"], "prod-shop-prod");
  EXPECT_EQ(v["lit"], "$GRID");
  in.platform = "plat";
  EXPECT_EQ(values("  where:\n    default: $PLATFORM\n", in)["where"], "plat");
}

}  // namespace
}  // namespace kontena::stackfile::test
