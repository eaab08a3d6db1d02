// See batch.h. Batch plans are pure functions of (split lengths, options, epoch): that is what lets
// the worker threads collate ahead and still hand out the very batches the single-threaded path
// builds.
#include "greenknobs/train/batch.h"

#include <algorithm>
#include <random>

#include "greenknobs/util/error.h"

namespace gk::train {
namespace {

// splitmix64: decorrelates the (seed, epoch, stream) triple into one 64-bit RNG seed.
uint64_t mix_seed(uint64_t seed, uint64_t epoch, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (epoch + 1) + 0xD1B54A32D192ED03ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Fisher–Yates with our own bounded draw: std::shuffle's result differs between standard libraries.
template <typename T>
void shuffle_in_place(std::vector<T>& v, uint64_t rng_seed) {
    std::mt19937_64 rng(rng_seed);
    for (size_t i = v.size(); i > 1; --i) {
        size_t j = static_cast<size_t>(rng() % i);
        std::swap(v[i - 1], v[j]);
    }
}

BatchPlan cut(const std::vector<int64_t>& order, int batch_size) {
    BatchPlan plan;
    for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
        size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
        plan.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                          order.begin() + static_cast<std::ptrdiff_t>(end));
    }
    return plan;
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        order[static_cast<size_t>(i)] = i;
    }
    shuffle_in_place(order, mix_seed(seed, static_cast<uint64_t>(epoch), /*stream=*/0));
    return order;
}

Batch collate(const TokenizedSplit& split, const std::vector<int64_t>& indices, int32_t pad_id,
              bool pinned) {
    GK_CHECK(!indices.empty(), "collate: empty batch");
    const int64_t batch = static_cast<int64_t>(indices.size());
    int64_t seq = 0;
    for (int64_t i : indices) {
        GK_CHECK(i >= 0 && i < static_cast<int64_t>(split.ids.size()),
                 "collate: sample index out of range");
        seq =
            std::max<int64_t>(seq, static_cast<int64_t>(split.ids[static_cast<size_t>(i)].size()));
    }
    GK_CHECK(seq > 0, "collate: every sequence in the batch is empty");
    auto opts = torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pinned);
    Batch b;
    b.input_ids = torch::full({batch, seq}, static_cast<int64_t>(pad_id), opts);  // [B, S]
    b.attention_mask = torch::zeros({batch, seq}, opts);                          // [B, S]
    b.labels = torch::empty({batch}, opts);                                       // [B]
    int64_t* ids = b.input_ids.data_ptr<int64_t>();
    int64_t* mask = b.attention_mask.data_ptr<int64_t>();
    int64_t* labels = b.labels.data_ptr<int64_t>();
    for (int64_t r = 0; r < batch; ++r) {
        const auto& row = split.ids[static_cast<size_t>(indices[static_cast<size_t>(r)])];
        for (size_t t = 0; t < row.size(); ++t) {
            ids[r * seq + static_cast<int64_t>(t)] = row[t];
            mask[r * seq + static_cast<int64_t>(t)] = 1;
        }
        b.real_tokens += static_cast<int64_t>(row.size());
        labels[r] = split.labels.empty()
                        ? 0
                        : split.labels[static_cast<size_t>(indices[static_cast<size_t>(r)])];
    }
    b.padded_tokens = batch * seq;
    b.indices = indices;
    return b;
}

PaddingStats plan_padding(const TokenizedSplit& split, const BatchPlan& plan) {
    PaddingStats s;
    for (const auto& batch : plan) {
        int64_t longest = 0;
        for (int64_t i : batch) {
            int64_t len = static_cast<int64_t>(split.ids[static_cast<size_t>(i)].size());
            s.real_tokens += len;
            longest = std::max(longest, len);
        }
        s.padded_tokens += longest * static_cast<int64_t>(batch.size());
    }
    return s;
}

BatchLoader::BatchLoader(const TokenizedSplit& split, LoaderOptions options, torch::Device device)
    : split_(split), options_(options) {
    GK_CHECK(options_.batch_size > 0, "batch_size must be positive");
    GK_CHECK(options_.workers >= 0, "loader workers must be >= 0");
    GK_CHECK(options_.mega_batch_mult > 0, "mega_batch_mult must be positive");
    GK_CHECK(split_.labels.empty() || split_.labels.size() == split_.ids.size(),
             "split: ids and labels differ in length");
    if (options_.pin_memory) {
        if (device.is_cuda()) {
            pin_effective_ = true;
        } else {
            // Pinned (page-locked) host memory only speeds host->GPU copies; on a CPU device there
            // is no copy.
            pin_note_ =
                "pin_memory has no effect on a CPU device: pinned host memory only speeds "
                "host-to-GPU copies";
        }
    }
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
    const int64_t n = static_cast<int64_t>(split_.ids.size());
    return (n + options_.batch_size - 1) / options_.batch_size;
}

