// The study store's shared parts (schema, migrations, what a complete run writes, where a study
// directory's store is) and its SQLite backend. Every change that must not be seen half-done (a run
// becoming complete with its stages and samples, recovery after a crash) is one BEGIN IMMEDIATE ...
// COMMIT transaction; with WAL and synchronous=FULL a committed transaction survives kill -9 and
// power loss.
#include "greenknobs/study/store.h"

#include <cmath>
#include <fstream>
#include <limits>

#include <sqlite3.h>

#include "greenknobs/study/pg_store.h"
#include "greenknobs/study/store_rows.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/utc_time.h"

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

const std::vector<Migration>& migrations() {
    // Version 1 is schema_sql() (plus, for SQLite stores older than the 'interrupted' status, the
    // CHECK rebuild of migrate_interrupted_check()). Never edit a released entry: add one.
    static const std::vector<Migration> m = {
        {1, "study, runs, stages, samples", ""},
        {2, "hardware and executor columns; study keys (many studies in one PostgreSQL store)",
         "ALTER TABLE study ADD COLUMN study_key TEXT;\n"
         "CREATE UNIQUE INDEX IF NOT EXISTS study_by_key ON study (study_key);\n"
         "ALTER TABLE runs ADD COLUMN job_id TEXT;\n"
         "ALTER TABLE runs ADD COLUMN host TEXT;\n"
         "ALTER TABLE runs ADD COLUMN cpu_model TEXT;\n"
         "ALTER TABLE runs ADD COLUMN gpu_model TEXT;\n"
         "ALTER TABLE runs ADD COLUMN power_limit_w DOUBLE PRECISION;\n"},
    };
    return m;
}

namespace detail {

const char* const kRunColumns =
    "id, study_id, seq, variant, repeat, attempt, config_hash, status, error, started_at, "
    "finished_at, run_dir, exit_code, total_energy_j, eval_energy_j, f1_vul, f1_weighted, "
    "total_duration_s, eval_duration_s, run_json, job_id, host";

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

namespace {

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

std::string text_at(const json& doc, const char* ptr) {
    json::json_pointer p(ptr);
    return doc.is_object() && doc.contains(p) && doc.at(p).is_string()
               ? doc.at(p).get<std::string>()
               : "";
}

}  // namespace

RunSummary summarize(const json& doc) {
    RunSummary s;
    s.started_at = text_at(doc, "/started_at");
    s.finished_at = text_at(doc, "/finished_at");
    s.total_energy_j = num(doc, "/energy/total/energy_j/total");
    s.eval_energy_j = eval_stage(doc, "/energy_j/total");
    s.f1_vul = num(doc, "/metrics/f1_vul");
    s.f1_weighted = num(doc, "/metrics/f1_weighted");
    s.total_duration_s = num(doc, "/energy/total/duration_s");
    s.eval_duration_s = eval_stage(doc, "/duration_s");
    s.hw = run_hardware(doc);
    return s;
}

std::vector<StageRow> stage_rows(const json& doc) {
    std::vector<StageRow> out;
    const json energy = doc.value("energy", json::object());
    for (const auto& stage : energy.value("stages", json::array())) {
        const json prov = stage.value("provenance", json::object());
        out.push_back(StageRow{stage.value("path", stage.value("name", "?")),
                               num(stage, "/duration_s"), num(stage, "/energy_j/cpu"),
                               num(stage, "/energy_j/ram"), num(stage, "/energy_j/gpu"),
                               num(stage, "/energy_j/total"), text_at(prov, "/cpu"),
                               text_at(prov, "/ram"), text_at(prov, "/gpu")});
    }
    return out;
}

std::vector<SampleRow> sample_rows(const json& doc) {
    std::vector<SampleRow> out;
    const json energy = doc.value("energy", json::object());
    for (const auto& series : energy.value("timeseries", json::array())) {
        const std::string source = series.value("source", "?");
        const std::string component = series.value("component", "?");
        const json t = series.value("t_s", json::array());
        const json p = series.value("power_w", json::array());
        for (size_t i = 0; i < t.size() && i < p.size(); ++i) {
            if (!t[i].is_number()) {
                continue;
            }
            out.push_back(SampleRow{
                source, component, t[i].get<double>(),
                p[i].is_number() ? p[i].get<double>() : std::numeric_limits<double>::quiet_NaN()});
        }
    }
    return out;
}

}  // namespace detail

