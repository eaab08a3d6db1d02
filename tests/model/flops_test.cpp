// Model FLOPs (model/flops.h) against counts done by hand on a two-layer model: the sliding
// window's pairs, the forward pass, and the backward pass of each way of training (every weight,
// LoRA adapters, the head alone).
#include "greenknobs/model/flops.h"

#include <gtest/gtest.h>

using namespace gk::model;

namespace {

// hidden 8, MLP 12 (Wi 8 -> 24), 2 heads, window 4 (|i - j| <= 2), 2 labels; layer 0 global,
// layer 1 local.
ModernBertConfig two_layers() {
    ModernBertConfig c;
    c.hidden_size = 8;
    c.intermediate_size = 12;
    c.num_attention_heads = 2;
    c.num_hidden_layers = 2;
    c.local_attention = 4;
    c.global_attn_every_n_layers = 3;
    c.num_labels = 2;
    return c;
}

}  // namespace

TEST(ModelFlops, AttendedPairsFollowTheWindow) {
    EXPECT_EQ(attended_pairs(5, true, 4), 25);
    // Keys seen by queries 0..4 with |i - j| <= 2: 3, 4, 5, 4, 3.
    EXPECT_EQ(attended_pairs(5, false, 4), 19);
    // A sequence inside the window sees everything.
    EXPECT_EQ(attended_pairs(3, false, 4), 9);
    EXPECT_EQ(attended_pairs(0, false, 4), 0);
    // ModernBERT's 128-token window: a long sequence costs about 129 keys a query, not its length.
    EXPECT_EQ(attended_pairs(1000, false, 128), 1000 * 129 - 2 * (64 * 65 / 2));
}

TEST(ModelFlops, ForwardAndFullTrainingByHand) {
    const ModernBertConfig c = two_layers();
    // Per layer, 5 tokens: 2·5·(8·24 + 8·8 + 8·24 + 12·8) = 5440 in the projections; attention
    // 4·8 per pair: 800 (global, 25 pairs) and 608 (local, 19); head 2·(8·8 + 8·2) = 160.
    const SequenceFlops f = sequence_flops(c, 5);
    EXPECT_DOUBLE_EQ(f.forward, 2 * 5440 + 800 + 608 + 160);
    // Every weight trains: each product's backward is twice its forward.
    EXPECT_DOUBLE_EQ(f.train, 3 * f.forward);
    EXPECT_DOUBLE_EQ(sequence_flops(c, 0).train, 0.0);
}

TEST(ModelFlops, AFrozenEncoderIsDifferentiatedOnlyFromItsLowestTrainedParameter) {
    const ModernBertConfig c = two_layers();
    const double forward = 12448;  // ForwardAndFullTrainingByHand
    {
        SCOPED_TRACE("head only: the encoder runs forward only");
        TrainedParts head;
        head.mode = TrainedParts::Mode::kHeadOnly;
        const SequenceFlops f = sequence_flops(c, 5, head);
        EXPECT_DOUBLE_EQ(f.forward, forward);
        // head.dense: its weight's gradient only (128); classifier: both gradients (2·32).
        EXPECT_DOUBLE_EQ(f.train, forward + 128 + 64);
    }
    {
        SCOPED_TRACE("LoRA r = 2 on Wqkv");
        TrainedParts lora;
        lora.mode = TrainedParts::Mode::kAdapters;
        lora.lora_r = 2;
        lora.lora_targets = {"attn.Wqkv"};
        const SequenceFlops f = sequence_flops(c, 5, lora);
        // The adapters' forward: A 2·5·8·2 = 160, B 2·5·2·24 = 480, in each layer.
        EXPECT_DOUBLE_EQ(f.forward, forward + 2 * 640);
        // Backward. Layer 0: base Wqkv nothing (frozen, input from frozen embeddings); A its
        // weight (160), B both (960); then everything needs its input's gradient: attention 1600,
        // Wo 640, Wi 1920, MLP Wo 960. Layer 1: Wqkv 1920 + A 320 + B 960, attention 1216, Wo 640,
        // Wi 1920, MLP Wo 960. Head: 256 + 64.
        const double backward =
            (1120 + 1600 + 640 + 1920 + 960) + (1920 + 1280 + 1216 + 640 + 1920 + 960) + (256 + 64);
        EXPECT_DOUBLE_EQ(f.train, f.forward + backward);
        // Less than fine-tuning every weight, more than the head alone.
        EXPECT_LT(f.train, sequence_flops(c, 5).train);
    }
}

TEST(ModelFlops, PrunedLayersKeepTheirOriginalAttention) {
    ModernBertConfig c = two_layers();
    c.num_hidden_layers = 1;
    c.layer_ids = {1};  // the local layer kept, the global one pruned
    const SequenceFlops f = sequence_flops(c, 5);
    EXPECT_DOUBLE_EQ(f.forward, 5440 + 608 + 160);
    c.layer_ids = {0};
    EXPECT_DOUBLE_EQ(sequence_flops(c, 5).forward, 5440 + 800 + 160);
}

TEST(ModelFlops, ASplitIsTheSumOfItsSequences) {
    const ModernBertConfig c = two_layers();
    const SequenceFlops s = split_flops(c, {5, 3, 0});
    EXPECT_DOUBLE_EQ(s.forward, sequence_flops(c, 5).forward + sequence_flops(c, 3).forward);
    EXPECT_DOUBLE_EQ(s.train, sequence_flops(c, 5).train + sequence_flops(c, 3).train);
}
