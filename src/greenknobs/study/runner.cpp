// The study runner: reconcile the plan with the store (refuse foreign configs, recover after a
// crash, ingest run directories the store missed), then run each planned attempt as a child process
// and record it. Only a run's own failures use its retries; an attempt stopped because the study
// stopped is "interrupted" and simply runs again. The store is the single source of truth; run
// directories are ingested only when their run.json says complete and carries the planned config
// hash.
#include "greenknobs/study/runner.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <unistd.h>

#include "greenknobs/study/child.h"
#include "greenknobs/study/run_json.h"
#include "greenknobs/study/slurm.h"
#include "greenknobs/study/store.h"
#include "greenknobs/study/study_lock.h"
#include "greenknobs/study/study_report.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/log.h"
#include "greenknobs/util/progress.h"

namespace gk::study {

using nlohmann::json;

namespace {

// A log line that does not tear a progress bar drawn on the terminal.
void note(const std::string& msg, log::Level level = log::Level::kInfo) {
    if (Progress::stderr_is_terminal() && log::level() <= level) {
        std::fputs("\r\033[K", stderr);
    }
    log::write(level, msg);
}

std::string study_settings_summary(const std::vector<std::string>& variants, int repeats,
                                   int64_t seed) {
    std::string v;
    for (const auto& id : variants) {
        v += (v.empty() ? "" : ",") + id;
    }
    return v + " x " + std::to_string(repeats) + " repeats, seed " + std::to_string(seed);
}

std::string short_hash(const std::string& h) { return h.substr(0, 12); }

struct RunState {
    const PlannedRun* plan = nullptr;
    std::vector<RunRow> attempts;  // ordered by attempt
    bool complete() const {
        for (const auto& a : attempts) {
            if (a.status == kComplete) {
                return true;
            }
        }
        return false;
    }
    const RunRow* last() const { return attempts.empty() ? nullptr : &attempts.back(); }
};

class Runner {
  public:
    explicit Runner(const StudyOptions& opt) : opt_(opt) {}

    StudyResult run() {
        if (opt_.out_dir.empty()) {
            throw InputError("--out", "", "a study directory is required");
        }
        if (opt_.max_retries < 0) {
            throw InputError("--max-retries", std::to_string(opt_.max_retries), "expected >= 0");
        }
        if (opt_.executor != "local" && opt_.executor != "slurm") {
            throw InputError("--executor", opt_.executor, "expected local or slurm");
        }
        plan_ = make_plan(opt_.plan);
        if (opt_.executor == "slurm") {
            // Compute nodes know nothing of this process: every path the jobs see is absolute.
            opt_.out_dir = std::filesystem::absolute(opt_.out_dir).lexically_normal().string();
            if (!opt_.train_bin.empty()) {
                opt_.train_bin = std::filesystem::absolute(opt_.train_bin).string();
            }
        }
        train_bin_ = opt_.train_bin.empty() ? self_exe() : opt_.train_bin;
        train_exec_ = opt_.train_bin.empty() ? "/proc/self/exe" : opt_.train_bin;
        for (const char* sub : {"", "configs", "runs", "logs"}) {
            fs::make_dirs(fs::join(opt_.out_dir, sub));
        }
        lock_ = std::make_unique<StudyLock>(opt_.out_dir);
        const StoreLocation where = resolve_store(opt_.out_dir, opt_.store, /*create=*/true);
        store_ = open_store(where);
        record_store(opt_.out_dir, where);
        open_or_create_study();
        if (opt_.executor == "slurm") {
            apply_catalog_resources(opt_.plan.catalog_path, opt_.slurm);
            SlurmContext ctx;
            ctx.store = store_.get();
            ctx.study_id = study_id_;
            ctx.plan = &plan_;
            ctx.out_dir = opt_.out_dir;
            ctx.program = opt_.train_bin.empty() ? self_exe() : opt_.train_bin;
            ctx.max_attempts = max_attempts();
            ctx.config_path = [this](const PlannedRun& r) { return config_path(r); };
            ctx.run_dir = [this](const PlannedRun& r) { return run_dir(r); };
            ctx.stop_signal = StopSignals::flag();
            ctx.progress_every_s = opt_.progress_every_s;
            slurm_ = std::make_unique<SlurmExecutor>(opt_.slurm, ctx);
        }
        for (const auto& run : plan_.runs) {
            // Same content every time (same hash): rewriting is harmless and repairs a deleted
            // file.
            fs::write_file_atomic(config_path(run), run.command.is_null()
                                                        ? config::to_toml(run.config)
                                                        : run.command.dump(2) + "\n");
        }
        recover();

        StopSignals stop_signals;
        execute();
        summarize();
        if (opt_.report && result_.interrupted_signal == 0 && !result_.detached) {
            make_report();
        }
        return result_;
    }

