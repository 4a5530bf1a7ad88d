/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Faults end to end (label integration; issue 6): a development domain, one kmsd (two event-loop
 * threads, so two kms-hsmd processes) with log_level = debug for kmsd and kms-hsmd, a short
 * request_timeout and a rate limit, and:
 *   - the token disappears under load and comes back: every answer is 200 (schema-valid, for the
 *     asking client) or 503 with Retry-After, 503s while it is away, 200 again soon after;
 *   - stalled clients (silent TCP, a half-open TLS handshake, slowloris headers, a huge header)
 *     are closed by kmsd after request_timeout while others are served;
 *   - the error paths reachable from outside (bad XML, bad bearer tokens, a foreign identity, a
 *     revoked client, rate limiting, kms-hsmd killed, the token gone) leave no secret in any log
 *     (kmsd's with kms-hsmd's, the audit log, the store's files);
 *   - kms-hsmd's memory after it served several clients holds no issued SSK, RSK, PVT nor any
 *     client's TrK or InK; KSAK and z_T only in locked, dontdump mappings; no core, not
 *     dumpable.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "proto/store.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define STALL_MS     1500  /* request_timeout of this kmsd */
#define RATE         20    /* rate_limit (per client per second); rate_burst is twice that */
#define AWAY_MS      3000  /* how long the token is away under load */
#define RECOVER_MS   15000 /* every client served again within this after the token is back */
#define MAX_SENTINEL 64

static char resp[RESP_CAP];

/* ------------------------------------------------------------------------------------------ */
/* Set-up */

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

#ifdef KMS_TEST_SANITIZED
#define SANDBOX_LINE "sandbox = no\n"
#else
#define SANDBOX_LINE ""
#endif

static int
suite_init(void)
{
	char conf[400], over[256];

	if (it_make_domain("faults-it", NULL) != 0) {
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/kms-hsmd.conf", it_dev);
	if (it_conf_variant(conf, conf, "log_level = debug\n") != 0) {
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	/* Under the sanitizers, the event-loop threads run without their seccomp filter: it
	 * would kill kmsd before a sanitizer could write its report (test_kmsd tests the filter) */
	snprintf(over, sizeof(over),
		 "log_level = debug\nthreads = 2\nrequest_timeout = %d\nrate_limit = %d\n"
		 "rate_burst = %d\n%s",
		 STALL_MS, RATE, 2 * RATE, SANDBOX_LINE);
	if (it_conf_variant(conf, conf, over) != 0) {
		return 1;
	}
	return it_start_domain_kmsd(conf) == 0 ? 0 : 1;
}

static size_t slurp(const char *path, char *buf, size_t cap);

static int
suite_cleanup(void)
{
	return it_suite_cleanup(); /* it removes the domain's tree too */
}

static double
now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------------------------ */
/* Sentinels: what must never be in a log (collected by the tests as they go) */

struct sentinel {
	char what[64];
	uint8_t bytes[2048];
	size_t len;
	int binary; /* key material: looked for raw, in hex of either case and in base64 */
};

static struct sentinel sentinels[MAX_SENTINEL];
static size_t num_sentinels;

static void
sentinel_add(const char *what, const void *bytes, size_t len, int binary)
{
	struct sentinel *s;

	if (num_sentinels >= MAX_SENTINEL || len == 0 || len > sizeof(s->bytes)) {
		CU_FAIL("sentinel table full or sentinel too long");
		return;
	}
	s = &sentinels[num_sentinels++];
	snprintf(s->what, sizeof(s->what), "%s", what);
	memcpy(s->bytes, bytes, len);
	s->len = len;
	s->binary = binary;
}

static const char *const client_names[] = {"alice", "bob", "mcptt-server"};
static const char *const client_uris[] = {ALICE_URI, BOB_URI, MCS_URI};

/* ------------------------------------------------------------------------------------------ */
/* The token fails under load and comes back */

struct loader {
	const char *name;
	const char *uri;
	pthread_t thread;
	int total, ok, unavailable, unavailable_away, ok_after;
	int bad;               /* any other outcome */
	double first_ok_after; /* seconds from the token's return to the first 200, or -1 */
	char first_bad[256];
};

static volatile int load_phase; /* 0 token there, 1 away, 2 back, 3 stop */
static double back_at;

/* Whether body is a key set for this loader's client. */
static int
keyset_for(const struct loader *l, const char *body, size_t blen)
{
	char text[300], kn[300];

	snprintf(kn, sizeof(kn), "tk.1.%s@example.org", l->name);
	return strstr(body, "<KmsKeySet") != NULL && strstr(body, "EncryptedKey") != NULL &&
	       it_element_text(body, "UserUri", text, sizeof(text)) == 0 &&
	       strcmp(text, l->uri) == 0 &&
	       it_element_text(body, "ds:KeyName", text, sizeof(text)) == 0 &&
	       strcmp(text, kn) == 0 && it_schema_valid(body, blen);
}

static void *
loader_main(void *arg)
{
	struct loader *l = arg;
	char *buf = malloc(RESP_CAP);
	char path[200];

	snprintf(path, sizeof(path), ROOT "/keyprov/%s", l->uri);
	while (buf != NULL && __atomic_load_n(&load_phase, __ATOMIC_SEQ_CST) != 3) {
		int phase = __atomic_load_n(&load_phase, __ATOMIC_SEQ_CST);
		char *body = NULL;
		size_t blen = 0;
		int s = it_request(l->name, "POST", path, NULL, NULL, 0, buf, RESP_CAP, &body,
				   &blen);
		const char *why = NULL;

		l->total++;
		if (s == 200) {
			if (!keyset_for(l, body, blen)) {
				why = "a 200 that is no schema-valid key set for this client";
			} else {
				l->ok++;
				if (phase == 2 &&
				    __atomic_fetch_add(&l->ok_after, 1, __ATOMIC_SEQ_CST) == 0) {
					l->first_ok_after = now_s() - back_at;
				}
			}
		} else if (s == 503) {
			if (strcasestr(buf, "\r\nretry-after: ") == NULL) {
				why = "503 without Retry-After";
			} else if (strstr(body, "EncryptedKey") != NULL ||
				   !it_schema_valid(body, blen)) {
				why = "503 with key material or not a schema-valid KmsError";
			} else {
				l->unavailable++;
				l->unavailable_away += phase == 1;
			}
		} else {
			why = "another status, or a broken exchange (-1)";
		}
		if (why != NULL) {
			if (l->bad++ == 0) {
				snprintf(l->first_bad, sizeof(l->first_bad), "%s: status %d", why,
					 s);
			}
		}
		usleep(1000000 / (RATE / 2)); /* well within the rate limit */
	}
	free(buf);
	return NULL;
}

/* The faults a load run injects while its clients provision. */
enum load_fault {
	FAULT_TOKEN, /* the token directory moved away for AWAY_MS, then back */
	FAULT_HSMD,  /* every kms-hsmd killed (SIGKILL) every 500 ms for AWAY_MS */
};

/* The last n lines of kmsd's log (with kms-hsmd's) on stderr. */
static void
log_tail(size_t n)
{
	static char buf[1 << 20];
	size_t len = 0, lines = 0;
	int fd = open(it_log, O_RDONLY);
	off_t size;

	if (fd < 0) {
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	(void)lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
		    SEEK_SET);
	len = kms_test_read_fd(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	buf[len] = '\0';
	while (len > 0 && lines <= n) {
		lines += buf[--len] == '\n';
	}
	fprintf(stderr, "  --- the end of kmsd's log (%s) ---\n%s\n  ---\n", it_log,
		buf + len + (len > 0));
}

static void
kill_hsmds(void)
{
	pid_t pids[64];
	size_t n = it_children(it_kmsd_pid, pids, 64), i;

	for (i = 0; i < n; i++) {
		(void)kill(pids[i], SIGKILL);
	}
}

/* Three clients provision in a loop while fault happens: every answer is a key set for the
 * asking client or a clean 503, and every client is served again soon after. */
static void
run_under_load(enum load_fault fault)
{
	struct loader l[3];
	char dir[400], away[420];
	size_t i;
	int all, away_503 = 0, k;
	double t0;

	snprintf(dir, sizeof(dir), "%s/token/tokens", it_dev);
	snprintf(away, sizeof(away), "%s.away", dir);
	memset(l, 0, sizeof(l));
	__atomic_store_n(&load_phase, 0, __ATOMIC_SEQ_CST);
	for (i = 0; i < 3; i++) {
		l[i].name = client_names[i];
		l[i].uri = client_uris[i];
		l[i].first_ok_after = -1;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&l[i].thread, NULL, loader_main, &l[i]), 0);
	}
	usleep(1000000);
	if (fault == FAULT_TOKEN) {
		CU_ASSERT_EQUAL(rename(dir, away), 0);
		__atomic_store_n(&load_phase, 1, __ATOMIC_SEQ_CST);
		usleep(AWAY_MS * 1000);
	} else {
		__atomic_store_n(&load_phase, 1, __ATOMIC_SEQ_CST);
		for (k = 0; k < AWAY_MS / 500; k++) {
			kill_hsmds();
			usleep(500000);
		}
	}
	back_at = now_s(); /* before the phase: the loaders read it once they see phase 2 */
	__atomic_store_n(&load_phase, 2, __ATOMIC_SEQ_CST);
	if (fault == FAULT_TOKEN) {
		CU_ASSERT_EQUAL(rename(away, dir), 0);
	}
	/* until every client has had a few key sets again, or the bound is over */
	for (t0 = now_s(); now_s() - t0 < RECOVER_MS / 1000.0 + 2;) {
		for (i = 0, all = 1; i < 3; i++) {
			all &= __atomic_load_n(&l[i].ok_after, __ATOMIC_SEQ_CST) >= 3;
		}
		if (all) {
			break;
		}
		usleep(100000);
	}
	__atomic_store_n(&load_phase, 3, __ATOMIC_SEQ_CST);
	for (i = 0; i < 3; i++) {
		(void)pthread_join(l[i].thread, NULL);
		fprintf(stderr,
			"  %s: %d requests, %d x 200, %d x 503 (%d during the fault), "
			"first 200 %.2f s after it, %d bad%s%s\n",
			l[i].name, l[i].total, l[i].ok, l[i].unavailable, l[i].unavailable_away,
			l[i].first_ok_after, l[i].bad, l[i].bad ? ": " : "", l[i].first_bad);
		CU_ASSERT_EQUAL(l[i].bad, 0);
		CU_ASSERT(l[i].ok > l[i].ok_after); /* served before the fault */
		CU_ASSERT(l[i].ok_after >= 3);
		CU_ASSERT(l[i].first_ok_after >= 0 && l[i].first_ok_after < RECOVER_MS / 1000.0);
		if (fault == FAULT_TOKEN) {
			CU_ASSERT(l[i].unavailable_away >= 1);
		}
		away_503 += l[i].unavailable_away;
	}
	/* killed kms-hsmd processes are restarted quickly: some 503s at least */
	CU_ASSERT(away_503 >= (fault == FAULT_TOKEN ? 3 : 1));
	/* and every slot is up again soon (a slot killed again and again may still be in its
	 * back-off after the clients were served: the next test needs every slot) */
	CU_ASSERT_EQUAL(it_wait_healthy(RECOVER_MS), 0);
	for (i = 0; i < 3; i++) {
		if (l[i].first_ok_after < 0) {
			log_tail(80); /* no recovery: what kmsd and kms-hsmd said, for the record */
			break;
		}
	}
}

static void
test_token_under_load(void)
{
	run_under_load(FAULT_TOKEN);
}

static void
test_hsmd_killed_under_load(void)
{
	run_under_load(FAULT_HSMD);
}

/* ------------------------------------------------------------------------------------------ */
/* Stalled clients */

enum stall_kind {
	STALL_SILENT,    /* TCP connected, nothing sent */
	STALL_HELLO,     /* the first bytes of a ClientHello, then nothing */
	STALL_SLOWLORIS, /* a request whose header lines keep coming, slowly, never ending */
	STALL_BIG,       /* a 7000-octet header line that never ends */
	STALL_HUGE,      /* a 20000-octet header line (over h2o's limit) */
	STALL_KINDS
};

static const char *const stall_names[] = {"silent TCP", "half-open TLS handshake", "slowloris",
					  "big unfinished header", "huge header"};

struct stalled {
	enum stall_kind kind;
	struct it_conn c; /* TLS kinds */
	int fd;           /* the socket (c.fd for TLS kinds) */
	double opened, closed;
};

static int
stall_open(struct stalled *st, enum stall_kind kind)
{
	static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
	static char big[20100];
	static const char line1[] = "POST " ROOT "/init HTTP/1.1\r\nHost: x\r\n";
	static const char head[] = "POST " ROOT "/init HTTP/1.1\r\nHost: x\r\nX-big: ";
	size_t n;

	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->c.fd = -1;
	st->opened = now_s();
	if (kind == STALL_SILENT || kind == STALL_HELLO) {
		st->fd = it_tcp_connect(it_port);
		if (st->fd < 0) {
			return -1;
		}
		return kind == STALL_HELLO && write(st->fd, hello, sizeof(hello)) != sizeof(hello)
			       ? -1
			       : 0;
	}
	if (it_conn_open(&st->c, "bob") != 0) {
		return -1;
	}
	st->fd = st->c.fd;
	if (kind == STALL_SLOWLORIS) {
		return SSL_write(st->c.ssl, line1, (int)sizeof(line1) - 1) == (int)sizeof(line1) - 1
			       ? 0
			       : -1;
	}
	n = kind == STALL_BIG ? 7000 : 20000;
	memcpy(big, head, sizeof(head) - 1);
	memset(big + sizeof(head) - 1, 'a', n);
	n += sizeof(head) - 1;
	return SSL_write(st->c.ssl, big, (int)n) == (int)n ? 0 : -1;
}

/* Whether kmsd has closed st's socket (end of stream or reset; anything it sent is drained). */
static int
stall_is_closed(struct stalled *st)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = recv(st->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			continue;
		}
		if (n == 0) {
			return 1;
		}
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : 1;
	}
}

