// JSON Lines (and .json array) BigVul rows: the contract of fuzz_common.h over both file names.
#include <cstdint>
#include <string>

#include "greenknobs/data/rows.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    for (const char* suffix : {".jsonl", ".json"}) {
        const std::string path = gk::fuzz::temp_file(bytes, suffix);
        for (bool paired : {false, true}) {
            gk::data::RowRequirements req;
            req.func_after = paired;
            gk::fuzz::expect_clean(path, [&] {
                gk::data::read_jsonl_rows(
                    path, req, [](gk::data::RawRow&& row, const gk::data::RowColumns&) {
                        gk::fuzz::expect(row.vul == 0 || row.vul == 1, "label not 0/1");
                    });
            });
        }
    }
    return 0;
}
