// Minimal leveled logging to stderr. Quiet by default for library code; the CLI sets the level.
#pragma once

#include <sstream>
#include <string>

namespace gk::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_level(Level level);
Level level();
void write(Level level, const std::string& msg);

inline void debug(const std::string& m) { write(Level::kDebug, m); }
inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarn, m); }
inline void error(const std::string& m) { write(Level::kError, m); }

}  // namespace gk::log