/*
 * Each kind of stalled connection is closed by kmsd once request_timeout (STALL_MS) is over (not
 * before, except a header past h2o's limit, which may be closed at once), while another client
 * is served all along, each request well within the timeout.
 */
static void
test_stalled_clients(void)
{
	struct stalled st[2 * STALL_KINDS];
	size_t num = 2 * STALL_KINDS, i, open_left;
	int served = 0, slow = 0;
	double t0, last_trickle = 0, t;

	for (i = 0; i < num; i++) {
		CU_ASSERT_EQUAL(stall_open(&st[i], (enum stall_kind)(i % STALL_KINDS)), 0);
	}
	t0 = now_s();
	do {
		char *body = NULL;
		size_t blen = 0;
		double r0 = now_s();
		int s = it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen);

		CU_ASSERT_EQUAL(s, 200);
		if (s != 200) {
			fprintf(stderr, "  another client: status %d: %.200s\n", s,
				body != NULL ? body : "");
		}
		served += s == 200;
		slow += now_s() - r0 > STALL_MS / 1000.0;
		t = now_s();
		if (t - last_trickle > 0.25) {
			for (i = 0; i < num; i++) {
				if (st[i].kind == STALL_SLOWLORIS && st[i].closed == 0) {
					(void)SSL_write(st[i].c.ssl, "X-a: b\r\n", 8);
				}
			}
			last_trickle = t;
		}
		for (i = 0, open_left = 0; i < num; i++) {
			if (st[i].fd >= 0 && st[i].closed == 0) {
				if (stall_is_closed(&st[i])) {
					st[i].closed = now_s();
				} else {
					open_left++;
				}
			}
		}
		usleep(50000);
	} while (open_left > 0 && now_s() - t0 < STALL_MS / 1000.0 + 5);
	for (i = 0; i < num; i++) {
		double after = st[i].closed - st[i].opened;

		if (st[i].closed == 0) {
			fprintf(stderr, "  %s: still open after %.1f s\n", stall_names[st[i].kind],
				now_s() - st[i].opened);
			CU_FAIL("a stalled connection was not closed");
			continue;
		}
		if (i < STALL_KINDS) {
			fprintf(stderr, "  %s: closed by kmsd after %.2f s\n",
				stall_names[st[i].kind], after);
		}
		CU_ASSERT(after < STALL_MS / 1000.0 + 2.5);
		if (st[i].kind != STALL_HUGE) {
			CU_ASSERT(after > STALL_MS / 1000.0 - 0.2);
		}
	}
	fprintf(stderr, "  %d requests of another client served meanwhile (%d slow)\n", served,
		slow);
	CU_ASSERT(served >= 5);
	CU_ASSERT_EQUAL(slow, 0);
	for (i = 0; i < num; i++) {
		if (st[i].c.ctx != NULL) {
			it_conn_close(&st[i].c);
		} else if (st[i].fd >= 0) {
			(void)close(st[i].fd);
		}
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The error paths reachable from outside (their log lines are scanned by test_logs) */

static int
request(const char *name, const char *path, const char *extra, const char *body, size_t len)
{
	char *b = NULL;
	size_t blen = 0;

	return it_request(name, "POST", path, extra, body, len, resp, sizeof(resp), &b, &blen);
}

/* A request with the bearer token tok (a sentinel from now on) as client name. */
static int
with_token(const char *name, const char *tok, const char *what)
{
	char hdr[9000];

	sentinel_add(what, tok, strlen(tok), 0);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", tok);
	return request(name, ROOT "/keyprov", hdr, NULL, 0);
}

static int
admin_roster(const char *a1, const char *a2, const char *a3)
{
	char out[8192], store[400];
	const char *argv[] = {KMS_ADMIN_BIN, "--store", store, "roster", a1, a2, a3, NULL};

	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	return it_run(argv, out, sizeof(out));
}

static void
test_error_paths(void)
{
	static const char xxe[] =
		"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\"><UserUri>&x;</UserUri>"
		"</KmsRequest>";
	static const char other[] =
		"<?xml version=\"1.0\"?><KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
		"Version=\"1.1.0\"><UserUri>sip:bob@example.org</UserUri><KmsUri>kms.example.org"
		"</KmsUri><Time>2026-11-28T10:00:00Z</Time><ClientReqUrl>https://127.0.0.1/"
		"</ClientReqUrl></KmsRequest>";
	static char big[70 * 1024];
	char tok[8192];
	struct it_conn c;
	pid_t kids[64];
	size_t n, i;
	int s, tries, limited = 0;

	/* bad XML */
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov", NULL, "<KmsRequest", 11), 400);
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov", NULL, xxe, sizeof(xxe) - 1), 400);
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov", NULL, other, sizeof(other) - 1), 400);
	memset(big, '<', sizeof(big));
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov", NULL, big, sizeof(big)), 413);
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov/sip%00x", NULL, NULL, 0), 400);
	/* bearer tokens: a good one (verified, as any token sent), then bad ones */
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token("alice", tok, "a good bearer token"), 200);
	tok[strlen(tok) - 3] = tok[strlen(tok) - 3] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(with_token("alice", tok, "a tampered bearer token"), 401);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--now", "1700000000"), 0);
	CU_ASSERT_EQUAL(with_token("alice", tok, "an expired bearer token"), 401);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), ALICE_URI, "--aud", "other.example.org"),
			      0);
	CU_ASSERT_EQUAL(with_token("alice", tok, "a bearer token for another audience"), 401);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), "sip:mallory@example.org", NULL, NULL), 0);
	/* with alice's certificate, a token of another user: kmsd refuses it itself */
	CU_ASSERT_EQUAL(with_token("alice", tok, "a bearer token of a stranger"), 403);
	CU_ASSERT_EQUAL_FATAL(it_mint(tok, sizeof(tok), BOB_URI, NULL, NULL), 0);
	CU_ASSERT_EQUAL(with_token("alice", tok, "bob's bearer token"), 403);
	CU_ASSERT_PTR_NULL(strstr(resp, "EncryptedKey"));
	{
		static char logbuf[1 << 20];

		(void)slurp(it_log, logbuf, sizeof(logbuf));
		CU_ASSERT_PTR_NOT_NULL(
			strstr(logbuf, "the bearer token names another user than the client"));
	}
	CU_ASSERT_EQUAL(with_token("alice", "a.b.c", "a malformed bearer token"), 401);
	/* a foreign identity */
	CU_ASSERT_EQUAL(request("alice", ROOT "/keyprov/" BOB_URI, NULL, NULL, 0), 403);
	CU_ASSERT_EQUAL(request("mcptt-server", ROOT "/keyprov/" ALICE_URI, NULL, NULL, 0), 403);
	/* a revoked client, then restored */
	CU_ASSERT_EQUAL(admin_roster("client", "revoke", BOB_URI), 0);
	CU_ASSERT_EQUAL(request("bob", ROOT "/keyprov", NULL, NULL, 0), 403);
	CU_ASSERT_EQUAL(admin_roster("client", "restore", BOB_URI), 0);
	CU_ASSERT_EQUAL(request("bob", ROOT "/keyprov", NULL, NULL, 0), 200);
	/* rate limiting: one client past its burst */
	CU_ASSERT_EQUAL_FATAL(it_conn_open(&c, "mcptt-server"), 0);
	for (i = 0; i < 10 * RATE && !limited; i++) {
		char *b = NULL;
		size_t blen = 0;

		s = it_conn_request(&c, "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp), &b,
				    &blen);
		CU_ASSERT(s == 200 || s == 429);
		limited = s == 429;
	}
	it_conn_close(&c);
	CU_ASSERT_EQUAL(limited, 1);
	/* kms-hsmd killed: 503 meanwhile, then served */
	n = it_children(it_kmsd_pid, kids, 64);
	CU_ASSERT_EQUAL(n, 2);
	for (i = 0; i < n; i++) {
		(void)kill(kids[i], SIGKILL);
	}
	s = request("alice", ROOT "/keyprov", NULL, NULL, 0);
	CU_ASSERT(s == 503 || s == 200);
	for (tries = 0; tries < 200 && s != 200; tries++) {
		usleep(100000);
		s = request("alice", ROOT "/keyprov", NULL, NULL, 0);
	}
	CU_ASSERT_EQUAL(s, 200);
	for (tries = 0; tries < 100 && it_children(it_kmsd_pid, kids, 64) < 2; tries++) {
		usleep(100000);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* kms-hsmd's memory */

/* A needle to look for in a process's memory. */
struct needle {
	const char *what;
	uint8_t bytes[32];
	int master; /* KSAK or z_T: allowed in locked, dontdump mappings only */
	int found;  /* in how many mappings */
	int found_unlocked;
};

/* A mapping of /proc/PID/smaps. */
struct mapping {
	unsigned long start, end;
	char perms[8];
	char name[128];
	unsigned long size_kb, locked_kb;
	int dontdump;
};

#define MAX_MAPPINGS 4096

static struct mapping maps_buf[MAX_MAPPINGS];

/* The mappings of pid (/proc/PID/smaps): how many, or 0. */
static size_t
read_smaps(pid_t pid, struct mapping *out, size_t cap)
{
	char path[64], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps", (long)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct mapping *m = n > 0 ? &out[n - 1] : NULL;
		unsigned long a, b, v;
		char perms[8];
		int off = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &a, &b, perms, &off) == 3) {
			if (n == cap) {
				break;
			}
			m = &out[n++];
			memset(m, 0, sizeof(*m));
			m->start = a;
			m->end = b;
			snprintf(m->perms, sizeof(m->perms), "%s", perms);
			snprintf(m->name, sizeof(m->name), "%s",
				 line + off + strspn(line + off, " "));
			m->name[strcspn(m->name, "\n")] = '\0';
		} else if (m != NULL && sscanf(line, "Size: %lu kB", &v) == 1) {
			m->size_kb = v;
		} else if (m != NULL && sscanf(line, "Locked: %lu kB", &v) == 1) {
			m->locked_kb = v;
		} else if (m != NULL && strncmp(line, "VmFlags:", 8) == 0) {
			m->dontdump = strstr(line, " dd") != NULL;
		}
	}
	(void)fclose(f);
	return n;
}

