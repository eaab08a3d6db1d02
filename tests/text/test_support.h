// Shared fixtures for the text tests: the real ModernBERT tokenizer (loaded once), its golden
// encodings, and a tiny hand-made byte-level tokenizer.json for the options ModernBERT's file does
// not exercise.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/text/pre_tokenizer.h"
#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/fs.h"

namespace gk::text::testing {

inline std::string modernbert_path() {
    return std::string(GK_SOURCE_DIR) + "/data/modernbert/tokenizer.json";
}

inline const Tokenizer& modernbert() {
    static const Tokenizer tok = Tokenizer::from_file(modernbert_path());
    return tok;
}

struct Golden {
    std::string id;
    std::string text;
    std::vector<int32_t> ids;
    std::vector<int32_t> ids_no_special;
};

inline const std::vector<Golden>& goldens() {
    static const std::vector<Golden> all = [] {
        std::vector<Golden> out;
        std::string bytes =
            fs::read_file(std::string(GK_SOURCE_DIR) + "/data/modernbert/golden_encodings.jsonl");
        size_t pos = 0;
        while (pos < bytes.size()) {
            size_t eol = bytes.find('\n', pos);
            if (eol == std::string::npos) {
                eol = bytes.size();
            }
            std::string line = bytes.substr(pos, eol - pos);
            pos = eol + 1;
            if (line.empty()) {
                continue;
            }
            auto j = nlohmann::json::parse(line);
            out.push_back({j.at("id").get<std::string>(), j.at("text").get<std::string>(),
                           j.at("ids").get<std::vector<int32_t>>(),
                           j.at("ids_no_special").get<std::vector<int32_t>>()});
        }
        return out;
    }();
    return all;
}

// A byte-level BPE over the 256 byte spellings (ids 0..255) plus merges a+b → "ab" (256) and
// "ab"+"c" → "abc" (257); [CLS] 300 / [SEP] 301 in a TemplateProcessing.
inline nlohmann::json tiny_tokenizer_json() {
    using nlohmann::json;
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) {
        char c = static_cast<char>(b);
        vocab[byte_level_spelling(&c, 1)] = b;
    }
    vocab["ab"] = 256;
    vocab["abc"] = 257;
    json added = json::array();
    added.push_back({{"id", 300},
                     {"content", "[CLS]"},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    added.push_back({{"id", 301},
                     {"content", "[SEP]"},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    return json{{"version", "1.0"},
                {"truncation", nullptr},
                {"padding", nullptr},
                {"added_tokens", added},
                {"normalizer", {{"type", "NFC"}}},
                {"pre_tokenizer",
                 {{"type", "ByteLevel"},
                  {"add_prefix_space", false},
                  {"trim_offsets", true},
                  {"use_regex", true}}},
                {"post_processor",
                 {{"type", "TemplateProcessing"},
                  {"single", json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                                          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                          {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})},
                  {"special_tokens",
                   {{"[CLS]", {{"id", "[CLS]"}, {"ids", {300}}, {"tokens", {"[CLS]"}}}},
                    {"[SEP]", {{"id", "[SEP]"}, {"ids", {301}}, {"tokens", {"[SEP]"}}}}}}}},
                {"decoder", {{"type", "ByteLevel"}}},
                {"model",
                 {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", json::array({"a b", "ab c"})}}}};
}

// Appends an added token to a tokenizer json.
inline void add_token(nlohmann::json* tok, int id, const std::string& content, bool lstrip,
                      bool rstrip, bool single_word, bool normalized, bool special) {
    (*tok)["added_tokens"].push_back({{"id", id},
                                      {"content", content},
                                      {"single_word", single_word},
                                      {"lstrip", lstrip},
                                      {"rstrip", rstrip},
                                      {"normalized", normalized},
                                      {"special", special}});
}

// Byte ids of the tiny tokenizer for plain text (no merges apply to it).
inline std::vector<int32_t> byte_ids(const std::string& s) {
    std::vector<int32_t> out;
    for (char c : s) {
        out.push_back(static_cast<unsigned char>(c));
    }
    return out;
}

}  // namespace gk::text::testing
