/* RTP load generator for bench/rtp_capacity.py: one 20 ms PCMU packet per stream
 * every 20 ms, all streams of a tick sent with sendmmsg(2) in batches, paced on
 * absolute time. A Python sender needs most of a core for 100,000 packets/s; on
 * a 2-core machine that core is taken from the appliance being measured.
 *
 *   rtpblast TARGETS_FILE SECONDS START_AT_UNIX
 *
 * TARGETS_FILE holds one "port ssrc" pair per line (host 127.0.0.1).
 * Prints "sent N" on stdout at the end; exits 1 on a send error other than a
 * full buffer (retried).
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

#define PAYLOAD 160
#define PACKET (12 + PAYLOAD)
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

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TARGETS_FILE SECONDS START_AT_UNIX\n", argv[0]);
        return 2;
    }
    FILE *file = fopen(argv[1], "r");
    if (!file) {
        perror(argv[1]);
        return 2;
    }
    size_t count = 0, room = 1024;
    struct target *targets = malloc(room * sizeof *targets);
    unsigned port, ssrc;
    while (fscanf(file, "%u %u", &port, &ssrc) == 2) {
        if (count == room)
            targets = realloc(targets, (room *= 2) * sizeof *targets);
        memset(&targets[count].addr, 0, sizeof targets[count].addr);
        targets[count].addr.sin_family = AF_INET;
        targets[count].addr.sin_port = htons((uint16_t)port);
        targets[count].addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        targets[count].ssrc = ssrc;
        count++;
    }
    fclose(file);
    long packets = (long)(atof(argv[2]) / 0.02);
    double start = atof(argv[3]);
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    int sndbuf = 8 << 20;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

    unsigned char (*buffers)[PACKET] = calloc(BATCH, PACKET);
    struct mmsghdr *messages = calloc(BATCH, sizeof *messages);
    struct iovec *vectors = calloc(BATCH, sizeof *vectors);
    long sent = 0;
    for (long n = 0; n < packets; n++) {
        sleep_until(start + n * 0.02);
        for (size_t first = 0; first < count; first += BATCH) {
            size_t batch = count - first < BATCH ? count - first : BATCH;
            for (size_t k = 0; k < batch; k++) {
                struct target *t = &targets[first + k];
                unsigned char *p = buffers[k];
                p[0] = 0x80; /* RFC 3550 §5.1: V=2 */
                p[1] = 0;    /* PT 0 = PCMU */
                uint16_t seq = htons((uint16_t)n);
                uint32_t ts = htonl((uint32_t)(n * 160));
                uint32_t ss = htonl(t->ssrc);
                memcpy(p + 2, &seq, 2);
                memcpy(p + 4, &ts, 4);
                memcpy(p + 8, &ss, 4);
                memset(p + 12, 0xFF, PAYLOAD);
                vectors[k].iov_base = p;
                vectors[k].iov_len = PACKET;
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
    printf("sent %ld\n", sent);
    return 0;
}
