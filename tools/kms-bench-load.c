/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-bench load: kmsd under load, over real mutual TLS on loopback (wrk and h2load cannot
 * present client certificates; toolchain-notes.md).
 *
 *   kms-bench load --dir DIR [--seconds S] [--connections N]
 *
 * DIR is a development domain made by kms-devsetup (var/dev of deploy/quickstart). The bench
 * starts its own kmsd on it, on free loopback ports and without rate limits (its kmsd.conf with
 * listen, public_url, metrics_listen and rate_limit replaced), then runs, one after another:
 *   handshakes_per_s   new connections per second (full TLS handshake with a client
 *                      certificate, one init request each): the TLS reference
 *   init_per_s         init requests per second on kept-alive connections: the server's own
 *                      path (routing, XML, signature in the token, audit record) without issuing
 *   keyprov_per_s      keyprov requests per second on kept-alive connections: the whole path,
 *                      key set issued (online issuer), wrapped and signed in the token
 *   keyprov_vs_init    keyprov_per_s / init_per_s (issue 4's target: 0.7, pre-minted keys)
 *   keyprov_new_conn_per_s  keyprov requests per second, a new connection (full handshake)
 *                      for each: what a client that connects for each provisioning sees
 *   keyprov_new_conn_vs_handshakes  keyprov_new_conn_per_s / handshakes_per_s (target 0.7)
 *   issuer             kms-hsmd.conf's issuer of the domain (online or pre-minted)
 *   <phase>_cpu_ms_kmsd, <phase>_cpu_ms_hsmd, <phase>_cpu_ms_client
 *                      CPU time (user + system) per request of the phase (handshake, init,
 *                      keyprov, keyprov_new_conn) of kmsd, of its kms-hsmd processes together
 *                      and of the bench itself, which shares the cores
 *   keyprov_vs_init_cpu  the CPU of an init over that of a keyprov (all three processes): what
 *                      keyprov_vs_init would be if both phases kept every core busy
 *   errors             responses other than 200 (expected 0)
 * Connections (default 4) use the domain's clients in turn (alice, bob, mcptt-server).
 *
 *   kms-bench load --dir DIR --soak MINUTES [--connections N] [--rss-bound KB]
 *
 * The soak (kms_bench_soak) keeps the connections busy for MINUTES with a mix of good requests
 * and bad ones that must be refused with their status, prints the rate every 10 s, and compares
 * the RSS of kmsd and of its kms-hsmd children after a warm-up with their RSS at the end: a
 * leak shows as growth under a steady load. It fails on any error, any wrong refusal, or growth
 * beyond the bound (default 20 MiB per process kind).
 */
#define _GNU_SOURCE /* strcasestr */
#include "tools/kms-bench-load.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/banned.h"

extern char **environ;

#define ROOT      "/keymanagement/identity/v1"
#define MAX_CONNS 64
#define BUF_CAP   (128 * 1024)

static const char *const clients[] = {"alice", "bob", "mcptt-server"};

struct load {
	const char *dir;
	uint16_t port;
	double seconds;
	unsigned int conns;
	pid_t kmsd; /* for the CPU figures */
	atomic_ulong ok;
	atomic_ulong errors;
	volatile int stop;
};

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t p = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
		p = ntohs(a.sin_port);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	return p;
}

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		(void)close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		int one = 1;
		/* a request right after the handshake's last flight must not wait for an ACK */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static SSL_CTX *
