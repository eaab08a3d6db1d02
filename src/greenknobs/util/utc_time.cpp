// UTC timestamps (utc_time.h): gmtime_r + strftime, thread-safe.
#include "greenknobs/util/utc_time.h"

#include <cmath>
#include <ctime>

namespace gk {

std::string utc_format(double unix_s, const char* format) {
    const std::time_t t = static_cast<std::time_t>(std::floor(unix_s));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    const size_t n = std::strftime(buf, sizeof buf, format, &tm);
    return std::string(buf, n);
}

std::string utc_iso8601(double unix_s) { return utc_format(unix_s, "%Y-%m-%dT%H:%M:%SZ"); }

std::string utc_now_iso8601() { return utc_now("%Y-%m-%dT%H:%M:%SZ"); }

std::string utc_now(const char* format) {
    return utc_format(static_cast<double>(std::time(nullptr)), format);
}

}  // namespace gk
