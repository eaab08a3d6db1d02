// SHA-256 through OpenSSL's EVP interface (Debian's libssl; no hand-written crypto).
#include "greenknobs/util/hash.h"

#include <fstream>
#include <memory>
#include <vector>

#include <openssl/evp.h>

#include "greenknobs/util/error.h"

namespace gk {
namespace {

struct Sha256 {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
    Sha256() {
        GK_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "sha256 init");
    }
    void update(const void* p, size_t n) {
        GK_CHECK(EVP_DigestUpdate(ctx.get(), p, n) == 1, "sha256 update");
    }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        GK_CHECK(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1, "sha256 final");
        static const char* kHex = "0123456789abcdef";
        std::string out;
        out.reserve(len * 2);
        for (unsigned int i = 0; i < len; ++i) {
            out.push_back(kHex[md[i] >> 4]);
            out.push_back(kHex[md[i] & 15]);
        }
        return out;
    }
};

}  // namespace

std::string sha256_hex(const std::string& bytes) {
    Sha256 h;
    h.update(bytes.data(), bytes.size());
    return h.hex();
}

std::string sha256_file_hex(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path, "", "cannot open file");
    }
    Sha256 h;
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(buf.data(), static_cast<size_t>(in.gcount()));
    }
    return h.hex();
}

}  // namespace gk
