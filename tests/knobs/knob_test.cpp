// Knob registry: each knob sets exactly its RunConfig fields (JSON diff), parameters are
// type/range/choice checked with messages naming the origin, conflicts and the QLoRA requirement
// are enforced, supported() says why not.
#include "greenknobs/knobs/knob.h"

#include <functional>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/util/error.h"

#include "../common/errors.h"
#include "config_diff.h"
#include "expected_knobs.h"

using gk::InputError;
using nlohmann::json;
using namespace gk::knobs;
using namespace gk::config;

namespace {

using gk::testing::changed_keys;
using gk::testing::error_of;

bool has(const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
}

}  // namespace

TEST(Knobs, RegistryIsCompleteAndWellFormed) {
    const std::set<std::string>& expected = gk::testing::expected_knob_names();
    std::set<std::string> names;
    std::map<std::string, json> leaf_values;
    gk::testing::config_leaves(to_json(RunConfig{}), "", &leaf_values);
    for (const auto& k : registry()) {
        EXPECT_TRUE(names.insert(k.name).second) << "duplicate " << k.name;
        EXPECT_FALSE(k.params.empty()) << k.name;
        EXPECT_FALSE(k.summary.empty()) << k.name;
        EXPECT_FALSE(k.targets.empty()) << k.name;
        for (const auto& p : k.params) {
            EXPECT_EQ(leaf_values.count(p.config_key), 1u)
                << k.name << "." << p.name << " -> " << p.config_key;
            // config_pointer finds the same leaf in the config's JSON.
            const json config = to_json(RunConfig{});
            ASSERT_TRUE(config.contains(config_pointer(p.config_key))) << p.config_key;
            EXPECT_EQ(config.at(config_pointer(p.config_key)), leaf_values[p.config_key])
                << p.config_key;
        }
        for (const auto& other : k.conflicts) {  // "knob" or "knob.param=value"
            const std::string name = other.substr(0, other.find('.'));
            EXPECT_NO_THROW(find_knob(name)) << k.name << " conflicts with unknown " << other;
            if (other.find('.') != std::string::npos) {
                const std::string param =
                    other.substr(other.find('.') + 1, other.find('=') - other.find('.') - 1);
                bool found = false;
                for (const auto& p : find_knob(name).params) {
                    found = found || p.name == param;
                }
                EXPECT_TRUE(found) << k.name << " conflicts with unknown parameter " << other;
            }
        }
    }
    EXPECT_EQ(names, expected);
}

TEST(Knobs, PhasesNamed) {
    EXPECT_EQ(to_string(Phase::kData), "data");
    EXPECT_EQ(to_string(Phase::kModel), "model");
    EXPECT_EQ(to_string(Phase::kTraining), "training");
    EXPECT_EQ(to_string(Phase::kSystem), "system");
    EXPECT_EQ(to_string(Phase::kInference), "inference");
    EXPECT_EQ(find_knob("lora").phase, Phase::kTraining);
    EXPECT_EQ(find_knob("quantization").phase, Phase::kModel);
    EXPECT_EQ(find_knob("tokenizer_cache").phase, Phase::kData);
    EXPECT_EQ(find_knob("power_limit").phase, Phase::kSystem);
    EXPECT_EQ(find_knob("inference_engine").phase, Phase::kInference);
}

