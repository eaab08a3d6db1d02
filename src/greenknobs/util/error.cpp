// Out-of-line part of GK_CHECK so the macro stays small at every call site.
#include "greenknobs/util/error.h"

namespace gk {

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
    throw CheckError(std::string(file) + ":" + std::to_string(line) + ": check failed: " + cond +
                     (msg.empty() ? "" : ": " + msg));
}

}  // namespace gk
