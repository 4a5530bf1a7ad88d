/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-hsmd - the HSM adapter: the only process that loads the PKCS#11 module, holds the PIN or
 * touches a master secret (ARCHITECTURE.md, SECURITY.md). It serves one connection from kmsd in
 * proto/ frames: either one end of a socketpair, when kmsd starts it, or a connection that
 * systemd accepted on kms-hsmd.socket (Accept=yes), when it runs as its own user.
 *
 *   kms-hsmd -c FILE --fd N              serve the socketpair end N until kmsd closes it
 *   kms-hsmd -c FILE --socket-activated  serve the connection systemd passes (fd 3)
 *   kms-hsmd -c FILE --check             run the start-up checks, say whether it would serve
 *
 * Exit status: 0 after a clean end (the peer closed, or SIGTERM), 1 when serving stopped on an
 * error (kmsd restarts it) or the peer is not peer_user, 2 for a bad command line or
 * configuration, 3 when a start-up check failed (the message says which).
 */
#define _GNU_SOURCE /* struct ucred (SO_PEERCRED) */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/adapter.h"
#include "hsm/p11.h"

#include "common/banned.h"

static const char *const issuer_words[] = {"online", "pre-minted", NULL};
static const char *const id_words[] = {"raw", "hex-lower", "hex-upper", NULL};
static const char *const level_words[] = {"err", "warn", "info", "debug", NULL};

/* The configuration file's keys (deploy/kms-hsmd.conf.example explains each). */
static const struct kms_conf_key conf_keys[] = {
	{"module", KMS_CONF_PATH, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"module_params", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"token", KMS_CONF_STRING, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"pin_file", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"pin_credential", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"kek", KMS_CONF_STRING, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"store", KMS_CONF_PATH, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"issuer", KMS_CONF_ENUM, 0, "online", 0, 0, issuer_words},
	{"id_format", KMS_CONF_ENUM, 0, "raw", 0, 0, id_words},
	{"wrap_mechanism", KMS_CONF_U64, KMS_CONF_HEX, "0x210a", 1, 0xffffffffu, NULL},
	{"allow_host_ecb_wrap", KMS_CONF_BOOL, 0, "no", 0, 0, NULL},
	{"past_periods", KMS_CONF_U64, 0, "0", 0, 12, NULL},
	{"future_periods", KMS_CONF_U64, 0, "1", 0, 12, NULL},
	{"sessions", KMS_CONF_U64, 0, "4", 1, KMS_P11_MAX_SESSIONS, NULL},
	{"recycle_after", KMS_CONF_U64, 0, "50000", 10, 100000000, NULL},
	{"log_level", KMS_CONF_ENUM, 0, "info", 0, 0, level_words},
	{"tls_key", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"audit_key", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"environment", KMS_CONF_STRING, KMS_CONF_REPEATABLE, NULL, 0, 0, NULL},
	{"peer_user", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"plaintext_client", KMS_CONF_STRING, KMS_CONF_REPEATABLE, NULL, 0, 0, NULL},
};

/* The descriptor systemd passes first (sd_listen_fds(3): SD_LISTEN_FDS_START). */
#define LISTEN_FD 3

static volatile sig_atomic_t serve_fd = -1;

/* SIGTERM, SIGINT: end the loop as if kmsd had closed; the master secrets are wiped on the way out.
 */
