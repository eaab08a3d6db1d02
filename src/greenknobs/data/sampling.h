// Seeded, class-stratified subsampling: a cap on a split's size that keeps its share of vulnerable
// samples.
#pragma once

#include <cstdint>
#include <vector>

#include "greenknobs/data/dataset.h"

namespace gk::data {

// Keeps `max_samples` of `samples` (0 or >= size: all), as round(max · positives / size) positives
// and the rest negatives (shifted to the other class when one runs short), each drawn uniformly
// with a Fisher-Yates shuffle seeded by (seed, salt). The kept samples stay in their original
// order. Returns how many were removed.
int64_t stratified_sample(std::vector<Sample>& samples, int64_t max_samples, uint64_t seed,
                          uint64_t salt);

}  // namespace gk::data
