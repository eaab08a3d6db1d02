// Tokenizer throughput on the bundled Juliet functions (func_before): functions/s and bytes/s with
// 1 and 2 threads, with a cold word cache (a fresh tokenizer, as the pipeline's single pass sees
// it) and a warm one; plus the tokenizer.json load time. Numbers go to docs/perf/text.md.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/fs.h"

namespace {

const std::string kTokenizerPath = std::string(GK_SOURCE_DIR) + "/data/modernbert/tokenizer.json";

// Minimal RFC 4180 reader: just the first column (func_before) of each record after the header.
std::vector<std::string> juliet_functions() {
    static const std::vector<std::string> texts = [] {
        std::string csv =
            gk::fs::read_file(std::string(GK_SOURCE_DIR) + "/data/juliet/juliet_functions.csv");
        std::vector<std::string> out;
        std::string field;
        size_t col = 0;
        bool in_quotes = false;
        bool header = true;
        for (size_t i = 0; i < csv.size(); ++i) {
            char c = csv[i];
            if (in_quotes) {
                if (c == '"' && i + 1 < csv.size() && csv[i + 1] == '"') {
                    field.push_back('"');
                    ++i;
                } else if (c == '"') {
                    in_quotes = false;
                } else {
                    field.push_back(c);
                }
            } else if (c == '"') {
                in_quotes = true;
            } else if (c == ',' || c == '\n') {
                if (col == 0 && !header) {
                    out.push_back(field);
                }
                field.clear();
                ++col;
                if (c == '\n') {
                    col = 0;
                    header = false;
                }
            } else if (c != '\r') {
                field.push_back(c);
            }
        }
        return out;
    }();
    return texts;
}

int64_t total_bytes(const std::vector<std::string>& texts) {
    int64_t n = 0;
    for (const auto& t : texts) {
        n += static_cast<int64_t>(t.size());
    }
    return n;
}

void set_counters(benchmark::State& state, const std::vector<std::string>& texts, int64_t tokens) {
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(texts.size()));
    state.SetBytesProcessed(state.iterations() * total_bytes(texts));
    state.counters["functions"] = static_cast<double>(texts.size());
    state.counters["tokens_per_function"] =
        static_cast<double>(tokens) / static_cast<double>(std::max<size_t>(1, texts.size()));
}

// Cold: every iteration encodes with a freshly loaded tokenizer (load time excluded), so the word
// cache starts empty, as in a pipeline run that tokenises each split once.
void BM_EncodeJulietCold(benchmark::State& state) {
    const auto& texts = juliet_functions();
    int threads = static_cast<int>(state.range(0));
    int64_t tokens = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto tok = gk::text::Tokenizer::from_file(kTokenizerPath);
        state.ResumeTiming();
        auto encs = tok.encode_batch(texts, true, 0, threads);
        tokens = 0;
        for (const auto& e : encs) {
            tokens += static_cast<int64_t>(e.ids.size());
        }
        benchmark::DoNotOptimize(encs.data());
        state.PauseTiming();
        encs.clear();
        encs.shrink_to_fit();
        state.ResumeTiming();
    }
    set_counters(state, texts, tokens);
}
BENCHMARK(BM_EncodeJulietCold)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Warm: the same tokenizer across iterations (a second epoch of tokenising, or the CLI on similar
// input).
void BM_EncodeJulietWarm(benchmark::State& state) {
    static const auto tok = gk::text::Tokenizer::from_file(kTokenizerPath);
    const auto& texts = juliet_functions();
    int threads = static_cast<int>(state.range(0));
    int64_t tokens = 0;
    for (auto _ : state) {
        auto encs = tok.encode_batch(texts, true, 256, threads);
        tokens = 0;
        for (const auto& e : encs) {
            tokens += static_cast<int64_t>(e.ids.size());
        }
        benchmark::DoNotOptimize(encs.data());
    }
    set_counters(state, texts, tokens);
}
BENCHMARK(BM_EncodeJulietWarm)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LoadTokenizerJson(benchmark::State& state) {
    for (auto _ : state) {
        auto tok = gk::text::Tokenizer::from_file(kTokenizerPath);
        benchmark::DoNotOptimize(tok.vocab_size());
    }
}
BENCHMARK(BM_LoadTokenizerJson)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
