// The knob names the registry must hold, written out independently of it: the registry test and the
// `greenknobs knobs` listing test both check against this one list.
#pragma once

#include <set>
#include <string>

namespace gk::testing {

inline const std::set<std::string>& expected_knob_names() {
    static const std::set<std::string> names = {"grad_checkpointing",
                                                "lora",
                                                "quantization",
                                                "tokenizer_cache",
                                                "tokenizer_threads",
                                                "power_limit",
                                                "optimizer",
                                                "precision",
                                                "max_length",
                                                "inference_engine",
                                                "loader",
                                                "compile",
                                                "attention",
                                                "attention_kernel",
                                                "prune_layers",
                                                "init",
                                                "dedup",
                                                "group_by_length",
                                                "early_stopping",
                                                "epoch_validation",
                                                "grad_accum",
                                                "threads"};
    return names;
}

}  // namespace gk::testing
