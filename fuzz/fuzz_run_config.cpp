// Run configuration TOML → RunConfig. A config that loads renders to TOML that loads back to the
// same config (same hash): what `train --print-config` prints must be valid `--config` input.
#include <cstdint>
#include <string>

#include "greenknobs/config/run_config.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    gk::fuzz::expect_clean("fuzz.toml", [&] {
        nlohmann::json j = gk::config::toml_to_json(bytes, "fuzz.toml");
        gk::config::RunConfig c = gk::config::from_json(j, "fuzz.toml");
        const std::string toml = gk::config::to_toml(c);
        gk::config::RunConfig back =
            gk::config::from_json(gk::config::toml_to_json(toml, "round trip"), "round trip");
        gk::fuzz::expect(gk::config::config_hash(back) == gk::config::config_hash(c),
                         "to_toml does not round-trip:", toml);
    });
    return 0;
}
