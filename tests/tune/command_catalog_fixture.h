// The command catalog the command-tune tests share: a command whose work and scores follow its
// arguments (tests/tune/fake_command.cpp): "half" halves the work and keeps the scores; "tenth"
// (the same knob: group "work") does a tenth and loses 10 points; "quiet" changes nothing but the
// environment. `tune_table` is the [tune] table ("" = none).
#pragma once

#include <string>

namespace gk::testing {

inline std::string command_catalog(const std::string& program, const std::string& tune_table) {
    return R"(
description = "a fake command"
[base]
argv = [")" +
           program + R"("]
seed_arg = "--seed"
seed = 5
[report]
primary_metric = "test_score"
)" + tune_table +
           R"(
[[knob]]
name = "tenth"
phase = "training"
changes = "a tenth of the work, a worse model"
args = ["--work", "0.04", "--val", "0.70", "--test", "0.69"]
group = "work"
[[knob]]
name = "half"
phase = "training"
changes = "half the work"
args = ["--work", "0.2"]
group = "work"
[[knob]]
name = "quiet"
phase = "system"
changes = "QUIET=1"
env = { QUIET = "1" }
[[variant]]
id = "V0"
baseline = true
[[variant]]
id = "V1"
knobs = ["half"]
)";
}

}  // namespace gk::testing
