/* The child side of greenknobs' stage protocol in one header, for C and C++ programs (copy it into
 * your project; it needs only POSIX). Under `greenknobs measure` or `greenknobs study` the parent
 * sets GREENKNOBS_STAGE_FD (and GREENKNOBS_STAGE_ACK_FD); elsewhere every call is a no-op that
 * returns 0, so an instrumented program runs unchanged without greenknobs. docs/byo.md has the
 * protocol.
 *
 *   gk_stage_begin("train");  ...  gk_work("samples", 512);  ...  gk_stage_end("train");
 *   gk_metric("f1", 0.81);
 *
 * Stages nest; call from one thread. begin/end wait for the parent's acknowledgement, so the
 * boundary is taken before the next instruction of the stage runs. Returns 0, or -1 if the parent
 * went away (then later calls are no-ops too). */
#ifndef GREENKNOBS_PROTOCOL_CLIENT_H
#define GREENKNOBS_PROTOCOL_CLIENT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -1: not looked up yet; -2: no parent (no-op). */
static int gk_protocol_fd_ = -1;
static int gk_protocol_ack_fd_ = -1;

static int gk_protocol_env_fd_(const char* name) {
    const char* s = getenv(name);
    char* end = NULL;
    long v;
    if (s == NULL || *s == '\0') {
        return -2;
    }
    v = strtol(s, &end, 10);
    return (end != NULL && *end == '\0' && v >= 0 && v < 1 << 20) ? (int)v : -2;
}

static int gk_protocol_send_(const char* line, int wait_ack) {
    size_t n, off = 0;
    if (gk_protocol_fd_ == -1) {
        gk_protocol_fd_ = gk_protocol_env_fd_("GREENKNOBS_STAGE_FD");
        gk_protocol_ack_fd_ = gk_protocol_env_fd_("GREENKNOBS_STAGE_ACK_FD");
    }
    if (gk_protocol_fd_ < 0) {
        return 0;
    }
    n = strlen(line);
    /* One write of a line shorter than PIPE_BUF is atomic: lines from two processes never mix. */
    while (off < n) {
        ssize_t w = write(gk_protocol_fd_, line + off, n - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            gk_protocol_fd_ = -2;
            return -1;
        }
        off += (size_t)w;
    }
    if (wait_ack && gk_protocol_ack_fd_ >= 0) {
        char c;
        ssize_t r;
        do {
            r = read(gk_protocol_ack_fd_, &c, 1);
        } while (r < 0 && errno == EINTR);
        if (r != 1) {
            gk_protocol_ack_fd_ = -2;
            return -1;
        }
    }
    return 0;
}

static int gk_protocol_line_(const char* verb, const char* name, const char* value, int ack) {
    char line[320];
    int n;
    if (value != NULL) {
        n = snprintf(line, sizeof line, "%s %s %s\n", verb, name, value);
    } else {
        n = snprintf(line, sizeof line, "%s %s\n", verb, name);
    }
    if (n <= 0 || (size_t)n >= sizeof line) {
        return -1;
    }
    return gk_protocol_send_(line, ack);
}

static inline int gk_stage_begin(const char* name) {
    return gk_protocol_line_("begin", name, NULL, 1);
}
static inline int gk_stage_end(const char* name) { return gk_protocol_line_("end", name, NULL, 1); }
static inline int gk_metric(const char* name, double value) {
    char v[64];
    snprintf(v, sizeof v, "%.17g", value);
    return gk_protocol_line_("metric", name, v, 0);
}
static inline int gk_work(const char* unit, double amount) {
    char v[64];
    snprintf(v, sizeof v, "%.17g", amount);
    return gk_protocol_line_("work", unit, v, 0);
}
/* True when a greenknobs parent is listening. */
static inline int gk_protocol_active(void) {
    if (gk_protocol_fd_ == -1) {
        gk_protocol_fd_ = gk_protocol_env_fd_("GREENKNOBS_STAGE_FD");
        gk_protocol_ack_fd_ = gk_protocol_env_fd_("GREENKNOBS_STAGE_ACK_FD");
    }
    return gk_protocol_fd_ >= 0;
}

#ifdef __cplusplus
namespace greenknobs {
/* RAII: a stage for the lifetime of a scope. */
class ScopedStage {
  public:
    explicit ScopedStage(const char* name) : name_(name) { gk_stage_begin(name_); }
    ~ScopedStage() { gk_stage_end(name_); }
    ScopedStage(const ScopedStage&) = delete;
    ScopedStage& operator=(const ScopedStage&) = delete;

  private:
    const char* name_;
};
}  // namespace greenknobs
#endif

#endif /* GREENKNOBS_PROTOCOL_CLIENT_H */
