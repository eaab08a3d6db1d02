// The study runner end to end with the fake train binary: seeded order, store contents, crash
// retries (bounded), kill -9 of the study at random points, signal forwarding, foreign config
// hashes, ingestion of a run the store missed, skipped variants, and the report.
#include "greenknobs/study/runner.h"

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "greenknobs/study/store.h"
#include "greenknobs/study/study_report.h"
#include "greenknobs/util/error.h"

#include "study_fixture.h"

namespace gk::study {
namespace {

using RunnerTest = gk::testing::StudyTest;
using nlohmann::json;

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            out.push_back(line);
        }
    }
    return out;
}

// "V7 43" (name, seed) → ("V7", 1) with base seed 42.
std::pair<std::string, int> parse_order_line(const std::string& line, int base_seed = 42) {
    auto sp = line.find(' ');
    return {line.substr(0, sp), std::stoi(line.substr(sp + 1)) - base_seed};
}

// The study in a child process (so it can be killed); returns its pid. `own_group`: the study
// leads a new process group (its runs join it), as a shell job does, so the whole group can be
// killed at once.
pid_t fork_study(const StudyOptions& o, bool own_group = false) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (own_group) {
            ::setpgid(0, 0);
        }
        int rc = 2;
        try {
            rc = run_study(o).exit_code();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "study child: %s\n", e.what());
        }
        std::fflush(nullptr);
        ::_exit(rc);
    }
    if (own_group && pid > 0) {
        ::setpgid(pid, pid);  // also here: no race with a kill of the group right after fork
    }
    return pid;
}

// Processes (not zombies) whose command line mentions `needle`.
int processes_mentioning(const std::string& needle) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(name) == ::getpid()) {
            continue;
        }
        std::ifstream in(e.path() / "cmdline", std::ios::binary);
        std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        n += cmd.find(needle) != std::string::npos ? 1 : 0;
    }
    return n;
}

bool wait_for(const std::function<bool()>& cond, double timeout_s = 10.0) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < until) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

// Rows per "V7-r0", ordered by attempt.
std::map<std::string, std::vector<RunRow>> rows_by_run(const std::string& out) {
    SqliteStore s(fs::join(out, "study.sqlite"));
    std::map<std::string, std::vector<RunRow>> m;
    for (auto& r : s.runs(s.study()->id)) {
        m[run_key(r.variant, r.repeat)].push_back(r);
    }
    return m;
}

TEST_F(RunnerTest, RunsEveryRunOnceInTheSeededInterleavedOrder) {
    StudyOptions o = options("V0,V1,V7,V8", 2);
    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.total, 8);
    EXPECT_EQ(r.complete, 8);

    std::vector<std::pair<std::string, int>> executed;
    for (const auto& line : read_lines(order_log_)) {
        executed.push_back(parse_order_line(line));
    }
    std::vector<std::pair<std::string, int>> planned;
    for (const auto& run : make_plan(o.plan).runs) {
        planned.emplace_back(run.variant, run.repeat);
    }
    EXPECT_EQ(executed, planned);
    std::vector<std::pair<std::string, int>> catalog_order;
    for (int rep = 0; rep < 2; ++rep) {
        for (const char* v : {"V0", "V1", "V7", "V8"}) {
            catalog_order.emplace_back(v, rep);
        }
    }
    EXPECT_NE(executed, catalog_order);

    // Store: one complete row each, its stages and samples, configs and run directories on disk.
    SqliteStore s(fs::join(out_, "study.sqlite"));
    auto rows = s.complete_runs(s.study()->id);
    ASSERT_EQ(rows.size(), 8u);
    for (const auto& row : rows) {
        const std::string key = run_key(row.variant, row.repeat);
        EXPECT_EQ(row.attempt, 1) << key;
        EXPECT_EQ(s.count_stages(row.id), 7) << key;
        EXPECT_EQ(s.count_samples(row.id), 5) << key;
        EXPECT_TRUE(fs::exists(fs::join(out_, "configs/" + key + ".toml"))) << key;
        EXPECT_TRUE(fs::exists(fs::join(out_, "logs/" + key + "-a1.log"))) << key;
        json doc = json::parse(fs::read_file(fs::join(out_, "runs/" + key + "/run.json")));
        EXPECT_EQ(doc["status"], "complete");
        EXPECT_EQ(doc["config_hash"], row.config_hash);
        EXPECT_EQ(doc["config"]["train"]["seed"], 42 + row.repeat);
        // Energy follows the variant in the fake: V7 < V0.
        EXPECT_GT(row.total_energy_j, 0.0);
    }
    // Running the same command again does nothing more.
    const size_t started = read_lines(order_log_).size();
    StudyResult again = run_study(o);
    EXPECT_EQ(again.complete, 8);
    EXPECT_EQ(read_lines(order_log_).size(), started);
}

