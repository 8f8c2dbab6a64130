#define _GNU_SOURCE
#include "CSeccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>

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

long long remo_filesystem_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long long)info.f_type;
}

int remo_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0, 0, 0); }

int remo_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

int remo_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
