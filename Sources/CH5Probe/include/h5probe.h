/* Reading an HDF5 file that may be corrupt without trusting libhdf5 with it: libhdf5 believes a
   file's metadata, so a damaged object header or B-tree can make it crash, loop or allocate without
   bound. pk_h5_probe() has libhdf5 read the whole structure of the file (every object, every
   attribute value, every dataset's type, shape and layout, and the contents of every dataset that is
   not stored contiguously) in a child process — paramkit-h5probe beside the running program, else
   the running program started again; in both a constructor in CH5ProbeChild turns the process into
   the probe before main() — under a time and memory limit, and reports how that went. A file the probe passes is then opened in the calling process. */
#ifndef PK_H5PROBE_H
#define PK_H5PROBE_H

#include <stddef.h>

typedef enum {
    PK_PROBE_OK = 0,        /* libhdf5 read everything (or refused the file with an error of its own) */
    PK_PROBE_CRASHED = 1,   /* the child died of a signal (message names it) */
    PK_PROBE_TIMED_OUT = 2, /* the child did not finish within the time limit */
    PK_PROBE_INVALID = 3,   /* a structural check failed (message says which) */
    PK_PROBE_SYSTEM = 4     /* spawn, pipe or wait failed (message gives errno's text) */
} pk_probe_result;

/* `memory_budget` bytes of address space beyond what the process already has; `seconds` of wall
   time. The message (NUL-terminated, at most `message_size` bytes) describes anything but OK. */
pk_probe_result pk_h5_probe(const char *path, double seconds, long long memory_budget, char *message,
                            size_t message_size);

#endif
