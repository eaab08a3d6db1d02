// Every knob through the pipeline: tiny `greenknobs train` runs of the variants in mechanisms.toml,
// each test asserting the run.json evidence that each knob's mechanism ran (dtype, layer count,
// trainable count, cache hit, threads, kernel, engine, optimizer state...), so a knob that silently
// did nothing fails here. The equality tests elsewhere (sdpa == eager, workers == inline,
// checkpointed grads == plain) stay; these say the knob changed what ran.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "greenknobs/util/fs.h"

#include "../common/cli.h"

namespace {

using gk::testing::has;
using nlohmann::json;
namespace stdfs = std::filesystem;

const std::string kCatalog = std::string(GK_SOURCE_DIR) + "/tests/pipeline/mechanisms.toml";

std::string scratch(const std::string& name) {
    return testing::TempDir() + "gk" + std::to_string(::getpid()) + "_mech_" + name;
}

struct TrainRun {
    int rc = -1;
    std::string out;
    json record;
};

// Trains `variant` of mechanisms.toml into a fresh scratch directory and reads its run.json. Tests
// run in the build directory, so the bundled data is named by absolute path.
TrainRun train(const std::string& variant, const std::string& extra = "") {
    const std::string dir = scratch(variant);
    stdfs::remove_all(dir);
    const std::string src = GK_SOURCE_DIR;
    TrainRun r;
    auto res = gk::testing::run_greenknobs(
        "-q train --catalog " + kCatalog + " --variant " + variant + " --set data.path=" + src +
        "/data/juliet/juliet_functions.csv" + " --set tokenizer.path=" + src +
        "/data/modernbert/tokenizer.json " + extra + " --out " + dir);
    r.rc = res.rc;
    r.out = res.out;
    if (stdfs::exists(dir + "/run.json")) {
        r.record = json::parse(gk::fs::read_file(dir + "/run.json"));
    }
    stdfs::remove_all(dir);  // the record is all a test reads; checkpoints would pile up in TMPDIR
    return r;
}

// The detail entries of `knob` in knobs.details.
std::vector<json> details(const json& rec, const std::string& knob) {
    std::vector<json> out;
    for (const auto& d : rec["knobs"]["details"]) {
        if (d["name"] == knob) {
            out.push_back(d["params"]);
        }
    }
    return out;
}

bool has_fallback(const json& rec, const std::string& knob, const std::string& what) {
    for (const auto& p : details(rec, knob)) {
        if (p.contains("fallback") && has(p["fallback"].get<std::string>(), what) &&
            !p["reason"].get<std::string>().empty()) {
            return true;
        }
    }
    return false;
}

int64_t i64(const json& j) { return j.get<int64_t>(); }
double num(const json& j) { return j.get<double>(); }

// The `model_flops` work the run's stages called `name` recorded, summed.
double stage_flops(const json& rec, const std::string& name) {
    double sum = 0;
    for (const auto& st : rec["energy"]["stages"]) {
        if (st["name"] == name && st["work"].contains("model_flops")) {
            sum += num(st["work"]["model_flops"]);
        }
    }
    return sum;
}

// Training's model FLOPs over the forward passes of its epochs: 3 when every weight trains.
double train_flops_ratio(const json& rec) {
    const json& t = rec["model_flops"]["train"];
    return num(t["flops"]) / (num(t["epochs"]) * num(t["forward_flops_per_epoch"]));
}

// The catalog covers the registry: a knob added without a mechanism test fails here.
TEST(Mechanisms, CatalogCoversEveryKnobOfTheRegistry) {
    auto knobs = gk::testing::run_greenknobs("knobs --json");
    ASSERT_EQ(knobs.rc, 0) << knobs.out;
    json reg = json::parse(knobs.out);
    const std::string catalog = gk::fs::read_file(kCatalog);
    ASSERT_FALSE(reg["knobs"].empty());
    for (const auto& k : reg["knobs"]) {
        const std::string name = k["name"];
        const bool listed = has(catalog, "\n" + name + " = ") ||
                            has(catalog, "{ " + name + " = ") || has(catalog, ", " + name + " = ");
        EXPECT_TRUE(listed) << "knob " << name << " has no mechanism test in mechanisms.toml";
    }
}

// Asked to, the evaluate stage's path also scores the validation split, metered as a stage of its
// own: the plain path and the packed engine alike (what `greenknobs tune` selects on). Not asked,
// neither the stage nor the metrics exist.
TEST(Mechanisms, TheValidationSplitIsScoredThroughTheEvaluationPathWhenAsked) {
    const auto stage = [](const json& rec, const std::string& name) -> const json* {
        for (const auto& st : rec["energy"]["stages"]) {
            if (st["name"] == name) {
                return &st;
            }
        }
        return nullptr;
    };
    for (const std::string engine : {"plain", "packed"}) {
        TrainRun r =
            train("B0", "--set inference.score_validation=true --set inference.engine=" + engine);
        ASSERT_EQ(r.rc, 0) << r.out;
        const json& rec = r.record;
        EXPECT_EQ(rec["evaluation"]["engine"], engine);
        const json& v = rec["evaluation"]["validation_metrics"];
        ASSERT_TRUE(v.is_object()) << rec["evaluation"];
        EXPECT_EQ(i64(v["samples"]), i64(rec["data"]["validation"]));
        EXPECT_TRUE(v["f1_vul"].is_number());
        const json* st = stage(rec, "evaluate_validation");
        ASSERT_NE(st, nullptr) << engine;
        EXPECT_GT((*st)["energy_j"]["total"].get<double>(), 0);
        EXPECT_EQ(i64((*st)["work"]["samples"]), i64(rec["data"]["validation"]));
    }
    TrainRun plain = train("B0");
    ASSERT_EQ(plain.rc, 0) << plain.out;
    EXPECT_FALSE(plain.record["evaluation"].contains("validation_metrics"));
    EXPECT_EQ(stage(plain.record, "evaluate_validation"), nullptr);
}

// The baseline states what ran when no knob is on: the references the other tests differ from.
TEST(Mechanisms, BaselineRecordsWhatRan) {
    TrainRun r = train("B0");
    ASSERT_EQ(r.rc, 0) << r.out;
    const json& rec = r.record;
    EXPECT_EQ(rec["model"]["layers"], 3);
    EXPECT_EQ(rec["model"]["init"]["setting"],
              "auto");  // tiny has no shipped checkpoint: auto = scratch
    EXPECT_EQ(rec["model"]["trainable_params"], rec["model"]["total_params"]);
    EXPECT_EQ(rec["model"]["trainable_params_after_merge"], rec["model"]["trainable_params"]);
    // Attention ran as one fused CPU kernel in training and in evaluation; model.fused_attention
    // = false (the paper's catalog) runs eager, or eager-banded where a batch is long enough for
    // the local layers' band to pay, in both.
    EXPECT_EQ(rec["attention"]["kernel"], "fused-cpu") << rec["attention"];
    EXPECT_EQ(rec["attention"]["evaluate_kernel"], "fused-cpu") << rec["attention"];
    {
        TrainRun unfused = train("B0", "--set model.fused_attention=false");
        ASSERT_EQ(unfused.rc, 0) << unfused.out;
        for (const char* stage : {"kernel", "evaluate_kernel"}) {
            EXPECT_EQ(unfused.record["attention"][stage].get<std::string>().rfind("eager", 0), 0u)
                << unfused.record["attention"];
        }
    }
    // The GeGLU ran as the fused CPU kernel in training and in evaluation.
    EXPECT_EQ(rec["mlp"]["geglu_kernel"], "fused-cpu") << rec["mlp"];
    EXPECT_EQ(rec["mlp"]["evaluate_geglu_kernel"], "fused-cpu") << rec["mlp"];
    EXPECT_EQ(rec["evaluation"]["engine"], "plain");
    EXPECT_EQ(rec["evaluation"]["precision"], "fp32");
    EXPECT_EQ(rec["evaluation"]["batch_size"], 32);
    // The default evaluates longest first: the tokens it computed on are recorded, pads included.
    EXPECT_TRUE(rec["evaluation"]["bucket_by_length"].get<bool>());
    EXPECT_GE(i64(rec["evaluation"]["tokens"]["padded"]), i64(rec["evaluation"]["tokens"]["real"]));
    EXPECT_GT(i64(rec["evaluation"]["tokens"]["real"]), 0);
    EXPECT_EQ(rec["evaluation"]["linears"], json({{"dense", 3 * 4 + 2}}));
    EXPECT_EQ(rec["train"]["validation_batch_size"], 32);
    EXPECT_TRUE(rec["train"]["validation_bucket_by_length"].get<bool>());
    EXPECT_EQ(rec["train"]["precision"], "fp32");
    EXPECT_EQ(rec["train"]["autograd"]["checkpointed_layers"], 0);
    EXPECT_EQ(rec["train"]["loader"]["workers_started"], 0);
    EXPECT_EQ(i64(rec["train"]["loader"]["batches_inline"]), i64(rec["train"]["micro_batches"]));
    EXPECT_EQ(rec["train"]["optimizer"]["name"], "adamw");
    // fp32 AdamW: two fp32 moments per trainable parameter.
    EXPECT_EQ(i64(rec["train"]["optimizer"]["state_bytes"]),
              8 * i64(rec["model"]["trainable_params"]));
    EXPECT_EQ(rec["data"]["near_duplicates_removed"], 0);
    EXPECT_EQ(rec["data"]["tokenizer_threads_run"], 1);
    EXPECT_TRUE(rec["knobs"]["details"].empty()) << rec["knobs"]["details"];
    // Model FLOPs: every weight trains, so training is three forward passes of each epoch's
    // sequences; the stages' work says what run.json says; each epoch's validation pass counted.
    const json& mf = rec["model_flops"];
    EXPECT_EQ(mf["train"]["trained"], "all");
    EXPECT_NEAR(train_flops_ratio(rec), 3.0, 1e-12) << mf;
    // The rate is derived from the recorded seconds (evidence, not a speed goal: bench/ has those).
    EXPECT_NEAR(num(mf["train"]["gflop_per_s"]) * 1e9 * num(mf["train"]["seconds"]),
                num(mf["train"]["flops"]), 1e-9 * num(mf["train"]["flops"]))
        << mf;
    EXPECT_EQ(num(mf["train"]["flops"]), stage_flops(rec, "train"));
    EXPECT_EQ(mf["validate"]["passes"], 2);
    EXPECT_EQ(num(mf["validate"]["flops"]), stage_flops(rec, "validate"));
    EXPECT_GT(num(mf["evaluate"]["flops"]), 0.0) << mf;
    EXPECT_EQ(num(mf["evaluate"]["flops"]), stage_flops(rec, "evaluate"));
}

// attention_kernel switches the kernel that runs, both ways: off from the default (eager rows, in
// both stages), on from a base that pins it off as the paper's catalog does.
TEST(Mechanisms, AttentionKernelKnobChangesTheKernelThatRuns) {
    TrainRun off = train("M6");
    ASSERT_EQ(off.rc, 0) << off.out;
    for (const char* stage : {"kernel", "evaluate_kernel"}) {
        EXPECT_EQ(off.record["attention"][stage].get<std::string>().rfind("eager", 0), 0u)
            << off.record["attention"];
    }
    TrainRun on = train("M7", "--set model.fused_attention=false --set model.group_rows=false");
    ASSERT_EQ(on.rc, 0) << on.out;
    EXPECT_EQ(on.record["attention"]["kernel"], "fused-cpu") << on.record["attention"];
    EXPECT_EQ(on.record["attention"]["evaluate_kernel"], "fused-cpu") << on.record["attention"];
    const json& applied = on.record["knobs"]["applied"];
    ASSERT_EQ(applied.size(), 1u) << applied;
    EXPECT_EQ(applied[0]["name"], "attention_kernel");
    EXPECT_EQ(applied[0]["params"], json({{"fused", true}, {"group_rows", true}}));
}

// epoch_validation off: no `validate` stage is metered, no epoch is scored, the last epoch is the
// model and the test split is still evaluated; the baseline validates each of its two epochs.
TEST(Mechanisms, EpochValidationOffRunsNoValidateStage) {
    const auto stages = [](const json& rec) {
        std::vector<std::string> names;
        for (const auto& st : rec["energy"]["stages"]) {
            names.push_back(st["name"]);
        }
        return names;
    };
    TrainRun base = train("B0");
    ASSERT_EQ(base.rc, 0) << base.out;
    EXPECT_EQ(base.record["train"]["epoch_validation"], "on");
    EXPECT_EQ(base.record["train"]["validation"].size(), 2u);
    const auto bs = stages(base.record);
    EXPECT_EQ(std::count(bs.begin(), bs.end(), "validate"), 2);

    TrainRun off = train("M8");
    ASSERT_EQ(off.rc, 0) << off.out;
    const json& rec = off.record;
    EXPECT_EQ(rec["train"]["epoch_validation"], "off: train.validate_epochs = false");
    EXPECT_TRUE(rec["train"]["validation"].empty());
    EXPECT_EQ(rec["train"]["best_epoch"], rec["train"]["epochs_run"]);
    const auto os = stages(rec);
    EXPECT_EQ(std::count(os.begin(), os.end(), "validate"), 0) << rec["energy"]["stages"];
    EXPECT_EQ(std::count(os.begin(), os.end(), "evaluate"), 1);
    EXPECT_TRUE(rec["metrics"]["f1_vul"].is_number());
    const json& applied = rec["knobs"]["applied"];
    ASSERT_EQ(applied.size(), 1u) << applied;
    EXPECT_EQ(applied[0]["name"], "epoch_validation");
    EXPECT_EQ(applied[0]["params"], json({{"enabled", false}}));
}

TEST(Mechanisms, DataModelTrainingSystemAndInferenceKnobsEachLeaveTheirEvidence) {
    // early_stopping needs >= 2 epochs; a negligible learning rate keeps validation F1 flat, so it
    // must stop.
    TrainRun r = train("M1", "--set train.epochs=3 --set train.lr=1e-9");
    ASSERT_EQ(r.rc, 0) << r.out;
    const json& rec = r.record;
    const json& tr = rec["train"];
    {
        SCOPED_TRACE("dedup near");
        EXPECT_EQ(rec["data"]["dedup"], "near");
        EXPECT_GT(i64(rec["data"]["near_duplicates_removed"]), 0);
    }
    {
        SCOPED_TRACE("tokenizer_threads");
        EXPECT_EQ(rec["data"]["tokenizer_threads_run"], 2);
    }
    {
        SCOPED_TRACE("max_length");
        EXPECT_LE(i64(rec["data"]["max_sample_tokens"]), 24);
        EXPECT_GT(rec["data"]["truncated_share"].get<double>(), 0.0);
    }
    {
        SCOPED_TRACE("attention");
        // The fused kernel over the unpadded sequences (fused_attention.h), in both stages.
        EXPECT_EQ(rec["attention"]["kernel"], "unpadded-fused-cpu") << rec["attention"];
        EXPECT_EQ(rec["attention"]["evaluate_kernel"], "unpadded-fused-cpu") << rec["attention"];
    }
    {
        SCOPED_TRACE("prune_layers");
        EXPECT_EQ(rec["model"]["layers"], 2);
    }
    {
        SCOPED_TRACE("init");
        EXPECT_EQ(rec["model"]["init"]["setting"], "scratch") << rec["model"]["init"];
        EXPECT_EQ(rec["model"]["init"]["kind"], "scratch") << rec["model"]["init"];
        EXPECT_TRUE(rec["model"]["init"]["from"].is_null()) << rec["model"]["init"];
    }
    {
        SCOPED_TRACE("grad_checkpointing");
        EXPECT_EQ(tr["autograd"]["checkpointed_layers"], 2);  // one per kept layer
        // Model FLOPs do not count its recomputation: still three forward passes.
        EXPECT_NEAR(train_flops_ratio(rec), 3.0, 1e-12) << rec["model_flops"];
    }
    {
        SCOPED_TRACE("optimizer");
        EXPECT_EQ(tr["optimizer"]["name"], "adamw8bit");
        // 8-bit moments: about 2 bytes per parameter plus block scales, far below fp32's 8.
        EXPECT_LT(i64(tr["optimizer"]["state_bytes"]), 3 * i64(rec["model"]["trainable_params"]));
    }
    {
        SCOPED_TRACE("precision");
        EXPECT_EQ(tr["precision"], "bf16");
    }
    {
        SCOPED_TRACE("inference_engine");
        const json& ev = rec["evaluation"];
        EXPECT_EQ(ev["engine"], "packed");
        EXPECT_EQ(ev["batch_size"], 8);
        EXPECT_TRUE(ev["bucket_by_length"].get<bool>());
        EXPECT_EQ(ev["requested_precision"],
                  "int8");  // the engine's explicit dtype wins over bf16 training
        if (ev["precision"] == "int8") {
            EXPECT_EQ(ev["packed_linears"], 2 * 4 + 2);
            EXPECT_EQ(ev["linears"], json({{"packed-int8", 2 * 4 + 2}}));
        } else {
            // int8 unavailable in this build: the fallback is in run.json with its reason, never
            // silent.
            EXPECT_EQ(ev["precision"], "fp32");
            EXPECT_TRUE(has_fallback(rec, "inference_engine", "int8 -> fp32")) << rec["knobs"];
        }
    }
    {
        SCOPED_TRACE("grad_accum");
        EXPECT_EQ(tr["effective_batch_size"], 16);
        EXPECT_EQ(tr["micro_batch_size"], 8);
        EXPECT_GE(i64(tr["micro_batches"]), 2 * i64(tr["steps"]) - i64(tr["epochs_run"]));
    }
    {
        SCOPED_TRACE("early_stopping");
        EXPECT_TRUE(tr["early_stopped"].get<bool>());
        EXPECT_EQ(tr["epochs_run"], 2);
    }
    {
        SCOPED_TRACE("loader");
        EXPECT_EQ(tr["loader"]["workers_started"], 2);
        EXPECT_EQ(tr["loader"]["batches_inline"], 0);
        EXPECT_EQ(i64(tr["loader"]["batches_from_workers"]), i64(tr["micro_batches"]));
        EXPECT_FALSE(tr["loader"]["pinned"].get<bool>());  // CPU: nothing to pin for
        EXPECT_TRUE(has_fallback(rec, "loader", "pin_memory")) << rec["knobs"]["details"];
    }
    {
        SCOPED_TRACE("threads");
        EXPECT_EQ(rec["machine"]["threads"], 1);
    }
    {
        SCOPED_TRACE("validation batch stays V0's under inference_engine's batch 8");
        EXPECT_EQ(tr["validation_batch_size"], 32);
    }
}

TEST(Mechanisms, AdaptersEvaluateAsTrainedUnlessMergedAndTheTokenCacheHits) {
    const std::string cache = scratch("token_cache");
    stdfs::remove_all(cache);
    const std::string set_cache = "--set tokenizer.cache_dir=" + cache;

    TrainRun q = train("M2", set_cache);
    ASSERT_EQ(q.rc, 0) << q.out;
    {
        SCOPED_TRACE("lora + quantization (QLoRA)");
        const json& m = q.record["model"];
        auto lora = details(q.record, "lora");
        ASSERT_EQ(lora.size(), 1u);
        const int64_t adapter = i64(lora[0]["adapter_params"]);
        EXPECT_GT(adapter, 0);
        // Trained: the adapters plus the head and classifier, counted before the save merged them.
        EXPECT_GT(i64(m["trainable_params"]), adapter);
        EXPECT_LT(i64(m["trainable_params"]), i64(m["total_params"]) / 2);
        EXPECT_EQ(i64(m["trainable_params_after_merge"]), i64(m["trainable_params"]) - adapter);
        auto quant = details(q.record, "quantization");
        ASSERT_EQ(quant.size(), 1u);
        EXPECT_LT(i64(quant[0]["weight_bytes_after"]), i64(quant[0]["weight_bytes_before"]) / 4);
        // Evaluate ran on the NF4 base with its adapters, not on merged dense weights.
        const json& ev = q.record["evaluation"];
        EXPECT_FALSE(ev["adapters_merged"].get<bool>());
        // 3 layers: Wqkv and mlp.Wo adapted on NF4, attn.Wo and Wi NF4 only; head and classifier
        // stay dense.
        EXPECT_EQ(ev["linears"], json({{"nf4+lora", 6}, {"nf4", 6}, {"dense", 2}}));
        EXPECT_EQ(ev["engine"], "plain");
        // The frozen base's weights get no gradients: training costs less than three forward
        // passes, more than one (the adapters' and the activations' gradients).
        EXPECT_EQ(q.record["model_flops"]["train"]["trained"], "adapters");
        EXPECT_LT(train_flops_ratio(q.record), 2.5) << q.record["model_flops"];
        EXPECT_GT(train_flops_ratio(q.record), 1.5) << q.record["model_flops"];
    }
    {
        SCOPED_TRACE("tokenizer_cache, first run");
        EXPECT_FALSE(q.record["data"]["token_cache"]["hit"].get<bool>());
        EXPECT_EQ(q.record["data"]["token_cache"]["splits"], json({"miss", "miss", "miss"}));
    }

    // Damage one of the three entries: the second run must hit the other two and re-encode that
    // split, and say so (a rejected entry is a recorded fallback, not only a log line).
    std::vector<std::string> entries;
    for (const auto& e : stdfs::directory_iterator(cache)) {
        entries.push_back(e.path().string());
    }
    ASSERT_EQ(entries.size(), 3u);
    std::sort(entries.begin(), entries.end());
    std::ofstream(entries[0], std::ios::app) << "trailing garbage";

    TrainRun l = train("M3", set_cache);
    ASSERT_EQ(l.rc, 0) << l.out;
    {
        SCOPED_TRACE("tokenizer_cache, second run");
        const json& splits = l.record["data"]["token_cache"]["splits"];
        EXPECT_EQ(std::count(splits.begin(), splits.end(), json("hit")), 2) << splits;
        EXPECT_EQ(std::count(splits.begin(), splits.end(), json("miss")), 1) << splits;
        EXPECT_FALSE(l.record["data"]["token_cache"]["hit"].get<bool>());  // not every split
        EXPECT_TRUE(has_fallback(l.record, "tokenizer_cache", "rejected"))
            << l.record["knobs"]["details"];
    }
    {
        SCOPED_TRACE("lora.merge");
        const json& ev = l.record["evaluation"];
        EXPECT_TRUE(ev["adapters_merged"].get<bool>());
        EXPECT_EQ(ev["linears"], json({{"dense", 3 * 4 + 2}}));  // unmerged: 12 "lora" + 2 dense
        const json& m = l.record["model"];
        EXPECT_GT(i64(m["trainable_params"]), i64(m["trainable_params_after_merge"]));
    }
    stdfs::remove_all(cache);
}

TEST(Mechanisms, CompiledEvaluationRunsInTheDeclaredPrecisionAndBatchesAreGrouped) {
    // Long enough that samples differ in length (at 64 tokens nearly every Juliet function is
    // truncated).
    TrainRun r = train("M4", "--set tokenizer.max_length=256");
    ASSERT_EQ(r.rc, 0) << r.out;
    {
        SCOPED_TRACE("group_by_length");
        const json& tr = r.record["train"];
        EXPECT_LT(i64(tr["padded_tokens"]), i64(tr["padded_tokens_without_grouping"]));
    }
    const json& ev = r.record["evaluation"];
    EXPECT_EQ(ev["engine"], "plain+torchscript");
    EXPECT_EQ(r.record["train"]["precision"], "bf16");
    EXPECT_EQ(ev["precision"], "bf16");  // V27: train.precision bf16 -> evaluation bf16
    // Training ran the fused GeGLU in bf16; the traced evaluation records LibTorch's ops (a trace
    // cannot hold the raw kernel).
    EXPECT_EQ(r.record["mlp"]["geglu_kernel"], "fused-cpu") << r.record["mlp"];
    EXPECT_EQ(r.record["mlp"]["evaluate_geglu_kernel"], "aten") << r.record["mlp"];
    // bf16 products: where LibTorch's bf16 GEMM is its reference loop, the default (auto) takes the
    // fp32 GEMM, needs no warning, and the record says so; the trace holds that path's own ops
    // (widen, fp32 GEMM, round). A forced libtorch path there warns.
    const std::string matmul = r.record["machine"]["runtime"]["cpu_bf16_matmul"];
    const auto warned = [](const json& record) {
        return std::any_of(record["knobs"]["details"].begin(), record["knobs"]["details"].end(),
                           [](const json& d) {
                               return d["name"] == "precision" && d["params"].contains("warning");
                           });
    };
    EXPECT_FALSE(warned(r.record)) << r.record["knobs"]["details"];
    EXPECT_EQ(r.record["bf16_matmul"]["setting"], "auto");
    EXPECT_EQ(r.record["bf16_matmul"]["train"], matmul == "reference" ? "fp32-gemm" : "libtorch")
        << matmul << " " << r.record["bf16_matmul"];
    EXPECT_EQ(r.record["bf16_matmul"]["evaluate"], r.record["bf16_matmul"]["train"]);
    if (matmul == "reference") {
        TrainRun forced = train("M4", "--set model.bf16_matmul=libtorch");
        ASSERT_EQ(forced.rc, 0) << forced.out;
        EXPECT_TRUE(warned(forced.record)) << forced.record["knobs"]["details"];
        EXPECT_EQ(forced.record["bf16_matmul"]["train"], "libtorch");
    }
    EXPECT_GE(ev["torchscript"]["traces"].get<int>(), 1);
    const auto steps = ev["torchscript"]["steps"].get<std::vector<std::string>>();
    ASSERT_FALSE(steps.empty());
    EXPECT_EQ(steps[0], "trace");
    // Every step after the trace either ran or is a recorded fallback with its reason.
    for (size_t i = 1; i < steps.size(); ++i) {
        if (has(steps[i], "skipped")) {
            EXPECT_TRUE(has_fallback(r.record, "compile", steps[i].substr(0, steps[i].find(' '))))
                << r.record["knobs"]["details"];
        }
    }
}

TEST(Mechanisms, PowerLimitIsEnforcedOrTheRunIsSkippedWithTheReason) {
    TrainRun r = train("M5");
    if (r.rc == 3) {
        EXPECT_EQ(r.record["status"], "skipped");
        EXPECT_FALSE(r.record["error"].get<std::string>().empty());
        return;
    }
    ASSERT_EQ(r.rc, 0) << r.out;
    auto d = details(r.record, "power_limit");
    ASSERT_EQ(d.size(), 1u);
    ASSERT_FALSE(d[0]["limits"].empty());
    for (const auto& lim : d[0]["limits"]) {
        EXPECT_LE(lim["enforced_w"].get<double>(), 100.0);
    }
}

}  // namespace
