// PretrainConfig (see config.h).
#include "greenknobs/pretrain/config.h"

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

namespace gk::pretrain {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CorpusConfig, jsonl, sources, decontaminate,
                                                granularity, max_bytes, sample_fraction,
                                                heldout_fraction)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TokenizerConfig, path, max_length, threads)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelConfig, preset, init_from)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainConfig, mask_prob, batch_size, grad_accum, lr,
                                                weight_decay, warmup_steps, max_steps,
                                                max_grad_norm, precision, optimizer, seed,
                                                eval_every, eval_rows, checkpoint_every,
                                                keep_checkpoints)

namespace {

void require(bool ok, const std::string& origin, const std::string& key, const std::string& what) {
    if (!ok) {
        throw InputError(origin, key, what);
    }
}

// The system and energy sections are the fine-tuning run's own (one schema, one validation).
nlohmann::json run_section(const config::RunConfig& rc, const char* key) {
    return config::to_json(rc)[key];
}

}  // namespace

nlohmann::json to_json(const PretrainConfig& c) {
    config::RunConfig rc;
    rc.system = c.system;
    rc.energy = c.energy;
    return {{"name", c.name},
            {"corpus", c.corpus},
            {"tokenizer", c.tokenizer},
            {"model", c.model},
            {"train", c.train},
            {"system", run_section(rc, "system")},
            {"energy", run_section(rc, "energy")}};
}

PretrainConfig from_json(const nlohmann::json& j, const std::string& origin) {
    nlohmann::json merged = to_json(PretrainConfig{});
    config::merge_json(merged, j, origin);
    PretrainConfig c;
    c.name = merged["name"].get<std::string>();
    c.corpus = merged["corpus"].get<CorpusConfig>();
    c.tokenizer = merged["tokenizer"].get<TokenizerConfig>();
    c.model = merged["model"].get<ModelConfig>();
    c.train = merged["train"].get<TrainConfig>();
    nlohmann::json run = config::to_json(config::RunConfig{});
    run["system"] = merged["system"];
    run["energy"] = merged["energy"];
    config::RunConfig rc = config::from_json(run, origin);  // validates system and energy
    c.system = rc.system;
    c.energy = rc.energy;
    validate(c, origin);
    return c;
}

PretrainConfig load_toml(const std::string& path) {
    return from_json(config::toml_to_json(fs::read_file(path), path), path);
}

void apply_set(PretrainConfig& c, const std::string& assignment) {
    nlohmann::json j = to_json(c);
    config::apply_set_json(j, assignment);
    c = from_json(j, "--set");
}

void validate(const PretrainConfig& c, const std::string& origin) {
    const auto& t = c.train;
    require(c.corpus.jsonl.empty() != c.corpus.sources.empty(), origin, "corpus",
            "set exactly one of corpus.jsonl (a built corpus) and corpus.sources");
    require(c.corpus.granularity == "function" || c.corpus.granularity == "file", origin,
            "corpus.granularity", "expected function or file");
    require(c.corpus.max_bytes >= 0, origin, "corpus.max_bytes", "must be >= 0");
    require(c.corpus.sample_fraction > 0 && c.corpus.sample_fraction <= 1, origin,
            "corpus.sample_fraction", "must be in (0, 1]");
    require(c.corpus.heldout_fraction > 0 && c.corpus.heldout_fraction < 0.5, origin,
            "corpus.heldout_fraction", "must be in (0, 0.5)");
    require(c.tokenizer.max_length >= 8 && c.tokenizer.max_length <= 8192, origin,
            "tokenizer.max_length", "must be in [8, 8192]");
    require(c.tokenizer.threads >= 0, origin, "tokenizer.threads", "must be >= 0");
    require(t.mask_prob > 0 && t.mask_prob < 1, origin, "train.mask_prob", "must be in (0, 1)");
    require(t.batch_size >= 1, origin, "train.batch_size", "must be >= 1");
    require(t.grad_accum >= 1, origin, "train.grad_accum", "must be >= 1");
    require(t.lr > 0, origin, "train.lr", "must be > 0");
    require(t.weight_decay >= 0, origin, "train.weight_decay", "must be >= 0");
    require(t.max_steps >= 1, origin, "train.max_steps", "must be >= 1");
    require(t.warmup_steps >= 0 && t.warmup_steps < t.max_steps, origin, "train.warmup_steps",
            "must be in [0, max_steps)");
    require(t.max_grad_norm >= 0, origin, "train.max_grad_norm", "must be >= 0 (0 = no clipping)");
    require(t.precision == "fp32" || t.precision == "bf16", origin, "train.precision",
            "expected fp32 or bf16");
    require(t.optimizer == "adamw", origin, "train.optimizer",
            "expected adamw (the optimizer whose state checkpoints save)");
    require(t.eval_every >= 1, origin, "train.eval_every", "must be >= 1");
    require(t.eval_rows >= 1, origin, "train.eval_rows", "must be >= 1");
    require(t.checkpoint_every >= 1, origin, "train.checkpoint_every", "must be >= 1");
    require(t.keep_checkpoints >= 1, origin, "train.keep_checkpoints", "must be >= 1");
}

std::string to_toml(const PretrainConfig& c) { return config::json_to_toml(to_json(c)); }

std::string config_hash(const PretrainConfig& c) {
    // What is learned, not where: the name, the device/threads and the meter's settings may change
    // between invocations of a resumed run (e.g. continue on a GPU).
    nlohmann::json j = to_json(c);
    j.erase("name");
    j.erase("system");
    j.erase("energy");
    return sha256_hex(j.dump());
}

}  // namespace gk::pretrain
