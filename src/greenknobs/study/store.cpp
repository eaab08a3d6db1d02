// SQLite implementation of the study store. Every change that must not be seen half-done (a run
// becoming complete with its stages and samples, recovery after a crash) is one BEGIN IMMEDIATE ...
// COMMIT transaction; with WAL and synchronous=FULL a committed transaction survives kill -9 and
// power loss.
#include "greenknobs/study/store.h"

#include <cmath>
#include <limits>

#include <sqlite3.h>

#include "greenknobs/util/error.h"
#include "greenknobs/util/machine.h"

namespace gk::study {

using nlohmann::json;

const char* schema_sql() {
    return R"SQL(
CREATE TABLE IF NOT EXISTS study (
  id             INTEGER PRIMARY KEY,
  catalog_path   TEXT NOT NULL,
  catalog_sha256 TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  seed           BIGINT NOT NULL,
  repeats        INTEGER NOT NULL,
  variants       TEXT NOT NULL,
  config_json    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  id               INTEGER PRIMARY KEY,
  study_id         INTEGER NOT NULL REFERENCES study(id),
  seq              INTEGER NOT NULL,
  variant          TEXT NOT NULL,
  repeat           INTEGER NOT NULL,
  attempt          INTEGER NOT NULL,
  config_hash      TEXT NOT NULL,
  status           TEXT NOT NULL
                   CHECK (status IN ('planned', 'running', 'complete', 'failed', 'interrupted',
                                     'skipped')),
  error            TEXT,
  started_at       TEXT,
  finished_at      TEXT,
  run_dir          TEXT NOT NULL,
  exit_code        INTEGER,
  total_energy_j   DOUBLE PRECISION,
  eval_energy_j    DOUBLE PRECISION,
  f1_vul           DOUBLE PRECISION,
  f1_weighted      DOUBLE PRECISION,
  total_duration_s DOUBLE PRECISION,
  eval_duration_s  DOUBLE PRECISION,
  run_json         TEXT,
  UNIQUE (study_id, variant, repeat, attempt)
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_complete
  ON runs (study_id, variant, repeat) WHERE status = 'complete';
CREATE TABLE IF NOT EXISTS stages (
  run_id          INTEGER NOT NULL REFERENCES runs(id),
  idx             INTEGER NOT NULL,
  path            TEXT NOT NULL,
  duration_s      DOUBLE PRECISION,
  energy_cpu_j    DOUBLE PRECISION,
  energy_ram_j    DOUBLE PRECISION,
  energy_gpu_j    DOUBLE PRECISION,
  energy_total_j  DOUBLE PRECISION,
  provenance_cpu  TEXT,
  provenance_ram  TEXT,
  provenance_gpu  TEXT,
  PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS samples (
  run_id    INTEGER NOT NULL REFERENCES runs(id),
  source    TEXT NOT NULL,
  component TEXT NOT NULL,
  t_s       DOUBLE PRECISION NOT NULL,
  power_w   DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS samples_by_run ON samples (run_id);
)SQL";
}

namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
    throw std::runtime_error("study store: " + what + ": " +
                             (db ? sqlite3_errmsg(db) : "no database"));
}

// One prepared statement; binds are 1-based like SQLite's.
class Stmt {
  public:
    Stmt(sqlite3* db, const std::string& sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) {
            fail(db, "prepare '" + sql + "'");
        }
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(st_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
    Stmt& bind(int i, int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
    // NaN is stored as NULL (SQL has no NaN; "absent" is what it means here).
    Stmt& bind(int i, double v) {
        if (std::isnan(v)) {
            sqlite3_bind_null(st_, i);
        } else {
            sqlite3_bind_double(st_, i, v);
        }
        return *this;
    }
    Stmt& bind_null(int i) {
        sqlite3_bind_null(st_, i);
        return *this;
    }
    Stmt& bind_opt_text(int i, const std::string& v) {
        return v.empty() ? bind_null(i) : bind(i, v);
    }
    Stmt& bind_opt_int(int i, std::optional<int> v) { return v ? bind(i, *v) : bind_null(i); }

    // true while there is a row.
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        fail(db_, "step");
    }
    void run() {
        while (step()) {
        }
    }
    void reset() {
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
    }
    std::string text(int col) {
        const unsigned char* p = sqlite3_column_text(st_, col);
        return p ? reinterpret_cast<const char*>(p) : "";
    }
    int64_t integer(int col) { return sqlite3_column_int64(st_, col); }
    bool is_null(int col) { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
    double real(int col) {
        return is_null(col) ? std::numeric_limits<double>::quiet_NaN()
                            : sqlite3_column_double(st_, col);
    }

  private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

std::string join_ids(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) {
        out += (out.empty() ? "" : ",") + id;
    }
    return out;
}

std::vector<std::string> split_ids(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ',') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) {
        out.push_back(cur);
    }
    return out;
}

// A JSON number at `ptr`, NaN when missing or null.
double num(const json& doc, const char* ptr) {
    json::json_pointer p(ptr);
    if (!doc.contains(p) || !doc.at(p).is_number()) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    return doc.at(p).get<double>();
}

// The evaluate stage's field (top-level stage named "evaluate").
double eval_stage(const json& doc, const char* field) {
    if (!doc.contains("energy") || !doc["energy"].contains("stages")) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    for (const auto& st : doc["energy"]["stages"]) {
        if (st.value("path", "") == "evaluate") {
            return num(st, field);
        }
    }
    return std::numeric_limits<double>::quiet_NaN();
}

std::string text_or_empty(const json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

const char* kRunColumns =
    "id, study_id, seq, variant, repeat, attempt, config_hash, status, error, started_at, "
    "finished_at, "
    "run_dir, exit_code, total_energy_j, eval_energy_j, f1_vul, f1_weighted, total_duration_s, "
    "eval_duration_s, run_json";

RunRow read_run(Stmt& s) {
    RunRow r;
    r.id = s.integer(0);
    r.study_id = s.integer(1);
    r.seq = static_cast<int>(s.integer(2));
    r.variant = s.text(3);
    r.repeat = static_cast<int>(s.integer(4));
    r.attempt = static_cast<int>(s.integer(5));
    r.config_hash = s.text(6);
    r.status = s.text(7);
    r.error = s.text(8);
    r.started_at = s.text(9);
    r.finished_at = s.text(10);
    r.run_dir = s.text(11);
    if (!s.is_null(12)) {
        r.exit_code = static_cast<int>(s.integer(12));
    }
    r.total_energy_j = s.real(13);
    r.eval_energy_j = s.real(14);
    r.f1_vul = s.real(15);
    r.f1_weighted = s.real(16);
    r.total_duration_s = s.real(17);
    r.eval_duration_s = s.real(18);
    r.run_json = s.text(19);
    return r;
}

}  // namespace

Store::Store(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw InputError(path, "", "cannot open the study store: " + msg);
    }
    // A second process (`greenknobs report` while a study runs) waits instead of failing at once.
    sqlite3_busy_timeout(db_, 10000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
        exec("PRAGMA foreign_keys=ON");
        exec(schema_sql());
        migrate();
    } catch (const std::exception& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw InputError(path, "", std::string("not a usable study store: ") + e.what());
    }
}

Store::~Store() { sqlite3_close(db_); }

void Store::exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("study store: " + msg + " (in: " + sql.substr(0, 80) + ")");
    }
}

