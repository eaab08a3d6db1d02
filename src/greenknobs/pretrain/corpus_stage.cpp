// The load_corpus stage (see corpus_stage.h).
#include "greenknobs/pretrain/corpus_stage.h"

#include <fstream>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

namespace gk::pretrain {
namespace {

// {"text": "..."} per line (other keys kept in the file, ignored here); a side file
// <path>.stats.json, when present, carries the corpus statistics.
CorpusDocs read_jsonl_corpus(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path, "", "cannot open the corpus file");
    }
    CorpusDocs d;
    std::string line, digest_input;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        const std::string where = path + ":" + std::to_string(line_no);
        if (!j.is_object()) {
            throw InputError(where, "", "expected one JSON object per line");
        }
        if (!j.contains("text") || !j["text"].is_string()) {
            throw InputError(where, "text", "expected a string");
        }
        std::string text = j["text"].get<std::string>();
        if (text.empty()) {
            continue;
        }
        d.bytes += static_cast<int64_t>(text.size());
        digest_input += std::to_string(text.size()) + ":" + text;
        d.texts.push_back(std::move(text));
    }
    if (d.texts.empty()) {
        throw InputError(path, "", "no documents");
    }
    d.digest = sha256_hex(digest_input);
    const std::string stats_path = path + ".stats.json";
    if (fs::exists(stats_path)) {
        nlohmann::json s = nlohmann::json::parse(fs::read_file(stats_path), nullptr, false);
        if (s.is_object()) {
            d.stats = s;
        }
    }
    d.stats["path"] = path;
    return d;
}

}  // namespace

CorpusDocs load_corpus_docs(const CorpusConfig& c) {
    if (!c.jsonl.empty()) {
        return read_jsonl_corpus(c.jsonl);
    }
    throw UnsupportedError("corpus.sources: building from tarballs needs the corpus module");
}

}  // namespace gk::pretrain
