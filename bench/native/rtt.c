// rtt: round trips on a Unix stream socket, timed by a native client, so that the ratios in
// bench/ compare servers rather than clients (a JIT .NET client adds 15-20 us per round trip).
//
//   rtt floor N                         a forked echo peer: N round trips of a ping-sized request
//   rtt http SOCKET METHOD PATH N [C]   HTTP/1.1 keep-alive requests on C connections (default 1),
//                                       each connection on its own thread, N requests per connection
//
// Prints one line: "p50_us p99_us requests_per_second count". Exits 1 with a message on stderr if
// a request fails or an answer is not 2xx.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char ping_request[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n";

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) {
    fprintf(stderr, "rtt: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(double *samples, long n, double seconds) {
    qsort(samples, n, sizeof *samples, cmp_double);
    long p99 = (long)(0.99 * n);
    if (p99 >= n) p99 = n - 1;
    printf("%.2f %.2f %.0f %ld\n", samples[n / 2], samples[p99], n / seconds, n);
}

static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "rtt: socket path too long\n");
        exit(1);
    }
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die(path);
    return fd;
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static int floor_mode(long n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
    pid_t peer = fork();
    if (peer < 0) die("fork");
    if (peer == 0) {
        close(sv[0]);
        char buf[4096];
        for (;;) {
            ssize_t r = read(sv[1], buf, sizeof buf);
            if (r <= 0) _exit(0);
            write_all(sv[1], buf, (size_t)r);
        }
    }
    close(sv[1]);
    double *samples = malloc(sizeof(double) * n);
    char buf[4096];
    size_t len = sizeof ping_request - 1;
    double start = now_us();
    for (long i = 0; i < n; i++) {
        double t0 = now_us();
        write_all(sv[0], ping_request, len);
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(sv[0], buf + got, sizeof buf - got);
            if (r <= 0) die("read from the echo peer");
            got += (size_t)r;
        }
        samples[i] = now_us() - t0;
    }
    double seconds = (now_us() - start) / 1e6;
    close(sv[0]);
    waitpid(peer, NULL, 0);
    report(samples, n, seconds);
    return 0;
}

struct http_job {
    const char *socket, *request;
    long n;
    double *samples;
};

// Reads one response: the head up to CRLFCRLF, then Content-Length bytes (our server and
// upstream's always send Content-Length for these routes). Leftover bytes would be a protocol
// error for a sequential client, so they are treated as one.
static void read_response(int fd, char *buf, size_t cap) {
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r <= 0) die("read the response");
        got += (size_t)r;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && got >= cap - 1) {
            fprintf(stderr, "rtt: response head too large\n");
            exit(1);
        }
    }
    if (strncmp(buf, "HTTP/1.1 2", 10) != 0) {
        fprintf(stderr, "rtt: not a 2xx answer: %.40s\n", buf);
        exit(1);
    }
    long length = 0;
    char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl && cl < end) length = strtol(cl + 17, NULL, 10);
    size_t want = (size_t)(end + 4 - buf) + (size_t)length;
    if (want >= cap) {
        fprintf(stderr, "rtt: response too large\n");
        exit(1);
    }
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r <= 0) die("read the response body");
        got += (size_t)r;
    }
}

static void *http_worker(void *arg) {
    struct http_job *job = arg;
    int fd = connect_unix(job->socket);
    size_t len = strlen(job->request);
    static __thread char buf[1 << 20];
    for (long i = 0; i < job->n; i++) {
        double t0 = now_us();
        write_all(fd, job->request, len);
        read_response(fd, buf, sizeof buf);
        job->samples[i] = now_us() - t0;
    }
    close(fd);
    return NULL;
}

static int http_mode(const char *socket, const char *method, const char *path, long n, int connections) {
    char request[1024];
    snprintf(request, sizeof request, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n", method, path);
    double *samples = malloc(sizeof(double) * n * connections);
    struct http_job *jobs = calloc((size_t)connections, sizeof *jobs);
    pthread_t *threads = calloc((size_t)connections, sizeof *threads);
    double start = now_us();
    for (int c = 0; c < connections; c++) {
        jobs[c] = (struct http_job){socket, request, n, samples + c * n};
        if (pthread_create(&threads[c], NULL, http_worker, &jobs[c]) != 0) die("pthread_create");
    }
    for (int c = 0; c < connections; c++) pthread_join(threads[c], NULL);
    double seconds = (now_us() - start) / 1e6;
    report(samples, n * connections, seconds);
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "floor") == 0) return floor_mode(atol(argv[2]));
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "http") == 0)
        return http_mode(argv[2], argv[3], argv[4], atol(argv[5]), argc == 7 ? atoi(argv[6]) : 1);
    fprintf(stderr, "usage: rtt floor N | rtt http SOCKET METHOD PATH N [CONNECTIONS]\n");
    return 2;
}
