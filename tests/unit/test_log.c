/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/log.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define LINE_MAX_BYTES 4096 /* what log.c promises: one write of at most PIPE_BUF */

static int sink[2] = {-1, -1}; /* pipe: log.c writes [1], the tests read [0] */

static int
suite_init(void)
{
	if (pipe(sink) != 0 || fcntl(sink[0], F_SETFL, O_NONBLOCK) != 0) {
		return 1;
	}
	/* Any zone but UTC, so that a local-time timestamp would be caught. */
	if (setenv("TZ", "KMS+05:30", 1) != 0) {
		return 1;
	}
	tzset();
	kms_log_init("test_log", KMS_LOG_DEBUG);
	kms_log_set_fd(sink[1]);
	return 0;
}

static int
suite_cleanup(void)
{
	kms_log_set_fd(STDERR_FILENO);
	close(sink[0]);
	close(sink[1]);
	return 0;
}

/* Everything logged since the last call, NUL-terminated; returns its length. */
static size_t
drain(char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t got;

	while (len < cap - 1 && (got = read(sink[0], buf + len, cap - 1 - len)) > 0) {
		len += (size_t)got;
	}
	buf[len] = '\0';
	return len;
}

/* The message part of a single line: after "<time> <level> <program>: ", without "\n". */
static const char *
message_of(char *line)
{
	char *p = strstr(line, ": ");
	char *nl = strchr(line, '\n');

	if (p == NULL || nl == NULL) {
		return "";
	}
	*nl = '\0';
	return p + 2;
}

static unsigned int
count_char(const char *s, size_t len, char c)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		n += s[i] == c;
	}
	return n;
}

static int
matches(const char *s, const char *pattern)
{
	regex_t re;
	int r;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		return 0;
	}
	r = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	return r == 0;
}

static time_t
realtime_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static void
test_line_format(void)
{
	char buf[LINE_MAX_BYTES * 2];
	struct tm tm;
	time_t before, logged, after;
	size_t len;

	/* the clock kms_log reads: glibc's time() is the coarse clock, which can still be in the
	 * previous second when CLOCK_REALTIME is in the next */
	before = realtime_s();
	kms_log(KMS_LOG_INFO, "hello %d %s", 42, "world");
	after = realtime_s();
	len = drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			       "INFO test_log: hello 42 world\n$"));
	CU_ASSERT_EQUAL(count_char(buf, len, '\n'), 1);

	/* The timestamp is now, in UTC (TZ is set to +05:30 for this suite). */
	memset(&tm, 0, sizeof(tm));
	CU_ASSERT_EQUAL_FATAL(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
				     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
			      6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	logged = timegm(&tm);
	CU_ASSERT(logged >= before && logged <= after);
}

static void
test_levels(void)
{
	char buf[LINE_MAX_BYTES * 2];

	kms_log(KMS_LOG_ERR, "e");
	CU_ASSERT(drain(buf, sizeof(buf)) > 0);
	CU_ASSERT(matches(buf, "Z ERROR test_log: e\n$"));
	kms_log(KMS_LOG_WARN, "w");
	drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, "Z WARN test_log: w\n$"));
	kms_log(KMS_LOG_DEBUG, "d");
	drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, "Z DEBUG test_log: d\n$"));

	/* Above the maximum level: nothing at all. */
	kms_log_init("test_log", KMS_LOG_WARN);
	kms_log(KMS_LOG_INFO, "not shown");
	kms_log(KMS_LOG_DEBUG, "not shown");
	CU_ASSERT_EQUAL(drain(buf, sizeof(buf)), 0);
	kms_log(KMS_LOG_WARN, "shown");
	drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, " WARN test_log: shown\n$"));
	/* kms_log_enabled says the same */
	CU_ASSERT(kms_log_enabled(KMS_LOG_ERR));
	CU_ASSERT(kms_log_enabled(KMS_LOG_WARN));
	CU_ASSERT(!kms_log_enabled(KMS_LOG_INFO));
	CU_ASSERT(!kms_log_enabled(KMS_LOG_DEBUG));
	kms_log_init("test_log", KMS_LOG_DEBUG);
	CU_ASSERT(kms_log_enabled(KMS_LOG_DEBUG));
}

