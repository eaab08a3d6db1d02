// The load_corpus stage of `greenknobs pretrain`: the documents' texts, from a corpus built earlier
// (`greenknobs corpus`, JSON Lines) or built now from source tarballs, decontaminated against the
// fine-tuning data. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/pretrain/config.h"

namespace gk::pretrain {

struct CorpusDocs {
    std::vector<std::string> texts;
    int64_t bytes = 0;
    std::string digest;  // SHA-256 over the texts in order (length-prefixed): the corpus identity
    nlohmann::json stats = nlohmann::json::object();  // sources, licences, decontamination counts
};

CorpusDocs load_corpus_docs(const CorpusConfig& c);

}  // namespace gk::pretrain