  private:
  private:
    std::string config_path(const PlannedRun& r) const {
        return fs::join(fs::join(opt_.out_dir, "configs"),
                        r.key() + (r.command.is_null() ? ".toml" : ".json"));
    }
    std::string run_dir(const PlannedRun& r) const {
        return fs::join(fs::join(opt_.out_dir, "runs"), r.key());
    }
    int max_attempts() const { return 1 + opt_.max_retries; }

    json study_config() const {
        return json{{"sets", opt_.plan.sets},
                    {"idle_baseline_s", opt_.plan.idle_s ? json(*opt_.plan.idle_s) : json(nullptr)},
                    {"cooldown_s", opt_.cooldown_s},
                    {"max_retries", opt_.max_retries},
                    {"train_bin", opt_.train_bin.empty() ? "self" : opt_.train_bin},
                    {"catalog_description", plan_.catalog.description}};
    }

    void open_or_create_study() {
        auto existing = store_->study();
        if (!existing) {
            StudyRow s;
            s.catalog_path = opt_.plan.catalog_path;
            s.catalog_sha256 = plan_.catalog_sha256;
            s.seed = plan_.seed;
            s.repeats = plan_.repeats;
            s.variants = plan_.variants;
            s.config = study_config();
            store_->transaction([&] {
                study_id_ = store_->create_study(s);
                for (const auto& run : plan_.runs) {
                    RunRow r;
                    r.study_id = study_id_;
                    r.seq = run.seq;
                    r.variant = run.variant;
                    r.repeat = run.repeat;
                    r.attempt = 1;
                    r.config_hash = run.config_hash;
                    r.run_dir = run_dir(run);
                    store_->insert_run(r);
                }
            });
            note("study: new study in " + opt_.out_dir + ": " +
                 study_settings_summary(plan_.variants, plan_.repeats, plan_.seed) + " = " +
                 std::to_string(plan_.runs.size()) + " runs");
            return;
        }
        study_id_ = existing->id;
        const std::string db = store_->path();
        if (existing->variants != plan_.variants || existing->repeats != plan_.repeats ||
            existing->seed != plan_.seed) {
            throw InputError(
                db, "study",
                "this directory holds the study " +
                    study_settings_summary(existing->variants, existing->repeats, existing->seed) +
                    "; this command asks for " +
                    study_settings_summary(plan_.variants, plan_.repeats, plan_.seed) +
                    ". Resume with the same --variants/--repeats/--seed, or use a new --out");
        }
        if (existing->catalog_sha256 != plan_.catalog_sha256) {
            note("study: the catalog " + opt_.plan.catalog_path +
                     " changed since the study began; every run's resolved config is checked "
                     "against the store",
                 log::Level::kWarn);
        }
        note("study: resuming the study in " + opt_.out_dir + " (begun " + existing->created_at +
             ")");
    }

    // Rows of the store grouped per planned run; throws on a config that is not the study's.
    std::map<std::string, RunState> load_states() {
        std::map<std::string, RunState> states;
        for (const auto& run : plan_.runs) {
            states[run.key()].plan = &run;
        }
        for (auto& row : store_->runs(study_id_)) {
            auto it = states.find(run_key(row.variant, row.repeat));
            GK_CHECK(it != states.end(), "store row " + row.variant + " r" +
                                             std::to_string(row.repeat) + " is not in the plan");
            it->second.attempts.push_back(row);
        }
        for (const auto& [key, st] : states) {
            GK_CHECK(!st.attempts.empty(), "no store row for " + key);
            for (const auto& a : st.attempts) {
                if (a.config_hash != st.plan->config_hash) {
                    throw InputError(store_->path(), key,
                                     "variant " + st.plan->variant + " (repeat " +
                                         std::to_string(st.plan->repeat) +
                                         ") now resolves to config " +
                                         short_hash(st.plan->config_hash) +
                                         " but the study ran it as " + short_hash(a.config_hash) +
                                         ": the catalog or --set changed since the study began. "
                                         "Refusing to mix them; "
                                         "restore the catalog and --set, or start a new study with "
                                         "another --out");
                }
            }
        }
        return states;
    }

