// File layout: one ASCII header line
//   greenknobs.tokens/<version> <count> <payload_bytes> <sha256 of payload>\n
// then the payload, per encoding: int64 full_length, uint8 truncated, uint32 n, int32 ids[n]
// (all little-endian, written byte by byte so the file does not depend on the host).
#include "greenknobs/text/token_cache.h"

#include <cstring>
#include <sstream>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/log.h"

namespace gk::text {
namespace {

const char kMagic[] = "greenknobs.tokens/";

void put_u64(std::string* out, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
}
void put_u32(std::string* out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
}

// Bounds-checked little-endian reader over the payload.
class PayloadReader {
  public:
    PayloadReader(const char* p, size_t n) : p_(p), n_(n) {}
    bool u64(uint64_t* v) {
        if (n_ - pos_ < 8) {
            return false;
        }
        *v = 0;
        for (int i = 0; i < 8; ++i) {
            *v |= static_cast<uint64_t>(static_cast<unsigned char>(p_[pos_ + i])) << (8 * i);
        }
        pos_ += 8;
        return true;
    }
    bool u32(uint32_t* v) {
        if (n_ - pos_ < 4) {
            return false;
        }
        *v = 0;
        for (int i = 0; i < 4; ++i) {
            *v |= static_cast<uint32_t>(static_cast<unsigned char>(p_[pos_ + i])) << (8 * i);
        }
        pos_ += 4;
        return true;
    }
    bool u8(uint8_t* v) {
        if (n_ - pos_ < 1) {
            return false;
        }
        *v = static_cast<uint8_t>(p_[pos_++]);
        return true;
    }
    size_t remaining() const { return n_ - pos_; }

  private:
    const char* p_;
    size_t n_;
    size_t pos_ = 0;
};

bool is_hex_key(const std::string& key) {
    if (key.size() != 64) {
        return false;
    }
    for (char c : key) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

}  // namespace

TokenCache::TokenCache(std::string dir) : dir_(std::move(dir)) {}

std::string TokenCache::key(const std::string& data_hash, const Tokenizer& tok, int max_length,
                            bool add_special) const {
    std::ostringstream s;
    s << kMagic << kFormatVersion << "\n"
      << "data=" << data_hash << "\n"
      << "tokenizer=" << tok.fingerprint() << "\n"
      << "max_length=" << max_length << "\n"
      << "add_special=" << (add_special ? 1 : 0) << "\n";
    return sha256_hex(s.str());
}

std::string TokenCache::path_for(const std::string& key) const {
    GK_CHECK(is_hex_key(key),
             "token cache key must be 64 lower-case hex digits, got \"" + key + "\"");
    return fs::join(dir_, key + ".tokens");
}

void TokenCache::store(const std::string& key, const std::vector<Encoding>& encs) const {
    std::string payload;
    size_t n_ids = 0;
    for (const Encoding& e : encs) {
        n_ids += e.ids.size();
    }
    payload.reserve(encs.size() * 13 + n_ids * 4);
    for (const Encoding& e : encs) {
        put_u64(&payload, static_cast<uint64_t>(e.full_length));
        payload.push_back(e.truncated ? 1 : 0);
        put_u32(&payload, static_cast<uint32_t>(e.ids.size()));
        for (int32_t id : e.ids) {
            put_u32(&payload, static_cast<uint32_t>(id));
        }
    }
    std::string file = std::string(kMagic) + std::to_string(kFormatVersion) + " " +
                       std::to_string(encs.size()) + " " + std::to_string(payload.size()) + " " +
                       sha256_hex(payload) + "\n";
    file += payload;
    fs::make_dirs(dir_);
    fs::write_file_atomic(path_for(key), file);
}

bool TokenCache::load(const std::string& key, std::vector<Encoding>* out,
                      std::string* rejected) const {
    const std::string path = path_for(key);
    if (!fs::exists(path)) {
        return false;
    }
    auto reject = [&](const std::string& why) {
        if (rejected != nullptr) {
            *rejected = path + ": " + why;
        }
        log::warn("token cache: " + path + ": " + why +
                  "; treating as a miss (it will be rewritten)");
        return false;
    };
    std::string file;
    try {
        file = fs::read_file(path);
    } catch (const InputError& e) {
        return reject(std::string("unreadable (") + e.what() + ")");
    }
    size_t eol = file.find('\n');
    if (eol == std::string::npos || eol > 256) {
        return reject("no header line");
    }
    std::istringstream header(file.substr(0, eol));
    std::string tag;
    uint64_t count = 0;
    uint64_t payload_bytes = 0;
    std::string checksum;
    header >> tag >> count >> payload_bytes >> checksum;
    if (!header || tag != std::string(kMagic) + std::to_string(kFormatVersion)) {
        return reject("bad header \"" + file.substr(0, eol) + "\"");
    }
    const char* payload = file.data() + eol + 1;
    size_t available = file.size() - eol - 1;
    if (available != payload_bytes) {
        return reject("payload is " + std::to_string(available) + " bytes, header says " +
                      std::to_string(payload_bytes));
    }
    if (sha256_hex(std::string(payload, available)) != checksum) {
        return reject("payload checksum mismatch");
    }
    PayloadReader r(payload, available);
    std::vector<Encoding> encs;
    encs.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
        Encoding e;
        uint64_t full = 0;
        uint8_t truncated = 0;
        uint32_t n = 0;
        if (!r.u64(&full) || !r.u8(&truncated) || !r.u32(&n) || r.remaining() / 4 < n) {
            return reject("payload ends inside encoding " + std::to_string(i));
        }
        e.full_length = static_cast<int64_t>(full);
        e.truncated = truncated != 0;
        e.ids.resize(n);
        for (uint32_t k = 0; k < n; ++k) {
            uint32_t v = 0;
            r.u32(&v);
            e.ids[k] = static_cast<int32_t>(v);
        }
        encs.push_back(std::move(e));
    }
    if (r.remaining() != 0) {
        return reject("trailing bytes after the last encoding");
    }
    *out = std::move(encs);
    return true;
}

}  // namespace gk::text
