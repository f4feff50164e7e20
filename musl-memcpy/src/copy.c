/* memcpy and memmove for the static musl binaries.
 *
 * Why: musl's x86_64 memcpy is `rep movsq` for every size, with a `movsb` loop on each side.
 * Rust copies many small and mid-sized values (moved futures, headers, buffers), and there the
 * start-up cost of `rep movsq` dominates: musl's memcpy was 15.6 % of task's samples on
 * GET /tasks and the largest single cost of the static build against the glibc one
 * (docs/benchmarks.md). Here:
 *   - up to 64 bytes: two to four loads that may overlap, all of them before any store, so the
 *     same code serves memmove;
 *   - up to REP_MOVSB_FROM bytes: 64 bytes a step with unaligned SSE2 (baseline on x86_64);
 *   - beyond, memcpy uses `rep movsb`, which CPUs with ERMS run at full speed (memmove keeps the
 *     SSE2 steps, in the direction the overlap needs).
 * The functions are always built under their own names (the tests call them on any target);
 * the build defines MUSL_MEMCPY_EXPORT on musl, which also gives them the names libc's have. */
#include <emmintrin.h>
#include <stddef.h>
#include <stdint.h>

#define REP_MOVSB_FROM 2048

typedef __m128i v16;
#define LOAD(p) _mm_loadu_si128((const v16 *)(p))
#define STORE(p, v) _mm_storeu_si128((v16 *)(p), (v))

/* Fixed-size copies through a register; with a constant size these compile to one move each. */
#define LOAD_N(type, p) ({ type v_; __builtin_memcpy(&v_, (p), sizeof v_); v_; })
#define STORE_N(type, p, v) do { type v_ = (v); __builtin_memcpy((p), &v_, sizeof v_); } while (0)

/* n <= 64. Every byte is loaded before the first store: overlapping buffers come out right. */
static inline void copy_small(unsigned char *d, const unsigned char *s, size_t n) {
    if (n >= 32) {
        v16 a = LOAD(s), b = LOAD(s + 16), c = LOAD(s + n - 32), e = LOAD(s + n - 16);
        STORE(d, a); STORE(d + 16, b); STORE(d + n - 32, c); STORE(d + n - 16, e);
    } else if (n >= 16) {
        v16 a = LOAD(s), b = LOAD(s + n - 16);
        STORE(d, a); STORE(d + n - 16, b);
    } else if (n >= 8) {
        uint64_t a = LOAD_N(uint64_t, s), b = LOAD_N(uint64_t, s + n - 8);
        STORE_N(uint64_t, d, a); STORE_N(uint64_t, d + n - 8, b);
    } else if (n >= 4) {
        uint32_t a = LOAD_N(uint32_t, s), b = LOAD_N(uint32_t, s + n - 4);
        STORE_N(uint32_t, d, a); STORE_N(uint32_t, d + n - 4, b);
    } else if (n >= 2) {
        uint16_t a = LOAD_N(uint16_t, s), b = LOAD_N(uint16_t, s + n - 2);
        STORE_N(uint16_t, d, a); STORE_N(uint16_t, d + n - 2, b);
    } else if (n == 1) {
        *d = *s;
    }
}

/* n > 64; safe when d is below s or the buffers do not overlap. The last 64 bytes are loaded
 * first and stored last; each step reads only bytes above everything already written. */
static inline void copy_forward(unsigned char *d, const unsigned char *s, size_t n) {
    v16 t0 = LOAD(s + n - 64), t1 = LOAD(s + n - 48), t2 = LOAD(s + n - 32), t3 = LOAD(s + n - 16);
    for (size_t i = 0; i + 64 < n; i += 64) {
        v16 a = LOAD(s + i), b = LOAD(s + i + 16), c = LOAD(s + i + 32), e = LOAD(s + i + 48);
        STORE(d + i, a); STORE(d + i + 16, b); STORE(d + i + 32, c); STORE(d + i + 48, e);
    }
    STORE(d + n - 64, t0); STORE(d + n - 48, t1); STORE(d + n - 32, t2); STORE(d + n - 16, t3);
}

/* n > 64 and d above s: the mirror image, from the end down; the first 64 bytes go last. */
static inline void copy_backward(unsigned char *d, const unsigned char *s, size_t n) {
    v16 h0 = LOAD(s), h1 = LOAD(s + 16), h2 = LOAD(s + 32), h3 = LOAD(s + 48);
    for (size_t i = n; i > 64; i -= 64) {
        v16 a = LOAD(s + i - 64), b = LOAD(s + i - 48), c = LOAD(s + i - 32), e = LOAD(s + i - 16);
        STORE(d + i - 64, a); STORE(d + i - 48, b); STORE(d + i - 32, c); STORE(d + i - 16, e);
    }
    STORE(d, h0); STORE(d + 16, h1); STORE(d + 32, h2); STORE(d + 48, h3);
}

void *musl_memcpy_copy(void *restrict dst, const void *restrict src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n <= 64) {
        copy_small(d, s, n);
    } else if (n < REP_MOVSB_FROM) {
        copy_forward(d, s, n);
    } else {
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    }
    return dst;
}

void *musl_memcpy_move(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (n <= 64) {
        copy_small(d, s, n);
    } else if ((uintptr_t)d - (uintptr_t)s >= n) {
        /* d below s (the difference wraps round) or at or past s + n. */
        copy_forward(d, s, n);
    } else {
        copy_backward(d, s, n);
    }
    return dst;
}

#ifdef MUSL_MEMCPY_EXPORT
void *memcpy(void *restrict, const void *restrict, size_t) __attribute__((alias("musl_memcpy_copy")));
void *memmove(void *, const void *, size_t) __attribute__((alias("musl_memcpy_move")));
#endif