TEST_F(RunnerTest, ACrashedRunIsRetried) {
    ::setenv("GK_FAKE_MODE", "crash", 1);
    ::setenv("GK_FAKE_ONLY", "V7", 1);
    const std::string once = fs::join(tmp_, "once");
    fs::make_dirs(once);
    ::setenv("GK_FAKE_ONCE_DIR", once.c_str(), 1);
    StudyResult r = run_study(options("V0,V7", 2));
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.complete, 4);
    auto m = rows_by_run(out_);
    for (const char* key : {"V7-r0", "V7-r1"}) {
        ASSERT_EQ(m[key].size(), 2u) << key;
        EXPECT_EQ(m[key][0].status, kFailed);
        EXPECT_NE(m[key][0].error.find("SIGABRT"), std::string::npos) << m[key][0].error;
        EXPECT_EQ(m[key][1].status, kComplete);
        EXPECT_EQ(m[key][1].attempt, 2);
    }
    EXPECT_EQ(m["V0-r0"].size(), 1u);
}

TEST_F(RunnerTest, RetriesAreBoundedAcrossInvocations) {
    ::setenv("GK_FAKE_MODE", "crash", 1);
    ::setenv("GK_FAKE_ONLY", "V7", 1);
    StudyOptions o = options("V0,V7", 2);
    o.max_retries = 1;
    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.complete, 2);
    EXPECT_EQ(r.failed, 2);
    ASSERT_EQ(r.failed_runs.size(), 2u);
    EXPECT_NE(r.failed_runs[0].find("V7-r"), std::string::npos);
    StudyResult again = run_study(o);  // attempts are used up: nothing more runs
    EXPECT_EQ(again.failed, 2);
    auto m = rows_by_run(out_);
    EXPECT_EQ(m["V7-r0"].size(), 2u);
    EXPECT_EQ(m["V7-r1"].size(), 2u);
}

TEST_F(RunnerTest, ACompleteRunJsonCountsEvenIfTheChildCrashesAfterwards) {
    ::setenv("GK_FAKE_MODE", "crash_after", 1);
    ::setenv("GK_FAKE_ONLY", "V1", 1);
    StudyResult r = run_study(options("V0,V1", 1));
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.complete, 2);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 1u);  // not re-run
    EXPECT_EQ(m["V1-r0"][0].status, kComplete);
    EXPECT_FALSE(m["V1-r0"][0].exit_code.has_value());  // it died of a signal
}

TEST_F(RunnerTest, OneStudyProcessPerDirectory) {
    fs::make_dirs(out_);
    int fd = ::open(fs::join(out_, "study.lock").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // as if another study held it
    try {
        run_study(options("V0", 1));
        FAIL() << "two studies ran in one directory";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("another study process"), std::string::npos)
            << e.what();
    }
    ::close(fd);
    EXPECT_EQ(run_study(options("V0", 1)).complete, 1);
}

TEST_F(RunnerTest, BadInputIsNotRetried) {
    ::setenv("GK_FAKE_MODE", "bad", 1);
    ::setenv("GK_FAKE_ONLY", "V1", 1);
    StudyResult r = run_study(options("V0,V1", 1));
    EXPECT_EQ(r.exit_code(), 1);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 1u);
    EXPECT_EQ(m["V1-r0"][0].exit_code, 2);
    EXPECT_NE(m["V1-r0"][0].error.find("bad input"), std::string::npos) << m["V1-r0"][0].error;
    EXPECT_NE(m["V1-r0"][0].error.find("fake bad input"), std::string::npos) << m["V1-r0"][0].error;
}