// Every knob, applied with values that differ from the defaults, changes exactly the listed fields.
TEST(Knobs, EachKnobChangesOnlyItsFields) {
    struct Case {
        std::string knob;
        json params;
        std::set<std::string> fields;
    };
    const std::vector<Case> cases = {
        {"dedup",
         {{"mode", "near"}, {"threshold", 0.8}},
         {"data.dedup", "data.near_dup_threshold"}},
        {"dedup", "none", {"data.dedup"}},  // the threshold is left alone unless mode = near
        {"tokenizer_cache", true, {"tokenizer.cache"}},
        {"tokenizer_threads", 3, {"tokenizer.threads"}},
        {"max_length", 96, {"tokenizer.max_length"}},
        {"attention", {{"impl", "sdpa"}, {"unpad", true}}, {"model.attention", "model.unpad"}},
        {"init", "scratch", {"model.init"}},
        {"init", "pretrained", {"model.init"}},
        {"prune_layers",
         {{"n", 4}, {"from", "bottom"}},
         {"model.prune_layers", "model.prune_from"}},
        {"lora",
         {{"r", 4}, {"alpha", 8.0}, {"dropout", 0.1}, {"targets", json::array({"attn.Wqkv"})}},
         {"lora.enabled", "lora.r", "lora.alpha", "lora.dropout", "lora.targets"}},
        {"lora", {{"merge", true}}, {"lora.enabled", "lora.merge"}},
        {"grad_checkpointing", true, {"train.grad_checkpointing"}},
        {"optimizer", "adamw8bit", {"train.optimizer"}},
        {"precision", "bf16", {"train.precision"}},
        {"grad_accum", 4, {"train.batch_size", "train.grad_accum"}},
        {"group_by_length", true, {"train.group_by_length"}},
        {"early_stopping", 3, {"train.early_stopping_patience"}},
        {"epoch_validation", false, {"train.validate_epochs"}},
        {"loader",
         {{"workers", 2}, {"pin_memory", true}},
         {"train.loader_workers", "train.pin_memory"}},
        {"threads", 1, {"system.threads"}},
        // The default config runs both; the paper's catalog pins both off (decision 0009).
        {"attention_kernel",
         {{"fused", false}, {"group_rows", false}},
         {"model.fused_attention", "model.group_rows"}},
        {"compile", "torchscript", {"train.compile"}},
        {"power_limit", 150.0, {"system.power_limit_w"}},
        // bucket_by_length false: the default config already evaluates longest first (0008).
        {"inference_engine",
         {{"dtype", "int8"}, {"batch_size", 128}, {"bucket_by_length", false}},
         {"inference.engine", "inference.dtype", "inference.batch_size",
          "inference.bucket_by_length"}},
    };
    // init refuses to act under init_from (which decides the weights by itself).
    RunConfig from_dir;
    from_dir.model.init_from = "some/checkpoint";
    EXPECT_THROW(apply_knob(from_dir, "init", "scratch", "test"), gk::InputError);
    std::set<std::string> covered;
    for (const auto& tc : cases) {
        RunConfig before;
        before.train.epochs = 3;  // early_stopping refuses a single epoch
        RunConfig after = before;
        apply_knob(after, tc.knob, tc.params, "test");
        EXPECT_EQ(changed_keys(before, after), tc.fields) << tc.knob << " " << tc.params.dump();
        EXPECT_EQ(after.knobs, std::vector<std::string>{tc.knob});
        covered.insert(tc.knob);
    }
    // quantization needs lora first; diff against the lora-enabled config.
    RunConfig with_lora;
    apply_knob(with_lora, "lora", nullptr, "test");
    RunConfig q8 = with_lora;
    apply_knob(q8, "quantization", {{"bits", 8}}, "test");
    EXPECT_EQ(changed_keys(with_lora, q8), (std::set<std::string>{"quantization.bits"}));
    RunConfig q4 = with_lora;
    apply_knob(q4, "quantization", {{"bits", 4}, {"block_size", 128}}, "test");
    EXPECT_EQ(changed_keys(with_lora, q4),
              (std::set<std::string>{"quantization.bits", "quantization.block_size"}));
    EXPECT_EQ(q4.knobs, (std::vector<std::string>{"lora", "quantization"}));
    covered.insert("quantization");
    for (const auto& k : registry()) {
        EXPECT_EQ(covered.count(k.name), 1u) << "no field test for knob " << k.name;
    }
}

TEST(Knobs, DefaultsApplyToTheDefaultConfig) {
    for (const auto& k : registry()) {
        RunConfig c;
        if (k.name == "quantization") {
            apply_knob(c, "lora", nullptr, "test");
        }
        if (k.name == "early_stopping") {
            c.train.epochs = 3;  // the knob refuses a single epoch (tested below)
        }
        EXPECT_NO_THROW(apply_knob(c, k.name, nullptr, "test")) << k.name;
        EXPECT_EQ(c.knobs.back(), k.name);
    }
}

