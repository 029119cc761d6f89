/* Instructions Swift cannot name through clang's intrinsics headers, where those are function-like
 * macros (the importer drops them). Imported only by HarkKernels, whose build flags decide which of
 * them exist. */
#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

/* A software prefetch (__builtin_prefetch: prefetcht0 on x86-64, prfm pldl1keep on arm64); clang's
 * _mm_prefetch is a macro. */
static inline __attribute__((always_inline)) void hark_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#if defined(__x86_64__) && defined(__AVX512F__)
/* vpgatherdd: the 16 dwords at base + offsets[i] bytes; _mm512_i32gather_epi32 is a macro. */
static inline __attribute__((always_inline)) __m512i hark_gather16(const void *base, __m512i offsets) {
    return _mm512_i32gather_epi32(offsets, base, 1);
}
#endif

#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
/* vpdpbusd on 256 bits (AVX-512 VNNI with VL): src + the 8 sums of 4 products of unsigned bytes of a
 * and signed bytes of b; _mm256_dpbusd_epi32 is a macro. */
static inline __attribute__((always_inline)) __m256i hark_dpbusd256(__m256i src, __m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(src, a, b);
}
#endif

#if defined(__x86_64__) && defined(__AVX512F__)
/* The 16 bytes at each of p0..p3 as the four 128-bit lanes of one vector (vmovdqu + three
 * vinserti32x4 from memory); _mm512_inserti32x4 is a macro. */
static inline __attribute__((always_inline)) __m512i hark_load4x16(const void *p0, const void *p1, const void *p2, const void *p3) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p0));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p1), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p2), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p3), 3);
}
#endif