std::string Store::query_text(const std::string& sql) {
    Stmt s(db_, sql);
    return s.step() ? s.text(0) : "";
}

void Store::begin() { exec("BEGIN IMMEDIATE"); }
void Store::commit() { exec("COMMIT"); }
void Store::rollback() {
    char* err = nullptr;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, &err);
    sqlite3_free(err);
}

void Store::transaction(const std::function<void()>& fn) {
    begin();
    try {
        fn();
        commit();
    } catch (...) {
        rollback();
        throw;
    }
}

std::optional<StudyRow> Store::study() {
    Stmt s(
        db_,
        "SELECT id, catalog_path, catalog_sha256, created_at, seed, repeats, variants, config_json "
        "FROM study ORDER BY id LIMIT 1");
    if (!s.step()) {
        return std::nullopt;
    }
    StudyRow r;
    r.id = s.integer(0);
    r.catalog_path = s.text(1);
    r.catalog_sha256 = s.text(2);
    r.created_at = s.text(3);
    r.seed = s.integer(4);
    r.repeats = static_cast<int>(s.integer(5));
    r.variants = split_ids(s.text(6));
    r.config = json::parse(s.text(7), nullptr, /*allow_exceptions=*/false);
    return r;
}

int64_t Store::create_study(const StudyRow& r) {
    Stmt s(db_,
           "INSERT INTO study (catalog_path, catalog_sha256, created_at, seed, repeats, variants, "
           "config_json) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, r.catalog_path)
        .bind(2, r.catalog_sha256)
        .bind(3, r.created_at.empty() ? utc_now_iso8601() : r.created_at)
        .bind(4, r.seed)
        .bind(5, r.repeats)
        .bind(6, join_ids(r.variants))
        .bind(7, r.config.dump());
    s.run();
    return sqlite3_last_insert_rowid(db_);
}

std::vector<RunRow> Store::runs(int64_t study_id) {
    Stmt s(db_, std::string("SELECT ") + kRunColumns +
                    " FROM runs WHERE study_id = ? ORDER BY seq, attempt");
    s.bind(1, study_id);
    std::vector<RunRow> out;
    while (s.step()) {
        out.push_back(read_run(s));
    }
    return out;
}

std::vector<RunRow> Store::complete_runs(int64_t study_id) {
    Stmt s(db_,
           std::string("SELECT ") + kRunColumns +
               " FROM runs WHERE study_id = ? AND status = 'complete' ORDER BY variant, repeat");
    s.bind(1, study_id);
    std::vector<RunRow> out;
    while (s.step()) {
        out.push_back(read_run(s));
    }
    return out;
}

int64_t Store::insert_run(const RunRow& r) {
    Stmt s(db_,
           "INSERT INTO runs (study_id, seq, variant, repeat, attempt, config_hash, status, error, "
           "run_dir) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, r.study_id)
        .bind(2, r.seq)
        .bind(3, r.variant)
        .bind(4, r.repeat)
        .bind(5, r.attempt)
        .bind(6, r.config_hash)
        .bind(7, r.status)
        .bind_opt_text(8, r.error)
        .bind(9, r.run_dir);
    s.run();
    return sqlite3_last_insert_rowid(db_);
}

void Store::mark_running(int64_t run_id) {
    Stmt s(db_,
           "UPDATE runs SET status = 'running', started_at = ?, finished_at = NULL, error = NULL "
           "WHERE id = ? AND status = 'planned'");
    s.bind(1, utc_now_iso8601()).bind(2, run_id);
    s.run();
    GK_CHECK(sqlite3_changes(db_) == 1, "run " + std::to_string(run_id) + " was not planned");
}

void Store::mark_finished(int64_t run_id, const std::string& status, const std::string& error,
                          std::optional<int> exit_code) {
    GK_CHECK(status == kFailed || status == kInterrupted || status == kSkipped,
             "mark_finished: " + status);
    Stmt s(
        db_,
        "UPDATE runs SET status = ?, error = ?, exit_code = ?, finished_at = ?, "
        "started_at = COALESCE(started_at, ?) WHERE id = ? AND status IN ('planned', 'running')");
    const std::string now = utc_now_iso8601();
    s.bind(1, status)
        .bind_opt_text(2, error)
        .bind_opt_int(3, exit_code)
        .bind(4, now)
        .bind(5, now)
        .bind(6, run_id);
    s.run();
    GK_CHECK(sqlite3_changes(db_) == 1, "run " + std::to_string(run_id) + " was already finished");
}

void Store::mark_complete(int64_t run_id, const json& doc, std::optional<int> exit_code) {
    begin();
    try {
        Stmt u(db_,
               "UPDATE runs SET status = 'complete', error = NULL, exit_code = ?, "
               "started_at = COALESCE(?, started_at), finished_at = ?, total_energy_j = ?, "
               "eval_energy_j = ?, f1_vul = ?, f1_weighted = ?, total_duration_s = ?, "
               "eval_duration_s = ?, "
               "run_json = ? WHERE id = ? AND status IN ('planned', 'running', 'failed', "
               "'interrupted')");
        const std::string started = text_or_empty(doc, "started_at");
        const std::string finished = text_or_empty(doc, "finished_at");
        u.bind_opt_int(1, exit_code)
            .bind_opt_text(2, started)
            .bind(3, finished.empty() ? utc_now_iso8601() : finished)
            .bind(4, num(doc, "/energy/total/energy_j/total"))
            .bind(5, eval_stage(doc, "/energy_j/total"))
            .bind(6, num(doc, "/metrics/f1_vul"))
            .bind(7, num(doc, "/metrics/f1_weighted"))
            .bind(8, num(doc, "/energy/total/duration_s"))
            .bind(9, eval_stage(doc, "/duration_s"))
            .bind(10, doc.dump())
            .bind(11, run_id);
        u.run();
        GK_CHECK(sqlite3_changes(db_) == 1,
                 "run " + std::to_string(run_id) + " was already finished");

        const json energy = doc.value("energy", json::object());
        Stmt st(db_,
                "INSERT INTO stages (run_id, idx, path, duration_s, energy_cpu_j, energy_ram_j, "
                "energy_gpu_j, "
                "energy_total_j, provenance_cpu, provenance_ram, provenance_gpu) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        int idx = 0;
        for (const auto& stage : energy.value("stages", json::array())) {
            const json prov = stage.value("provenance", json::object());
            st.bind(1, run_id)
                .bind(2, idx++)
                .bind(3, stage.value("path", stage.value("name", "?")))
                .bind(4, num(stage, "/duration_s"))
                .bind(5, num(stage, "/energy_j/cpu"))
                .bind(6, num(stage, "/energy_j/ram"))
                .bind(7, num(stage, "/energy_j/gpu"))
                .bind(8, num(stage, "/energy_j/total"))
                .bind_opt_text(9, text_or_empty(prov, "cpu"))
                .bind_opt_text(10, text_or_empty(prov, "ram"))
                .bind_opt_text(11, text_or_empty(prov, "gpu"));
            st.run();
            st.reset();
        }

        Stmt sa(
            db_,
            "INSERT INTO samples (run_id, source, component, t_s, power_w) VALUES (?, ?, ?, ?, ?)");
        for (const auto& series : energy.value("timeseries", json::array())) {
            const std::string source = series.value("source", "?");
            const std::string component = series.value("component", "?");
            const json t = series.value("t_s", json::array());
            const json p = series.value("power_w", json::array());
            for (size_t i = 0; i < t.size() && i < p.size(); ++i) {
                if (!t[i].is_number()) {
                    continue;
                }
                sa.bind(1, run_id).bind(2, source).bind(3, component).bind(4, t[i].get<double>());
                if (p[i].is_number()) {
                    sa.bind(5, p[i].get<double>());
                } else {
                    sa.bind_null(5);
                }
                sa.run();
                sa.reset();
            }
        }
        commit();
    } catch (...) {
        rollback();
        throw;
    }
}

int Store::interrupt_running(int64_t study_id, const std::string& error) {
    Stmt s(db_,
           "UPDATE runs SET status = 'interrupted', error = ?, finished_at = ? "
           "WHERE study_id = ? AND status = 'running'");
    s.bind(1, error).bind(2, utc_now_iso8601()).bind(3, study_id);
    s.run();
    return sqlite3_changes(db_);
}

int Store::failed_attempts(int64_t study_id, const std::string& variant, int repeat) {
    Stmt s(db_,
           "SELECT COUNT(*) FROM runs WHERE study_id = ? AND variant = ? AND repeat = ? "
           "AND status = 'failed'");
    s.bind(1, study_id).bind(2, variant).bind(3, repeat);
    s.step();
    return static_cast<int>(s.integer(0));
}

// Stores written before the 'interrupted' status have a CHECK that refuses it, and SQLite cannot
// alter a CHECK: the runs table is rebuilt once (SQLite's documented create-copy-drop-rename
// sequence, foreign keys off), in one transaction. Attempts those versions recorded as failed only
// because the study stopped (their own error texts) become interrupted, so their runs get their
// retry budget back.
void Store::migrate() {
    const std::string ddl =
        query_text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'runs'");
    if (ddl.find("'interrupted'") != std::string::npos) {
        return;
    }
    exec("PRAGMA foreign_keys=OFF");
    try {
        transaction([&] {
            std::string create = schema_sql();
            const size_t from = create.find("CREATE TABLE IF NOT EXISTS runs (");
            const size_t to = create.find(");", from);
            GK_CHECK(from != std::string::npos && to != std::string::npos, "runs DDL not found");
            create = create.substr(from, to + 2 - from);
            create.replace(0, std::string("CREATE TABLE IF NOT EXISTS runs").size(),
                           "CREATE TABLE runs_migrated");
            exec(create);
            exec("INSERT INTO runs_migrated SELECT * FROM runs");
            exec("DROP TABLE runs");
            exec("ALTER TABLE runs_migrated RENAME TO runs");
            exec(schema_sql());  // the partial unique index went with the old table
            exec(
                "UPDATE runs SET status = 'interrupted' WHERE status = 'failed' AND ("
                "error LIKE 'interrupted: the study process stopped%' OR "
                "error LIKE 'interrupted by SIG%')");
            GK_CHECK(query_text("PRAGMA foreign_key_check").empty(),
                     "foreign keys broken by the migration");
        });
    } catch (...) {
        exec("PRAGMA foreign_keys=ON");
        throw;
    }
    exec("PRAGMA foreign_keys=ON");
}

int64_t Store::count_stages(int64_t run_id) {
    Stmt s(db_, "SELECT COUNT(*) FROM stages WHERE run_id = ?");
    s.bind(1, run_id);
    s.step();
    return s.integer(0);
}

int64_t Store::count_samples(int64_t run_id) {
    Stmt s(db_, "SELECT COUNT(*) FROM samples WHERE run_id = ?");
    s.bind(1, run_id);
    s.step();
    return s.integer(0);
}

}  // namespace gk::study