client_ctx(const char *dir, const char *name)
{
	char ca[4200], cert[4200], key[4200];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/clients/%s/cert.pem", dir, name);
	snprintf(key, sizeof(key), "%s/clients/%s/key.pem", dir, name);
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static SSL *
tls_open(SSL_CTX *ctx, uint16_t port, int *fd)
{
	SSL *ssl;

	if ((*fd = tcp_connect(port)) < 0) {
		return NULL;
	}
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, *fd) != 1 || SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		(void)close(*fd);
		*fd = -1;
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

static void
tls_close(SSL *ssl, int fd)
{
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	ERR_clear_error();
}

/*
 * One POST of path with body (body_len bytes, may be 0) on ssl; the status, or -1. The response
 * is read by its Content-Length; *out_close is set when it says "Connection: close".
 */
static int
post_body(SSL *ssl, const char *path, const char *body, size_t body_len, char *buf, size_t cap,
	  int *out_close)
{
	char head[1024];
	size_t got = 0, hlen, clen;
	char *eoh, *cl;
	int n, status;

	*out_close = 0;
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     path, body_len);
	if (n < 0 || (size_t)n >= sizeof(head) || body_len > INT_MAX ||
	    SSL_write(ssl, head, n) != n ||
	    (body_len > 0 && SSL_write(ssl, body, (int)body_len) != (int)body_len)) {
		return -1;
	}
	for (;;) {
		if (got + 1 >= cap || (n = SSL_read(ssl, buf + got, (int)(cap - 1 - got))) <= 0) {
			return -1;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			break;
		}
	}
	hlen = (size_t)(eoh - buf) + 4;
	if ((cl = strcasestr(buf, "\r\ncontent-length:")) == NULL || cl > eoh) {
		return -1;
	}
	clen = strtoul(cl + 17, NULL, 10);
	if (clen >= cap - hlen) {
		return -1;
	}
	while (got < hlen + clen) {
		if ((n = SSL_read(ssl, buf + got, (int)(hlen + clen - got))) <= 0) {
			return -1;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	if ((cl = strcasestr(buf, "\r\nconnection:")) != NULL && cl < eoh &&
	    strncasecmp(cl + 14, " close", 6) == 0) {
		*out_close = 1;
	}
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
		return -1;
	}
	return status;
}

/* One POST without a body on ssl; the status, or -1. */
static int
post(SSL *ssl, const char *path, char *buf, size_t cap)
{
	int close_it;

	return post_body(ssl, path, NULL, 0, buf, cap, &close_it);
}

struct worker {
	struct load *l;
	const char *name;
	const char *path;
	int handshake_each; /* a new connection for every request */
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct load *l = w->l;
	SSL_CTX *ctx = client_ctx(l->dir, w->name);
	char *buf = malloc(BUF_CAP);
	SSL *ssl = NULL;
	int fd = -1;

	while (ctx != NULL && buf != NULL && !l->stop) {
		int s;

		if (ssl == NULL && (ssl = tls_open(ctx, l->port, &fd)) == NULL) {
			atomic_fetch_add(&l->errors, 1);
			usleep(10000);
			continue;
		}
		s = post(ssl, w->path, buf, BUF_CAP);
		if (l->stop) {
			break; /* the end of the run: this one is not counted */
		}
		atomic_fetch_add(s == 200 ? &l->ok : &l->errors, 1);
		if (s < 0 || w->handshake_each) {
			tls_close(ssl, fd);
			ssl = NULL;
			fd = -1;
		}
	}
	tls_close(ssl, fd);
	SSL_CTX_free(ctx);
	free(buf);
	return NULL;
}

/* VmRSS of pid in KiB, or -1. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			char *end = NULL;
			errno = 0;
			v = strtol(line + 6, &end, 10);
			if (errno != 0 || end == line + 6 || v < 0) {
				v = -1;
			}
			break;
		}
	}
	(void)fclose(f);
	return v;
}

/*
 * The CPU time (user + system, all threads, in clock ticks) of pid, from /proc/<pid>/stat, or
 * -1. The command name in parentheses may hold anything: the fields are counted after its last
 * ')'; utime and stime are the 12th and 13th of them (proc(5)).
 */
static long
cpu_ticks(pid_t pid)
{
	char path[64], line[1024];
	unsigned long v[13];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	p = fgets(line, sizeof(line), f);
	(void)fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL || p[1] != ' ' || p[2] == ' ') {
		return -1;
	}
	p += 2;
	/* the state, a letter, then numbers */
	if (p[0] == '\0' || p[1] != ' ') {
		return -1;
	}
	p += 2;
	for (n = 1; n < 13; n++) {
		char *end = NULL;

		errno = 0;
		v[n] = strtoul(p, &end, 10);
		if (errno != 0 || end == p || (*end != ' ' && *end != '\n')) {
			return -1;
		}
		p = end + (*end == ' ' ? 1 : 0);
	}
	if (v[11] > (unsigned long)LONG_MAX / 2 || v[12] > (unsigned long)LONG_MAX / 2) {
		return -1;
	}
	return (long)(v[11] + v[12]);
}