// kill -9 of the study 20 times at seeded random moments, alternately the whole process group
// (study and run die together) and the study alone (its run dies by PR_SET_PDEATHSIG), with the
// default retry budget; then the same command finishes the study. An interrupted attempt is not
// the run's fault and must not use a retry, so no run may end up failed.
TEST_F(RunnerTest, KillNineAtRandomPointsLosesAndDuplicatesNothing) {
    ::setenv("GK_FAKE_SLEEP_MS", "120", 1);
    StudyOptions o = options("V0,V1,V7,V8,V20", 3);
    ASSERT_EQ(o.max_retries, 2);  // the default: 20 kills would exhaust it many times over
    std::mt19937 rng(20261128);
    std::uniform_int_distribution<int> delay_ms(10, 400);
    std::uniform_int_distribution<int> in_run_ms(0, 60);
    const std::string db = fs::join(out_, "study.sqlite");
    auto a_run_is_in_flight = [&] {
        if (!fs::exists(db)) {
            return false;
        }
        SqliteStore st(db);
        return st.study() &&
               st.query_text("SELECT COUNT(*) FROM runs WHERE status = 'running'") != "0";
    };
    int killed_mid_study = 0;
    for (int i = 0; i < 20; ++i) {
        const bool group = i % 2 == 0;
        pid_t pid = fork_study(o, group);
        ASSERT_GT(pid, 0);
        // Half the kills at any moment (start-up, recovery, between runs), half while a run is
        // surely in flight, so both process-group and parent-only kills do interrupt runs.
        if (i % 4 < 2) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
        } else {
            wait_for(a_run_is_in_flight, 5.0);
            std::this_thread::sleep_for(std::chrono::milliseconds(in_run_ms(rng)));
        }
        ASSERT_EQ(::kill(group ? -pid : pid, SIGKILL), 0) << "iteration " << i;
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        killed_mid_study += WIFSIGNALED(status) ? 1 : 0;
        // No run survives its study: nothing keeps writing into the study directory.
        EXPECT_TRUE(wait_for([&] { return processes_mentioning(out_) == 0; }, 5.0))
            << "iteration " << i << (group ? " (process group)" : " (study only)");
    }
    EXPECT_GT(killed_mid_study, 10);

    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.complete, 15);
    EXPECT_EQ(r.failed, 0);
    EXPECT_EQ(processes_mentioning(out_), 0);

    SqliteStore s(fs::join(out_, "study.sqlite"));
    const int64_t study = s.study()->id;
    std::map<std::string, int> complete;
    for (const auto& row : s.complete_runs(study)) {
        ++complete[run_key(row.variant, row.repeat)];
        EXPECT_EQ(s.count_stages(row.id), 7);
        EXPECT_EQ(s.count_samples(row.id), 5);
    }
    EXPECT_EQ(complete.size(), 15u);
    for (const auto& [key, n] : complete) {
        EXPECT_EQ(n, 1) << key;
    }
    // The kills interrupted runs in flight; none of those attempts was counted as a failure.
    EXPECT_GE(std::stoi(s.query_text("SELECT COUNT(*) FROM runs WHERE status = 'interrupted'")), 5);
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM runs WHERE status = 'failed'"), "0");
    // Stages and samples belong to complete runs only (no half-ingested attempt left rows behind).
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM stages"), std::to_string(15 * 7));
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM samples"), std::to_string(15 * 5));
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM runs WHERE status IN ('running', 'planned')"),
              "0");
    EXPECT_EQ(s.query_text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(s.query_text("PRAGMA foreign_key_check"), "");
}

// Interruptions use no retry, but a run's own failures still do, in the same history.
TEST_F(RunnerTest, InterruptionsAndOwnFailuresAreCountedApart) {
    ::setenv("GK_FAKE_MODE", "hang", 1);
    ::setenv("GK_FAKE_ONLY", "V1", 1);
    StudyOptions o = options("V0,V1", 1);
    o.max_retries = 0;             // one own failure is all a run gets
    for (int i = 0; i < 3; ++i) {  // three interruptions while V1 hangs
        pid_t pid = fork_study(o, /*own_group=*/true);
        ASSERT_TRUE(wait_for([&] {
            if (!fs::exists(fs::join(out_, "study.sqlite"))) {
                return false;
            }
            SqliteStore st(fs::join(out_, "study.sqlite"));
            if (!st.study()) {
                return false;
            }
            auto m = rows_by_run(out_);
            return !m["V1-r0"].empty() && m["V1-r0"].back().attempt == i + 1 &&
                   m["V1-r0"].back().status == kRunning;
        }));
        ASSERT_EQ(::kill(-pid, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(wait_for([&] { return processes_mentioning(out_) == 0; }, 5.0));
    }
    ::setenv("GK_FAKE_MODE", "crash", 1);  // now it fails on its own: that uses the one attempt
    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 1);
    EXPECT_EQ(r.recovered, 1);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 4u);
    for (int a = 0; a < 3; ++a) {
        EXPECT_EQ(m["V1-r0"][a].status, kInterrupted) << a;
        EXPECT_NE(m["V1-r0"][a].error.find("study process stopped"), std::string::npos);
    }
    EXPECT_EQ(m["V1-r0"][3].status, kFailed);
    EXPECT_EQ(m["V1-r0"][3].attempt, 4);
    ::unsetenv("GK_FAKE_MODE");
    EXPECT_EQ(run_study(o).failed, 1);  // the budget is spent: nothing more runs
    EXPECT_EQ(rows_by_run(out_)["V1-r0"].size(), 4u);
}