/*
 * Search every readable mapping of pid (/proc/PID/mem) for the needles; each hit is counted, and
 * for a master secret also whether its mapping is locked in whole and dontdump. The number of
 * bytes read, or 0 if the memory could not be read.
 */
static size_t
scan_process(pid_t pid, struct needle *needles, size_t num)
{
	static uint8_t buf[1 << 20];
	size_t nmaps = read_smaps(pid, maps_buf, MAX_MAPPINGS), total = 0, i, j;
	char path[64];
	int mem;

	snprintf(path, sizeof(path), "/proc/%ld/mem", (long)pid);
	if (nmaps == 0 || (mem = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "cannot read %s: %s (the test needs CAP_SYS_PTRACE as root)\n",
			path, strerror(errno));
		return 0;
	}
	for (j = 0; j < nmaps; j++) {
		const struct mapping *m = &maps_buf[j];
		unsigned long a = m->start;
		int hit[32] = {0};

		if (m->perms[0] != 'r' || strcmp(m->name, "[vvar]") == 0 ||
		    m->end - m->start > (1ul << 30)) {
			continue;
		}
		while (a < m->end) {
			size_t want = m->end - a > sizeof(buf) ? sizeof(buf) : m->end - a;
			ssize_t got = pread(mem, buf, want, (off_t)a);

			if (got <= 0) {
				break;
			}
			total += (size_t)got;
			for (i = 0; i < num && i < 32; i++) {
				hit[i] |= memmem(buf, (size_t)got, needles[i].bytes, 32) != NULL;
			}
			/* chunks overlap by 31 octets: no needle falls between two */
			a += (size_t)got == want && a + want < m->end ? (size_t)got - 31
								      : (size_t)got;
		}
		for (i = 0; i < num && i < 32; i++) {
			if (!hit[i]) {
				continue;
			}
			needles[i].found++;
			if (!(m->locked_kb > 0 && m->locked_kb == m->size_kb && m->dontdump)) {
				needles[i].found_unlocked++;
				fprintf(stderr,
					"  %s found in %lx-%lx %s %s (Locked %lu of %lu kB, %s)\n",
					needles[i].what, m->start, m->end, m->perms, m->name,
					m->locked_kb, m->size_kb,
					m->dontdump ? "dontdump" : "dumpable");
			}
		}
	}
	(void)close(mem);
	return total;
}

