// CSV reader and the BigVul row layer. Besides the contract (fuzz_common.h): parsing the bytes in
// memory and streaming them from a file in 7-byte chunks must give the same records or the same
// error, so records cut at any chunk boundary are re-read correctly.
#include <cstdint>
#include <string>
#include <vector>

#include "greenknobs/data/csv.h"
#include "greenknobs/data/rows.h"

#include "fuzz_common.h"

namespace {

// Every record, or the error message, as one comparable list.
std::vector<std::string> records(gk::data::CsvReader& r) {
    std::vector<std::string> out;
    for (const auto& h : r.header()) {
        out.push_back("h:" + h);
    }
    while (r.next()) {
        out.push_back("line " + std::to_string(r.record_line()));
        for (const auto& f : r.fields()) {
            out.push_back(f);
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    const std::string path = gk::fuzz::temp_file(bytes, ".csv");
    std::vector<std::string> in_memory;
    std::vector<std::string> streamed;
    gk::fuzz::expect_clean(path, [&] {
        try {
            gk::data::CsvReader r(bytes, path);
            in_memory = records(r);
        } catch (const gk::InputError& e) {
            in_memory = {std::string("error: ") + e.what()};
        }
        try {
            gk::data::CsvReader r = gk::data::CsvReader::open_file(path, /*chunk_bytes=*/7);
            streamed = records(r);
        } catch (const gk::InputError& e) {
            streamed = {std::string("error: ") + e.what()};
        }
        if (in_memory != streamed) {
            size_t i = 0;
            while (i < in_memory.size() && i < streamed.size() && in_memory[i] == streamed[i]) {
                ++i;
            }
            auto at = [&](const std::vector<std::string>& v) {
                return i < v.size() ? gk::printable(v[i]) : std::string("(end)");
            };
            gk::fuzz::expect(false, "streamed CSV differs from in-memory CSV:",
                             "in memory " + at(in_memory) + " | streamed " + at(streamed));
        }
        for (bool paired : {false, true}) {
            gk::data::RowRequirements req;
            req.func_after = paired;
            gk::data::read_csv_rows_from(bytes, path, req,
                                         [](gk::data::RawRow&&, const gk::data::RowColumns&) {});
        }
    });
    return 0;
}
