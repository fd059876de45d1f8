// Random secrets and digests (OpenSSL).
#pragma once
#include <string>
#include <string_view>

namespace kontena::crypto {

// n random bytes from the OS CSPRNG, hex-encoded (2n characters).
std::string random_hex(std::size_t n);
// n random bytes, standard base64.
std::string random_base64(std::size_t n);
// SHA-256 of data, lowercase hex.
std::string sha256_hex(std::string_view data);
std::string base64_encode(std::string_view data);
// Compares in time independent of where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace kontena::crypto
