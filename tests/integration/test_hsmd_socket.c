/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-hsmd started by socket activation (label integration): kmsd.conf's hsmd_socket, and
 * kms-hsmd --socket-activated with peer_user, as deploy/systemd's kms-hsmd.socket (Accept=yes)
 * and kms-hsmd@.service run them. systemd-socket-activate(1) stands in for systemd: it listens
 * on the socket and starts one kms-hsmd per connection with LISTEN_PID and LISTEN_FDS, as
 * systemd does. Checked here:
 * - kmsd connects one slot per thread, starts no process of its own, and serves alice; a killed
 *   instance is replaced by a new connection; kmsd's stop ends every instance;
 * - a kms-hsmd whose peer_user is not kmsd's user refuses it before touching the token, and
 *   kmsd --check says that the connection closed before kms-hsmd answered;
 * - kms-hsmd refuses a listening socket (Accept=no), a configuration without peer_user, and
 *   --socket-activated without LISTEN_FDS;
 * - kmsd.conf refuses hsmd_socket together with hsmd_conf, and a relative hsmd_socket, with
 *   FILE:LINE; a socket nobody listens on is a clear start-up error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

extern char **environ;

#define THREADS 2 /* kmsd's threads, so slots and kms-hsmd instances */

static char sock_path[400];   /* where the activator listens */
static char act_log[400];     /* its output and that of the kms-hsmd it starts */
static char hsmd_ok[400];     /* kms-hsmd.conf with peer_user = this test's uid */
static char hsmd_other[400];  /* peer_user = another uid */
static char hsmd_nopeer[400]; /* no peer_user */
static char kmsd_sock[400];   /* kmsd.conf with hsmd_socket = sock_path */
static pid_t act_pid = -1;

/* The whole of file path (at most cap - 1 octets) into out; "" if it cannot be read. */
static void
read_file(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY);

	out[0] = '\0';
	if (fd >= 0) {
		out[kms_test_read_fd(fd, out, cap - 1)] = '\0';
		(void)close(fd);
	}
}

/*
 * Start systemd-socket-activate on sock_path (with --accept if accept) running kms-hsmd -c conf
 * --socket-activated, output appended to act_log; the sanitizers' settings are passed on (it
 * passes only what -E names). Waits until the socket exists: 0, or -1.
 */
static int
start_activator(const char *conf, bool accept)
{
	static const char *const pass[] = {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
					   "TSAN_OPTIONS"};
	const char *args[24];
	char *argv[24];
	posix_spawn_file_actions_t fa;
	size_t n = 0, i;
	struct stat st;
	int sr;

	(void)unlink(sock_path);
	args[n++] = KMS_SOCKET_ACTIVATE_BIN;
	args[n++] = "-l";
	args[n++] = sock_path;
	if (accept) {
		args[n++] = "--accept";
	}
	for (i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		if (getenv(pass[i]) != NULL) {
			args[n++] = "-E";
			args[n++] = pass[i];
		}
	}
	args[n++] = KMS_HSMD_BIN;
	args[n++] = "-c";
	args[n++] = conf;
	args[n++] = "--socket-activated";
	for (i = 0; i < n; i++) {
		if ((argv[i] = strdup(args[i])) == NULL) {
			abort();
		}
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, act_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	sr = posix_spawn(&act_pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < n; i++) {
		free(argv[i]);
	}
	if (sr != 0) {
		act_pid = -1;
		return -1;
	}
	for (i = 0; i < 100; i++) {
		if (stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			return 0;
		}
		usleep(100000);
	}
	return -1;
}

/* Empty the activator's log. */
static void
clear_log(void)
{
	int fd = open(act_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	(void)close(fd);
}

/* Stop the activator (SIGTERM) and reap it (it ends by the signal). */
static void
stop_activator(void)
{
	if (act_pid > 0) {
		(void)kill(act_pid, SIGTERM);
		(void)waitpid(act_pid, NULL, 0);
		act_pid = -1;
	}
	(void)unlink(sock_path);
}

/*
 * Connect to sock_path and wait up to 60 s for the other end to close: 0 when it did (end of
 * file, or a reset: a connection never accepted is reset when the listening socket closes).
 */
static int
connect_until_closed(void)
{
	struct sockaddr_un a;
	struct pollfd pfd;
	char c;
	int fd, r = -1;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 60000) == 1 && read(fd, &c, 1) <= 0) {
			r = 0;
		}
	}
	(void)close(fd);
	return r;
}

