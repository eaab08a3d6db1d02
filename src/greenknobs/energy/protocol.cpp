// The parent side of the stage protocol (see protocol.h): a strict line parser and a session that
// turns lines into tracker stages. Timestamps come from the tracker's clock at handle time.
#include "greenknobs/energy/protocol.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "greenknobs/util/error.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/machine.h"

namespace gk::energy {

namespace {

constexpr size_t kMaxName = 128;
constexpr size_t kMaxWarnings = 50;  // a child that spams bad lines must not grow run.json forever

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > kMaxName) {
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool parse_number(const std::string& s, double* out) {
    if (s.empty()) {
        return false;
    }
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

std::vector<std::string> split_spaces(const std::string& line) {
    std::vector<std::string> words;
    std::string cur;
    for (char c : line) {
        if (c == ' ' || c == '\t') {
            if (!cur.empty()) {
                words.push_back(cur);
                cur.clear();
            }
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) {
        words.push_back(cur);
    }
    return words;
}

}  // namespace

bool parse_protocol_line(const std::string& raw, ProtocolEvent* ev, std::string* error) {
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    std::vector<std::string> w = split_spaces(line);
    if (w.empty()) {
        *error = "empty line";
        return false;
    }
    const std::string& verb = w[0];
    size_t want = 0;
    if (verb == "begin") {
        ev->kind = ProtocolEvent::Kind::kBegin;
        want = 2;
    } else if (verb == "end") {
        ev->kind = ProtocolEvent::Kind::kEnd;
        want = 2;
    } else if (verb == "metric") {
        ev->kind = ProtocolEvent::Kind::kMetric;
        want = 3;
    } else if (verb == "work") {
        ev->kind = ProtocolEvent::Kind::kWork;
        want = 3;
    } else {
        *error = "unknown verb '" + verb + "' (expected begin, end, metric or work)";
        return false;
    }
    if (w.size() != want) {
        *error = "'" + verb + "' takes " + std::to_string(want - 1) + " argument(s), got " +
                 std::to_string(w.size() - 1);
        return false;
    }
    if (!valid_name(w[1])) {
        *error = "bad name '" + w[1] + "' (1-128 characters of A-Z a-z 0-9 _ . : -)";
        return false;
    }
    ev->name = w[1];
    ev->value = 0;
    if (want == 3 && !parse_number(w[2], &ev->value)) {
        *error = "bad number '" + w[2] + "'";
        return false;
    }
    if (ev->kind == ProtocolEvent::Kind::kWork && ev->value < 0) {
        *error = "negative work amount '" + w[2] + "'";
        return false;
    }
    return true;
}

void ProtocolSession::warn(const std::string& w) {
    if (warnings_.size() < kMaxWarnings) {
        warnings_.push_back(w);
    } else if (warnings_.size() == kMaxWarnings) {
        warnings_.push_back("more protocol warnings were dropped");
    }
}

int ProtocolSession::feed(const char* data, size_t n) {
    int boundaries = 0;
    pending_.append(data, n);
    size_t start = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
        if (pending_[i] == '\n') {
            boundaries += handle_line(pending_.substr(start, i - start)) ? 1 : 0;
            start = i + 1;
        }
    }
    pending_.erase(0, start);
    if (pending_.size() > 4096) {
        warn("a protocol line longer than 4096 bytes was dropped");
        pending_.clear();
    }
    return boundaries;
}

bool ProtocolSession::handle_line(const std::string& line) {
    ++lines_;
    ProtocolEvent ev;
    std::string error;
    if (!parse_protocol_line(line, &ev, &error)) {
        warn("protocol line " + std::to_string(lines_) + " ignored: " + error);
        return false;
    }
    switch (ev.kind) {
        case ProtocolEvent::Kind::kBegin:
            if (tracker_->stopped()) {
                warn("begin " + ev.name + " after the measurement stopped");
                return true;
            }
            open_.emplace_back(ev.name, tracker_->stage(ev.name));
            ++stages_begun_;
            if (on_begin_) {
                std::string path;
                for (const auto& o : open_) {
                    path += (path.empty() ? "" : "/") + o.first;
                }
                on_begin_(path);
            }
            return true;
        case ProtocolEvent::Kind::kEnd: {
            size_t i = open_.size();
            while (i > 0 && open_[i - 1].first != ev.name) {
                --i;
            }
            if (i == 0) {
                warn("end " + ev.name + " ignored: no such stage is open");
                return true;
            }
            // Stages opened inside it and never ended are closed with it.
            while (open_.size() >= i) {
                if (open_.size() > i) {
                    warn("stage " + open_.back().first + " was never ended; closed with end " +
                         ev.name);
                }
                open_.back().second.end();
                open_.pop_back();
            }
            return true;
        }
        case ProtocolEvent::Kind::kMetric:
            metrics_[ev.name] = ev.value;
            return false;
        case ProtocolEvent::Kind::kWork:
            if (open_.empty()) {
                warn("work " + ev.name + " ignored: no stage is open");
            } else {
                open_.back().second.add_work(ev.name, ev.value);
            }
            return false;
    }
    return false;
}

void ProtocolSession::finish() {
    if (!pending_.empty()) {
        std::string last = pending_;
        pending_.clear();
        handle_line(last);
    }
    while (!open_.empty()) {
        warn("stage " + open_.back().first + " was still open when the command exited");
        open_.back().second.end();
        open_.pop_back();
    }
}

nlohmann::json ProtocolSession::metrics_json() const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : metrics_) {
        j[k] = v;
    }
    return j;
}

