/* RTP load generator for the bench/ scripts: one 20 ms packet per stream per tick,
 * all streams of a tick sent with sendmmsg(2) in batches, paced on absolute time.
 * A Python sender needs most of a core for 100,000 packets/s; on a 2-core machine
 * that core is taken from the appliance being measured.
 *
 *   rtpblast [-i INTERVAL] [-t PT] [-p PAYLOAD_FILE] [-m MARKER_FILE:FIRST:COUNT:EVERY]
 *            [-r REPLAY_FILE:SIZE] [-s SEQ0:TS0] TARGETS_FILE SECONDS START_AT_UNIX
 *
 * TARGETS_FILE holds one "port ssrc" pair per line (host 127.0.0.1). SECONDS is the
 * audio per stream: SECONDS / 0.02 packets, RTP timestamps 160 apart (8000 Hz clock,
 * as PCMU and G.722 use), sequence numbers and timestamps from 0. Tick n is sent at
 * START_AT + n * INTERVAL (default 0.02: real time; 0.005 sends four times faster
 * than real time, the timestamps still 20 ms apart).
 *
 *   -t PT            RTP payload type (default 0, PCMU)
 *   -p PAYLOAD_FILE  the payload of every packet (default 160 bytes of 0xFF, PCMU
 *                    silence); at most 1400 bytes
 *   -m FILE:FIRST:COUNT:EVERY
 *                    packets n >= FIRST with (n - FIRST) % EVERY < COUNT carry the
 *                    payload of FILE instead (same length): a marker tone at the same
 *                    RTP time on every stream
 *   -s SEQ0:TS0      first sequence number and timestamp (RFC 3550 §5.1 wants them
 *                    random; values near 2^16 and 2^32 make both wrap early)
 *   -r REPLAY_FILE:SIZE
 *                    send prepared packets instead of building them: the file holds
 *                    SIZE-byte packets, tick-major (tick n, stream k at byte
 *                    (n * streams + k) * SIZE), e.g. SRTP protected in advance;
 *                    -t, -p, -m and -s are then ignored
 *
 * Prints "sent N late_max_ms L late_tick T" on stdout at the end (L: how far the
 * worst tick, number T, started behind its schedule); exits 1 on a send error other than a full buffer
 * (retried), 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEADER 12
#define MAX_PAYLOAD 1400
#define BATCH 1024

struct target {
    struct sockaddr_in addr;
    uint32_t ssrc;
};

static double now_unix(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double when) {
    double delay = when - now_unix();
    if (delay <= 0)
        return;
    struct timespec ts = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
    nanosleep(&ts, NULL);
}

/* The whole file in memory; its length in *size. NULL (and a message) on failure. */
static unsigned char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        return NULL;
    }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *data = malloc(length > 0 ? (size_t)length : 1);
    if (!data || fread(data, 1, (size_t)length, file) != (size_t)length) {
        perror(path);
        fclose(file);
        free(data);
        return NULL;
    }
    fclose(file);
    *size = (size_t)length;
    return data;
}

static struct target *read_targets(const char *path, size_t *count) {
    FILE *file = fopen(path, "r");
    if (!file) {
        perror(path);
        return NULL;
    }
    size_t room = 1024;
    struct target *targets = malloc(room * sizeof *targets);
    unsigned port, ssrc;
    *count = 0;
    while (fscanf(file, "%u %u", &port, &ssrc) == 2) {
        if (*count == room)
            targets = realloc(targets, (room *= 2) * sizeof *targets);
        struct target *t = &targets[*count];
        memset(&t->addr, 0, sizeof t->addr);
        t->addr.sin_family = AF_INET;
        t->addr.sin_port = htons((uint16_t)port);
        t->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        t->ssrc = ssrc;
        (*count)++;
    }
    fclose(file);
    return targets;
}

struct options {
    double interval;
    int payload_type;
    unsigned char payload[MAX_PAYLOAD];
    size_t payload_size;
    unsigned char marker[MAX_PAYLOAD];
    long marker_first, marker_count, marker_every; /* marker_count 0: no marker */
    unsigned long seq0, ts0;
    unsigned char *replay;
    size_t replay_size, record;
};

