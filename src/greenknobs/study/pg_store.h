// The PostgreSQL backend of the study store (libpq): the same schema as SQLite, many studies in one
// database (each under its study key, DIR/store.json) and many writers at once. Every change that
// must not be seen half-done is one transaction; the partial unique index makes a second complete
// row for a (variant, repeat) impossible whoever writes it (docs/cluster.md).
#pragma once

#include <string>

#include "greenknobs/study/store.h"

struct pg_conn;

namespace gk::study {

// InputError when a postgresql:// URI carries a password (it would end up in DIR/store.json and in
// logs): libpq reads it from ~/.pgpass or PGPASSWORD instead.
void reject_password(const std::string& uri);

// The schema_sql() text as PostgreSQL DDL (identity keys, BIGINT references).
std::string postgres_schema_sql();

class PgStore : public Store {
  public:
    // Connects (InputError naming the URI and libpq's reason when it cannot), applies pending
    // migrations under an advisory lock, and serves the study whose key is `study_key`.
    PgStore(const std::string& uri, const std::string& study_key);
    ~PgStore() override;

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

    const std::string& study_key() const { return key_; }

  private:
    void migrate();
    pg_conn* conn_ = nullptr;
    std::string key_;
    bool in_tx_ = false;
};

}  // namespace gk::study
