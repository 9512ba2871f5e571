// Inline wrappers for FFmpeg macros and globals that Swift cannot import.
#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/error.h>
#include <libavutil/pixdesc.h>
#include <libavutil/motion_vector.h>
#include <libavutil/display.h>
#include <libavutil/time.h>
#include <stdio.h>

static inline int cff_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cff_averror_eof(void) { return AVERROR_EOF; }
static inline int cff_averror_exit(void) { return AVERROR_EXIT; }
static inline int cff_averror_timedout(void) { return AVERROR(ETIMEDOUT); }
static inline int64_t cff_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cff_time_base_q(void) { return AV_TIME_BASE_Q; }

/// Writes FFmpeg's message for an error code into `buffer`.
static inline const char *cff_err2str(int code, char *buffer, size_t size) {
    av_strerror(code, buffer, size);
    return buffer;
}

static inline FILE *cff_stderr(void) { return stderr; }
static inline FILE *cff_stdout(void) { return stdout; }

/// Bounds every blocking libavformat call (open, probe, read, write): the callback returns 1
/// (abort) once the armed deadline has passed or `abort` is set. Fields are touched only through
/// the functions below (atomic builtins), so any thread may arm or abort.
typedef struct cff_interrupt_state {
    int64_t deadline_us;   // av_gettime_relative() units; 0 = no deadline
    int32_t abort;         // non-zero: abort now (stop requested)
    int32_t fired;         // set by the callback when it aborted a call because of the deadline
} cff_interrupt_state;

static inline int cff_interrupt_callback(void *opaque) {
    cff_interrupt_state *s = (cff_interrupt_state *)opaque;
    if (__atomic_load_n(&s->abort, __ATOMIC_ACQUIRE)) return 1;
    int64_t d = __atomic_load_n(&s->deadline_us, __ATOMIC_ACQUIRE);
    if (d > 0 && av_gettime_relative() > d) {
        __atomic_store_n(&s->fired, 1, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}

/// Arms the deadline `timeout_us` from now (<= 0 disarms) and clears `fired`.
static inline void cff_interrupt_arm(cff_interrupt_state *s, int64_t timeout_us) {
    __atomic_store_n(&s->fired, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&s->deadline_us, timeout_us > 0 ? av_gettime_relative() + timeout_us : 0, __ATOMIC_RELEASE);
}
static inline void cff_interrupt_set_abort(cff_interrupt_state *s, int32_t value) {
    __atomic_store_n(&s->abort, value, __ATOMIC_RELEASE);
}
static inline int32_t cff_interrupt_fired(cff_interrupt_state *s) { return __atomic_load_n(&s->fired, __ATOMIC_ACQUIRE); }
static inline int32_t cff_interrupt_aborted(cff_interrupt_state *s) { return __atomic_load_n(&s->abort, __ATOMIC_ACQUIRE); }

/// Installs the callback on a context (before avformat_open_input / avio_open2).
static inline void cff_interrupt_install(AVFormatContext *ctx, cff_interrupt_state *s) {
    ctx->interrupt_callback.callback = cff_interrupt_callback;
    ctx->interrupt_callback.opaque = s;
}
static inline AVIOInterruptCB cff_interrupt_cb(cff_interrupt_state *s) {
    AVIOInterruptCB cb = { cff_interrupt_callback, s };
    return cb;
}

// AVFrame fields that moved (FFmpeg 7 removed the old ones; Debian 12 ships FFmpeg 5.1, which has
// only the old ones): the duration is `duration` from libavutil 57.40 (FFmpeg 6.0) on, `pkt_duration`
// before; the keyframe mark is `flags & AV_FRAME_FLAG_KEY` from libavutil 58.7 (FFmpeg 6.1) on,
// `key_frame` before.
static inline int64_t cff_frame_duration(const AVFrame *frame) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 40, 100)
    return frame->duration;
#else
    return frame->pkt_duration;
#endif
}
static inline void cff_frame_set_duration(AVFrame *frame, int64_t duration) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 40, 100)
    frame->duration = duration;
#else
    frame->pkt_duration = duration;
#endif
}
static inline void cff_frame_set_key(AVFrame *frame, int key) {
#ifdef AV_FRAME_FLAG_KEY
    if (key) frame->flags |= AV_FRAME_FLAG_KEY; else frame->flags &= ~AV_FRAME_FLAG_KEY;
#else
    frame->key_frame = key;
#endif
}
