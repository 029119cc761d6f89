/* A software prefetch (__builtin_prefetch: prefetcht0 on x86-64, prfm pldl1keep on arm64), which Swift
 * cannot name: clang's _mm_prefetch is a function-like macro, and the importer drops those. Imported
 * only by HarkKernels. */
static inline __attribute__((always_inline)) void hark_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}
