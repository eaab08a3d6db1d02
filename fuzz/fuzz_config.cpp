// HF config.json → ModernBertConfig: strict JSON, then the config checks. A config that loads has
// sizes that fit this machine and writes HF JSON that loads back to the same JSON.
#include <cstdint>
#include <string>

#include "greenknobs/model/config.h"
#include "greenknobs/util/json_strict.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    gk::fuzz::expect_clean("fuzz-config.json", [&] {
        nlohmann::json j = gk::parse_json_strict(bytes, "fuzz-config.json");
        gk::model::ModernBertConfig c = gk::model::config_from_json(j, "fuzz-config.json");
        gk::fuzz::expect(c.hidden_size > 0 && c.num_attention_heads > 0 &&
                             c.hidden_size % c.num_attention_heads == 0,
                         "a loaded config has inconsistent sizes");
        nlohmann::json out = gk::model::to_hf_json(c);
        gk::fuzz::expect(
            gk::model::to_hf_json(gk::model::config_from_json(out, "round trip")) == out,
            "HF JSON does not round-trip");
    });
    return 0;
}
