// Orders of indices over a sequence of sized items (token sequences, mostly).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace gk::util {

// Indices 0..n-1 of `lengths`, largest first; ties keep their input order (stable), so the same
// input always gives the same order.
inline std::vector<int64_t> longest_first_of_lengths(const std::vector<int64_t>& lengths) {
    std::vector<int64_t> order(lengths.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return lengths[static_cast<size_t>(a)] > lengths[static_cast<size_t>(b)];
    });
    return order;
}

// The indices 0..n-1 of `items` (anything with .size(): token sequences, mostly), longest first,
// as longest_first_of_lengths. Batching in this order pads each batch only to its own longest
// member, and the first batch shows the peak memory at once.
template <class Items>
std::vector<int64_t> longest_first(const Items& items) {
    std::vector<int64_t> lengths;
    lengths.reserve(items.size());
    for (const auto& item : items) {
        lengths.push_back(static_cast<int64_t>(item.size()));
    }
    return longest_first_of_lengths(lengths);
}

}  // namespace gk::util
