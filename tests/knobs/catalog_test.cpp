// The variant catalogs: paper.toml has V0-V30 with the paper's names, every variant resolves,
// single-knob variants change only their knob's fields, combinations equal the union of what they
// combine, the paper's confounds are gone (V2 targets, V10 precision, V23 batch), and malformed
// catalogs name file and variant.
#include "greenknobs/knobs/catalog.h"

#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "greenknobs/knobs/capabilities.h"
#include "greenknobs/knobs/knob.h"
#include "greenknobs/util/error.h"

#include "../common/errors.h"
#include "config_diff.h"

using gk::InputError;
using nlohmann::json;
using namespace gk::knobs;
using namespace gk::config;

namespace {

const std::string kPaper = std::string(GK_SOURCE_DIR) + "/variants/paper.toml";
const std::string kQuick = std::string(GK_SOURCE_DIR) + "/variants/quick.toml";

// Table I's descriptions (the paper's names), V0..V30.
const std::vector<std::string> kPaperNames = {"Baseline (ModernBERT)",
                                              "Gradient Checkpointing",
                                              "LoRA PEFT",
                                              "Quantization",
                                              "Tokenizer Optimization",
                                              "Power-Limit (100 W)",
                                              "Optimizer Tuning",
                                              "FP16 Training",
                                              "Sequence-Length Trim",
                                              "Inference Engine",
                                              "Data-Loader Pin-Mem",
                                              "Torch Compile",
                                              "Attention Optimization",
                                              "Layer Pruning (4 Top)",
                                              "Layer Pruning (4 Bottom)",
                                              "Layer Pruning (8 Top)",
                                              "Layer Pruning (8 Bottom)",
                                              "Layer Pruning (12 Top)",
                                              "Layer Pruning (12 Bottom)",
                                              "Layer Pruning (16 Top)",
                                              "Layer Pruning (16 Bottom)",
                                              "Layer Pruning (20 Top)",
                                              "Layer Pruning (20 Bottom)",
                                              "Attn+Pin-Mem+Opt8+GradAcc",
                                              "Inf+GradCkpt+LoRA+FP16",
                                              "GradAcc+FP16+Checkpoint",
                                              "Prune12B+Seq-Len+Compile",
                                              "Torch Compile + FP16",
                                              "Prune12B + Compile + FP16",
                                              "Attn+Pin-Mem+Opt8",
                                              "Optimal"};

using gk::testing::error_of;

bool has(const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
}

using gk::testing::changed_keys;

// The RunConfig fields a variant's knobs may set (their parameters' keys plus the knobs' switches).
std::set<std::string> allowed_keys(const Variant& v) {
    std::set<std::string> keys;
    for (auto it = v.knobs.begin(); it != v.knobs.end(); ++it) {
        for (const auto& p : find_knob(it.key()).params) {
            keys.insert(p.config_key);
        }
        if (it.key() == "lora") {
            keys.insert("lora.enabled");
        }
        if (it.key() == "inference_engine") {
            keys.insert("inference.engine");
        }
        if (it.key() == "grad_accum") {
            keys.insert("train.batch_size");
        }
    }
    return keys;
}

std::string write_tmp(const std::string& name, const std::string& text) {
    std::string path = testing::TempDir() + name;
    std::ofstream(path) << text;
    return path;
}

const char* kMiniHead = R"(
[[variant]]
id = "V0"
name = "Baseline"
phase = "baseline"
baseline = true
differs_from_paper = "-"
)";

}  // namespace

TEST(Catalog, PaperHasV0ToV30WithThePapersNames) {
    Catalog cat = load_catalog(kPaper);
    EXPECT_EQ(cat.path, kPaper);
    for (size_t i = 0; i < kPaperNames.size(); ++i) {
        const std::string id = "V" + std::to_string(i);
        const Variant& v = cat.find(id);
        EXPECT_EQ(v.name, kPaperNames[i]) << id;
        EXPECT_EQ(v.paper_id, id);
        EXPECT_FALSE(v.differs_from_paper.empty()) << id;
    }
    EXPECT_EQ(cat.baseline().id, "V0");
    for (const auto& v : cat.variants) {  // extras beyond the paper are marked as such
        if (v.paper_id.empty()) {
            EXPECT_TRUE(has(v.differs_from_paper, "not a paper variant")) << v.id;
        }
    }
}

