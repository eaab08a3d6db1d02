// Stratified sampling with our own PRNG (splitmix64) and Fisher-Yates, not std::shuffle, whose
// algorithm differs between standard libraries: the same seed must pick the same samples
// everywhere.
#include "greenknobs/data/sampling.h"

#include <algorithm>
#include <cmath>

#include "greenknobs/data/split.h"

namespace gk::data {
namespace {

// Chooses `take` of `pool` uniformly (partial Fisher-Yates) and marks them in `keep`.
void pick(std::vector<size_t>& pool, int64_t take, uint64_t& state, std::vector<char>& keep) {
    const size_t count = std::min(pool.size(), static_cast<size_t>(std::max<int64_t>(take, 0)));
    for (size_t i = 0; i < count; ++i) {
        state = splitmix64(state);
        const size_t j = i + static_cast<size_t>(state % (pool.size() - i));
        std::swap(pool[i], pool[j]);
        keep[pool[i]] = 1;
    }
}

}  // namespace

int64_t stratified_sample(std::vector<Sample>& samples, int64_t max_samples, uint64_t seed,
                          uint64_t salt) {
    const auto total = static_cast<int64_t>(samples.size());
    if (max_samples <= 0 || max_samples >= total) {
        return 0;
    }
    std::vector<size_t> pos;
    std::vector<size_t> neg;
    for (size_t i = 0; i < samples.size(); ++i) {
        (samples[i].label != 0 ? pos : neg).push_back(i);
    }
    const auto n_pos_all = static_cast<int64_t>(pos.size());
    const auto n_neg_all = static_cast<int64_t>(neg.size());
    int64_t take_pos = std::llround(static_cast<double>(max_samples) *
                                    static_cast<double>(n_pos_all) / static_cast<double>(total));
    take_pos = std::min(take_pos, n_pos_all);
    int64_t take_neg = max_samples - take_pos;
    if (take_neg > n_neg_all) {
        take_neg = n_neg_all;
        take_pos = max_samples - take_neg;
    }
    uint64_t state = splitmix64(seed ^ splitmix64(salt));
    std::vector<char> keep(samples.size(), 0);
    pick(pos, take_pos, state, keep);
    pick(neg, take_neg, state, keep);
    size_t out = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
        if (keep[i]) {
            if (out != i) {
                samples[out] = std::move(samples[i]);
            }
            ++out;
        }
    }
    samples.resize(out);
    return total - static_cast<int64_t>(out);
}

}  // namespace gk::data
