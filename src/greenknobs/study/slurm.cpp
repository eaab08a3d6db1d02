// The Slurm executor. The store stays the single source of truth: a row is `running` from the
// moment its job is submitted (its job id in runs.job_id) until the job has left the queue and its
// fate is recorded. A run is complete only when its run.json says so with the planned config hash,
// whatever Slurm reports; otherwise Slurm's end state (scontrol, else sacct, else the exit file the
// job script writes) decides between failed (a retry) and interrupted (the machine's fault: none).
#include "greenknobs/study/slurm.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/config/run_config.h"
#include "greenknobs/study/run_json.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/progress.h"

namespace gk::study {

using nlohmann::json;

namespace {

void note(const std::string& msg, log::Level level = log::Level::kInfo) {
    if (Progress::stderr_is_terminal() && log::level() <= level) {
        std::fputs("\r\033[K", stderr);
    }
    log::write(level, msg);
}

std::string sh_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

struct CmdResult {
    int rc = -1;
    std::string out;  // stdout and stderr
};

// Runs a Slurm client command (argv, no shell expansion of its arguments) and captures its output.
CmdResult run_cmd(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& a : argv) {
        line += (line.empty() ? "" : " ") + sh_quote(a);
    }
    line += " 2>&1";
    CmdResult r;
    FILE* p = ::popen(line.c_str(), "r");
    if (!p) {
        r.out = "cannot start " + argv.front();
        return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        r.out.append(buf, n);
    }
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
        s.pop_back();
    }
    size_t i = 0;
    while (i < s.size() && s[i] == ' ') {
        ++i;
    }
    return s.substr(i);
}

std::string first_line(const std::string& s) { return trim(s.substr(0, s.find('\n'))); }

std::string user_name() {
    const passwd* pw = ::getpwuid(::getuid());
    return pw && pw->pw_name ? pw->pw_name : std::to_string(::getuid());
}

std::string hex8(const std::string& s) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : s) {
        h = (h ^ c) * 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(h & 0xffffffffULL));
    return buf;
}

// "FAILED" from "FAILED by 0" / "CANCELLED by 0" (sacct adds who cancelled).
std::string state_word(const std::string& s) { return s.substr(0, s.find(' ')); }

void parse_exit_code(const std::string& v, JobFate& f) {
    const size_t colon = v.find(':');
    try {
        f.exit_code = std::stoi(v.substr(0, colon));
        if (colon != std::string::npos) {
            f.signal = std::stoi(v.substr(colon + 1));
        }
    } catch (const std::exception&) {
    }
}

}  // namespace

bool JobFate::live() const {
    static const std::set<std::string> kLive = {
        "PENDING",      "RUNNING",     "CONFIGURING",  "COMPLETING", "REQUEUED",
        "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",     "SUSPENDED",  "STOPPED",
        "SIGNALING",    "STAGE_OUT",   "RESV_DEL_HOLD"};
    return kLive.count(state) > 0;
}

JobFate parse_scontrol_job(const std::string& text) {
    JobFate f;
    std::istringstream in(text);
    std::string tok;
    while (in >> tok) {
        const size_t eq = tok.find('=');
        if (eq == std::string::npos) {
            continue;
        }
        const std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
        if (k == "JobState") {
            f.state = v;
        } else if (k == "ExitCode") {
            parse_exit_code(v, f);
        } else if (k == "NodeList" && v != "(null)") {
            f.node = v;
        }
    }
    return f;
}