/* The thread of dumpable_probe: process_vm_readv of one octet, without CAP_SYS_PTRACE. */
struct probe {
	pid_t pid;
	unsigned long addr;
	int result; /* 1 read, 0 refused (EPERM), -1 another failure */
};

static void *
probe_main(void *arg)
{
	struct probe *p = arg;
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	uint8_t b;
	struct iovec local = {&b, 1}, remote;

	p->result = -1;
	remote.iov_base = (void *)p->addr;
	remote.iov_len = 1;
	/* capabilities are per thread: only this one loses CAP_SYS_PTRACE (effective only) */
	if (syscall(SYS_capget, &h, d) != 0) {
		return NULL;
	}
	d[0].effective &= ~(1u << CAP_SYS_PTRACE);
	if (syscall(SYS_capset, &h, d) != 0) {
		return NULL;
	}
	if (process_vm_readv(p->pid, &local, 1, &remote, 1, 0) == 1) {
		p->result = 1;
	} else if (errno == EPERM) {
		p->result = 0;
	}
	return NULL;
}

/*
 * Whether pid is dumpable, found out from outside: 1, 0, or -1 (cannot tell).
 *
 * No /proc field shows the flag, and the owner of /proc/PID/ (root for a process that is not
 * dumpable) says nothing when the process runs as root, as here. The kernel's ptrace access
 * check (process_vm_readv, PTRACE_MODE_ATTACH_REALCREDS) does: a caller with the target's uid
 * and gid and all of its permitted capabilities may read its memory unless the target is not
 * dumpable, when CAP_SYS_PTRACE is needed as well. So a thread of this (root) test that drops
 * CAP_SYS_PTRACE from its effective set reads a dumpable root process (checked on a child of our
 * own, the control) and is refused by one that is not.
 */
