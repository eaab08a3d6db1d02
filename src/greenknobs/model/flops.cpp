#include "greenknobs/model/flops.h"

#include <algorithm>

namespace gk::model {

namespace {

// Walks the products in the order the forward pass runs them, keeping whether the activation in
// hand needs a gradient (some parameter below it trains): only then does a product's backward
// compute its input's gradient.
class Counter {
  public:
    Counter(const TrainedParts& trained, double tokens)
        : t_(trained), tokens_(tokens), grad_(trained.mode == TrainedParts::Mode::kFull) {}

    // x [tokens, in] @ W [in, out] (+ a LoRA adapter when `name` is one of its targets).
    void linear(const std::string& name, int64_t in, int64_t out) {
        const double f = 2.0 * tokens_ * static_cast<double>(in) * static_cast<double>(out);
        const bool weight_trains = t_.mode == TrainedParts::Mode::kFull;
        forward_ += f;
        backward_ += (grad_ ? f : 0.0) + (weight_trains ? f : 0.0);
        bool adapter = false;
        if (t_.mode == TrainedParts::Mode::kAdapters && t_.lora_r > 0 &&
            std::find(t_.lora_targets.begin(), t_.lora_targets.end(), name) !=
                t_.lora_targets.end()) {
            adapter = true;
            const double r = static_cast<double>(t_.lora_r);
            const double a = 2.0 * tokens_ * static_cast<double>(in) * r;   // A: in -> r
            const double b = 2.0 * tokens_ * r * static_cast<double>(out);  // B: r -> out
            forward_ += a + b;
            // Both train; B's input (A's output) always needs its gradient, A's only from below.
            backward_ += a + (grad_ ? a : 0.0) + 2.0 * b;
        }
        grad_ = grad_ || weight_trains || adapter;
    }

    // Scores q·k and the weighted sum of values over `pairs` query-key pairs, `width` = heads ×
    // head_dim multiply-adds each; backward: the gradients of the probabilities, values, queries
    // and keys (twice the forward) when anything below trains.
    void attention(double pairs, int64_t width) {
        const double f = 4.0 * pairs * static_cast<double>(width);
        forward_ += f;
        backward_ += grad_ ? 2.0 * f : 0.0;
    }

    // The head on the pooled vector: one row, whose weights always train.
    void head_linear(int64_t in, int64_t out) {
        const double f = 2.0 * static_cast<double>(in) * static_cast<double>(out);
        forward_ += f;
        backward_ += f + (grad_ ? f : 0.0);
        grad_ = true;
    }

    SequenceFlops result() const { return {forward_, forward_ + backward_}; }

  private:
    const TrainedParts& t_;
    double tokens_;
    bool grad_;
    double forward_ = 0;
    double backward_ = 0;
};

}  // namespace

int64_t attended_pairs(int64_t length, bool global, int64_t window) {
    if (length <= 0) {
        return 0;
    }
    if (global) {
        return length * length;
    }
    const int64_t half = window / 2;
    int64_t pairs = 0;
    for (int64_t i = 0; i < length; ++i) {
        pairs += std::min(length - 1, i + half) - std::max<int64_t>(0, i - half) + 1;
    }
    return pairs;
}

SequenceFlops sequence_flops(const ModernBertConfig& c, int64_t length,
                             const TrainedParts& trained) {
    if (length <= 0) {
        return {};
    }
    const int64_t h = c.hidden_size;
    const int64_t inter = c.intermediate_size;
    const double global_pairs = static_cast<double>(attended_pairs(length, true, 0));
    const double local_pairs =
        static_cast<double>(attended_pairs(length, false, c.local_attention));
    Counter n(trained, static_cast<double>(length));
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        n.linear("attn.Wqkv", h, 3 * h);
        n.attention(c.is_global_layer(i) ? global_pairs : local_pairs, h);
        n.linear("attn.Wo", h, h);
        n.linear("mlp.Wi", h, 2 * inter);
        n.linear("mlp.Wo", inter, h);
    }
    n.head_linear(h, h);             // head.dense
    n.head_linear(h, c.num_labels);  // classifier
    return n.result();
}

SequenceFlops split_flops(const ModernBertConfig& c, const std::vector<int64_t>& lengths,
                          const TrainedParts& trained) {
    SequenceFlops sum;
    for (int64_t len : lengths) {
        const SequenceFlops s = sequence_flops(c, len, trained);
        sum.forward += s.forward;
        sum.train += s.train;
    }
    return sum;
}

}  // namespace gk::model
