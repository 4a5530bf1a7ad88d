/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd.conf's user (label integration): kmsd started as root gives root up for that user (its
 * primary group, no supplementary groups) once kms-hsmd answered, and the kms-hsmd processes it
 * starts run as that user from their first start, not only the ones restarted after the drop.
 * The development domain is handed to the user nobody (chown), as an operator would hand it to
 * the service's user. Checked from /proc: every uid and gid of kmsd and of each kms-hsmd, and
 * their supplementary groups; clients are served; a killed kms-hsmd comes back as that user;
 * an unknown user is a configuration error (exit 2). Needs root: skipped (77) otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define THREADS 2
#define USER    "nobody"

static char conf_path[400];
static uid_t user_uid;
static gid_t user_gid;

/*
 * Whether process pid runs with every uid (real, effective, saved, file system) uid, every gid
 * gid and no supplementary group, from /proc/PID/status: 1, 0, or -1 if it cannot be read.
 */
static int
runs_as(pid_t pid, uid_t uid, gid_t gid)
{
	char path[64], buf[8192], want[128];
	int fd, ok = 1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fd = open(path, O_RDONLY)) < 0) {
		return -1;
	}
	buf[kms_test_read_fd(fd, buf, sizeof(buf) - 1)] = '\0';
	(void)close(fd);
	snprintf(want, sizeof(want), "\nUid:\t%lu\t%lu\t%lu\t%lu\n", (unsigned long)uid,
		 (unsigned long)uid, (unsigned long)uid, (unsigned long)uid);
	ok &= strstr(buf, want) != NULL;
	snprintf(want, sizeof(want), "\nGid:\t%lu\t%lu\t%lu\t%lu\n", (unsigned long)gid,
		 (unsigned long)gid, (unsigned long)gid, (unsigned long)gid);
	ok &= strstr(buf, want) != NULL;
	{
		/* "Groups:" and blanks only (the kernel ends the list with a space) */
		const char *g = strstr(buf, "\nGroups:");

		ok &= g != NULL;
		for (g = g == NULL ? "" : g + 8; *g == ' ' || *g == '\t'; g++) {
		}
		ok &= *g == '\n';
	}
	if (!ok) {
		fprintf(stderr, "pid %ld is not %lu:%lu alone:\n%s\n", (long)pid,
			(unsigned long)uid, (unsigned long)gid, buf);
	}
	return ok;
}

static int
suite_init(void)
{
	const struct passwd *pw = getpwnam(USER);
	char over[256], src[400], owner[64], out[4096];
	const char *chown_argv[] = {"/bin/chown", "-R", owner, it_tmp, NULL};

	if (pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "no user %s on this machine\n", USER);
		return -1;
	}
	user_uid = pw->pw_uid;
	user_gid = pw->pw_gid;
	if (it_make_domain("user", NULL) != 0) {
		return -1;
	}
	snprintf(src, sizeof(src), "%s/kmsd.conf", it_dev);
	snprintf(conf_path, sizeof(conf_path), "%s/kmsd-user.conf", it_tmp);
	snprintf(over, sizeof(over), "user = %s\nthreads = %d\n", USER, THREADS);
	if (it_conf_variant(src, conf_path, over) != 0) {
		return -1;
	}
	/* the domain (token, PIN file, store, keys) becomes the service user's */
	snprintf(owner, sizeof(owner), "%lu:%lu", (unsigned long)user_uid, (unsigned long)user_gid);
	if (it_run(chown_argv, out, sizeof(out)) != 0) {
		fprintf(stderr, "chown: %s\n", out);
		return -1;
	}
	return 0;
}

static void
test_drops_user(void)
{
	pid_t kids[16], before[16];
	size_t n, i;
	int tries, ok = 0;

	CU_ASSERT_FATAL(it_start_domain_kmsd(conf_path) == 0);
	/* kmsd drops after every kms-hsmd answered; the listener is open before that */
	for (tries = 0; tries < 100 && runs_as(it_kmsd_pid, user_uid, user_gid) != 1; tries++) {
		usleep(100000);
	}
	CU_ASSERT_EQUAL(runs_as(it_kmsd_pid, user_uid, user_gid), 1);
	n = it_children(it_kmsd_pid, before, 16);
	CU_ASSERT_EQUAL_FATAL(n, THREADS);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(runs_as(before[i], user_uid, user_gid), 1);
	}
	CU_ASSERT_EQUAL(it_kms_client_cmd("alice", "keyprov"), 0);

	/* a kms-hsmd killed: its replacement, started by the dropped kmsd, runs as the user too */
	CU_ASSERT_EQUAL(kill(before[0], SIGKILL), 0);
	for (tries = 0; tries < 100 && !ok; tries++) {
		n = it_children(it_kmsd_pid, kids, 16);
		ok = n == THREADS && kids[0] != before[0] && kids[1] != before[0];
		if (!ok) {
			usleep(100000);
		}
	}
	CU_ASSERT_FATAL(ok);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(runs_as(kids[i], user_uid, user_gid), 1);
	}
	for (tries = 0, ok = 0; tries < 40 && !ok; tries++) {
		char out[16384];
		const char *args[] = {"keyprov", NULL};

		ok = it_kms_client("alice", args, out, sizeof(out)) == 0 &&
		     it_kms_client("bob", args, out, sizeof(out)) == 0;
		if (!ok) {
			usleep(250000);
		}
	}
	CU_ASSERT(ok);
}

static void
test_unknown_user(void)
{
	char conf[400], out[8192];
	const char *argv[] = {KMSD_BIN, "-c", conf, "--check", NULL};

	snprintf(conf, sizeof(conf), "%s/kmsd-nouser.conf", it_tmp);
	CU_ASSERT_FATAL(it_conf_variant(conf_path, conf, "user = no-such-kms-user\n") == 0);
	CU_ASSERT_EQUAL(it_run(argv, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "user: user no-such-kms-user: unknown"));
}

static CU_TestInfo tests[] = {
	{"kmsd and every kms-hsmd run as kmsd.conf's user", test_drops_user},
	{"an unknown user is a configuration error", test_unknown_user},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"kmsd.conf user", suite_init, it_suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

/* Whether USER can run kms-hsmd where the build put it (a checkout in a 0700 directory, such as
 * mktemp -d makes, cannot be reached by another user at all). */
static int
user_reaches_build(void)
{
	const struct passwd *pw = getpwnam(USER);
	int st = 0;
	pid_t pid;

	if (pw == NULL) {
		return 0;
	}
	if ((pid = fork()) == 0) {
		_exit(setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 &&
				      setuid(pw->pw_uid) == 0 && access(KMS_HSMD_BIN, X_OK) == 0
			      ? 0
			      : 1);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int
main(void)
{
	(void)signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		printf("SKIPPED: the privilege drop needs root\n");
		return 77;
	}
	if (!user_reaches_build()) {
		printf("SKIPPED: the user %s cannot reach %s (a directory on its path is not "
		       "searchable by others)\n",
		       USER, KMS_HSMD_BIN);
		return 77;
	}
	return kms_test_main(suites);
}
