// Studies that outgrow one machine (docs/cluster.md): the PostgreSQL store (schema, migrations,
// constraints with many writers, the report equal to SQLite's), the Slurm executor end to end on
// the local cluster of scripts/dev-cluster.sh (a killed job, a killed study, resume: every run
// complete exactly once), and the hardware check of the report. Tests that need a server skip
// loudly, naming what is missing, when scripts/dev-cluster.sh has not started one.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greenknobs/study/pg_store.h"
#include "greenknobs/study/runner.h"
#include "greenknobs/study/slurm.h"
#include "greenknobs/study/store.h"
#include "greenknobs/study/study_report.h"
#include "greenknobs/util/error.h"

#include "../analysis/synthetic_run.h"
#include "study_fixture.h"

namespace gk::study {
namespace {

using nlohmann::json;

// KEY=VALUE lines of the dev cluster's env file (scripts/dev-cluster.sh start writes it).
std::map<std::string, std::string> dev_cluster_env() {
    const char* d = std::getenv("GK_DEV_CLUSTER_DIR");
    std::ifstream in(std::string(d ? d : "/tmp/gk-dev-cluster") + "/env");
    std::map<std::string, std::string> env;
    std::string line;
    while (std::getline(in, line)) {
        const size_t eq = line.find('=');
        if (eq != std::string::npos) {
            env[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return env;
}

// The PostgreSQL URI to test against ("" = none reachable; *why says why).
std::string pg_uri(std::string* why) {
    const char* e = std::getenv("GK_TEST_PG_URI");
    std::string uri = e ? e : dev_cluster_env()["GK_TEST_PG_URI"];
    if (uri.empty()) {
        *why = "no PostgreSQL server: set GK_TEST_PG_URI or run scripts/dev-cluster.sh start";
        return "";
    }
    if (PQping(uri.c_str()) != PQPING_OK) {
        *why = "PostgreSQL at " + uri + " does not answer (scripts/dev-cluster.sh status)";
        return "";
    }
    return uri;
}

// Whether a Slurm controller answers (SLURM_CONF from the environment or the dev cluster).
bool slurm_up(std::string* why) {
    if (!std::getenv("SLURM_CONF")) {
        const std::string conf = dev_cluster_env()["SLURM_CONF"];
        if (!conf.empty()) {
            ::setenv("SLURM_CONF", conf.c_str(), 1);
        }
    }
    if (std::system("sinfo -h >/dev/null 2>&1") != 0) {
        *why = "no Slurm controller answers sinfo (scripts/dev-cluster.sh start)";
        return false;
    }
    return true;
}

#define REQUIRE_PG(uri)                                                  \
    std::string why_;                                                    \
    const std::string uri = pg_uri(&why_);                               \
    if (uri.empty()) {                                                   \
        std::fprintf(stderr, "SKIPPED (no server): %s\n", why_.c_str()); \
        GTEST_SKIP() << why_;                                            \
    }

std::string new_key() {
    std::ifstream in("/proc/sys/kernel/random/uuid");
    std::string k;
    std::getline(in, k);
    return "test-" + k;
}

StudyRow a_study() {
    StudyRow st;
    st.catalog_path = "cat.toml";
    st.catalog_sha256 = std::string(64, 'c');
    st.seed = 42;
    st.repeats = 2;
    st.variants = {"V0", "V7"};
    return st;
}

RunRow planned(int64_t study, const std::string& v, int repeat, int attempt = 1) {
    RunRow r;
    r.study_id = study;
    r.seq = repeat;
    r.variant = v;
    r.repeat = repeat;
    r.attempt = attempt;
    r.config_hash = std::string(64, 'a');
    r.run_dir = "runs/" + v;
    return r;
}

json run_json_on(const std::string& host, const std::string& cpu) {
    json doc = gk::testing::make_run_json({});
    doc["machine"] = {{"hostname", host}, {"cpu_model", cpu}};
    doc["energy"]["timeseries"] = json::array({{{"source", "cpu-model"},
                                                {"component", "cpu"},
                                                {"t_s", {0.1, 0.2}},
                                                {"power_w", {9.0, nullptr}}}});
    return doc;
}

using ClusterTest = gk::testing::StudyTest;

// ---- without a server ----------------------------------------------------------------------

TEST_F(ClusterTest, SqliteStoreIsVersionedLikePostgres) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    EXPECT_EQ(s.schema_version(), static_cast<int>(migrations().size()));
    for (const char* col : {"job_id", "host", "cpu_model", "gpu_model", "power_limit_w"}) {
        EXPECT_EQ(s.query_text(std::string("SELECT name FROM pragma_table_info('runs') WHERE "
                                           "name='") +
                               col + "'"),
                  col);
    }
    const int64_t study = s.create_study(a_study());
    const int64_t id = s.insert_run(planned(study, "V0", 0));
    s.mark_complete(id, run_json_on("node7", "EPYC 9654"), 0);
    EXPECT_EQ(s.complete_runs(study)[0].host, "node7");
    EXPECT_EQ(s.query_text("SELECT cpu_model FROM runs WHERE id = " + std::to_string(id)),
              "EPYC 9654");
}

TEST_F(ClusterTest, StoreLocationRefusesPasswordsAndMixedStores) {
    EXPECT_THROW(resolve_store(out_, "mysql://x", true), InputError);
    EXPECT_THROW(resolve_store(out_, "postgresql://u:secret@h/db", true), InputError);
    fs::make_dirs(out_);
    StoreLocation pg = resolve_store(out_, "postgresql://u@h:5432/db", true);
    EXPECT_TRUE(pg.postgresql());
    EXPECT_FALSE(pg.study_key.empty());
    EXPECT_FALSE(has_store(out_));  // recorded only once it has been opened
    record_store(out_, pg);
    EXPECT_TRUE(has_store(out_));
    // Recorded: the directory names its store from now on; another --store is refused.
    StoreLocation again = resolve_store(out_, "", false);
    EXPECT_EQ(again.uri, "postgresql://u@h:5432/db");
    EXPECT_EQ(again.study_key, pg.study_key);
    EXPECT_THROW(resolve_store(out_, "postgresql://u@other/db", true), InputError);
    EXPECT_THROW(resolve_store(out_, "sqlite", true), InputError);
}

TEST_F(ClusterTest, AnUnreachableStoreIsBadInputAndNotRecorded) {
    StudyOptions o = options("V0", 1);
    o.store = "postgresql://nobody@127.0.0.1:1/none";  // nothing listens on port 1
    try {
        run_study(o);
        FAIL() << "a study ran without its store";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(has_store(out_));  // a corrected --store is not refused afterwards
}

TEST_F(ClusterTest, ReportRefusesMixedHardwareUnlessBlockedOrAsked) {
    std::vector<analysis::RunRecord> runs;
    for (int rep = 0; rep < 2; ++rep) {
        for (const char* v : {"V0", "V7"}) {
            // V7's repeat 1 ran on another CPU than everything else.
            const bool other = rep == 1 && std::string(v) == "V7";
            runs.push_back(
                {v, rep, run_json_on("n" + std::to_string(rep), other ? "Xeon" : "EPYC")});
        }
    }
    try {
        check_hardware(runs, "DIR", false);
        FAIL() << "mixed hardware was compared";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("2 kinds of hardware"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("--mixed-hardware"), std::string::npos);
    }
    EXPECT_NE(check_hardware(runs, "DIR", true).find("compared anyway"), std::string::npos);
    // Blocked by node: repeat 1 entirely on the other hardware; the paired Δs are like for like.
    runs[2].run["machine"]["cpu_model"] = "Xeon";
    EXPECT_NE(check_hardware(runs, "DIR", false).find("each repeat ran on one kind"),
              std::string::npos);
    // Host names alone do not make hardware different.
    for (auto& r : runs) {
        r.run["machine"]["cpu_model"] = "EPYC";
    }
    EXPECT_EQ(check_hardware(runs, "DIR", false), "");
    // Nor does the power limit: a knob (V5) the study compares on purpose.
    runs[1].run["config"]["system"]["power_limit_w"] = 150.0;
    EXPECT_EQ(run_hardware(runs[1].run).power_limit_w, 150.0);
    EXPECT_EQ(check_hardware(runs, "DIR", false), "");
    // A GPU model differs: another kind.
    runs[3].run["energy"]["machine"]["gpu_model"] = "NVIDIA H100 x 1";
    EXPECT_THROW(check_hardware(runs, "DIR", false), InputError);
}

TEST_F(ClusterTest, SlurmEndStatesAreJudgedForRetries) {
    JobFate f = parse_scontrol_job(
        "JobId=7 ArrayJobId=7 JobState=NODE_FAIL Reason=NodeDown ExitCode=0:0 ReqNodeList=(null) "
        "NodeList=gpu03 BatchHost=gpu03");
    EXPECT_EQ(f.state, "NODE_FAIL");
    EXPECT_EQ(f.node, "gpu03");
    EXPECT_FALSE(f.live());
    EXPECT_EQ(judge_job(f, false).status, kInterrupted);  // no retry used
    EXPECT_EQ(judge_job(parse_scontrol_job("JobState=PREEMPTED ExitCode=0:15"), false).status,
              kInterrupted);
    EXPECT_TRUE(parse_scontrol_job("JobState=REQUEUED ExitCode=0:0").live());
    JobVerdict v = judge_job(parse_scontrol_job("JobState=FAILED ExitCode=1:0 NodeList=n1"), false);
    EXPECT_EQ(v.status, kFailed);
    EXPECT_TRUE(v.retry);
    EXPECT_NE(v.error.find("exit 1 on n1"), std::string::npos) << v.error;
    v = judge_job(parse_scontrol_job("JobState=FAILED ExitCode=2:0"), false);
    EXPECT_EQ(v.status, kFailed);
    EXPECT_FALSE(v.retry);  // bad input fails the same way again
    EXPECT_EQ(judge_job(parse_scontrol_job("JobState=FAILED ExitCode=3:0"), false).status,
              kSkipped);
    EXPECT_EQ(judge_job(parse_scontrol_job("JobState=CANCELLED ExitCode=0:15"), false).status,
              kFailed);
    EXPECT_EQ(judge_job(parse_scontrol_job("JobState=CANCELLED ExitCode=0:15"), true).status,
              kInterrupted);
    EXPECT_EQ(judge_job(parse_scontrol_job("JobState=TIMEOUT ExitCode=0:0"), false).status,
              kFailed);
    EXPECT_EQ(judge_job(JobFate{}, false).status, kInterrupted);  // forgotten: an outage
}

TEST_F(ClusterTest, CatalogSlurmTableGivesResourcesTheCommandLineOverrides) {
    const std::string cat = fs::join(tmp_, "slurm.toml");
    fs::write_file_atomic(cat, std::string(gk::testing::kStudyCatalog) +
                                   "\n[slurm]\npartition = \"gpu\"\ngres = \"gpu:1\"\n"
                                   "cpus_per_task = 8\nexclusive = true\n"
                                   "sbatch_args = [\"--reservation=paper\"]\n");
    SlurmOptions o;
    o.partition = "a100";  // given on the command line
    o.sbatch_args = {"--reservation=mine"};
    apply_catalog_resources(cat, o);
    EXPECT_EQ(o.partition, "a100");
    EXPECT_EQ(o.gres, "gpu:1");
    EXPECT_EQ(o.cpus_per_task, 8);
    EXPECT_TRUE(o.exclusive);
    EXPECT_EQ(o.sbatch_args,
              (std::vector<std::string>{"--reservation=paper", "--reservation=mine"}));
    // The catalog itself still loads (the plan ignores [slurm]).
    PlanOptions po;
    po.catalog_path = cat;
    po.variants = {"V0"};
    EXPECT_EQ(make_plan(po).runs.size(), 1u);
    fs::write_file_atomic(cat, std::string(gk::testing::kStudyCatalog) + "\n[slurm]\ngpus = 2\n");
    try {
        apply_catalog_resources(cat, o);
        FAIL() << "an unknown [slurm] key was accepted";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("slurm.gpus"), std::string::npos) << e.what();
    }
}

// ---- PostgreSQL ----------------------------------------------------------------------------

TEST_F(ClusterTest, PostgresSchemaMigrationsAndOneCompleteRow) {
    REQUIRE_PG(uri);
    const std::string key = new_key();
    PgStore s(uri, key);
    EXPECT_EQ(s.schema_version(), static_cast<int>(migrations().size()));
    // Opening again applies nothing twice.
    { PgStore again(uri, key); }
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM schema_migrations"),
              std::to_string(migrations().size()));
    for (const char* t : {"study", "runs", "stages", "samples"}) {
        EXPECT_EQ(s.query_text(std::string("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_name = '") +
                               t + "'"),
                  t);
    }
    EXPECT_FALSE(s.study());
    const int64_t study = s.create_study(a_study());
    ASSERT_TRUE(s.study());
    EXPECT_EQ(s.study()->variants, (std::vector<std::string>{"V0", "V7"}));

    const int64_t a1 = s.insert_run(planned(study, "V7", 0, 1));
    s.mark_running(a1);
    EXPECT_ANY_THROW(s.mark_running(a1));
    s.mark_finished(a1, kInterrupted, "stopped", std::nullopt);
    const int64_t a2 = s.insert_run(planned(study, "V7", 0, 2));
    s.mark_running(a2);
    s.set_job(a2, "17_3");
    s.mark_finished(a2, kFailed, "exit 1", 1);
    EXPECT_EQ(s.failed_attempts(study, "V7", 0), 1);
    const int64_t a3 = s.insert_run(planned(study, "V7", 0, 3));
    s.mark_complete(a3, run_json_on("node1", "EPYC"), 0);
    // What SQLite stores (StoreTest.CompleteWritesSummaryStagesAndSamples), NULL never 0.
    EXPECT_EQ(s.count_stages(a3), 7);
    EXPECT_EQ(s.count_samples(a3), 2);
    const std::string where = " WHERE run_id = " + std::to_string(a3);
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM samples" + where + " AND power_w IS NULL"), "1");
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM stages" + where + " AND energy_gpu_j IS NULL"),
              "7");
    EXPECT_EQ(s.query_text("SELECT provenance_cpu FROM stages" + where + " AND path = 'evaluate'"),
              "modelled");
    auto done = s.complete_runs(study);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].host, "node1");
    EXPECT_DOUBLE_EQ(done[0].total_energy_j, 1000.0);
    EXPECT_DOUBLE_EQ(done[0].eval_energy_j, 140.0);
    EXPECT_EQ(done[0].exit_code, 0);
    EXPECT_TRUE(std::isnan(s.runs(study)[0].total_energy_j));  // not complete: NULL
    EXPECT_EQ(s.runs(study)[1].job_id, "17_3");
    // The database refuses a second complete row, and takes nothing of it (stages rolled back).
    const int64_t a4 = s.insert_run(planned(study, "V7", 0, 4));
    EXPECT_ANY_THROW(s.mark_complete(a4, run_json_on("node2", "EPYC"), 0));
    EXPECT_EQ(s.count_stages(a4), 0);
    EXPECT_EQ(s.runs(study).back().status, kPlanned);
    // Not a status the CHECK knows; not a duplicate attempt.
    EXPECT_ANY_THROW(s.exec("UPDATE runs SET status = 'done' WHERE id = " + std::to_string(a4)));
    EXPECT_ANY_THROW(s.insert_run(planned(study, "V7", 0, 4)));
    // Another study in the same database sees none of it.
    PgStore other(uri, new_key());
    EXPECT_FALSE(other.study());
}