/*
 * The sum of fn over pid's children (kmsd's kms-hsmd processes), found in
 * /proc/<pid>/task/<tid>/children of every thread; *out_num how many. -1 if fn fails for one.
 */
static long
children_sum(pid_t pid, long (*fn)(pid_t), unsigned int *out_num)
{
	char path[128];
	struct dirent *de;
	long sum = 0;
	DIR *d;

	*out_num = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		long c;

		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/children", (int)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue; /* the thread ended */
		}
		while (fscanf(f, "%ld", &c) == 1) {
			long r = c > 0 && c <= INT_MAX ? fn((pid_t)c) : -1;
			if (r < 0) {
				sum = -1;
				break;
			}
			sum += r;
			(*out_num)++;
		}
		(void)fclose(f);
		if (sum < 0) {
			break;
		}
	}
	(void)closedir(d);
	return sum;
}

/* CPU used (ms, user + system) during one phase, by kmsd, its kms-hsmd processes and the
 * bench itself (the load generator, on the same cores); negative when unreadable. */
struct cpu_use {
	double kmsd, hsmd, client;
};

struct cpu_mark {
	long kmsd, hsmd;
	double client;
};

static double
self_cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0) {
		return -1;
	}
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void
cpu_mark(struct cpu_mark *m, pid_t kmsd)
{
	unsigned int n;

	m->kmsd = kmsd > 0 ? cpu_ticks(kmsd) : -1;
	m->hsmd = kmsd > 0 ? children_sum(kmsd, cpu_ticks, &n) : -1;
	m->client = self_cpu_ms();
}

/* Requests per second of one phase; *cpu the CPU it took per request (ms). */
static double
phase(struct load *l, const char *path, int handshake_each, unsigned long *errors,
      struct cpu_use *cpu)
{
	pthread_t tids[MAX_CONNS];
	struct worker ws[MAX_CONNS];
	struct cpu_mark m0, m1;
	unsigned int i, started = 0;
	unsigned long ok;
	double t0, t1, tick_ms;

	atomic_store(&l->ok, 0);
	atomic_store(&l->errors, 0);
	l->stop = 0;
	cpu_mark(&m0, l->kmsd);
	t0 = now_s();
	for (i = 0; i < l->conns; i++) {
		ws[i] = (struct worker){l, clients[i % 3], path, handshake_each};
		if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) == 0) {
			started++;
		}
	}
	while (now_s() - t0 < l->seconds) {
		usleep(20000);
	}
	l->stop = 1;
	t1 = now_s();
	for (i = 0; i < started; i++) {
		(void)pthread_join(tids[i], NULL);
	}
	cpu_mark(&m1, l->kmsd);
	*errors += atomic_load(&l->errors);
	ok = atomic_load(&l->ok);
	tick_ms = 1e3 / (double)sysconf(_SC_CLK_TCK);
	cpu->kmsd = m0.kmsd >= 0 && m1.kmsd >= m0.kmsd && ok > 0
			    ? (double)(m1.kmsd - m0.kmsd) * tick_ms / (double)ok
			    : -1;
	/* a kms-hsmd restarted during the phase shows as a decrease: unreadable */
	cpu->hsmd = m0.hsmd >= 0 && m1.hsmd >= m0.hsmd && ok > 0
			    ? (double)(m1.hsmd - m0.hsmd) * tick_ms / (double)ok
			    : -1;
	cpu->client = m0.client >= 0 && m1.client >= m0.client && ok > 0
			      ? (m1.client - m0.client) / (double)ok
			      : -1;
	return (double)ok / (t1 - t0);
}

/*
 * Copy in_path to out_path without the lines setting a key of skip (NULL-terminated), then
 * append extra. The value of a line setting want_key (trimmed) into want (want_cap bytes; ""
 * when none), whether or not the line is skipped. 0, or -1 (a message on stderr when in_path
 * cannot be read).
 */
