/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

/*
 * A line is built whole in a stack buffer and written with one write(2), so lines from
 * concurrent threads (or processes sharing the sink) never interleave: writes of at most
 * PIPE_BUF (4096 on Linux) bytes to a pipe are atomic, and so are O_APPEND writes to a file.
 * Nothing is allocated, so logging works when memory has run out.
 *
 * The program name is set once by kms_log_init() before any thread starts; the level and the
 * sink may change at any time and are atomics.
 */
#define LOG_LINE_MAX  4096 /* PIPE_BUF on Linux */
#define LOG_MSG_MAX   1024 /* the formatted message before escaping */
#define LOG_PROG_MAX  64
#define LOG_TRUNCATED "..."

static char log_program[LOG_PROG_MAX] = "kms";
static atomic_int log_max_level = KMS_LOG_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *
level_name(enum kms_log_level level)
{
	switch (level) {
	case KMS_LOG_ERR:
		return "ERROR";
	case KMS_LOG_WARN:
		return "WARN";
	case KMS_LOG_INFO:
		return "INFO";
	case KMS_LOG_DEBUG:
		return "DEBUG";
	}
	return "?";
}

/*
 * Append src to dst[*pos..cap), escaping what could forge or hide a line: control characters
 * (C0 and DEL) become \n, \r, \t or \xHH, and a backslash becomes \\ so that an escape in
 * the output is never ambiguous. Bytes >= 0x80 pass unchanged (UTF-8). Stops before an escape
 * that would not fit whole; returns 0 if everything fitted, -1 if src was cut short.
 */
static int
append_escaped(char *dst, size_t cap, size_t *pos, const char *src)
{
	static const char hexdig[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	char esc[4];
	size_t n;

	for (; *s != '\0'; s++) {
		n = 0;
		if (*s == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (*s == '\r') {
			esc[n++] = '\\';
			esc[n++] = 'r';
		} else if (*s == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (*s == '\\') {
			esc[n++] = '\\';
			esc[n++] = '\\';
		} else if (*s < 0x20 || *s == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hexdig[*s >> 4];
			esc[n++] = hexdig[*s & 0x0f];
		} else {
			esc[n++] = (char)*s;
		}
		if (n > cap - *pos) {
			return -1;
		}
		memcpy(dst + *pos, esc, n);
		*pos += n;
	}
	return 0;
}

/* Write all of buf with one write(2) (a retry only when a signal interrupted it). */
static void
write_line(const char *buf, size_t len)
{
	int fd = atomic_load(&log_fd);
	ssize_t w;

	do {
		w = write(fd, buf, len);
	} while (w < 0 && errno == EINTR);
	/* A failing or short write to the log has nowhere to be reported. */
}

static void vlog(enum kms_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
vlog(enum kms_log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t pos = 0;
	int saved_errno = errno; /* callers may log, then look at errno */
	int truncated = 0;
	int n;

	if (!kms_log_enabled(level)) {
		return;
	}
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
		memset(&tm, 0, sizeof(tm));
		ts.tv_nsec = 0;
	}
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000L, level_name(level), log_program);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		goto out;
	}
	pos = (size_t)n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0) {
		msg[0] = '\0';
		truncated = 1;
	} else if ((size_t)n >= sizeof(msg)) {
		truncated = 1;
	}
	/* Room is kept for the truncation mark and the newline. */
	if (append_escaped(line, sizeof(line) - sizeof(LOG_TRUNCATED), &pos, msg) != 0) {
		truncated = 1;
	}
	if (truncated) {
		memcpy(line + pos, LOG_TRUNCATED, sizeof(LOG_TRUNCATED) - 1);
		pos += sizeof(LOG_TRUNCATED) - 1;
	}
	line[pos++] = '\n';
	write_line(line, pos);
out:
	errno = saved_errno;
}

void
kms_log_init(const char *program, enum kms_log_level max_level)
{
	size_t pos = 0;

	if (program != NULL) {
		/* The name is escaped like a message: argv[0] is outside input too. */
		(void)append_escaped(log_program, sizeof(log_program) - 1, &pos, program);
		log_program[pos] = '\0';
	}
	atomic_store(&log_max_level, (int)max_level);
}

void
kms_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int
kms_log_enabled(enum kms_log_level level)
{
	return (int)level <= atomic_load(&log_max_level);
}

void
kms_log(enum kms_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
kms_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(KMS_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
