// tokenizer.json: loading, and for a tokenizer that loads, encoding a fixed set of texts (every id
// below vocab_size()) and decoding the ids back without error.
#include <cstdint>
#include <string>

#include "greenknobs/text/tokenizer.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    gk::fuzz::expect_clean("fuzz-tokenizer.json", [&] {
        gk::text::Tokenizer tok = gk::text::Tokenizer::from_json(bytes, "fuzz-tokenizer.json");
        for (const char* text : {"int main(void) { return 0; }", "  a\tb\r\n\xC3\xA9\xE2\x82\xAC",
                                 "[CLS] x [MASK] \xFF\xFE", ""}) {
            gk::text::Encoding enc = tok.encode(text, /*add_special_tokens=*/true);
            for (int32_t id : enc.ids) {
                gk::fuzz::expect(id >= 0 && id < tok.vocab_size(), "id outside the vocabulary");
            }
            const std::string back = tok.decode(enc.ids);
            gk::fuzz::expect(gk::utf8_invalid_at(back) == std::string::npos,
                             "decode gave invalid UTF-8");
        }
    });
    return 0;
}