TEST(Catalog, EveryVariantResolvesToAValidConfig) {
    for (const auto& path : {kPaper, kQuick}) {
        Catalog cat = load_catalog(path);
        for (const auto& v : cat.variants) {
            RunConfig c = resolve(cat, v.id);
            EXPECT_EQ(c.name, v.id);
            EXPECT_NO_THROW(validate(c, "test")) << v.id;
            EXPECT_EQ(c.knobs.size(), v.knobs.size()) << v.id;
            // The resolved config survives the TOML round trip the study runner uses.
            RunConfig back = from_json(to_json(c), "roundtrip");
            EXPECT_EQ(config_hash(back), config_hash(c)) << v.id;
        }
    }
}

TEST(Catalog, BaselineIsTheCpuBaseline) {
    Catalog cat = load_catalog(kPaper);
    RunConfig v0 = resolve(cat, "V0");
    EXPECT_EQ(v0.model.preset, "cpu-small");
    EXPECT_EQ(v0.tokenizer.max_length, 512);
    EXPECT_EQ(v0.train.precision, gk::config::Precision::kFp32);
    EXPECT_EQ(v0.model.attention, gk::config::Attention::kEager);
    EXPECT_EQ(v0.tokenizer.threads, 1);
    EXPECT_FALSE(v0.tokenizer.cache);
    EXPECT_TRUE(v0.knobs.empty());
    EXPECT_EQ(config_hash(v0), config_hash(cat.base));
}

TEST(Catalog, SingleKnobVariantsChangeOnlyTheirKnobsFields) {
    Catalog cat = load_catalog(kPaper);
    RunConfig v0 = resolve(cat, "V0");
    for (const auto& v : cat.variants) {
        if (v.baseline || v.is_combination()) {
            continue;
        }
        std::set<std::string> changed = changed_keys(v0, resolve(cat, v.id));
        std::set<std::string> allowed = allowed_keys(v);
        EXPECT_FALSE(changed.empty()) << v.id << " changes nothing";
        for (const auto& k : changed) {
            EXPECT_EQ(allowed.count(k), 1u) << v.id << " changes " << k;
        }
    }
}

TEST(Catalog, CombinesNameSingleKnobVariantsAndEqualTheirUnion) {
    for (const auto& path : {kPaper, kQuick}) {
        Catalog cat = load_catalog(path);
        int combinations = 0;
        for (const auto& v : cat.variants) {
            if (!v.is_combination()) {
                continue;
            }
            ++combinations;
            Variant united;
            united.id = v.id;
            united.knobs = json::object();
            for (const auto& id : v.combines) {
                const Variant& part = cat.find(id);  // throws if missing
                EXPECT_FALSE(part.baseline) << v.id << " combines the baseline";
                EXPECT_FALSE(part.is_combination()) << v.id << " combines combination " << id;
                for (auto it = part.knobs.begin(); it != part.knobs.end(); ++it) {
                    united.knobs[it.key()] = it.value();
                }
            }
            EXPECT_EQ(canonical_json(resolve(cat.base, united, "united")),
                      canonical_json(resolve(cat, v.id)))
                << v.id << " is not the union of " << v.combines.size() << " variants";
        }
        EXPECT_GT(combinations, 0) << path;
    }
    Catalog cat = load_catalog(kPaper);
    EXPECT_EQ(
        cat.find("V30").combines,
        (std::vector<std::string>{"V1", "V2", "V4", "V6", "V7", "V8", "V9", "V10", "V12", "V21"}));
    EXPECT_EQ(cat.find("V23").combines, (std::vector<std::string>{"V12", "V10", "V6", "X1"}));
    EXPECT_EQ(cat.find("V26").combines, (std::vector<std::string>{"V18", "V8", "V11"}));
    for (int i = 23; i <= 30; ++i) {
        EXPECT_TRUE(cat.find("V" + std::to_string(i)).is_combination()) << i;
    }
}