std::string RunHardware::signature() const {
    return "cpu=" + (cpu_model.empty() ? std::string("?") : cpu_model) +
           "; gpu=" + (gpu_model.empty() ? std::string("none") : gpu_model);
}

RunHardware run_hardware(const json& doc) {
    RunHardware h;
    h.host = detail::text_at(doc, "/machine/hostname");
    h.cpu_model = detail::text_at(doc, "/machine/cpu_model");
    if (h.cpu_model.empty()) {
        h.cpu_model = detail::text_at(doc, "/energy/machine/cpu_model");
    }
    h.gpu_model = detail::text_at(doc, "/energy/machine/gpu_model");
    if (h.gpu_model.empty()) {
        h.gpu_model = detail::text_at(doc, "/machine/gpu_model");
    }
    // The limit the run asked for (system.power_limit_w, the V5 knob); what was enforced is in
    // run.json's power_limit record.
    double limit = detail::num(doc, "/config/system/power_limit_w");
    h.power_limit_w = std::isfinite(limit) && limit > 0 ? limit : 0;
    return h;
}

namespace {

bool is_postgres_uri(const std::string& uri) {
    return uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0;
}

std::string new_study_key() {
    std::ifstream in("/proc/sys/kernel/random/uuid");
    std::string key;
    std::getline(in, key);
    GK_CHECK(key.size() >= 32, "cannot read a UUID from /proc/sys/kernel/random/uuid");
    return key;
}

}  // namespace

bool has_store(const std::string& dir) {
    return fs::exists(fs::join(dir, "store.json")) || fs::exists(fs::join(dir, "study.sqlite"));
}

StoreLocation resolve_store(const std::string& dir, const std::string& uri, bool create) {
    StoreLocation loc;
    loc.sqlite_path = fs::join(dir, "study.sqlite");
    const std::string meta = fs::join(dir, "store.json");
    if (!uri.empty() && uri != "sqlite" && !is_postgres_uri(uri)) {
        throw InputError("--store", uri,
                         "expected a postgresql://[user@]host[:port]/dbname URI or \"sqlite\"");
    }
    if (fs::exists(meta)) {
        json j = json::parse(fs::read_file(meta), nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || !j.value("uri", json()).is_string() ||
            !j.value("study_key", json()).is_string()) {
            throw InputError(meta, "",
                             "expected {\"uri\": \"postgresql://...\", \"study_key\": \"...\"}");
        }
        loc.uri = j["uri"].get<std::string>();
        loc.study_key = j["study_key"].get<std::string>();
        if (!uri.empty() && uri != loc.uri) {
            throw InputError("--store", uri,
                             "this study directory's store is " + loc.uri + " (" + meta +
                                 "); resume with the same --store, or use a new --out");
        }
        return loc;
    }
    if (uri.empty() || uri == "sqlite") {
        return loc;
    }
    if (fs::exists(loc.sqlite_path)) {
        throw InputError("--store", uri,
                         "this study directory already has a SQLite store (" + loc.sqlite_path +
                             "); use a new --out for a PostgreSQL study");
    }
    reject_password(uri);
    loc.uri = uri;
    if (create) {
        loc.study_key = new_study_key();
    }
    return loc;
}

void record_store(const std::string& dir, const StoreLocation& loc) {
    const std::string meta = fs::join(dir, "store.json");
    if (!loc.postgresql() || fs::exists(meta)) {
        return;
    }
    fs::write_file_atomic(meta,
                          json{{"uri", loc.uri}, {"study_key", loc.study_key}}.dump(2) + "\n");
}

std::unique_ptr<Store> open_store(const StoreLocation& where) {
    if (where.postgresql()) {
        return std::make_unique<PgStore>(where.uri, where.study_key);
    }
    return std::make_unique<SqliteStore>(where.sqlite_path);
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
    r.job_id = s.text(20);
    r.host = s.text(21);
    return r;
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path) {
    path_ = path;
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

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

void SqliteStore::exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("study store: " + msg + " (in: " + sql.substr(0, 80) + ")");
    }
}

std::string SqliteStore::query_text(const std::string& sql) {
    Stmt s(db_, sql);
    return s.step() ? s.text(0) : "";
}

void SqliteStore::begin() { exec("BEGIN IMMEDIATE"); }
void SqliteStore::commit() { exec("COMMIT"); }
void SqliteStore::rollback() {
    char* err = nullptr;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, &err);
    sqlite3_free(err);
}