TEST(Knobs, ScalarSetsThePrimaryParameter) {
    RunConfig c;
    apply_knob(c, "lora", 4, "o");
    EXPECT_EQ(c.lora.r, 4);
    EXPECT_DOUBLE_EQ(c.lora.alpha, 16.0);
    apply_knob(c, "quantization", 8, "o");
    EXPECT_EQ(c.quantization.bits, 8);
    apply_knob(c, "dedup", "near", "o");
    EXPECT_EQ(c.data.dedup, gk::config::Dedup::kNear);
    EXPECT_DOUBLE_EQ(c.data.near_dup_threshold, 0.9);
}

TEST(Knobs, LoraDefaultsTargetRealProjections) {
    RunConfig c;
    apply_knob(c, "lora", json::object(), "test");
    EXPECT_TRUE(c.lora.enabled);
    EXPECT_EQ(c.lora.targets,
              (std::vector<std::string>{"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo"}));
    EXPECT_EQ(c.lora.r, 8);
    EXPECT_DOUBLE_EQ(c.lora.alpha, 16.0);
}

TEST(Knobs, GradAccumKeepsTheEffectiveBatch) {
    RunConfig c;
    c.train.batch_size = 8;
    c.train.grad_accum = 2;  // effective 16
    apply_knob(c, "grad_accum", 4, "test");
    EXPECT_EQ(c.train.batch_size, 4);
    EXPECT_EQ(c.train.grad_accum, 4);
    EXPECT_EQ(c.train.batch_size * c.train.grad_accum, 16);

    RunConfig d;
    d.train.batch_size = 8;
    std::string msg = error_of([&] { apply_knob(d, "grad_accum", 3, "my.toml"); });
    EXPECT_TRUE(has(msg, "my.toml")) << msg;
    EXPECT_TRUE(has(msg, "effective batch 8")) << msg;
    EXPECT_TRUE(has(msg, "3 steps")) << msg;
    EXPECT_EQ(d.train.batch_size, 8);  // untouched on error
    EXPECT_TRUE(d.knobs.empty());
}

TEST(Knobs, DeviceDependentValues) {
    RunConfig cpu;
    apply_knob(cpu, "precision", "half", "test");
    EXPECT_EQ(cpu.train.precision, gk::config::Precision::kBf16);
    apply_knob(cpu, "inference_engine", nullptr, "test");
    EXPECT_EQ(cpu.inference.dtype, gk::config::EvalDtype::kInt8);
    EXPECT_EQ(cpu.inference.engine, gk::config::Engine::kPacked);

    RunConfig gpu;
    gpu.system.device = gk::config::Device::kCuda;
    apply_knob(gpu, "precision", "half", "test");
    EXPECT_EQ(gpu.train.precision, gk::config::Precision::kFp16);
    apply_knob(gpu, "inference_engine", json{{"dtype", "auto"}}, "test");
    EXPECT_EQ(gpu.inference.dtype, gk::config::EvalDtype::kBf16);
}

