// The PostgreSQL study store. Statements are parameterised (PQexecParams, text format); NaN and ""
// are bound as NULL like in the SQLite backend. Isolation is PostgreSQL's default READ COMMITTED:
// every state change is one UPDATE whose WHERE names the states it may leave (re-checked on the
// locked row), and the partial unique index refuses a second complete row, so two writers can never
// both complete the same run.
#include "greenknobs/study/pg_store.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include <libpq-fe.h>

#include "greenknobs/study/store_rows.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/machine.h"
#include "greenknobs/util/utc_time.h"

namespace gk::study {

using nlohmann::json;

namespace {

// One key for the migration advisory lock (any constant works; this one spells "gkstudy").
constexpr long long kMigrationLock = 0x676b7374756479LL;

class Params {
  public:
    Params& text(const std::string& v) {
        v_.emplace_back(v);
        return *this;
    }
    Params& opt_text(const std::string& v) {
        v_.push_back(v.empty() ? std::nullopt : std::optional<std::string>(v));
        return *this;
    }
    Params& integer(int64_t v) {
        v_.emplace_back(std::to_string(v));
        return *this;
    }
    Params& opt_int(std::optional<int> v) {
        v_.push_back(v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt);
        return *this;
    }
    Params& real(double v) {
        if (std::isnan(v)) {
            v_.emplace_back(std::nullopt);
        } else {
            char buf[40];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            v_.emplace_back(std::string(buf));
        }
        return *this;
    }
    std::vector<const char*> pointers() const {
        std::vector<const char*> p;
        for (const auto& v : v_) {
            p.push_back(v ? v->c_str() : nullptr);
        }
        return p;
    }
    int size() const { return static_cast<int>(v_.size()); }

  private:
    std::vector<std::optional<std::string>> v_;
};

class Result {
  public:
    explicit Result(PGresult* r) : r_(r) {}
    ~Result() { PQclear(r_); }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    int rows() const { return PQntuples(r_); }
    bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
    std::string text(int row, int col) const {
        return is_null(row, col) ? "" : PQgetvalue(r_, row, col);
    }
    int64_t integer(int row, int col) const {
        return is_null(row, col) ? 0 : std::stoll(PQgetvalue(r_, row, col));
    }
    double real(int row, int col) const {
        return is_null(row, col) ? std::nan("") : std::stod(PQgetvalue(r_, row, col));
    }
    int affected() const {
        const char* n = PQcmdTuples(r_);
        return n && *n ? std::atoi(n) : 0;
    }

  private:
    PGresult* r_;
};

void ignore_notice(void*, const char*) {}

RunRow read_run(const Result& r, int i) {
    RunRow row;
    row.id = r.integer(i, 0);
    row.study_id = r.integer(i, 1);
    row.seq = static_cast<int>(r.integer(i, 2));
    row.variant = r.text(i, 3);
    row.repeat = static_cast<int>(r.integer(i, 4));
    row.attempt = static_cast<int>(r.integer(i, 5));
    row.config_hash = r.text(i, 6);
    row.status = r.text(i, 7);
    row.error = r.text(i, 8);
    row.started_at = r.text(i, 9);
    row.finished_at = r.text(i, 10);
    row.run_dir = r.text(i, 11);
    if (!r.is_null(i, 12)) {
        row.exit_code = static_cast<int>(r.integer(i, 12));
    }
    row.total_energy_j = r.real(i, 13);
    row.eval_energy_j = r.real(i, 14);
    row.f1_vul = r.real(i, 15);
    row.f1_weighted = r.real(i, 16);
    row.total_duration_s = r.real(i, 17);
    row.eval_duration_s = r.real(i, 18);
    row.run_json = r.text(i, 19);
    row.job_id = r.text(i, 20);
    row.host = r.text(i, 21);
    return row;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

}  // namespace

void reject_password(const std::string& uri) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(uri.c_str(), &err);
    if (!opts) {
        std::string why = err ? err : "not a connection URI";
        PQfreemem(err);
        while (!why.empty() && why.back() == '\n') {
            why.pop_back();
        }
        throw InputError("--store", uri, "not a PostgreSQL connection URI: " + why);
    }
    bool has_password = false;
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
        if (std::strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
            has_password = true;
        }
    }
    PQconninfoFree(opts);
    if (has_password) {
        throw InputError("--store", "postgresql://...",
                         "the URI carries a password, which would be written to DIR/store.json; "
                         "put it in ~/.pgpass or PGPASSWORD instead");
    }
}