/* Wait up to s seconds until the activator has want children: 0, or -1. */
static int
await_instances(size_t want, int s)
{
	pid_t kids[16];
	int i;

	for (i = 0; i < s * 10; i++) {
		if (it_children(act_pid, kids, 16) == want) {
			return 0;
		}
		usleep(100000);
	}
	return -1;
}

static int
suite_init(void)
{
	char over[600];
	char base[400];

	if (it_make_domain("hsmdsock", NULL) != 0) {
		return -1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/hsmd.sock", it_tmp);
	snprintf(act_log, sizeof(act_log), "%s/activate.log", it_tmp);
	snprintf(base, sizeof(base), "%s/kms-hsmd.conf", it_dev);
	snprintf(hsmd_ok, sizeof(hsmd_ok), "%s/hsmd-ok.conf", it_tmp);
	snprintf(hsmd_other, sizeof(hsmd_other), "%s/hsmd-other.conf", it_tmp);
	snprintf(hsmd_nopeer, sizeof(hsmd_nopeer), "%s/hsmd-nopeer.conf", it_tmp);
	snprintf(kmsd_sock, sizeof(kmsd_sock), "%s/kmsd-sock.conf", it_tmp);
	snprintf(over, sizeof(over), "peer_user = %lu\n", (unsigned long)getuid());
	if (it_conf_variant(base, hsmd_ok, over) != 0) {
		return -1;
	}
	snprintf(over, sizeof(over), "peer_user = %lu\n", (unsigned long)getuid() + 1);
	if (it_conf_variant(base, hsmd_other, over) != 0 ||
	    it_conf_variant(base, hsmd_nopeer, "peer_user\n") != 0) {
		return -1;
	}
	snprintf(base, sizeof(base), "%s/kmsd.conf", it_dev);
	snprintf(over, sizeof(over), "hsmd_conf\nhsmd\nthreads = %d\nhsmd_socket = %s\n", THREADS,
		 sock_path);
	return it_conf_variant(base, kmsd_sock, over);
}

static int
suite_cleanup(void)
{
	stop_activator();
	return it_suite_cleanup();
}

/* kmsd --check on conf: its exit status, its output in out. */
static int
kmsd_check(const char *conf, char *out, size_t cap)
{
	const char *argv[] = {KMSD_BIN, "-c", conf, "--check", NULL};

	return it_run(argv, out, cap);
}

static void
test_serves_through_socket(void)
{
	pid_t kids[16], before[16];
	size_t n;
	int i, ok = 0;

	CU_ASSERT_FATAL(start_activator(hsmd_ok, true) == 0);
	CU_ASSERT_FATAL(it_start_domain_kmsd(kmsd_sock) == 0);
	/* one instance per slot, none of them kmsd's child */
	CU_ASSERT_EQUAL(await_instances(THREADS, 30), 0);
	CU_ASSERT_EQUAL(it_children(it_kmsd_pid, kids, 16), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);
	CU_ASSERT_EQUAL(it_kms_client_cmd("mcptt-server", "init"), 0);

	/*
	 * an instance killed: kmsd sees its idle connection end and connects again, before any
	 * request; then every request is served at the first try
	 */
	n = it_children(act_pid, before, 16);
	CU_ASSERT_FATAL(n == THREADS);
	CU_ASSERT_EQUAL(kill(before[0], SIGKILL), 0);
	for (i = 0; i < 100 && !ok; i++) {
		ok = it_children(act_pid, kids, 16) == THREADS && kids[0] != before[0] &&
		     kids[1] != before[0];
		if (!ok) {
			usleep(100000);
		}
	}
	CU_ASSERT_FATAL(ok);
	for (i = 0; i < 4 && ok; i++) {
		/* every slot in turn (the connection's thread decides the slot); an instance that
		 * is still logging in is waited for, not refused */
		ok = it_kms_client_cmd(i % 2 == 0 ? "alice" : "bob", "keyprov") == 0;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(it_children(it_kmsd_pid, kids, 16), 0);

	/* kms-admin reaches kms-hsmd through the socket too (a key rotation), while kmsd runs */
	{
		char store[400], out[16384];
		const char *argv[] = {KMS_ADMIN_BIN, "--store", store,   "roster",
				      "client",      "rotate",  BOB_URI, "--hsmd-socket",
				      sock_path,     NULL};

		snprintf(store, sizeof(store), "%s/kms.db", it_dev);
		CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "pending: new TrK tk."));
	}

	/* kmsd's stop closes every connection: the instances end */
	CU_ASSERT_EQUAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL(await_instances(0, 30), 0);
	stop_activator();
	{
		char log[65536];

		read_file(act_log, log, sizeof(log));
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "adapter: ready"));
		CU_ASSERT_PTR_NULL(strstr(log, "refusing"));
	}
}