TEST(Knobs, RejectsBadParametersNamingOrigin) {
    RunConfig c;
    std::string msg = error_of([&] { apply_knob(c, "lora", {{"r", 0}}, "variants/x.toml:V2"); });
    EXPECT_TRUE(has(msg, "variants/x.toml:V2")) << msg;
    EXPECT_TRUE(has(msg, "lora.r")) << msg;
    EXPECT_TRUE(has(msg, "[1, 1024]")) << msg;

    msg = error_of([&] { apply_knob(c, "precision", "fp8", "cli"); });
    EXPECT_TRUE(has(msg, "cli:precision.precision")) << msg;
    EXPECT_TRUE(has(msg, "fp32 | bf16 | fp16 | half")) << msg;

    msg = error_of([&] { apply_knob(c, "lora", {{"r", "8"}}, "o"); });
    EXPECT_TRUE(has(msg, "expected an integer")) << msg;

    msg = error_of([&] { apply_knob(c, "lora", {{"rank", 8}}, "o"); });
    EXPECT_TRUE(has(msg, "lora.rank")) << msg;
    EXPECT_TRUE(has(msg, "r, alpha, dropout, targets")) << msg;

    msg = error_of(
        [&] { apply_knob(c, "lora", "eight", "o"); });  // a scalar is the primary parameter, r
    EXPECT_TRUE(has(msg, "o:lora.r")) << msg;

    msg = error_of([&] {
        apply_knob(c, "lora", {{"targets", json::array({"query", "value"})}}, "o");
    });
    EXPECT_TRUE(has(msg, "'query'")) << msg;
    EXPECT_TRUE(has(msg, "attn.Wqkv")) << msg;

    msg = error_of([&] {
        apply_knob(c, "lora", {{"targets", json::array({"attn.Wo", "attn.Wo"})}}, "o");
    });
    EXPECT_TRUE(has(msg, "twice")) << msg;

    msg = error_of([&] { apply_knob(c, "lora", {{"targets", json::array()}}, "o"); });
    EXPECT_TRUE(has(msg, "at least one")) << msg;

    msg = error_of([&] { apply_knob(c, "quantization", {{"bits", 2}}, "o"); });
    EXPECT_TRUE(has(msg, "4 | 8")) << msg;

    msg = error_of([&] { apply_knob(c, "max_length", 4, "o"); });
    EXPECT_TRUE(has(msg, "[8, 8192]")) << msg;

    msg = error_of([&] { apply_knob(c, "power_limit", "100W", "o"); });
    EXPECT_TRUE(has(msg, "expected a number")) << msg;

    msg = error_of([&] { apply_knob(c, "grad_checkpointing", 1, "o"); });
    EXPECT_TRUE(has(msg, "true or false")) << msg;

    msg = error_of([&] { apply_knob(c, "prune_layers", {{"n", 22}}, "o"); });
    EXPECT_TRUE(has(msg, "[1, 21]")) << msg;

    msg = error_of([&] { apply_knob(c, "fp16", true, "o"); });
    EXPECT_TRUE(has(msg, "o:fp16")) << msg;
    EXPECT_TRUE(has(msg, "known: ")) << msg;
    EXPECT_TRUE(has(msg, "precision")) << msg;

    EXPECT_TRUE(c.knobs.empty());
    EXPECT_EQ(canonical_json(c), canonical_json(RunConfig{}));  // nothing half-applied
}

TEST(Knobs, FindKnobListsKnownOnes) {
    std::string msg = error_of([] { find_knob("turbo"); });
    EXPECT_TRUE(has(msg, "turbo")) << msg;
    EXPECT_TRUE(has(msg, "grad_checkpointing")) << msg;
    EXPECT_EQ(find_knob("lora").name, "lora");
}

TEST(Knobs, QuantizationRequiresLora) {
    RunConfig c;
    std::string msg = error_of([&] { apply_knob(c, "quantization", 4, "cat.toml:V3"); });
    EXPECT_TRUE(has(msg, "cat.toml:V3")) << msg;
    EXPECT_TRUE(has(msg, "add the lora knob")) << msg;
    EXPECT_EQ(c.quantization.bits, 0);
}

