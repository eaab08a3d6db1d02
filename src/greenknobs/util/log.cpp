// Logging sink: one line per message, prefixed with the level, serialised by a mutex.
#include "greenknobs/util/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace gk::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mu;
}  // namespace

void set_level(Level l) { g_level = static_cast<int>(l); }
Level level() { return static_cast<Level>(g_level.load()); }

void write(Level l, const std::string& msg) {
    if (static_cast<int>(l) < g_level.load()) {
        return;
    }
    static const char* kNames[] = {"debug", "info", "warning", "error", ""};
    std::lock_guard<std::mutex> lock(g_mu);
    std::fprintf(stderr, "[%s] %s\n", kNames[static_cast<int>(l)], msg.c_str());
    std::fflush(stderr);
}

}  // namespace gk::log
