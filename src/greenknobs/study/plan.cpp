// Plan construction: resolution of each variant and the seeded interleaving (see plan.h).
#include "greenknobs/study/plan.h"

#include <regex>
#include <set>

#include "greenknobs/study/command_catalog.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/log.h"

namespace gk::study {

namespace {

// splitmix64: tiny, well mixed, and fully specified (std::shuffle's draws differ between
// libraries).
struct SplitMix64 {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n) by rejection (no modulo bias).
    uint64_t below(uint64_t n) {
        const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        uint64_t x;
        do {
            x = next();
        } while (x >= limit);
        return x % n;
    }
};

}  // namespace

std::string PlannedRun::key() const { return run_key(variant, repeat); }

std::string run_key(const std::string& variant, int repeat) {
    return variant + "-r" + std::to_string(repeat);
}

std::vector<std::pair<std::string, int>> interleaved_order(const std::vector<std::string>& variants,
                                                           int repeats, uint64_t seed) {
    SplitMix64 rng{seed};
    std::vector<std::pair<std::string, int>> order;
    std::string last;
    for (int r = 0; r < repeats; ++r) {
        std::vector<std::string> block = variants;
        for (size_t i = block.size(); i > 1; --i) {
            std::swap(block[i - 1], block[rng.below(i)]);
        }
        if (block.size() > 1 && block.front() == last) {
            std::swap(block[0], block[1 + rng.below(block.size() - 1)]);
        }
        for (const auto& v : block) {
            order.emplace_back(v, r);
        }
        if (!block.empty()) {
            last = block.back();
        }
    }
    return order;
}

Plan make_plan(const PlanOptions& opt) {
    if (is_command_catalog(opt.catalog_path)) {
        return make_command_plan(opt);
    }
    if (opt.repeats < 1) {
        throw InputError("--repeats", std::to_string(opt.repeats), "expected at least 1");
    }
    Plan plan;
    plan.catalog = knobs::load_catalog(opt.catalog_path);
    plan.catalog_sha256 = sha256_file_hex(opt.catalog_path);
    plan.repeats = opt.repeats;

    if (opt.variants.empty()) {
        for (const auto& v : plan.catalog.variants) {
            plan.variants.push_back(v.id);
        }
    } else {
        // Catalog order whatever order they were given in, so the same set is the same study.
        std::set<std::string> wanted;
        for (const auto& id : opt.variants) {
            plan.catalog.find(id);  // InputError naming the catalog if unknown
            if (!wanted.insert(id).second) {
                throw InputError("--variants", id, "listed twice");
            }
        }
        for (const auto& v : plan.catalog.variants) {
            if (wanted.count(v.id)) {
                plan.variants.push_back(v.id);
            }
        }
    }
    if (plan.variants.empty()) {
        throw InputError(opt.catalog_path, "variant", "the catalog has no variants");
    }

    // --set tunes the base every variant starts from (device-dependent knob values follow
    // base.system.device); a variant's knobs are its identity and win over it: `--set
    // tokenizer.max_length=128` must not silently turn V8's trim into a no-op. Such a clash is
    // logged.
    knobs::ConfigSources sources;
    sources.catalog = &plan.catalog;
    sources.sets = opt.sets;
    const config::RunConfig base = knobs::resolve_sources(sources);
    plan.seed = opt.seed ? *opt.seed : static_cast<int64_t>(base.train.seed);
    if (plan.seed < 0) {
        throw InputError("--seed", std::to_string(plan.seed), "expected a non-negative integer");
    }

    std::vector<config::RunConfig> resolved;
    for (const auto& id : plan.variants) {
        sources.variant = id;
        config::RunConfig c = knobs::resolve_sources(sources);
        const nlohmann::json with_knobs = config::to_json(c);
        const nlohmann::json base_json = config::to_json(base);
        for (const auto& s : opt.sets) {
            const auto ptr = nlohmann::json::json_pointer(
                "/" + std::regex_replace(s.substr(0, s.find('=')), std::regex("\\."), "/"));
            if (with_knobs.contains(ptr) && base_json.contains(ptr) &&
                with_knobs.at(ptr) != base_json.at(ptr)) {
                log::warn("study: " + id + "'s knobs set " + s.substr(0, s.find('=')) + " = " +
                          with_knobs.at(ptr).dump() + "; --set " + s + " applies to the base only");
            }
        }
        if (opt.idle_s) {
            c.energy.idle_baseline_s = *opt.idle_s;
        }
        resolved.push_back(c);
    }

    int seq = 0;
    for (const auto& [variant, repeat] :
         interleaved_order(plan.variants, plan.repeats, static_cast<uint64_t>(plan.seed))) {
        size_t i = 0;
        while (plan.variants[i] != variant) {
            ++i;
        }
        PlannedRun run;
        run.seq = seq++;
        run.variant = variant;
        run.repeat = repeat;
        run.config = resolved[i];
        // Repeats must differ (the paper reran seed 42): repeat r trains with base seed + r.
        run.config.train.seed = static_cast<uint64_t>(plan.seed) + static_cast<uint64_t>(repeat);
        config::validate(run.config, opt.catalog_path + " (" + run.key() + ")");
        run.config_hash = config::config_hash(run.config);
        plan.runs.push_back(std::move(run));
    }
    return plan;
}

}  // namespace gk::study
