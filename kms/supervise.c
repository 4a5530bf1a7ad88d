/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* close_range(2) */
#include "kms/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "proto/frame.h"

#include "common/banned.h"

#define MAX_SLOTS      64
#define BACKOFF_MIN    100u  /* ms */
#define BACKOFF_MAX    5000u /* ms */
#define SUPERVISE_TICK 50u   /* ms */
#define CHILD_FD       3
#define START_GRACE    3000u /* ms a started process has to answer before another starts */
#define EXIT_NO_USER   126   /* the child could not become cfg.uid/gid */
#define EXIT_GRACE     300u  /* ms a process whose connection broke has to exit by itself */

extern char **environ;

struct slot {
	pthread_mutex_t lock; /* one request at a time; guards everything below */
	int fd;               /* kmsd's end, or -1 while down */
	pid_t pid;            /* the process, or 0 once reaped (always 0 with a socket) */
	bool started;         /* a process was started (a connection made) in this slot before */
	uint64_t exits;       /* processes of this slot that ended, or connections */
	int last_status;      /* their last wait status (not with a socket) */
	int last_errno;       /* the last connect error (with a socket), or 0 */
	unsigned int backoff; /* ms before the next start */
	uint64_t next_start;  /* monotonic ms */
	uint64_t starting;    /* monotonic ms of a start not yet answered, or 0 */
	uint64_t kill_at;     /* monotonic ms to SIGKILL a process not yet reaped, or 0 */
	uint8_t buf[KMS_MAX_IPC];
};

struct kms_hsmd_pool {
	struct kms_hsmd_config cfg;
	char *argv_store[6];
	struct slot *slots;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t stat_lock;
	uint64_t restarts;
	char issuer[16]; /* under stat_lock: see struct kms_hsmd_stats */
	uint32_t next_id;
	atomic_bool stopping;
};

/* Bound every send and receive on kmsd's end of a connection by the configured timeout. */
static int
set_timeouts(const struct kms_hsmd_pool *p, int fd)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(p->cfg.timeout_ms / 1000u);
	tv.tv_usec = (suseconds_t)(p->cfg.timeout_ms % 1000u) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		return KMS_ERR_IO;
	}
	return KMS_OK;
}

/* Count a (re)start of slot s, which is now up with fd. */
static void
slot_up(struct kms_hsmd_pool *p, struct slot *s, int fd, pid_t pid)
{
	s->fd = fd;
	s->pid = pid;
	s->kill_at = 0;
	s->starting = kms_mono_ms();
	if (s->started) {
		pthread_mutex_lock(&p->stat_lock);
		p->restarts++;
		pthread_mutex_unlock(&p->stat_lock);
	}
	s->started = true;
}

/*
 * Connect slot s (its lock held) to kms-hsmd.socket; systemd accepts the connection and starts a
 * kms-hsmd instance for it. A failure is remembered in s->last_errno for the start's message.
 */
static int
connect_socket(struct kms_hsmd_pool *p, struct slot *s)
{
	struct sockaddr_un sa;
	size_t len = strlen(p->cfg.socket_path);
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (len >= sizeof(sa.sun_path)) {
		s->last_errno = ENAMETOOLONG;
		return KMS_ERR_INVALID_ARG;
	}
	memcpy(sa.sun_path, p->cfg.socket_path, len + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		s->last_errno = errno;
		return KMS_ERR_IO;
	}
	if (set_timeouts(p, fd) != KMS_OK || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		s->last_errno = errno;
		(void)close(fd);
		return KMS_ERR_HSM_UNAVAIL;
	}
	s->last_errno = 0;
	slot_up(p, s, fd, 0);
	return KMS_OK;
}

/*
 * Start the process of slot s (its lock held). The socketpair is close-on-exec at both ends;
 * the child moves its end to fd 3 (dup2 clears close-on-exec) and closes everything above, so
 * kms-hsmd inherits nothing of kmsd's but that socket and the standard streams. Between fork
 * and exec only async-signal-safe calls are made (kmsd is threaded).
 */
