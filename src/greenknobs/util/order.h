// Orders of indices over a sequence of sized items (token sequences, mostly).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace gk::util {

// The indices 0..n-1 of `items`, longest item first; ties keep their input order (stable), so the
// same input always gives the same order. Batching in this order pads each batch only to its own
// longest member, and the first batch shows the peak memory at once.
template <class Items>
std::vector<int64_t> longest_first(const Items& items) {
    std::vector<int64_t> order(items.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return items[static_cast<size_t>(a)].size() > items[static_cast<size_t>(b)].size();
    });
    return order;
}

}  // namespace gk::util