    // After a crash: runs left `running` are interrupted (not their fault), complete run
    // directories the store missed are ingested, interrupted runs get their next attempt, and
    // failed runs get one while their own failures leave retries.
    void recover() {
        load_states();  // the hash check, before anything is changed
        // Slurm jobs outlive the study: the executor asks Slurm what became of them.
        int stale = slurm_ ? slurm_->reconcile()
                           : store_->interrupt_running(
                                 study_id_,
                                 "interrupted: the study process stopped while this run was in "
                                 "flight");
        if (stale > 0) {
            result_.recovered = stale;
            note("study: " + std::to_string(stale) +
                     " run(s) were in flight when the study last stopped; recorded interrupted, "
                     "will run again (an interruption uses no retry)",
                 log::Level::kWarn);
        }
        for (auto& [key, st] : load_states()) {
            if (st.complete()) {
                continue;
            }
            const RunRow* last = st.last();
            json doc = read_run_json(run_dir(*st.plan));
            if (is_complete_for(doc, st.plan->config_hash) && last->status != kSkipped) {
                store_->mark_complete(last->id, doc, std::nullopt);
                ++result_.ingested;
                note("study: " + key +
                     ": ingested the complete run directory the store had missed");
                continue;
            }
            if (last->status == kInterrupted ||
                (last->status == kFailed && failures(*last) < max_attempts())) {
                plan_next_attempt(*last);
            }
        }
    }

    // Attempts of this run that failed on their own; interrupted ones are not counted.
    int failures(const RunRow& row) {
        return store_->failed_attempts(study_id_, row.variant, row.repeat);
    }

    void plan_next_attempt(const RunRow& last) {
        RunRow r;
        r.study_id = study_id_;
        r.seq = last.seq;
        r.variant = last.variant;
        r.repeat = last.repeat;
        r.attempt = last.attempt + 1;
        r.config_hash = last.config_hash;
        r.run_dir = last.run_dir;
        store_->insert_run(r);
    }

    const PlannedRun& planned(const RunRow& row) const {
        for (const auto& r : plan_.runs) {
            if (r.variant == row.variant && r.repeat == row.repeat) {
                return r;
            }
        }
        GK_CHECK(false, "row not in plan");
        return plan_.runs.front();
    }

