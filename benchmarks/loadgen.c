/*
 * loadgen: the load generator of tcpchat's benchmarks.
 *
 * One single-threaded epoll process that opens N connections to a chat server,
 * registers them (tcpchat's text or JSON rendering, IRC, or WebSocket), and then takes
 * commands on standard input, answering each with one JSON line on standard
 * output. It is a measuring device only: it counts and buckets, and the Python
 * side (benchmarks/stats.py) turns the counts into missing deliveries, backlog
 * and percentiles.
 *
 * Commands:
 *   run RATE SECONDS DRAIN GRACE
 *       Open-loop step: the senders emit RATE messages per second in total for
 *       SECONDS, round-robin, each carrying its *intended* send time (so a
 *       server that stalls the generator cannot hide latency: no coordinated
 *       omission). DRAIN seconds after sending stops, the deliveries received
 *       so far are noted as on time; the step then waits up to GRACE seconds
 *       for the rest.
 *   stat       The server's CPU time and RSS now.
 *   churn SECONDS CONCURRENCY
 *       Extra connections that connect, register and close, CONCURRENCY at a
 *       time, for SECONDS; reports how many registered.
 *   quit
 *
 * Every connection counts the benchmark lines it receives; only the sample
 * connections (spread over the fan-out order, including its last members)
 * parse the embedded time into the latency histogram. A benchmark line ends
 * with "@@STEP:NANOSECONDS" so lines of an earlier step are told apart.
 *
 * Rooms (--rooms R): the clients are dealt into R rooms #r00, #r01, ... in turn
 * as they register. A tcpchat client then sends "/join #rNN" (which makes the
 * room its current one) and "/part #lobby", so that, like the IRC clients
 * (JOIN #rNN, PRIVMSG #rNN), each is in its one room. Its benchmark lines say
 * their room, "@@STEP/ROOM:NANOSECONDS": a member counts only its own room's
 * lines, and any other room's line as "foreign" (a leak between rooms). Each
 * message is owed to the other members of its sender's room ("owed").
 *
 * WebSocket (--proto ws): each connection opens the web front door's /ws with an
 * HTTP/1.1 upgrade (a fixed Sec-WebSocket-Key; anything but a 101 with the matching
 * Sec-WebSocket-Accept ends the run), then speaks the JSON rendering with the
 * framing changed: every line it sends is one masked text frame (RFC 6455 requires
 * a client to mask; a fixed mask does), and every text frame the server sends is
 * one JSON event, counted exactly as a JSON line is. A ping is answered with a
 * pong; a close frame ends the connection (as the server closing a TCP one does).
 *
 * The histogram is log-linear in microseconds: values below 64 have a bucket
 * each, then every power of two is cut into 32 buckets (at most ~3% wide).
 * benchmarks/stats.py mirrors bucket_of() and is unit-tested.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INBUF 16384
#define NBUCKETS 1280
#define MAX_EVENTS 1024
#define MAX_OUT (8u << 20)        /* per-connection unsent bytes we accept to hold */
/* Connections being set up at once. A server with a short listen backlog (ngIRCd's)
 * drops the connection attempts past it, which the kernel sends again 1, 3, 7 s
 * later: with 128 at once ngIRCd took 55 s to register 1,000 clients, with 8 0.7 s. */
#define CONNECT_IN_FLIGHT 8
#define SETUP_RETRIES 1000        /* connections refused during set-up, tried again */
#define QUIET_MS 300              /* "registration traffic is over" after this silence */

enum proto { P_TEXT, P_JSON, P_IRC };
/* --proto ws is the JSON rendering (proto == P_JSON) over WebSocket frames. */
static int websocket;
#define WS_PATH "/ws"
/* RFC 6455's own example key, and the answer it must get (section 1.3). */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define WS_MAX_PAYLOAD 8192       /* the longest line the generator sends is ~4.2 KB */
enum ws_opcode { WS_CONT = 0x0, WS_TEXT = 0x1, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xa };
static const unsigned char ws_mask[4] = {0x37, 0xfa, 0x21, 0x3d};
enum state { S_CONNECTING, S_REGISTERING, S_JOINING, S_READY, S_CLOSED };

struct conn {
    int fd;
    int state;
    int churn;        /* a churn connection: close as soon as registered */
    int sample;       /* parses embedded times into the histogram */
    int stalled;      /* registered, then never read again */
    int dirty;        /* queued in the flush list */
    int reg_order;
    int skipping;     /* inside a line longer than INBUF */
    int room;         /* with --rooms: its room's number; -1 before it is dealt one */
    char nick[24];
    size_t inlen;
    char *in;
    char *out;
    size_t outlen, outcap;
    uint64_t received; /* benchmark lines of the current step */
    int ws_open;       /* WebSocket: the 101 answer has come, frames follow */
    uint64_t ws_skip;  /* WebSocket: bytes left of a frame longer than INBUF */
};

