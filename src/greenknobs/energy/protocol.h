// The stage protocol: how a measured child (any language) tells the parent where its stages begin
// and end, what work they did and which metrics it reached. The parent timestamps each boundary
// when it reads the line, so the child's clock never matters. Transport and environment are in
// docs/byo.md; the child side is protocol_client.h (C/C++) and the Python module.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/energy/tracker.h"

namespace gk::energy {

// The write end of the protocol pipe, as a decimal file descriptor number.
inline constexpr const char* kStageFdEnv = "GREENKNOBS_STAGE_FD";
// The read end of the acknowledgement pipe: one byte per begin/end line once the parent has taken
// the boundary, so the child's work after `begin` can never land in the stage before.
inline constexpr const char* kStageAckFdEnv = "GREENKNOBS_STAGE_ACK_FD";

struct ProtocolEvent {
    enum class Kind { kBegin, kEnd, kMetric, kWork };
    Kind kind = Kind::kBegin;
    std::string name;  // stage name, metric name or work unit
    double value = 0;  // metric value or work amount
    bool is_boundary() const { return kind == Kind::kBegin || kind == Kind::kEnd; }
};

// One line (without its newline): `begin NAME`, `end NAME`, `metric NAME VALUE`, `work UNIT N`.
// Names are 1-128 characters of [A-Za-z0-9_.:-]; values are finite numbers. False with *error set
// for anything else.
bool parse_protocol_line(const std::string& line, ProtocolEvent* event, std::string* error);

// Applies a child's protocol lines to a running tracker. Stages nest like Tracker::stage(); `work`
// goes to the innermost open stage; metrics keep their last value. A line that breaks the protocol
// (bad syntax, `end` of a stage that is not open) is recorded as a warning and ignored: a child's
// mistake never loses the measurement.
class ProtocolSession {
  public:
    explicit ProtocolSession(Tracker* tracker) : tracker_(tracker) {}
    ProtocolSession(const ProtocolSession&) = delete;
    ProtocolSession& operator=(const ProtocolSession&) = delete;

    // Bytes as read from the pipe; complete lines are handled at once. Returns how many begin/end
    // lines the chunk held (the acknowledgements owed).
    int feed(const char* data, size_t n);
    // Handles one line; true when it was a begin/end line.
    bool handle_line(const std::string& line);
    // A last unterminated line is handled; stages still open are closed and flagged.
    void finish();

    // Called with the stage's path ("train/validate") after each begin (e.g. a progress line).
    void set_on_begin(std::function<void(const std::string&)> fn) { on_begin_ = std::move(fn); }

    bool any_stage() const { return stages_begun_ > 0; }
    int stages_begun() const { return stages_begun_; }
    const std::map<std::string, double>& metrics() const { return metrics_; }
    const std::vector<std::string>& warnings() const { return warnings_; }
    nlohmann::json metrics_json() const;

  private:
    void warn(const std::string& w);
    Tracker* tracker_;
    std::function<void(const std::string&)> on_begin_;
    std::string pending_;
    std::vector<std::pair<std::string, Stage>> open_;
    std::map<std::string, double> metrics_;
    std::vector<std::string> warnings_;
    int stages_begun_ = 0;
    int lines_ = 0;
};

// The energy report of a run whose whole command was measured inside one wrapper stage (path
// `wrapper`): when the child reported stages of its own, the wrapper is dropped and its children
// become top-level stages ("python3/train" -> "train"); otherwise the report is returned as is (an
// uninstrumented command is one stage). Totals are untouched.
nlohmann::json promote_child_stages(const nlohmann::json& report, const std::string& wrapper);

// What a measured command was: `argv` (required), `cwd` and `env` (added to the inherited
// environment), and for study runs `name`, `variant`, `repeat`, `config_hash`, `primary_metric`,
// `knobs`. A study writes one per run (configs/<key>.json); `measure --spec FILE` reads it.
struct CommandSpec {
    std::vector<std::string> argv;
    std::string cwd;                                // "" = inherited
    std::map<std::string, std::string> env;         // added or replaced
    nlohmann::json doc = nlohmann::json::object();  // the whole spec as given
};
// InputError naming `origin` and the key for a malformed spec.
CommandSpec parse_command_spec(const nlohmann::json& doc, const std::string& origin);
// SHA-256 of the spec's canonical JSON without name/variant/repeat/config_hash: equal commands,
// equal hashes.
std::string command_spec_hash(const nlohmann::json& doc);

struct CommandOutcome {
    bool exited = true;  // false: killed by term_signal
    int exit_code = 0;
    int term_signal = 0;
    std::string error;  // "" = ran; else why it could not start
    std::string started_at, finished_at;
};

// run.json (schema greenknobs.run/1) of a measured command: status "complete" when it exited 0,
// the child's metrics, the protocol's warnings, the machine and the (promoted) energy report.
nlohmann::json command_run_record(const CommandSpec& spec, const nlohmann::json& report,
                                  const ProtocolSession& session, const CommandOutcome& outcome);

}  // namespace gk::energy
