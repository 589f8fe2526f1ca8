/* OpenBLAS's CBLAS interface plus its thread-control functions (openblas_set_num_threads, …). */
#include <cblas.h>