std::string postgres_schema_sql() {
    std::string s = schema_sql();
    replace_all(s, "INTEGER PRIMARY KEY", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY");
    replace_all(s, "INTEGER NOT NULL REFERENCES", "BIGINT NOT NULL REFERENCES");
    return s;
}

PgStore::PgStore(const std::string& uri, const std::string& study_key) : key_(study_key) {
    path_ = uri;
    reject_password(uri);
    conn_ = PQconnectdb(uri.c_str());
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
        PQfinish(conn_);
        conn_ = nullptr;
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
            why.pop_back();
        }
        throw InputError(uri, "", "cannot connect to the PostgreSQL study store: " + why);
    }
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    try {
        exec("SET client_min_messages = warning");
        migrate();
    } catch (const InputError&) {
        throw;
    } catch (const std::exception& e) {
        PQfinish(conn_);
        conn_ = nullptr;
        throw InputError(uri, "", std::string("not a usable study store: ") + e.what());
    }
}

PgStore::~PgStore() { PQfinish(conn_); }

namespace {

[[noreturn]] void pg_fail(pg_conn* c, const std::string& sql) {
    std::string why = PQerrorMessage(c);
    while (!why.empty() && why.back() == '\n') {
        why.pop_back();
    }
    throw std::runtime_error("study store: " + why + " (in: " + sql.substr(0, 80) + ")");
}

Result run(pg_conn* c, const std::string& sql, const Params& p = Params()) {
    auto ptrs = p.pointers();
    PGresult* r = PQexecParams(c, sql.c_str(), p.size(), nullptr, ptrs.data(), nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        PQclear(r);
        pg_fail(c, sql);
    }
    return Result(r);
}

}  // namespace

void PgStore::exec(const std::string& sql) {
    // PQexec (not PQexecParams) so that a script of several statements runs.
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_fail(conn_, sql);
    }
}

std::string PgStore::query_text(const std::string& sql) {
    Result r = run(conn_, sql);
    return r.rows() > 0 ? r.text(0, 0) : "";
}

void PgStore::transaction(const std::function<void()>& fn) {
    if (in_tx_) {  // already inside one (mark_complete called from a caller's transaction)
        fn();
        return;
    }
    exec("BEGIN");
    in_tx_ = true;
    try {
        fn();
        exec("COMMIT");
        in_tx_ = false;
    } catch (...) {
        in_tx_ = false;
        PGresult* r = PQexec(conn_, "ROLLBACK");
        PQclear(r);
        throw;
    }
}

// Versioned like the SQLite store; an advisory lock makes concurrent first connections (many
// array tasks starting at once) apply each migration exactly once. DDL is transactional here.
void PgStore::migrate() {
    transaction([&] {
        run(conn_, "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
        exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL)");
        const int have = std::stoi("0" + query_text("SELECT MAX(version) FROM schema_migrations"));
        for (const auto& m : migrations()) {
            if (m.version <= have) {
                continue;
            }
            exec(m.version == 1 ? postgres_schema_sql() : std::string(m.sql));
            run(conn_,
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, "
                "$3)",
                Params().integer(m.version).text(m.description).text(utc_now_iso8601()));
        }
    });
}

std::optional<StudyRow> PgStore::study() {
    Result r = run(conn_,
                   "SELECT id, catalog_path, catalog_sha256, created_at, seed, repeats, variants, "
                   "config_json FROM study WHERE study_key = $1",
                   Params().text(key_));
    if (r.rows() == 0) {
        return std::nullopt;
    }
    StudyRow s;
    s.id = r.integer(0, 0);
    s.catalog_path = r.text(0, 1);
    s.catalog_sha256 = r.text(0, 2);
    s.created_at = r.text(0, 3);
    s.seed = r.integer(0, 4);
    s.repeats = static_cast<int>(r.integer(0, 5));
    s.variants = detail::split_ids(r.text(0, 6));
    s.config = json::parse(r.text(0, 7), nullptr, /*allow_exceptions=*/false);
    return s;
}