static const char *host = "127.0.0.1";
static int port;
static int proto = P_TEXT;
static int nclients = 10;
static int nsenders = -1;       /* -1: everyone sends */
static int nsamples = 16;
static int nstalled = 0;
static int payload_bytes = 64;
static int server_pid = 0;
static double register_timeout_s = 120.0;
static int nrooms = 0;          /* 0: everyone in the server's one (default) room */
static int rooms_dealt;
#define MAX_ROOMS 10000

static int ep;
static struct conn **by_order;  /* main connections, by registration order */
static int nregistered, nclosed_main, in_flight;
static struct conn **senders;
static int sender_count;
static struct conn **dirty_list;
static int ndirty, dirty_cap;

static unsigned step;
static uint64_t hist[NBUCKETS];
static uint64_t lag_hist[NBUCKETS]; /* how late each message was handed to send() */
static uint64_t stale_lines, foreign_lines, samples_taken;
static uint64_t churn_started, churn_registered, churn_failed;
static uint64_t churn_counter;
static uint64_t last_data_ns;
static long clk_tck;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* Mirrored by benchmarks/stats.py:bucket_of. */
static int bucket_of(uint64_t us) {
    if (us < 64) return (int)us;
    int bits = 64 - __builtin_clzll(us);
    int shift = bits - 6;
    int idx = 64 + (shift - 1) * 32 + (int)((us >> shift) - 32);
    return idx < NBUCKETS ? idx : NBUCKETS - 1;
}

/* ---- the server's resources, from /proc ---------------------------------- */

static double server_cpu_seconds(void) {
    if (!server_pid) return -1;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* After ")": state is field 3; utime and stime are fields 14 and 15. */
    unsigned long utime = 0, stime = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14) utime = strtoul(tok, NULL, 10);
        if (field == 15) { stime = strtoul(tok, NULL, 10); break; }
    }
    return (double)(utime + stime) / (double)clk_tck;
}

static long server_rss_kb(void) {
    if (!server_pid) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kb;
}

static double self_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds the whole machine spent busy (all CPUs, everything but idle and
 * iowait) and stolen by the hypervisor, from the "cpu" line of /proc/stat. What is
 * busy beyond the server's and the generator's own CPU time is other work, which
 * shows up as latency: benchmarks/stats.py flags such steps. */
static void machine_cpu_seconds(double *busy, double *steal) {
    *busy = *steal = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, st;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
               &iowait, &irq, &softirq, &st) == 8) {
        *busy = (double)(user + nice + sys + irq + softirq) / (double)clk_tck;
        *steal = (double)st / (double)clk_tck;
    }
    fclose(f);
}

static double load_average(void) {
    double one = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    if (fscanf(f, "%lf", &one) != 1) one = -1;
    fclose(f);
    return one;
}

/* ---- output ------------------------------------------------------------- */

static void mark_dirty(struct conn *c) {
    if (c->dirty) return;
    if (ndirty == dirty_cap) {
        dirty_cap = dirty_cap ? dirty_cap * 2 : 1024;
        dirty_list = realloc(dirty_list, sizeof *dirty_list * (size_t)dirty_cap);
        if (!dirty_list) die("out of memory");
    }
    c->dirty = 1;
    dirty_list[ndirty++] = c;
}

static int queue_out(struct conn *c, const char *data, size_t len) {
    if (c->state == S_CLOSED) return -1;
    if (c->outlen + len > c->outcap) {
        if (c->outlen + len > MAX_OUT) return -1;
        size_t cap = c->outcap ? c->outcap : 4096;
        while (cap < c->outlen + len) cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out) die("out of memory");
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    mark_dirty(c);
    return 0;
}

