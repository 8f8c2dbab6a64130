// CSeccomp: the few things Swift cannot call directly on Linux.
//
// Every function is prefixed `remo_`. Contract for all of them unless stated otherwise:
// return 0 on success, -1 on failure with errno set; no function retries EINTR (the Swift
// syscall layer does). No policy lives here: which syscalls are allowed is decided in Swift.
#ifndef REMO_CSECCOMP_H
#define REMO_CSECCOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
// The C library for the product modules. Embedded Swift has no Glibc module, so every
// product file imports CSeccomp instead, in both build modes; these are the headers they use.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
// Linux headers Swift's Glibc module does not cover.
#include <sys/epoll.h>
#include <sys/signalfd.h>

/// errno of the calling thread (a macro over __errno_location(), which Swift cannot import).
int remo_errno(void);
void remo_set_errno(int value);

/// The process's argc/argv, captured before main by an init_array constructor (glibc passes
/// them to constructors, static binaries included): Embedded Swift has no CommandLine.
int remo_argc(void);
char *const *remo_argv(void);

/// open/openat/fcntl with their optional argument always passed: Swift cannot call C
/// variadic functions (Glibc's Swift module wraps them; Embedded Swift has no such module).
int remo_open(const char *path, int flags, mode_t mode);
int remo_openat(int dirfd, const char *path, int flags, mode_t mode);
int remo_fcntl(int fd, int command, int argument);

/// The environment (the C global `environ`, which Swift cannot import without _GNU_SOURCE).
char *const *remo_environment(void);

/// libseccomp's runtime version (seccomp_version()), e.g. 2.5.4. Never fails.
void remo_seccomp_version(unsigned int *major, unsigned int *minor, unsigned int *micro);

/// explicit_bzero: zeroing the optimiser may not elide. Never fails.
void remo_explicit_bzero(void *ptr, size_t len);

/// mmap an anonymous private read-write region. Returns NULL (not MAP_FAILED) with errno set.
void *remo_mmap_anonymous(size_t length);

/// mlock2(addr, len, MLOCK_ONFAULT): lock pages as they are first touched, so a large
/// locked region costs resident memory only for what is used. errno from mlock2(2);
/// EINVAL/ENOSYS on kernels without MLOCK_ONFAULT (callers fall back to mlock).
int remo_mlock_onfault(void *addr, size_t len);

/// getsockopt(SO_PEERCRED) of a connected AF_UNIX socket (struct ucred needs _GNU_SOURCE,
/// which Swift's Glibc module does not define). errno from getsockopt(2).
int remo_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC). Returns the new fd or -1 with
/// errno from accept4(2) (EAGAIN when nothing is pending).
int remo_accept_nonblocking(int fd);

/// accept4 as above, also filling `path` (capacity `*length` bytes) with the peer's bound
/// sun_path and `*length` with its length (0 for an unbound peer). It is what getpeername(2)
/// would return on the new socket, without a second syscall. errno from accept4(2).
int remo_accept_with_peer_path(int fd, uint8_t *path, uint32_t *length);

/// statfs(path).f_type (e.g. TMPFS_MAGIC 0x01021994), or -1 with errno from statfs(2).
long long remo_filesystem_type(const char *path);

/// prctl(PR_SET_DUMPABLE, value). errno from prctl(2).
int remo_set_dumpable(int value);

/// prctl(PR_GET_DUMPABLE). Returns 0 or 1, or -1 with errno.
int remo_get_dumpable(void);

/// prctl(PR_SET_NO_NEW_PRIVS, 1). errno from prctl(2).
int remo_set_no_new_privs(void);

// MARK: - Hardening (SPEC §7 steps 4–5). Mechanism only: which syscalls, which user and
// in which order is decided in Swift (BrokerCore/Hardening).

/// A libseccomp filter being built (scmp_filter_ctx). Opaque to Swift.
typedef void *remo_seccomp_filter;

