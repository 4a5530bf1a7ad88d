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
 *   keyprov_vs_init    keyprov_per_s / init_per_s
 *   errors             responses other than 200 (expected 0)
 * Connections (default 4) use the domain's clients in turn (alice, bob, mcptt-server).
 */
#define _GNU_SOURCE /* strcasestr */
#include "tools/kms-bench-load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* One POST on ssl; the status, or -1. The response is read by its Content-Length. */
static int
post(SSL *ssl, const char *path, char *buf, size_t cap)
{
	char head[512];
	size_t got = 0, hlen, clen;
	char *eoh, *cl;
	int n, status;

	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", path);
	if (SSL_write(ssl, head, n) != n) {
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
	if (hlen + clen >= cap) {
		return -1;
	}
	while (got < hlen + clen) {
		if ((n = SSL_read(ssl, buf + got, (int)(hlen + clen - got))) <= 0) {
			return -1;
		}
		got += (size_t)n;
	}
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
		return -1;
	}
	return status;
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

/* Requests per second of one phase. */
static double
phase(struct load *l, const char *path, int handshake_each, unsigned long *errors)
{
	pthread_t tids[MAX_CONNS];
	struct worker ws[MAX_CONNS];
	unsigned int i, started = 0;
	double t0, t1;

	atomic_store(&l->ok, 0);
	atomic_store(&l->errors, 0);
	l->stop = 0;
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
	*errors += atomic_load(&l->errors);
	return (double)atomic_load(&l->ok) / (t1 - t0);
}

/* The domain's kmsd.conf with listen, public_url, metrics_listen and rate_limit replaced. */
static int
write_conf(const char *dir, const char *out_path, uint16_t port)
{
	char in_path[4200], line[8192];
	FILE *in, *out;
	int ok = 1;

	snprintf(in_path, sizeof(in_path), "%s/kmsd.conf", dir);
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
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (strncmp(p, "listen", 6) == 0 || strncmp(p, "public_url", 10) == 0 ||
		    strncmp(p, "metrics_listen", 14) == 0 || strncmp(p, "rate_limit", 10) == 0 ||
		    strncmp(p, "log_level", 9) == 0) {
			continue;
		}
		fputs(line, out);
	}
	fprintf(out,
		"listen = 127.0.0.1:%u\npublic_url = https://127.0.0.1:%u\nrate_limit = 0\n"
		"log_level = warn\n",
		port, port);
	ok = ferror(in) == 0;
	(void)fclose(in);
	return fclose(out) == 0 && ok ? 0 : -1;
}

int
kms_bench_load(const char *dir, const char *kmsd_path, double seconds, unsigned int conns)
{
	struct load l;
	char conf[] = "/tmp/kms-bench-load-XXXXXX";
	char prog[4096], dash_c[] = "-c";
	char *argv[4];
	pid_t pid = -1;
	unsigned long errors = 0;
	double hs, init, keyprov;
	int fd, i, rc = 1;

	(void)signal(SIGPIPE, SIG_IGN); /* a closed connection is counted, not fatal */
	memset(&l, 0, sizeof(l));
	l.dir = dir;
	l.seconds = seconds;
	l.conns = conns == 0 ? 4 : conns > MAX_CONNS ? MAX_CONNS : conns;
	l.port = free_port();
	if ((fd = mkstemp(conf)) < 0) {
		return 1;
	}
	(void)close(fd);
	if (l.port == 0 || write_conf(dir, conf, l.port) != 0) {
		goto out;
	}
	snprintf(prog, sizeof(prog), "%s", kmsd_path);
	argv[0] = prog;
	argv[1] = dash_c;
	argv[2] = conf;
	argv[3] = NULL;
	if (posix_spawn(&pid, kmsd_path, NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, "kms-bench: cannot start %s\n", kmsd_path);
		pid = -1;
		goto out;
	}
	for (i = 0; i < 600; i++) {
		int c = tcp_connect(l.port);
		if (c >= 0) {
			(void)close(c);
			break;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "kms-bench: kmsd exited at start (messages above)\n");
			pid = -1;
			goto out;
		}
		usleep(100000);
	}
	hs = phase(&l, ROOT "/init", 1, &errors);
	init = phase(&l, ROOT "/init", 0, &errors);
	keyprov = phase(&l, ROOT "/keyprov", 0, &errors);
	printf("connections %u\n", l.conns);
	printf("handshakes_per_s %.0f\n", hs);
	printf("init_per_s %.0f\n", init);
	printf("keyprov_per_s %.0f\n", keyprov);
	printf("keyprov_vs_init %.2f\n", init > 0 ? keyprov / init : 0.0);
	printf("errors %lu\n", errors);
	rc = errors == 0 ? 0 : 1;
out:
	if (pid > 0) {
		(void)kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
	}
	(void)unlink(conf);
	return rc;
}