/* One client frame: FIN set, masked with ws_mask (RFC 6455 section 5.3). */
static int ws_queue_frame(struct conn *c, int opcode, const char *data, size_t len) {
    unsigned char frame[14 + WS_MAX_PAYLOAD];
    size_t h = 0;
    if (len > WS_MAX_PAYLOAD) die("a %zu-byte frame is longer than the generator sends", len);
    frame[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        frame[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        frame[h++] = 0x80 | 126;
        frame[h++] = (unsigned char)(len >> 8);
        frame[h++] = (unsigned char)(len & 0xff);
    } else {
        frame[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) frame[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(frame + h, ws_mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) frame[h + i] = (unsigned char)data[i] ^ ws_mask[i & 3];
    return queue_out(c, (const char *)frame, h + len);
}

/* Lines (each ending in a newline) to send: as they are, or one text frame each. */
static int send_lines(struct conn *c, const char *data, size_t len) {
    if (!websocket) return queue_out(c, data, len);
    const char *end = data + len;
    while (data < end) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        size_t n = nl ? (size_t)(nl - data) : (size_t)(end - data);
        if (ws_queue_frame(c, WS_TEXT, data, n) < 0) return -1;
        data += n + (nl != NULL);
    }
    return 0;
}

static void close_conn(struct conn *c);

static void watch(struct conn *c) {
    struct epoll_event ev = {0};
    ev.data.ptr = c;
    if (!c->stalled || c->state != S_READY) ev.events |= EPOLLIN;
    if (c->outlen || c->state == S_CONNECTING) ev.events |= EPOLLOUT;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_conn(struct conn *c) {
    c->dirty = 0;
    if (c->state == S_CLOSED || c->state == S_CONNECTING) return;
    size_t before = c->outlen;
    while (c->outlen) {
        ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            close_conn(c);
            return;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
    }
    /* Ask for EPOLLOUT only while something waits, and stop once it drained. */
    if ((before == 0) != (c->outlen == 0) || c->outlen) watch(c);
}

static void flush_dirty(void) {
    for (int i = 0; i < ndirty; i++) flush_conn(dirty_list[i]);
    ndirty = 0;
}

/* ---- connections ---------------------------------------------------------- */

static struct conn *open_conn(int churn) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->in = malloc(INBUF);
    if (!c->in) die("out of memory");
    c->churn = churn;
    c->room = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s (raise the open-files limit)", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    c->state = S_CONNECTING;
    in_flight++;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return c;
}

static void send_registration(struct conn *c) {
    char buf[256];
    int n;
    if (proto == P_IRC)
        n = snprintf(buf, sizeof buf, "NICK %s\r\nUSER %s 0 * :bench\r\n", c->nick, c->nick);
    else if (proto == P_JSON && !websocket)
        n = snprintf(buf, sizeof buf, "/format json\n%s\n", c->nick);
    else /* text, and WebSocket, which speaks JSON from the start */
        n = snprintf(buf, sizeof buf, "%s\n", c->nick);
    send_lines(c, buf, (size_t)n);
}

static void send_upgrade(struct conn *c) {
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "GET " WS_PATH " HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     host, port);
    queue_out(c, buf, (size_t)n);
}

static int setup_failures;
/* Nicknames differ from one generator run to the next: a server may still hold the
 * previous run's nicknames for a moment after their connections closed. */
static unsigned nick_prefix;

static void close_conn(struct conn *c) {
    if (c->state == S_CLOSED) return;
    if (c->state != S_READY) in_flight--;
    if (!c->churn && c->state != S_READY) setup_failures++; /* tried again by connect_all */
    else if (!c->churn) nclosed_main++;
    else if (c->state != S_READY) churn_failed++;
    c->state = S_CLOSED;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->outlen = 0;
}

static void free_conn(struct conn *c) {
    free(c->in);
    free(c->out);
    free(c);
}

static void became_ready(struct conn *c) {
    c->state = S_READY;
    in_flight--;
    if (c->churn) {
        churn_registered++;
        close_conn(c);
        return;
    }
    c->reg_order = nregistered;
    by_order[nregistered++] = c;
}

/* With --rooms, a tcpchat client joins its room once welcomed, and leaves the default
 * room; it is ready once its own part is announced (the server handles a
 * connection's commands in order, so it is in its room by then). */
static void join_room(struct conn *c) {
    char buf[96];
    c->room = rooms_dealt++ % nrooms;
    int n = snprintf(buf, sizeof buf, "/join #r%02d\n/part #lobby\n", c->room);
    send_lines(c, buf, (size_t)n);
    c->state = S_JOINING;
}

static void joining_line(struct conn *c, const char *line, size_t len) {
    char own_part[64];
    int n;
    if (proto == P_JSON) {
        if (memmem(line, len, "\"type\": \"error\"", 15))
            die("%s could not join #r%02d: %.*s", c->nick, c->room, (int)len, line);
        n = snprintf(own_part, sizeof own_part, "\"nick\": \"%s\"", c->nick);
        if (memmem(line, len, "\"type\": \"part\"", 14) && memmem(line, len, own_part, (size_t)n))
            became_ready(c);
    } else {
        if (memmem(line, len, "] !!! ", 6))
            die("%s could not join #r%02d: %.*s", c->nick, c->room, (int)len, line);
        n = snprintf(own_part, sizeof own_part, "*** %s left the room", c->nick);
        if (memmem(line, len, own_part, (size_t)n)) became_ready(c);
    }
}

/* Which line ends registration, by protocol. */
static void registration_line(struct conn *c, const char *line, size_t len) {
    if (proto != P_IRC && c->state == S_JOINING) {
        joining_line(c, line, len);
    } else if (proto == P_TEXT) {
        if (!memmem(line, len, "*** Welcome,", 12)) return;
        if (nrooms && !c->churn) join_room(c);
        else became_ready(c);
    } else if (proto == P_JSON) {
        if (!memmem(line, len, "\"type\": \"welcome\"", 17)) return;
        if (nrooms && !c->churn) join_room(c);
        else became_ready(c);
    } else if (c->state == S_REGISTERING && memmem(line, len, " 433 ", 5)) {
        /* Nickname in use: take another. */
        char buf[64];
        size_t n = strlen(c->nick);
        if (n + 1 < sizeof c->nick) { c->nick[n] = '_'; c->nick[n + 1] = 0; }
        int k = snprintf(buf, sizeof buf, "NICK %s\r\n", c->nick);
        queue_out(c, buf, (size_t)k);
    } else if (c->state == S_REGISTERING && memmem(line, len, " 001 ", 5)) {
        char buf[32];
        int n;
        if (nrooms) {
            c->room = rooms_dealt++ % nrooms;
            n = snprintf(buf, sizeof buf, "JOIN #r%02d\r\n", c->room);
        } else {
            n = snprintf(buf, sizeof buf, "JOIN #bench\r\n");
        }
        queue_out(c, buf, (size_t)n);
        c->state = S_JOINING;
    } else if (c->state == S_JOINING && memmem(line, len, " 366 ", 5)) {
        became_ready(c);
    } else if (c->state == S_JOINING && len > 5 && line[0] == ':') {
        /* ":server 4NN nick ...": an error numeric (too many channels, say). */
        const char *sp = memchr(line, ' ', len);
        if (sp && (size_t)(sp - line) + 4 < len && sp[1] == '4' && sp[4] == ' ')
            die("%s could not join: %.*s", c->nick, (int)len, line);
    }
}

/* One complete line (without its newline) from connection c, received at t. */
static void on_line(struct conn *c, const char *line, size_t len, uint64_t t) {
    if (proto == P_IRC && len >= 5 && memcmp(line, "PING ", 5) == 0) {
        char buf[600];
        int n = snprintf(buf, sizeof buf, "PONG %.*s\r\n", (int)(len - 5), line + 5);
        queue_out(c, buf, (size_t)n);
        return;
    }
    if (c->state != S_READY) {
        registration_line(c, line, len);
        return;
    }
    /* The marker sits near the end ("@@STEP:NS" then a few fields of JSON at most):
     * look there first, then anywhere. */
    const char *marker = NULL;
    size_t lo = len > 96 ? len - 96 : 0;
    for (size_t i = len >= 2 ? len - 2 : 0; i + 1 > lo && len >= 2; i--) {
        if (line[i] == '@' && line[i + 1] == '@') { marker = line + i; break; }
        if (i == 0) break;
    }
    if (!marker && lo) marker = memmem(line, len, "@@", 2);
    if (!marker) return;
    const char *p = marker + 2, *end = line + len;
    unsigned s = 0;
    while (p < end && *p >= '0' && *p <= '9') s = s * 10 + (unsigned)(*p++ - '0');
    if (s != step) {
        stale_lines++;
        return;
    }
    if (p < end && *p == '/') {
        int room = 0;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) room = room * 10 + (*p - '0');
        if (room != c->room) {
            foreign_lines++;
            return;
        }
    }
    c->received++;
    if (c->sample && p < end && *p == ':') {
        uint64_t sent = strtoull(p + 1, NULL, 10);
        uint64_t lat_us = t > sent ? (t - sent) / 1000 : 0;
        hist[bucket_of(lat_us)]++;
        samples_taken++;
    }
}

/* The answer to the upgrade, ending at "\r\n\r\n": a 101 with the right accept value. */
static void ws_upgraded(struct conn *c, const char *head, size_t len) {
    const char *eol = memmem(head, len, "\r\n", 2);
    int status_len = (int)(eol ? (size_t)(eol - head) : len);
    if (len < 13 || memcmp(head, "HTTP/1.1 101 ", 13) != 0)
        die("%s: the WebSocket upgrade was refused: %.*s", c->nick, status_len, head);
    if (!memmem(head, len, WS_ACCEPT, strlen(WS_ACCEPT)))
        die("%s: the 101 answer lacks Sec-WebSocket-Accept: " WS_ACCEPT, c->nick);
    c->ws_open = 1;
    send_registration(c);
}

/* Handles the complete frames at the start of c->in[0..inlen); returns the bytes used.
 * A text frame's payload is one JSON event, handed to on_line as a JSON line is. */
static size_t ws_frames(struct conn *c, uint64_t t) {
    size_t start = 0, end = c->inlen;
    while (start < end) {
        if (c->ws_skip) {
            size_t k = c->ws_skip < end - start ? (size_t)c->ws_skip : end - start;
            start += k;
            c->ws_skip -= k;
            continue;
        }
        const char *at = c->in + start;
        size_t avail = end - start;
        if (!c->ws_open) {
            const char *blank = memmem(at, avail, "\r\n\r\n", 4);
            if (!blank) {
                if (avail == INBUF) die("%s: the upgrade answer is too long", c->nick);
                break;
            }
            size_t head = (size_t)(blank - at) + 4;
            ws_upgraded(c, at, head);
            start += head;
            continue;
        }
        const unsigned char *h = (const unsigned char *)at;
        if (avail < 2) break;
        int opcode = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t hlen = 2;
        if (h[1] & 0x80) die("%s: the server sent a masked frame", c->nick);
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)h[2] << 8 | h[3];
            hlen = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 2; i < 10; i++) len = len << 8 | h[i];
            hlen = 10;
        }
        if (hlen + len > avail) {
            if (start > 0 || end < INBUF) break; /* the rest is on its way */
            /* A frame longer than the buffer (a welcome listing thousands of nicks):
             * its start is enough to recognise it; skip the rest. */
            if (opcode == WS_TEXT) on_line(c, at + hlen, avail - hlen, t);
            if (c->state == S_CLOSED) return end;
            c->ws_skip = hlen + len - avail;
            start = end;
            continue;
        }
        const char *payload = at + hlen;
        if (opcode == WS_TEXT) {
            on_line(c, payload, (size_t)len, t);
        } else if (opcode == WS_PING) {
            ws_queue_frame(c, WS_PONG, payload, (size_t)len);
        } else if (opcode == WS_CLOSE) {
            close_conn(c);
        } /* continuation (the server sends each event whole) and pong: nothing to do */
        if (c->state == S_CLOSED) return end;
        start += hlen + (size_t)len;
    }
    return start;
}