TEST_F(RunnerTest, SigtermStopsTheRunRecordsItAndTheNextInvocationResumes) {
    ::setenv("GK_FAKE_MODE", "hang", 1);
    ::setenv("GK_FAKE_ONLY", "V1", 1);
    StudyOptions o = options("V0,V1,V7", 1);
    pid_t pid = fork_study(o);
    ASSERT_TRUE(wait_for([&] {
        for (const auto& l : read_lines(order_log_)) {
            if (l.rfind("V1 ", 0) == 0) {
                return true;
            }
        }
        return false;
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 1u);
    EXPECT_EQ(m["V1-r0"][0].status, kInterrupted);
    EXPECT_NE(m["V1-r0"][0].error.find("interrupted by SIGTERM"), std::string::npos)
        << m["V1-r0"][0].error;

    // The interruption used no retry: even with none allowed the run gets its attempt.
    ::unsetenv("GK_FAKE_MODE");
    o.max_retries = 0;
    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.complete, 3);
    m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 2u);
    EXPECT_EQ(m["V1-r0"][1].status, kComplete);
}

// `train` caught a signal sent to it alone (run.json "interrupted", exit 130) while the study went
// on: not the run's fault, so no retry is used and it runs again at once.
TEST_F(RunnerTest, ARunInterruptedOnItsOwnRunsAgainWithoutUsingARetry) {
    ::setenv("GK_FAKE_MODE", "interrupted", 1);
    ::setenv("GK_FAKE_ONLY", "V1", 1);
    const std::string once = fs::join(tmp_, "once");
    fs::make_dirs(once);
    ::setenv("GK_FAKE_ONCE_DIR", once.c_str(), 1);
    StudyOptions o = options("V0,V1", 1);
    o.max_retries = 0;  // a failure would end V1 for good
    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.complete, 2);
    EXPECT_EQ(r.failed, 0);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m["V1-r0"].size(), 2u);
    EXPECT_EQ(m["V1-r0"][0].status, kInterrupted);
    EXPECT_EQ(m["V1-r0"][0].exit_code, 130);
    EXPECT_NE(m["V1-r0"][0].error.find("interrupted by SIGINT"), std::string::npos)
        << m["V1-r0"][0].error;
    EXPECT_EQ(m["V1-r0"][1].status, kComplete);
    EXPECT_EQ(m["V1-r0"][1].attempt, 2);
}

TEST_F(RunnerTest, AForeignConfigHashIsRefusedNamingTheVariant) {
    ::setenv("GK_FAKE_MODE", "crash", 1);
    ::setenv("GK_FAKE_ONLY", "V7", 1);
    StudyOptions o = options("V0,V7", 1);
    o.max_retries = 0;
    run_study(o);  // V0 complete, V7 failed with no attempt left
    ::unsetenv("GK_FAKE_MODE");
    const size_t started = read_lines(order_log_).size();

    StudyOptions changed = o;
    changed.max_retries = 2;
    changed.plan.sets = {"train.lr=0.002"};
    try {
        run_study(changed);
        FAIL() << "a study with another config was mixed in";
    } catch (const InputError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("variant V"), std::string::npos) << msg;
        EXPECT_NE(msg.find("changed since the study began"), std::string::npos) << msg;
    }
    // The catalog edited under the study: V7's knob now differs.
    std::string cat = fs::read_file(catalog_);
    cat.replace(cat.find("precision = \"half\" }\ndiffers"), 18, "precision = \"bf16\"");
    fs::write_file_atomic(catalog_, cat);
    try {
        run_study(o);
        FAIL() << "a changed catalog was mixed in";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("V7"), std::string::npos) << e.what();
    }
    // Other study settings are refused as well.
    EXPECT_THROW(run_study(options("V0,V7,V8", 1)), InputError);
    EXPECT_EQ(read_lines(order_log_).size(), started);  // nothing ran
}

