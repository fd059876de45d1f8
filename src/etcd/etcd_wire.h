// The JSON of etcd v3's gateway, as pure functions (internal to src/etcd; unit-tested on their own).
// Keys and values travel base64-encoded; int64/uint64 fields arrive as JSON strings; proto3 JSON
// omits fields that hold their default, so an absent field means 0 / false / empty.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "etcd/etcd_client.h"

namespace kontena::etcd::wire {

using Json = nlohmann::json;

std::string base64_encode(std::string_view data);
// Throws Error(internal) for text that is not standard base64.
std::string base64_decode(std::string_view text);

// The range_end that selects every key starting with prefix: prefix with its last byte plus one
// (trailing 0xff bytes dropped first); "\0" (every key) when prefix is empty or all 0xff.
std::string prefix_range_end(std::string_view prefix);

// A field as an integer: a JSON string ("42") or number; absent or null = 0. Error(internal) else.
std::int64_t int_field(const Json& object, const char* name);
std::uint64_t uint_field(const Json& object, const char* name);

KeyValue parse_key_value(const Json& kv);
Member parse_member(const Json& member);

// "http://10.81.0.1:2379" (a trailing "/" is allowed; port defaults to 2379).
struct Endpoint {
  std::string url;  // as given, without a trailing "/"
  std::string host;
  std::string port;
};
// Error(invalid) naming the URL when it is not http://host[:port].
Endpoint parse_endpoint(const std::string& url);

// Request bodies.
Json range_request(const std::string& key, bool prefix, std::int64_t limit, bool count_only);
Json put_request(const std::string& key, const std::string& value, std::int64_t lease);
Json delete_request(const std::string& key, bool prefix);
// A txn: if the comparison holds, run `then_op` (a "request_put" / "request_delete_range" op).
enum class Compare { create_revision, mod_revision, value };
Json txn_request(const std::string& key, Compare compare, std::int64_t revision, const std::string& value,
                 const Json& then_op);
Json put_op(const std::string& key, const std::string& value, std::int64_t lease);
Json delete_op(const std::string& key);

// What an error answer of the gateway ({"error","message","code"}) means for the call.
enum class Verdict {
  endpoint_failed,  // this member cannot serve now (no leader, timed out, unavailable): try the next
  not_found,        // lease / member not found
  invalid,          // the request was rejected as malformed
  conflict,         // already exists / failed precondition
  internal,         // anything else
};
Verdict classify_error(int http_status, const Json& body);
// The gateway's error text ("etcdserver: no leader"), or a short description of the body.
std::string error_text(const Json& body);

}  // namespace kontena::etcd::wire
