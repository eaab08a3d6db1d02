// Variant catalog TOML: the whole load (base, variants, knobs, combinations, resolution).
#include <cstdint>
#include <string>

#include "greenknobs/knobs/catalog.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    const std::string path = gk::fuzz::temp_file(bytes, ".toml");
    gk::fuzz::expect_clean(path, [&] {
        gk::knobs::Catalog cat = gk::knobs::load_catalog(path);
        for (const auto& v : cat.variants) {
            gk::knobs::resolve(cat, v.id);
        }
    });
    return 0;
}
