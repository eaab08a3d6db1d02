// The study store: the study's settings, one `runs` row per attempt of each (variant, repeat), and
// each complete run's stages and power samples. One SQLite file per study directory (WAL,
// synchronous=FULL) by default; the same schema in PostgreSQL for studies run by many machines
// (docs/decisions/0003-study-store.md, docs/cluster.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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
    std::string job_id;    // the executor's handle (a Slurm job id), "" = local child
    std::string host;      // filled when complete (from run.json), "" = unknown
};

// Hardware identity of a complete run, from its run.json (host, CPU model, GPU model, power limit).
struct RunHardware {
    std::string host;
    std::string cpu_model;
    std::string gpu_model;     // "" = none
    double power_limit_w = 0;  // the run's requested GPU power limit; 0 = not set
    // What must be equal for two runs' energies to be compared: the CPU and GPU models. Not the
    // host name (identical nodes are interchangeable) and not the power limit, which is a knob
    // (V5) the study compares on purpose.
    std::string signature() const;
};
RunHardware run_hardware(const nlohmann::json& run_json);

// The study store interface. Two backends: SQLite (one file per study directory, the default) and
// PostgreSQL (many studies and many writers in one database; pg_store.h). Both hold the same schema
// (schema_sql(), versioned by `schema_migrations`), and both make a second complete row for the
// same (variant, repeat) impossible in the database itself.
class Store {
  public:
    virtual ~Store() = default;
    Store() = default;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // Where it is, for messages: a file path, or a postgresql:// URI (never with a password).
    const std::string& path() const { return path_; }

    // The study held here, if any (a SQLite file holds one; a PostgreSQL store is opened for one
    // study key).
    virtual std::optional<StudyRow> study() = 0;
    virtual int64_t create_study(const StudyRow& s) = 0;

    // Every attempt of every run of the study, ordered by (seq, attempt).
    virtual std::vector<RunRow> runs(int64_t study_id) = 0;
    // Complete rows only, with run_json.
    virtual std::vector<RunRow> complete_runs(int64_t study_id) = 0;
    // Inserts a planned row; returns its id.
    virtual int64_t insert_run(const RunRow& r) = 0;

    // planned → running (started_at now). GK_CHECK that the row was planned.
    virtual void mark_running(int64_t run_id) = 0;
    // → failed, interrupted or skipped, with the reason.
    virtual void mark_finished(int64_t run_id, const std::string& status, const std::string& error,
                               std::optional<int> exit_code) = 0;
    // planned, running, failed or interrupted (a run directory found complete on resume) →
    // complete: the summary columns, the hardware columns, the run.json text, its stages and power
    // samples, in one transaction. The partial unique index refuses a second complete row for the
    // same (variant, repeat).
    virtual void mark_complete(int64_t run_id, const nlohmann::json& run_json,
                               std::optional<int> exit_code) = 0;
    // Every `running` row of the study → interrupted with `error` (a study that died mid-run);
    // returns how many.
    virtual int interrupt_running(int64_t study_id, const std::string& error) = 0;
    // Attempts of (variant, repeat) that failed on their own (what --max-retries bounds).
    virtual int failed_attempts(int64_t study_id, const std::string& variant, int repeat) = 0;
    // The executor's handle of an attempt (a Slurm job id; "" = none) and where it runs.
    virtual void set_job(int64_t run_id, const std::string& job_id) = 0;

    // Runs `fn` inside one transaction (rolled back if it throws). Not nestable.
    virtual void transaction(const std::function<void()>& fn) = 0;

    // Counts for tests and the report: rows in stages / samples belonging to `run_id`.
    virtual int64_t count_stages(int64_t run_id) = 0;
    virtual int64_t count_samples(int64_t run_id) = 0;
    // Runs one statement (tests, e.g. checking the schema); throws with the database's message.
    virtual void exec(const std::string& sql) = 0;
    // The first column of the first row of `sql` as text ("" if no row).
    virtual std::string query_text(const std::string& sql) = 0;
    // The highest schema migration applied.
    int schema_version() {
        return std::stoi("0" + query_text("SELECT MAX(version) FROM schema_migrations"));
    }

  protected:
    std::string path_;
};

// The SQLite backend: DIR/study.sqlite, WAL, synchronous=FULL, BEGIN IMMEDIATE transactions.
class SqliteStore : public Store {
  public:
    // Opens (creating if needed) the store at `path` and its schema. InputError if it is not a
    // study store.
    explicit SqliteStore(const std::string& path);
    ~SqliteStore() override;

    std::optional<StudyRow> study() override;
    int64_t create_study(const StudyRow& s) override;
    std::vector<RunRow> runs(int64_t study_id) override;
    std::vector<RunRow> complete_runs(int64_t study_id) override;
    int64_t insert_run(const RunRow& r) override;
    void mark_running(int64_t run_id) override;
    void mark_finished(int64_t run_id, const std::string& status, const std::string& error,
                       std::optional<int> exit_code) override;
    void mark_complete(int64_t run_id, const nlohmann::json& run_json,
                       std::optional<int> exit_code) override;
    int interrupt_running(int64_t study_id, const std::string& error) override;
    int failed_attempts(int64_t study_id, const std::string& variant, int repeat) override;
    void set_job(int64_t run_id, const std::string& job_id) override;
    void transaction(const std::function<void()>& fn) override;
    int64_t count_stages(int64_t run_id) override;
    int64_t count_samples(int64_t run_id) override;
    void exec(const std::string& sql) override;
    std::string query_text(const std::string& sql) override;

  private:
    void migrate();
    void migrate_interrupted_check();
    void begin();
    void commit();
    void rollback();
    sqlite3* db_ = nullptr;
};

// A study directory's store: DIR/store.json ({"uri": "postgresql://...", "study_key": "..."})
// names a PostgreSQL store, else DIR/study.sqlite. `uri` (from --store) is checked against what the
// directory already records; "" = whatever the directory says (SQLite for a new one). InputError
// for a URI that is neither, or one that carries a password (use ~/.pgpass or PGPASSWORD).
struct StoreLocation {
    std::string uri;        // "" = SQLite
    std::string study_key;  // the study's key in a PostgreSQL store
    std::string sqlite_path;
    bool postgresql() const { return !uri.empty(); }
    std::string describe() const { return postgresql() ? uri : sqlite_path; }
};
// Resolves where DIR's study is stored (`create`: a new study key for a new PostgreSQL study).
StoreLocation resolve_store(const std::string& dir, const std::string& uri, bool create);
// Writes DIR/store.json for a PostgreSQL store, once it has been opened (a URI that cannot be
// reached is never recorded).
void record_store(const std::string& dir, const StoreLocation& loc);
// Whether DIR has a store at all (study.sqlite or store.json).
bool has_store(const std::string& dir);
std::unique_ptr<Store> open_store(const StoreLocation& where);

// The schema migrations, in order: version, description, SQL. Version 1 is schema_sql() itself;
// each later one is plain SQL both databases take (ALTER TABLE ... ADD COLUMN, CREATE INDEX).
struct Migration {
    int version;
    const char* description;
    const char* sql;
};
const std::vector<Migration>& migrations();

// The SQL that creates the schema (also shown in the decision record).
const char* schema_sql();

}  // namespace gk::study
