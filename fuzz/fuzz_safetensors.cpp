// safetensors: the 8-byte length, the JSON header and the offsets. A file that loads has every
// tensor's bytes inside the data section and exactly numel x dtype size of them.
#include <cstdint>
#include <string>

#include "greenknobs/model/safetensors.h"

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    gk::fuzz::expect_clean("fuzz.safetensors", [&] {
        gk::model::SafetensorsFile f(bytes, "fuzz.safetensors");
        for (const auto& t : f.tensors()) {
            gk::fuzz::expect(t.begin <= t.end && t.end <= size, "tensor bytes outside the file");
            gk::fuzz::expect(static_cast<uint64_t>(t.numel()) * gk::model::st_dtype_size(t.dtype) ==
                                 t.end - t.begin,
                             "tensor byte span differs from numel x dtype size");
            gk::fuzz::expect(f.find(t.name) == &t, "tensor names are not unique");
        }
    });
    return 0;
}
