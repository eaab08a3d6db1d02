// Split names and the deterministic grouped split: a group (commit, CVE or project+file) goes
// wholly to one split, chosen by a seeded 64-bit hash of its key, so a before/after pair or a
// commit never straddles splits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gk::data {

// Declared in priority order: when one text is in several splits, the copy in the earliest wins, so
// the evaluation sets are never shrunk by train rows.
enum class Split : int { kTest = 0, kValidation = 1, kTrain = 2 };
constexpr int kSplitCount = 3;

const char* split_name(Split s);
// train/training, validation/valid/val/dev, test/testing (case-insensitive); nullopt for anything
// else.
std::optional<Split> parse_split(std::string_view name);

// FNV-1a of the bytes, finished with a splitmix64 round keyed by `seed`: stable across platforms
// and runs.
uint64_t stable_hash(std::string_view bytes, uint64_t seed);
// splitmix64 step (a good 64→64 bit mixer and PRNG).
uint64_t splitmix64(uint64_t x);

// The group's split: u = hash / 2^64 in [0,1); u < test_fraction → test, below test + validation →
// validation, else train.
Split hash_split(std::string_view group, uint64_t seed, double validation_fraction,
                 double test_fraction);

}  // namespace gk::data