static int
spawn(struct kms_hsmd_pool *p, struct slot *s)
{
	int sv[2];
	pid_t pid;
	sigset_t all, old;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		kms_log(KMS_LOG_ERR, "hsmd: socketpair: %s", strerror(errno));
		return KMS_ERR_IO;
	}
	if (set_timeouts(p, sv[0]) != KMS_OK) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		return KMS_ERR_IO;
	}
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl;
		int sig;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (sig = 1; sig < NSIG; sig++) {
			(void)sigaction(sig, &dfl, NULL);
		}
		if (sv[1] == CHILD_FD) {
			(void)fcntl(CHILD_FD, F_SETFD, 0);
		} else if (dup2(sv[1], CHILD_FD) != CHILD_FD) {
			_exit(127);
		}
		(void)close_range(CHILD_FD + 1, ~0u, 0);
		/*
		 * kmsd.conf's user, for the first start (kmsd still root) and restarts alike
		 * (kmsd already that user: nothing to change). Raw system calls: they change this
		 * thread only, which is all the child has, and are async-signal-safe.
		 */
		if (p->cfg.set_user && getuid() != p->cfg.uid &&
		    (syscall(SYS_setgroups, 0, NULL) != 0 ||
		     syscall(SYS_setresgid, p->cfg.gid, p->cfg.gid, p->cfg.gid) != 0 ||
		     syscall(SYS_setresuid, p->cfg.uid, p->cfg.uid, p->cfg.uid) != 0)) {
			_exit(EXIT_NO_USER);
		}
		sigemptyset(&all);
		(void)sigprocmask(SIG_SETMASK, &all, NULL);
		execve(p->argv_store[0], p->argv_store, environ);
		_exit(127);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)close(sv[1]);
	if (pid < 0) {
		kms_log(KMS_LOG_ERR, "hsmd: fork: %s", strerror(errno));
		(void)close(sv[0]);
		return KMS_ERR_IO;
	}
	slot_up(p, s, sv[0], pid);
	return KMS_OK;
}

/* Bring slot s up (its lock held): start its process, or connect it. */
static int
slot_open(struct kms_hsmd_pool *p, struct slot *s)
{
	return p->cfg.socket_path != NULL ? connect_socket(p, s) : spawn(p, s);
}

/* The next attempt of slot s (its lock held) after the back-off, which doubles up to its bound. */
static void
slot_backoff(struct slot *s)
{
	s->next_start = kms_mono_ms() + s->backoff;
	s->backoff = s->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : s->backoff * 2;
}

/*
 * Mark slot s down after a failed exchange (its lock held): close the end and kill the process,
 * at once if it hung, else after EXIT_GRACE ms unless it exited by itself meanwhile (a start-up
 * check failed, it crashed): then its own exit status is what is reported, not the SIGKILL. The
 * supervising thread does that (reap, kill_due): this runs on event-loop threads, whose seccomp
 * filter has no wait4. With a socket, closing is all kmsd can do (the instance is not its child
 * and not its user's): kms-hsmd exits at its next read or write, and the slot connects again
 * after the back-off.
 */
static void
slot_fail(struct kms_hsmd_pool *p, struct slot *s, const char *why, bool hung)
{
	unsigned int i = (unsigned int)(s - p->slots);

	if (p->cfg.socket_path != NULL) {
		kms_log(KMS_LOG_ERR, "hsmd: slot %u (%s): %s; connecting again", i,
			p->cfg.socket_path, why);
	} else {
		kms_log(KMS_LOG_ERR, "hsmd: slot %u (pid %ld): %s; restarting it", i, (long)s->pid,
			why);
	}
	if (s->fd >= 0) {
		(void)close(s->fd);
		s->fd = -1;
	}
	if (s->pid > 0 && hung) {
		(void)kill(s->pid, SIGKILL);
	} else if (s->pid > 0) {
		s->kill_at = kms_mono_ms() + EXIT_GRACE;
	}
	if (p->cfg.socket_path != NULL) {
		s->exits++;
		slot_backoff(s);
	}
}

static void
describe_status(char *out, size_t cap, int st)
{
	if (WIFEXITED(st)) {
		int c = WEXITSTATUS(st);
		snprintf(out, cap, "exit status %d%s", c,
			 c == 2              ? " (bad configuration or command line)"
			 : c == 3            ? " (a start-up check failed)"
			 : c == EXIT_NO_USER ? " (could not become kmsd.conf's user)"
			 : c == 127          ? " (could not be executed)"
					     : "");
	} else if (WIFSIGNALED(st)) {
		snprintf(out, cap, "killed by signal %d", WTERMSIG(st));
	} else {
		snprintf(out, cap, "wait status %d", st);
	}
}