TEST(Knobs, ConflictsRejectedInEitherOrder) {
    // A TorchScript trace cannot follow unpadding's data-dependent shapes.
    RunConfig a;
    apply_knob(a, "compile", "torchscript", "o");
    std::string msg = error_of([&] {
        apply_knob(a, "attention", {{"impl", "sdpa"}, {"unpad", true}}, "o");
    });
    EXPECT_TRUE(has(msg, "o:attention")) << msg;
    EXPECT_TRUE(has(msg, "cannot be combined with attention unpad = true")) << msg;
    EXPECT_FALSE(a.model.unpad);
    EXPECT_EQ(a.model.attention, gk::config::Attention::kEager);

    RunConfig b;
    apply_knob(b, "attention", {{"unpad", true}}, "o");
    msg = error_of([&] { apply_knob(b, "compile", "torchscript", "o"); });
    EXPECT_TRUE(has(msg, "o:compile")) << msg;
    EXPECT_EQ(b.train.compile, gk::config::Compile::kNone);

    RunConfig from_base;  // the rule is over fields, so a base that unpads counts too
    from_base.model.unpad = true;
    EXPECT_TRUE(has(error_of([&] { apply_knob(from_base, "compile", nullptr, "o"); }),
                    "cannot be combined"));

    // The same knobs with values that do combine.
    RunConfig ok;
    apply_knob(ok, "compile", "torchscript", "o");
    apply_knob(ok, "attention", {{"impl", "sdpa"}, {"unpad", false}}, "o");
    apply_knob(ok, "inference_engine", nullptr, "o");  // the engine traces its packed weights
    EXPECT_EQ(ok.knobs.size(), 3u);

    // Knobs of the paper's combinations are not conflicts.
    RunConfig c;
    apply_knob(c, "attention", {{"impl", "sdpa"}, {"unpad", true}}, "o");
    apply_knob(c, "lora", nullptr, "o");
    apply_knob(c, "quantization", nullptr, "o");
    apply_knob(c, "grad_checkpointing", true, "o");
    apply_knob(c, "precision", "bf16", "o");
    apply_knob(c, "prune_layers", {{"n", 20}}, "o");
    apply_knob(c, "inference_engine", nullptr, "o");
    EXPECT_EQ(c.knobs.size(), 7u);
}

TEST(Knobs, AppliedTwiceRejected) {
    RunConfig c;
    apply_knob(c, "max_length", 128, "o");
    std::string msg = error_of([&] { apply_knob(c, "max_length", 64, "o"); });
    EXPECT_TRUE(has(msg, "twice")) << msg;
    EXPECT_EQ(c.tokenizer.max_length, 128);
}

TEST(Knobs, EarlyStoppingNeedsEpochs) {
    RunConfig c;
    c.train.epochs = 1;
    std::string msg = error_of([&] { apply_knob(c, "early_stopping", 2, "o"); });
    EXPECT_TRUE(has(msg, "at least 2 epochs")) << msg;
}

// Early stopping decides on the per-epoch validation: the two cannot be combined, in either order,
// nor set so in a config.
TEST(Knobs, EpochValidationOffConflictsWithEarlyStopping) {
    RunConfig c;
    c.train.epochs = 3;
    apply_knob(c, "early_stopping", 2, "o");
    std::string msg = error_of([&] { apply_knob(c, "epoch_validation", false, "o"); });
    EXPECT_TRUE(has(msg, "early_stopping")) << msg;
    EXPECT_TRUE(c.train.validate_epochs);  // untouched
    RunConfig d;
    d.train.epochs = 3;
    apply_knob(d, "epoch_validation", false, "o");
    msg = error_of([&] { apply_knob(d, "early_stopping", 2, "o"); });
    EXPECT_TRUE(has(msg, "epoch_validation")) << msg;
    RunConfig both;
    both.train.validate_epochs = false;
    both.train.early_stopping_patience = 1;
    msg = error_of([&] { gk::config::validate(both, "x.toml"); });
    EXPECT_TRUE(has(msg, "train.validate_epochs")) << msg;
    EXPECT_TRUE(has(msg, "x.toml")) << msg;
}