static int
copy_conf(const char *in_path, const char *out_path, const char *const *skip, const char *extra,
	  const char *want_key, char *want, size_t want_cap)
{
	char line[8192];
	FILE *in, *out;
	int ok = 1;

	want[0] = '\0';
	if ((in = fopen(in_path, "r")) == NULL) {
		fprintf(stderr, "kms-bench: %s: %s (make it with kms-devsetup)\n", in_path,
			strerror(errno));
		return -1;
	}
	if ((out = fopen(out_path, "w")) == NULL) {
		(void)fclose(in);
		return -1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		const char *p = line;
		size_t i, n;
		int drop = 0;

		while (*p == ' ' || *p == '\t') {
			p++;
		}
		for (i = 0; skip[i] != NULL && !drop; i++) {
			n = strlen(skip[i]);
			drop = strncmp(p, skip[i], n) == 0 && strchr(" \t=", p[n]) != NULL;
		}
		n = strlen(want_key);
		if (strncmp(p, want_key, n) == 0 && strchr(" \t=", p[n]) != NULL &&
		    (p = strchr(p, '=')) != NULL) {
			p++;
			while (*p == ' ' || *p == '\t') {
				p++;
			}
			snprintf(want, want_cap, "%.*s", (int)strcspn(p, " \t\r\n"), p);
		}
		if (!drop) {
			fputs(line, out);
		}
	}
	fputs(extra, out);
	ok = ferror(in) == 0;
	(void)fclose(in);
	return fclose(out) == 0 && ok ? 0 : -1;
}

/*
 * The domain's kmsd.conf into out_path with listen, public_url, metrics_listen, rate_limit and
 * log_level replaced, and its kms-hsmd.conf into hsmd_out with log_level warn (kms-hsmd logs
 * each refused provision at info, thousands of lines in a soak). 0, or -1.
 */
static int
write_conf(const char *dir, const char *out_path, const char *hsmd_out, uint16_t port, char *issuer,
	   size_t issuer_cap)
{
	static const char *const kmsd_skip[] = {"listen",     "public_url", "metrics_listen",
						"rate_limit", "log_level",  "hsmd_conf",
						NULL};
	static const char *const hsmd_skip[] = {"log_level", NULL};
	char in_path[4200], extra[4400], hsmd_in[4200];

	snprintf(in_path, sizeof(in_path), "%s/kmsd.conf", dir);
	snprintf(extra, sizeof(extra),
		 "listen = 127.0.0.1:%u\npublic_url = https://127.0.0.1:%u\nrate_limit = 0\n"
		 "log_level = warn\nhsmd_conf = %s\n",
		 port, port, hsmd_out);
	if (copy_conf(in_path, out_path, kmsd_skip, extra, "hsmd_conf", hsmd_in, sizeof(hsmd_in)) !=
	    0) {
		return -1;
	}
	if (hsmd_in[0] == '\0') {
		snprintf(hsmd_in, sizeof(hsmd_in), "%s/kms-hsmd.conf", dir);
	}
	if (copy_conf(hsmd_in, hsmd_out, hsmd_skip, "log_level = warn\n", "issuer", issuer,
		      issuer_cap) != 0) {
		return -1;
	}
	if (issuer[0] == '\0') {
		snprintf(issuer, issuer_cap, "online"); /* kms-hsmd's default */
	}
	return 0;
}

/* A kmsd the bench started: its temporary kmsd.conf and kms-hsmd.conf, its process and port,
 * and the domain's issuer. */
struct bench_kmsd {
	char conf[64];
	char hconf[64];
	pid_t pid;
	uint16_t port;
	char issuer[32];
};

/*
 * Start kmsd_path on the domain dir with temporary copies of its configuration (write_conf:
 * a free port, no rate limit); 0 once it accepts connections. stop_kmsd() undoes everything,
 * after a failure too.
 */
