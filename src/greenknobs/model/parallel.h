// Splitting a loop of our own kernels over LibTorch's threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include <ATen/Parallel.h>

namespace gk::model {

// at::parallel_for is a header template that only runs in parallel in code compiled with OpenMP
// (LibTorch's own kernels are; ours are not, and clang cannot target LibTorch's libgomp), so it
// would run our loops on one thread. This splits [0, n) into at most get_num_threads() chunks of
// at least `min_chunk`, all but the first on LibTorch's inter-op pool (persistent threads), the
// first here. f(begin, end) must be safe to run concurrently on disjoint ranges.
template <class F>
void parallel_chunks(int64_t n, int64_t min_chunk, const F& f) {
    const int64_t threads = std::max(1, at::get_num_threads());
    const int64_t chunks =
        std::min(threads, std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
    if (chunks <= 1) {
        f(int64_t{0}, n);
        return;
    }
    const int64_t size = (n + chunks - 1) / chunks;
    std::vector<std::future<void>> others;
    for (int64_t c = 1; c < chunks; ++c) {
        const int64_t lo = c * size;
        const int64_t hi = std::min(n, lo + size);
        auto task = std::make_shared<std::packaged_task<void()>>([&f, lo, hi] { f(lo, hi); });
        others.push_back(task->get_future());
        at::launch([task] { (*task)(); });
    }
    f(int64_t{0}, std::min(n, size));
    for (auto& o : others) {
        o.get();  // rethrows what a chunk threw
    }
}

}  // namespace gk::model