    void execute() {
        if (slurm_) {
            // Whether a knob runs is decided on the node (exit 3: skipped), not on this login node.
            result_.interrupted_signal = slurm_->execute();
            result_.detached = opt_.slurm.detach && result_.interrupted_signal == 0;
            return;
        }
        const std::string device = config::to_string(plan_.runs.front().config.system.device);
        caps_ = opt_.capabilities
                    ? *opt_.capabilities
                    : knobs::detect_capabilities(device, device == "cuda", opt_.probe);
        // The progress bar counts this invocation's runs, so its ETA comes from the runs measured
        // now.
        auto count_open = [&] {
            int n = 0;
            for (const auto& [key, st] : load_states()) {
                const RunRow* last = st.last();
                n += (!st.complete() && last->status == kPlanned) ? 1 : 0;
            }
            return n;
        };
        const int todo = count_open();
        const int total = static_cast<int>(plan_.runs.size());
        // Until a run of this invocation has finished, the ETA comes from runs measured earlier
        // (resume).
        double earlier_s = 0;
        int earlier_n = 0;
        for (const auto& r : store_->complete_runs(study_id_)) {
            if (std::isfinite(r.total_duration_s)) {
                earlier_s += r.total_duration_s;
                ++earlier_n;
            }
        }
        const double earlier_mean_s = earlier_n ? earlier_s / earlier_n : NAN;
        Progress progress("study", todo, opt_.progress_every_s);
        int done_now = 0;
        std::set<std::string> no_retry;
        bool first = true;
        while (StopSignals::received() == 0) {
            auto rows = store_->runs(study_id_);
            const RunRow* next = nullptr;
            int done_overall = 0;
            for (const auto& r : rows) {
                if (r.status == kPlanned && !no_retry.count(run_key(r.variant, r.repeat)) &&
                    (!next || r.seq < next->seq)) {
                    next = &r;
                }
                done_overall += (r.status == kComplete || r.status == kSkipped) ? 1 : 0;
            }
            if (!next) {
                break;
            }
            if (!first && opt_.cooldown_s > 0) {
                progress.update(done_now, "cooling down " + format_duration(opt_.cooldown_s));
                sleep_interruptibly(opt_.cooldown_s);
                if (StopSignals::received() != 0) {
                    break;
                }
            }
            first = false;
            const RunRow row = *next;
            const PlannedRun& run = planned(row);
            const std::string header =
                "[" + std::to_string(done_overall + 1) + "/" + std::to_string(total) + "] " +
                run.variant + " r" + std::to_string(run.repeat) +
                (row.attempt > 1 ? " (attempt " + std::to_string(row.attempt) + ")" : "");
            const std::string estimate =
                done_now == 0 && std::isfinite(earlier_mean_s)
                    ? " · ~" + format_duration(earlier_mean_s * (todo - done_now)) +
                          " left (earlier runs)"
                    : "";
            Outcome out = run_one(row, run, [&](const std::string& stage) {
                progress.update(done_now, header + " · " + stage + estimate);
            });
            const int failed_so_far = out.status == kFailed ? failures(row) : 0;
            // A run interrupted by a signal sent to it alone (the study goes on) runs again now,
            // at no retry's cost; one stopped with the study runs at the next invocation.
            const bool again_now = out.status == kInterrupted && StopSignals::received() == 0;
            // A retry or a bad-input failure still ends this run's turn in the progress count;
            // an interrupted run ends this invocation.
            if ((out.status != kFailed || !out.retry || failed_so_far >= max_attempts()) &&
                !again_now) {
                ++done_now;
            }
            progress.update(done_now, header + " · " + out.status);
            if (again_now) {
                plan_next_attempt(row);
            }
            if (out.status == kFailed) {
                if (out.retry && failed_so_far < max_attempts() && StopSignals::received() == 0) {
                    note("study: " + run.key() + " failed (" + out.error + "); retrying (" +
                             std::to_string(failed_so_far) + " of at most " +
                             std::to_string(max_attempts()) + " failed attempts used)",
                         log::Level::kWarn);
                    plan_next_attempt(row);
                } else if (!out.retry) {
                    no_retry.insert(run.key());
                }
            }
        }
        // finish() would show every run done; an interrupted study shows where it stopped instead.
        if (StopSignals::received() == 0) {
            progress.finish("done");
        }
        result_.interrupted_signal = StopSignals::received();
    }