static int
start_kmsd(struct bench_kmsd *b, const char *dir, const char *kmsd_path)
{
	char prog[4096], dash_c[] = "-c";
	char *argv[4];
	pid_t pid;
	int i, fd;

	memset(b, 0, sizeof(*b));
	b->pid = -1;
	snprintf(b->conf, sizeof(b->conf), "/tmp/kms-bench-kmsd-XXXXXX");
	snprintf(b->hconf, sizeof(b->hconf), "/tmp/kms-bench-hsmd-XXXXXX");
	if ((fd = mkstemp(b->conf)) < 0) {
		b->conf[0] = '\0';
		return -1;
	}
	(void)close(fd);
	if ((fd = mkstemp(b->hconf)) < 0) {
		b->hconf[0] = '\0';
		return -1;
	}
	(void)close(fd);
	if ((b->port = free_port()) == 0 ||
	    write_conf(dir, b->conf, b->hconf, b->port, b->issuer, sizeof(b->issuer)) != 0) {
		return -1;
	}
	snprintf(prog, sizeof(prog), "%s", kmsd_path);
	argv[0] = prog;
	argv[1] = dash_c;
	argv[2] = b->conf;
	argv[3] = NULL;
	if (posix_spawn(&pid, kmsd_path, NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, "kms-bench: cannot start %s\n", kmsd_path);
		return -1;
	}
	b->pid = pid;
	for (i = 0; i < 600; i++) {
		int c = tcp_connect(b->port);
		if (c >= 0) {
			(void)close(c);
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "kms-bench: kmsd exited at start (messages above)\n");
			b->pid = -1;
			return -1;
		}
		usleep(100000);
	}
	fprintf(stderr, "kms-bench: kmsd does not accept on port %u\n", b->port);
	return -1;
}

static void
stop_kmsd(struct bench_kmsd *b)
{
	if (b->pid > 0) {
		(void)kill(b->pid, SIGTERM);
		(void)waitpid(b->pid, NULL, 0);
		b->pid = -1;
	}
	if (b->conf[0] != '\0') {
		(void)unlink(b->conf);
	}
	if (b->hconf[0] != '\0') {
		(void)unlink(b->hconf);
	}
}

/* The CPU figures of one phase: '<name>_cpu_ms_<process> <ms per request>', if readable. */
static void
print_cpu(const char *name, const struct cpu_use *c)
{
	if (c->kmsd >= 0) {
		printf("%s_cpu_ms_kmsd %.3f\n", name, c->kmsd);
	}
	if (c->hsmd >= 0) {
		printf("%s_cpu_ms_hsmd %.3f\n", name, c->hsmd);
	}
	if (c->client >= 0) {
		printf("%s_cpu_ms_client %.3f\n", name, c->client);
	}
}

int
kms_bench_load(const char *dir, const char *kmsd_path, double seconds, unsigned int conns)
{
	struct load l;
	struct bench_kmsd b;
	unsigned long errors = 0;
	struct cpu_use cpu_hs, cpu_init, cpu_kp, cpu_kp_new;
	double hs, init, keyprov, keyprov_new;
	int rc = 1;

	(void)signal(SIGPIPE, SIG_IGN); /* a closed connection is counted, not fatal */
	memset(&l, 0, sizeof(l));
	l.dir = dir;
	l.seconds = seconds;
	l.conns = conns == 0 ? 4 : conns > MAX_CONNS ? MAX_CONNS : conns;
	if (start_kmsd(&b, dir, kmsd_path) != 0) {
		goto out;
	}
	l.port = b.port;
	l.kmsd = b.pid;
	hs = phase(&l, ROOT "/init", 1, &errors, &cpu_hs);
	init = phase(&l, ROOT "/init", 0, &errors, &cpu_init);
	keyprov = phase(&l, ROOT "/keyprov", 0, &errors, &cpu_kp);
	keyprov_new = phase(&l, ROOT "/keyprov", 1, &errors, &cpu_kp_new);
	printf("connections %u\n", l.conns);
	printf("issuer %s\n", b.issuer);
	printf("handshakes_per_s %.0f\n", hs);
	printf("init_per_s %.0f\n", init);
	printf("keyprov_per_s %.0f\n", keyprov);
	printf("keyprov_vs_init %.2f\n", init > 0 ? keyprov / init : 0.0);
	printf("keyprov_new_conn_per_s %.0f\n", keyprov_new);
	printf("keyprov_new_conn_vs_handshakes %.2f\n", hs > 0 ? keyprov_new / hs : 0.0);
	print_cpu("handshake", &cpu_hs);
	print_cpu("init", &cpu_init);
	print_cpu("keyprov", &cpu_kp);
	print_cpu("keyprov_new_conn", &cpu_kp_new);
	/* what the ratio would be if both phases kept every core busy: the work ratio */
	if (cpu_init.kmsd >= 0 && cpu_init.hsmd >= 0 && cpu_kp.kmsd >= 0 && cpu_kp.hsmd >= 0 &&
	    cpu_init.client >= 0 && cpu_kp.client >= 0) {
		double a = cpu_init.kmsd + cpu_init.hsmd + cpu_init.client;
		double c = cpu_kp.kmsd + cpu_kp.hsmd + cpu_kp.client;

		printf("keyprov_vs_init_cpu %.2f\n", c > 0 ? a / c : 0.0);
	}
	printf("errors %lu\n", errors);
	rc = errors == 0 ? 0 : 1;
out:
	stop_kmsd(&b);
	return rc;
}