TEST(Catalog, PaperConfoundsFixed) {
    Catalog cat = load_catalog(kPaper);
    RunConfig v0 = resolve(cat, "V0");

    // V2: LoRA on ModernBERT's real projections, nothing else.
    RunConfig v2 = resolve(cat, "V2");
    EXPECT_TRUE(v2.lora.enabled);
    EXPECT_EQ(v2.lora.targets,
              (std::vector<std::string>{"attn.Wqkv", "attn.Wo", "mlp.Wi", "mlp.Wo"}));
    EXPECT_EQ(v2.train.precision, v0.train.precision);
    EXPECT_EQ(v2.model.attention, v0.model.attention);
    for (const char* id : {"V24", "V30"}) {
        EXPECT_EQ(resolve(cat, id).lora.targets, v2.lora.targets) << id;
    }

    // V3: NF4 + LoRA, not five changes.
    RunConfig v3 = resolve(cat, "V3");
    EXPECT_EQ(v3.quantization.bits, 4);
    EXPECT_TRUE(v3.lora.enabled);
    EXPECT_FALSE(v3.train.grad_checkpointing);
    EXPECT_FALSE(v3.train.group_by_length);
    EXPECT_EQ(v3.train.precision, v0.train.precision);

    // V4: a real data-phase change.
    RunConfig v4 = resolve(cat, "V4");
    EXPECT_TRUE(v4.tokenizer.cache);
    EXPECT_NE(v4.tokenizer.threads, v0.tokenizer.threads);

    // V5: a real power limit.
    EXPECT_GT(resolve(cat, "V5").system.power_limit_w, 0);

    // V7: bf16 on this CPU catalog; fp16 when the base runs on CUDA.
    EXPECT_EQ(resolve(cat, "V7").train.precision, gk::config::Precision::kBf16);
    Catalog on_cuda = cat;
    on_cuda.base.system.device = gk::config::Device::kCuda;
    EXPECT_EQ(resolve(on_cuda, "V7").train.precision, gk::config::Precision::kFp16);
    EXPECT_EQ(resolve(on_cuda, "V9").inference.dtype, gk::config::EvalDtype::kBf16);

    // V8 trims by the paper's ratio.
    EXPECT_EQ(resolve(cat, "V8").tokenizer.max_length * 4, v0.tokenizer.max_length);

    // V9: the packed engine, training untouched.
    RunConfig v9 = resolve(cat, "V9");
    EXPECT_EQ(v9.inference.engine, gk::config::Engine::kPacked);
    EXPECT_EQ(v9.inference.dtype, gk::config::EvalDtype::kInt8);
    EXPECT_EQ(v9.train.precision, v0.train.precision);

    // V10: workers + pin memory only; precision unchanged (the paper's hid fp16).
    RunConfig v10 = resolve(cat, "V10");
    EXPECT_EQ(v10.train.precision, v0.train.precision);
    EXPECT_EQ(changed_keys(v0, v10),
              (std::set<std::string>{"train.loader_workers", "train.pin_memory"}));

    // V11: TorchScript (evaluation only).
    EXPECT_EQ(resolve(cat, "V11").train.compile, gk::config::Compile::kTorchscript);

    // V12: sdpa + unpad.
    RunConfig v12 = resolve(cat, "V12");
    EXPECT_EQ(v12.model.attention, gk::config::Attention::kSdpa);
    EXPECT_TRUE(v12.model.unpad);

    // V13-V22: 4/8/12/16/20 layers, top then bottom.
    for (int i = 13; i <= 22; ++i) {
        RunConfig p = resolve(cat, "V" + std::to_string(i));
        EXPECT_EQ(p.model.prune_layers, 4 * ((i - 13) / 2 + 1)) << i;
        EXPECT_EQ(p.model.prune_from,
                  (i - 13) % 2 == 0 ? gk::config::PruneFrom::kTop : gk::config::PruneFrom::kBottom)
            << i;
    }

    // V23/V25: honest accumulation, effective batch = V0's.
    for (const char* id : {"V23", "V25"}) {
        RunConfig ga = resolve(cat, id);
        EXPECT_EQ(ga.train.batch_size * ga.train.grad_accum,
                  v0.train.batch_size * v0.train.grad_accum)
            << id;
        EXPECT_EQ(ga.train.grad_accum, 2) << id;
        EXPECT_EQ(ga.train.batch_size, v0.train.batch_size / 2) << id;
    }
    EXPECT_EQ(resolve(cat, "V29").train.batch_size, v0.train.batch_size);

    // V30: without compile (as the paper ran), 2 layers left, the engine.
    RunConfig v30 = resolve(cat, "V30");
    EXPECT_EQ(v30.train.compile, gk::config::Compile::kNone);
    EXPECT_EQ(v30.model.prune_layers, 20);
    EXPECT_EQ(v30.model.prune_from, gk::config::PruneFrom::kTop);
    EXPECT_EQ(v30.inference.engine, gk::config::Engine::kPacked);
    EXPECT_TRUE(has(cat.find("V30").differs_from_paper, "without compile"));
}

