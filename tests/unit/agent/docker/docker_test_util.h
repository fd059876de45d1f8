// Small helpers shared by the Docker client's unit tests: Docker's multiplexed stream frames, and
// catching the kontena::Error a call throws.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/error.h"

namespace kontena::agent::docker::testing {

// One frame of Docker's stdout/stderr multiplexing: 8-byte header (stream, 0, 0, 0, big-endian
// length) then the payload.
inline std::string frame(int stream, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = static_cast<char>(stream);
  auto n = static_cast<std::uint32_t>(payload.size());
  h[4] = static_cast<char>((n >> 24) & 0xff);
  h[5] = static_cast<char>((n >> 16) & 0xff);
  h[6] = static_cast<char>((n >> 8) & 0xff);
  h[7] = static_cast<char>(n & 0xff);
  return h + payload;
}

// The kontena::Error f() throws; a test failure (and an internal error) when it throws none.
template <class F>
kontena::Error catch_error(F f) {
  try {
    f();
  } catch (const kontena::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no kontena::Error thrown";
  return kontena::Error(kontena::ErrorKind::internal, "none");
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace kontena::agent::docker::testing