static int
dumpable_probe(pid_t pid)
{
	struct probe p = {pid, 0, -1};
	pthread_t t;

	if (read_smaps(pid, maps_buf, 1) != 1) {
		return -1;
	}
	p.addr = maps_buf[0].start;
	if (pthread_create(&t, NULL, probe_main, &p) != 0) {
		return -1;
	}
	(void)pthread_join(t, NULL);
	return p.result;
}

/* The soft and hard "Max core file size" of pid (/proc/PID/limits): 0 if both are 0. */
static int
core_limit_zero(pid_t pid)
{
	char path[64], line[256];
	unsigned long soft, hard;
	int r = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Max core file size %lu %lu", &soft, &hard) == 2) {
			r = soft == 0 && hard == 0 ? 0 : 1;
		}
	}
	(void)fclose(f);
	return r;
}

/* The online issuer's master secrets, unwrapped from the store with the domain KEK in the
 * token, as kms-hsmd does at start: KSAK (32 octets) and z_T (128) into ksak and z. */
static int
master_secrets(uint8_t ksak[32], uint8_t z[128])
{
	struct kms_wrap_policy pol = {0x210a, KMS_WRAP_HOST_ECB};
	struct kms_p11 *p11 = NULL;
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_store_blob blob;
	struct kms_secret *k = NULL, *zs = NULL;
	CK_OBJECT_HANDLE kek;
	char conf[400], pin[400], store[400];
	int r = -1;

	snprintf(conf, sizeof(conf), "%s/token/softhsm2.conf", it_dev);
	snprintf(pin, sizeof(pin), "%s/user.pin", it_dev);
	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0 ||
	    kms_devtoken_open(&p11, kms_devtoken_module(), "kms-dev", pin) != KMS_OK ||
	    kms_p11_borrow(p11, &s) != KMS_OK || kms_keys_find(s, &kek, "kms.kek") != KMS_OK ||
	    kms_store_open(&st, store, KMS_STORE_RO) != KMS_OK ||
	    kms_store_get_secret(st, "ksak", &blob) != KMS_OK ||
	    kms_unwrap_secret(s, &pol, kek, blob.data, blob.len, 32, &k) != KMS_OK ||
	    kms_store_get_secret(st, "z_t", &blob) != KMS_OK ||
	    kms_unwrap_secret(s, &pol, kek, blob.data, blob.len, 128, &zs) != KMS_OK) {
		goto out;
	}
	memcpy(ksak, k->data, 32);
	memcpy(z, zs->data, 128);
	r = 0;
