// `greenknobs corpus`: builds a pretraining corpus of C/C++ from source tarballs or directories
// into JSON Lines {"text","source","path"} plus a stats JSON beside it (docs/corpus.md). Streams:
// the corpus is never held in memory whole.
#ifdef GK_HAVE_CORPUS

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "greenknobs/corpus/corpus.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/progress.h"

#include "command.h"

namespace {

struct CorpusCliOptions {
    std::vector<std::string> sources;
    bool debian = false;
    std::vector<std::string> decontaminate;
    bool no_decontaminate = false;
    std::string out;
    std::string granularity = "function";
    uint64_t max_bytes = 0;
    uint64_t min_doc_bytes = 0;
    uint64_t max_doc_bytes = 0;
    uint64_t max_member_bytes = 0;
    double sample = 1.0;
    uint64_t seed = 0;
    std::vector<std::string> extensions;
    double near_threshold = 0.8;
    bool no_dedup = false;
};

// NAME=PATH[:LICENSE]: the licence is what follows the last ':' when it holds no '/'.
gk::corpus::Source parse_source(const std::string& arg) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) {
        throw gk::InputError("--source", arg, "expected NAME=PATH[:LICENSE]");
    }
    gk::corpus::Source s;
    s.name = arg.substr(0, eq);
    s.path = arg.substr(eq + 1);
    const size_t colon = s.path.rfind(':');
    if (colon != std::string::npos && s.path.find('/', colon) == std::string::npos) {
        s.license = s.path.substr(colon + 1);
        s.path = s.path.substr(0, colon);
    }
    if (s.license.empty()) {
        s.license = gk::corpus::known_license(s.path);
    }
    if (s.license.empty()) {
        s.license = "unknown";
        gk::log::warn("corpus: no licence given for source '" + s.name +
                      "' (add it as NAME=PATH:LICENSE); recorded as 'unknown'");
    }
    return s;
}

std::string mb(int64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
    return buf;
}

int run_corpus(const CorpusCliOptions& cli) {
    gk::corpus::Options o;
    if (cli.debian) {
        for (const auto& d : gk::corpus::debian_sources()) {
            if (!gk::fs::exists(d.source.path)) {
                throw gk::InputError(
                    d.source.path, "",
                    "missing: install the Debian package " + d.package + " (`make corpus` does)");
            }
            o.sources.push_back(d.source);
        }
    }
    for (const std::string& s : cli.sources) {
        o.sources.push_back(parse_source(s));
    }
    if (o.sources.empty()) {
        throw gk::InputError("--source", "", "give at least one --source NAME=PATH or --debian");
    }
    if (cli.decontaminate.empty() && !cli.no_decontaminate) {
        throw gk::InputError("--decontaminate", "",
                             "give the fine-tuning data files to decontaminate against (e.g. "
                             "data/juliet/juliet_functions.csv data/bigvul/bigvul_subset.csv), "
                             "or --no-decontaminate");
    }
    o.decontaminate = cli.decontaminate;
    o.granularity = cli.granularity;
    o.max_total_bytes = cli.max_bytes;
    if (cli.min_doc_bytes > 0) {
        o.min_doc_bytes = cli.min_doc_bytes;
    }
    if (cli.max_doc_bytes > 0) {
        o.max_doc_bytes = cli.max_doc_bytes;
    }
    if (cli.max_member_bytes > 0) {
        o.max_member_bytes = cli.max_member_bytes;
    }
    o.sample_fraction = cli.sample;
    o.seed = cli.seed;
    if (!cli.extensions.empty()) {
        o.extensions = cli.extensions;
    }
    o.near_threshold = cli.near_threshold;
    o.dedup = !cli.no_dedup;

    for (const auto& s : o.sources) {
        gk::log::info("corpus: source " + s.name + " = " + s.path + " (" + s.license + ")");
    }
    gk::corpus::JsonlWriter writer(cli.out);
    std::unique_ptr<gk::Progress> bar;
    auto progress = [&](const gk::corpus::Progress& p) {
        if (!bar) {
            bar = std::make_unique<gk::Progress>("corpus MB", p.input_total_bytes / 1000000);
        }
        bar->update(p.input_done_bytes / 1000000,
                    p.source + " (" + std::to_string(p.source_index + 1) + "/" +
                        std::to_string(p.sources) + ") " + std::to_string(p.documents) + " docs " +
                        mb(p.bytes));
    };
    const gk::corpus::Stats st = gk::corpus::build_streaming(
        o, [&](gk::corpus::Document&& d) { writer.write(d); }, progress);
    if (bar) {
        bar->finish();
    }
    writer.close(st);

    std::printf("%-10s %9s %9s %9s %10s %7s %6s %6s  %s\n", "source", "members", "read", "docs",
                "text", "exact", "near", "cont.", "licence");
    for (const auto& s : st.sources) {
        std::printf("%-10s %9lld %9lld %9lld %10s %7lld %6lld %6lld  %s\n", s.name.c_str(),
                    static_cast<long long>(s.members_matched),
                    static_cast<long long>(s.members_read), static_cast<long long>(s.documents),
                    mb(s.bytes).c_str(), static_cast<long long>(s.removed_exact),
                    static_cast<long long>(s.removed_near),
                    static_cast<long long>(s.removed_containment), s.license.c_str());
    }
    for (const auto& d : st.decontamination) {
        std::printf(
            "decontamination %s: %lld texts (%lld distinct) -> removed %lld exact, %lld "
            "near, %lld containment\n",
            d.path.c_str(), static_cast<long long>(d.texts), static_cast<long long>(d.distinct),
            static_cast<long long>(d.removed_exact), static_cast<long long>(d.removed_near),
            static_cast<long long>(d.removed_containment));
    }
    // ModernBERT's tokenizer gave 2.43 bytes/token on a 5,000-document sample of the default corpus
    // (docs/perf/corpus.md); C with tabs and long identifiers packs fewer bytes per token than
    // prose.
    constexpr double kBytesPerToken = 2.43;
    std::printf(
        "wrote %s: %lld documents, %s (~%.0f M ModernBERT tokens at %.2f bytes/token)%s in %s\n",
        cli.out.c_str(), static_cast<long long>(st.documents), mb(st.bytes).c_str(),
        static_cast<double>(st.bytes) / kBytesPerToken / 1e6, kBytesPerToken,
        st.truncated ? ", stopped at --max-bytes" : "", gk::format_duration(st.duration_s).c_str());
    std::printf("stats: %s\n", gk::corpus::stats_path_for(cli.out).c_str());
    return 0;
}

