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
// Linux headers Swift's Glibc module does not cover; importing CSeccomp makes them visible.
#include <sys/epoll.h>
#include <sys/signalfd.h>

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

/// statfs(path).f_type (e.g. TMPFS_MAGIC 0x01021994), or -1 with errno from statfs(2).
long long remo_filesystem_type(const char *path);

/// prctl(PR_SET_DUMPABLE, value). errno from prctl(2).
int remo_set_dumpable(int value);

/// prctl(PR_GET_DUMPABLE). Returns 0 or 1, or -1 with errno.
int remo_get_dumpable(void);

/// prctl(PR_SET_NO_NEW_PRIVS, 1). errno from prctl(2).
int remo_set_no_new_privs(void);

#endif