out:
	kms_secret_free(k);
	kms_secret_free(zs);
	kms_store_close(st);
	kms_p11_return(s);
	kms_p11_free(p11);
	return r;
}

/* needle = the 32 octets at src, reversed if rev (a little-endian limb copy of a big-endian
 * number is its octets reversed). */
static void
needle_set(struct needle *n, const char *what, const uint8_t *src, int rev, int master)
{
	size_t i;

	memset(n, 0, sizeof(*n));
	n->what = what;
	n->master = master;
	for (i = 0; i < 32; i++) {
		n->bytes[i] = rev ? src[31 - i] : src[i];
	}
}

/*
 * kms-hsmd after serving alice, bob and the MC server (online issuer): none of the keys they
 * got (SSK, PVT, RSK, from kms-client --out) nor their TrK and InK is in the memory of any
 * kms-hsmd process; KSAK and z_T are, in mappings that are locked whole and dontdump only; no
 * core file and not dumpable. The keys become sentinels for test_logs.
 */
static void
test_hsmd_memory(void)
{
	static const char *const files[] = {"trk.hex", "ink.hex"};
	static const char *const kinds[] = {"ssk", "pvt", "rsk"};
	struct needle n[32];
	uint8_t key[300], ksak[32], z[128], zrev[128];
	char out[16384], dir[400], p[500], what[64];
	size_t num = 0, i, j, k, len, nk, total;
	pid_t kids[64], control;

	for (i = 0; i < 3; i++) {
		const char *args[] = {"--out", dir, "keyprov", client_uris[i], NULL};

		snprintf(dir, sizeof(dir), "%s/mem-%s", it_tmp, client_names[i]);
		CU_ASSERT_EQUAL_FATAL(it_kms_client(client_names[i], args, out, sizeof(out)), 0);
		for (j = 1; j <= 2; j++) { /* 2-*: the next period's set, near a period's end */
			for (k = 0; k < 3; k++) {
				snprintf(p, sizeof(p), "%s/%zu-%s.hex", dir, j, kinds[k]);
				if ((len = it_read_hex(p, key, sizeof(key))) == 0) {
					CU_ASSERT(j == 2);
					continue;
				}
				snprintf(what, sizeof(what), "%s's %s (set %zu)", client_names[i],
					 kinds[k], j);
				sentinel_add(what, key, len, 1);
				/* a point (PVT, RSK) by the octets after its 0x04 */
				if (num < 28) {
					needle_set(&n[num++], "an issued SSK, PVT or RSK",
						   key + (len > 32), 0, 0);
				}
			}
		}
		for (k = 0; k < 2; k++) {
			it_client_path(p, sizeof(p), client_names[i], files[k]);
			CU_ASSERT_EQUAL_FATAL(it_read_hex(p, key, sizeof(key)), 32);
			snprintf(what, sizeof(what), "%s's %.3s", client_names[i], files[k]);
			sentinel_add(what, key, 32, 1);
			needle_set(&n[num++], "a client's TrK or InK", key, 0, 0);
		}
	}
	/* the PIN, as the file has it */
	snprintf(p, sizeof(p), "%s/user.pin", it_dev);
	{
		int fd = open(p, O_RDONLY);
		char pin[256];

		CU_ASSERT_FATAL(fd >= 0);
		len = kms_test_read_fd(fd, pin, sizeof(pin) - 1);
		(void)close(fd);
		while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r')) {
			len--;
		}
		CU_ASSERT_FATAL(len >= 4);
		sentinel_add("the user PIN", pin, len, 0);
	}
	/* every kms-hsmd: no core, not dumpable (the control: a dumpable child of ours) */
	nk = it_children(it_kmsd_pid, kids, 64);
	CU_ASSERT_EQUAL(nk, 2);
	control = fork();
	if (control == 0) {
		pause();
		_exit(0);
	}
	CU_ASSERT_FATAL(control > 0);
