// Content-addressed on-disk cache of encoded splits (the V4 knob). The key hashes everything the
// ids depend on; each file carries a SHA-256 of its payload that is verified on load, so a hit is
// provably what was stored. Files are written atomically (tmp + rename).
#pragma once

#include <string>
#include <vector>

#include "greenknobs/text/tokenizer.h"

namespace gk::text {

class TokenCache {
  public:
    // Bumped whenever the payload layout or the encoder's output changes.
    static constexpr int kFormatVersion = 1;

    explicit TokenCache(std::string dir);
    // SHA-256 (hex) over (data hash, tokenizer fingerprint, max_length, add_special, format
    // version).
    std::string key(const std::string& data_hash, const Tokenizer& tok, int max_length,
                    bool add_special) const;
    // True and *out filled on a verified hit. A missing file is a plain miss; an unreadable,
    // truncated or checksum-mismatched file is a miss with a warning (the caller re-encodes and
    // store() rewrites it); `rejected`, when given, receives why such a file was not used.
    bool load(const std::string& key, std::vector<Encoding>* out,
              std::string* rejected = nullptr) const;
    void store(const std::string& key, const std::vector<Encoding>& encs) const;
    // Where the entry for `key` lives.
    std::string path_for(const std::string& key) const;

  private:
    std::string dir_;
};

}  // namespace gk::text
