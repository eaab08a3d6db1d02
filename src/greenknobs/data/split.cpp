// Split naming and hashing.
#include "greenknobs/data/split.h"

#include <cctype>
#include <string>

namespace gk::data {

const char* split_name(Split s) {
    switch (s) {
        case Split::kTest:
            return "test";
        case Split::kValidation:
            return "validation";
        case Split::kTrain:
            return "train";
    }
    return "?";
}

std::optional<Split> parse_split(std::string_view name) {
    std::string s(name);
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (s == "train" || s == "training") {
        return Split::kTrain;
    }
    if (s == "validation" || s == "valid" || s == "val" || s == "dev") {
        return Split::kValidation;
    }
    if (s == "test" || s == "testing") {
        return Split::kTest;
    }
    return std::nullopt;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint64_t stable_hash(std::string_view bytes, uint64_t seed) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001B3ULL;
    }
    return splitmix64(h ^ splitmix64(seed));
}

Split hash_split(std::string_view group, uint64_t seed, double validation_fraction,
                 double test_fraction) {
    // 53 high bits → a double in [0,1) exactly.
    const double u = static_cast<double>(stable_hash(group, seed) >> 11) * 0x1.0p-53;
    if (u < test_fraction) {
        return Split::kTest;
    }
    if (u < test_fraction + validation_fraction) {
        return Split::kValidation;
    }
    return Split::kTrain;
}

}  // namespace gk::data
