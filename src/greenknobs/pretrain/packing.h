// Masked-LM data without torch: documents packed into fixed-length rows, and ModernBERT's masking
// (mask_prob of the non-special tokens: 80 % [MASK], 10 % a random id, 10 % kept), drawn from a
// counter-based stream keyed by (seed, row key) so any row's masks can be redrawn after a resume.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gk::pretrain {

// Rows of exactly `max_length` ids, row-major.
struct PackedRows {
    int max_length = 0;
    std::vector<int32_t> ids;
    int64_t rows() const {
        return max_length > 0 ? static_cast<int64_t>(ids.size()) / max_length : 0;
    }
    const int32_t* row(int64_t r) const { return ids.data() + r * max_length; }
};

// Concatenates documents (each already [CLS] ... [SEP]) and cuts the stream into rows; a row may
// hold the end of one document and the start of the next (RoBERTa's FULL-SENTENCES packing); the
// last partial row is dropped. Returns the number of tokens dropped through `dropped`.
PackedRows pack(const std::vector<std::vector<int32_t>>& docs, int max_length,
                int64_t* dropped = nullptr);

struct MaskSpec {
    double mask_prob = 0.3;
    int32_t mask_id = -1;
    int32_t vocab_size = 0;           // random replacements draw from [0, vocab_size)
    std::vector<int32_t> never_mask;  // [CLS], [SEP], [PAD], [MASK]
};

// Masks one row: input_out gets the corrupted ids, selected_out 1 where the loss applies (the
// original id is the label), 0 elsewhere. Same (seed, row_key) -> same masks.
void mask_row(const int32_t* ids, int n, const MaskSpec& spec, uint64_t seed, uint64_t row_key,
              int32_t* input_out, uint8_t* selected_out);

// Binary row files (little-endian int32 after a JSON header line) for the tokenize-stage cache.
void write_rows(const std::string& path, const PackedRows& rows, const std::string& key);
// Returns false (and leaves `rows` empty) when the file is absent or was written for another key.
bool read_rows(const std::string& path, const std::string& key, PackedRows* rows);

}  // namespace gk::pretrain