static void on_ws_readable(struct conn *c) {
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
        if (n == 0) { close_conn(c); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c);
            return;
        }
        uint64_t t = now_ns();
        last_data_ns = t;
        c->inlen += (size_t)n;
        size_t used = ws_frames(c, t);
        if (c->state == S_CLOSED) return;
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if ((size_t)n < INBUF / 2) return; /* most likely drained; epoll says if not */
    }
}

static void on_readable(struct conn *c) {
    if (websocket) { on_ws_readable(c); return; }
    for (;;) {
        if (c->inlen == INBUF) {
            /* A line longer than the buffer (a welcome listing thousands of nicks):
             * its start is enough to recognise it; skip the rest. */
            if (!c->skipping) on_line(c, c->in, c->inlen, now_ns());
            if (c->state == S_CLOSED) return;
            c->skipping = 1;
            c->inlen = 0;
        }
        ssize_t n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
        if (n == 0) { close_conn(c); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c);
            return;
        }
        uint64_t t = now_ns();
        last_data_ns = t;
        size_t end = c->inlen + (size_t)n, start = 0;
        char *nl;
        while ((nl = memchr(c->in + start, '\n', end - start)) != NULL) {
            size_t len = (size_t)(nl - (c->in + start));
            if (c->skipping) c->skipping = 0; /* the end of an overlong line */
            else on_line(c, c->in + start, len, t);
            if (c->state == S_CLOSED) return;
            start += len + 1;
        }
        memmove(c->in, c->in + start, end - start);
        c->inlen = end - start;
        if ((size_t)n < INBUF / 2) return; /* most likely drained; epoll says if not */
    }
}

