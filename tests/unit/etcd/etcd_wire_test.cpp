// The gateway's JSON as pure functions: base64, range ends, integers as strings, error verdicts.
#include "etcd/etcd_wire.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace kontena::etcd::wire {
namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no kontena::Error thrown";
  return ErrorKind::internal;
}

TEST(EtcdWire, Base64RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    std::string data = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(data)), data) << n;
  }
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_decode("YmFy"), "bar");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode(""), "");
}

TEST(EtcdWire, Base64RejectsWhatIsNotBase64) {
  for (const char* bad : {"Zm9", "Zm9v!", "Z===", "=m9v", "YQ==YQ==", "Y=Q="})
    EXPECT_EQ(kind_of([&] { base64_decode(bad); }), ErrorKind::internal) << bad;
}

TEST(EtcdWire, PrefixRangeEndIncrementsTheLastByte) {
  EXPECT_EQ(prefix_range_end("/kontena/ipam/"), "/kontena/ipam0");
  EXPECT_EQ(prefix_range_end("a"), "b");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(std::string("a\xfe", 2)), std::string("a\xff", 2));
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
  EXPECT_EQ(prefix_range_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdWire, IntegersArriveAsStringsAndAbsentMeansZero) {
  Json j = {{"a", "42"}, {"b", 7}, {"c", "-3"}, {"big", "18446744073709551615"}, {"bad", "12x"}, {"n", nullptr}};
  EXPECT_EQ(int_field(j, "a"), 42);
  EXPECT_EQ(int_field(j, "b"), 7);
  EXPECT_EQ(int_field(j, "c"), -3);
  EXPECT_EQ(int_field(j, "missing"), 0);
  EXPECT_EQ(int_field(j, "n"), 0);
  EXPECT_EQ(uint_field(j, "big"), 18446744073709551615ULL);
  EXPECT_EQ(kind_of([&] { int_field(j, "bad"); }), ErrorKind::internal);
  EXPECT_EQ(kind_of([&] { uint_field(j, "c"); }), ErrorKind::internal);
}

TEST(EtcdWire, ParsesKeyValuesAndMembers) {
  Json kv = {{"key", "Zm9v"}, {"create_revision", "2"}, {"mod_revision", "5"}, {"version", "3"}, {"value", "YmFy"},
             {"lease", "99"}};
  auto parsed = parse_key_value(kv);
  EXPECT_EQ(parsed.key, "foo");
  EXPECT_EQ(parsed.value, "bar");
  EXPECT_EQ(parsed.create_revision, 2);
  EXPECT_EQ(parsed.mod_revision, 5);
  EXPECT_EQ(parsed.lease, 99);
  // An empty value is left out by proto3 JSON.
  EXPECT_EQ(parse_key_value(Json{{"key", "Zm9v"}}).value, "");

  Json member = {{"ID", "13668033151171901709"},
                 {"name", "m1"},
                 {"peerURLs", {"http://127.0.0.1:2380"}},
                 {"clientURLs", {"http://127.0.0.1:2379"}}};
  auto m = parse_member(member);
  EXPECT_EQ(m.id, 13668033151171901709ULL);
  EXPECT_EQ(m.name, "m1");
  ASSERT_EQ(m.peer_urls.size(), 1u);
  ASSERT_EQ(m.client_urls.size(), 1u);
  // Added but not started: no name, no client URLs.
  auto unstarted = parse_member(Json{{"ID", "5"}, {"peerURLs", {"http://10.81.0.3:2380"}}});
  EXPECT_TRUE(unstarted.name.empty());
  EXPECT_TRUE(unstarted.client_urls.empty());
}

TEST(EtcdWire, EndpointUrls) {
  auto e = parse_endpoint("http://10.81.0.1:2379/");
  EXPECT_EQ(e.url, "http://10.81.0.1:2379");
  EXPECT_EQ(e.host, "10.81.0.1");
  EXPECT_EQ(e.port, "2379");
  EXPECT_EQ(parse_endpoint("http://localhost").port, "2379");
  EXPECT_EQ(parse_endpoint("http://[::1]:4001").host, "::1");
  for (const char* bad : {"10.81.0.1:2379", "https://10.81.0.1:2379", "http://", "http://:2379", "http://h:0",
                          "http://h:70000", "http://h:x", "http://h:2379/v3", "ftp://h"})
    EXPECT_EQ(kind_of([&] { parse_endpoint(bad); }), ErrorKind::invalid) << bad;
}

TEST(EtcdWire, RequestBodies) {
  auto range = range_request("/a/", true, 10, false);
  EXPECT_EQ(range["key"], base64_encode("/a/"));
  EXPECT_EQ(range["range_end"], base64_encode("/a0"));
  EXPECT_EQ(range["limit"], "10");
  EXPECT_FALSE(range.contains("count_only"));
  EXPECT_FALSE(range_request("/k", false, 0, false).contains("range_end"));
  EXPECT_TRUE(range_request("/k", true, 0, true)["count_only"].get<bool>());

  auto put = put_request("k", "v", 7);
  EXPECT_EQ(put["lease"], "7");
  EXPECT_FALSE(put_request("k", "v", 0).contains("lease"));

  auto create = txn_request("k", Compare::create_revision, 0, "", put_op("k", "v", 0));
  EXPECT_EQ(create["compare"][0]["target"], "CREATE");
  EXPECT_EQ(create["compare"][0]["create_revision"], "0");
  EXPECT_EQ(create["success"][0]["request_put"]["value"], base64_encode("v"));
  auto cas = txn_request("k", Compare::mod_revision, 12, "", put_op("k", "v", 0));
  EXPECT_EQ(cas["compare"][0]["target"], "MOD");
  EXPECT_EQ(cas["compare"][0]["mod_revision"], "12");
  auto cad = txn_request("k", Compare::value, 0, "old", delete_op("k"));
  EXPECT_EQ(cad["compare"][0]["target"], "VALUE");
  EXPECT_EQ(cad["compare"][0]["value"], base64_encode("old"));
  EXPECT_EQ(cad["success"][0]["request_delete_range"]["key"], base64_encode("k"));
}

TEST(EtcdWire, ErrorVerdicts) {
  auto error = [](const char* text, int code) { return Json{{"error", text}, {"message", text}, {"code", code}}; };
  EXPECT_EQ(classify_error(503, error("etcdserver: request timed out", 14)), Verdict::endpoint_failed);
  EXPECT_EQ(classify_error(503, error("etcdserver: no leader", 14)), Verdict::endpoint_failed);
  EXPECT_EQ(classify_error(500, error("etcdserver: leader changed", 2)), Verdict::endpoint_failed);
  EXPECT_EQ(classify_error(404, error("etcdserver: requested lease not found", 5)), Verdict::not_found);
  EXPECT_EQ(classify_error(404, error("etcdserver: member not found", 5)), Verdict::not_found);
  EXPECT_EQ(classify_error(400, error("invalid character 'g'", 3)), Verdict::invalid);
  EXPECT_EQ(classify_error(412, error("etcdserver: Peer URLs already exists", 9)), Verdict::conflict);
  EXPECT_EQ(classify_error(500, error("something else", 13)), Verdict::internal);
  EXPECT_EQ(classify_error(502, Json("<html>bad gateway</html>")), Verdict::endpoint_failed);
  EXPECT_EQ(error_text(error("etcdserver: no leader", 14)), "etcdserver: no leader");
}

}  // namespace
}  // namespace kontena::etcd::wire