nlohmann::json promote_child_stages(const nlohmann::json& report, const std::string& wrapper) {
    const auto& stages = report.at("stages");
    bool has_children = false;
    for (const auto& s : stages) {
        has_children = has_children || (s.at("parent").is_string() && s.at("parent") == wrapper);
    }
    if (!has_children) {
        return report;
    }
    nlohmann::json out = report;
    nlohmann::json promoted = nlohmann::json::array();
    const std::string prefix = wrapper + "/";
    for (auto s : stages) {
        const std::string path = s.at("path").get<std::string>();
        if (path == wrapper) {
            continue;
        }
        if (path.rfind(prefix, 0) == 0) {
            s["path"] = path.substr(prefix.size());
        }
        if (s.at("parent").is_string()) {
            const std::string parent = s.at("parent").get<std::string>();
            if (parent == wrapper) {
                s["parent"] = nullptr;
            } else if (parent.rfind(prefix, 0) == 0) {
                s["parent"] = parent.substr(prefix.size());
            }
        }
        promoted.push_back(std::move(s));
    }
    out["stages"] = promoted;
    return out;
}

CommandSpec parse_command_spec(const nlohmann::json& doc, const std::string& origin) {
    if (!doc.is_object()) {
        throw InputError(origin, "", "a command spec must be a JSON object");
    }
    CommandSpec spec;
    spec.doc = doc;
    if (!doc.contains("argv") || !doc["argv"].is_array() || doc["argv"].empty()) {
        throw InputError(origin, "argv", "expected a non-empty array of strings");
    }
    for (const auto& a : doc["argv"]) {
        if (!a.is_string()) {
            throw InputError(origin, "argv", "expected strings, got " + a.dump());
        }
        spec.argv.push_back(a.get<std::string>());
    }
    if (doc.contains("cwd") && !doc["cwd"].is_null()) {
        if (!doc["cwd"].is_string()) {
            throw InputError(origin, "cwd", "expected a string");
        }
        spec.cwd = doc["cwd"].get<std::string>();
    }
    if (doc.contains("env") && !doc["env"].is_null()) {
        if (!doc["env"].is_object()) {
            throw InputError(origin, "env", "expected an object of strings");
        }
        for (const auto& [k, v] : doc["env"].items()) {
            if (!v.is_string() || k.empty() || k.find('=') != std::string::npos) {
                throw InputError(origin, "env." + k, "expected NAME = \"string\"");
            }
            spec.env[k] = v.get<std::string>();
        }
    }
    return spec;
}

std::string command_spec_hash(const nlohmann::json& doc) {
    nlohmann::json d = doc;
    for (const char* k : {"name", "variant", "repeat", "config_hash"}) {
        d.erase(k);
    }
    return sha256_hex(d.dump());  // nlohmann orders object keys: canonical
}

nlohmann::json command_run_record(const CommandSpec& spec, const nlohmann::json& report,
                                  const ProtocolSession& session, const CommandOutcome& outcome) {
    const auto& d = spec.doc;
    nlohmann::json j;
    j["schema"] = "greenknobs.run/1";
    const bool ok = outcome.error.empty() && outcome.exited && outcome.exit_code == 0;
    j["status"] = ok ? "complete" : "failed";
    if (ok) {
        j["error"] = nullptr;
    } else if (!outcome.error.empty()) {
        j["error"] = outcome.error;
    } else if (outcome.exited) {
        j["error"] = "the command exited " + std::to_string(outcome.exit_code);
    } else {
        j["error"] = "the command was killed by signal " + std::to_string(outcome.term_signal);
    }
    j["kind"] = "command";
    j["name"] = d.value("name", spec.argv.front());
    if (d.contains("variant")) {
        j["variant"] = d["variant"];
    }
    if (d.contains("repeat")) {
        j["repeat"] = d["repeat"];
    }
    j["config"] = d;
    j["config_hash"] =
        d.contains("config_hash") ? d["config_hash"].get<std::string>() : command_spec_hash(d);
    j["greenknobs_version"] = "0.1.0";
    j["started_at"] = outcome.started_at;
    j["finished_at"] = outcome.finished_at;
    j["machine"] = to_json(machine_info());
    j["command"] = {
        {"argv", spec.argv},
        {"cwd", spec.cwd},
        {"exit_code", outcome.exited ? nlohmann::json(outcome.exit_code) : nlohmann::json(nullptr)},
        {"term_signal",
         outcome.exited ? nlohmann::json(nullptr) : nlohmann::json(outcome.term_signal)}};
    nlohmann::json applied = nlohmann::json::array();
    if (d.contains("knobs") && d["knobs"].is_array()) {
        applied = d["knobs"];
    }
    j["knobs"] = {{"applied", applied},
                  {"details", nlohmann::json::array()},
                  {"skipped", nlohmann::json::array()}};
    j["metrics"] = session.metrics_json();
    for (const char* k : {"primary_metric", "eval_stage"}) {
        if (d.contains(k)) {
            j[k] = d[k];  // what the study report ranks by and calls evaluation
        }
    }
    j["protocol"] = {{"stages_reported", session.stages_begun()}, {"warnings", session.warnings()}};
    j["energy"] = report;
    return j;
}

}  // namespace gk::energy