    void sleep_interruptibly(double seconds) {
        auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (StopSignals::received() == 0 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    struct Outcome {
        std::string status;
        std::string error;
        bool retry = true;  // false: retrying cannot help (bad input)
    };

    Outcome run_one(const RunRow& row, const PlannedRun& run,
                    const std::function<void(const std::string&)>& show) {
        // Knobs this machine cannot run are skipped before anything starts, loudly, with the
        // reason.
        auto unsupported = knobs::unsupported_knobs(run.config, caps_);
        if (!unsupported.empty()) {
            std::string why;
            for (const auto& [knob, support] : unsupported) {
                why += (why.empty() ? "" : "; ") + knob + ": " + support.reason;
            }
            store_->mark_finished(row.id, kSkipped, "unsupported here: " + why, std::nullopt);
            note("study: SKIPPED " + run.key() + " (" + run.variant + "): unsupported here: " + why,
                 log::Level::kWarn);
            return {kSkipped, why, false};
        }

        const std::string dir = run_dir(run);
        prepare_run_dir(dir, row.attempt);
        store_->mark_running(row.id);
        const std::string log_path =
            fs::join(fs::join(opt_.out_dir, "logs"),
                     run.key() + "-a" + std::to_string(row.attempt) + ".log");
        show("starting");
        std::string stage = "starting";
        ChildHooks hooks;
        hooks.on_line = [&](const std::string& line) {
            std::string s = stage_hint(line);
            if (!s.empty()) {
                stage = s;
            }
        };
        hooks.on_tick = [&] { show(stage); };
        hooks.stop_signal = StopSignals::flag();
        hooks.grace_s = opt_.grace_s;
        // A command study's run is the user's command under `measure` (stage protocol, run.json).
        ChildResult cr =
            run_child(train_exec_,
                      run.command.is_null()
                          ? std::vector<std::string>{train_bin_, "train", "--config",
                                                     config_path(run), "--out", dir}
                          : std::vector<std::string>{train_bin_, "measure", "--log-stages",
                                                     "--spec", config_path(run), "--out", dir},
                      log_path, hooks);
        const json doc = read_run_json(dir);
        const std::string doc_error =
            doc.is_object() && doc.contains("error") && doc["error"].is_string()
                ? doc["error"].get<std::string>()
                : "";
        const std::string detail = !doc_error.empty() ? doc_error : cr.last_line;

        // run.json is written last, after every stage and file: complete with the planned hash
        // means the run finished, whatever happened after (a crash in teardown, a signal a moment
        // too late).
        if (is_complete_for(doc, run.config_hash)) {
            const std::optional<int> code =
                cr.exited ? std::optional<int>(cr.exit_code) : std::nullopt;
            store_->mark_complete(row.id, doc, code);
            if (!cr.exited || cr.exit_code != 0) {
                note("study: " + run.key() + " wrote a complete run.json but then " +
                         (cr.exited ? "exited " + std::to_string(cr.exit_code)
                                    : std::string("died of ") + signal_name(cr.term_signal)) +
                         "; recorded complete",
                     log::Level::kWarn);
            } else {
                note("study: " + run.key() + " complete in " + format_duration(cr.wall_s));
            }
            return {kComplete, "", true};
        }
        // The study's own signal forwarding stopped it, or a signal the run caught itself (its
        // run.json says "interrupted": a Ctrl-C that reached it and the study at once, so it may
        // have exited before the study forwarded anything): the run did nothing wrong, so the
        // attempt is interrupted and costs no retry (the next invocation runs it again).
        const bool said_interrupted = doc.is_object() && doc.value("status", "") == kInterrupted;
        if (cr.forwarded_signal != 0 || said_interrupted) {
            std::string err =
                cr.forwarded_signal != 0
                    ? std::string("interrupted by ") + signal_name(cr.forwarded_signal)
                    : (doc_error.empty() ? std::string("interrupted") : doc_error);
            store_->mark_finished(row.id, kInterrupted, err,
                                  cr.exited ? std::optional<int>(cr.exit_code) : std::nullopt);
            note("study: " + run.key() + ": " + err + "; run the same command again to resume",
                 log::Level::kWarn);
            return {kInterrupted, err, true};
        }
        if (cr.exited && cr.exit_code == 0) {
            std::string err =
                !doc.is_object() ? "train exited 0 but left no readable run.json"
                : doc.value("status", "") != kComplete
                    ? "train exited 0 but run.json says \"" + doc.value("status", "?") + "\""
                    : "run.json's config_hash " + short_hash(doc.value("config_hash", "")) +
                          " is not the planned " + short_hash(run.config_hash);
            store_->mark_finished(row.id, kFailed, err, 0);
            return {kFailed, err, true};
        }
        if (cr.exited && cr.exit_code == 3) {
            std::string err = "unsupported here: " + detail;
            store_->mark_finished(row.id, kSkipped, err, 3);
            note("study: SKIPPED " + run.key() + " (" + run.variant + "): " + err,
                 log::Level::kWarn);
            return {kSkipped, err, false};
        }
        std::string err;
        bool retry = true;
        if (cr.exited && cr.exit_code == 2) {
            err = "bad input (exit 2): " + detail;
            retry = false;  // the same config fails the same way
        } else if (cr.exited) {
            err = "exit " + std::to_string(cr.exit_code) + ": " + detail;
        } else {
            err = std::string("killed by ") + signal_name(cr.term_signal) + " (" +
                  std::to_string(cr.term_signal) + ")" + (detail.empty() ? "" : ": " + detail);
        }
        err += " (log: " + log_path + ")";
        store_->mark_finished(row.id, kFailed, err,
                              cr.exited ? std::optional<int>(cr.exit_code) : std::nullopt);
        note("study: " + run.key() + " FAILED: " + err, log::Level::kWarn);
        return {kFailed, err, retry};
    }

    // A fresh directory per attempt. A complete run.json here was either ingested already or is not
    // the study's (another config): keep it aside rather than delete someone's result.
    void prepare_run_dir(const std::string& dir, int attempt) {
        namespace stdfs = std::filesystem;
        json doc = read_run_json(dir);
        if (doc.is_object() && doc.value("status", "") == kComplete) {
            const std::string aside =
                dir + ".foreign-" + std::to_string(::getpid()) + "-a" + std::to_string(attempt);
            stdfs::rename(dir, aside);
            note("study: " + dir + " held a complete run of another config; moved to " + aside,
                 log::Level::kWarn);
        }
        std::error_code ec;
        stdfs::remove_all(dir, ec);
        fs::make_dirs(dir);
    }

    void summarize() {
        for (auto& [key, st] : load_states()) {
            const RunRow* last = st.last();
            if (st.complete()) {
                ++result_.complete;
            } else if (last->status == kSkipped) {
                ++result_.skipped;
                result_.skipped_runs.push_back({key, last->error});
            } else if (last->status == kFailed) {
                ++result_.failed;
                result_.failed_runs.push_back(key + ": " + last->error);
            } else if (last->status == kInterrupted) {
                ++result_.interrupted;
            } else if (last->status == kRunning) {
                ++result_.in_flight;
            }
        }
        result_.total = static_cast<int>(plan_.runs.size());
        note("study: " + std::to_string(result_.complete) + " complete, " +
             std::to_string(result_.failed) + " failed, " + std::to_string(result_.skipped) +
             " skipped" +
             (result_.interrupted ? ", " + std::to_string(result_.interrupted) + " interrupted"
                                  : std::string()) +
             (result_.in_flight ? ", " + std::to_string(result_.in_flight) + " queued or running"
                                : std::string()) +
             " of " + std::to_string(result_.total) + " runs" +
             (result_.interrupted_signal ? " (interrupted; run the same command to resume)" : ""));
        for (const auto& s : result_.skipped_runs) {
            note("study: skipped " + s.key + ": " + s.reason, log::Level::kWarn);
        }
        for (const auto& f : result_.failed_runs) {
            note("study: failed " + f, log::Level::kWarn);
        }
    }

    void make_report() {
        if (result_.complete == 0) {
            result_.report_skipped_why = "no complete runs";
            return;
        }
        StudyReportOptions ro;
        ro.dir = opt_.out_dir;
        ro.catalog_path = opt_.plan.catalog_path;
        ro.paper_table_csv = opt_.paper_table_csv;
        ro.budget_points = opt_.budget_points;
        // The runs are safe in the store whatever happens here; `greenknobs report DIR` can redo
        // this part.
        try {
            StudyReport rep = write_study_report(ro);
            result_.report_html = rep.paths.html;
            result_.table1_excerpt = rep.table1_excerpt;
            result_.recommendation = rep.paths.recommendation;
        } catch (const std::exception& e) {
            result_.report_skipped_why = std::string("the report failed: ") + e.what() +
                                         " (rerun it with `greenknobs report " + opt_.out_dir +
                                         "`)";
            note("study: " + result_.report_skipped_why, log::Level::kWarn);
        }
    }

    StudyOptions opt_;  // a copy: a Slurm study makes its paths absolute
    std::unique_ptr<SlurmExecutor> slurm_;
    std::unique_ptr<StudyLock> lock_;
    Plan plan_;
    std::string train_bin_;   // shown as the child's argv[0]
    std::string train_exec_;  // what is executed
    std::unique_ptr<Store> store_;
    int64_t study_id_ = 0;
    knobs::Capabilities caps_;
    StudyResult result_;
};

}  // namespace

int StudyResult::exit_code() const {
    if (interrupted_signal != 0) {
        return 128 + interrupted_signal;
    }
    return failed > 0 ? 1 : 0;
}

std::string stage_hint(const std::string& raw) {
    // Strip a "[info] " style prefix.
    std::string line = raw;
    if (!line.empty() && line[0] == '[') {
        size_t close = line.find("] ");
        if (close != std::string::npos && close < 10) {
            line = line.substr(close + 2);
        }
    }
    auto starts = [&](const char* p) { return line.rfind(p, 0) == 0; };
    if (starts("stage: ") || starts("stage ")) {
        std::string s = line.substr(line.find(' ') + 1);
        size_t end = s.find_first_of(" \t");
        return s.substr(0, end);
    }
    if (starts("data: ")) {
        return "tokenize";  // logged once the dataset is loaded
    }
    if (starts("train ") || starts("epoch ")) {
        return "train";  // the trainer's progress lines and per-epoch summary
    }
    if (starts("test: ") || starts("run directory: ")) {
        return "finishing";
    }
    return "";
}

StudyResult run_study(const StudyOptions& opt) { return Runner(opt).run(); }

}  // namespace gk::study