#if TEST_TSAN
	/* under ThreadSanitizer the probe cannot read even a dumpable child: no control */
	(void)dumpable_probe(control);
#else
	CU_ASSERT_EQUAL(dumpable_probe(control), 1);
#endif
	(void)kill(control, SIGKILL);
	(void)waitpid(control, NULL, 0);
	for (i = 0; i < nk; i++) {
		CU_ASSERT_EQUAL(core_limit_zero(kids[i]), 0);
		CU_ASSERT_EQUAL(dumpable_probe(kids[i]), 0);
	}
	CU_ASSERT_EQUAL(dumpable_probe(it_kmsd_pid), 0);
#ifdef KMS_TEST_SANITIZED
	/* a sanitizer build's heap is in terabyte-sized regions and its quarantine keeps freed
	 * memory on purpose: the gcc build runs the scan (as test_kmsd does for kmsd) */
	fprintf(stderr, "(kms-hsmd memory scan not run: a sanitizer build)\n");
	return;
#endif
	/* KSAK and z_T, as octets (big-endian) and as little-endian 64-bit limbs (reversed) */
	CU_ASSERT_EQUAL_FATAL(master_secrets(ksak, z), 0);
	for (i = 0; i < 128; i++) {
		zrev[i] = z[127 - i];
	}
	needle_set(&n[num++], "KSAK", ksak, 0, 1);
	needle_set(&n[num++], "KSAK (limbs)", ksak, 1, 1);
	needle_set(&n[num++], "z_T", z + 64, 0, 1);
	needle_set(&n[num++], "z_T (limbs)", zrev + 32, 0, 1);
	kms_memzero(ksak, sizeof(ksak));
	kms_memzero(z, sizeof(z));
	kms_memzero(zrev, sizeof(zrev));
	CU_ASSERT_FATAL(num <= 32);
	for (i = 0; i < nk; i++) {
		for (j = 0; j < num; j++) {
			n[j].found = n[j].found_unlocked = 0;
		}
		total = scan_process(kids[i], n, num);
		CU_ASSERT(total > 1000000);
		for (j = 0; j < num; j++) {
			if (n[j].master) {
				CU_ASSERT_EQUAL(n[j].found_unlocked, 0);
			} else if (n[j].found) {
				fprintf(stderr, "  %s found in kms-hsmd %ld\n", n[j].what,
					(long)kids[i]);
				CU_FAIL("a client's key is in kms-hsmd's memory");
			}
		}
		fprintf(stderr,
			"  kms-hsmd %ld: %zu kB read; KSAK in %d+%d mappings, z_T in %d+%d "
			"(octets+limbs), "
			"every one locked and dontdump: %s\n",
			(long)kids[i], total / 1024, n[num - 4].found, n[num - 3].found,
			n[num - 2].found, n[num - 1].found,
			n[num - 4].found_unlocked + n[num - 3].found_unlocked +
						n[num - 2].found_unlocked +
						n[num - 1].found_unlocked ==
					0
				? "yes"
				: "NO");
		/* the control: the master secrets are there (in one form or the other) */
		CU_ASSERT(n[num - 4].found + n[num - 3].found >= 1);
		CU_ASSERT(n[num - 2].found + n[num - 1].found >= 1);
	}
	for (j = 0; j < num; j++) {
		kms_memzero(n[j].bytes, sizeof(n[j].bytes));
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Every log */

/* Whether s (or a form of it) is in the len octets at hay; what is said on stderr. */
static int
sentinel_in(const struct sentinel *s, const char *hay, size_t len, const char *where)
{
	static const char digits[2][17] = {"0123456789ABCDEF", "0123456789abcdef"};
	char form[2 * 2048 + 1];
	size_t i, w, c, off;

	if (s->len >= 8 && memmem(hay, len, s->bytes, s->len) != NULL) {
		fprintf(stderr, "  %s is in %s\n", s->what, where);
		return 1;
	}
	if (!s->binary) {
		return 0;
	}
	/* 16-octet windows at the start and at the end (a log may cut a key short), in raw octets,
	 * hex of either case and base64 of the first 15 octets (standard and URL alphabets) */
	for (w = 0; w < 2; w++) {
		off = w == 0 ? 0 : s->len - 16;
		if (memmem(hay, len, s->bytes + off, 16) != NULL) {
			fprintf(stderr, "  %s is in %s\n", s->what, where);
			return 1;
		}
		for (c = 0; c < 2; c++) {
			for (i = 0; i < 16; i++) {
				form[2 * i] = digits[c][s->bytes[off + i] >> 4];
				form[2 * i + 1] = digits[c][s->bytes[off + i] & 15];
			}
			if (memmem(hay, len, form, 32) != NULL) {
				fprintf(stderr, "  %s is in %s (hex)\n", s->what, where);
				return 1;
			}
		}
	}
	(void)EVP_EncodeBlock((unsigned char *)form, s->bytes, 15);
	if (memmem(hay, len, form, 20) != NULL) {
		fprintf(stderr, "  %s is in %s (base64)\n", s->what, where);
		return 1;
	}
	for (i = 0; i < 20; i++) {
		form[i] = form[i] == '+' ? '-' : form[i] == '/' ? '_' : form[i];
	}
	if (memmem(hay, len, form, 20) != NULL) {
		fprintf(stderr, "  %s is in %s (base64url)\n", s->what, where);
		return 1;
	}
	return 0;
}

/* Read path (at most cap - 1 octets) into buf: its length (0 if it cannot be read). */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		len = kms_test_read_fd(fd, buf, cap - 1);
		(void)close(fd);
	}
	buf[len] = '\0';
	return len;
}

