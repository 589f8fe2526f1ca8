#define _GNU_SOURCE
#include "h5probe.h"
#include "h5probe_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The caller's side of the probe: start the child (CH5ProbeChild is what it runs), wait for its
   verdict under the time limit, and say what happened. */

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The probe as paramkit-h5probe beside the running program when it is there, else the program
   itself, started with the probe's variables (file, memory budget, caller's pid); 0 or an errno. */
static int spawn_probe(const char *path, long long memory_budget, int write_fd, pid_t *pid) {
    /* the environment plus the probe's two variables (any inherited ones replaced) */
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 4, sizeof *env);
    char *file_var = NULL, *memory_var = NULL, *parent_var = NULL;
    if (!env || asprintf(&file_var, "%s=%s", PROBE_FILE_VAR, path) < 0 ||
        asprintf(&memory_var, "%s=%lld", PROBE_MEMORY_VAR, memory_budget) < 0 ||
        asprintf(&parent_var, "%s=%lld", PROBE_PARENT_VAR, (long long)getpid()) < 0) {
        free(env);
        return ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], PROBE_FILE_VAR "=", sizeof PROBE_FILE_VAR) != 0 &&
            strncmp(environ[i], PROBE_MEMORY_VAR "=", sizeof PROBE_MEMORY_VAR) != 0 &&
            strncmp(environ[i], PROBE_PARENT_VAR "=", sizeof PROBE_PARENT_VAR) != 0)
            env[k++] = environ[i];
    env[k++] = file_var;
    env[k++] = memory_var;
    env[k++] = parent_var;
    env[k] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_fd, PROBE_FD);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    /* nothing else of the caller's: libhdf5 opens files without O_CLOEXEC, and an inherited copy
       would keep a file's lock alive after the caller closed it */
    posix_spawn_file_actions_addclosefrom_np(&actions, PROBE_FD + 1);
    char *argv[] = {"paramkit-h5probe", NULL};
    /* paramkit-h5probe beside the running program when it is there, else the program itself */
    char program[4096 + 32];
    ssize_t len = readlink("/proc/self/exe", program, 4096);
    char *slash = len > 0 ? memchr(program, '/', (size_t)len) : NULL;
    if (slash) {
        program[len] = 0;
        strcpy(strrchr(program, '/') + 1, "paramkit-h5probe");
        if (access(program, X_OK) != 0) strcpy(program, "/proc/self/exe");
    } else {
        strcpy(program, "/proc/self/exe");
    }
    int spawned = posix_spawn(pid, program, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(file_var);
    free(memory_var);
    free(parent_var);
    free(env);
    return spawned;
}

pk_probe_result pk_h5_probe(const char *path, double seconds, long long memory_budget, char *message,
                            size_t message_size) {
    message[0] = 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(message, message_size, "pipe: %s", strerror(errno));
        return PK_PROBE_SYSTEM;
    }
    pid_t pid;
    int started = spawn_probe(path, memory_budget, fds[1], &pid);
    close(fds[1]);
    if (started != 0) {
        snprintf(message, message_size, "cannot start the reading process: %s", strerror(started));
        close(fds[0]);
        return PK_PROBE_SYSTEM;
    }
    char buf[512];
    size_t got = 0;
    double deadline = now() + seconds;
    int timed_out = 0;
    for (;;) {
        double left = deadline - now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t nr = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (nr < 0 && errno == EINTR) continue;
        if (nr <= 0) break; /* EOF: the child is done (or dead) */
        got += (size_t)nr;
        if (got == sizeof buf - 1) break;
    }
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (timed_out) {
        snprintf(message, message_size, "libhdf5 did not finish reading the file's structure within %.0f s", seconds);
        return PK_PROBE_TIMED_OUT;
    }
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        snprintf(message, message_size, "libhdf5 crashed (SIG%s) reading the file's structure", abbrev ? abbrev : "?");
        return PK_PROBE_CRASHED;
    }
    if (got == 0) {
        snprintf(message, message_size, "libhdf5 stopped reading the file's structure (exit status %d)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return PK_PROBE_CRASHED;
    }
    if (buf[0] == 'I') {
        buf[got] = 0;
        snprintf(message, message_size, "%s", buf + 1);
        return PK_PROBE_INVALID;
    }
    return PK_PROBE_OK;
}
