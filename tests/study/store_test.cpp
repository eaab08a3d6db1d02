// The store: schema and durability settings, one complete row per (variant, repeat), stages and
// samples written with their run, crash recovery of `running` rows.
#include "greenknobs/study/store.h"

#include <map>

#include "greenknobs/util/error.h"

#include "../analysis/synthetic_run.h"
#include "study_fixture.h"

namespace gk::study {
namespace {

using StoreTest = gk::testing::StudyTest;

int64_t make_study(Store& s) {
    StudyRow st;
    st.catalog_path = "cat.toml";
    st.catalog_sha256 = std::string(64, 'c');
    st.seed = 42;
    st.repeats = 2;
    st.variants = {"V0", "V7"};
    st.config = {{"sets", {"a=b"}}};
    return s.create_study(st);
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

TEST_F(StoreTest, SchemaTablesColumnsAndDurability) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    EXPECT_EQ(s.query_text("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(s.query_text("PRAGMA synchronous"), "2");  // FULL
    for (const char* t : {"study", "runs", "stages", "samples"}) {
        EXPECT_EQ(s.query_text(
                      std::string("SELECT name FROM sqlite_master WHERE type='table' AND name='") +
                      t + "'"),
                  t);
    }
    for (const char* col :
         {"variant", "repeat", "attempt", "config_hash", "status", "error", "started_at",
          "finished_at", "run_dir", "exit_code", "total_energy_j", "eval_energy_j", "f1_vul",
          "f1_weighted", "total_duration_s", "eval_duration_s", "run_json"}) {
        EXPECT_EQ(
            s.query_text(std::string("SELECT name FROM pragma_table_info('runs') WHERE name='") +
                         col + "'"),
            col);
    }
    for (const char* col :
         {"path", "duration_s", "energy_cpu_j", "energy_ram_j", "energy_gpu_j", "energy_total_j",
          "provenance_cpu", "provenance_ram", "provenance_gpu"}) {
        EXPECT_EQ(
            s.query_text(std::string("SELECT name FROM pragma_table_info('stages') WHERE name='") +
                         col + "'"),
            col);
    }
    EXPECT_THROW(s.exec("INSERT INTO runs (study_id, seq, variant, repeat, attempt, config_hash, "
                        "status, run_dir) "
                        "VALUES (1, 0, 'V0', 0, 1, 'h', 'weird', 'd')"),
                 std::runtime_error);  // status is constrained
}

TEST_F(StoreTest, StudyRoundTrips) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    EXPECT_FALSE(s.study().has_value());
    int64_t id = make_study(s);
    auto st = s.study();
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->id, id);
    EXPECT_EQ(st->variants, (std::vector<std::string>{"V0", "V7"}));
    EXPECT_EQ(st->repeats, 2);
    EXPECT_EQ(st->seed, 42);
    EXPECT_EQ(st->config["sets"][0], "a=b");
    EXPECT_FALSE(st->created_at.empty());
}

TEST_F(StoreTest, CompleteWritesSummaryStagesAndSamples) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    int64_t study = make_study(s);
    int64_t id = s.insert_run(planned(study, "V7", 0));
    s.mark_running(id);
    gk::testing::SyntheticRun sr;
    sr.variant = "V7";
    sr.total_energy_j = 500.0;
    sr.total_time_s = 50.0;
    sr.f1_vul = 0.7;
    nlohmann::json doc = gk::testing::make_run_json(sr);
    doc["energy"]["timeseries"] = nlohmann::json::array({{{"source", "cpu-model"},
                                                          {"component", "cpu"},
                                                          {"t_s", {0.1, 0.2}},
                                                          {"power_w", {9.0, nullptr}}}});
    s.mark_complete(id, doc, 0);

    auto rows = s.complete_runs(study);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].status, kComplete);
    EXPECT_DOUBLE_EQ(rows[0].total_energy_j, 500.0);
    EXPECT_DOUBLE_EQ(rows[0].eval_energy_j, 70.0);  // the evaluate stage: 14 % of the total
    EXPECT_DOUBLE_EQ(rows[0].f1_vul, 0.7);
    EXPECT_DOUBLE_EQ(rows[0].total_duration_s, 50.0);
    EXPECT_EQ(rows[0].exit_code, 0);
    EXPECT_EQ(nlohmann::json::parse(rows[0].run_json)["metrics"]["f1_vul"], 0.7);
    EXPECT_EQ(s.count_stages(id), 7);  // six stages + the nested train/validate
    EXPECT_EQ(s.count_samples(id), 2);
    EXPECT_EQ(s.query_text("SELECT provenance_cpu FROM stages WHERE path = 'evaluate'"),
              "modelled");
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM samples WHERE power_w IS NULL"), "1");
    EXPECT_EQ(s.query_text("SELECT COUNT(*) FROM stages WHERE energy_gpu_j IS NULL"),
              "7");  // null, never 0
}

TEST_F(StoreTest, ASecondCompleteRowForTheSameRunIsRefusedAndRolledBack) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    int64_t study = make_study(s);
    int64_t a = s.insert_run(planned(study, "V0", 0, 1));
    s.mark_complete(a, gk::testing::make_run_json({}), 0);
    int64_t b = s.insert_run(planned(study, "V0", 0, 2));
    EXPECT_ANY_THROW(s.mark_complete(b, gk::testing::make_run_json({}), 0));
    EXPECT_EQ(s.complete_runs(study).size(), 1u);
    EXPECT_EQ(s.count_stages(b), 0);  // the failed transaction left nothing behind
    EXPECT_EQ(s.count_samples(b), 0);
    // The same attempt twice is refused as well.
    EXPECT_ANY_THROW(s.insert_run(planned(study, "V0", 0, 2)));
}

