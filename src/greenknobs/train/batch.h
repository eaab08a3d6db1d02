// Batching of tokenized splits: dynamic padding to the longest sequence of each batch, a per-epoch
// seeded shuffle, HF-style length grouping (group_by_length), and background collation threads
// (loader_workers) that produce exactly the batches, in exactly the order, that the training thread
// would have built itself.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

namespace gk::train {

// One split after tokenization: ids[i] already holds [CLS] … [SEP], truncated to max_length.
struct TokenizedSplit {
    std::vector<std::vector<int32_t>> ids;
    std::vector<int> labels;  // 0 | 1
};

struct Batch {
    torch::Tensor input_ids;       // [B, S] int64, S = longest sequence in this batch
    torch::Tensor attention_mask;  // [B, S] int64, 1 = real token
    torch::Tensor labels;          // [B] int64
    std::vector<int64_t> indices;  // positions of the samples in the split
    int64_t real_tokens = 0;       // sum of sequence lengths
    int64_t padded_tokens = 0;     // B × S (what the encoder computes on)
    int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// Builds one batch from the samples `indices` of `split`, padded with `pad_id` to the longest of
// them. pinned: allocate page-locked host memory (only meaningful, and only allowed, with a CUDA
// build).
Batch collate(const TokenizedSplit& split, const std::vector<int64_t>& indices, int32_t pad_id,
              bool pinned = false);

struct LoaderOptions {
    int batch_size = 16;
    bool shuffle = true;           // per-epoch permutation from (seed, epoch)
    bool group_by_length = false;  // length-grouped mega-batches (HF LengthGroupedSampler)
    int mega_batch_mult = 50;      // mega-batch = mega_batch_mult × batch_size samples
    int workers = 0;  // background collation threads (0 = collate on the caller's thread)
    int prefetch_per_worker = 2;  // bound of the ready queue: workers × this many batches ahead
    bool pin_memory = false;      // requested; effective only when `device` is CUDA
    uint64_t seed = 42;
    int32_t pad_id = 0;
};

struct PaddingStats {
    int64_t real_tokens = 0;
    int64_t padded_tokens = 0;  // Σ B_i × S_i
    double padding_share() const {
        return padded_tokens == 0
                   ? 0.0
                   : 1.0 - static_cast<double>(real_tokens) / static_cast<double>(padded_tokens);
    }
};

// What a loader really did, counted as it served batches (the loader knob's evidence in run.json).
struct LoaderStats {
    int workers_started = 0;  // most background threads running at once (0 = none ever started)
    int workers_used = 0;     // distinct background threads that collated at least one batch
    int64_t batches_from_workers = 0;  // collated on a background thread
    int64_t batches_inline = 0;        // collated on the caller's thread
};

// A batch plan: the sample indices of each batch, in order.
using BatchPlan = std::vector<std::vector<int64_t>>;

// Padding that `plan` costs on `split` (no tensors built).
PaddingStats plan_padding(const TokenizedSplit& split, const BatchPlan& plan);

// The deterministic Fisher–Yates permutation of 0..n-1 for (seed, epoch); the same for every batch
// size, so N micro-batches of b are exactly the samples of one batch of N·b.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int epoch);

class BatchLoader {
  public:
    BatchLoader(const TokenizedSplit& split, LoaderOptions options,
                torch::Device device = torch::Device(torch::kCPU));
    ~BatchLoader();
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;

    // The batches of `epoch` (0-based) in the order they will be served.
    BatchPlan plan(int epoch) const;
    int64_t batches_per_epoch() const;
    // Starts serving `epoch` (stops any epoch still running; workers start here).
    void start_epoch(int epoch);
    // The next batch of the current epoch; false when the epoch is exhausted.
    bool next(Batch& out);

    // Whether batches really are pinned, and why not when pin_memory was asked for but cannot work.
    bool pin_memory_effective() const { return pin_effective_; }
    const std::string& pin_memory_note() const { return pin_note_; }
    const LoaderOptions& options() const { return options_; }
    // Counts over every epoch served so far.
    LoaderStats stats() const;

  private:
    void stop_workers();
    void worker_loop(int worker);

    const TokenizedSplit& split_;
    LoaderOptions options_;
    bool pin_effective_ = false;
    std::string pin_note_;

    BatchPlan current_;
    int64_t consumed_ = 0;  // batches handed out this epoch

    // Worker state (workers > 0), guarded by mutex_.
    std::vector<std::thread> threads_;
    mutable std::mutex mutex_;
    std::condition_variable produced_cv_;  // a batch became ready, or a worker failed
    std::condition_variable consumed_cv_;  // room in the bounded queue, or stop
    std::map<int64_t, Batch> ready_;       // batch number -> collated batch
    int64_t next_claim_ = 0;               // next batch number a worker may take
    bool stop_ = false;
    std::exception_ptr worker_error_;
    std::vector<int64_t> collated_by_worker_;  // batches each worker slot collated, all epochs
    int workers_started_ = 0;
    int64_t batches_inline_ = 0;
};

}  // namespace gk::train