/*
 * The soak: every connection loops over SOAK_MIX, good requests (200 expected) and bad ones that
 * must be refused with their status, for the whole run; RSS of kmsd and its kms-hsmd children
 * after the warm-up and at the end.
 */
enum soak_kind {
	SOAK_KEYPROV,     /* keyprov: own identity */
	SOAK_KEYPROV_NTP, /* keyprov/<own uri>/<ntp now> */
	SOAK_INIT,        /* init */
	SOAK_CERTCACHE,   /* certcache */
	SOAK_FOREIGN,     /* keyprov/<another client's uri>: 403 */
	SOAK_BAD_PATH,    /* keyprov/<own uri>/<8 hex digits>: a malformed NTP time, 400 */
	SOAK_UNKNOWN,     /* an unknown resource: 404 */
	SOAK_BAD_BODY,    /* init with a truncated KmsRequest: 400 */
	SOAK_NUM
};

static const int soak_expect[SOAK_NUM] = {200, 200, 200, 200, 403, 400, 404, 400};
static const char soak_bad_body[] = "<KmsRequest";
#define SOAK_MAX_SAID 5 /* mismatches described on stderr, at most */
#define NTP_UNIX_DIFF 2208988800ull

struct soak {
	const char *dir;
	uint16_t port;
	atomic_ulong requests;
	atomic_ulong good_errors;
	atomic_ulong mismatches;
	atomic_uint said;
	atomic_int stop;
};

struct soak_worker {
	struct soak *s;
	unsigned int idx; /* the client: clients[idx] */
};

/* The path of request kind k for client idx into out. */
static void
soak_path(char *out, size_t cap, enum soak_kind k, unsigned int idx)
{
	const char *own = clients[idx];
	const char *other = clients[idx == 0 ? 1 : 0]; /* alice's is bob, the others' alice */
	unsigned long long ntp = ((unsigned long long)time(NULL) + NTP_UNIX_DIFF) << 32;

	switch (k) {
	case SOAK_KEYPROV:
		snprintf(out, cap, ROOT "/keyprov");
		break;
	case SOAK_KEYPROV_NTP:
		snprintf(out, cap, ROOT "/keyprov/sip:%s@example.org/%016llX", own, ntp);
		break;
	case SOAK_INIT:
	case SOAK_BAD_BODY:
		snprintf(out, cap, ROOT "/init");
		break;
	case SOAK_CERTCACHE:
		snprintf(out, cap, ROOT "/certcache");
		break;
	case SOAK_FOREIGN:
		snprintf(out, cap, ROOT "/keyprov/sip:%s@example.org", other);
		break;
	case SOAK_BAD_PATH:
		snprintf(out, cap, ROOT "/keyprov/sip:%s@example.org/D6B43232", own);
		break;
	case SOAK_UNKNOWN:
	case SOAK_NUM:
	default:
		snprintf(out, cap, ROOT "/nothing");
		break;
	}
}

static void
soak_count(struct soak *s, enum soak_kind k, const char *path, int status)
{
	int good = soak_expect[k] == 200;

	atomic_fetch_add(&s->requests, 1);
	if (status == soak_expect[k]) {
		return;
	}
	atomic_fetch_add(good ? &s->good_errors : &s->mismatches, 1);
	if (atomic_fetch_add(&s->said, 1) < SOAK_MAX_SAID) {
		fprintf(stderr, "kms-bench: %s%s: status %d, expected %d\n", path,
			k == SOAK_BAD_BODY ? " (malformed body)" : "", status, soak_expect[k]);
	}
}

