// RunConfig: strict TOML/--set parsing, validation messages, canonical hashing, TOML round trip.
#include "greenknobs/config/run_config.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "../common/errors.h"

using gk::InputError;
using namespace gk::config;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
    std::string path = testing::TempDir() + name;
    std::ofstream(path) << text;
    return path;
}
using gk::testing::error_of;
}  // namespace

TEST(RunConfig, TomlOverridesDefaults) {
    auto path = write_tmp("a.toml",
                          "name = \"x\"\n[train]\nlr = 1e-4\nepochs = 3\n[lora]\nenabled = true\n");
    RunConfig c = load_toml(path);
    EXPECT_EQ(c.name, "x");
    EXPECT_DOUBLE_EQ(c.train.lr, 1e-4);
    EXPECT_EQ(c.train.epochs, 3);
    EXPECT_TRUE(c.lora.enabled);
    EXPECT_EQ(c.train.batch_size, RunConfig{}.train.batch_size);
}

TEST(RunConfig, UnknownKeyNamesFileAndKey) {
    auto path = write_tmp("b.toml", "[train]\nlearning_rate = 1e-4\n");
    std::string msg = error_of([&] { load_toml(path); });
    EXPECT_NE(msg.find("b.toml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("train.learning_rate"), std::string::npos) << msg;
}

TEST(RunConfig, WrongTypeRejected) {
    auto path = write_tmp("c.toml", "[train]\nepochs = \"two\"\n");
    std::string msg = error_of([&] { load_toml(path); });
    EXPECT_NE(msg.find("train.epochs"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected integer"), std::string::npos) << msg;
}

TEST(RunConfig, IntegerAcceptedForFloat) {
    RunConfig c;
    apply_set(c, "energy.pue=2");
    EXPECT_DOUBLE_EQ(c.energy.pue, 2.0);
}

TEST(RunConfig, TomlSyntaxErrorHasLine) {
    auto path = write_tmp("d.toml", "[train]\nlr = = 3\n");
    std::string msg = error_of([&] { load_toml(path); });
    EXPECT_NE(msg.find("d.toml:2"), std::string::npos) << msg;
}

TEST(RunConfig, SetParsesByExistingType) {
    RunConfig c;
    apply_set(c, "train.precision=bf16");
    apply_set(c, "train.grad_checkpointing=true");
    apply_set(c, "model.prune_layers=4");
    apply_set(c, "lora.targets=attn.Wqkv,mlp.Wo");
    EXPECT_EQ(c.train.precision, gk::config::Precision::kBf16);
    EXPECT_TRUE(c.train.grad_checkpointing);
    EXPECT_EQ(c.model.prune_layers, 4);
    ASSERT_EQ(c.lora.targets.size(), 2u);
    EXPECT_EQ(c.lora.targets[1], "mlp.Wo");
}

TEST(RunConfig, SetRejectsBadValues) {
    RunConfig c;
    EXPECT_NE(error_of([&] { apply_set(c, "train.precision=fp8"); }).find("expected one of"),
              std::string::npos);
    EXPECT_NE(error_of([&] { apply_set(c, "train.nope=1"); }).find("unknown key"),
              std::string::npos);
    EXPECT_NE(error_of([&] { apply_set(c, "train.epochs=0"); }).find("train.epochs"),
              std::string::npos);
    EXPECT_NE(error_of([&] { apply_set(c, "novalue"); }).find("expected section.key=value"),
              std::string::npos);
    // model.bf16_matmul's spellings, and an error that names the key.
    const std::string bad = error_of([&] { apply_set(c, "model.bf16_matmul=bf16"); });
    EXPECT_NE(bad.find("model.bf16_matmul"), std::string::npos) << bad;
    EXPECT_NE(bad.find("auto | libtorch | fp32-gemm"), std::string::npos) << bad;
    // A failed --set leaves the config unchanged.
    EXPECT_EQ(c.train.precision, gk::config::Precision::kFp32);
    EXPECT_EQ(c.model.bf16_matmul, gk::config::Bf16Matmul::kAuto);
    apply_set(c, "model.bf16_matmul=fp32-gemm");
    EXPECT_EQ(c.model.bf16_matmul, gk::config::Bf16Matmul::kFp32Gemm);
}

TEST(RunConfig, QuantizationRequiresLora) {
    RunConfig c;
    std::string msg = error_of([&] { apply_set(c, "quantization.bits=8"); });
    EXPECT_NE(msg.find("QLoRA"), std::string::npos) << msg;
    apply_set(c, "lora.enabled=true");
    apply_set(c, "quantization.bits=4");
    EXPECT_EQ(c.quantization.bits, 4);
}

TEST(RunConfig, HashIgnoresLabelsButNotBehaviour) {
    RunConfig a, b;
    b.name = "other";
    b.knobs = {"lora"};
    EXPECT_EQ(config_hash(a), config_hash(b));
    b.train.lr = 5e-3;
    EXPECT_NE(config_hash(a), config_hash(b));
    EXPECT_EQ(config_hash(a).size(), 64u);
}

TEST(RunConfig, TomlRoundTrip) {
    RunConfig c;
    c.name = "rt \"quoted\"";
    c.train.lr = 1.5e-4;
    c.energy.pue = 1.0;
    c.lora.targets = {"mlp.Wi"};
    auto path = write_tmp("rt.toml", to_toml(c));
    RunConfig back = load_toml(path);
    EXPECT_EQ(canonical_json(back), canonical_json(c));
    EXPECT_EQ(back.name, c.name);
}
