// A HuggingFace `tokenizer.json` loader and encoder that reproduces HF `tokenizers` for byte-level
// BPE tokenizers like ModernBERT's: added tokens → NFC → ByteLevel (GPT-2 split + byte mapping) →
// BPE → truncation → TemplateProcessing. Anything else in the file is rejected with an InputError.
// The file's own `truncation`/`padding` settings are ignored: callers pass max_length, and batching
// pads later.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "greenknobs/text/added_vocab.h"
#include "greenknobs/text/bpe.h"

namespace gk::text {

struct Encoding {
    std::vector<int32_t> ids;
    bool truncated = false;   // ids were cut to max_length
    int64_t full_length = 0;  // length (special tokens included) before truncation
};

class Tokenizer {
  public:
    // Loads and validates a tokenizer.json; throws InputError naming the file and the JSON path of
    // anything missing, malformed or unsupported.
    static Tokenizer from_file(const std::string& path);
    // Like from_file, from the bytes of a tokenizer.json; `name` stands for the file in errors.
    static Tokenizer from_json(const std::string& json_bytes, const std::string& name);

    // max_length > 0 truncates as HF does with specials: [CLS] + the first (max_length − 2) tokens
    // + [SEP]. A max_length shorter than the special tokens is an InputError.
    Encoding encode(const std::string& text, bool add_special_tokens = true,
                    int max_length = 0) const;
    // encode() over many texts on a pool of `threads` (0 = all hardware threads); out[i] is
    // texts[i]. threads_run, when given, receives how many threads encoded (the caller's included).
    std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                       bool add_special_tokens, int max_length, int threads,
                                       int* threads_run = nullptr) const;
    // Ids back to text (byte-level decoding; added tokens as their content). For debugging and
    // predict.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

    int32_t pad_id() const { return pad_id_; }  // -1 when the tokenizer has none
    int32_t cls_id() const { return cls_id_; }
    int32_t sep_id() const { return sep_id_; }
    int32_t mask_id() const { return mask_id_; }
    // One past the largest id (vocab and added tokens): 50368 for ModernBERT.
    int64_t vocab_size() const { return vocab_size_; }
    // SHA-256 (hex) of the tokenizer.json bytes: the tokenizer's identity in cache keys and run
    // records.
    const std::string& fingerprint() const { return fingerprint_; }
    // Id of a token by its content or byte-level spelling; -1 if absent.
    int32_t token_to_id(const std::string& token) const;
    // The token's content (added) or byte-level spelling (vocab); empty if the id is unused.
    std::string id_to_token(int32_t id) const;

  private:
    Tokenizer() = default;
    // Model ids of the text, no special tokens, no truncation.
    void encode_body(const std::string& text, std::vector<int32_t>* ids) const;
    // A piece outside the raw-matched added tokens: normalise, then the normalised added tokens,
    // then words.
    void encode_unmatched(const char* s, size_t n, std::vector<int32_t>* ids) const;
    // Normalised text without added tokens: pre-tokenise and BPE.
    void encode_words(const char* s, size_t n, std::vector<int32_t>* ids) const;

    std::string name_;
    std::string fingerprint_;
    bool nfc_ = false;
    bool add_prefix_space_ = false;
    bool use_regex_ = true;
    std::unique_ptr<Bpe> bpe_;
    AddedTokenMatcher raw_matcher_;         // added tokens with normalized = false
    AddedTokenMatcher normalized_matcher_;  // added tokens with normalized = true
    std::vector<int32_t> prefix_ids_;       // post-processor's specials before sequence A ([CLS])
    std::vector<int32_t> suffix_ids_;       // and after it ([SEP])
    std::vector<std::string> id_to_token_;
    std::unordered_map<std::string, int32_t> token_ids_;  // vocab spellings and added contents
    std::vector<uint8_t> id_kind_;                        // see kind constants in tokenizer.cpp
    int32_t pad_id_ = -1;
    int32_t cls_id_ = -1;
    int32_t sep_id_ = -1;
    int32_t mask_id_ = -1;
    int64_t vocab_size_ = 0;
};

}  // namespace gk::text
