/* OpenBLAS's CBLAS interface plus its thread-control functions (openblas_set_num_threads, …),
   and the one glibc malloc setting the engine needs (malloc.h is not in Swift's Glibc module). */
#include <cblas.h>
#include <malloc.h>

/* Keep freed large blocks in the heap instead of returning them to the kernel, so repeated
   blob-sized allocations reuse warm pages. */
static inline void cengine_keep_large_blocks(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