// Many writers (array tasks, two followers) race to complete the same run: exactly one wins.
TEST_F(ClusterTest, PostgresManyWritersCompleteARunOnce) {
    REQUIRE_PG(uri);
    const std::string key = new_key();
    int64_t study = 0;
    std::vector<int64_t> ids;
    {
        PgStore s(uri, key);
        study = s.create_study(a_study());
        for (int a = 1; a <= 8; ++a) {
            ids.push_back(s.insert_run(planned(study, "V0", 1, a)));
        }
    }
    std::atomic<int> won{0}, refused{0};
    std::vector<std::thread> writers;
    for (int64_t id : ids) {
        writers.emplace_back([&, id] {
            PgStore w(uri, key);
            try {
                w.mark_complete(id, run_json_on("n", "EPYC"), 0);
                ++won;
            } catch (const std::exception&) {
                ++refused;
            }
        });
    }
    for (auto& t : writers) {
        t.join();
    }
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(refused.load(), 7);
    PgStore s(uri, key);
    EXPECT_EQ(s.complete_runs(study).size(), 1u);
    EXPECT_EQ(s.query_text("SELECT COUNT(DISTINCT run_id) FROM stages WHERE run_id IN (SELECT id "
                           "FROM runs WHERE study_id = " +
                           std::to_string(study) + ")"),
              "1");
}