static void
test_escaping(void)
{
	char buf[LINE_MAX_BYTES * 2];
	size_t len;

	kms_log(KMS_LOG_WARN, "v=%s.", "a\nb\rc\td\\e\x01\x1b[31mf\x7fg");
	len = drain(buf, sizeof(buf));
	CU_ASSERT_EQUAL(count_char(buf, len, '\n'), 1);
	CU_ASSERT_STRING_EQUAL(message_of(buf), "v=a\\nb\\rc\\td\\\\e\\x01\\x1b[31mf\\x7fg.");

	/* A value that tries to forge a second line stays on the first. */
	kms_log(KMS_LOG_INFO, "user %s", "x\n2024-01-01T00:00:00.000Z ERROR kmsd: forged");
	len = drain(buf, sizeof(buf));
	CU_ASSERT_EQUAL(count_char(buf, len, '\n'), 1);
	CU_ASSERT_STRING_EQUAL(message_of(buf),
			       "user x\\n2024-01-01T00:00:00.000Z ERROR kmsd: forged");

	/* UTF-8 passes unchanged. */
	kms_log(KMS_LOG_INFO, "%s", "caf\xc3\xa9");
	drain(buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(message_of(buf), "caf\xc3\xa9");
}

/* No control character of any value reaches the sink raw; each becomes a visible escape. */
static void
test_every_control_char(void)
{
	char buf[LINE_MAX_BYTES * 2];
	char val[2] = {0, 0};
	char want[8];
	unsigned int raw = 0, wrong = 0;
	size_t len, i;
	int c;

	for (c = 1; c < 0x80; c++) {
		if (c >= 0x20 && c != 0x7f) {
			continue;
		}
		val[0] = (char)c;
		kms_log(KMS_LOG_INFO, "[%s]", val);
		len = drain(buf, sizeof(buf));
		for (i = 0; i + 1 < len; i++) {
			raw += (unsigned char)buf[i] < 0x20 || buf[i] == 0x7f;
		}
		if (c == '\n') {
			(void)snprintf(want, sizeof(want), "[\\n]");
		} else if (c == '\r') {
			(void)snprintf(want, sizeof(want), "[\\r]");
		} else if (c == '\t') {
			(void)snprintf(want, sizeof(want), "[\\t]");
		} else {
			(void)snprintf(want, sizeof(want), "[\\x%02x]", (unsigned int)c);
		}
		wrong += strcmp(message_of(buf), want) != 0;
	}
	CU_ASSERT_EQUAL(raw, 0);
	CU_ASSERT_EQUAL(wrong, 0);
}

/* The program name is outside input too. */
static void
test_program_escaped(void)
{
	char buf[LINE_MAX_BYTES * 2];

	kms_log_init("evil\nprog", KMS_LOG_DEBUG);
	kms_log(KMS_LOG_INFO, "m");
	drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, "Z INFO evil\\\\nprog: m\n$"));
	kms_log_init("test_log", KMS_LOG_DEBUG);
}

/* Long messages are cut to one line of at most PIPE_BUF bytes, marked with "...". */
static void
test_truncation(void)
{
	static char big[8192];
	char buf[LINE_MAX_BYTES * 2];
	const char *msg;
	size_t len;

	memset(big, 'A', sizeof(big) - 1);
	kms_log(KMS_LOG_INFO, "%s", big);
	len = drain(buf, sizeof(buf));
	CU_ASSERT(len <= LINE_MAX_BYTES);
	CU_ASSERT_EQUAL(count_char(buf, len, '\n'), 1);
	CU_ASSERT(len >= 4 && memcmp(buf + len - 4, "...\n", 4) == 0);

	/* Escapes expand 4x: the line fills up and is cut between escapes, never inside one. */
	memset(big, 0x01, 1500);
	big[1500] = '\0';
	kms_log(KMS_LOG_INFO, "%s", big);
	len = drain(buf, sizeof(buf));
	CU_ASSERT(len <= LINE_MAX_BYTES);
	CU_ASSERT_EQUAL(count_char(buf, len, '\n'), 1);
	msg = message_of(buf);
	len = strlen(msg);
	CU_ASSERT(len > 3 && strcmp(msg + len - 3, "...") == 0);
	CU_ASSERT_EQUAL((len - 3) % 4, 0);
	CU_ASSERT(len > 3 && memcmp(msg + len - 7, "\\x01", 4) == 0);
}