static void *
soak_main(void *arg)
{
	struct soak_worker *w = arg;
	struct soak *s = w->s;
	SSL_CTX *ctx = client_ctx(s->dir, clients[w->idx]);
	char *buf = malloc(BUF_CAP);
	char path[256];
	SSL *ssl = NULL;
	int fd = -1;
	unsigned int k = w->idx % SOAK_NUM; /* the connections start at different points */

	if (ctx == NULL || buf == NULL) {
		fprintf(stderr, "kms-bench: client %s: no TLS context\n", clients[w->idx]);
		atomic_fetch_add(&s->good_errors, 1);
	}
	while (ctx != NULL && buf != NULL && !atomic_load(&s->stop)) {
		int st, close_it = 0;

		if (ssl == NULL && (ssl = tls_open(ctx, s->port, &fd)) == NULL) {
			atomic_fetch_add(&s->good_errors, 1);
			usleep(10000);
			continue;
		}
		soak_path(path, sizeof(path), (enum soak_kind)k, w->idx);
		if (k == SOAK_BAD_BODY) {
			st = post_body(ssl, path, soak_bad_body, sizeof(soak_bad_body) - 1, buf,
				       BUF_CAP, &close_it);
		} else {
			st = post_body(ssl, path, NULL, 0, buf, BUF_CAP, &close_it);
		}
		if (atomic_load(&s->stop)) {
			break; /* the end of the run: this one is not counted */
		}
		soak_count(s, (enum soak_kind)k, path, st);
		if (st < 0 || close_it) {
			tls_close(ssl, fd);
			ssl = NULL;
			fd = -1;
		}
		k = (k + 1) % SOAK_NUM;
	}
	tls_close(ssl, fd);
	SSL_CTX_free(ctx);
	free(buf);
	return NULL;
}