int64_t PgStore::create_study(const StudyRow& s) {
    Result r = run(conn_,
                   "INSERT INTO study (catalog_path, catalog_sha256, created_at, seed, repeats, "
                   "variants, config_json, study_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                   "RETURNING id",
                   Params()
                       .text(s.catalog_path)
                       .text(s.catalog_sha256)
                       .text(s.created_at.empty() ? utc_now_iso8601() : s.created_at)
                       .integer(s.seed)
                       .integer(s.repeats)
                       .text(detail::join_ids(s.variants))
                       .text(s.config.dump())
                       .text(key_));
    return r.integer(0, 0);
}

std::vector<RunRow> PgStore::runs(int64_t study_id) {
    Result r = run(conn_,
                   std::string("SELECT ") + detail::kRunColumns +
                       " FROM runs WHERE study_id = $1 ORDER BY seq, attempt",
                   Params().integer(study_id));
    std::vector<RunRow> out;
    for (int i = 0; i < r.rows(); ++i) {
        out.push_back(read_run(r, i));
    }
    return out;
}

std::vector<RunRow> PgStore::complete_runs(int64_t study_id) {
    // COLLATE "C": the same byte order as SQLite's default BINARY collation.
    Result r = run(conn_,
                   std::string("SELECT ") + detail::kRunColumns +
                       " FROM runs WHERE study_id = $1 AND status = 'complete' "
                       "ORDER BY variant COLLATE \"C\", repeat",
                   Params().integer(study_id));
    std::vector<RunRow> out;
    for (int i = 0; i < r.rows(); ++i) {
        out.push_back(read_run(r, i));
    }
    return out;
}

int64_t PgStore::insert_run(const RunRow& row) {
    Result r =
        run(conn_,
            "INSERT INTO runs (study_id, seq, variant, repeat, attempt, config_hash, status, "
            "error, run_dir) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            Params()
                .integer(row.study_id)
                .integer(row.seq)
                .text(row.variant)
                .integer(row.repeat)
                .integer(row.attempt)
                .text(row.config_hash)
                .text(row.status)
                .opt_text(row.error)
                .text(row.run_dir));
    return r.integer(0, 0);
}

void PgStore::mark_running(int64_t run_id) {
    Result r = run(conn_,
                   "UPDATE runs SET status = 'running', started_at = $1, finished_at = NULL, "
                   "error = NULL WHERE id = $2 AND status = 'planned'",
                   Params().text(utc_now_iso8601()).integer(run_id));
    GK_CHECK(r.affected() == 1, "run " + std::to_string(run_id) + " was not planned");
}

void PgStore::mark_finished(int64_t run_id, const std::string& status, const std::string& error,
                            std::optional<int> exit_code) {
    GK_CHECK(status == kFailed || status == kInterrupted || status == kSkipped,
             "mark_finished: " + status);
    const std::string now = utc_now_iso8601();
    Result r =
        run(conn_,
            "UPDATE runs SET status = $1, error = $2, exit_code = $3, finished_at = $4, "
            "started_at = COALESCE(started_at, $4) WHERE id = $5 "
            "AND status IN ('planned', 'running')",
            Params().text(status).opt_text(error).opt_int(exit_code).text(now).integer(run_id));
    GK_CHECK(r.affected() == 1, "run " + std::to_string(run_id) + " was already finished");
}