std::string slurp(const std::string& p) { return fs::exists(p) ? fs::read_file(p) : "<missing>"; }

// The same run directories, once indexed by SQLite and once by PostgreSQL, give the same report.
TEST_F(ClusterTest, ReportFromPostgresEqualsReportFromSqlite) {
    REQUIRE_PG(uri);
    StudyOptions o = options("V0,V7,V8", 2);
    ASSERT_EQ(run_study(o).exit_code(), 0);
    // A second directory with the same run directories, indexed by PostgreSQL: every run is
    // ingested from its complete run.json (resume rule 4), nothing runs again.
    const std::string pg_dir = fs::join(tmp_, "pg-study");
    fs::make_dirs(pg_dir);
    ASSERT_EQ(std::system(("cp -r " + out_ + "/runs " + pg_dir + "/runs").c_str()), 0);
    StudyOptions p = o;
    p.out_dir = pg_dir;
    p.store = uri;
    ::setenv("GK_FAKE_MODE", "fail", 1);  // would show if anything ran again
    StudyResult r = run_study(p);
    ::unsetenv("GK_FAKE_MODE");
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.ingested, 6);
    EXPECT_TRUE(fs::exists(fs::join(pg_dir, "store.json")));
    EXPECT_FALSE(fs::exists(fs::join(pg_dir, "study.sqlite")));

    StudyReportOptions ra, rb;
    ra.dir = out_;
    rb.dir = pg_dir;
    ra.catalog_path = rb.catalog_path = catalog_;
    ra.render_figures = rb.render_figures = false;
    StudyReport a = write_study_report(ra);
    StudyReport b = write_study_report(rb);
    EXPECT_EQ(a.source, "store");
    EXPECT_EQ(b.source, "PostgreSQL store");
    EXPECT_EQ(a.runs, 6);
    EXPECT_EQ(b.runs, 6);
    EXPECT_EQ(a.table1_excerpt, b.table1_excerpt);
    EXPECT_EQ(slurp(a.paths.table_csv), slurp(b.paths.table_csv));
    EXPECT_EQ(slurp(a.paths.table_md), slurp(b.paths.table_md));
    EXPECT_EQ(load_study_records(out_).size(), load_study_records(pg_dir).size());
    auto ra_runs = load_study_records(out_);
    auto rb_runs = load_study_records(pg_dir);
    for (size_t i = 0; i < ra_runs.size() && i < rb_runs.size(); ++i) {
        EXPECT_EQ(ra_runs[i].variant, rb_runs[i].variant);
        EXPECT_EQ(ra_runs[i].repeat, rb_runs[i].repeat);
        EXPECT_EQ(ra_runs[i].run, rb_runs[i].run) << ra_runs[i].variant;
    }
}