static void
test_errno_preserved(void)
{
	char buf[LINE_MAX_BYTES * 2];

	errno = EBADF;
	kms_log(KMS_LOG_INFO, "x");
	CU_ASSERT_EQUAL(errno, EBADF);
	drain(buf, sizeof(buf));
	/* A sink that fails is survived, and errno is still the caller's. */
	kms_log_set_fd(-1);
	errno = ENOENT;
	kms_log(KMS_LOG_ERR, "lost");
	CU_ASSERT_EQUAL(errno, ENOENT);
	kms_log_set_fd(sink[1]);
}

/* Many threads, long lines, one file: every line arrives whole. */
#define THREADS          8
#define LINES_PER_THREAD 200
#define PAYLOAD          900

static void *
log_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	char payload[PAYLOAD + 1];
	int i;

	memset(payload, 'a' + t, PAYLOAD);
	payload[PAYLOAD] = '\0';
	for (i = 0; i < LINES_PER_THREAD; i++) {
		kms_log(KMS_LOG_INFO, "t%d n%03d %s", t, i, payload);
	}
	return NULL;
}

static void
test_threads(void)
{
	char path[] = "/tmp/test_log.XXXXXX";
	pthread_t th[THREADS];
	int seen[THREADS][LINES_PER_THREAD];
	char line[LINE_MAX_BYTES];
	char prefix[32];
	unsigned int bad = 0, lines = 0;
	FILE *f;
	const char *msg;
	int fd, t, n, i;

	memset(seen, 0, sizeof(seen));
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	unlink(path);
	/* O_APPEND, as a log file is opened: each write lands whole at the end. */
	CU_ASSERT_FATAL(fcntl(fd, F_SETFL, O_APPEND) == 0);
	kms_log_set_fd(fd);
	for (t = 0; t < THREADS; t++) {
		CU_ASSERT_FATAL(pthread_create(&th[t], NULL, log_thread, (void *)(intptr_t)t) == 0);
	}
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
	}
	kms_log_set_fd(sink[1]);

	CU_ASSERT_FATAL(lseek(fd, 0, SEEK_SET) == 0);
	f = fdopen(fd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		msg = message_of(line);
		if (sscanf(msg, "t%d n%d ", &t, &n) != 2 || t < 0 || t >= THREADS || n < 0 ||
		    n >= LINES_PER_THREAD) {
			bad++;
			continue;
		}
		(void)snprintf(prefix, sizeof(prefix), "t%d n%03d ", t, n);
		if (strlen(msg) != strlen(prefix) + PAYLOAD ||
		    strncmp(msg, prefix, strlen(prefix)) != 0) {
			bad++;
			continue;
		}
		for (i = 0; i < PAYLOAD; i++) {
			if (msg[strlen(prefix) + (size_t)i] != 'a' + t) {
				bad++;
				break;
			}
		}
		seen[t][n]++;
	}
	fclose(f);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(lines, THREADS * LINES_PER_THREAD);
	for (t = 0; t < THREADS; t++) {
		for (n = 0; n < LINES_PER_THREAD; n++) {
			if (seen[t][n] != 1) {
				bad++;
			}
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_fatal(void)
{
	char buf[LINE_MAX_BYTES * 2];
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		kms_fatal("fatal %d", 7);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 1);
	drain(buf, sizeof(buf));
	CU_ASSERT(matches(buf, "Z ERROR test_log: fatal 7\n$"));
}

static CU_TestInfo log_tests[] = {
	{"line format and UTC timestamp", test_line_format},
	{"levels and filtering", test_levels},
	{"control characters are escaped", test_escaping},
	{"every control character", test_every_control_char},
	{"program name is escaped", test_program_escaped},
	{"long messages are truncated", test_truncation},
	{"errno is preserved", test_errno_preserved},
	{"concurrent lines stay whole", test_threads},
	{"kms_fatal logs and exits 1", test_fatal},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"log", suite_init, suite_cleanup, NULL, NULL, log_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