int
kms_bench_soak(const char *dir, const char *kmsd_path, double minutes, unsigned int conns,
	       unsigned long rss_bound_kb)
{
	static struct soak s; /* the workers' counters, not on the stack of a short call */
	pthread_t tids[MAX_CONNS];
	struct soak_worker ws[MAX_CONNS];
	struct bench_kmsd b;
	unsigned int i, started = 0, n_hsmd_start = 0, n_hsmd_end = 0;
	double t0, now, duration = minutes * 60.0, warmup, step, next, last_t;
	unsigned long last_req = 0, req, good, bad;
	long kmsd_start = -1, kmsd_end = -1, hsmd_start = -1, hsmd_end = -1;
	long kmsd_growth, hsmd_growth, bound;
	int rc = 1, died = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&s, 0, sizeof(s));
	s.dir = dir;
	conns = conns == 0 ? 4 : conns > MAX_CONNS ? MAX_CONNS : conns;
	bound = rss_bound_kb > (unsigned long)LONG_MAX ? LONG_MAX : (long)rss_bound_kb;
	/* a few seconds of warm-up (caches, pools, sessions, the first key period) before the
	 * first RSS; a report every 10 s, or every tenth of a shorter run */
	warmup = duration / 10.0 < 5.0 ? duration / 10.0 : 5.0;
	step = duration / 10.0 < 10.0 ? duration / 10.0 : 10.0;
	if (start_kmsd(&b, dir, kmsd_path) != 0) {
		goto out;
	}
	s.port = b.port;
	printf("soak_seconds %.0f\nconnections %u\n", duration, conns);
	(void)fflush(stdout);
	t0 = now_s();
	for (i = 0; i < conns; i++) {
		ws[i] = (struct soak_worker){&s, i % 3};
		if (pthread_create(&tids[i], NULL, soak_main, &ws[i]) == 0) {
			started++;
		}
	}
	if (started != conns) {
		fprintf(stderr, "kms-bench: %u of %u connection threads started\n", started, conns);
		atomic_fetch_add(&s.good_errors, 1);
	}
	last_t = t0;
	next = t0 + step;
	for (;;) {
		int wst = 0;

		usleep(20000);
		now = now_s();
		if (waitpid(b.pid, &wst, WNOHANG) == b.pid) {
			/* a sanitizer's exit code, or a signal (SIGSYS: the sandbox) */
			if (WIFSIGNALED(wst)) {
				fprintf(stderr,
					"kms-bench: kmsd killed by signal %d during the soak\n",
					WTERMSIG(wst));
			} else {
				fprintf(stderr,
					"kms-bench: kmsd exited during the soak (status %d)\n",
					WEXITSTATUS(wst));
			}
			b.pid = -1;
			died = 1;
			break;
		}
		if (kmsd_start < 0 && now - t0 >= warmup) {
			kmsd_start = rss_kb(b.pid);
			hsmd_start = children_sum(b.pid, rss_kb, &n_hsmd_start);
		}
		if (now >= next || now - t0 >= duration) {
			req = atomic_load(&s.requests);
			printf("t_s %.1f req_per_s %.0f good_errors %lu bad_mismatches %lu\n",
			       now - t0, (double)(req - last_req) / (now - last_t),
			       atomic_load(&s.good_errors), atomic_load(&s.mismatches));
			(void)fflush(stdout);
			last_req = req;
			last_t = now;
			next += step;
		}
		if (now - t0 >= duration) {
			break;
		}
	}
	if (!died) {
		/* measured under load, as the first one was */
		kmsd_end = rss_kb(b.pid);
		hsmd_end = children_sum(b.pid, rss_kb, &n_hsmd_end);
	}
	atomic_store(&s.stop, 1);
	for (i = 0; i < started; i++) {
		(void)pthread_join(tids[i], NULL);
	}
	req = atomic_load(&s.requests);
	good = atomic_load(&s.good_errors);
	bad = atomic_load(&s.mismatches);
	kmsd_growth = kmsd_end - kmsd_start;
	hsmd_growth = hsmd_end - hsmd_start;
	printf("requests %lu\n", req);
	printf("req_per_s %.0f\n", (double)req / duration);
	printf("good_errors %lu\n", good);
	printf("bad_mismatches %lu\n", bad);
	printf("hsmd_processes %u %u\n", n_hsmd_start, n_hsmd_end);
	printf("rss_kmsd_start_kb %ld\nrss_kmsd_end_kb %ld\n", kmsd_start, kmsd_end);
	printf("rss_hsmd_start_kb %ld\nrss_hsmd_end_kb %ld\n", hsmd_start, hsmd_end);
	printf("rss_growth_kb %ld\n", kmsd_growth + hsmd_growth);
	printf("rss_bound_kb %ld\n", bound);
	rc = 0;
	if (died) {
		rc = 1;
	}
	if (good != 0) {
		fprintf(stderr, "kms-bench: soak failed: %lu good requests not answered 200\n",
			good);
		rc = 1;
	}
	if (bad != 0) {
		fprintf(stderr,
			"kms-bench: soak failed: %lu bad requests answered with the wrong status\n",
			bad);
		rc = 1;
	}
	if (!died && (kmsd_start < 0 || kmsd_end < 0 || hsmd_start < 0 || hsmd_end < 0 ||
		      n_hsmd_start == 0 || n_hsmd_start != n_hsmd_end)) {
		fprintf(stderr,
			"kms-bench: soak failed: cannot read the RSS of kmsd (%d) or of its "
			"kms-hsmd (%u at the start, %u at the end)\n",
			(int)b.pid, n_hsmd_start, n_hsmd_end);
		rc = 1;
	} else if (!died) {
		if (kmsd_growth > bound) {
			fprintf(stderr,
				"kms-bench: soak failed: kmsd RSS grew by %ld KiB (bound %ld)\n",
				kmsd_growth, bound);
			rc = 1;
		}
		if (hsmd_growth > bound) {
			fprintf(stderr,
				"kms-bench: soak failed: kms-hsmd RSS grew by %ld KiB (bound "
				"%ld)\n",
				hsmd_growth, bound);
			rc = 1;
		}
	}
	printf("soak %s\n", rc == 0 ? "ok" : "failed");
out:
	stop_kmsd(&b);
	return rc;
}