JobVerdict judge_job(const JobFate& f, bool cancelled_by_study) {
    const std::string on = f.node.empty() ? "" : " on " + f.node;
    if (cancelled_by_study) {
        return {kInterrupted, "cancelled with the study", true};
    }
    // The machine's fault, never the run's: no retry is used (Slurm requeues such jobs itself when
    // it can; these are the ones it did not).
    for (const char* s : {"NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "DEADLINE", "REVOKED"}) {
        if (f.state == s) {
            return {kInterrupted, std::string("Slurm: ") + s + on + " (not the run's fault)", true};
        }
    }
    if (f.state.empty() && f.exit_code < 0) {
        return {kInterrupted,
                "Slurm no longer knows the job and it left no exit code (treated as an outage)",
                true};
    }
    if (f.exit_code == 3 && f.signal == 0) {
        return {kSkipped, "unsupported on the node" + on + " (exit 3)", false};
    }
    if (f.exit_code == 2 && f.signal == 0) {
        return {kFailed, "bad input (exit 2)" + on, false};
    }
    if (f.state == "CANCELLED") {
        return {kFailed,
                "Slurm: CANCELLED" + on + " outside the study (scancel or an administrator)", true};
    }
    if (f.state == "TIMEOUT") {
        return {kFailed, "Slurm: TIMEOUT" + on + " (the run needs a longer --time)", true};
    }
    if (f.state == "OUT_OF_MEMORY") {
        return {kFailed, "Slurm: OUT_OF_MEMORY" + on + " (ask for more --mem)", true};
    }
    std::string what = f.state.empty() ? "ended" : "Slurm: " + f.state;
    if (f.signal > 0) {
        what += ", killed by signal " + std::to_string(f.signal);
    } else if (f.exit_code > 128) {
        what += ", killed by signal " + std::to_string(f.exit_code - 128);
    } else if (f.exit_code == 0) {
        what += ", exit 0 but no complete run.json";
    } else if (f.exit_code > 0) {
        what += ", exit " + std::to_string(f.exit_code);
    }
    return {kFailed, what + on, true};
}

void apply_catalog_resources(const std::string& path, SlurmOptions& opt) {
    const json doc = config::toml_to_json(fs::read_file(path), path);
    if (!doc.contains("slurm")) {
        return;
    }
    const json& t = doc["slurm"];
    if (!t.is_object()) {
        throw InputError(path, "slurm", "expected a [slurm] table");
    }
    auto text = [&](const char* key, std::string& field) {
        if (!t.contains(key)) {
            return;
        }
        if (!t[key].is_string()) {
            throw InputError(path, std::string("slurm.") + key, "expected a string");
        }
        if (field.empty()) {
            field = t[key].get<std::string>();
        }
    };
    auto flag = [&](const char* key, bool& field) {
        if (!t.contains(key)) {
            return;
        }
        if (!t[key].is_boolean()) {
            throw InputError(path, std::string("slurm.") + key, "expected true or false");
        }
        field = field || t[key].get<bool>();
    };
    for (const auto& [k, v] : t.items()) {
        static const std::set<std::string> kKeys = {
            "partition", "gres", "cpus_per_task", "mem",           "time",       "constraint",
            "account",   "qos",  "exclusive",     "block_by_node", "sbatch_args"};
        if (!kKeys.count(k)) {
            throw InputError(path, "slurm." + k,
                             "unknown key; [slurm] has partition, gres, cpus_per_task, mem, time, "
                             "constraint, account, qos, exclusive, block_by_node, sbatch_args");
        }
    }
    text("partition", opt.partition);
    text("gres", opt.gres);
    text("mem", opt.mem);
    text("time", opt.time);
    text("constraint", opt.constraint);
    text("account", opt.account);
    text("qos", opt.qos);
    flag("exclusive", opt.exclusive);
    flag("block_by_node", opt.block_by_node);
    if (t.contains("cpus_per_task")) {
        if (!t["cpus_per_task"].is_number_integer() || t["cpus_per_task"].get<int64_t>() < 1) {
            throw InputError(path, "slurm.cpus_per_task", "expected an integer >= 1");
        }
        if (opt.cpus_per_task == 0) {
            opt.cpus_per_task = t["cpus_per_task"].get<int>();
        }
    }
    if (t.contains("sbatch_args")) {
        if (!t["sbatch_args"].is_array()) {
            throw InputError(path, "slurm.sbatch_args", "expected an array of strings");
        }
        std::vector<std::string> from_catalog;
        for (const auto& a : t["sbatch_args"]) {
            if (!a.is_string()) {
                throw InputError(path, "slurm.sbatch_args", "expected an array of strings");
            }
            from_catalog.push_back(a.get<std::string>());
        }
        // The command line's come last: sbatch takes the last of a repeated option.
        opt.sbatch_args.insert(opt.sbatch_args.begin(), from_catalog.begin(), from_catalog.end());
    }
}

SlurmExecutor::SlurmExecutor(const SlurmOptions& opt, const SlurmContext& ctx)
    : opt_(opt), ctx_(ctx) {
    prefix_ = "gk-" + hex8(ctx_.out_dir) + "-";
    fs::make_dirs(fs::join(ctx_.out_dir, "jobs"));
}

const PlannedRun& SlurmExecutor::planned(const RunRow& row) const {
    for (const auto& r : ctx_.plan->runs) {
        if (r.variant == row.variant && r.repeat == row.repeat) {
            return r;
        }
    }
    GK_CHECK(false, "row not in plan");
    return ctx_.plan->runs.front();
}

std::string SlurmExecutor::log_path(const RunRow& row) const {
    return fs::join(fs::join(ctx_.out_dir, "logs"),
                    run_key(row.variant, row.repeat) + "-a" + std::to_string(row.attempt) + ".log");
}

std::string SlurmExecutor::exit_path(const RunRow& row) const {
    return fs::join(fs::join(ctx_.out_dir, "jobs"), run_key(row.variant, row.repeat) + "-a" +
                                                        std::to_string(row.attempt) + ".exit");
}

std::map<std::string, std::string> SlurmExecutor::queue() {
    CmdResult r = run_cmd({"squeue", "-h", "-r", "-u", user_name(), "-o", "%i|%j|%T"});
    if (r.rc != 0) {
        throw std::runtime_error("squeue failed: " + first_line(r.out));
    }
    std::map<std::string, std::string> q;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
        const size_t a = line.find('|'), b = line.rfind('|');
        if (a == std::string::npos || b == a) {
            continue;
        }
        if (line.compare(a + 1, prefix_.size(), prefix_) == 0) {
            q[line.substr(0, a)] = trim(line.substr(b + 1));
        }
    }
    return q;
}