// ---- Slurm ---------------------------------------------------------------------------------

std::string our_jobs(const std::string& prefix) {
    FILE* p = ::popen("squeue -h -r -o '%i|%j|%T' 2>&1", "r");
    std::string out, line;
    char buf[512];
    while (p && std::fgets(buf, sizeof buf, p)) {
        line = buf;
        if (line.find(prefix) != std::string::npos) {
            out += line;
        }
    }
    if (p) {
        ::pclose(p);
    }
    return out;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

// The end-to-end check: a study through Slurm into PostgreSQL; one job is cancelled
// behind the study's back, one variant crashes once, the study itself is killed with SIGKILL while
// jobs run; the same command re-attaches and finishes: every run complete exactly once.
TEST_F(ClusterTest, SlurmStudyIntoPostgresSurvivesKilledJobAndKilledStudy) {
    REQUIRE_PG(uri);
    std::string why;
    if (!slurm_up(&why)) {
        std::fprintf(stderr, "SKIPPED (no Slurm): %s\n", why.c_str());
        GTEST_SKIP() << why;
    }
    const std::string once = fs::join(tmp_, "once");
    fs::make_dirs(once);
    ::setenv("GK_FAKE_SLEEP_MS", "2500", 1);
    ::setenv("GK_FAKE_MODE", "crash", 1);  // V8 crashes on its first try of each repeat
    ::setenv("GK_FAKE_ONLY", "V8", 1);
    ::setenv("GK_FAKE_ONCE_DIR", once.c_str(), 1);
    const std::vector<std::string> cmd = {std::string(GK_BINARY_DIR) + "/bin/greenknobs",
                                          "study",
                                          "--catalog",
                                          catalog_,
                                          "--variants",
                                          "V0,V7,V8",
                                          "--repeats",
                                          "2",
                                          "--out",
                                          out_,
                                          "--train-bin",
                                          GK_FAKE_TRAIN,
                                          "--executor",
                                          "slurm",
                                          "--store",
                                          uri,
                                          "--poll-s",
                                          "0.3",
                                          "--cpus-per-task",
                                          "1",
                                          "--no-report"};
    const std::string log = fs::join(tmp_, "study.log");
    pid_t study = spawn(cmd, log);
    ASSERT_GT(study, 0);

    // Wait for the jobs, then cancel one running job behind the study's back.
    std::string prefix, cancelled;
    for (int i = 0; i < 200 && cancelled.empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (prefix.empty() && fs::exists(fs::join(out_, "jobs"))) {
            for (const auto& e : std::filesystem::directory_iterator(fs::join(out_, "jobs"))) {
                const std::string n = e.path().filename().string();
                if (n.rfind("gk-", 0) == 0 && n.size() > 12) {
                    prefix = n.substr(0, 12);
                }
            }
        }
        if (prefix.empty()) {
            continue;
        }
        std::istringstream jobs(our_jobs(prefix));
        std::string line;
        while (std::getline(jobs, line)) {
            if (line.find("|RUNNING") != std::string::npos) {
                cancelled = line.substr(0, line.find('|'));
                break;
            }
        }
    }
    ASSERT_FALSE(cancelled.empty()) << "no job ran:\n" << slurp(log);
    ASSERT_EQ(std::system(("scancel " + cancelled).c_str()), 0);
    // Let the study see it and some runs finish, then kill it outright: its jobs run on.
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    ::kill(study, SIGKILL);
    int status = 0;
    ::waitpid(study, &status, 0);
    const std::string first_log = slurp(log);

    // The same command re-attaches and finishes.
    pid_t again = spawn(cmd, log);
    int rc = -1;
    for (int i = 0; i < 1200; ++i) {  // 120 s at most
        if (::waitpid(again, &status, WNOHANG) == again) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (rc < 0) {
        ::kill(again, SIGINT);  // cancels its jobs
        ::waitpid(again, &status, 0);
    }
    const std::string all_log = slurp(log);
    std::printf("---- both invocations' output ----\n%s", all_log.c_str());  // shown with -V
    ASSERT_EQ(rc, 0) << all_log;
    EXPECT_NE(all_log.find("resuming"), std::string::npos) << all_log;
    EXPECT_NE(all_log.find("FAILED"), std::string::npos) << all_log;  // the crash, the scancel
    EXPECT_NE(all_log.find("6 complete, 0 failed, 0 skipped of 6 runs"), std::string::npos)
        << all_log;

    // The store: one complete row per (variant, repeat), nothing left running, every attempt's
    // job id recorded, stages only for complete rows.
    PgStore s(uri, resolve_store(out_, "", false).study_key);
    const int64_t id = s.study()->id;
    std::map<std::pair<std::string, int>, int> complete;
    for (const auto& r : s.runs(id)) {
        EXPECT_NE(r.status, kRunning) << r.variant << " r" << r.repeat;
        EXPECT_NE(r.status, kPlanned) << r.variant << " r" << r.repeat;
        EXPECT_FALSE(r.job_id.empty()) << r.variant << " r" << r.repeat << " a" << r.attempt;
        if (r.status == kComplete) {
            ++complete[{r.variant, r.repeat}];
            EXPECT_FALSE(r.host.empty());
        } else {
            EXPECT_EQ(s.count_stages(r.id), 0);
        }
    }
    EXPECT_EQ(complete.size(), 6u);
    for (const auto& [k, n] : complete) {
        EXPECT_EQ(n, 1) << k.first << " r" << k.second;
    }
    EXPECT_GE(s.runs(id).size(), 8u);  // V8's two crashes and the cancelled job were retried
    EXPECT_EQ(our_jobs(prefix), "");   // no job of the study is left in the queue

    // And its report reads from PostgreSQL.
    StudyReportOptions ro;
    ro.dir = out_;
    ro.render_figures = false;
    StudyReport rep = write_study_report(ro);
    EXPECT_EQ(rep.runs, 6);
    EXPECT_EQ(rep.source, "PostgreSQL store");
    // The first invocation was killed while jobs were in flight, so the second re-attached.
    EXPECT_EQ(first_log.find("study: 6 complete"), std::string::npos) << first_log;
    EXPECT_NE(all_log.find("re-attached to"), std::string::npos) << all_log;
}

// --detach submits and returns; the same command re-attaches and finishes. --block-by-node pins
// each repeat block to a node; Slurm options without --executor slurm are refused.
TEST_F(ClusterTest, SlurmStudyDetachesAndReattaches) {
    const std::string bin = std::string(GK_BINARY_DIR) + "/bin/greenknobs";
    const std::string base = bin + " study --catalog " + catalog_ +
                             " --variants V0,V7 --repeats 2 " + "--out " + out_ + " --train-bin " +
                             GK_FAKE_TRAIN + " --no-report";
    auto sh = [](const std::string& cmd, std::string* out) {
        FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
        char buf[4096];
        size_t n;
        out->clear();
        while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) {
            out->append(buf, n);
        }
        const int st = p ? ::pclose(p) : -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    std::string out;
    EXPECT_EQ(sh(base + " --partition gpu", &out), 2) << out;
    EXPECT_NE(out.find("need --executor slurm"), std::string::npos) << out;
    EXPECT_EQ(sh(base + " --executor kubernetes", &out), 2) << out;

    REQUIRE_PG(uri);
    std::string why;
    if (!slurm_up(&why)) {
        std::fprintf(stderr, "SKIPPED (no Slurm): %s\n", why.c_str());
        GTEST_SKIP() << why;
    }
    ::setenv("GK_FAKE_SLEEP_MS", "1500", 1);
    const std::string cmd = base + " --executor slurm --block-by-node --poll-s 0.3 --store " + uri;
    ASSERT_EQ(sh(cmd + " --detach", &out), 0) << out;
    EXPECT_NE(out.find("4 run(s) queued or running in Slurm"), std::string::npos) << out;
    bool pinned = false;
    for (const auto& e : std::filesystem::directory_iterator(fs::join(out_, "jobs"))) {
        pinned = pinned ||
                 fs::read_file(e.path().string()).find("#SBATCH --nodelist=") != std::string::npos;
    }
    EXPECT_TRUE(pinned);
    ASSERT_EQ(sh(cmd, &out), 0) << out;
    EXPECT_NE(out.find("re-attached to"), std::string::npos) << out;
    EXPECT_NE(out.find("4 complete, 0 failed, 0 skipped of 4 runs"), std::string::npos) << out;
    // Nothing was submitted twice: one attempt per run.
    PgStore s(uri, resolve_store(out_, "", false).study_key);
    EXPECT_EQ(s.runs(s.study()->id).size(), 4u);
    ASSERT_EQ(sh(bin + " report " + out_ + " --no-figures", &out), 0) << out;
    EXPECT_NE(out.find("4 complete run(s) from the PostgreSQL store"), std::string::npos) << out;
}

// Ctrl-C of a following study cancels its jobs and records them interrupted (no retry used).
TEST_F(ClusterTest, SlurmStudyCancelledCancelsItsJobs) {
    REQUIRE_PG(uri);
    std::string why;
    if (!slurm_up(&why)) {
        std::fprintf(stderr, "SKIPPED (no Slurm): %s\n", why.c_str());
        GTEST_SKIP() << why;
    }
    ::setenv("GK_FAKE_SLEEP_MS", "20000", 1);
    const std::vector<std::string> cmd = {std::string(GK_BINARY_DIR) + "/bin/greenknobs",
                                          "study",
                                          "--catalog",
                                          catalog_,
                                          "--variants",
                                          "V0,V7",
                                          "--repeats",
                                          "1",
                                          "--out",
                                          out_,
                                          "--train-bin",
                                          GK_FAKE_TRAIN,
                                          "--executor",
                                          "slurm",
                                          "--store",
                                          uri,
                                          "--poll-s",
                                          "0.3",
                                          "--no-report"};
    const std::string log = fs::join(tmp_, "study.log");
    pid_t study = spawn(cmd, log);
    // Until both jobs are submitted (the store knows their ids).
    bool submitted = false;
    for (int i = 0; i < 200 && !submitted; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        submitted = slurp(log).find("submitted job array") != std::string::npos;
    }
    ASSERT_TRUE(submitted) << slurp(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    ::kill(study, SIGINT);
    int status = 0;
    ::waitpid(study, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << slurp(log);
    EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(log);
    EXPECT_NE(slurp(log).find("cancelled 2 job(s) with the study"), std::string::npos)
        << slurp(log);
    PgStore s(uri, resolve_store(out_, "", false).study_key);
    for (const auto& r : s.runs(s.study()->id)) {
        EXPECT_EQ(r.status, kInterrupted) << r.variant << ": " << r.error;
    }
    std::string prefix = "gk-";
    for (const auto& e : std::filesystem::directory_iterator(fs::join(out_, "jobs"))) {
        const std::string n = e.path().filename().string();
        if (n.rfind("gk-", 0) == 0) {
            prefix = n.substr(0, 12);
        }
    }
    EXPECT_EQ(our_jobs(prefix), "");
}

}  // namespace
}  // namespace gk::study
