// Load time of the bundled data sets: CSV parsing alone (in memory and streamed), SHA-256, and
// load_dataset end to end (read, SHA-256, rows, mode, split, dedup) for Juliet natural and BigVul
// paired, with exact and near dedup. Numbers go to docs/perf/data.md.
#include <string>

#include <benchmark/benchmark.h>

#include "greenknobs/data/csv.h"
#include "greenknobs/data/dataset.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"

namespace {

const std::string kJuliet = std::string(GK_SOURCE_DIR) + "/data/juliet/juliet_functions.csv";
const std::string kBigVul = std::string(GK_SOURCE_DIR) + "/data/bigvul/bigvul_subset.csv";

void csv_parse(benchmark::State& state, const std::string& path) {
    const std::string text = gk::fs::read_file(path);
    for (auto _ : state) {
        gk::data::CsvReader reader(text, path);
        int64_t rows = 0;
        while (reader.next()) {
            ++rows;
        }
        benchmark::DoNotOptimize(rows);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(text.size()));
}

// The data_hash in the report: part of every load.
void sha256(benchmark::State& state, const std::string& path) {
    const std::string text = gk::fs::read_file(path);
    for (auto _ : state) {
        benchmark::DoNotOptimize(gk::sha256_hex(text));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(text.size()));
}

// What load_dataset does for CSV: the file streamed in 4 MiB chunks.
void csv_stream(benchmark::State& state, const std::string& path) {
    for (auto _ : state) {
        gk::data::CsvReader reader = gk::data::CsvReader::open_file(path);
        int64_t rows = 0;
        while (reader.next()) {
            ++rows;
        }
        benchmark::DoNotOptimize(rows);
    }
}

void load(benchmark::State& state, const std::string& path, const std::string& mode,
          const std::string& dedup) {
    gk::config::DataConfig cfg;
    cfg.path = path;
    cfg.mode = gk::config::parse_or_throw<gk::config::DataMode>(mode, "data_bench", "mode");
    cfg.dedup = gk::config::parse_or_throw<gk::config::Dedup>(dedup, "data_bench", "dedup");
    int64_t samples = 0;
    for (auto _ : state) {
        gk::data::Dataset ds = gk::data::load_dataset(cfg, /*seed=*/42);
        samples = ds.report.train.samples + ds.report.validation.samples + ds.report.test.samples;
        benchmark::DoNotOptimize(ds.train.data());
    }
    state.counters["samples"] = static_cast<double>(samples);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * samples);
}

}  // namespace

BENCHMARK_CAPTURE(csv_parse, juliet, kJuliet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(csv_parse, bigvul, kBigVul)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(csv_stream, juliet, kJuliet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(sha256, juliet, kJuliet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, juliet_natural_exact, kJuliet, "natural", "exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, juliet_natural_none, kJuliet, "natural", "none")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, juliet_natural_near, kJuliet, "natural", "near")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, bigvul_paired_exact, kBigVul, "paired", "exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, bigvul_paired_near, kBigVul, "paired", "near")
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
