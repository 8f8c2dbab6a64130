#define _GNU_SOURCE
#include "CSeccomp.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>

int remo_errno(void) { return errno; }
void remo_set_errno(int value) { errno = value; }

static int saved_argc;
static char *const *saved_argv;

__attribute__((constructor)) static void remo_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int remo_argc(void) { return saved_argc; }
char *const *remo_argv(void) { return saved_argv; }

int remo_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
int remo_openat(int dirfd, const char *path, int flags, mode_t mode) { return openat(dirfd, path, flags, mode); }
int remo_fcntl(int fd, int command, int argument) { return fcntl(fd, command, argument); }

// Double(String) in Embedded Swift calls this stdlib hook, which the Embedded stdlib leaves to
// the platform. Weak, so the full runtime's own definition wins in the full-Swift build. The
// broker never calls setlocale, so strtod parses in the "C" locale, as the hook requires.
// Returns the end of the parsed number, or NULL on overflow/underflow (as the stdlib's does).
__attribute__((weak)) const char *_swift_stdlib_strtod_clocale(const char *nptr, double *result) {
    char *end = NULL;
    errno = 0;
    *result = strtod(nptr, &end);
    if (errno == ERANGE) return NULL;
    return end;
}

extern char **environ;
char *const *remo_environment(void) { return environ; }

void remo_seccomp_version(unsigned int *major, unsigned int *minor, unsigned int *micro) {
    const struct scmp_version *v = seccomp_version();
    *major = v ? v->major : 0;
    *minor = v ? v->minor : 0;
    *micro = v ? v->micro : 0;
}

void remo_explicit_bzero(void *ptr, size_t len) {
    if (ptr != NULL && len > 0) explicit_bzero(ptr, len);
}

void *remo_mmap_anonymous(size_t length) {
    void *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int remo_mlock_onfault(void *addr, size_t len) { return mlock2(addr, len, MLOCK_ONFAULT); }

int remo_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t length = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int remo_accept_nonblocking(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int remo_accept_with_peer_path(int fd, uint8_t *path, uint32_t *length) {
    struct sockaddr_un address;
    socklen_t size = sizeof(address);
    memset(&address, 0, sizeof(address));
    int accepted = accept4(fd, (struct sockaddr *)&address, &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (accepted < 0) return -1;
    size_t offset = offsetof(struct sockaddr_un, sun_path);
    size_t path_length = size > offset ? size - offset : 0;
    if (path_length > sizeof(address.sun_path)) path_length = sizeof(address.sun_path);
    if (path_length > *length) path_length = *length;
    memcpy(path, address.sun_path, path_length);
    *length = (uint32_t)path_length;
    return accepted;
}

long long remo_filesystem_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long long)info.f_type;
}

int remo_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0, 0, 0); }

int remo_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

int remo_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

// MARK: - Hardening

#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

static int remo_seccomp_action_value(remo_seccomp_action action, uint16_t errno_value, uint32_t *out) {
    switch (action) {
    case REMO_SECCOMP_ALLOW: *out = SCMP_ACT_ALLOW; return 0;
    case REMO_SECCOMP_KILL_PROCESS: *out = SCMP_ACT_KILL_PROCESS; return 0;
    case REMO_SECCOMP_LOG: *out = SCMP_ACT_LOG; return 0;
    case REMO_SECCOMP_ERRNO: *out = SCMP_ACT_ERRNO(errno_value); return 0;
    }
    return -1;
}

/// libseccomp returns -errno; the shim's contract is -1 with errno.
static int remo_seccomp_result(int rc) {
    if (rc >= 0) return 0;
    errno = -rc;
    return -1;
}

remo_seccomp_filter remo_seccomp_create(remo_seccomp_action default_action, uint16_t default_errno) {
    uint32_t action;
    if (remo_seccomp_action_value(default_action, default_errno, &action) != 0) {
        errno = EINVAL;
        return NULL;
    }
    scmp_filter_ctx filter = seccomp_init(action);
    if (filter == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int rc = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0) rc = seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0);
    if (rc == 0) rc = seccomp_attr_set(filter, SCMP_FLTATR_API_SYSRAWRC, 1);
    if (rc != 0) {
        seccomp_release(filter);
        errno = -rc;
        return NULL;
    }
    return filter;
}

int remo_seccomp_syscall_number(const char *name) {
    int number = seccomp_syscall_resolve_name(name);
    // Unknown names give __NR_SCMP_ERROR; syscalls of other architectures negative pseudo numbers.
    if (number < 0) {
        errno = ENOENT;
        return -1;
    }
    return number;
}

int remo_seccomp_add_rule(remo_seccomp_filter filter, int syscall, remo_seccomp_action action, uint16_t errno_value,
                          unsigned int count, const remo_seccomp_argument *arguments) {
    uint32_t value;
    if (filter == NULL || count > 6 || (count > 0 && arguments == NULL) ||
        remo_seccomp_action_value(action, errno_value, &value) != 0) {
        errno = EINVAL;
        return -1;
    }
    struct scmp_arg_cmp comparisons[6];
    for (unsigned int i = 0; i < count; i++) {
        if (arguments[i].index > 5) {
            errno = EINVAL;
            return -1;
        }
        comparisons[i].arg = arguments[i].index;
        switch (arguments[i].compare) {
        case REMO_SECCOMP_EQ:
            comparisons[i].op = SCMP_CMP_EQ;
            comparisons[i].datum_a = arguments[i].value;
            comparisons[i].datum_b = 0;
            break;
        case REMO_SECCOMP_MASKED_EQ:
            comparisons[i].op = SCMP_CMP_MASKED_EQ;
            comparisons[i].datum_a = arguments[i].mask;
            comparisons[i].datum_b = arguments[i].value;
            break;
        default:
            errno = EINVAL;
            return -1;
        }
    }
    return remo_seccomp_result(seccomp_rule_add_exact_array(filter, value, syscall, count, comparisons));
}

int remo_seccomp_load(remo_seccomp_filter filter, int synchronize_threads) {
    if (filter == NULL) {
        errno = EINVAL;
        return -1;
    }
    int rc = seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, synchronize_threads ? 1 : 0);
    if (rc != 0) return remo_seccomp_result(rc);
    return remo_seccomp_result(seccomp_load(filter));
}

void remo_seccomp_release(remo_seccomp_filter filter) {
    if (filter != NULL) seccomp_release(filter);
}

int remo_cap_drop_bounding_set(int *failed_capability) {
    cap_value_t last = cap_max_bits();  // number of capabilities the running kernel knows
    for (cap_value_t cap = 0; cap < last; cap++) {
        int present = cap_get_bound(cap);
        if (present < 0) continue;  // not supported by this kernel
        if (present == 0) continue; // already dropped
        if (cap_drop_bound(cap) != 0) {
            if (failed_capability != NULL) *failed_capability = (int)cap;
            return -1;
        }
    }
    return 0;
}

int remo_cap_clear_ambient(void) { return cap_reset_ambient() == 0 ? 0 : -1; }

int remo_cap_clear_process_sets(void) {
    cap_t empty = cap_init();  // every flag of every capability clear
    if (empty == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int rc = cap_set_proc(empty);
    int saved = errno;
    cap_free(empty);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

int remo_set_groups(size_t count, const uint32_t *groups) { return setgroups(count, (const gid_t *)groups); }

long remo_raw_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6) {
    return syscall(number, a1, a2, a3, a4, a5, a6);
}