static void
reap(struct kms_hsmd_pool *p)
{
	pid_t pid;
	int st;
	unsigned int i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < p->cfg.slots; i++) {
			struct slot *s = &p->slots[i];
			char why[96];

			pthread_mutex_lock(&s->lock);
			if (s->pid != pid) {
				pthread_mutex_unlock(&s->lock);
				continue;
			}
			describe_status(why, sizeof(why), st);
			if (!p->stopping) {
				kms_log(KMS_LOG_WARN, "hsmd: slot %u: kms-hsmd (pid %ld) ended: %s",
					i, (long)pid, why);
			}
			if (s->fd >= 0) {
				(void)close(s->fd);
				s->fd = -1;
			}
			s->pid = 0;
			s->kill_at = 0;
			s->exits++;
			s->last_status = st;
			slot_backoff(s);
			pthread_mutex_unlock(&s->lock);
			break;
		}
	}
}

/*
 * Whether some slot's process was started (or connection made) less than START_GRACE ms ago and
 * has not answered.
 */
static bool
one_starting(struct kms_hsmd_pool *p)
{
	unsigned int i;
	bool any = false;

	for (i = 0; i < p->cfg.slots && !any; i++) {
		struct slot *s = &p->slots[i];

		if (pthread_mutex_trylock(&s->lock) != 0) {
			continue; /* busy with a request: it has started */
		}
		any = s->fd >= 0 && s->starting != 0 && kms_mono_ms() - s->starting < START_GRACE;
		pthread_mutex_unlock(&s->lock);
	}
	return any;
}