TEST(Catalog, OnlyPowerLimitIsUnsupportedOnThisMachine) {
    Capabilities caps = detect_capabilities("cpu", /*cuda=*/false);
    std::set<std::string> unsupported;
    Catalog cat = load_catalog(kPaper);
    for (const auto& v : cat.variants) {
        for (const auto& [knob, why] : unsupported_knobs(resolve(cat, v.id), caps)) {
            unsupported.insert(knob);
            EXPECT_FALSE(why.reason.empty());
            EXPECT_EQ(v.id, "V5") << knob << ": " << why.reason;
        }
    }
    if (caps.cpu_power_limit) {
        EXPECT_TRUE(unsupported.empty());
    } else {
        EXPECT_EQ(unsupported, (std::set<std::string>{"power_limit"}));
    }
}

TEST(Catalog, QuickIsSmall) {
    Catalog cat = load_catalog(kQuick);
    RunConfig v0 = resolve(cat, "V0");
    EXPECT_EQ(v0.data.max_train_samples, 1500);
    EXPECT_EQ(v0.data.max_eval_samples, 1500);
    EXPECT_EQ(v0.train.epochs, 1);
    EXPECT_EQ(v0.tokenizer.max_length, 128);
    EXPECT_EQ(v0.model.init, gk::config::WeightsInit::kPretrained);
    std::set<std::string> phases;
    for (const auto& v : cat.variants) {
        phases.insert(v.phase);
    }
    // Every phase whose knobs this machine resolves in 3 repeats (docs/knobs.md, "The quick
    // study").
    for (const char* p : {"data", "model", "training", "inference"}) {
        EXPECT_EQ(phases.count(p), 1u) << p;
    }
    // At least one measured combination, so the report's interaction table has a row.
    bool combination = false;
    for (const auto& v : cat.variants) {
        combination = combination || !v.combines.empty();
    }
    EXPECT_TRUE(combination);
    EXPECT_LE(cat.variants.size(), 10u);
}

TEST(Catalog, FindUnknownNamesTheFile) {
    Catalog cat = load_catalog(kPaper);
    std::string msg = error_of([&] { cat.find("V31"); });
    EXPECT_TRUE(has(msg, "paper.toml")) << msg;
    EXPECT_TRUE(has(msg, "V31")) << msg;
    EXPECT_TRUE(has(msg, "V30")) << msg;
}

TEST(Catalog, MalformedCatalogsNameFileAndVariant) {
    struct Case {
        std::string body, expect1, expect2;
    };
    const std::string v1 =
        "[[variant]]\nid = \"V1\"\nname = \"One\"\nphase = \"training\"\n"
        "differs_from_paper = \"-\"\n";
    const std::vector<Case> cases = {
        {v1 + "knobs = { turbo = true }\n", "V1", "unknown knob"},
        {v1 + "knobs = { lora = { r = 0 } }\n", "V1:lora.r", "[1, 1024]"},
        {v1 + "knobs = { quantization = 4 }\n", "V1", "add the lora knob"},
        {v1 + "knobs = { precision = \"bf16\" }\nextra = 1\n", "V1.extra", "unknown key"},
        {"[[variant]]\nid = \"V1\"\nphase = \"training\"\ndiffers_from_paper = \"-\"\nknobs = { "
         "threads = 1 }\n",
         "V1.name", "missing"},
        {v1 + "knobs = { threads = 1 }\n" + v1 + "knobs = { threads = 2 }\n", "V1", "duplicate"},
        {"[[variant]]\nid = \"V1\"\nname = \"One\"\nphase = \"warp\"\ndiffers_from_paper = \"-\"\n"
         "knobs = { threads = 1 }\n",
         "V1.phase", "warp"},
        {v1 + "knobs = {}\n", "V1.knobs", "at least one knob"},
        {v1 + "knobs = { threads = 1 }\n"
              "[[variant]]\nid = \"C\"\nname = \"C\"\nphase = \"system\"\ndiffers_from_paper = "
              "\"-\"\n"
              "knobs = { threads = 1 }\ncombines = [\"V9\"]\n",
         "C.combines", "unknown variant 'V9'"},
        {v1 + "knobs = { threads = 1 }\n"
              "[[variant]]\nid = \"C\"\nname = \"C\"\nphase = \"system\"\ndiffers_from_paper = "
              "\"-\"\n"
              "knobs = { threads = 2 }\ncombines = [\"V1\"]\n",
         "C.knobs.threads", "differ from V1"},
        {v1 + "knobs = { threads = 1 }\n"
              "[[variant]]\nid = \"C\"\nname = \"C\"\nphase = \"system\"\ndiffers_from_paper = "
              "\"-\"\n"
              "knobs = { threads = 1, max_length = 64 }\ncombines = [\"V1\"]\n",
         "C.knobs.max_length", "no variant in combines"},
        {v1 + "knobs = { threads = 1, max_length = 64 }\n"
              "[[variant]]\nid = \"C\"\nname = \"C\"\nphase = \"system\"\ndiffers_from_paper = "
              "\"-\"\n"
              "knobs = { threads = 1 }\ncombines = [\"V1\"]\n",
         "C.knobs", "lacks knob max_length"},
        {v1 + "knobs = { threads = 1 }\n"
              "[[variant]]\nid = \"C\"\nname = \"C\"\nphase = \"system\"\ndiffers_from_paper = "
              "\"-\"\n"
              "knobs = { threads = 1 }\ncombines = [\"V0\"]\n",
         "C.combines", "not a single-knob variant"},
        {v1 + "knobs = { compile = \"torchscript\", attention = { unpad = true } }\n", "V1",
         "cannot be combined"},
    };
    for (const auto& tc : cases) {
        std::string path = write_tmp("bad_catalog.toml", std::string(kMiniHead) + tc.body);
        std::string msg = error_of([&] { load_catalog(path); });
        EXPECT_TRUE(has(msg, "bad_catalog.toml")) << msg;
        EXPECT_TRUE(has(msg, tc.expect1)) << "want '" << tc.expect1 << "' in: " << msg;
        EXPECT_TRUE(has(msg, tc.expect2)) << "want '" << tc.expect2 << "' in: " << msg;
    }
}