JobFate SlurmExecutor::fate_of(const RunRow& row) {
    JobFate f;
    CmdResult sc = run_cmd({"scontrol", "-o", "show", "job", row.job_id});
    if (sc.rc == 0 && sc.out.find("JobState=") != std::string::npos) {
        f = parse_scontrol_job(sc.out);
    } else {
        // Slurm forgets finished jobs after MinJobAge; accounting (when there is any) keeps them.
        CmdResult sa =
            run_cmd({"sacct", "-n", "-P", "-X", "-j", row.job_id, "-o", "State,ExitCode,NodeList"});
        const std::string l = first_line(sa.out);
        if (sa.rc == 0 && !l.empty() && std::count(l.begin(), l.end(), '|') == 2) {
            f.state = state_word(l.substr(0, l.find('|')));
            parse_exit_code(l.substr(l.find('|') + 1, l.rfind('|') - l.find('|') - 1), f);
            f.node = l.substr(l.rfind('|') + 1);
        }
    }
    // The job script's own record of the run's exit code outlives Slurm's memory.
    if (fs::exists(exit_path(row))) {
        try {
            const int code = std::stoi(trim(fs::read_file(exit_path(row))));
            if (f.exit_code < 0 || (f.exit_code == 0 && code != 0)) {
                f.exit_code = code;
            }
            if (f.state.empty()) {
                f.state = code == 0 ? "COMPLETED" : "FAILED";
            }
        } catch (const std::exception&) {
        }
    }
    return f;
}

std::string SlurmExecutor::node_for_block(int repeat) {
    if (!opt_.block_by_node) {
        return "";
    }
    if (nodes_.empty()) {
        std::vector<std::string> argv = {"sinfo", "-h", "-N", "-r", "-o", "%N"};
        if (!opt_.partition.empty()) {
            argv.insert(argv.end(), {"-p", opt_.partition});
        }
        CmdResult r = run_cmd(argv);
        std::set<std::string> uniq;
        std::istringstream in(r.out);
        std::string n;
        while (std::getline(in, n)) {
            if (!trim(n).empty()) {
                uniq.insert(trim(n));
            }
        }
        nodes_.assign(uniq.begin(), uniq.end());
        if (r.rc != 0 || nodes_.empty()) {
            throw InputError("--block-by-node", "",
                             "sinfo lists no responding node" +
                                 (opt_.partition.empty() ? "" : " in partition " + opt_.partition) +
                                 ": " + first_line(r.out));
        }
    }
    return nodes_[static_cast<size_t>(repeat) % nodes_.size()];
}