static void on_event(struct epoll_event *ev) {
    struct conn *c = ev->data.ptr;
    if (c->state == S_CLOSED) return;
    if (c->state == S_CONNECTING && (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { close_conn(c); return; }
        c->state = S_REGISTERING;
        if (websocket) send_upgrade(c);
        else send_registration(c);
    }
    if (ev->events & EPOLLIN) on_readable(c);
    if (c->state == S_CLOSED) return;
    if (ev->events & (EPOLLERR | EPOLLHUP) && !(ev->events & EPOLLIN)) { close_conn(c); return; }
    if (ev->events & EPOLLOUT) mark_dirty(c);
}

/* Wait for events at most timeout_ns (epoll_pwait2: finer than a millisecond, so that
 * messages leave close to their intended times). */
static void poll_once(int64_t timeout_ns) {
    static struct epoll_event evs[MAX_EVENTS];
    flush_dirty();
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    int n = epoll_pwait2(ep, evs, MAX_EVENTS, &ts, NULL);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) on_event(&evs[i]);
    flush_dirty();
}

/* ---- phases --------------------------------------------------------------- */

static void wait_quiet(void) {
    last_data_ns = now_ns();
    while (now_ns() - last_data_ns < (uint64_t)QUIET_MS * 1000000ull) poll_once(20000000);
}

