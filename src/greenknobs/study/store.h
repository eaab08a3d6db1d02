// The study store: one SQLite file per study directory (WAL, synchronous=FULL) holding the study's
// settings, one `runs` row per attempt of each (variant, repeat), and each complete run's stages
// and power samples. Plain SQL types only, so the same schema fits PostgreSQL
// (docs/decisions/0003-study-store.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace gk::study {

// Run statuses as stored.
inline constexpr const char* kPlanned = "planned";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kComplete = "complete";
inline constexpr const char* kFailed = "failed";  // the run itself failed: uses a retry
// The study process (or the machine) stopped while the attempt ran, or the study's own signal
// forwarding stopped it: not the run's fault, so it does not count against --max-retries.
inline constexpr const char* kInterrupted = "interrupted";
inline constexpr const char* kSkipped = "skipped";

struct StudyRow {
    int64_t id = 0;
    std::string catalog_path;
    std::string catalog_sha256;
    std::string created_at;  // ISO 8601 UTC
    int64_t seed = 0;
    int repeats = 0;
    std::vector<std::string> variants;  // in catalog order
    nlohmann::json config =
        nlohmann::json::object();  // the study's own settings (sets, idle, cool-down...)
};

struct RunRow {
    int64_t id = 0;
    int64_t study_id = 0;
    int seq = 0;  // position in the shuffled order
    std::string variant;
    int repeat = 0;
    int attempt = 1;
    std::string config_hash;
    std::string status = kPlanned;
    std::string error;  // "" = none
    std::string started_at, finished_at;
    std::string run_dir;
    std::optional<int> exit_code;
    // Summary columns, filled when complete (NaN = absent).
    double total_energy_j = 0, eval_energy_j = 0, f1_vul = 0, f1_weighted = 0;
    double total_duration_s = 0, eval_duration_s = 0;
    std::string run_json;  // the run.json document, "" until complete
};

class Store {
  public:
    // Opens (creating if needed) the store at `path` and its schema. InputError if it is not a
    // study store.
    explicit Store(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const { return path_; }

    // The study held in this file, if any (a study directory holds one study).
    std::optional<StudyRow> study();
    int64_t create_study(const StudyRow& s);

    // Every attempt of every run of the study, ordered by (seq, attempt).
    std::vector<RunRow> runs(int64_t study_id);
    // Complete rows only, with run_json.
    std::vector<RunRow> complete_runs(int64_t study_id);
    // Inserts a planned row; returns its id.
    int64_t insert_run(const RunRow& r);

    // planned → running (started_at now). GK_CHECK that the row was planned.
    void mark_running(int64_t run_id);
    // → failed, interrupted or skipped, with the reason.
    void mark_finished(int64_t run_id, const std::string& status, const std::string& error,
                       std::optional<int> exit_code);
    // planned, running, failed or interrupted (a run directory found complete on resume) →
    // complete: the summary columns, the run.json text, its stages and power samples, in one
    // transaction. The partial unique index refuses a second complete row for the same (variant,
    // repeat).
    void mark_complete(int64_t run_id, const nlohmann::json& run_json,
                       std::optional<int> exit_code);
    // Every `running` row of the study → interrupted with `error` (a study that died mid-run);
    // returns how many.
    int interrupt_running(int64_t study_id, const std::string& error);
    // Attempts of (variant, repeat) that failed on their own (what --max-retries bounds).
    int failed_attempts(int64_t study_id, const std::string& variant, int repeat);

    // Runs `fn` inside one BEGIN IMMEDIATE ... COMMIT (rolled back if it throws). Not nestable.
    void transaction(const std::function<void()>& fn);

    // Counts for tests and the report: rows in stages / samples belonging to `run_id`.
    int64_t count_stages(int64_t run_id);
    int64_t count_samples(int64_t run_id);
    // Runs one statement (tests, e.g. checking the schema); throws with SQLite's message on error.
    void exec(const std::string& sql);
    // The first column of the first row of `sql` as text ("" if no row).
    std::string query_text(const std::string& sql);

  private:
    void migrate();
    void begin();
    void commit();
    void rollback();
    sqlite3* db_ = nullptr;
    std::string path_;
};

// The SQL that creates the schema (also shown in the decision record).
const char* schema_sql();

}  // namespace gk::study
