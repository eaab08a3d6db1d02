// The search: screening with successive halving, the cascade, the front, selection and
// verification (search.h). Every decision is appended to `steps` with its reason.
#include "greenknobs/tune/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "greenknobs/analysis/interactions.h"
#include "greenknobs/util/error.h"

namespace gk::tune {

using nlohmann::json;

namespace {

std::string num(double v, int decimals = 1) {
    if (!std::isfinite(v)) {
        return "n/a";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (const auto& x : v) {
        s += (s.empty() ? "" : sep) + x;
    }
    return s;
}

std::string fid_text(double f) {
    std::ostringstream s;
    s << f;
    return s.str();
}

class Search {
  public:
    Search(const std::vector<Move>& moves, Evaluator& ev, const SearchOptions& opt)
        : moves_(moves), ev_(ev), opt_(opt) {}

    SearchResult run() {
        check_options();
        // Points are referred to by pointer while later ones are added: never reallocate.
        r_.points.reserve(moves_.size() * (opt_.fidelities.size() + 1) + 64);
        screen();
        cascade();
        front();
        select_and_verify();
        account();
        r_.planned_cost = spent();
        return std::move(r_);
    }

  private:
    void check_options() { check_search_options(opt_); }

    double reserve() const {
        return (3.0 + static_cast<double>(opt_.compare.size())) * opt_.verify_repeats;
    }

    // The share of a full run's energy a run at fidelity f costs: f until the baseline has been
    // measured at two fidelities, then the line through the baseline's energies at every measured
    // fidelity, extrapolated to 1 (fixed costs such as loading the model make low fidelity dearer
    // than f).
    double share(double f) const {
        if (f >= 1) {
            return 1;
        }
        if (baseline_by_fidelity_.size() < 2) {
            return f;
        }
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        const double n = static_cast<double>(baseline_by_fidelity_.size());
        for (const auto& [x, y] : baseline_by_fidelity_) {
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        const double den = n * sxx - sx * sx;
        if (den <= 0) {
            return f;
        }
        const double b = (n * sxy - sx * sy) / den;
        const double a = (sy - b * sx) / n;
        const double e1 = a + b;
        if (!(e1 > 0)) {
            return f;
        }
        return std::min(1.0, std::max(f, (a + b * f) / e1));
    }

    // What the batches so far cost at the current estimate of each fidelity's share (re-estimated
    // as the baseline is measured at more fidelities, so early rungs are charged their real share).
    double spent() const {
        double c = 0;
        for (const auto& [f, n] : charges_) {
            c += share(f) * static_cast<double>(n);
        }
        return c;
    }

    double available() const {
        const double left = opt_.max_runs - reserve() - spent();
        return std::isfinite(cap_) ? std::min(left, cap_ - spent()) : left;
    }

    // How many runs at fidelity f still fit in the search's part of --max-runs.
    int fits(double f) const {
        const double s = share(f);
        return static_cast<int>(std::floor(available() / s + 1e-9));
    }

    void step(const std::string& phase, const std::string& id, const std::string& label,
              double fidelity, const std::string& decision, const std::string& why,
              double predicted = NAN, double observed = NAN, double f1_drop = NAN) {
        Step s;
        s.phase = phase;
        s.id = id;
        s.label = label;
        s.fidelity = fidelity;
        s.decision = decision;
        s.why = why;
        s.predicted_saving_pct = predicted;
        s.observed_saving_pct = observed;
        s.f1_drop_points = f1_drop;
        r_.steps.push_back(s);
    }

    std::string batch_name(const std::string& kind, double f) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%02d-%s-f%s", ++batches_, kind.c_str(),
                      fid_text(f).c_str());
        return buf;
    }

    // Runs trials at f (repeat 0) as one batch and records each as a point of `group` ("" = a
    // group of its own), at `offset` + its position in the batch's execution order. Compare them
    // (compare_group) once the group's baseline runs are all measured.
    std::vector<Point*> measure(const std::string& kind, const std::string& phase, double f,
                                const std::vector<Trial>& trials, const std::string& group,
                                double offset) {
        const std::string batch = batch_name(kind, f);
        charges_.emplace_back(f, static_cast<int>(trials.size()));
        auto results = ev_.run(batch, f, trials, 1);
        GK_CHECK(results.size() == trials.size(), "evaluator returned a wrong number of results");
        std::vector<size_t> idx;
        for (size_t i = 0; i < trials.size(); ++i) {
            Point p;
            p.id = trials[i].id;
            p.batch = batch;
            p.group = group.empty() ? batch : group;
            p.label = trials[i].label;
            p.phase = phase;
            p.fidelity = f;
            p.knobs = trials[i].knobs;
            p.outcome = results[i].empty() ? Outcome{} : results[i][0];
            if (results[i].empty()) {
                p.outcome.error = "no result";
            }
            p.seq =
                offset + (std::isfinite(p.outcome.seq) ? p.outcome.seq : static_cast<double>(i));
            r_.points.push_back(p);
            idx.push_back(r_.points.size() - 1);
        }
        std::vector<Point*> out;
        for (size_t i : idx) {
            out.push_back(&r_.points[i]);
        }
        return out;
    }

    std::vector<const Point*> baselines_of(const std::string& group) const {
        std::vector<const Point*> b;
        for (const auto& p : r_.points) {
            if (p.id == "B" && p.group == group && p.outcome.ok) {
                b.push_back(&p);
            }
        }
        return b;
    }

    // A screening rung's group: its baseline runs are the fidelity's reference.
    static std::string rung_group(double f) { return "rung-f" + fid_text(f); }

    const Point* baseline_at(double f) const {
        const auto b = baselines_of(rung_group(f));
        return b.empty() ? nullptr : b.front();
    }

    // The baseline at a point's position: least-squares lines through the group's baseline runs'
    // energies and durations over the run order (the mean when they are one or share a position,
    // or when the line is not positive there), and their mean validation F1 (paired seeds: they
    // differ only if training is not deterministic).
    struct Reference {
        double energy_j = NAN, duration_s = NAN, val_f1 = NAN;
    };
    Reference reference(const Point& p) const {
        auto b = baselines_of(p.group);
        if (b.empty()) {
            b = baselines_of(rung_group(p.fidelity));  // a cascade batch whose baseline failed
        }
        Reference r;
        if (b.empty()) {
            return r;
        }
        const auto line_at = [&](double x, const std::function<double(const Point*)>& y) {
            const double n = static_cast<double>(b.size());
            double sx = 0, sy = 0, sxx = 0, sxy = 0;
            for (const Point* q : b) {
                sx += q->seq;
                sy += y(q);
                sxx += q->seq * q->seq;
                sxy += q->seq * y(q);
            }
            const double mean = sy / n;
            const double den = n * sxx - sx * sx;
            if (!(std::fabs(den) > 1e-12) || !std::isfinite(x)) {
                return mean;
            }
            const double slope = (n * sxy - sx * sy) / den;
            const double v = mean + slope * (x - sx / n);
            return v > 0 ? v : mean;
        };
        r.energy_j = line_at(p.seq, [](const Point* q) { return q->outcome.energy_j; });
        r.duration_s = line_at(p.seq, [](const Point* q) { return q->outcome.duration_s; });
        double f1 = 0;
        for (const Point* q : b) {
            f1 += q->outcome.val_f1;
        }
        r.val_f1 = f1 / static_cast<double>(b.size());
        return r;
    }

    // How far a single paired validation F1 at fidelity f can be trusted. Below full fidelity,
    // when the runs say what their validation split held: a baseline no better than calling every
    // function vulnerable (F1 = 2p / (1 + p), p the positive share) has not learnt at this
    // fidelity, so F1 is not screened there at all; otherwise the noise is two standard errors of
    // a difference of two F1s on these positives, sqrt(2 F1 (1 - F1) / positives), in points.
    struct F1Noise {
        double slack_points =
            0;  // added to the budget's F1 drop where single runs decide (inf: none)
        std::string note;
    };
    F1Noise f1_noise(double f) const {
        F1Noise n;
        const Point* b = baseline_at(f);
        if (f >= 1 || b == nullptr || !(b->outcome.val_positives > 0) ||
            !(b->outcome.val_samples >= b->outcome.val_positives)) {
            return n;
        }
        const double pos = b->outcome.val_positives;
        const double share = pos / b->outcome.val_samples;
        const double f1 = b->outcome.val_f1;
        const double constant = 2 * share / (1 + share);
        if (!(f1 > constant)) {
            n.slack_points = INFINITY;
            n.note = "the baseline did not learn at fidelity " + fid_text(f) + " (validation F1 " +
                     num(f1, 3) + " <= " + num(constant, 3) +
                     ", calling every function vulnerable): F1 is not screened here, energy only";
            return n;
        }
        n.slack_points = 2 * 100 * std::sqrt(2 * f1 * (1 - f1) / pos);
        n.note = "validation F1 at fidelity " + fid_text(f) + " rests on " + num(pos, 0) +
                 " positives: two standard errors of a paired difference are " +
                 num(n.slack_points) + " points";
        return n;
    }

    // The budget a single paired run at fidelity f is held to: the F1 drop widened by the noise
    // of that fidelity (plus `extra`); verification holds the strict budget with its CI.
    Budget tolerant(double f, double extra) const {
        Budget b = opt_.budget;
        const F1Noise n = f1_noise(f);
        b.f1_drop_points += std::max(extra, n.slack_points);
        return b;
    }

    // Fills a point's comparison with its reference (validation F1 only).
    void compare(Point& p) {
        const Reference ref = reference(p);
        if (!p.outcome.ok || !std::isfinite(ref.energy_j)) {
            return;
        }
        p.reference_energy_j = ref.energy_j;
        p.energy_ratio = p.outcome.energy_j / ref.energy_j;
        p.saving_pct = 100.0 * (1.0 - p.energy_ratio);
        p.vs_baseline.f1_drop_points = 100.0 * (ref.val_f1 - p.outcome.val_f1);
        p.vs_baseline.eval_latency_ms = p.outcome.eval_latency_ms;
        p.vs_baseline.time_pct = 100.0 * (p.outcome.duration_s / ref.duration_s - 1.0);
        p.violations = budget_violations(opt_.budget, p.vs_baseline);
    }

    void compare_group(const std::string& group) {
        for (auto& p : r_.points) {
            if (p.group == group) {
                compare(p);
            }
        }
    }

    // ---- screening with successive halving ----
    void screen() {
        std::vector<Move> alive = moves_;
        for (size_t rung = 0; rung < opt_.fidelities.size(); ++rung) {
            const double f = opt_.fidelities[rung];
            const bool last = rung + 1 == opt_.fidelities.size();
            const int refs = opt_.screen_baselines;
            int room = fits(f) - refs;  // the baseline runs beside them
            if (room < 1) {
                step("screen", "", "", f, "skipped",
                     "the run budget left (" + num(available(), 2) +
                         " full-run equivalents beside verification) cannot pay for this rung");
                break;
            }
            if (static_cast<int>(alive.size()) > room) {
                for (size_t i = static_cast<size_t>(room); i < alive.size(); ++i) {
                    step("screen", alive[i].id, alive[i].label, f, "dropped",
                         "not measured: --max-runs leaves room for " + std::to_string(room) +
                             " candidates at this fidelity");
                }
                alive.resize(static_cast<size_t>(room));
            }
            // The rung runs as `refs` batches (fewer when there are fewer candidates), each with a
            // baseline run; every point is compared with the line through the rung's baselines.
            const std::string group = rung_group(f);
            const size_t chunks = std::min(alive.size(), static_cast<size_t>(refs));
            std::vector<Point*> pts;  // the candidates, in `alive` order
            double offset = 0;
            for (size_t c = 0; c < chunks; ++c) {
                const size_t lo = alive.size() * c / chunks, hi = alive.size() * (c + 1) / chunks;
                std::vector<Trial> trials = {Trial{"B", json::object(), "baseline"}};
                for (size_t i = lo; i < hi; ++i) {
                    trials.push_back(Trial{alive[i].id, alive[i].knobs, alive[i].label});
                }
                auto batch =
                    measure(rung == 0 ? "screen" : "rung", "screen", f, trials, group, offset);
                offset += static_cast<double>(trials.size());
                pts.insert(pts.end(), batch.begin() + 1, batch.end());
            }
            last_rung_f_ = f;
            const auto bases = baselines_of(group);
            if (bases.empty()) {
                throw std::runtime_error("the baseline failed at fidelity " + fid_text(f) +
                                         "; nothing can be compared with it");
            }
            double mean_e = 0;
            for (const Point* q : bases) {
                mean_e += q->outcome.energy_j;
            }
            baseline_by_fidelity_[f] = mean_e / static_cast<double>(bases.size());
            compare_group(group);
            if (bases.size() > 1) {
                double lo = INFINITY, hi = -INFINITY;
                for (const Point* q : bases) {
                    lo = std::min(lo, q->outcome.energy_j);
                    hi = std::max(hi, q->outcome.energy_j);
                }
                step("screen", "B", "baseline", f, "note",
                     std::to_string(bases.size()) + " baseline runs through the rung measured " +
                         num(lo, 0) + " to " + num(hi, 0) + " J (" + num(100.0 * (hi - lo) / lo) +
                         " % apart): each point is compared with the line through them at its "
                         "place in the run order");
            }
            const F1Noise noise = f1_noise(f);
            if (!noise.note.empty()) {
                step("screen", "B", "baseline", f, "note", noise.note);
            }
            const Budget loose = tolerant(f, opt_.screen_slack_points);
            // Rank the candidates: first the ones that may still fit the budget, by saving.
            struct Ranked {
                const Move* move;
                const Point* point;
            };
            std::vector<Ranked> ok;
            for (size_t i = 0; i < pts.size(); ++i) {
                const Point& p = *pts[i];
                const Move& m = alive[i];
                if (!p.outcome.ok) {
                    step("screen", m.id, m.label, f, "dropped", "run failed: " + p.outcome.error);
                    continue;
                }
                std::vector<std::string> why;
                if (!(p.saving_pct > 0)) {
                    why.push_back("saves nothing (" + num(p.saving_pct) + " %)");
                }
                for (const auto& v : budget_violations(loose, p.vs_baseline)) {
                    why.push_back(v + " (incl. " +
                                  num(loose.f1_drop_points - opt_.budget.f1_drop_points) +
                                  " points of low-fidelity slack)");
                }
                if (!why.empty()) {
                    step("screen", m.id, m.label, f, "dropped", join(why, "; "), NAN, p.saving_pct,
                         p.vs_baseline.f1_drop_points);
                    continue;
                }
                ok.push_back(Ranked{&m, &p});
            }
            std::stable_sort(ok.begin(), ok.end(), [](const Ranked& a, const Ranked& b) {
                return a.point->saving_pct > b.point->saving_pct;
            });
            std::vector<Move> next;
            if (last) {
                for (const auto& x : ok) {
                    step("screen", x.move->id, x.move->label, f, "promoted",
                         "saves " + num(x.point->saving_pct) + " % at fidelity " + fid_text(f) +
                             "; enters the cascade",
                         NAN, x.point->saving_pct, x.point->vs_baseline.f1_drop_points);
                    next.push_back(*x.move);
                }
            } else {
                // Knob-aware halving: knobs ranked by their best setting, the best 1/eta of
                // them go on with their two best settings (the cascade combines knobs, so a rung
                // full of one knob's settings would leave it nothing to combine).
                std::vector<std::string> knob_order;
                std::map<std::string, std::vector<const Ranked*>> by_knob;
                for (const auto& x : ok) {
                    if (by_knob.count(x.move->knob) == 0) {
                        knob_order.push_back(x.move->knob);
                    }
                    by_knob[x.move->knob].push_back(&x);
                }
                const size_t keep = static_cast<size_t>(
                    std::ceil(static_cast<double>(knob_order.size()) / opt_.eta));
                const std::string rule =
                    "the best " + std::to_string(keep) + " of " +
                    std::to_string(knob_order.size()) + " knobs go on to fidelity " +
                    fid_text(opt_.fidelities[rung + 1]) + " with their two best settings";
                for (size_t ki = 0; ki < knob_order.size(); ++ki) {
                    const auto& levels = by_knob[knob_order[ki]];
                    for (size_t li = 0; li < levels.size(); ++li) {
                        const Ranked& x = *levels[li];
                        const bool kept = ki < keep && li < 2;
                        std::string why = "knob " + x.move->knob + " ranks " +
                                          std::to_string(ki + 1) + " (saves " +
                                          num(x.point->saving_pct) + " %";
                        why += li == 0 ? ", its best setting)"
                                       : ", setting " + std::to_string(li + 1) + ")";
                        step("halving", x.move->id, x.move->label, f, kept ? "promoted" : "dropped",
                             why + "; " + rule, NAN, x.point->saving_pct,
                             x.point->vs_baseline.f1_drop_points);
                        if (kept) {
                            next.push_back(*x.move);
                        }
                    }
                }
            }
            alive = next;
            if (alive.empty()) {
                break;
            }
        }
        // The cascade runs at the last rung measured (an earlier one when the run budget
        // stopped the screening), over what that rung promoted.
        cascade_moves_ = alive;
        r_.cascade_fidelity = last_rung_f_;
    }

    // ---- the cascades ----
    // The main cascade holds single runs to the budget widened by this fidelity's noise; the
    // preserving cascade combines only knobs whose validation F1 was exactly the baseline's and
    // keeps a step only if it still is (predictions that survive whole are what a tight budget
    // verifies: the runner-up's candidate).
    void cascade() {
        const double f = r_.cascade_fidelity;
        if (baseline_at(f) == nullptr || cascade_moves_.empty()) {
            return;
        }
        // Single-knob savings at the cascade fidelity (the last rung measured each of them); the
        // best setting of each knob, in order of saving.
        for (const auto& m : cascade_moves_) {
            single_[m.id] = r_.find(m.id, f)->saving_pct / 100.0;
        }
        std::stable_sort(
            cascade_moves_.begin(), cascade_moves_.end(),
            [&](const Move& a, const Move& b) { return single_[a.id] > single_[b.id]; });
        const Budget within = tolerant(f, 0);
        const std::string tolerance =
            within.f1_drop_points > opt_.budget.f1_drop_points
                ? " (budget " + num(opt_.budget.f1_drop_points) + " + " +
                      num(within.f1_drop_points - opt_.budget.f1_drop_points) +
                      " points of noise at this fidelity)"
                : "";
        std::vector<Move> preserving;
        for (const auto& m : cascade_moves_) {
            if (std::fabs(r_.find(m.id, f)->vs_baseline.f1_drop_points) < 1e-9) {
                preserving.push_back(m);
            }
        }
        std::set<std::string> knobs;
        for (const auto& m : preserving) {
            knobs.insert(m.knob);
        }
        // The preserving cascade runs first, on at most its first steps (two runs each, the first
        // knob being measured already); the main cascade gets every run it leaves. At a tight
        // budget the preserving state is what verification confirms: a main cascade that spent
        // every run left only the single best preserving knob to verify (the fifth search of
        // 2026-12-07), and one that held the preserving steps' runs before knowing whether they
        // were needed lost those not used (the sixth; docs/tune.md).
        if (knobs.size() < 2) {
            step("preserve", "", "", f, "skipped",
                 std::to_string(knobs.size()) +
                     " knob(s) left validation F1 exactly as it was at fidelity " + fid_text(f) +
                     ": nothing to combine");
        } else {
            share_runs_ = 2 * std::min<int>(static_cast<int>(knobs.size()) - 1, kShareSteps);
            cap_ = spent() + static_cast<double>(share_runs_) * share(f);
            run_cascade("preserve", "P", preserving, "", [&](const Point& p) {
                auto broken = budget_violations(opt_.budget, p.vs_baseline);
                if (std::fabs(p.vs_baseline.f1_drop_points) >= 1e-9) {
                    broken.push_back("validation F1 changed (" +
                                     num(-p.vs_baseline.f1_drop_points, 2) +
                                     " points): its predictions did not survive");
                }
                return broken;
            });
            cap_ = NAN;
            share_runs_ = 0;
        }
        run_cascade("cascade", "C", cascade_moves_, tolerance,
                    [&](const Point& p) { return budget_violations(within, p.vs_baseline); });
    }

    // A configuration already measured at f (the cascades may both reach it).
    const Point* measured(const json& knobs, double f) const {
        for (const auto& p : r_.points) {
            if (p.fidelity == f && p.id != "B" && p.outcome.ok && p.knobs == knobs) {
                return &p;
            }
        }
        return nullptr;
    }

    // Adds knobs to an empty state in order of their single saving (`moves` sorted so), each step
    // a real run beside its own baseline run, kept when `broken` finds nothing and it saves at
    // least --min-gain more; a setting that breaks makes way for the knob's next, milder one.
    void run_cascade(const std::string& phase, const std::string& prefix,
                     const std::vector<Move>& moves, const std::string& tolerance,
                     const std::function<std::vector<std::string>(const Point&)>& broken_by) {
        const double f = r_.cascade_fidelity;
        std::vector<std::vector<Move>> groups;
        std::map<std::string, size_t> group_of;
        for (const auto& m : moves) {
            auto it = group_of.find(m.knob);
            if (it == group_of.end()) {
                group_of[m.knob] = groups.size();
                groups.push_back({m});
            } else {
                groups[it->second].push_back(m);
            }
        }
        json state = json::object();
        std::vector<double> accepted_singles;
        double state_ratio = 1.0;   // observed E_state / E_0
        double log_factor_sum = 0;  // observed / predicted ratios of the steps run
        int factors = 0;
        int c = 0;
        for (const auto& group : groups) {
            for (size_t li = 0; li < group.size(); ++li) {
                const Move& m = group[li];
                const std::string milder =
                    li + 1 < group.size() ? "; next: the knob's milder setting " + group[li + 1].id
                                          : "";
                if (phase == "cascade") {
                    r_.cascade_order.push_back(m.id);
                }
                const json cand = merge_knobs(state, m.knobs);
                const std::string label = ev_.describe(cand);
                // Predicted: independent multiplicative savings on the state's observed energy,
                // times the mean observed interaction (synergy < 1 < antagonism) of the steps so
                // far, shrunk towards 1 (n / (n + 1)) so that one odd pair does not condemn every
                // later step.
                std::vector<double> parts = accepted_singles;
                parts.push_back(single_[m.id]);
                const double correction =
                    factors > 0 ? std::exp(log_factor_sum / (factors + 1.0)) : 1.0;
                const double base_pred = 1.0 - analysis::multiplicative_saving(parts);
                const double state_pred = 1.0 - analysis::multiplicative_saving(accepted_singles);
                const double plain_ratio = state_ratio * (base_pred / state_pred);
                const double pred_ratio = plain_ratio * correction;
                const double pred_saving = 100.0 * (1.0 - pred_ratio);
                const double pred_gain = 100.0 * (state_ratio - pred_ratio);
                const std::string why_invalid = ev_.invalid(cand);
                if (!why_invalid.empty()) {
                    step(phase, m.id, label, f, "rejected", "conflict: " + why_invalid + milder,
                         pred_saving);
                    continue;
                }
                if (pred_gain < opt_.min_gain_pct) {
                    step(phase, m.id, label, f, "skipped",
                         "predicted gain " + num(pred_gain) + " % < " + num(opt_.min_gain_pct) +
                             " % (interaction correction x" + num(correction, 3) + ")",
                         pred_saving);
                    break;  // the knob's milder settings save less still
                }
                const Point* p = nullptr;
                std::string id = m.id;
                const Point* seen = measured(cand, f);
                if (state.empty()) {
                    p = r_.find(m.id, f);  // the single knob was measured at this fidelity
                } else if (seen != nullptr) {
                    p = seen;  // the other cascade ran this very configuration
                    id = seen->id;
                } else {
                    if (fits(f) < 2) {
                        step(phase, m.id, label, f, "skipped",
                             "the run budget is spent (verification keeps its reserve" +
                                 (share_runs_ > 0 ? "; the preserving cascade's share is " +
                                                        std::to_string(share_runs_) + " runs"
                                                  : std::string()) +
                                 ")",
                             pred_saving);
                        return;
                    }
                    char cid[16];
                    std::snprintf(cid, sizeof cid, "%s%02d", prefix.c_str(), ++c);
                    id = cid;
                    // Beside its own baseline run: the rung's baselines ran a while ago.
                    auto pts = measure(
                        phase, phase, f,
                        {Trial{"B", json::object(), "baseline"}, Trial{id, cand, label}}, "", 0);
                    compare_group(pts[1]->group);
                    p = pts[1];
                }
                if (!p->outcome.ok) {
                    step(phase, id, label, f, "rejected",
                         "run failed: " + p->outcome.error + milder, pred_saving);
                    continue;
                }
                const double factor = p->energy_ratio / plain_ratio;
                if (!state.empty()) {
                    log_factor_sum += std::log(factor);
                    ++factors;
                }
                const std::string interaction =
                    state.empty() ? std::string("single knob")
                                  : (factor < 0.98   ? "synergistic"
                                     : factor > 1.02 ? "antagonistic"
                                                     : "as predicted") +
                                        std::string(" (observed/predicted energy x") +
                                        num(factor, 3) + ", one paired run)";
                const double gain = 100.0 * (state_ratio - p->energy_ratio);
                const auto broken = broken_by(*p);
                if (!broken.empty()) {
                    step(phase, id, label, f, "rejected",
                         join(broken, "; ") + tolerance + "; " + interaction + milder, pred_saving,
                         p->saving_pct, p->vs_baseline.f1_drop_points);
                    continue;
                }
                if (gain < opt_.min_gain_pct) {
                    step(phase, id, label, f, "rejected",
                         "observed gain " + num(gain) + " % < " + num(opt_.min_gain_pct) + " %; " +
                             interaction,
                         pred_saving, p->saving_pct, p->vs_baseline.f1_drop_points);
                    break;
                }
                step(phase, id, label, f, "accepted",
                     "saves " + num(p->saving_pct) + " % (+" + num(gain) + "), F1 drop " +
                         num(p->vs_baseline.f1_drop_points, 2) + " points within budget" +
                         tolerance + "; " + interaction,
                     pred_saving, p->saving_pct, p->vs_baseline.f1_drop_points);
                state = cand;
                state_ratio = p->energy_ratio;
                accepted_singles.push_back(single_[m.id]);
                break;
            }
        }
    }

    // ---- the front at the cascade fidelity ----
    void front() {
        const double f = r_.cascade_fidelity;
        std::vector<Point*> pts;
        for (auto& p : r_.points) {
            if (p.fidelity == f && p.outcome.ok && std::isfinite(p.energy_ratio)) {
                pts.push_back(&p);
            }
        }
        for (Point* a : pts) {
            bool dominated = false;
            for (const Point* o : pts) {
                const double ax[3] = {a->energy_ratio, a->vs_baseline.f1_drop_points,
                                      a->vs_baseline.time_pct};
                const double ox[3] = {o->energy_ratio, o->vs_baseline.f1_drop_points,
                                      o->vs_baseline.time_pct};
                bool no_worse = true, better = false;
                for (int k = 0; k < 3; ++k) {
                    no_worse = no_worse && ox[k] <= ax[k];
                    better = better || ox[k] < ax[k];
                }
                if (o != a && no_worse && better) {
                    dominated = true;
                    break;
                }
            }
            a->on_front = !dominated;
        }
    }

    // ---- selection (validation only) and verification ----
    void select_and_verify() {
        const double f = r_.cascade_fidelity;
        // Within the budget as the cascade held it (widened by the noise at f); the strict
        // budget's candidates are the safer runner-ups.
        const Budget within = tolerant(f, 0);
        std::vector<const Point*> fit;
        for (const auto& p : r_.points) {
            if (p.fidelity == f && p.id != "B" && p.outcome.ok &&
                budget_violations(within, p.vs_baseline).empty() && std::isfinite(p.saving_pct) &&
                p.saving_pct > 0) {
                fit.push_back(&p);
            }
        }
        std::stable_sort(fit.begin(), fit.end(), [](const Point* a, const Point* b) {
            return a->saving_pct > b->saving_pct;
        });
        std::vector<const Point*> picks;
        if (!fit.empty()) {
            picks.push_back(fit[0]);
        }
        // The runner-up, the fallback when the chosen one's run was the noise's luck: the
        // lowest-energy other configuration whose validation F1 equalled the baseline's to the
        // last digit (its predictions survived: the most likely to hold a tight budget with its
        // CI), else one that kept the strict budget in its single run, else the next lowest
        // within the widened budget.
        const auto same_f1 = [](const Point* p) {
            return std::fabs(p->vs_baseline.f1_drop_points) < 1e-9;
        };
        const auto strict = [](const Point* p) { return p->violations.empty(); };
        const auto any = [](const Point*) { return true; };
        const std::vector<std::pair<std::function<bool(const Point*)>, std::string>> rules = {
            {same_f1, "with the baseline's validation F1 (its predictions survived)"},
            {strict, "that kept the strict budget in its single run"},
            {any, "within the widened budget"}};
        std::string runner_why;
        for (const auto& [rule, why] : rules) {
            for (const Point* p : fit) {
                if (picks.size() == 1 && p->knobs != picks[0]->knobs && rule(p)) {
                    picks.push_back(p);
                    runner_why = why;
                }
            }
        }
        if (picks.empty()) {
            r_.pick_why = "no configuration measured at fidelity " + fid_text(f) +
                          " saved energy within the budget on validation: keep the baseline";
            step("select", "", "", f, "skipped", r_.pick_why);
            return;
        }
        const char* roles[2] = {"chosen", "runner-up"};
        std::vector<Trial> trials = {Trial{"B", json::object(), "baseline"}};
        for (size_t i = 0; i < picks.size(); ++i) {
            step("select", picks[i]->id, picks[i]->label, f, roles[i],
                 (i == 0 ? std::string("lowest energy within budget")
                         : "lowest energy after the chosen " + runner_why) +
                     " on validation (saves " + num(picks[i]->saving_pct) + " %, F1 drop " +
                     num(picks[i]->vs_baseline.f1_drop_points, 2) + " points)",
                 NAN, picks[i]->saving_pct, picks[i]->vs_baseline.f1_drop_points);
            trials.push_back(Trial{picks[i]->id, picks[i]->knobs, picks[i]->label});
        }
        for (const auto& c : opt_.compare) {
            trials.push_back(c);
        }
        const int R = opt_.verify_repeats;
        charges_.emplace_back(1.0, static_cast<int>(trials.size()) * R);
        auto res = ev_.run(batch_name("verify", 1.0), 1.0, trials, R);
        for (const auto& t : res) {
            for (const auto& o : t) {
                if (std::isfinite(o.energy_j)) {
                    r_.accounting.verify_energy_j += o.energy_j;
                    ++r_.accounting.runs;
                }
            }
        }
        const auto& base = res[0];
        for (size_t i = 1; i < trials.size(); ++i) {
            Verified v;
            v.role = i <= picks.size() ? roles[i - 1] : "compare";
            v.id = trials[i].id;
            v.label = trials[i].label;
            v.knobs = trials[i].knobs;
            std::vector<double> e, eb, sav, val, test, time, lat;
            for (int rep = 0; rep < R; ++rep) {
                const Outcome& o = res[i][static_cast<size_t>(rep)];
                const Outcome& ob = base[static_cast<size_t>(rep)];
                if (!o.ok || !ob.ok) {
                    continue;
                }
                e.push_back(o.energy_j);
                eb.push_back(ob.energy_j);
                sav.push_back(100.0 * (1.0 - o.energy_j / ob.energy_j));
                val.push_back(100.0 * (ob.val_f1 - o.val_f1));
                time.push_back(100.0 * (o.duration_s / ob.duration_s - 1.0));
                lat.push_back(o.eval_latency_ms);
            }
            v.energy_j = analysis::mean(e);
            v.baseline_energy_j = analysis::mean(eb);
            v.saving_pct = paired_estimate(sav);
            v.val_f1_drop = paired_estimate(val);
            v.time_pct = paired_estimate(time);
            v.eval_latency_ms = analysis::mean(lat);
            Measured m{v.val_f1_drop.upper, v.eval_latency_ms, v.time_pct.mean};
            v.validation_violations = budget_violations(opt_.budget, m);
            if (!(v.saving_pct.mean > 0)) {
                v.validation_violations.push_back("saves nothing at full fidelity (mean " +
                                                  num(v.saving_pct.mean) + " %)");
            }
            if (v.val_f1_drop.n < 3) {
                v.validation_violations.push_back("only " + std::to_string(v.val_f1_drop.n) +
                                                  " complete pairs of " + std::to_string(R));
            }
            v.holds_on_validation = v.validation_violations.empty();
            const double f1_budget = opt_.budget.f1_drop_points;
            if (std::isfinite(f1_budget) && v.val_f1_drop.upper > f1_budget) {
                // Would more repeats tell? Only if the mean drop itself is within the budget.
                v.f1_repeats_needed = repeats_to_resolve(v.val_f1_drop, f1_budget);
                if (v.f1_repeats_needed == 0 && !(v.val_f1_drop.mean < f1_budget)) {
                    v.f1_resolution_text = "the mean drop itself (" + num(v.val_f1_drop.mean, 2) +
                                           ") is not within " + num(f1_budget, 2) +
                                           " points: more repeats would not make it hold";
                } else if (v.f1_repeats_needed > 0) {
                    v.f1_resolution_text =
                        "the mean drop (" + num(v.val_f1_drop.mean, 2) + ") is within " +
                        num(f1_budget, 2) + " points: about " +
                        (v.f1_repeats_needed > 1000 ? std::string("more than 1000")
                                                    : std::to_string(v.f1_repeats_needed)) +
                        " paired repeats at this spread (sd " + num(v.val_f1_drop.sd, 2) +
                        " points) would bound it";
                }
            }
            r_.verified.push_back(v);
        }
        for (size_t i = 0; i < picks.size(); ++i) {
            if (r_.verified[i].holds_on_validation) {
                r_.picked = static_cast<int>(i);
                break;
            }
        }
        for (const auto& v : r_.verified) {
            step("verify", v.id, v.label, 1.0, v.holds_on_validation ? "holds" : "fails",
                 "validation over " + std::to_string(v.val_f1_drop.n) + " paired repeats: saves " +
                     num(v.saving_pct.mean) + " %, F1 drop " + num(v.val_f1_drop.mean, 2) +
                     " (CI upper " + num(v.val_f1_drop.upper, 2) + ") points" +
                     (v.validation_violations.empty()
                          ? ""
                          : "; breaks " + join(v.validation_violations, "; ")) +
                     (v.f1_resolution_text.empty() ? "" : " (" + v.f1_resolution_text + ")"),
                 NAN, v.saving_pct.mean, v.val_f1_drop.mean);
        }
        if (r_.picked < 0) {
            r_.pick_why =
                "neither the chosen configuration nor the runner-up held the budget at full "
                "fidelity on validation: keep the baseline";
            step("verify", "", "", 1.0, "skipped", r_.pick_why);
            return;
        }
        // Test F1, read here for the first time, after the pick is final.
        for (size_t i = 1; i < trials.size(); ++i) {
            Verified& v = r_.verified[i - 1];
            std::vector<double> test;
            for (int rep = 0; rep < R; ++rep) {
                const Outcome& o = res[i][static_cast<size_t>(rep)];
                const Outcome& ob = base[static_cast<size_t>(rep)];
                if (o.ok && ob.ok) {
                    test.push_back(100.0 * (ob.test_f1 - o.test_f1));
                }
            }
            v.test_f1_drop = paired_estimate(test);
            v.test_violations = budget_violations(
                opt_.budget, Measured{v.test_f1_drop.upper, v.eval_latency_ms, v.time_pct.mean});
            v.holds_on_test = v.test_violations.empty();
        }
        const Verified& p = r_.verified[static_cast<size_t>(r_.picked)];
        const bool significant = p.saving_pct.ci.valid && p.saving_pct.ci.low > 0;
        r_.pick_why = p.role + " " + p.id + " (" + p.label + ") saves " + num(p.saving_pct.mean) +
                      " % at full fidelity" +
                      (p.saving_pct.ci.valid ? " (95 % CI " + num(p.saving_pct.ci.low) + " to " +
                                                   num(p.saving_pct.ci.high) + " %" +
                                                   (significant ? ")" : "; the CI includes 0)")
                                             : "") +
                      " and holds the budget on validation" +
                      (r_.picked > 0 ? " (the chosen configuration did not)" : "") +
                      "; on test its F1 drop is " + num(p.test_f1_drop.mean, 2) + " (CI upper " +
                      num(p.test_f1_drop.upper, 2) + ") points: the budget " +
                      (p.holds_on_test ? "holds" : "does NOT hold") + " on test";
        step("verify", p.id, p.label, 1.0, "picked", r_.pick_why, NAN, p.saving_pct.mean,
             p.test_f1_drop.mean);
    }

    void account() {
        Accounting& a = r_.accounting;
        for (const auto& p : r_.points) {
            if (std::isfinite(p.outcome.energy_j)) {
                a.search_energy_j += p.outcome.energy_j;
                ++a.runs;
            }
        }
        double base_full = NAN;
        if (!r_.verified.empty()) {
            base_full = r_.verified[0].baseline_energy_j;
        }
        if (std::isfinite(base_full) && base_full > 0) {
            a.full_run_equivalents = (a.search_energy_j + a.verify_energy_j) / base_full;
        }
        if (r_.picked >= 0) {
            const Verified& p = r_.verified[static_cast<size_t>(r_.picked)];
            a.saving_per_run_j = p.baseline_energy_j - p.energy_j;
            const double spent = a.search_energy_j + a.verify_energy_j;
            if (a.saving_per_run_j > 0) {
                a.break_even_runs = spent / a.saving_per_run_j;
            }
            if (p.saving_pct.ci.valid && p.saving_pct.ci.low > 0) {
                a.break_even_runs_high = spent / (p.baseline_energy_j * p.saving_pct.ci.low / 100);
            }
        }
    }

  private:
    const std::vector<Move>& moves_;
    Evaluator& ev_;
    SearchOptions opt_;
    SearchResult r_;
    std::map<double, double> baseline_by_fidelity_;
    // The preserving cascade's share of the runs (at most kShareSteps steps of two runs), and the
    // spending it may reach (full-run equivalents); 0 and NaN outside it.
    static constexpr int kShareSteps = 3;
    int share_runs_ = 0;
    double cap_ = NAN;
    std::vector<std::pair<double, int>> charges_;  // (fidelity, runs) of every batch
    std::vector<Move> cascade_moves_;
    std::map<std::string, double> single_;  // move id → its single saving at the cascade fidelity
    double last_rung_f_ = NAN;
    int batches_ = 0;
};

}  // namespace

const Point* SearchResult::find(const std::string& id, double fidelity) const {
    for (const auto& p : points) {
        if (p.id == id && p.fidelity == fidelity) {
            return &p;
        }
    }
    return nullptr;
}

PairedEstimate paired_estimate(const std::vector<double>& values) {
    std::vector<double> xs;
    for (double v : values) {
        if (std::isfinite(v)) {
            xs.push_back(v);
        }
    }
    PairedEstimate e;
    e.n = static_cast<int>(xs.size());
    if (xs.empty()) {
        return e;
    }
    const analysis::Summary s = analysis::summarize(xs);
    e.mean = s.mean;
    e.ci = s.ci;
    e.sd = e.n >= 2 ? s.sd : NAN;
    const bool all_equal = std::all_of(xs.begin(), xs.end(), [&](double v) { return v == xs[0]; });
    if (s.ci.valid) {
        e.upper = s.ci.high;
    } else if (all_equal && e.n >= 2) {
        e.upper = xs[0];  // every pair agrees: no spread, the value is its own bound
    }
    return e;
}

int repeats_to_resolve(const PairedEstimate& e, double budget, int cap) {
    return analysis::repeats_to_bound(e.mean, e.sd, e.n, budget, cap);
}

void check_search_options(const SearchOptions& opt) {
    const double reserve = (3.0 + static_cast<double>(opt.compare.size())) * opt.verify_repeats;
    if (opt.verify_repeats < 3) {
        throw InputError("--verify-repeats", std::to_string(opt.verify_repeats),
                         "verification needs at least 3 repeats (a paired CI)");
    }
    if (opt.fidelities.empty()) {
        throw InputError("--fidelities", "", "at least one screening fidelity is needed");
    }
    for (size_t i = 0; i < opt.fidelities.size(); ++i) {
        const double f = opt.fidelities[i];
        if (!(f > 0 && f <= 1) || (i > 0 && f <= opt.fidelities[i - 1])) {
            throw InputError("--fidelities", fid_text(f), "expected ascending fractions in (0, 1]");
        }
    }
    if (!(opt.eta >= 2)) {
        throw InputError("--eta", fid_text(opt.eta), "expected >= 2");
    }
    if (opt.screen_baselines < 1) {
        throw InputError("--screen-baselines", std::to_string(opt.screen_baselines),
                         "expected at least 1 baseline run per screening rung");
    }
    if (!(opt.max_runs >= reserve + 1)) {
        throw InputError("--max-runs", num(opt.max_runs, 0),
                         "too few: verification alone needs " + num(reserve, 0) +
                             " full runs (baseline, chosen, runner-up and compared x " +
                             std::to_string(opt.verify_repeats) +
                             " repeats), and the search at least one more");
    }
}

SearchResult run_search(const std::vector<Move>& moves, Evaluator& ev, const SearchOptions& opt) {
    return Search(moves, ev, opt).run();
}

namespace {

json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json estimate_json(const PairedEstimate& e) {
    return {{"n", e.n},
            {"mean", num_or_null(e.mean)},
            {"ci", e.ci.valid ? json::array({e.ci.low, e.ci.high}) : json(nullptr)},
            {"upper", num_or_null(e.upper)},
            {"sd", num_or_null(e.sd)}};
}

}  // namespace

json to_json(const SearchResult& r) {
    json points = json::array();
    for (const auto& p : r.points) {
        points.push_back({{"id", p.id},
                          {"batch", p.batch},
                          {"phase", p.phase},
                          {"label", p.label},
                          {"fidelity", p.fidelity},
                          {"knobs", p.knobs},
                          {"ok", p.outcome.ok},
                          {"error", p.outcome.error},
                          {"energy_j", num_or_null(p.outcome.energy_j)},
                          {"duration_s", num_or_null(p.outcome.duration_s)},
                          {"val_f1", num_or_null(p.outcome.val_f1)},
                          {"eval_latency_ms", num_or_null(p.outcome.eval_latency_ms)},
                          {"group", p.group},
                          {"seq", num_or_null(p.seq)},
                          {"reference_energy_j", num_or_null(p.reference_energy_j)},
                          {"energy_ratio", num_or_null(p.energy_ratio)},
                          {"saving_pct", num_or_null(p.saving_pct)},
                          {"val_f1_drop_points", num_or_null(p.vs_baseline.f1_drop_points)},
                          {"time_pct", num_or_null(p.vs_baseline.time_pct)},
                          {"violations", p.violations},
                          {"on_front", p.on_front}});
    }
    json steps = json::array();
    for (const auto& s : r.steps) {
        steps.push_back({{"phase", s.phase},
                         {"id", s.id},
                         {"label", s.label},
                         {"fidelity", num_or_null(s.fidelity)},
                         {"predicted_saving_pct", num_or_null(s.predicted_saving_pct)},
                         {"observed_saving_pct", num_or_null(s.observed_saving_pct)},
                         {"val_f1_drop_points", num_or_null(s.f1_drop_points)},
                         {"decision", s.decision},
                         {"why", s.why}});
    }
    json verified = json::array();
    for (const auto& v : r.verified) {
        verified.push_back({{"role", v.role},
                            {"id", v.id},
                            {"label", v.label},
                            {"knobs", v.knobs},
                            {"energy_j", num_or_null(v.energy_j)},
                            {"baseline_energy_j", num_or_null(v.baseline_energy_j)},
                            {"saving_pct", estimate_json(v.saving_pct)},
                            {"val_f1_drop_points", estimate_json(v.val_f1_drop)},
                            {"test_f1_drop_points", estimate_json(v.test_f1_drop)},
                            {"time_pct", estimate_json(v.time_pct)},
                            {"eval_latency_ms", num_or_null(v.eval_latency_ms)},
                            {"holds_on_validation", v.holds_on_validation},
                            {"validation_violations", v.validation_violations},
                            {"f1_repeats_needed", v.f1_repeats_needed},
                            {"f1_resolution", v.f1_resolution_text},
                            {"holds_on_test", v.holds_on_test},
                            {"test_violations", v.test_violations}});
    }
    const Accounting& a = r.accounting;
    return {{"schema", "greenknobs.tune/1"},
            {"points", points},
            {"steps", steps},
            {"cascade_order", r.cascade_order},
            {"verified", verified},
            {"picked",
             r.picked >= 0 ? json(r.verified[static_cast<size_t>(r.picked)].id) : json(nullptr)},
            {"pick_why", r.pick_why},
            {"planned_cost_runs", r.planned_cost},
            {"cascade_fidelity", num_or_null(r.cascade_fidelity)},
            {"accounting",
             {{"runs", a.runs},
              {"search_energy_j", a.search_energy_j},
              {"verify_energy_j", a.verify_energy_j},
              {"full_run_equivalents", num_or_null(a.full_run_equivalents)},
              {"saving_per_run_j", num_or_null(a.saving_per_run_j)},
              {"break_even_runs", num_or_null(a.break_even_runs)},
              {"break_even_runs_high", num_or_null(a.break_even_runs_high)}}}};
}

}  // namespace gk::tune
