// Loading a study's records (store first, run directories as the fallback) and writing its report.
#include "greenknobs/study/study_report.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/study/command_catalog.h"
#include "greenknobs/study/store.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::study {

using nlohmann::json;

std::vector<analysis::RunRecord> load_study_records(const std::string& dir, int* failed_count,
                                                    std::string* catalog_path) {
    std::vector<analysis::RunRecord> out;
    if (!has_store(dir)) {
        if (catalog_path) {
            catalog_path->clear();
        }
        return analysis::load_run_dirs(dir, failed_count);
    }
    const StoreLocation where = resolve_store(dir, "", /*create=*/false);
    const std::string db = where.describe();
    std::unique_ptr<Store> opened = open_store(where);
    Store& store = *opened;
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

std::map<std::string, std::vector<std::string>> hardware_groups(
    const std::vector<analysis::RunRecord>& runs) {
    std::map<std::string, std::vector<std::string>> g;
    for (const auto& r : runs) {
        g[run_hardware(r.run).signature()].push_back(r.variant + "-r" + std::to_string(r.repeat));
    }
    return g;
}

std::string check_hardware(const std::vector<analysis::RunRecord>& runs, const std::string& dir,
                           bool mixed_hardware) {
    const auto groups = hardware_groups(runs);
    if (groups.size() <= 1) {
        return "";
    }
    std::string list;
    for (const auto& [sig, keys] : groups) {
        std::string some;
        for (size_t i = 0; i < keys.size() && i < 4; ++i) {
            some += (i ? ", " : "") + keys[i];
        }
        list += "\n  " + sig + ": " + std::to_string(keys.size()) + " run(s) (" + some +
                (keys.size() > 4 ? ", ..." : "") + ")";
    }
    // Blocked by node: every repeat on one kind of hardware, so each paired difference is.
    std::map<int, std::set<std::string>> per_repeat;
    for (const auto& r : runs) {
        per_repeat[r.repeat].insert(run_hardware(r.run).signature());
    }
    bool blocked = true;
    for (const auto& [rep, sigs] : per_repeat) {
        blocked = blocked && sigs.size() == 1;
    }
    const std::string head =
        "the runs were measured on " + std::to_string(groups.size()) + " kinds of hardware:" + list;
    if (blocked) {
        return head +
               "\neach repeat ran on one kind, so the paired differences (Δ) compare like "
               "with like; per-variant means mix hardware";
    }
    if (mixed_hardware) {
        return head +
               "\ncompared anyway (--mixed-hardware): energy differences include the "
               "hardware's";
    }
    throw InputError(dir, "hardware",
                     head +
                         "\nenergies of different hardware are not compared. Run the study on "
                         "one kind of node (--constraint), block it by node "
                         "(--block-by-node), or pass --mixed-hardware to compare anyway");
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
    rep.source = !has_store(opt.dir)                           ? "run directories"
                 : fs::exists(fs::join(opt.dir, "store.json")) ? "PostgreSQL store"
                                                               : "store";
    rep.runs = static_cast<int>(runs.size());
    if (runs.empty()) {
        throw InputError(opt.dir, "", "no complete runs to report on (" + rep.source + ")");
    }
    rep.hardware_note = check_hardware(runs, opt.dir, opt.mixed_hardware);
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
    ro.paper_table_csv = command_study                 ? ""
                         : opt.paper_table_csv.empty() ? find_paper_table(catalog_path)
                                                       : opt.paper_table_csv;
    if (!opt.baseline.empty()) {
        ro.baseline = opt.baseline;
    } else if (catalog) {
        ro.baseline = catalog->baseline().id;
    }
    if (opt.budget_points >= 0) {
        ro.budget.max_f1_drop_points = opt.budget_points;
        ro.budget_from_catalog = false;
    }
    rep.paths = report::write_report(runs, ro);
    rep.table1_excerpt = report::table1_excerpt_markdown(runs, ro);
    return rep;
}

}  // namespace gk::study