static void connect_all(void) {
    int opened = 0;
    uint64_t deadline = now_ns() + (uint64_t)(register_timeout_s * 1e9);
    while (nregistered + nclosed_main < nclients) {
        /* A connection refused or closed during set-up (a full accept queue) is
         * opened again, under a new nickname, up to SETUP_RETRIES times in all. */
        if (setup_failures > SETUP_RETRIES) die("%d connections failed during set-up", setup_failures);
        while (opened - setup_failures < nclients && in_flight < CONNECT_IN_FLIGHT) {
            struct conn *c = open_conn(0);
            snprintf(c->nick, sizeof c->nick, "u%x-%d", nick_prefix, opened++);
        }
        poll_once(10000000);
        if (now_ns() > deadline) die("registration timed out: %d of %d", nregistered, nclients);
    }
    if (nclosed_main) die("%d connections were closed after registering", nclosed_main);
    wait_quiet();
    /* Roles by fan-out (registration) order: the first ones are stalled readers,
     * senders follow, and samples are spread out and include the very last. */
    for (int i = 0; i < nstalled && i < nregistered; i++) {
        /* A small receive buffer, so that the stalled reader backs up soon. */
        int small = 4096;
        setsockopt(by_order[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        by_order[i]->stalled = 1;
        watch(by_order[i]);
    }
    int active = nregistered - nstalled;
    int want = nsenders < 0 ? active : nsenders;
    senders = calloc((size_t)(want > 0 ? want : 1), sizeof *senders);
    for (int i = nstalled; i < nregistered && sender_count < want; i++)
        senders[sender_count++] = by_order[i];
    int ns = nsamples < active ? nsamples : active;
    int tail = ns < 4 ? ns : 4;
    for (int i = 0; i < tail; i++) by_order[nregistered - 1 - i]->sample = 1;
    for (int i = 0; i < ns - tail; i++) {
        int idx = nstalled + (int)((long)i * (active - tail) / (ns - tail));
        by_order[idx]->sample = 1;
    }
}

static int active_receivers(void) {
    int n = 0;
    for (int i = 0; i < nregistered; i++)
        if (by_order[i]->state == S_READY && !by_order[i]->stalled) n++;
    return n;
}

static uint64_t total_received(void) {
    uint64_t sum = 0;
    for (int i = 0; i < nregistered; i++) sum += by_order[i]->received;
    return sum;
}

static void print_hist(const char *name, const uint64_t *buckets) {
    printf("\"%s\": [", name);
    int first = 1;
    for (int i = 0; i < NBUCKETS; i++) {
        if (!buckets[i]) continue;
        printf("%s[%d, %" PRIu64 "]", first ? "" : ", ", i, buckets[i]);
        first = 0;
    }
    printf("]");
}

static void run_step(double rate, double seconds, double drain, double grace) {
    step++;
    memset(hist, 0, sizeof hist);
    memset(lag_hist, 0, sizeof lag_hist);
    stale_lines = foreign_lines = samples_taken = 0;
    for (int i = 0; i < nregistered; i++) by_order[i]->received = 0;
    int fanout = active_receivers() - 1;
    /* With rooms, a message is owed to the other active members of its own room. */
    static int *room_active;
    if (nrooms) {
        if (!room_active) room_active = calloc((size_t)nrooms, sizeof *room_active);
        if (!room_active) die("out of memory");
        memset(room_active, 0, sizeof *room_active * (size_t)nrooms);
        for (int i = 0; i < nregistered; i++) {
            struct conn *c = by_order[i];
            if (c->state == S_READY && !c->stalled && c->room >= 0) room_active[c->room]++;
        }
    }
    uint64_t owed = 0;
    int closed_before = nclosed_main;
    double cpu0 = self_cpu_seconds(), scpu0 = server_cpu_seconds(), busy0, steal0;
    double load0 = load_average();
    machine_cpu_seconds(&busy0, &steal0);
    uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)(seconds * 1e9);
    uint64_t sent = 0, send_failures = 0, next_rss = t0;
    char line[4096 + 128];
    int pad = payload_bytes > 40 ? payload_bytes - 40 : 0;
    if (pad > 4096) pad = 4096;
    /* An IRC line is at most 512 bytes with its prefix, as relayed: keep well within. */
    if (proto == P_IRC && pad > 400) pad = 400;
    char padding[4097];
    memset(padding, 'x', (size_t)pad);
    padding[pad] = 0;

    printf("{\"event\": \"step\", \"step\": %u, \"rate\": %.1f, \"seconds\": %.3f, \"rss_series\": [",
           step, rate, seconds);
    int first_rss = 1;
    uint64_t t = t0;
    while (t < t_end) {
        if (t >= next_rss) {
            printf("%s[%.3f, %ld]", first_rss ? "" : ", ", (double)(t - t0) / 1e9, server_rss_kb());
            first_rss = 0;
            next_rss += 1000000000ull;
        }
        /* Message k is due at t0 + k/rate: the first at once, each on its own time
         * (not one interval late, which read as 1/rate of latency at low rates). */
        uint64_t due = (uint64_t)((double)(t - t0) * rate / 1e9) + 1;
        while (sent < due && sender_count) {
            struct conn *c = senders[sent % (uint64_t)sender_count];
            uint64_t intended = t0 + (uint64_t)((double)sent * 1e9 / rate);
            lag_hist[bucket_of((t - intended) / 1000)]++;
            int n;
            if (nrooms && proto == P_IRC)
                n = snprintf(line, sizeof line, "PRIVMSG #r%02d :%s@@%u/%d:%" PRIu64 "\r\n",
                             c->room, padding, step, c->room, intended);
            else if (nrooms)
                n = snprintf(line, sizeof line, "%s@@%u/%d:%" PRIu64 "\n", padding, step, c->room,
                             intended);
            else if (proto == P_IRC)
                n = snprintf(line, sizeof line, "PRIVMSG #bench :%s@@%u:%" PRIu64 "\r\n", padding,
                             step, intended);
            else
                n = snprintf(line, sizeof line, "%s@@%u:%" PRIu64 "\n", padding, step, intended);
            if (nrooms) owed += room_active[c->room] > 0 ? (uint64_t)(room_active[c->room] - 1) : 0;
            else owed += (uint64_t)(fanout > 0 ? fanout : 0);
            if (send_lines(c, line, (size_t)n) < 0) send_failures++;
            sent++;
        }
        /* Sleep until the next message is due, or 1 ms at most (for the RSS samples).
         * epoll_pwait2 sleeps to the microsecond (the timer slack is 1 ns, see main). */
        uint64_t next_due = t0 + (uint64_t)((double)sent * 1e9 / rate);
        int64_t wait_ns = next_due > t ? (int64_t)(next_due - t) : 0;
        poll_once(wait_ns > 1000000 ? 1000000 : wait_ns);
        t = now_ns();
    }
    uint64_t expected = owed;
    /* With rooms, the fan-out reported is the mean over the messages sent. */
    if (nrooms) fanout = sent ? (int)((owed + sent / 2) / sent) : nregistered / nrooms - 1;
    uint64_t on_time_at = t_end + (uint64_t)(drain * 1e9);
    uint64_t give_up = t_end + (uint64_t)(grace * 1e9);
    uint64_t on_time = 0;
    int noted = 0;
    for (;;) {
        t = now_ns();
        uint64_t got = total_received();
        if (!noted && (t >= on_time_at || got >= expected)) { on_time = got; noted = 1; }
        if (noted && (got >= expected || t >= give_up)) break;
        poll_once(5000000);
    }
    double wall = (double)(now_ns() - t0) / 1e9, busy1, steal1;
    machine_cpu_seconds(&busy1, &steal1);
    printf("], \"sent\": %" PRIu64 ", \"send_failures\": %" PRIu64 ", \"fanout\": %d, "
           "\"received\": %" PRIu64 ", \"received_on_time\": %" PRIu64 ", \"stale\": %" PRIu64
           ", \"samples\": %" PRIu64 ", \"closed\": %d, \"wall\": %.3f, \"generator_cpu\": %.3f, "
           "\"send_wall\": %.3f, \"server_cpu\": %.3f, \"server_rss_kb\": %ld, ",
           sent, send_failures, fanout, total_received(), on_time, stale_lines, samples_taken,
           nclosed_main - closed_before, wall, self_cpu_seconds() - cpu0,
           (double)(t_end - t0) / 1e9 + drain, server_cpu_seconds() - scpu0, server_rss_kb());
    printf("\"owed\": %" PRIu64 ", \"foreign\": %" PRIu64 ", ", owed, foreign_lines);
    printf("\"machine_cpu\": %.3f, \"steal\": %.3f, \"load_average\": %.2f, ",
           busy0 < 0 ? -1 : busy1 - busy0, steal0 < 0 ? -1 : steal1 - steal0, load0);
    print_hist("hist", hist);
    printf(", ");
    print_hist("lag_hist", lag_hist);
    printf("}\n");
    fflush(stdout);
}

static void run_churn(double seconds, int concurrency) {
    uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)(seconds * 1e9);
    double scpu0 = server_cpu_seconds();
    churn_started = churn_registered = churn_failed = 0;
    struct conn **live = calloc((size_t)concurrency, sizeof *live);
    while (now_ns() < t_end) {
        for (int i = 0; i < concurrency; i++) {
            if (live[i] && live[i]->state != S_CLOSED) continue;
            if (live[i]) free_conn(live[i]);
            live[i] = open_conn(1);
            snprintf(live[i]->nick, sizeof live[i]->nick, "c%" PRIu64, churn_counter++);
            churn_started++;
        }
        poll_once(1000000);
    }
    double wall = (double)(now_ns() - t0) / 1e9;
    for (int i = 0; i < concurrency; i++) {
        if (!live[i]) continue;
        if (live[i]->state != S_CLOSED) { close_conn(live[i]); churn_failed--; }
        free_conn(live[i]);
    }
    free(live);
    printf("{\"event\": \"churn\", \"seconds\": %.3f, \"started\": %" PRIu64
           ", \"registered\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"server_cpu\": %.3f}\n",
           wall, churn_started, churn_registered, churn_failed, server_cpu_seconds() - scpu0);
    fflush(stdout);
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port PORT [--host 127.0.0.1] [--proto text|json|irc|ws]\n"
            "               [--clients N] [--senders S|-1] [--samples K] [--stalled K]\n"
            "               [--bytes PAYLOAD] [--server-pid PID] [--register-timeout SECONDS]\n"
            "               [--rooms R]\n"
            "then commands on stdin: run RATE SECONDS DRAIN GRACE | stat | churn SECONDS CONC | quit\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--clients")) nclients = atoi(v);
        else if (!strcmp(a, "--senders")) nsenders = atoi(v);
        else if (!strcmp(a, "--samples")) nsamples = atoi(v);
        else if (!strcmp(a, "--stalled")) nstalled = atoi(v);
        else if (!strcmp(a, "--bytes")) payload_bytes = atoi(v);
        else if (!strcmp(a, "--server-pid")) server_pid = atoi(v);
        else if (!strcmp(a, "--register-timeout")) register_timeout_s = atof(v);
        else if (!strcmp(a, "--rooms")) nrooms = atoi(v);
        else if (!strcmp(a, "--proto")) {
            if (!strcmp(v, "text")) proto = P_TEXT;
            else if (!strcmp(v, "json")) proto = P_JSON;
            else if (!strcmp(v, "irc")) proto = P_IRC;
            else if (!strcmp(v, "ws")) { proto = P_JSON; websocket = 1; }
            else usage();
        } else usage();
    }
    if (!port || nclients < 0 || nrooms < 0 || nrooms > MAX_ROOMS) usage();
    signal(SIGPIPE, SIG_IGN);
    /* Sleep exactly as long as asked: the default 50 us of timer slack would make
     * every message leave late, and read as the server's latency. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    clk_tck = sysconf(_SC_CLK_TCK);
    nick_prefix = (unsigned)getpid() & 0xffff;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    by_order = calloc((size_t)nclients + 1, sizeof *by_order);
    connect_all();
    printf("{\"event\": \"ready\", \"clients\": %d, \"senders\": %d, \"server_rss_kb\": %ld, "
           "\"server_cpu\": %.3f}\n",
           nregistered, sender_count, server_rss_kb(), server_cpu_seconds());
    fflush(stdout);

    char cmd[256];
    while (fgets(cmd, sizeof cmd, stdin)) {
        double a = 0, b = 0, c = 0, d = 0;
        int k = 0;
        if (sscanf(cmd, "run %lf %lf %lf %lf", &a, &b, &c, &d) == 4 && a > 0) {
            run_step(a, b, c, d);
        } else if (sscanf(cmd, "churn %lf %d", &a, &k) == 2 && k > 0) {
            run_churn(a, k);
        } else if (!strncmp(cmd, "stat", 4)) {
            poll_once(0);
            printf("{\"event\": \"stat\", \"server_rss_kb\": %ld, \"server_cpu\": %.3f, "
                   "\"open\": %d}\n",
                   server_rss_kb(), server_cpu_seconds(), nregistered - nclosed_main);
            fflush(stdout);
        } else if (!strncmp(cmd, "quit", 4)) {
            break;
        } else {
            printf("{\"event\": \"error\", \"text\": \"unknown command\"}\n");
            fflush(stdout);
        }
    }
    return 0;
}