TEST(Knobs, SupportedChecks) {
    Capabilities cpu;
    cpu.power_limit_reason = "no settable power limit here: because";
    RunConfig plain;
    EXPECT_TRUE(unsupported_knobs(plain, cpu).empty());

    RunConfig fp16 = plain;
    fp16.train.precision = gk::config::Precision::kFp16;
    auto u = unsupported_knobs(fp16, cpu);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].first, "precision");
    EXPECT_TRUE(has(u[0].second.reason, "CPU autocast has no fp16")) << u[0].second.reason;
    EXPECT_TRUE(has(u[0].second.reason, "loss scaling")) << u[0].second.reason;

    Capabilities cuda;
    cuda.cuda = true;
    cuda.device = "cuda";
    fp16.system.device = gk::config::Device::kCuda;
    EXPECT_TRUE(unsupported_knobs(fp16, cuda).empty());

    RunConfig capped = plain;
    apply_knob(capped, "power_limit", 100.0, "o");
    u = unsupported_knobs(capped, cpu);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].first, "power_limit");
    EXPECT_EQ(u[0].second.reason, cpu.power_limit_reason);

    Capabilities rapl = cpu;
    rapl.cpu_power_limit = true;
    EXPECT_TRUE(unsupported_knobs(capped, rapl).empty());

    Capabilities nvml = cuda;
    nvml.gpu_power_limit = true;
    EXPECT_FALSE(
        unsupported_knobs(capped, nvml).empty());  // the config runs on the CPU: NVML can't cap it
    capped.system.device = gk::config::Device::kCuda;
    EXPECT_TRUE(unsupported_knobs(capped, nvml).empty());

    // The fused attention kernel is CPU code: asked for on CUDA it would change nothing. The
    // default config (fused on, no knob) is not flagged on either device.
    RunConfig on_cuda = plain;
    on_cuda.system.device = gk::config::Device::kCuda;
    EXPECT_TRUE(unsupported_knobs(on_cuda, cuda).empty());
    RunConfig fused = plain;
    apply_knob(fused, "attention_kernel", true, "o");
    EXPECT_TRUE(unsupported_knobs(fused, cpu).empty());
    fused.system.device = gk::config::Device::kCuda;
    u = unsupported_knobs(fused, cuda);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].first, "attention_kernel");
    EXPECT_TRUE(has(u[0].second.reason, "CPU code")) << u[0].second.reason;
    RunConfig unfused = on_cuda;
    apply_knob(unfused, "attention_kernel", {{"fused", false}}, "o");
    EXPECT_TRUE(unsupported_knobs(unfused, cuda).empty());

    RunConfig int8 = plain;
    int8.system.device = gk::config::Device::kCuda;
    apply_knob(int8, "inference_engine", {{"dtype", "int8"}}, "o");
    u = unsupported_knobs(int8, cuda);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].first, "inference_engine");
}

TEST(Knobs, SettingsReadBackFromTheConfig) {
    RunConfig c;
    apply_knob(c, "lora", {{"r", 4}}, "o");
    apply_knob(c, "precision", "half", "o");
    json s = knob_settings(c);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0]["name"], "lora");
    EXPECT_EQ(s[0]["params"]["r"], 4);
    EXPECT_EQ(s[0]["params"]["targets"].size(), 4u);
    EXPECT_EQ(s[1]["params"]["precision"], "bf16");  // what ran, not the catalog's "half"
}

TEST(Knobs, Descriptions) {
    const Knob& lora = find_knob("lora");
    EXPECT_EQ(describe_param(lora.params[0]), "r=8 [1..1024]");
    EXPECT_EQ(describe_param(find_knob("precision").params[0]),
              "precision=bf16 {fp32|bf16|fp16|half}");
    EXPECT_EQ(describe_application("precision", "bf16"), "precision=bf16");
    EXPECT_EQ(describe_application("prune_layers", {{"n", 4}, {"from", "top"}}),
              "prune_layers(from=top, n=4)");
    EXPECT_EQ(describe_application("grad_checkpointing", true), "grad_checkpointing=true");
    EXPECT_EQ(describe_application("lora", {{"targets", json::array({"attn.Wqkv", "mlp.Wi"})}}),
              "lora(targets=[attn.Wqkv,mlp.Wi])");
}

TEST(Knobs, CompileNotesSayEvaluationOnly) {
    EXPECT_TRUE(has(find_knob("compile").notes, "evaluation only")) << find_knob("compile").notes;
    EXPECT_TRUE(has(find_knob("loader").notes, "only matters on CUDA"));
    EXPECT_EQ(find_knob("compile").conflicts, std::vector<std::string>{"attention.unpad=true"});
}