static void
test_refuses_other_peer(void)
{
	char out[8192], log[65536];

	clear_log();
	CU_ASSERT_FATAL(start_activator(hsmd_other, true) == 0);
	CU_ASSERT_EQUAL(kmsd_check(kmsd_sock, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "closed the connection before it answered"));
	stop_activator();
	read_file(act_log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "kms-hsmd: refusing a connection from uid"));
	/* refused before the token: no PKCS#11 module was loaded */
	CU_ASSERT_PTR_NULL(strstr(log, "p11: token"));
}

static void
test_refuses_bad_activation(void)
{
	const char *direct[] = {KMS_HSMD_BIN, "-c", hsmd_ok, "--socket-activated", NULL};
	char out[8192], log[65536];

	/* no LISTEN_FDS: not started by systemd */
	CU_ASSERT_EQUAL(it_run(direct, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "systemd passed no socket"));

	/* a configuration without peer_user */
	clear_log();
	CU_ASSERT_FATAL(start_activator(hsmd_nopeer, true) == 0);
	CU_ASSERT_EQUAL(connect_until_closed(), 0);
	stop_activator();
	read_file(act_log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "--socket-activated needs peer_user"));

	/* Accept=no: kms-hsmd would get the listening socket */
	clear_log();
	CU_ASSERT_FATAL(start_activator(hsmd_ok, false) == 0);
	CU_ASSERT_EQUAL(connect_until_closed(), 0);
	{
		int st = -1;

		/* without --accept the activator execs kms-hsmd in its own place */
		CU_ASSERT_EQUAL(waitpid(act_pid, &st, 0), act_pid);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 2);
		act_pid = -1;
		(void)unlink(sock_path);
	}
	read_file(act_log, log, sizeof(log));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "set Accept=yes in kms-hsmd.socket"));
}

static void
test_kmsd_conf(void)
{
	char conf[400], over[600], out[8192];

	snprintf(conf, sizeof(conf), "%s/kmsd-bad.conf", it_tmp);
	/* both ways at once */
	snprintf(over, sizeof(over), "hsmd_conf = %s/kms-hsmd.conf\n", it_dev);
	CU_ASSERT_FATAL(it_conf_variant(kmsd_sock, conf, over) == 0);
	CU_ASSERT_EQUAL(kmsd_check(conf, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "hsmd_conf: set, but hsmd_socket is set too"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "kmsd-bad.conf:"));
	/* neither */
	CU_ASSERT_FATAL(it_conf_variant(kmsd_sock, conf, "hsmd_socket\n") == 0);
	CU_ASSERT_EQUAL(kmsd_check(conf, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "hsmd_conf: missing"));
	/* a socket path longer than sun_path */
	snprintf(over, sizeof(over), "hsmd_socket = /%0120d\n", 0);
	CU_ASSERT_FATAL(it_conf_variant(kmsd_sock, conf, over) == 0);
	CU_ASSERT_EQUAL(kmsd_check(conf, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "hsmd_socket: want the absolute path"));
	/* nobody listening */
	(void)unlink(sock_path);
	CU_ASSERT_EQUAL(kmsd_check(kmsd_sock, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "cannot connect to kms-hsmd at"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "No such file or directory"));
}

static CU_TestInfo tests[] = {
	{"kmsd serves through kms-hsmd.socket; a killed instance is replaced",
	 test_serves_through_socket},
	{"kms-hsmd refuses a peer that is not peer_user", test_refuses_other_peer},
	{"kms-hsmd refuses Accept=no, no peer_user, no LISTEN_FDS", test_refuses_bad_activation},
	{"kmsd.conf: hsmd_socket errors", test_kmsd_conf},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"kms-hsmd by socket activation", suite_init, suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	return kms_test_main(suites);
}