static int parse_options(int argc, char **argv, struct options *o) {
    int opt;
    char path[4096];
    size_t size;
    unsigned char *data;
    o->interval = 0.02;
    o->payload_type = 0;
    o->payload_size = 160;
    memset(o->payload, 0xFF, o->payload_size);
    while ((opt = getopt(argc, argv, "i:t:p:m:r:s:")) != -1) {
        switch (opt) {
        case 'i':
            o->interval = atof(optarg);
            break;
        case 't':
            o->payload_type = atoi(optarg) & 0x7F;
            break;
        case 'p':
            if (!(data = read_file(optarg, &size)) || size == 0 || size > MAX_PAYLOAD)
                return -1;
            memcpy(o->payload, data, size);
            o->payload_size = size;
            free(data);
            break;
        case 'm':
            if (sscanf(optarg, "%4095[^:]:%ld:%ld:%ld", path, &o->marker_first, &o->marker_count,
                       &o->marker_every) != 4 || o->marker_every <= 0)
                return -1;
            if (!(data = read_file(path, &size)) || size > MAX_PAYLOAD)
                return -1;
            memcpy(o->marker, data, size);
            free(data);
            break;
        case 's':
            if (sscanf(optarg, "%lu:%lu", &o->seq0, &o->ts0) != 2)
                return -1;
            break;
        case 'r':
            if (sscanf(optarg, "%4095[^:]:%zu", path, &o->record) != 2 || o->record == 0)
                return -1;
            if (!(o->replay = read_file(path, &o->replay_size)))
                return -1;
            break;
        default:
            return -1;
        }
    }
    return o->interval > 0 ? 0 : -1;
}

static int is_marker(const struct options *o, long n) {
    return o->marker_count > 0 && n >= o->marker_first &&
           (n - o->marker_first) % o->marker_every < o->marker_count;
}

int main(int argc, char **argv) {
    static struct options o;
    if (parse_options(argc, argv, &o) != 0 || argc - optind != 3) {
        fprintf(stderr,
                "usage: %s [-i INTERVAL] [-t PT] [-p PAYLOAD_FILE] [-m FILE:FIRST:COUNT:EVERY] "
                "[-r REPLAY_FILE:SIZE] [-s SEQ0:TS0] TARGETS_FILE SECONDS START_AT_UNIX\n",
                argv[0]);
        return 2;
    }
    size_t count;
    struct target *targets = read_targets(argv[optind], &count);
    if (!targets)
        return 2;
    long packets = (long)(atof(argv[optind + 1]) / 0.02 + 0.5);
    double start = atof(argv[optind + 2]);
    if (o.replay && o.replay_size < (size_t)packets * count * o.record) {
        fprintf(stderr, "replay file holds %zu bytes, %ld ticks of %zu streams need more\n",
                o.replay_size, packets, count);
        return 2;
    }
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 8 << 20;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

    size_t packet_size = HEADER + o.payload_size;
    unsigned char *buffers = calloc(BATCH, HEADER + MAX_PAYLOAD);
    struct mmsghdr *messages = calloc(BATCH, sizeof *messages);
    struct iovec *vectors = calloc(BATCH, sizeof *vectors);
    long sent = 0;
    double late_max = 0;
    long late_tick = 0;
    for (long n = 0; n < packets; n++) {
        double due = start + n * o.interval;
        sleep_until(due);
        double late = now_unix() - due;
        if (late > late_max) {
            late_max = late;
            late_tick = n;
        }
        const unsigned char *payload = is_marker(&o, n) ? o.marker : o.payload;
        for (size_t first = 0; first < count; first += BATCH) {
            size_t batch = count - first < BATCH ? count - first : BATCH;
            for (size_t k = 0; k < batch; k++) {
                struct target *t = &targets[first + k];
                if (o.replay) {
                    vectors[k].iov_base = o.replay + ((size_t)n * count + first + k) * o.record;
                    vectors[k].iov_len = o.record;
                } else {
                    unsigned char *p = buffers + k * (HEADER + MAX_PAYLOAD);
                    p[0] = 0x80;                         /* RFC 3550 §5.1: V=2 */
                    p[1] = (unsigned char)o.payload_type; /* M=0 */
                    uint16_t seq = htons((uint16_t)(o.seq0 + (unsigned long)n));
                    uint32_t ts = htonl((uint32_t)(o.ts0 + (unsigned long)n * 160));
                    uint32_t ss = htonl(t->ssrc);
                    memcpy(p + 2, &seq, 2);
                    memcpy(p + 4, &ts, 4);
                    memcpy(p + 8, &ss, 4);
                    memcpy(p + HEADER, payload, o.payload_size);
                    vectors[k].iov_base = p;
                    vectors[k].iov_len = packet_size;
                }
                memset(&messages[k], 0, sizeof messages[k]);
                messages[k].msg_hdr.msg_name = &t->addr;
                messages[k].msg_hdr.msg_namelen = sizeof t->addr;
                messages[k].msg_hdr.msg_iov = &vectors[k];
                messages[k].msg_hdr.msg_iovlen = 1;
            }
            size_t done = 0;
            while (done < batch) {
                int r = sendmmsg(sock, messages + done, (unsigned)(batch - done), 0);
                if (r < 0) {
                    if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
                        usleep(200);
                        continue;
                    }
                    perror("sendmmsg");
                    return 1;
                }
                done += (size_t)r;
            }
            sent += (long)batch;
        }
    }
    printf("sent %ld late_max_ms %.1f late_tick %ld\n", sent, late_max * 1000, late_tick);
    return 0;
}