static void
on_term(int sig)
{
	(void)sig;
	if (serve_fd >= 0) {
		(void)shutdown(serve_fd, SHUT_RDWR); /* async-signal-safe */
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: kms-hsmd -c FILE --fd N\n"
		   "       kms-hsmd -c FILE --socket-activated\n"
		   "       kms-hsmd -c FILE --check\n"
		   "       kms-hsmd --help\n"
		   "\n"
		   "The HSM adapter of the KMS: the only process that loads the PKCS#11 module,\n"
		   "logs in to the token (the user PIN from pin_file, or from the systemd\n"
		   "credential pin_credential) and holds the master secrets (online issuer). One\n"
		   "kms-hsmd serves one connection of kmsd (one per event-loop thread) and exits\n"
		   "when kmsd closes it. Two ways to run it:\n"
		   "- kmsd starts it (kmsd.conf: hsmd_conf) with one end of a socketpair, as\n"
		   "  kmsd's user, and restarts it when it ends;\n"
		   "- systemd starts it (kmsd.conf: hsmd_socket) as its own user, one\n"
		   "  kms-hsmd@.service instance per connection to kms-hsmd.socket (Accept=yes),\n"
		   "  so that kmsd's user cannot read the PIN (deploy/systemd/).\n"
		   "\n"
		   "Options:\n"
		   "  -c FILE     kms-hsmd.conf (required); deploy/kms-hsmd.conf.example\n"
		   "              explains every key\n"
		   "  --fd N      serve the socketpair end N (3..1023), as kmsd starts it\n"
		   "  --socket-activated\n"
		   "              serve the connection systemd passes (LISTEN_FDS=1, fd 3,\n"
		   "              from a socket with Accept=yes); kms-hsmd.conf must name\n"
		   "              kmsd's user in peer_user, and a connection from any other\n"
		   "              user is refused before the token is touched\n"
		   "  --check     run the start-up checks (known-answer tests, store, token\n"
		   "              login, RFC 5649 probe, KEK, master secrets, TLS key) and exit\n"
		   "              0 if it would serve; run it as the service's user before\n"
		   "              starting kmsd\n"
		   "  -h, --help  this text\n"
		   "\n"
		   "Signals: SIGTERM and SIGINT end serving as if kmsd had closed the\n"
		   "connection; the master secrets are wiped on the way out.\n"
		   "\n"
		   "Exit status: 0 clean end (kmsd closed, or SIGTERM) or passed --check;\n"
		   "1 serving stopped on an error (kmsd restarts it), or the peer is not\n"
		   "peer_user; 2 bad command line or configuration; 3 a start-up check failed\n"
		   "(the message says which).\n"
		   "\n"
		   "Documentation: SECURITY.md (what it holds), docs/deployment.md (the PIN as a\n"
		   "systemd credential, network HSMs), docs/protocol.md (the frames), in the\n"
		   "source tree.\n");
}

