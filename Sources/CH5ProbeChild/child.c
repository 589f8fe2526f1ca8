/* The libhdf5 probe's child: libhdf5 reads a possibly damaged file's whole structure in a process
   of its own (CH5Probe starts it and waits under a time limit). This target does not link libhdf5
   itself: paramkit links it with the shared library, and paramkit-h5probe with the static one, so
   that the probe's own program loads ten shared libraries instead of forty (libhdf5's shared
   build brings libcurl and its dependencies) and starts in about 3 ms instead of 9. */
#define _GNU_SOURCE
#include "h5probe_child.h"

#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the child: walk everything ---------------------------------------------------------- */

typedef struct {
    hsize_t file_size;
    char message[480];
    int failed;
} walk_state;

/* The innermost two messages of libhdf5's error stack ("H5Oopen(): unable to open object; ..."). */
typedef struct {
    char *out;
    size_t size;
    int count;
} stack_text;

static herr_t stack_line(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    stack_text *t = data;
    if (t->count == 2 || !err) return 0;
    size_t used = strlen(t->out);
    snprintf(t->out + used, t->size - used, "%s%s(): %s", t->count ? "; " : "", err->func_name ? err->func_name : "?",
             err->desc ? err->desc : "");
    t->count++;
    return 0;
}

/* Records the first failure: where, and libhdf5's error stack at that moment. */
static void note_failure(walk_state *st, const char *where, const char *name) {
    if (st->failed) return;
    st->failed = 1;
    snprintf(st->message, sizeof st->message, "libhdf5 cannot read %s %s: ", where, name);
    stack_text t = {st->message, sizeof st->message, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, stack_line, &t);
}

/* Reads one attribute's value in its file type (variable-length values are reclaimed). */
static herr_t read_attribute(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    walk_state *st = data;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) {
        note_failure(st, "attribute", name);
        return -1;
    }
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    herr_t status = -1;
    if (type >= 0 && space >= 0) {
        hssize_t n = H5Sget_simple_extent_npoints(space);
        size_t size = H5Tget_size(type);
        if (n >= 0 && size > 0 && (hsize_t)n <= ((hsize_t)1 << 40) / size) {
            /* in the memory type the readers use (C strings, native numbers), so that libhdf5 runs
               the same conversion here as it will in the caller */
            hid_t mem = -1;
            if (H5Tget_class(type) == H5T_STRING) {
                mem = H5Tcopy(H5T_C_S1);
                H5Tset_cset(mem, H5Tget_cset(type));
                if (H5Tis_variable_str(type) > 0) {
                    H5Tset_size(mem, H5T_VARIABLE);
                } else {
                    H5Tset_size(mem, size);
                    H5Tset_strpad(mem, H5T_STR_NULLPAD);
                }
            } else {
                mem = H5Tget_native_type(type, H5T_DIR_ASCEND);
            }
            if (mem < 0) mem = H5Tcopy(type);
            size_t msize = mem >= 0 ? H5Tget_size(mem) : 0;
            void *buf = msize > 0 && (hsize_t)n <= ((hsize_t)1 << 40) / msize ? calloc((size_t)n + 1, msize) : NULL;
            if (buf) {
                status = H5Aread(attr, mem, buf);
                if (status >= 0 && (H5Tdetect_class(mem, H5T_VLEN) > 0 || H5Tis_variable_str(mem) > 0))
                    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
                free(buf);
            }
            if (mem >= 0) H5Tclose(mem);
        }
    }
    if (status < 0) note_failure(st, "attribute", name);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    return status < 0 ? -1 : 0;
}

