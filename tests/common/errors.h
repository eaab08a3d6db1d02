// Shared by the tests of bad input: the message of the InputError a call throws ("" if it throws
// none).
#pragma once

#include <functional>
#include <string>

#include "greenknobs/util/error.h"

namespace gk::testing {

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const gk::InputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace gk::testing