/* A file descriptor number from argv: decimal (kms_conf_decimal), 3 .. 1023, and a socket. */
static int
parse_fd(const char *s, int *out)
{
	uint64_t v = 0;
	struct stat st;

	if (kms_conf_decimal(s, strlen(s), 1023, &v) != KMS_OK || v < 3) {
		return KMS_ERR_RANGE;
	}
	if (fstat((int)v, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = (int)v;
	return KMS_OK;
}

/* A decimal number of an environment variable, 1 .. max; 0 when unset or anything else. */
static uint64_t
env_number(const char *name, uint64_t max)
{
	const char *s = getenv(name);
	uint64_t v = 0;

	return s != NULL && kms_conf_decimal(s, strlen(s), max, &v) == KMS_OK ? v : 0;
}

/*
 * The connection systemd passes to a socket-activated instance (sd_listen_fds(3), without
 * libsystemd): LISTEN_PID is this process, LISTEN_FDS is 1, and fd 3 is a connected AF_UNIX
 * stream socket, not the listening one (a socket unit without Accept=yes passes that). The
 * variables are removed so that nothing started later (the PKCS#11 module's helpers) takes them.
 */
static int
take_listen_fd(int *out)
{
	int v = 0;
	socklen_t len = sizeof(v);
	struct stat st;
	int r = KMS_ERR_INVALID_ARG;

	if (env_number("LISTEN_PID", 0x7fffffffU) != (uint64_t)getpid() ||
	    env_number("LISTEN_FDS", 64) != 1) {
		fprintf(stderr, "kms-hsmd: --socket-activated, but systemd passed no socket "
				"(LISTEN_PID is not this process, or LISTEN_FDS is not 1)\n");
		goto out;
	}
	if (fstat(LISTEN_FD, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(LISTEN_FD, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || v != AF_UNIX ||
	    getsockopt(LISTEN_FD, SOL_SOCKET, SO_TYPE, &v, &len) != 0 || v != SOCK_STREAM) {
		fprintf(stderr, "kms-hsmd: --socket-activated: fd 3 is not an AF_UNIX stream "
				"socket (kms-hsmd.socket: ListenStream= with a path)\n");
		goto out;
	}
	if (getsockopt(LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || v != 0) {
		fprintf(stderr,
			"kms-hsmd: --socket-activated: fd 3 is the listening socket; "
			"kms-hsmd serves one connection: set Accept=yes in kms-hsmd.socket\n");
		goto out;
	}
	if (fcntl(LISTEN_FD, F_SETFD, FD_CLOEXEC) != 0) {
		r = KMS_ERR_IO;
		goto out;
	}
	*out = LISTEN_FD;
	r = KMS_OK;
out:
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	return r;
}

/*
 * peer_user (a user name, or a decimal uid) against the user of the process at the other end of
 * fd (SO_PEERCRED, taken by the kernel at connect(2)). Refused before the token is touched.
 */
static int
check_peer(int fd, const char *peer_user, const char *conf_path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uint64_t uid = 0;

	if (peer_user[0] >= '0' && peer_user[0] <= '9') {
		if (kms_conf_decimal(peer_user, strlen(peer_user), 0xfffffffeU, &uid) != KMS_OK) {
			fprintf(stderr, "kms-hsmd: %s: peer_user: want a user name or a uid\n",
				conf_path);
			return KMS_ERR_INVALID_ARG;
		}
	} else {
		const struct passwd *pw = getpwnam(peer_user);

		if (pw == NULL) {
			fprintf(stderr, "kms-hsmd: %s: peer_user: no user %s on this system\n",
				conf_path, peer_user);
			return KMS_ERR_INVALID_ARG;
		}
		uid = (uint64_t)pw->pw_uid;
	}
	memset(&cred, 0, sizeof(cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
		fprintf(stderr, "kms-hsmd: cannot read the peer's credentials: %s\n",
			strerror(errno));
		return KMS_ERR_IO;
	}
	if ((uint64_t)cred.uid != uid) {
		fprintf(stderr,
			"kms-hsmd: refusing a connection from uid %lu (pid %ld): peer_user is %s "
			"(uid %llu)\n",
			(unsigned long)cred.uid, (long)cred.pid, peer_user,
			(unsigned long long)uid);
		return KMS_ERR_FORBIDDEN;
	}
	return KMS_OK;
}

/*
 * The environment the PKCS#11 module reads its own configuration from (SOFTHSM2_CONF, a vendor's
 * ChrystokiConfigurationPath): "NAME=VALUE" entries of the configuration, set before the module is
 * loaded, so that kmsd need not pass its environment on. NAME is a C identifier.
 */
static int
apply_environment(const struct kms_conf *c, const char *conf_path)
{
	size_t n = kms_conf_count(c, "environment");
	size_t i;

	for (i = 0; i < n; i++) {
		char name[128];
		const char *v = NULL;
		const char *eq;
		size_t len;
		size_t j;

		if (kms_conf_str(c, "environment", i, &v) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		eq = strchr(v, '=');
		len = eq == NULL ? 0 : (size_t)(eq - v);
		for (j = 0; j < len; j++) {
			char ch = v[j];
			int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				 ch == '_' || (j > 0 && ch >= '0' && ch <= '9');
			if (!ok) {
				break;
			}
		}
		if (len == 0 || j != len || len >= sizeof(name)) {
			fprintf(stderr,
				"kms-hsmd: %s: environment entry %zu is not NAME=VALUE with a C "
				"identifier as NAME\n",
				conf_path, i + 1);
			return KMS_ERR_INVALID_ARG;
		}
		memcpy(name, v, len);
		name[len] = '\0';
		if (setenv(name, eq + 1, 1) != 0) {
			return KMS_ERR_NOMEM;
		}
	}
	return KMS_OK;
}

static int
get_str(const struct kms_conf *c, const char *name, const char **out)
{
	*out = NULL;
	return kms_conf_count(c, name) == 0 ? KMS_OK : kms_conf_str(c, name, 0, out);
}

int
main(int argc, char **argv)
{
	struct kms_conf *conf = NULL;
	struct kms_p11 *p11 = NULL;
	struct kms_adapter *adapter = NULL;
	struct kms_p11_config pcfg;
	struct kms_adapter_config acfg;
	char err[KMS_CONF_ERR_LEN];
	const char *conf_path = NULL;
	const char *token = NULL;
	uint64_t u = 0;
	size_t e = 0;
	const char *peer_user = NULL;
	const char *plaintext[KMS_ADAPTER_MAX_PLAINTEXT];
	size_t k;
	bool yes = false;
	bool check = false;
	bool activated = false;
	int fd = -1;
	int status = 2;
	int r;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf_path = argv[++i];
		} else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc) {
			if (parse_fd(argv[++i], &fd) != KMS_OK) {
				fprintf(stderr, "kms-hsmd: --fd wants an open socket descriptor "
						"(3..1023)\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else if (strcmp(argv[i], "--socket-activated") == 0) {
			activated = true;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (conf_path == NULL || (fd >= 0) + check + activated != 1) {
		usage(stderr);
		return 2;
	}
	if (activated && take_listen_fd(&fd) != KMS_OK) {
		return 2;
	}
	if (kms_harden_process() != KMS_OK) {
		fprintf(stderr, "kms-hsmd: cannot make the process undumpable\n");
		return 2;
	}
	/* kmsd sets no_new_privs only after its first kms-hsmd processes started: this one
	 * (and the PKCS#11 module in it) gains no privilege through execve either way */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "kms-hsmd: cannot set no_new_privs\n");
		return 2;
	}
	kms_log_init("kms-hsmd", KMS_LOG_INFO);
	if (kms_conf_load(&conf, err, sizeof(err), conf_keys,
			  sizeof(conf_keys) / sizeof(conf_keys[0]), conf_path) != KMS_OK) {
		fprintf(stderr, "kms-hsmd: %s\n", err);
		return 2;
	}
	memset(&pcfg, 0, sizeof(pcfg));
	memset(&acfg, 0, sizeof(acfg));
	if (kms_conf_enum(conf, "log_level", 0, &e) != KMS_OK) {
		goto bad_conf;
	}
	kms_log_init("kms-hsmd", (enum kms_log_level)e);
	if (kms_conf_str(conf, "module", 0, &pcfg.module_path) != KMS_OK ||
	    get_str(conf, "module_params", &pcfg.module_params) != KMS_OK ||
	    kms_conf_str(conf, "token", 0, &token) != KMS_OK ||
	    get_str(conf, "pin_file", &pcfg.pin_file) != KMS_OK ||
	    get_str(conf, "pin_credential", &pcfg.pin_credential) != KMS_OK ||
	    kms_conf_u64(conf, "sessions", 0, &u) != KMS_OK) {
		goto bad_conf;
	}
	pcfg.token_uri = token;
	pcfg.num_sessions = (unsigned int)u;
	if (kms_conf_u64(conf, "recycle_after", 0, &u) != KMS_OK) {
		goto bad_conf;
	}
	pcfg.recycle_after = (unsigned long)u;
	if ((pcfg.pin_file == NULL) == (pcfg.pin_credential == NULL)) {
		fprintf(stderr, "kms-hsmd: %s: set exactly one of pin_file and pin_credential\n",
			conf_path);
		goto out;
	}
	if (kms_conf_str(conf, "store", 0, &acfg.store_path) != KMS_OK ||
	    kms_conf_str(conf, "kek", 0, &acfg.kek_label) != KMS_OK ||
	    kms_conf_enum(conf, "issuer", 0, &e) != KMS_OK) {
		goto bad_conf;
	}
	acfg.issuer = e == 0 ? KMS_ISSUER_ONLINE : KMS_ISSUER_PREMINTED;
	if (kms_conf_enum(conf, "id_format", 0, &e) != KMS_OK) {
		goto bad_conf;
	}
	acfg.id_format = e == 0 ? KMS_ID_RAW : e == 1 ? KMS_ID_HEX_LOWER : KMS_ID_HEX_UPPER;
	if (kms_conf_u64(conf, "wrap_mechanism", 0, &u) != KMS_OK) {
		goto bad_conf;
	}
	acfg.kwp = (CK_MECHANISM_TYPE)u;
	if (kms_conf_bool(conf, "allow_host_ecb_wrap", 0, &yes) != KMS_OK) {
		goto bad_conf;
	}
	acfg.allow_host_ecb = yes;
	if (kms_conf_u64(conf, "past_periods", 0, &u) != KMS_OK) {
		goto bad_conf;
	}
	acfg.past_periods = (unsigned int)u;
	if (kms_conf_u64(conf, "future_periods", 0, &u) != KMS_OK) {
		goto bad_conf;
	}
	acfg.future_periods = (unsigned int)u;
	if (get_str(conf, "tls_key", &acfg.tls_key_label) != KMS_OK ||
	    get_str(conf, "audit_key", &acfg.audit_key_label) != KMS_OK ||
	    get_str(conf, "peer_user", &peer_user) != KMS_OK) {
		goto bad_conf;
	}
	acfg.num_plaintext_clients = kms_conf_count(conf, "plaintext_client");
	if (acfg.num_plaintext_clients > KMS_ADAPTER_MAX_PLAINTEXT) {
		fprintf(stderr, "kms-hsmd: %s: at most %d plaintext_client lines\n", conf_path,
			KMS_ADAPTER_MAX_PLAINTEXT);
		goto out;
	}
	for (k = 0; k < acfg.num_plaintext_clients; k++) {
		if (kms_conf_str(conf, "plaintext_client", k, &plaintext[k]) != KMS_OK) {
			goto bad_conf;
		}
	}
	acfg.plaintext_clients = plaintext;
	if (activated && peer_user == NULL) {
		fprintf(stderr,
			"kms-hsmd: %s: --socket-activated needs peer_user (the user kmsd runs "
			"as): only kmsd may use the token through this socket\n",
			conf_path);
		goto out;
	}
	if (fd >= 0 && peer_user != NULL && (r = check_peer(fd, peer_user, conf_path)) != KMS_OK) {
		status = r == KMS_ERR_INVALID_ARG ? 2 : 1; /* peer_user wrong, or not the peer */
		goto out;
	}

	if (apply_environment(conf, conf_path) != KMS_OK) {
		goto out;
	}
	status = 3;
	if ((r = kms_p11_new(&p11, &pcfg)) != KMS_OK) {
		fprintf(stderr, "kms-hsmd: the token (%s) is not usable: %s\n", token,
			kms_strerror(r));
		goto out;
	}
	acfg.no_purge = check; /* a check changes nothing in the token */
	if ((r = kms_adapter_new(&adapter, p11, &acfg)) != KMS_OK) {
		fprintf(stderr, "kms-hsmd: a start-up check failed (see above): %s\n",
			kms_strerror(r));
		goto out;
	}
	if (check) {
		printf("kms-hsmd: start-up checks passed; ready to serve\n");
		status = 0;
		goto out;
	}
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		serve_fd = fd;
		if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
			kms_log(KMS_LOG_ERR, "kms-hsmd: cannot install signal handlers");
			goto out;
		}
	}
	r = kms_adapter_serve(adapter, fd);
	status = r == KMS_OK ? 0 : 1;
	goto out;
bad_conf:
	fprintf(stderr, "kms-hsmd: %s: invalid configuration\n", conf_path);
out:
	kms_adapter_free(adapter);
	kms_p11_free(p11);
	kms_conf_free(conf);
	if (fd >= 0) {
		(void)close(fd);
	}
	return status;
}
