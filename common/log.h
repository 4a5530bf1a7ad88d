/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_LOG_H
#define KMS_COMMON_LOG_H

/*
 * Logging. One line per call, to stderr (or the sink set by kms_log_set_fd), as
 * "<ISO-8601 UTC time> <level> <program>: <message>". Never pass key material, PINs, their
 * lengths, or request bodies. Formats must be literals (checked by the compiler). Control
 * characters in the formatted message are escaped so a value cannot forge a log line.
 * Each line goes out in one write(2) of at most 4096 bytes (PIPE_BUF; longer messages are cut
 * and end in "..."), so lines from several threads never interleave. kms_log_init (default:
 * program "kms", level KMS_LOG_INFO) is called before any thread starts; kms_log_set_fd and
 * kms_log may be called from any thread. kms_log preserves errno.
 */
enum kms_log_level {
	KMS_LOG_ERR = 0,
	KMS_LOG_WARN = 1,
	KMS_LOG_INFO = 2,
	KMS_LOG_DEBUG = 3,
};

void kms_log_init(const char *program, enum kms_log_level max_level);
void kms_log_set_fd(int fd);
void kms_log(enum kms_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* kms_log_enabled - whether kms_log at level writes a line: to skip building what it would log. */
int kms_log_enabled(enum kms_log_level level);
/* kms_fatal - log at KMS_LOG_ERR and exit(1). Only at start-up or on a broken invariant. */
void kms_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* KMS_COMMON_LOG_H */
