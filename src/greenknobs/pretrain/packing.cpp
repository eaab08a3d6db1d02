// Packing and masking for masked-LM pretraining (see packing.h).
#include "greenknobs/pretrain/packing.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::pretrain {
namespace {

// SplitMix64: a counter-based generator, so (seed, row, draw) -> value with no state to save.
uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

double unit(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }  // [0, 1)

}  // namespace

PackedRows pack(const std::vector<std::vector<int32_t>>& docs, int max_length, int64_t* dropped) {
    GK_CHECK(max_length > 0, "pack: max_length must be > 0");
    PackedRows out;
    out.max_length = max_length;
    size_t total = 0;
    for (const auto& d : docs) {
        total += d.size();
    }
    out.ids.reserve(total);
    for (const auto& d : docs) {
        out.ids.insert(out.ids.end(), d.begin(), d.end());
    }
    const size_t keep = total / static_cast<size_t>(max_length) * static_cast<size_t>(max_length);
    if (dropped) {
        *dropped = static_cast<int64_t>(total - keep);
    }
    out.ids.resize(keep);
    return out;
}

void mask_row(const int32_t* ids, int n, const MaskSpec& spec, uint64_t seed, uint64_t row_key,
              int32_t* input_out, uint8_t* selected_out) {
    GK_CHECK(spec.mask_id >= 0 && spec.vocab_size > 0, "mask_row: mask id and vocab size");
    const uint64_t base = mix(seed ^ mix(row_key));
    for (int i = 0; i < n; ++i) {
        const int32_t id = ids[i];
        input_out[i] = id;
        selected_out[i] = 0;
        if (std::find(spec.never_mask.begin(), spec.never_mask.end(), id) !=
            spec.never_mask.end()) {
            continue;
        }
        const uint64_t r = mix(base + 3ull * static_cast<uint64_t>(i));
        if (unit(r) >= spec.mask_prob) {
            continue;
        }
        selected_out[i] = 1;
        const double how = unit(mix(r + 1));
        if (how < 0.8) {
            input_out[i] = spec.mask_id;
        } else if (how < 0.9) {
            input_out[i] =
                static_cast<int32_t>(mix(r + 2) % static_cast<uint64_t>(spec.vocab_size));
        }  // else: kept as is, still predicted
    }
}

void write_rows(const std::string& path, const PackedRows& rows, const std::string& key) {
    nlohmann::json header = {{"key", key},
                             {"max_length", rows.max_length},
                             {"rows", rows.rows()},
                             {"dtype", "int32-le"}};
    std::string bytes = header.dump() + "\n";
    const size_t at = bytes.size();
    bytes.resize(at + rows.ids.size() * sizeof(int32_t));
    std::memcpy(bytes.data() + at, rows.ids.data(), rows.ids.size() * sizeof(int32_t));
    fs::write_file_atomic(path, bytes);
}

bool read_rows(const std::string& path, const std::string& key, PackedRows* rows) {
    *rows = PackedRows{};
    if (!fs::exists(path)) {
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    std::string line;
    if (!std::getline(in, line)) {
        return false;
    }
    nlohmann::json h = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!h.is_object() || h.value("key", "") != key || h.value("dtype", "") != "int32-le") {
        return false;
    }
    const int64_t n_rows = h.value("rows", int64_t{-1});
    const int max_length = h.value("max_length", 0);
    if (n_rows < 0 || max_length <= 0) {
        return false;
    }
    PackedRows out;
    out.max_length = max_length;
    out.ids.resize(static_cast<size_t>(n_rows) * static_cast<size_t>(max_length));
    in.read(reinterpret_cast<char*>(out.ids.data()),
            static_cast<std::streamsize>(out.ids.size() * sizeof(int32_t)));
    if (static_cast<size_t>(in.gcount()) != out.ids.size() * sizeof(int32_t)) {
        return false;  // truncated: rebuilt by the caller
    }
    *rows = std::move(out);
    return true;
}

}  // namespace gk::pretrain
