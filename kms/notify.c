/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd's readiness and status messages to the service manager: the sd_notify(3) datagram
 * protocol, implemented here by hand rather than by linking libsystemd.
 *
 * Why by hand: the protocol is a stable, documented interface (sd_notify(3), "Notes", which
 * shows a stand-alone implementation; systemd.service(5), Type=notify): one AF_UNIX datagram of
 * newline-separated KEY=VALUE assignments to the address in $NOTIFY_SOCKET. libsystemd0 would
 * bring itself and libgcrypt, libzstd, liblz4 and libcap into the address space of the
 * network-facing process for forty lines of code (the 2024 xz backdoor reached sshd through
 * such a link), and a build dependency (libsystemd-dev). The sender's credentials that systemd
 * checks (NotifyAccess=main) are attached by the kernel and need nothing from us.
 *
 * Only the main thread sends (the event-loop threads' seccomp allowlist has no socket(2)), and
 * only after kmsd_notify_init, which runs before any thread starts: it takes NOTIFY_SOCKET out
 * of the environment, so that the kms-hsmd processes kmsd starts do not inherit it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "kms/internal.h"

#include "common/banned.h"

#define MAX_MESSAGE 1024 /* a datagram: the state lines and one STATUS= line */

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len;

int
kmsd_notify_init(void)
{
	const char *v = getenv("NOTIFY_SOCKET");
	size_t len;
	int r = KMS_ERR_INVALID_ARG;

	if (notify_fd >= 0) {
		return KMS_OK; /* once */
	}
	if (v == NULL || v[0] == '\0') {
		r = KMS_OK; /* not started by a service manager that listens: nothing to do */
		goto out;
	}
	len = strlen(v);
	/* a path, or "@name" for the abstract namespace; systemd 253's "vsock:" is not spoken */
	if ((v[0] != '/' && v[0] != '@') || len < 2 || len >= sizeof(notify_addr.sun_path)) {
		kms_log(KMS_LOG_WARN,
			"NOTIFY_SOCKET is neither an absolute path nor an abstract socket name "
			"(or is too long): no readiness notifications");
		goto out;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, v, len);
	if (v[0] == '@') {
		notify_addr.sun_path[0] = '\0';
	}
	notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		kms_log(KMS_LOG_WARN, "NOTIFY_SOCKET: socket: %s: no readiness notifications",
			strerror(errno));
		r = KMS_ERR_IO;
		goto out;
	}
	r = KMS_OK;
out:
	(void)unsetenv("NOTIFY_SOCKET"); /* kms-hsmd is not the service's main process */
	return r;
}

/* Append s to buf[*n..cap), control characters as '?': the protocol is line-based. */
static void
append_text(char *buf, size_t *n, size_t cap, const char *s)
{
	for (; *s != '\0' && *n + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		buf[(*n)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[*n] = '\0';
}

void
kmsd_notify(const char *state, const char *status)
{
	char msg[MAX_MESSAGE];
	size_t n = 0;
	int w;

	if (notify_fd < 0 || (state == NULL && status == NULL)) {
		return;
	}
	msg[0] = '\0';
	if (state != NULL) {
		w = snprintf(msg, sizeof(msg), "%s\n", state);
		if (w < 0 || (size_t)w >= sizeof(msg) / 2) {
			return; /* the states are literals of kmsd's: never */
		}
		n = (size_t)w;
	}
	if (state != NULL && strstr(state, "RELOADING=1") != NULL) {
		/* systemd 253+ wants the time of the reload request with RELOADING=1 (it ignores
		 * the message without it for Type=notify-reload); 252 ignores the field */
		struct timespec ts;

		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		w = snprintf(msg + n, sizeof(msg) - n, "MONOTONIC_USEC=%llu\n",
			     (unsigned long long)ts.tv_sec * 1000000ull +
				     (unsigned long long)ts.tv_nsec / 1000ull);
		if (w < 0 || (size_t)w >= sizeof(msg) - n) {
			return;
		}
		n += (size_t)w;
	}
	if (status != NULL) {
		append_text(msg, &n, sizeof(msg) - 1, "STATUS=");
		append_text(msg, &n, sizeof(msg) - 1, status);
		msg[n++] = '\n';
		msg[n] = '\0';
	}
	if (sendto(notify_fd, msg, n, MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr,
		   notify_addr_len) < 0) {
		/* the manager may be gone or restarting; serving goes on regardless */
		kms_log(KMS_LOG_WARN, "NOTIFY_SOCKET: cannot send %s: %s",
			state != NULL ? state : "STATUS", strerror(errno));
	}
}

void
kmsd_notify_close(void)
{
	if (notify_fd >= 0) {
		(void)close(notify_fd);
		notify_fd = -1;
	}
}
