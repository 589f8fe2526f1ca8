/* The process pk_h5_probe() starts to read a possibly damaged HDF5 file: a program that links only
   libhdf5 and the probe, so it starts in a few milliseconds. The probe itself runs from a constructor
   in CH5Probe before main() when PARAMKIT_H5PROBE_FILE is set; run any other way, this exits 2. */
#include <stdio.h>

int main(void) {
    fputs("paramkit-h5probe is started by paramkit to read an HDF5 file's structure; it takes no arguments\n", stderr);
    return 2;
}