TEST_F(RunnerTest, ACompleteRunDirectoryTheStoreMissedIsIngestedNotRerun) {
    // The first run hangs; kill -9 the study while it does: the store says `running`.
    ::setenv("GK_FAKE_MODE", "hang", 1);
    StudyOptions o = options("V0,V1", 1);
    pid_t pid = fork_study(o);
    ASSERT_TRUE(wait_for([&] { return !read_lines(order_log_).empty(); }));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    auto first = parse_order_line(read_lines(order_log_)[0]);
    const std::string key = run_key(first.first, first.second);
    ASSERT_TRUE(wait_for([&] { return processes_mentioning(out_) == 0; }));

    // As if the run had finished and the study died before recording it: a complete run.json is
    // there.
    ::unsetenv("GK_FAKE_MODE");
    const std::string cmd = std::string(GK_FAKE_TRAIN) + " train --config " + out_ + "/configs/" +
                            key + ".toml --out " + out_ + "/runs/" + key + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::filesystem::remove(order_log_);

    StudyResult r = run_study(o);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.ingested, 1);
    EXPECT_EQ(r.recovered, 1);
    EXPECT_EQ(r.complete, 2);
    auto lines = read_lines(order_log_);
    ASSERT_EQ(lines.size(), 1u);  // only the other run was started
    EXPECT_NE(parse_order_line(lines[0]).first, first.first);
    auto m = rows_by_run(out_);
    ASSERT_EQ(m[key].size(), 1u);  // the ingested attempt itself is complete; no new attempt
    EXPECT_EQ(m[key][0].status, kComplete);
}

TEST_F(RunnerTest, UnsupportedVariantsAreSkippedWithTheReason) {
    ::setenv("GK_FAKE_MODE", "exit3", 1);
    ::setenv("GK_FAKE_ONLY", "V8", 1);
    StudyResult r = run_study(options("V0,V5,V8", 1));
    EXPECT_EQ(r.exit_code(), 0);  // skipped is not failed...
    EXPECT_EQ(r.complete, 1);
    EXPECT_EQ(r.skipped, 2);  // ...but it is never counted as complete
    std::map<std::string, std::string> why;
    for (const auto& s : r.skipped_runs) {
        why[s.key] = s.reason;
    }
    EXPECT_NE(why["V5-r0"].find("power_limit"), std::string::npos) << why["V5-r0"];
    EXPECT_NE(why["V8-r0"].find("fake: power limit not settable here"), std::string::npos)
        << why["V8-r0"];
    for (const auto& l : read_lines(order_log_)) {
        EXPECT_NE(l.rfind("V5 ", 0), 0u) << "V5 was started although its knob cannot run here";
    }
    auto m = rows_by_run(out_);
    EXPECT_EQ(m["V5-r0"][0].status, kSkipped);
    EXPECT_EQ(m["V8-r0"][0].exit_code, 3);
    const size_t started = read_lines(order_log_).size();
    EXPECT_EQ(run_study(options("V0,V5,V8", 1)).skipped, 2);  // not retried
    EXPECT_EQ(read_lines(order_log_).size(), started);
}

TEST_F(RunnerTest, TheReportIsWrittenFromTheStoreAndFromRunDirectories) {
    StudyOptions o = options("V0,V1,V7,V20", 2);
    o.report = true;
    StudyResult r = run_study(o);
    ASSERT_EQ(r.exit_code(), 0);
    ASSERT_FALSE(r.report_html.empty()) << r.report_skipped_why;
    const std::string html = fs::read_file(r.report_html);
    EXPECT_NE(html.find("V20"), std::string::npos);
    EXPECT_NE(r.table1_excerpt.find("V7"), std::string::npos) << r.table1_excerpt;

    StudyReportOptions ro;
    ro.dir = out_;
    ro.render_figures = false;
    StudyReport rep = write_study_report(ro);
    EXPECT_EQ(rep.source, "store");
    EXPECT_EQ(rep.runs, 8);
    EXPECT_EQ(rep.failed, 0);
    EXPECT_TRUE(fs::exists(rep.paths.table_csv));

    auto records = load_study_records(out_);
    ASSERT_EQ(records.size(), 8u);
    EXPECT_EQ(records.front().variant, "V0");
    EXPECT_EQ(records.back().variant, "V20");  // natural order: V7 < V20
    EXPECT_EQ(records.front().run["repeat"], 0);

    std::filesystem::remove(fs::join(out_, "study.sqlite"));
    rep = write_study_report(ro);
    EXPECT_EQ(rep.source, "run directories");
    EXPECT_EQ(rep.runs, 8);
}

}  // namespace
}  // namespace gk::study
