// One RFC 4180 field for CSV writers: quoted (with "" escapes) only when it holds a comma, quote or
// line break.
#pragma once

#include <string>

namespace gk {

std::string csv_field(const std::string& s);

}  // namespace gk
