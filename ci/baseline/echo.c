#define _GNU_SOURCE /* memrchr, accept4 */
/* The C baseline LatencyBench measures beside the broker (SPEC §9: warm get p99 against
 * "a C epoll echo server measured in the same run"). The same shape as the broker's
 * serving loop — one thread, epoll, non-blocking AF_UNIX stream sockets, one reply line
 * per request line — with no work in between, so the ratio isolates the broker's own cost.
 *
 * Usage: echo-baseline SOCKET_PATH   (serves until killed)
 * Build: cc -O2 -o echo-baseline echo.c */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

struct conn {
    int fd;
    size_t in_len;   /* bytes of an unfinished line kept in `in` */
    size_t out_len;  /* echoed bytes not yet written (client not reading) */
    char in[BUF_SIZE];
    char out[BUF_SIZE];
};

static void drop(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Writes what is pending; returns -1 when the connection is dead. */
static int flush_out(int ep, struct conn *c) {
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = write(c->fd, c->out + done, c->out_len - done);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        return -1;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    struct epoll_event ev = { .events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

/* Reads what is there and queues every complete line for echoing. */
static int on_readable(int ep, struct conn *c) {
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, BUF_SIZE - c->in_len);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return -1;
        }
        c->in_len += (size_t)n;
        char *last = memrchr(c->in, '\n', c->in_len);
        if (last == NULL) {
            if (c->in_len == BUF_SIZE) return -1; /* line too long for a baseline */
            continue;
        }
        size_t whole = (size_t)(last - c->in) + 1;
        if (whole > BUF_SIZE - c->out_len) return -1; /* client stopped reading */
        memcpy(c->out + c->out_len, c->in, whole);
        c->out_len += whole;
        memmove(c->in, c->in + whole, c->in_len - whole);
        c->in_len -= whole;
    }
    return flush_out(ep, c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    unlink(argv[1]);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 128) < 0) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }; /* NULL marks the listener */
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    struct epoll_event events[64];
    for (;;) {
        int ready = epoll_wait(ep, events, 64, -1);
        if (ready < 0 && errno != EINTR) { perror("epoll_wait"); return 1; }
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct conn *nc = malloc(sizeof *nc);
                    if (nc == NULL) { close(fd); continue; }
                    nc->fd = fd;
                    nc->in_len = nc->out_len = 0;
                    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = nc };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            int dead = 0;
            if (events[i].events & EPOLLOUT) dead = flush_out(ep, c) < 0;
            if (!dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) dead = on_readable(ep, c) < 0;
            if (dead) drop(ep, c);
        }
    }
}