BatchPlan BatchLoader::plan(int epoch) const {
    const int64_t n = static_cast<int64_t>(split_.ids.size());
    std::vector<int64_t> order;
    if (options_.shuffle || options_.group_by_length) {
        order = epoch_permutation(n, options_.seed, epoch);
    } else {
        order.resize(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            order[static_cast<size_t>(i)] = i;
        }
    }
    if (!options_.group_by_length) {
        return cut(order, options_.batch_size);
    }
    // HF LengthGroupedSampler: random mega-batches, each sorted longest-first, so each batch holds
    // sequences of similar length; then the batch order is shuffled so epochs do not run
    // long-to-short.
    const size_t mega =
        static_cast<size_t>(options_.mega_batch_mult) * static_cast<size_t>(options_.batch_size);
    auto length = [&](int64_t i) { return split_.ids[static_cast<size_t>(i)].size(); };
    for (size_t start = 0; start < order.size(); start += mega) {
        auto first = order.begin() + static_cast<std::ptrdiff_t>(start);
        auto last =
            order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + mega));
        std::stable_sort(first, last, [&](int64_t a, int64_t b) { return length(a) > length(b); });
    }
    BatchPlan plan = cut(order, options_.batch_size);
    shuffle_in_place(plan, mix_seed(options_.seed, static_cast<uint64_t>(epoch), /*stream=*/1));
    return plan;
}

void BatchLoader::start_epoch(int epoch) {
    stop_workers();
    current_ = plan(epoch);
    consumed_ = 0;
    if (options_.workers == 0) {
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.clear();
        next_claim_ = 0;
        stop_ = false;
        worker_error_ = nullptr;
    }
    if (collated_by_worker_.size() < static_cast<size_t>(options_.workers)) {
        collated_by_worker_.resize(static_cast<size_t>(options_.workers), 0);
    }
    for (int w = 0; w < options_.workers; ++w) {
        threads_.emplace_back([this, w] { worker_loop(w); });
    }
    workers_started_ = std::max(workers_started_, static_cast<int>(threads_.size()));
}

LoaderStats BatchLoader::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    LoaderStats s;
    s.workers_started = workers_started_;
    s.batches_inline = batches_inline_;
    for (int64_t n : collated_by_worker_) {
        s.batches_from_workers += n;
        s.workers_used += n > 0 ? 1 : 0;
    }
    return s;
}

void BatchLoader::worker_loop(int worker) {
    const int64_t total = static_cast<int64_t>(current_.size());
    const int64_t capacity =
        static_cast<int64_t>(options_.workers) * std::max(1, options_.prefetch_per_worker);
    for (;;) {
        int64_t k = 0;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            consumed_cv_.wait(lock, [&] {
                return stop_ || next_claim_ >= total || next_claim_ < consumed_ + capacity;
            });
            if (stop_ || next_claim_ >= total) {
                return;
            }
            k = next_claim_++;
        }
        try {
            Batch b =
                collate(split_, current_[static_cast<size_t>(k)], options_.pad_id, pin_effective_);
            std::lock_guard<std::mutex> lock(mutex_);
            ready_.emplace(k, std::move(b));
            ++collated_by_worker_[static_cast<size_t>(worker)];
        } catch (...) {
            // Never throw across threads: keep the error for next() to rethrow on the training
            // thread.
            std::lock_guard<std::mutex> lock(mutex_);
            if (!worker_error_) {
                worker_error_ = std::current_exception();
            }
        }
        produced_cv_.notify_all();
    }
}

bool BatchLoader::next(Batch& out) {
    const int64_t total = static_cast<int64_t>(current_.size());
    if (consumed_ >= total) {
        return false;
    }
    if (options_.workers == 0) {
        out = collate(split_, current_[static_cast<size_t>(consumed_)], options_.pad_id,
                      pin_effective_);
        ++consumed_;
        ++batches_inline_;
        return true;
    }
    {
        std::unique_lock<std::mutex> lock(mutex_);
        produced_cv_.wait(lock,
                          [&] { return worker_error_ != nullptr || ready_.count(consumed_) > 0; });
        if (worker_error_) {
            std::rethrow_exception(worker_error_);
        }
        auto it = ready_.find(consumed_);
        out = std::move(it->second);
        ready_.erase(it);
        ++consumed_;
    }
    consumed_cv_.notify_all();
    return true;
}

void BatchLoader::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    consumed_cv_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
    threads_.clear();
}

}  // namespace gk::train