static int check_dataset(hid_t ds, const char *name, walk_state *st) {
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    int ok = type >= 0 && space >= 0 && dcpl >= 0;
    if (ok) {
        hssize_t n = H5Sget_simple_extent_npoints(space);
        size_t size = H5Tget_size(type);
        H5D_layout_t layout = H5Pget_layout(dcpl);
        ok = n >= 0 && size > 0 && layout >= 0;
        if (ok && layout == H5D_CONTIGUOUS) {
            /* the data is read without libhdf5 (mapped), but its type must convert: read one element */
            if (n > 0) {
                hid_t native = H5Tget_native_type(type, H5T_DIR_ASCEND);
                hsize_t one = 1, start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
                int rank = H5Sget_simple_extent_ndims(space);
                for (int i = 0; i < rank && i < H5S_MAX_RANK; i++) count[i] = 1;
                hid_t mem = H5Screate_simple(1, &one, NULL);
                char element[64];
                ok = native >= 0 && mem >= 0 && rank >= 0 && H5Tget_size(native) <= sizeof element &&
                     (rank == 0 || H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0) &&
                     H5Dread(ds, native, mem, space, H5P_DEFAULT, element) >= 0;
                if (ok && (H5Tdetect_class(native, H5T_VLEN) > 0 || H5Tis_variable_str(native) > 0))
                    H5Dvlen_reclaim(native, mem, H5P_DEFAULT, element);
                if (mem >= 0) H5Sclose(mem);
                if (native >= 0) H5Tclose(native);
                if (!ok) {
                    note_failure(st, "dataset", name);
                    return 0;
                }
            }
            haddr_t offset = H5Dget_offset(ds);
            hsize_t bytes = (hsize_t)n * size;
            if (offset != HADDR_UNDEF && (offset > st->file_size || bytes > st->file_size - offset)) {
                snprintf(st->message, sizeof st->message,
                         "dataset %s: its %llu bytes at offset %llu run past the end of the %llu-byte file", name,
                         (unsigned long long)bytes, (unsigned long long)offset, (unsigned long long)st->file_size);
                st->failed = 1;
                ok = 0;
            }
        } else if (ok) {
            /* chunked (possibly filtered) or compact: libhdf5 decodes these itself, so read them here */
            void *buf = (size_t)n <= ((size_t)1 << 40) / size ? malloc((size_t)n * size + 1) : NULL;
            ok = buf != NULL && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
            if (ok && (H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0))
                H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
            free(buf);
        }
    }
    if (!ok) note_failure(st, "dataset", name);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return ok;
}

static herr_t visit(hid_t root, const char *name, const H5O_info_t *info, void *data) {
    walk_state *st = data;
    hid_t obj = H5Oopen(root, name, H5P_DEFAULT);
    if (obj < 0) {
        note_failure(st, "object", name);
        return -1;
    }
    herr_t status = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, read_attribute, st);
    if (status < 0) note_failure(st, "the attributes of", name);
    if (status >= 0 && info->type == H5O_TYPE_DATASET && !check_dataset(obj, name, st)) status = -1;
    H5Oclose(obj);
    return status < 0 ? -1 : 0;
}

/* Runs in the child. Writes a one-byte verdict and a message to `fd`. */
static void walk(const char *path, int fd) {
    walk_state st = {0};
    struct stat sb;
    st.file_size = stat(path, &sb) == 0 ? (hsize_t)sb.st_size : 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char verdict = 'O';
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0) {
        herr_t status = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &st, H5O_INFO_BASIC);
        if (status < 0) note_failure(&st, "the objects of", "the file");
        if (st.failed) verdict = 'I'; /* an object, attribute or dataset libhdf5 cannot read */
        H5Fclose(file);
    } else {
        /* refused here, so that the caller never opens it: a damaged superblock or root group can
           make libhdf5's open ask for an allocation of any size (found by the checkpoint fuzzer) */
        snprintf(st.message, sizeof st.message, "not a readable HDF5 file: ");
        stack_text t = {st.message, sizeof st.message, 0};
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, stack_line, &t);
        verdict = 'I';
    }
    size_t len = verdict == 'I' ? strlen(st.message) : 0;
    char out[sizeof st.message + 1];
    out[0] = verdict;
    memcpy(out + 1, st.message, len);
    ssize_t w = write(fd, out, len + 1);
    (void)w;
}

/* ---- the child's entry: runs before main() in a re-executed copy of the program ------------- */

/* The probe runs in a fresh process (paramkit-h5probe, or the running program re-executed; both
   link this file), not a fork: the caller has threads (OpenBLAS's pool, libdispatch's), and a fork of
   a threaded process inherits locks (libhdf5's, malloc's) that another thread may hold. The
   constructor below turns that copy into the probe before any of its own code starts. */

static long long address_space_now(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0;
    if (f) {
        if (fscanf(f, "%lld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

__attribute__((constructor)) static void probe_child_main(void) {
    const char *path = getenv(PROBE_FILE_VAR);
    if (!path) return;
    const char *budget = getenv(PROBE_MEMORY_VAR);
    long long limit = address_space_now() + (budget ? atoll(budget) : (1LL << 30));
    struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
    setrlimit(RLIMIT_AS, &rl);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    /* die at once on a fault: no crash handler (e.g. a runtime's backtracer) */
    int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    /* a caller killed while the probe runs (kill -9 included) takes the probe with it, instead of
       leaving it to read, or loop in, the file on its own */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *parent = getenv(PROBE_PARENT_VAR);
    if (parent && getppid() != (pid_t)atoll(parent)) _exit(0); /* the caller died before the line above */
    walk(path, PROBE_FD);
    _exit(0);
}
