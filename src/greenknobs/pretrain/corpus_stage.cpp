// The load_corpus stage (see corpus_stage.h): gk::corpus builds or reloads the documents.
#include "greenknobs/pretrain/corpus_stage.h"

#include <memory>

#include "greenknobs/corpus/corpus.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/progress.h"

namespace gk::pretrain {
namespace {

// "NAME=PATH[:LICENSE]", or "debian" for the four Debian source packages `make corpus` installs.
std::vector<corpus::Source> parse_sources(const std::vector<std::string>& specs) {
    std::vector<corpus::Source> out;
    for (const auto& spec : specs) {
        if (spec == "debian") {
            for (const auto& d : corpus::debian_sources()) {
                out.push_back(d.source);
            }
            continue;
        }
        const size_t eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
            throw InputError("corpus.sources", spec, "expected NAME=PATH[:LICENSE] or debian");
        }
        corpus::Source s;
        s.name = spec.substr(0, eq);
        std::string rest = spec.substr(eq + 1);
        const size_t colon = rest.find(':');
        s.path = rest.substr(0, colon);
        s.license =
            colon == std::string::npos ? corpus::known_license(s.path) : rest.substr(colon + 1);
        out.push_back(s);
    }
    return out;
}

CorpusDocs from_corpus(corpus::Corpus&& built, const std::string& origin) {
    CorpusDocs d;
    std::string digest_input;
    d.texts.reserve(built.docs.size());
    for (auto& doc : built.docs) {
        if (doc.text.empty()) {
            continue;
        }
        d.bytes += static_cast<int64_t>(doc.text.size());
        digest_input += std::to_string(doc.text.size()) + ":" + doc.text;
        d.texts.push_back(std::move(doc.text));
    }
    if (d.texts.empty()) {
        throw InputError(origin, "", "no documents");
    }
    d.digest = sha256_hex(digest_input);
    d.stats = built.stats.to_json();
    d.stats["origin"] = origin;
    return d;
}

}  // namespace

CorpusDocs load_corpus_docs(const CorpusConfig& c) {
    if (!c.jsonl.empty()) {
        return from_corpus(corpus::read_jsonl(c.jsonl), c.jsonl);
    }
    corpus::Options o;
    o.sources = parse_sources(c.sources);
    o.granularity = c.granularity;
    o.max_total_bytes = static_cast<uint64_t>(c.max_bytes);
    o.sample_fraction = c.sample_fraction;
    o.decontaminate = c.decontaminate;
    std::unique_ptr<Progress> bar;
    auto progress = [&bar](const corpus::Progress& p) {
        if (!bar) {
            bar = std::make_unique<Progress>("corpus",
                                             std::max<int64_t>(1, p.input_total_bytes / 1000000));
        }
        bar->update(p.input_done_bytes / 1000000,
                    p.source + ": " + std::to_string(p.documents) + " documents");
    };
    corpus::Corpus built = corpus::build(o, progress);
    if (bar) {
        bar->finish();
    }
    return from_corpus(std::move(built), "corpus.sources");
}

}  // namespace gk::pretrain
