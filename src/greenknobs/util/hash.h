// Content hashes (SHA-256 via OpenSSL): config hashes, the tokenizer cache key, file fingerprints.
#pragma once

#include <string>

namespace gk {

// Lower-case hex SHA-256 of a byte string.
std::string sha256_hex(const std::string& bytes);
// Lower-case hex SHA-256 of a file's contents; throws InputError if it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace gk