/// What a rule (or the default) does. Mapped to SCMP_ACT_* in the shim.
typedef enum {
    REMO_SECCOMP_ALLOW = 0,
    REMO_SECCOMP_KILL_PROCESS = 1,  ///< the whole process dies with SIGSYS
    REMO_SECCOMP_LOG = 2,           ///< allowed, and logged by the kernel (audit type 1326)
    REMO_SECCOMP_ERRNO = 3,         ///< fails with the errno given alongside
} remo_seccomp_action;

/// How an argument is compared.
typedef enum {
    REMO_SECCOMP_EQ = 0,         ///< arg == value
    REMO_SECCOMP_MASKED_EQ = 1,  ///< (arg & mask) == value
} remo_seccomp_compare;

/// One argument comparison; every comparison of a rule must hold for it to match.
typedef struct {
    unsigned int index;  ///< argument 0...5
    remo_seccomp_compare compare;
    uint64_t mask;       ///< MASKED_EQ only
    uint64_t value;
} remo_seccomp_argument;

/// seccomp_init for the native architecture only, with `default_action` for every syscall
/// no rule matches and kill-process for any other architecture (or the x32 ABI).
/// NO_NEW_PRIVS is not set on load (the caller does it as its own step), and libseccomp
/// reports the kernel's own errno from `remo_seccomp_load`.
/// Returns NULL with errno EINVAL (bad action) or ENOMEM.
remo_seccomp_filter remo_seccomp_create(remo_seccomp_action default_action, uint16_t default_errno);

/// The native (x86_64 here) number of syscall `name`, or -1 with errno ENOENT when
/// libseccomp does not know the name or it does not exist on this architecture.
int remo_seccomp_syscall_number(const char *name);

/// Adds one rule: `syscall` (a native number, from `remo_seccomp_syscall_number`) gets
/// `action` (`errno_value` for ERRNO) when all `count` comparisons hold (always when `count`
/// is 0). Added exactly as given, never rewritten by libseccomp. errno: EACCES (the action
/// is the filter's default action), EINVAL (NULL filter, more than 6 comparisons, an argument
/// index above 5, an unknown action or comparison), ENOMEM. libseccomp accepts a second rule
/// for the same syscall without complaint, so callers keep one rule set per syscall.
int remo_seccomp_add_rule(remo_seccomp_filter filter, int syscall, remo_seccomp_action action, uint16_t errno_value,
                          unsigned int count, const remo_seccomp_argument *arguments);

/// Loads the filter into the kernel. With `synchronize_threads`, every thread of the process
/// gets it atomically (SECCOMP_FILTER_FLAG_TSYNC) or none does. errno: the kernel's
/// (EACCES without NO_NEW_PRIVS or CAP_SYS_ADMIN, EINVAL, ENOMEM, ...), or ESRCH when a
/// thread could not be synchronised.
int remo_seccomp_load(remo_seccomp_filter filter, int synchronize_threads);

/// Frees the filter (after loading, the kernel keeps its own copy). NULL is ignored.
void remo_seccomp_release(remo_seccomp_filter filter);

/// Drops every capability still in the calling thread's bounding set (PR_CAPBSET_DROP for
/// each one the kernel knows). Capabilities already absent are skipped, so an empty set is
/// a success without privilege. On failure `*failed_capability` names the one that could
/// not be dropped; errno EPERM without CAP_SETPCAP, EINVAL.
int remo_cap_drop_bounding_set(int *failed_capability);

/// Clears the calling thread's ambient set (PR_CAP_AMBIENT_CLEAR_ALL; needs no
/// privilege). errno EINVAL on kernels without ambient capabilities (< 4.3).
int remo_cap_clear_ambient(void);

/// Clears the calling thread's effective, permitted and inheritable sets (capset with
/// empty sets; dropping needs no privilege). errno from capset(2) or ENOMEM.
int remo_cap_clear_process_sets(void);

/// setgroups(count, groups): the supplementary groups. errno EPERM without CAP_SETGID,
/// EINVAL (too many).
int remo_set_groups(size_t count, const uint32_t *groups);

/// The raw syscall(2) for probes that must reach the kernel exactly as written (clone3,
/// ptrace, ... in the debug-only forbidden-operation check). Returns what the kernel
/// returned, or -1 with errno.
long remo_raw_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

#endif
