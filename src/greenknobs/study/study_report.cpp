// Loading a study's records (store first, run directories as the fallback) and writing its report.
#include "greenknobs/study/study_report.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/study/command_catalog.h"
#include "greenknobs/study/store.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::study {

using nlohmann::json;

std::vector<analysis::RunRecord> load_study_records(const std::string& dir, int* failed_count,
                                                    std::string* catalog_path) {
    const std::string db = fs::join(dir, "study.sqlite");
    std::vector<analysis::RunRecord> out;
    if (!fs::exists(db)) {
        if (catalog_path) {
            catalog_path->clear();
        }
        return analysis::load_run_dirs(dir, failed_count);
    }
    Store store(db);
    auto study = store.study();
    if (!study) {
        throw InputError(db, "study", "the store holds no study");
    }
    if (catalog_path) {
        *catalog_path = study->catalog_path;
    }
    for (const auto& row : store.complete_runs(study->id)) {
        json doc = json::parse(row.run_json, nullptr, /*allow_exceptions=*/false);
        if (!doc.is_object()) {
            throw InputError(db, row.variant + "-r" + std::to_string(row.repeat),
                             "stored run.json is not JSON");
        }
        doc["repeat"] = row.repeat;
        out.push_back(analysis::RunRecord{row.variant, row.repeat, std::move(doc)});
    }
    if (failed_count) {
        // The last attempt of each (variant, repeat) decides; rows come ordered by (seq, attempt).
        std::map<std::pair<std::string, int>, std::string> last;
        for (const auto& row : store.runs(study->id)) {
            auto& s = last[{row.variant, row.repeat}];
            if (s != kComplete) {
                s = row.status;
            }
        }
        *failed_count = 0;
        for (const auto& [k, s] : last) {
            *failed_count += s == kFailed ? 1 : 0;
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        if (a.variant != b.variant) {
            return analysis::variant_id_less(a.variant, b.variant);
        }
        return a.repeat < b.repeat;
    });
    return out;
}

std::string find_paper_table(const std::string& catalog_path) {
    namespace stdfs = std::filesystem;
    std::vector<std::string> candidates;
    if (!catalog_path.empty()) {
        stdfs::path dir = stdfs::path(catalog_path).parent_path();
        candidates.push_back((dir / ".." / "data" / "reference" / "paper_table1.csv").string());
    }
    candidates.push_back("data/reference/paper_table1.csv");
    for (const auto& c : candidates) {
        if (fs::exists(c)) {
            return c;
        }
    }
    return "";
}

StudyReport write_study_report(const StudyReportOptions& opt) {
    StudyReport rep;
    std::string stored_catalog;
    auto runs = load_study_records(opt.dir, &rep.failed, &stored_catalog);
    rep.source = fs::exists(fs::join(opt.dir, "study.sqlite")) ? "store" : "run directories";
    rep.runs = static_cast<int>(runs.size());
    if (runs.empty()) {
        throw InputError(opt.dir, "", "no complete runs to report on (" + rep.source + ")");
    }
    std::string catalog_path = opt.catalog_path;
    if (catalog_path.empty() && !stored_catalog.empty() && fs::exists(stored_catalog)) {
        catalog_path = stored_catalog;
    }
    std::unique_ptr<knobs::Catalog> catalog;
    const bool command_study = !catalog_path.empty() && is_command_catalog(catalog_path);
    std::string primary_label;
    if (command_study) {
        const CommandCatalog cc = load_command_catalog(catalog_path);
        primary_label = cc.primary_label;
        catalog = std::make_unique<knobs::Catalog>(cc.as_catalog());
    } else if (!catalog_path.empty()) {
        catalog = std::make_unique<knobs::Catalog>(knobs::load_catalog(catalog_path));
    }

    report::ReportOptions ro;
    ro.out_dir = fs::join(opt.dir, "report");
    ro.catalog = catalog.get();
    ro.failed_runs = rep.failed;
    ro.render_figures = opt.render_figures;
    ro.command_study = command_study;  // (also recognised from the runs when the catalog is gone)
    ro.primary_label = primary_label;
    // The paper's Table I compares the paper's pipeline: never beside a study of another command.
    ro.paper_table_csv = command_study                  ? ""
                         : opt.paper_table_csv.empty() ? find_paper_table(catalog_path)
                                                       : opt.paper_table_csv;
    if (!opt.baseline.empty()) {
        ro.baseline = opt.baseline;
    } else if (catalog) {
        ro.baseline = catalog->baseline().id;
    }
    rep.paths = report::write_report(runs, ro);
    rep.table1_excerpt = report::table1_excerpt_markdown(runs, ro);
    return rep;
}

}  // namespace gk::study
