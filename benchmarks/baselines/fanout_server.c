/*
 * CALIBRATION, NOT A CHAT SERVER: the least a line fan-out server can do.
 *
 * One single-threaded epoll loop. Each line a client sends is written at once,
 * as "<nick> line", to every other client: no parsing beyond the newline, no
 * coalescing, no timers, TCP_NODELAY on every socket. Its true latency on
 * loopback is tens of microseconds, so what the load generator reports against
 * it is the generator's own floor (benchmarks/calibrate.py).
 *
 * It speaks just enough of tcpchat's text protocol for the generator: the
 * first line is the nickname, answered by "*** Welcome, NICK!".
 *
 * Build: gcc -O2 -o fanout_server fanout_server.c; run: fanout_server PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 65536
#define INBUF 8192
#define MAX_LINE 4096
#define MAX_OUT (4u << 20) /* a client owed more than this is closed */

struct client {
    int fd;
    int registered;
    char nick[64];
    char in[INBUF];
    size_t inlen;
    char *out;
    size_t outlen, outcap;
};

static struct client *clients[MAX_CLIENTS]; /* by file descriptor */
static int max_fd;
static int ep;

static void drop(struct client *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    clients[c->fd] = NULL;
    free(c->out);
    free(c);
}

static void watch(struct client *c) {
    struct epoll_event ev = {.events = EPOLLIN | (c->outlen ? EPOLLOUT : 0u), .data.fd = c->fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is owed; returns -1 when the client is gone. */
static int flush(struct client *c) {
    while (c->outlen) {
        ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return -1;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
    }
    return 0;
}

/* Write now if nothing is owed; otherwise (or for what did not fit) queue. */
static int deliver(struct client *c, const char *data, size_t len) {
    if (!c->outlen) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
        if (n > 0) { data += n; len -= (size_t)n; }
        if (!len) return 0;
    }
    if (c->outlen + len > MAX_OUT) return -1;
    if (c->outlen + len > c->outcap) {
        c->outcap = (c->outlen + len) * 2;
        c->out = realloc(c->out, c->outcap);
        if (!c->out) return -1;
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    watch(c);
    return 0;
}

static void on_line(struct client *c, const char *line, size_t len) {
    char buf[MAX_LINE + 128];
    if (len && line[len - 1] == '\r') len--;
    if (len > MAX_LINE) len = MAX_LINE;
    if (!c->registered) {
        size_t n = len < sizeof c->nick - 1 ? len : sizeof c->nick - 1;
        memcpy(c->nick, line, n);
        c->nick[n] = 0;
        c->registered = 1;
        int k = snprintf(buf, sizeof buf, "*** Welcome, %s!\n", c->nick);
        if (deliver(c, buf, (size_t)k) < 0) drop(c);
        return;
    }
    int k = snprintf(buf, sizeof buf, "<%s> %.*s\n", c->nick, (int)len, line);
    for (int fd = 0; fd <= max_fd; fd++) {
        struct client *to = clients[fd];
        if (!to || to == c || !to->registered) continue;
        if (deliver(to, buf, (size_t)k) < 0) drop(to);
    }
}

static void on_readable(struct client *c) {
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
        if (n == 0) { drop(c); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) drop(c);
            return;
        }
        int fd = c->fd;
        size_t end = c->inlen + (size_t)n, start = 0;
        char *nl;
        while ((nl = memchr(c->in + start, '\n', end - start)) != NULL) {
            size_t len = (size_t)(nl - (c->in + start));
            on_line(c, c->in + start, len);
            if (clients[fd] != c) return; /* dropped while answering */
            start += len + 1;
        }
        if (start == 0 && end == INBUF) start = end; /* an overlong line: forget it */
        memmove(c->in, c->in + start, end - start);
        c->inlen = end - start;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fanout_server PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(listener, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listener, 4096) < 0) {
        perror("fanout_server: listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == listener) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (fd >= MAX_CLIENTS) { close(fd); continue; }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct client *nc = calloc(1, sizeof *nc);
                    if (!nc) { close(fd); continue; }
                    nc->fd = fd;
                    clients[fd] = nc;
                    if (fd > max_fd) max_fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            struct client *c = clients[evs[i].data.fd];
            if (!c) continue; /* dropped earlier in this batch */
            if (evs[i].events & EPOLLOUT) {
                if (flush(c) < 0) { drop(c); continue; }
                if (!c->outlen) watch(c);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
    }
}