/* SIGKILL the processes whose grace after a broken connection is over (slot_fail). */
static void
kill_due(struct kms_hsmd_pool *p)
{
	unsigned int i;

	for (i = 0; i < p->cfg.slots; i++) {
		struct slot *s = &p->slots[i];

		if (pthread_mutex_trylock(&s->lock) != 0) {
			continue;
		}
		if (s->pid > 0 && s->kill_at != 0 && kms_mono_ms() >= s->kill_at) {
			(void)kill(s->pid, SIGKILL);
			s->kill_at = 0;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

/*
 * With a socket, an instance that ended (crashed, killed, lost its token for good) is not kmsd's
 * child to reap: its connection is. kms-hsmd never writes unasked, so an idle connection that is
 * readable has ended; it is closed here and made again after the back-off, before a request
 * would find it dead.
 */
static void
check_idle_connections(struct kms_hsmd_pool *p)
{
	unsigned int i;

	for (i = 0; i < p->cfg.slots && !p->stopping; i++) {
		struct slot *s = &p->slots[i];
		struct pollfd pfd;

		if (pthread_mutex_trylock(&s->lock) != 0) {
			continue; /* busy with a request: the exchange sees an end itself */
		}
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (s->fd >= 0 && poll(&pfd, 1, 0) > 0 &&
		    (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
			slot_fail(p, s, "kms-hsmd ended the connection", false);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

/*
 * Restart the slots whose process (or connection) ended, one at a time: a process is started
 * only when no other is still starting (up to START_GRACE ms), because SoftHSM's file store was
 * seen to hide its token from a process starting while another one logged in. A socket-activated
 * kms-hsmd starts at the connection, so connections are made one at a time too.
 */
static void *
supervise(void *arg)
{
	struct kms_hsmd_pool *p = arg;
	unsigned int i;

	while (!p->stopping) {
		reap(p);
		kill_due(p);
		if (p->cfg.socket_path != NULL) {
			check_idle_connections(p);
		}
		for (i = 0; i < p->cfg.slots && !p->stopping && !one_starting(p); i++) {
			struct slot *s = &p->slots[i];
			bool spawned = false;

			if (pthread_mutex_trylock(&s->lock) != 0) {
				continue; /* busy with a request: it is up */
			}
			if (s->started && s->pid == 0 && s->fd < 0 &&
			    kms_mono_ms() >= s->next_start) {
				if (slot_open(p, s) == KMS_OK) {
					spawned = true;
				} else if (p->cfg.socket_path != NULL) {
					slot_backoff(s);
				} else {
					s->next_start = kms_mono_ms() + BACKOFF_MAX;
				}
			}
			pthread_mutex_unlock(&s->lock);
			if (spawned) {
				break;
			}
		}
		kms_sleep_ms(SUPERVISE_TICK);
	}
	return NULL;
}

static int
exchange(struct kms_hsmd_pool *p, struct slot *s, struct kms_proto_request *req,
	 struct kms_proto_reply *rep)
{
	size_t len = 0;
	int r;

	if ((r = kms_proto_encode_request(s->buf, sizeof(s->buf), &len, req)) != KMS_OK) {
		return r; /* our own request is out of bounds: not the process's fault */
	}
	if (kms_proto_frame_write(s->fd, s->buf, len) != KMS_OK) {
		bool hung = errno == EAGAIN || errno == EWOULDBLOCK;

		slot_fail(p, s,
			  hung ? "no room to send a request in time" : "cannot send a request",
			  hung);
		return KMS_ERR_HSM_UNAVAIL;
	}
	if ((r = kms_proto_frame_read(s->fd, s->buf, sizeof(s->buf), &len)) != KMS_OK) {
		/* SO_RCVTIMEO's EAGAIN: it hung; anything else: the connection broke or ended */
		bool hung = r == KMS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);

		slot_fail(p, s,
			  hung              ? "no reply in time"
			  : r == KMS_ERR_IO ? "the connection failed"
					    : "the connection ended or a frame was malformed",
			  hung);
		return KMS_ERR_HSM_UNAVAIL;
	}
	r = kms_proto_decode_reply(rep, s->buf, len);
	/* the frame may hold a plaintext client's keys (a PROVISION reply): rep is the only copy */
	kms_memzero(s->buf, len);
	if (r != KMS_OK || rep->op != req->op || rep->id != req->id) {
		slot_fail(p, s, "a malformed or unexpected reply", true);
		return KMS_ERR_HSM_UNAVAIL;
	}
	s->backoff = BACKOFF_MIN;
	s->starting = 0;
	return KMS_OK;
}

int
kms_hsmd_call(struct kms_hsmd_pool *p, unsigned int slot, struct kms_proto_request *req,
	      struct kms_proto_reply *rep)
{
	struct slot *s = &p->slots[slot % p->cfg.slots];
	uint64_t t0 = kms_mono_ms();
	int r;

	pthread_mutex_lock(&p->stat_lock);
	req->id = ++p->next_id;
	pthread_mutex_unlock(&p->stat_lock);
	pthread_mutex_lock(&s->lock);
	r = s->fd < 0 ? KMS_ERR_HSM_UNAVAIL : exchange(p, s, req, rep);
	pthread_mutex_unlock(&s->lock);
	kms_log(KMS_LOG_DEBUG, "hsmd: slot %u: %s %u: %s in %llu ms", slot % p->cfg.slots,
		kms_proto_op_name((int)req->op), (unsigned int)req->id,
		r != KMS_OK ? kms_strerror(r) : kms_strerror(rep->status),
		(unsigned long long)(kms_mono_ms() - t0));
	return r;
}

void
kms_hsmd_stats(struct kms_hsmd_pool *p, struct kms_hsmd_stats *out)
{
	unsigned int i, up = 0;

	for (i = 0; i < p->cfg.slots; i++) {
		/* a slot busy with a request is up; do not wait for it */
		if (pthread_mutex_trylock(&p->slots[i].lock) != 0) {
			up++;
			continue;
		}
		up += p->slots[i].fd >= 0 ? 1u : 0u;
		pthread_mutex_unlock(&p->slots[i].lock);
	}
	pthread_mutex_lock(&p->stat_lock);
	out->restarts = p->restarts;
	memcpy(out->issuer, p->issuer, sizeof(out->issuer));
	pthread_mutex_unlock(&p->stat_lock);
	out->up = up;
	out->slots = p->cfg.slots;
}

/*
 * Note the issuer a HEALTH reply named: only the two names kms-hsmd knows are kept (the reply
 * is kms-hsmd's, but /healthz and /metrics print it); two processes that differ are "mixed".
 */
static void
note_issuer(struct kms_hsmd_pool *p, const struct kms_proto_health_rep *h)
{
	const char *name = NULL;

	if (h->issuer_len == 6 && memcmp(h->issuer, "online", 6) == 0) {
		name = "online";
	} else if (h->issuer_len == 10 && memcmp(h->issuer, "pre-minted", 10) == 0) {
		name = "pre-minted";
	}
	if (name == NULL) {
		return;
	}
	pthread_mutex_lock(&p->stat_lock);
	if (p->issuer[0] != '\0' && strcmp(p->issuer, name) != 0) {
		name = "mixed";
	}
	snprintf(p->issuer, sizeof(p->issuer), "%s", name);
	pthread_mutex_unlock(&p->stat_lock);
}

/* Wait until slot i answers HEALTH, or its process ends, or the deadline passes. */
static int
await_slot(struct kms_hsmd_pool *p, unsigned int i, uint64_t deadline, char *err, size_t err_len)
{
	struct slot *s = &p->slots[i];

	for (;;) {
		struct kms_proto_request req;
		struct kms_proto_reply rep;
		uint64_t exits;
		int st;

		memset(&req, 0, sizeof(req));
		req.op = KMS_PROTO_HEALTH;
		if (kms_hsmd_call(p, i, &req, &rep) == KMS_OK && rep.status == KMS_OK) {
			note_issuer(p, &rep.u.health);
			return KMS_OK;
		}
		pthread_mutex_lock(&s->lock);
		exits = s->exits;
		st = s->last_status;
		pthread_mutex_unlock(&s->lock);
		if (exits > 0 && p->cfg.socket_path != NULL) {
			snprintf(err, err_len,
				 "kms-hsmd at %s closed the connection before it answered: the "
				 "instance did not start or refused kmsd (see its log, e.g. "
				 "journalctl -u 'kms-hsmd@*')",
				 p->cfg.socket_path);
			return KMS_ERR_HSM_UNAVAIL;
		}
		if (exits > 0) {
			char why[96];
			describe_status(why, sizeof(why), st);
			snprintf(err, err_len,
				 "kms-hsmd (%s -c %s) did not start: %s; its messages "
				 "are above",
				 p->cfg.hsmd_path, p->cfg.hsmd_conf, why);
			return KMS_ERR_HSM_UNAVAIL;
		}
		if (kms_mono_ms() >= deadline) {
			snprintf(err, err_len, "kms-hsmd (%s) did not answer in time",
				 p->cfg.socket_path != NULL ? p->cfg.socket_path
							    : p->cfg.hsmd_path);
			return KMS_ERR_HSM_UNAVAIL;
		}
		kms_sleep_ms(SUPERVISE_TICK);
	}
}

int
kms_hsmd_pool_new(struct kms_hsmd_pool **out, const struct kms_hsmd_config *cfg,
		  unsigned int start_wait_ms, char *err, size_t err_len)
{
	struct kms_hsmd_pool *p = NULL;
	uint64_t deadline;
	unsigned int i;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	if (cfg->slots == 0 || cfg->slots > MAX_SLOTS || cfg->timeout_ms < 100 ||
	    cfg->timeout_ms > 600000 ||
	    (cfg->socket_path != NULL ? cfg->socket_path[0] != '/' ||
						strlen(cfg->socket_path) >=
							sizeof(((struct sockaddr_un *)0)->sun_path)
				      : cfg->hsmd_path == NULL || cfg->hsmd_conf == NULL ||
						cfg->hsmd_path[0] != '/')) {
		snprintf(err, err_len,
			 "invalid kms-hsmd settings (the program or socket path must be "
			 "absolute; a socket path has at most 107 octets)");
		return KMS_ERR_INVALID_ARG;
	}
	if (cfg->socket_path == NULL && access(cfg->hsmd_path, X_OK) != 0) {
		snprintf(err, err_len, "kms-hsmd program %s: %s", cfg->hsmd_path, strerror(errno));
		return KMS_ERR_IO;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->slots = calloc(cfg->slots, sizeof(*p->slots))) == NULL) {
		free(p);
		snprintf(err, err_len, "out of memory");
		return KMS_ERR_NOMEM;
	}
	p->cfg = *cfg;
	pthread_mutex_init(&p->stat_lock, NULL);
	for (i = 0; i < cfg->slots; i++) {
		pthread_mutex_init(&p->slots[i].lock, NULL);
		p->slots[i].fd = -1;
		p->slots[i].backoff = BACKOFF_MIN;
	}
	if (cfg->socket_path == NULL) {
		p->argv_store[0] = strdup(cfg->hsmd_path);
		p->argv_store[1] = strdup("-c");
		p->argv_store[2] = strdup(cfg->hsmd_conf);
		p->argv_store[3] = strdup("--fd");
		p->argv_store[4] = strdup("3");
	}
	for (i = 0; i < 5 && cfg->socket_path == NULL; i++) {
		if (p->argv_store[i] == NULL) {
			snprintf(err, err_len, "out of memory");
			goto out;
		}
	}
	/*
	 * One process after the other: SoftHSM's file store has been seen to hide its token from a
	 * process that starts while another logs in (the token file is rewritten then).
	 */
	deadline = kms_mono_ms() + start_wait_ms;
	for (i = 0; i < cfg->slots; i++) {
		int e;

		pthread_mutex_lock(&p->slots[i].lock);
		r = slot_open(p, &p->slots[i]);
		e = p->slots[i].last_errno;
		pthread_mutex_unlock(&p->slots[i].lock);
		if (r != KMS_OK && cfg->socket_path != NULL) {
			snprintf(err, err_len,
				 "cannot connect to kms-hsmd at %s: %s (is kms-hsmd.socket "
				 "running, and may kmsd's user connect to it?)",
				 cfg->socket_path, strerror(e));
			goto out;
		}
		if (r != KMS_OK) {
			snprintf(err, err_len, "cannot start kms-hsmd: %s", kms_strerror(r));
			goto out;
		}
		if (i == 0) {
			if (pthread_create(&p->thread, NULL, supervise, p) != 0) {
				snprintf(err, err_len, "cannot start the supervising thread");
				r = KMS_ERR_NOMEM;
				goto out;
			}
			p->thread_started = true;
		}
		if ((r = await_slot(p, i, deadline, err, err_len)) != KMS_OK) {
			goto out;
		}
	}
	*out = p;
	p = NULL;
	r = KMS_OK;
out:
	kms_hsmd_pool_free(p);
	return r;
}

void
kms_hsmd_pool_free(struct kms_hsmd_pool *p)
{
	unsigned int i;
	uint64_t deadline;

	if (p == NULL) {
		return;
	}
	p->stopping = true;
	if (p->thread_started) {
		(void)pthread_join(p->thread, NULL);
	}
	/* closing kmsd's end is end-of-file for kms-hsmd: it wipes its secrets and exits */
	for (i = 0; i < p->cfg.slots; i++) {
		pthread_mutex_lock(&p->slots[i].lock);
		if (p->slots[i].fd >= 0) {
			(void)close(p->slots[i].fd);
			p->slots[i].fd = -1;
		}
		pthread_mutex_unlock(&p->slots[i].lock);
	}
	deadline = kms_mono_ms() + 5000;
	for (i = 0; i < p->cfg.slots; i++) {
		struct slot *s = &p->slots[i];
		while (s->pid > 0) {
			int st;
			pid_t w = waitpid(s->pid, &st, WNOHANG);
			if (w == s->pid || (w < 0 && errno == ECHILD)) {
				s->pid = 0;
			} else if (kms_mono_ms() >= deadline) {
				(void)kill(s->pid, SIGKILL);
				(void)waitpid(s->pid, &st, 0);
				s->pid = 0;
			} else {
				kms_sleep_ms(20);
			}
		}
		pthread_mutex_destroy(&s->lock);
	}
	pthread_mutex_destroy(&p->stat_lock);
	for (i = 0; i < 5; i++) {
		free(p->argv_store[i]);
	}
	free(p->slots);
	free(p);
}

int
kms_hsmd_default_path(char *out, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int w;

	if (n <= 0) {
		return KMS_ERR_IO;
	}
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL) {
		return KMS_ERR_IO;
	}
	*slash = '\0';
	w = snprintf(out, cap, "%s/kms-hsmd", self);
	if (w < 0 || (size_t)w >= cap) {
		return KMS_ERR_TOO_LARGE;
	}
	if (access(out, X_OK) != 0) {
		w = snprintf(out, cap, "%s/../hsm/kms-hsmd", self);
		if (w < 0 || (size_t)w >= cap) {
			return KMS_ERR_TOO_LARGE;
		}
	}
	return KMS_OK;
}
