// One place for LibTorch's autocast state functions, which were renamed in 2.x (device-generic
// is_autocast_enabled(device) / get_autocast_dtype(device) since 2.4): the model's checkpoint
// replay, the trainer's precision guard and the inference engine all read and set autocast through
// these.
#pragma once

#include <ATen/autocast_mode.h>

namespace gk::model {

bool autocast_enabled(bool cuda);
void set_autocast_enabled(bool cuda, bool on);
at::ScalarType autocast_dtype(bool cuda);
void set_autocast_dtype(bool cuda, at::ScalarType t);

}  // namespace gk::model
