// What the model tests share: a small test-tiny configuration and a bf16 CPU autocast scope.
#pragma once

#include <ATen/autocast_mode.h>

#include "greenknobs/model/autocast.h"
#include "greenknobs/model/config.h"

namespace gk::model::testing {

// test-tiny with `layers` layers, a 512-token vocabulary, pad id 0 and (window > 0) that sliding
// window on its local layers; window 0 keeps the preset's.
inline ModernBertConfig small_config(int64_t layers, int64_t window = 0) {
    ModernBertConfig c = preset("test-tiny");
    c.num_hidden_layers = layers;
    c.vocab_size = 512;
    c.pad_token_id = 0;
    if (window > 0) {
        c.local_attention = window;
    }
    c.finalize("test");
    return c;
}

// CPU autocast to bf16 for the scope's lifetime, as the trainer's precision guard sets it
// (LibTorch 1.13 has no C++ guard; model/autocast.h hides the 2.x renames).
struct Bf16Autocast {
    Bf16Autocast() {
        set_autocast_dtype(/*cuda=*/false, at::kBFloat16);
        set_autocast_enabled(/*cuda=*/false, true);
        at::autocast::increment_nesting();
    }
    ~Bf16Autocast() {
        if (at::autocast::decrement_nesting() == 0) {
            at::autocast::clear_cache();
        }
        set_autocast_enabled(/*cuda=*/false, false);
    }
    Bf16Autocast(const Bf16Autocast&) = delete;
    Bf16Autocast& operator=(const Bf16Autocast&) = delete;
};

}  // namespace gk::model::testing