gk::app::Registrar reg("corpus", 45, [](CLI::App& app) -> gk::app::RunFn {
    auto* sub = app.add_subcommand(
        "corpus",
        "Build a C/C++ pretraining corpus (JSON Lines) from source tarballs or directories");
    auto opt = std::make_shared<CorpusCliOptions>();
    sub->add_option(
        "--source", opt->sources,
        "NAME=PATH[:LICENSE]: a tarball (.tar.xz/.tar.gz/.tar.bz2/.tar) or a directory; "
        "repeatable, read in the order given");
    sub->add_flag(
        "--debian", opt->debian,
        "add the Debian source packages' tarballs under /usr/src (linux, glibc, binutils, "
        "gcc; `make corpus` installs them)");
    sub->add_option(
           "--decontaminate", opt->decontaminate,
           "fine-tuning data (CSV/JSONL with func_before/func_after/text) whose texts must "
           "not appear in the corpus")
        ->check(CLI::ExistingFile);
    sub->add_flag("--no-decontaminate", opt->no_decontaminate, "build without decontamination");
    sub->add_option("--out", opt->out,
                    "output JSON Lines; stats go to <out minus .jsonl>.stats.json")
        ->required();
    sub->add_option("--granularity", opt->granularity, "function or file")
        ->check(CLI::IsMember({"function", "file"}));
    sub->add_option("--max-bytes", opt->max_bytes,
                    "stop once this much text is kept (0 = all; 1GB ok)")
        ->transform(CLI::AsSizeValue(false));
    sub->add_option("--min-doc-bytes", opt->min_doc_bytes, "drop shorter documents (default 64)")
        ->transform(CLI::AsSizeValue(false));
    sub->add_option("--max-doc-bytes", opt->max_doc_bytes, "drop longer documents (default 64KiB)")
        ->transform(CLI::AsSizeValue(false));
    sub->add_option("--max-member-bytes", opt->max_member_bytes,
                    "skip larger files unread (default 8MiB)")
        ->transform(CLI::AsSizeValue(false));
    sub->add_option("--sample", opt->sample, "fraction of files kept, by a seeded hash of the path")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--seed", opt->seed, "seed of --sample");
    sub->add_option("--extensions", opt->extensions, "file extensions (default .c,.cc,.cpp,.h)")
        ->delimiter(',');
    sub->add_option("--near-threshold", opt->near_threshold,
                    "Jaccard of token 5-shingles at or above which a document nearly matches a "
                    "fine-tuning text (default 0.8)")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_flag("--no-dedup", opt->no_dedup, "keep exact repeats inside the corpus");
    return [opt]() -> int { return run_corpus(*opt); };
});

}  // namespace

#endif  // GK_HAVE_CORPUS
