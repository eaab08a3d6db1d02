// UTC wall-clock timestamps: the one place that formats them (run records, CSV rows, reports, run
// directory names). Durations never come from here: they use steady_clock.
#pragma once

#include <string>

namespace gk {

// `unix_s` (seconds since the epoch, fraction dropped) in UTC through strftime's `format`.
std::string utc_format(double unix_s, const char* format);
// ISO 8601 with the zone: "2026-12-06T13:40:00Z".
std::string utc_iso8601(double unix_s);
// Now, as utc_iso8601.
std::string utc_now_iso8601();
// Now, through `format` ("%Y-%m-%d", "%Y%m%dT%H%M%SZ", ...).
std::string utc_now(const char* format);

}  // namespace gk
