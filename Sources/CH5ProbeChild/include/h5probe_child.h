/* What the caller of the libhdf5 probe (CH5Probe, pk_h5_probe) and the probe's child (this target)
   agree on: the environment variables that make a process the probe of a file, and the descriptor
   it writes its verdict to (a byte, 'O' or 'I', then the message of an 'I'). */
#ifndef PK_H5PROBE_CHILD_H
#define PK_H5PROBE_CHILD_H

#define PROBE_FILE_VAR "PARAMKIT_H5PROBE_FILE"
#define PROBE_MEMORY_VAR "PARAMKIT_H5PROBE_MEMORY"
#define PROBE_PARENT_VAR "PARAMKIT_H5PROBE_PARENT"
#define PROBE_FD 3

#endif