TEST_F(StoreTest, InterruptRunningAndFinish) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    int64_t study = make_study(s);
    int64_t a = s.insert_run(planned(study, "V0", 0));
    int64_t b = s.insert_run(planned(study, "V7", 0));
    s.mark_running(a);
    EXPECT_ANY_THROW(s.mark_running(a));  // only a planned run can start
    EXPECT_EQ(s.interrupt_running(study, "the study stopped"), 1);
    s.mark_finished(b, kSkipped, "unsupported here: power_limit", std::nullopt);
    auto rows = s.runs(study);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].status, kInterrupted);
    EXPECT_EQ(rows[0].error, "the study stopped");
    EXPECT_EQ(rows[1].status, kSkipped);
    EXPECT_EQ(rows[1].error, "unsupported here: power_limit");
    EXPECT_FALSE(rows[1].exit_code.has_value());
}

TEST_F(StoreTest, OnlyOwnFailuresAreCountedAgainstRetries) {
    SqliteStore s(fs::join(tmp_, "s.sqlite"));
    int64_t study = make_study(s);
    for (int attempt = 1; attempt <= 4; ++attempt) {
        int64_t id = s.insert_run(planned(study, "V7", 0, attempt));
        s.mark_running(id);
        s.mark_finished(id, attempt % 2 ? kInterrupted : kFailed, "x", std::nullopt);
    }
    EXPECT_EQ(s.failed_attempts(study, "V7", 0), 2);
    EXPECT_EQ(s.failed_attempts(study, "V7", 1), 0);
    // A complete run directory found on resume can still be ingested into an interrupted row.
    int64_t last = s.insert_run(planned(study, "V7", 0, 5));
    s.mark_running(last);
    EXPECT_EQ(s.interrupt_running(study, "stopped"), 1);
    s.mark_complete(last, gk::testing::make_run_json({}), std::nullopt);
    EXPECT_EQ(s.complete_runs(study).size(), 1u);
}

// A store written before the "interrupted" status: its CHECK refused the value, and the attempts
// it recorded as failed only because the study stopped are given back to their runs.
TEST_F(StoreTest, AnOlderStoreIsMigratedAndItsInterruptionsReclassified) {
    const std::string path = fs::join(tmp_, "old.sqlite");
    {
        SqliteStore s(path);
        int64_t study = make_study(s);
        for (int attempt = 1; attempt <= 3; ++attempt) {
            int64_t id = s.insert_run(planned(study, "V7", 0, attempt));
            s.mark_running(id);
            s.mark_finished(id, kFailed,
                            attempt == 1   ? "interrupted: the study process stopped while this "
                                             "run was in flight"
                            : attempt == 2 ? "interrupted by SIGINT"
                                           : "exit 1: out of memory",
                            std::nullopt);
        }
        int64_t done = s.insert_run(planned(study, "V0", 0, 1));
        s.mark_complete(done, gk::testing::make_run_json({}), 0);
        // Turn the table back into the old one: same columns, the CHECK without 'interrupted'.
        std::string ddl =
            s.query_text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'");
        const std::string with = "'failed', 'interrupted',";
        const size_t at = ddl.find(with);
        ASSERT_NE(at, std::string::npos) << ddl;
        ddl.replace(at, with.size(), "'failed',");
        s.exec("PRAGMA writable_schema=ON");
        std::string quoted;
        for (char c : ddl) {
            quoted += c == '\'' ? std::string("''") : std::string(1, c);
        }
        s.exec("UPDATE sqlite_master SET sql = '" + quoted +
               "' WHERE type = 'table' AND name = "
               "'runs'");
        s.exec("PRAGMA writable_schema=OFF");
    }
    SqliteStore s(path);
    const std::string ddl =
        s.query_text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'");
    EXPECT_NE(ddl.find("'interrupted'"), std::string::npos);
    const int64_t study = s.study()->id;
    auto rows = s.runs(study);
    std::map<int, std::string> v7;
    for (const auto& r : rows) {
        if (r.variant == "V7") {
            v7[r.attempt] = r.status;
        }
    }
    EXPECT_EQ(v7[1], kInterrupted);
    EXPECT_EQ(v7[2], kInterrupted);
    EXPECT_EQ(v7[3], kFailed);  // a failure of its own stays one
    EXPECT_EQ(s.failed_attempts(study, "V7", 0), 1);
    ASSERT_EQ(s.complete_runs(study).size(), 1u);
    EXPECT_GT(s.count_stages(s.complete_runs(study)[0].id), 0);  // stages kept their run
    // The partial unique index came back with the table.
    int64_t twice = s.insert_run(planned(study, "V0", 0, 2));
    EXPECT_ANY_THROW(s.mark_complete(twice, gk::testing::make_run_json({}), 0));
    EXPECT_EQ(s.query_text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(s.query_text("PRAGMA foreign_key_check"), "");
}

TEST_F(StoreTest, NotAStore) {
    const std::string p = fs::join(tmp_, "junk.sqlite");
    fs::write_file_atomic(p, std::string(4096, 'x'));
    EXPECT_THROW(SqliteStore{p}, InputError);
}

}  // namespace
}  // namespace gk::study