// One job array for the attempts of one repeat block, tasks in seq order (Slurm starts array tasks
// in index order, so submission order is run order). The script maps the task index to its run.
void SlurmExecutor::submit_block(const std::vector<RunRow>& rows) {
    namespace stdfs = std::filesystem;
    const int repeat = rows.front().repeat;
    const std::string name = prefix_ + "r" + std::to_string(repeat);
    std::ostringstream sh;
    sh << "#!/bin/bash\n"
       << "# greenknobs study: repeat block " << repeat << ", " << rows.size()
       << " run(s) (docs/cluster.md)\n"
       << "#SBATCH --job-name=" << name << "\n"
       << "#SBATCH --array=0-" << rows.size() - 1 << "\n"
       << "#SBATCH --output=/dev/null\n"
       << "#SBATCH --requeue\n"
       << "#SBATCH --chdir=" << ctx_.out_dir << "\n";
    auto directive = [&](const char* flag, const std::string& v) {
        if (!v.empty()) {
            sh << "#SBATCH " << flag << "=" << v << "\n";
        }
    };
    directive("--partition", opt_.partition);
    directive("--gres", opt_.gres);
    directive("--time", opt_.time);
    directive("--constraint", opt_.constraint);
    directive("--account", opt_.account);
    directive("--qos", opt_.qos);
    directive("--mem", opt_.mem);
    directive("--nodelist", node_for_block(repeat));
    if (opt_.cpus_per_task > 0) {
        directive("--cpus-per-task", std::to_string(opt_.cpus_per_task));
    }
    if (opt_.exclusive) {
        sh << "#SBATCH --exclusive\n";
    }
    for (const auto& a : opt_.sbatch_args) {
        sh << "#SBATCH " << a << "\n";
    }
    sh << "case \"$SLURM_ARRAY_TASK_ID\" in\n";
    for (size_t i = 0; i < rows.size(); ++i) {
        const PlannedRun& run = planned(rows[i]);
        // Anything complete in the run directory was ingested or moved aside before submission;
        // start from an empty one.
        const std::string dir = ctx_.run_dir(run);
        json doc = read_run_json(dir);
        if (doc.is_object() && doc.value("status", "") == kComplete) {
            const std::string aside = dir + ".foreign-" + std::to_string(::getpid()) + "-a" +
                                      std::to_string(rows[i].attempt);
            stdfs::rename(dir, aside);
            note("study: " + dir + " held a complete run of another config; moved to " + aside,
                 log::Level::kWarn);
        }
        std::error_code ec;
        stdfs::remove_all(dir, ec);
        std::error_code ec2;
        stdfs::remove(exit_path(rows[i]), ec2);
        const std::string cmd = run.command.is_null()
                                    ? sh_quote(ctx_.program) + " train --config " +
                                          sh_quote(ctx_.config_path(run)) + " --out \"$RUNDIR\""
                                    : sh_quote(ctx_.program) + " measure --log-stages --spec " +
                                          sh_quote(ctx_.config_path(run)) + " --out \"$RUNDIR\"";
        sh << "  " << i << ") RUNDIR=" << sh_quote(dir) << "; LOG=" << sh_quote(log_path(rows[i]))
           << "; EXITF=" << sh_quote(exit_path(rows[i])) << "\n     run() { " << cmd << "; } ;;\n";
    }
    sh << "  *) echo \"no run for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n"
       << "esac\n"
       << "exec >>\"$LOG\" 2>&1\n"
       << "echo \"slurm: job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname)"
          " (restart ${SLURM_RESTART_COUNT:-0})\"\n"
       << "rm -f \"$EXITF\"\n"
       << "# A requeued job whose run had already finished keeps it.\n"
       << "if grep -q '\"status\": \"complete\"' \"$RUNDIR/run.json\" 2>/dev/null; then "
          "echo 0 > \"$EXITF\"; exit 0; fi\n"
       << "rm -rf \"$RUNDIR\" && mkdir -p \"$RUNDIR\"\n"
       << "run\n"
       << "rc=$?\n"
       << "echo $rc > \"$EXITF.tmp\" && mv \"$EXITF.tmp\" \"$EXITF\"\n"
       << "exit $rc\n";
    const std::string script = fs::join(fs::join(ctx_.out_dir, "jobs"),
                                        name + "-" + std::to_string(rows.front().id) + ".sh");
    fs::write_file_atomic(script, sh.str());
    CmdResult r = run_cmd({"sbatch", "--parsable", script});
    std::string id = first_line(r.out);
    id = id.substr(0, id.find(';'));
    if (r.rc != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
        throw std::runtime_error("sbatch " + script + " failed: " + trim(r.out));
    }
    ctx_.store->transaction([&] {
        for (size_t i = 0; i < rows.size(); ++i) {
            ctx_.store->mark_running(rows[i].id);
            ctx_.store->set_job(rows[i].id, id + "_" + std::to_string(i));
        }
    });
    note("study: submitted job array " + id + " (" + name + ", " + std::to_string(rows.size()) +
         " run(s))");
}

