// A run directory's run.json as the study's executors read it (local runner and Slurm): an absent,
// unreadable or unparsable file is null (the run is not complete), and whether a record is the
// complete result of a given configuration.
#pragma once

#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "greenknobs/study/store.h"
#include "greenknobs/util/fs.h"

namespace gk::study {

inline nlohmann::json read_run_json(const std::string& run_dir) {
    const std::string p = fs::join(run_dir, "run.json");
    if (!fs::exists(p)) {
        return nlohmann::json();
    }
    try {
        return nlohmann::json::parse(fs::read_file(p), nullptr, /*allow_exceptions=*/false);
    } catch (const std::exception&) {
        return nlohmann::json();  // e.g. removed between the check and the read
    }
}

inline bool is_complete_for(const nlohmann::json& doc, const std::string& config_hash) {
    return doc.is_object() && doc.value("status", "") == kComplete &&
           doc.value("config_hash", "") == config_hash;
}

}  // namespace gk::study