void SqliteStore::transaction(const std::function<void()>& fn) {
    begin();
    try {
        fn();
        commit();
    } catch (...) {
        rollback();
        throw;
    }
}

std::optional<StudyRow> SqliteStore::study() {
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
    r.variants = detail::split_ids(s.text(6));
    r.config = json::parse(s.text(7), nullptr, /*allow_exceptions=*/false);
    return r;
}

int64_t SqliteStore::create_study(const StudyRow& r) {
    Stmt s(db_,
           "INSERT INTO study (catalog_path, catalog_sha256, created_at, seed, repeats, variants, "
           "config_json) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, r.catalog_path)
        .bind(2, r.catalog_sha256)
        .bind(3, r.created_at.empty() ? utc_now_iso8601() : r.created_at)
        .bind(4, r.seed)
        .bind(5, r.repeats)
        .bind(6, detail::join_ids(r.variants))
        .bind(7, r.config.dump());
    s.run();
    return sqlite3_last_insert_rowid(db_);
}

std::vector<RunRow> SqliteStore::runs(int64_t study_id) {
    Stmt s(db_, std::string("SELECT ") + detail::kRunColumns +
                    " FROM runs WHERE study_id = ? ORDER BY seq, attempt");
    s.bind(1, study_id);
    std::vector<RunRow> out;
    while (s.step()) {
        out.push_back(read_run(s));
    }
    return out;
}

std::vector<RunRow> SqliteStore::complete_runs(int64_t study_id) {
    Stmt s(db_,
           std::string("SELECT ") + detail::kRunColumns +
               " FROM runs WHERE study_id = ? AND status = 'complete' ORDER BY variant, repeat");
    s.bind(1, study_id);
    std::vector<RunRow> out;
    while (s.step()) {
        out.push_back(read_run(s));
    }
    return out;
}

int64_t SqliteStore::insert_run(const RunRow& r) {
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

void SqliteStore::mark_running(int64_t run_id) {
    Stmt s(db_,
           "UPDATE runs SET status = 'running', started_at = ?, finished_at = NULL, error = NULL "
           "WHERE id = ? AND status = 'planned'");
    s.bind(1, utc_now_iso8601()).bind(2, run_id);
    s.run();
    GK_CHECK(sqlite3_changes(db_) == 1, "run " + std::to_string(run_id) + " was not planned");
}

void SqliteStore::mark_finished(int64_t run_id, const std::string& status, const std::string& error,
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

void SqliteStore::mark_complete(int64_t run_id, const json& doc, std::optional<int> exit_code) {
    const detail::RunSummary sum = detail::summarize(doc);
    transaction([&] {
        Stmt u(db_,
               "UPDATE runs SET status = 'complete', error = NULL, exit_code = ?, "
               "started_at = COALESCE(?, started_at), finished_at = ?, total_energy_j = ?, "
               "eval_energy_j = ?, f1_vul = ?, f1_weighted = ?, total_duration_s = ?, "
               "eval_duration_s = ?, run_json = ?, host = ?, cpu_model = ?, gpu_model = ?, "
               "power_limit_w = ? WHERE id = ? AND status IN ('planned', 'running', 'failed', "
               "'interrupted')");
        u.bind_opt_int(1, exit_code)
            .bind_opt_text(2, sum.started_at)
            .bind(3, sum.finished_at.empty() ? utc_now_iso8601() : sum.finished_at)
            .bind(4, sum.total_energy_j)
            .bind(5, sum.eval_energy_j)
            .bind(6, sum.f1_vul)
            .bind(7, sum.f1_weighted)
            .bind(8, sum.total_duration_s)
            .bind(9, sum.eval_duration_s)
            .bind(10, doc.dump())
            .bind_opt_text(11, sum.hw.host)
            .bind_opt_text(12, sum.hw.cpu_model)
            .bind_opt_text(13, sum.hw.gpu_model);
        if (sum.hw.power_limit_w > 0) {
            u.bind(14, sum.hw.power_limit_w);
        } else {
            u.bind_null(14);
        }
        u.bind(15, run_id);
        u.run();
        GK_CHECK(sqlite3_changes(db_) == 1,
                 "run " + std::to_string(run_id) + " was already finished");

        Stmt st(db_,
                "INSERT INTO stages (run_id, idx, path, duration_s, energy_cpu_j, energy_ram_j, "
                "energy_gpu_j, energy_total_j, provenance_cpu, provenance_ram, provenance_gpu) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        int idx = 0;
        for (const auto& r : detail::stage_rows(doc)) {
            st.bind(1, run_id)
                .bind(2, idx++)
                .bind(3, r.path)
                .bind(4, r.duration_s)
                .bind(5, r.cpu_j)
                .bind(6, r.ram_j)
                .bind(7, r.gpu_j)
                .bind(8, r.total_j)
                .bind_opt_text(9, r.prov_cpu)
                .bind_opt_text(10, r.prov_ram)
                .bind_opt_text(11, r.prov_gpu);
            st.run();
            st.reset();
        }
        Stmt sa(
            db_,
            "INSERT INTO samples (run_id, source, component, t_s, power_w) VALUES (?, ?, ?, ?, ?)");
        for (const auto& r : detail::sample_rows(doc)) {
            sa.bind(1, run_id)
                .bind(2, r.source)
                .bind(3, r.component)
                .bind(4, r.t_s)
                .bind(5, r.power_w);
            sa.run();
            sa.reset();
        }
    });
}

void SqliteStore::set_job(int64_t run_id, const std::string& job_id) {
    Stmt s(db_, "UPDATE runs SET job_id = ? WHERE id = ?");
    s.bind_opt_text(1, job_id).bind(2, run_id);
    s.run();
    GK_CHECK(sqlite3_changes(db_) == 1, "no run " + std::to_string(run_id));
}

int SqliteStore::interrupt_running(int64_t study_id, const std::string& error) {
    Stmt s(db_,
           "UPDATE runs SET status = 'interrupted', error = ?, finished_at = ? "
           "WHERE study_id = ? AND status = 'running'");
    s.bind(1, error).bind(2, utc_now_iso8601()).bind(3, study_id);
    s.run();
    return sqlite3_changes(db_);
}

int SqliteStore::failed_attempts(int64_t study_id, const std::string& variant, int repeat) {
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
void SqliteStore::migrate() {
    migrate_interrupted_check();
    // Up to date (every open but the first): read only, so that a reader (`greenknobs report`, a
    // test polling the store) never takes the write lock from the study that writes it.
    const bool have_table = !query_text(
                                 "SELECT name FROM sqlite_master WHERE type = 'table' AND name = "
                                 "'schema_migrations'")
                                 .empty();
    if (have_table && std::stoi("0" + query_text("SELECT MAX(version) FROM schema_migrations")) >=
                          migrations().back().version) {
        return;
    }
    exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL)");
    // BEGIN IMMEDIATE takes the write lock first: two processes opening a new store at once apply
    // each migration once.
    transaction([&] {
        const int have = std::stoi("0" + query_text("SELECT MAX(version) FROM schema_migrations"));
        for (const auto& m : migrations()) {
            if (m.version <= have) {
                continue;
            }
            if (*m.sql) {
                exec(m.sql);
            }
            Stmt s(db_,
                   "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, "
                   "?)");
            s.bind(1, m.version).bind(2, m.description).bind(3, utc_now_iso8601());
            s.run();
        }
    });
}

void SqliteStore::migrate_interrupted_check() {
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
            // Columns later migrations added (a store that has them) come along by name.
            std::string cols;
            {
                Stmt info(db_, "SELECT name, type FROM pragma_table_info('runs') ORDER BY cid");
                while (info.step()) {
                    const std::string name = info.text(0);
                    if (query_text("SELECT name FROM pragma_table_info('runs_migrated') WHERE "
                                   "name = '" +
                                   name + "'")
                            .empty()) {
                        exec("ALTER TABLE runs_migrated ADD COLUMN " + name + " " + info.text(1));
                    }
                    cols += (cols.empty() ? "" : ", ") + name;
                }
            }
            exec("INSERT INTO runs_migrated (" + cols + ") SELECT " + cols + " FROM runs");
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

int64_t SqliteStore::count_stages(int64_t run_id) {
    Stmt s(db_, "SELECT COUNT(*) FROM stages WHERE run_id = ?");
    s.bind(1, run_id);
    s.step();
    return s.integer(0);
}

int64_t SqliteStore::count_samples(int64_t run_id) {
    Stmt s(db_, "SELECT COUNT(*) FROM samples WHERE run_id = ?");
    s.bind(1, run_id);
    s.step();
    return s.integer(0);
}

}  // namespace gk::study