void SlurmExecutor::submit_planned() {
    std::map<int, std::vector<RunRow>> blocks;  // repeat -> planned rows in seq order
    for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
        if (r.status == kPlanned) {
            blocks[r.repeat].push_back(r);
        }
    }
    // Blocks in the order their first run comes in the plan.
    std::vector<std::vector<RunRow>> order;
    for (auto& [rep, rows] : blocks) {
        std::sort(rows.begin(), rows.end(),
                  [](const RunRow& a, const RunRow& b) { return a.seq < b.seq; });
        order.push_back(rows);
    }
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.front().seq < b.front().seq; });
    for (const auto& rows : order) {
        submit_block(rows);
    }
}

// A job that left the queue: complete when its run.json says so, else judged by Slurm's end state.
// plan_next: plan the next attempt here (the follow loop) or leave that to the runner's resume
// rules (reconcile at start).
void SlurmExecutor::finalize(const RunRow& row, bool cancelled_by_study) {
    const PlannedRun& run = planned(row);
    const json doc = read_run_json(ctx_.run_dir(run));
    const std::string key = run.key();
    if (is_complete_for(doc, run.config_hash)) {
        ctx_.store->mark_complete(row.id, doc, std::nullopt);
        note("study: " + key + " complete (job " + row.job_id +
             (doc.contains("/machine/hostname"_json_pointer)
                  ? " on " + doc["machine"].value("hostname", "?")
                  : std::string()) +
             ")");
        return;
    }
    const JobFate fate = fate_of(row);
    const JobVerdict v = judge_job(fate, cancelled_by_study);
    const std::string err = v.error + " (job " + row.job_id + ", log: " + log_path(row) + ")";
    ctx_.store->mark_finished(
        row.id, v.status, err,
        fate.exit_code >= 0 ? std::optional<int>(fate.exit_code) : std::nullopt);
    note("study: " + key + " " + (v.status == kFailed ? "FAILED" : v.status) + ": " + err,
         log::Level::kWarn);
    if (cancelled_by_study || stop_ != 0) {
        return;  // the next invocation plans what is left
    }
    const int failures = ctx_.store->failed_attempts(ctx_.study_id, row.variant, row.repeat);
    if (v.status == kInterrupted ||
        (v.status == kFailed && v.retry && failures < ctx_.max_attempts)) {
        RunRow next;
        next.study_id = ctx_.study_id;
        next.seq = row.seq;
        next.variant = row.variant;
        next.repeat = row.repeat;
        next.attempt = row.attempt + 1;
        next.config_hash = row.config_hash;
        next.run_dir = row.run_dir;
        ctx_.store->insert_run(next);
        note("study: " + key + ": attempt " + std::to_string(next.attempt) + " queued (" +
                 (v.status == kInterrupted
                      ? std::string("an interruption uses no retry")
                      : std::to_string(failures) + " of at most " +
                            std::to_string(ctx_.max_attempts) + " failed attempts used") +
                 ")",
             log::Level::kWarn);
    }
}

int SlurmExecutor::reconcile() {
    const auto q = queue();
    std::set<std::string> known;
    int interrupted = 0, followed = 0;
    for (const auto& row : ctx_.store->runs(ctx_.study_id)) {
        if (!row.job_id.empty()) {
            known.insert(row.job_id);
        }
        if (row.status != kRunning) {
            continue;
        }
        if (row.job_id.empty()) {
            ctx_.store->mark_finished(row.id, kInterrupted,
                                      "interrupted: the study stopped before the job was submitted",
                                      std::nullopt);
            ++interrupted;
        } else if (q.count(row.job_id)) {
            ++followed;
        } else {
            stop_ = 1;  // record only: the runner's resume rules plan the next attempts
            finalize(row, false);
            stop_ = 0;
        }
    }
    std::vector<std::string> orphans;
    for (const auto& [id, state] : q) {
        if (!known.count(id)) {
            orphans.push_back(id);
        }
    }
    if (!orphans.empty()) {
        std::vector<std::string> argv = {"scancel"};
        argv.insert(argv.end(), orphans.begin(), orphans.end());
        run_cmd(argv);
        note("study: cancelled " + std::to_string(orphans.size()) +
                 " job(s) of this study the store had not recorded (submitted as it stopped)",
             log::Level::kWarn);
    }
    if (followed > 0) {
        note("study: re-attached to " + std::to_string(followed) + " queued or running job(s)");
    }
    return interrupted;
}