TEST(Catalog, MalformedCatalogStructure) {
    const std::string variant =
        "[[variant]]\nid = \"V1\"\nname = \"One\"\nphase = \"training\"\ndiffers_from_paper = "
        "\"-\"\n"
        "knobs = { threads = 1 }\n";
    struct Case {
        std::string text, expect;
    };
    const std::vector<Case> cases = {
        {variant, "exactly one baseline variant"},
        {"[base.train]\nbatchsize = 4\n" + std::string(kMiniHead), "base.train.batchsize"},
        {"[base]\nname = \"x\"\n" + std::string(kMiniHead), "base.name"},
        {std::string(kMiniHead) + "title = \"x\"\n", "unknown key"},
        {"description = \"nothing\"\n", "expected one or more [[variant]]"},
        {std::string(kMiniHead) + "[[variant]]\nid = \"V1\"\nname = 1\n", "V1.name"},
        {"[[variant]]\nid = \"V0\"\nname = \"B\"\nphase = \"data\"\nbaseline = "
         "true\ndiffers_from_paper = \"-\"\n",
         "V0.phase"},
        {std::string(kMiniHead) + "[[variant\n", "bad_structure.toml:"},
    };
    for (const auto& tc : cases) {
        std::string path = write_tmp("bad_structure.toml", tc.text);
        std::string msg = error_of([&] { load_catalog(path); });
        EXPECT_TRUE(has(msg, "bad_structure.toml")) << msg;
        EXPECT_TRUE(has(msg, tc.expect)) << "want '" << tc.expect << "' in: " << msg;
    }
    std::string msg = error_of([] { load_catalog("/nonexistent/catalog.toml"); });
    EXPECT_TRUE(has(msg, "/nonexistent/catalog.toml")) << msg;
}

TEST(Catalog, KnobOrderInTheFileDoesNotMatter) {
    const std::string head = std::string(kMiniHead);
    auto a =
        write_tmp("order_a.toml", head +
                                      "[[variant]]\nid = \"Q\"\nname = \"Q\"\nphase = \"model\"\n"
                                      "differs_from_paper = \"-\"\n[variant.knobs]\n"
                                      "quantization = 8\nlora = { r = 4 }\n");
    Catalog cat = load_catalog(a);
    RunConfig q = resolve(cat, "Q");
    EXPECT_EQ(q.quantization.bits, 8);
    EXPECT_EQ(q.lora.r, 4);
    EXPECT_EQ(q.knobs, (std::vector<std::string>{"lora", "quantization"}));
}
