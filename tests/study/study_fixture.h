// Shared by the study tests: a temporary directory, a small catalog (baseline, single knobs, a
// combination and an unsupported power-limit variant) and study options that run the fake train
// binary.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "greenknobs/study/runner.h"
#include "greenknobs/util/fs.h"

#include "../common/temp_dir.h"

namespace gk::testing {

inline const char* kStudyCatalog = R"(
description = "study test catalog"

[base.data]
max_train_samples = 100
max_eval_samples = 20

[base.model]
preset = "test-tiny"

[[variant]]
id = "V0"
name = "Baseline"
phase = "baseline"
baseline = true
differs_from_paper = "-"

[[variant]]
id = "V1"
name = "Gradient Checkpointing"
phase = "training"
knobs = { grad_checkpointing = true }
differs_from_paper = "-"

[[variant]]
id = "V5"
name = "Power-Limit"
phase = "system"
knobs = { power_limit = 100.0 }
differs_from_paper = "-"

[[variant]]
id = "V7"
name = "FP16 Training"
phase = "training"
knobs = { precision = "half" }
differs_from_paper = "-"

[[variant]]
id = "V8"
name = "Sequence-Length Trim"
phase = "data"
knobs = { max_length = 64 }
differs_from_paper = "-"

[[variant]]
id = "V20"
name = "Checkpointing + FP16"
phase = "training"
knobs = { grad_checkpointing = true, precision = "half" }
combines = ["V1", "V7"]
differs_from_paper = "-"
)";

class StudyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        tmp_ = dir_.path();
        catalog_ = fs::join(tmp_, "catalog.toml");
        fs::write_file_atomic(catalog_, kStudyCatalog);
        out_ = fs::join(tmp_, "study");
        order_log_ = fs::join(tmp_, "order.log");
        clear_fake_env();
        ::setenv("GK_FAKE_SLEEP_MS", "30", 1);
        ::setenv("GK_FAKE_ORDER_LOG", order_log_.c_str(), 1);
    }
    void TearDown() override { clear_fake_env(); }
    static void clear_fake_env() {
        for (const char* v : {"GK_FAKE_MODE", "GK_FAKE_ONLY", "GK_FAKE_ONCE_DIR",
                              "GK_FAKE_SLEEP_MS", "GK_FAKE_ORDER_LOG"}) {
            ::unsetenv(v);
        }
    }

    study::StudyOptions options(const std::string& variants = "V0,V1,V7,V8",
                                int repeats = 2) const {
        study::StudyOptions o;
        o.plan.catalog_path = catalog_;
        std::string cur;
        for (char c : variants + ",") {
            if (c == ',') {
                if (!cur.empty()) {
                    o.plan.variants.push_back(cur);
                }
                cur.clear();
            } else {
                cur += c;
            }
        }
        o.plan.repeats = repeats;
        o.out_dir = out_;
        o.train_bin = GK_FAKE_TRAIN;
        o.report = false;
        o.grace_s = 2.0;
        o.probe.powercap_root = fs::join(tmp_, "no-powercap");
        o.probe.nvml_library = fs::join(tmp_, "no-libnvidia-ml.so");
        return o;
    }

    gk::testing::TempDir dir_{"study_test"};
    std::string tmp_, catalog_, out_, order_log_;
};

}  // namespace gk::testing