void SlurmExecutor::cancel_all(int sig) {
    std::vector<RunRow> live;
    for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
        if (r.status == kRunning && !r.job_id.empty()) {
            live.push_back(r);
        }
    }
    if (!live.empty()) {
        std::vector<std::string> argv = {"scancel"};
        for (const auto& r : live) {
            argv.push_back(r.job_id);
        }
        CmdResult c = run_cmd(argv);
        if (c.rc != 0) {
            note("study: scancel failed: " + first_line(c.out), log::Level::kWarn);
        }
        note("study: cancelled " + std::to_string(live.size()) + " job(s) with the study (signal " +
                 std::to_string(sig) + ")",
             log::Level::kWarn);
    }
    // Wait (bounded) for them to leave the queue, then record them: a run that finished before
    // the cancel reached it is still complete.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
        auto q = queue();
        bool any = false;
        for (const auto& r : live) {
            any = any || q.count(r.job_id) > 0;
        }
        if (!any) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    auto q = queue();
    for (const auto& r : live) {
        if (!q.count(r.job_id)) {
            finalize(r, true);
        }
    }
}

int SlurmExecutor::execute() {
    submit_planned();
    if (opt_.detach) {
        note("study: detached; the jobs run on. Run the same command again to follow them");
        return 0;
    }
    // Progress counts runs (not attempts): a run is done when its last attempt is neither queued
    // nor planned, so a retry keeps it open, like the local executor's count.
    std::set<std::string> followed;
    for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
        if (r.status == kRunning) {
            followed.insert(run_key(r.variant, r.repeat));
        }
    }
    auto runs_done = [&] {
        std::map<std::string, std::string> last;
        for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
            last[run_key(r.variant, r.repeat)] = r.status;  // ordered by (seq, attempt)
        }
        int n = 0;
        for (const auto& k : followed) {
            n += last[k] != kRunning && last[k] != kPlanned ? 1 : 0;
        }
        return n;
    };
    Progress progress("study", static_cast<int64_t>(followed.size()), ctx_.progress_every_s);
    int todo = 0;  // planned attempts seen so far (a new one means a retry to submit)
    while (true) {
        if (*ctx_.stop_signal != 0) {
            stop_ = *ctx_.stop_signal;
            cancel_all(stop_);
            return stop_;
        }
        std::map<std::string, std::string> q;
        try {
            q = queue();
        } catch (const std::exception& e) {
            // slurmctld restarting, a network blip: the jobs are Slurm's, ask again later.
            note(std::string("study: ") + e.what() + "; asking again", log::Level::kWarn);
            q.clear();
            std::this_thread::sleep_for(std::chrono::duration<double>(opt_.poll_s));
            continue;
        }
        int running = 0, pending = 0;
        bool resubmit = false;
        for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
            if (r.status != kRunning || r.job_id.empty()) {
                continue;
            }
            auto it = q.find(r.job_id);
            if (it != q.end()) {
                (it->second == "RUNNING" || it->second == "COMPLETING" ? running : pending) += 1;
                continue;
            }
            finalize(r, false);
            resubmit = true;
        }
        if (resubmit) {
            int planned_now = 0;
            for (const auto& r : ctx_.store->runs(ctx_.study_id)) {
                planned_now += r.status == kPlanned ? 1 : 0;
            }
            if (planned_now > 0) {
                todo += planned_now;
                submit_planned();
                continue;  // count the new jobs in the next poll
            }
        }
        if (running + pending == 0) {
            break;
        }
        progress.update(
            runs_done(),
            std::to_string(running) + " running, " + std::to_string(pending) + " pending" +
                (todo > 0 ? ", " + std::to_string(todo) + " resubmitted" : std::string()));
        auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt_.poll_s);
        while (*ctx_.stop_signal == 0 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    progress.finish("done");
    return 0;
}

}  // namespace gk::study