/*
 * After all of the above (at log_level = debug, for kmsd and kms-hsmd): no sentinel (every
 * client's TrK and InK, the user PIN, every bearer token sent, every SSK, PVT and RSK the clients
 * got) is in kmsd's log (which has kms-hsmd's lines too), in the audit log (kms-admin audit
 * show), nor in the store's files; and the log does tell of the error paths and has each kind
 * of debug line (authentication, keyprov, the kms-hsmd calls, kms-hsmd's operations): the
 * controls.
 */
static void
test_logs(void)
{
	static const char *const statuses[] = {"status=400", "status=401", "status=403",
					       "status=413", "status=429", "status=503"};
	const size_t cap = 16u << 20;
	char *buf = malloc(cap);
	char path[420], store[400];
	size_t len, i, f;
	int leaks = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT(num_sentinels >= 3 * 2 + 1 + 6 + 9);
	len = slurp(it_log, buf, cap);
	CU_ASSERT(len > 1000 && len < cap - 1);
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		if (strstr(buf, statuses[i]) == NULL) {
			fprintf(stderr, "  no %s in the log\n", statuses[i]);
			CU_FAIL("an error path left no line in the log");
		}
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, " kms-hsmd: "));
	/* the debug lines are there, so that the scan covers them (one per kind) */
	{
		static const char *const debug_lines[] = {
			"DEBUG kmsd: req=",
			" auth: client ",
			" keyprov: identity ",
			"DEBUG kmsd: hsmd: slot ",
			"DEBUG kms-hsmd: adapter: provision ",
			" key period ",
		};

		for (i = 0; i < sizeof(debug_lines) / sizeof(debug_lines[0]); i++) {
			if (strstr(buf, debug_lines[i]) == NULL) {
				fprintf(stderr, "  no '%s' in the debug log\n", debug_lines[i]);
				CU_FAIL("a kind of debug line is missing");
			}
		}
	}
	for (i = 0; i < num_sentinels; i++) {
		leaks += sentinel_in(&sentinels[i], buf, len, "kmsd's log");
	}
	snprintf(store, sizeof(store), "%s/kms.db", it_dev);
	{
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store, "audit",
				      "show",        "--json",  NULL};
		CU_ASSERT_EQUAL(it_run(argv, buf, cap), 0);
		len = strlen(buf);
		CU_ASSERT(len > 1000 && len < cap - 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, "refused"));
		for (i = 0; i < num_sentinels; i++) {
			leaks += sentinel_in(&sentinels[i], buf, len, "the audit log");
		}
	}
	for (f = 0; f < 2; f++) {
		snprintf(path, sizeof(path), "%s%s", store, f == 0 ? "" : "-wal");
		len = slurp(path, buf, cap);
		CU_ASSERT(f == 1 || len > 0);
		for (i = 0; i < num_sentinels; i++) {
			leaks += sentinel_in(&sentinels[i], buf, len, path);
		}
	}
	CU_ASSERT_EQUAL(leaks, 0);
	free(buf);
}

static CU_TestInfo fault_tests[] = {
	{"the token disappears under load and comes back", test_token_under_load},
	{"kms-hsmd killed again and again under load", test_hsmd_killed_under_load},
	{"stalled clients are closed after request_timeout", test_stalled_clients},
	{"the error paths reachable from outside", test_error_paths},
	{"kms-hsmd's memory, core limit and dumpability", test_hsmd_memory},
	{"no secret in any log at log_level = debug", test_logs},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"faults", suite_init, suite_cleanup, NULL, NULL, fault_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}