void PgStore::mark_complete(int64_t run_id, const json& doc, std::optional<int> exit_code) {
    const detail::RunSummary sum = detail::summarize(doc);
    transaction([&] {
        Result u = run(
            conn_,
            "UPDATE runs SET status = 'complete', error = NULL, exit_code = $1, "
            "started_at = COALESCE($2, started_at), finished_at = $3, total_energy_j = $4, "
            "eval_energy_j = $5, f1_vul = $6, f1_weighted = $7, total_duration_s = $8, "
            "eval_duration_s = $9, run_json = $10, host = $11, cpu_model = $12, gpu_model = $13, "
            "power_limit_w = $14 WHERE id = $15 AND status IN ('planned', 'running', 'failed', "
            "'interrupted')",
            Params()
                .opt_int(exit_code)
                .opt_text(sum.started_at)
                .text(sum.finished_at.empty() ? utc_now_iso8601() : sum.finished_at)
                .real(sum.total_energy_j)
                .real(sum.eval_energy_j)
                .real(sum.f1_vul)
                .real(sum.f1_weighted)
                .real(sum.total_duration_s)
                .real(sum.eval_duration_s)
                .text(doc.dump())
                .opt_text(sum.hw.host)
                .opt_text(sum.hw.cpu_model)
                .opt_text(sum.hw.gpu_model)
                .real(sum.hw.power_limit_w > 0 ? sum.hw.power_limit_w : std::nan(""))
                .integer(run_id));
        GK_CHECK(u.affected() == 1, "run " + std::to_string(run_id) + " was already finished");
        int idx = 0;
        for (const auto& s : detail::stage_rows(doc)) {
            run(conn_,
                "INSERT INTO stages (run_id, idx, path, duration_s, energy_cpu_j, energy_ram_j, "
                "energy_gpu_j, energy_total_j, provenance_cpu, provenance_ram, provenance_gpu) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                Params()
                    .integer(run_id)
                    .integer(idx++)
                    .text(s.path)
                    .real(s.duration_s)
                    .real(s.cpu_j)
                    .real(s.ram_j)
                    .real(s.gpu_j)
                    .real(s.total_j)
                    .opt_text(s.prov_cpu)
                    .opt_text(s.prov_ram)
                    .opt_text(s.prov_gpu));
        }
        // Samples go in batches of 500 rows per statement (a run has thousands).
        const auto samples = detail::sample_rows(doc);
        for (size_t from = 0; from < samples.size(); from += 500) {
            const size_t to = std::min(samples.size(), from + 500);
            std::string sql =
                "INSERT INTO samples (run_id, source, component, t_s, power_w) VALUES ";
            Params p;
            for (size_t i = from; i < to; ++i) {
                const int b = static_cast<int>(5 * (i - from));
                sql += (i == from ? "" : ", ") + std::string("($") + std::to_string(b + 1) + ", $" +
                       std::to_string(b + 2) + ", $" + std::to_string(b + 3) + ", $" +
                       std::to_string(b + 4) + ", $" + std::to_string(b + 5) + ")";
                p.integer(run_id)
                    .text(samples[i].source)
                    .text(samples[i].component)
                    .real(samples[i].t_s)
                    .real(samples[i].power_w);
            }
            run(conn_, sql, p);
        }
    });
}

int PgStore::interrupt_running(int64_t study_id, const std::string& error) {
    Result r = run(conn_,
                   "UPDATE runs SET status = 'interrupted', error = $1, finished_at = $2 "
                   "WHERE study_id = $3 AND status = 'running'",
                   Params().text(error).text(utc_now_iso8601()).integer(study_id));
    return r.affected();
}

int PgStore::failed_attempts(int64_t study_id, const std::string& variant, int repeat) {
    Result r = run(conn_,
                   "SELECT COUNT(*) FROM runs WHERE study_id = $1 AND variant = $2 AND repeat = $3 "
                   "AND status = 'failed'",
                   Params().integer(study_id).text(variant).integer(repeat));
    return static_cast<int>(r.integer(0, 0));
}

void PgStore::set_job(int64_t run_id, const std::string& job_id) {
    Result r = run(conn_, "UPDATE runs SET job_id = $1 WHERE id = $2",
                   Params().opt_text(job_id).integer(run_id));
    GK_CHECK(r.affected() == 1, "no run " + std::to_string(run_id));
}

int64_t PgStore::count_stages(int64_t run_id) {
    return run(conn_, "SELECT COUNT(*) FROM stages WHERE run_id = $1", Params().integer(run_id))
        .integer(0, 0);
}

int64_t PgStore::count_samples(int64_t run_id) {
    return run(conn_, "SELECT COUNT(*) FROM samples WHERE run_id = $1", Params().integer(run_id))
        .integer(0, 0);
}

}  // namespace gk::study
