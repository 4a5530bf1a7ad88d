/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd - the TS 33.180 Key Management Server's network-facing process (ARCHITECTURE.md).
 *
 *   kmsd -c FILE           serve until SIGTERM or SIGINT; SIGHUP reloads the TLS files
 *   kmsd -c FILE --check   load and check the configuration, start kms-hsmd, check that it
 *                          answers, and exit
 *
 * Exit status: 0 after a clean stop (or a passed --check); 1 when serving failed; 2 for a bad
 * command line or configuration; 3 when kms-hsmd or the TLS set-up failed at start.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked in every thread from the start (the threads
 * that kms-hsmd's pool and kmsd_serve start inherit the mask) and taken synchronously by the
 * main thread in kmsd_main_loop, with sigtimedwait: no handler runs on an event-loop thread
 * under seccomp, and a reload runs where files may be opened. kms-hsmd gets an empty mask
 * (kms/supervise.c). The service manager hears of it all through kms/notify.c.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/secmem.h"
#include "kms/internal.h"
#include "kms/jwt.h"
#include "kms/supervise.h"
#include "kms/tls.h"
#include "kms/tlskey.h"
#include "proto/store.h"
#include "proto/xml.h"

#include "common/banned.h"

#define START_WAIT_MS  60000u
#define SIGNAL_TICK_MS 200 /* how often the main thread looks at the stop flag */

static atomic_int stop_flag; /* read by the event-loop threads */

/* What a reload needs of main's start (set before kmsd_serve, read on the main thread only). */
static const char *conf_path_g;
static char status_g[KMS_CONF_ERR_LEN + 128]; /* the last STATUS= sent with READY=1 */

static void
usage(FILE *f)
{
	fprintf(f, "usage: kmsd -c FILE [--check]\n"
		   "       kmsd --help\n"
		   "\n"
		   "The Key Management Server of 3GPP mission-critical services (TS 33.180\n"
		   "Annex D): it serves init, keyprov and certcache over HTTPS with mutual TLS\n"
		   "and IdMS bearer tokens. It holds no PIN and no key material: kms-hsmd alone\n"
		   "touches the token, one per event-loop thread. kmsd either starts them itself\n"
		   "over socketpairs (kmsd.conf: hsmd_conf; restarted when one dies), or connects\n"
		   "to kms-hsmd.socket, where systemd starts them under their own user\n"
		   "(hsmd_socket; connected again when one ends; deploy/systemd/).\n"
		   "\n"
		   "Options:\n"
		   "  -c FILE      kmsd.conf (required); deploy/kmsd.conf.example explains\n"
		   "               every key\n"
		   "  --check      load and check FILE and the TLS files, start kms-hsmd,\n"
		   "               check that it answers, print the KMS URI and exit (nothing\n"
		   "               is served)\n"
		   "  -h, --help   this text\n"
		   "\n"
		   "Signals:\n"
		   "  SIGTERM, SIGINT  stop cleanly (exit status 0)\n"
		   "  SIGHUP           reload from FILE, for new connections, without dropping\n"
		   "                   any: the server certificate and key (with tls_key_token\n"
		   "                   the certificate only), the client CAs and the client_spki\n"
		   "                   mappings. If anything fails to load, the old settings\n"
		   "                   stay and the log says why. Other changed keys need a\n"
		   "                   restart; they are logged as ignored. The roster and the\n"
		   "                   certificate cache are read from the store for every\n"
		   "                   request and need no reload.\n"
		   "\n"
		   "systemd: with $NOTIFY_SOCKET set (Type=notify) kmsd sends READY=1 once every\n"
		   "listener is open and every kms-hsmd answers, RELOADING=1 and READY=1 around\n"
		   "a reload, and STOPPING=1 when it stops, each with STATUS=. The unit:\n"
		   "deploy/systemd/kmsd.service.\n"
		   "\n"
		   "Exit status: 0 clean stop or passed --check; 1 serving failed; 2 bad command\n"
		   "line or configuration; 3 start-up failed (kms-hsmd, the KMS certificate, TLS,\n"
		   "or another process already listens on listen or metrics_listen).\n"
		   "\n"
		   "Documentation: docs/deployment.md (production install, systemd, reload),\n"
		   "docs/configuration.md, SECURITY.md and kms/README.md in the source tree.\n");
}

/* The configured user's uid and primary gid. */
static int
resolve_user(const char *user, uid_t *uid, gid_t *gid, char *err, size_t err_len)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, err_len, "user %s: %s", user,
			 errno != 0 ? strerror(errno) : "unknown");
		return KMS_ERR_INVALID_ARG;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return KMS_OK;
}

/* Give up root for the configured user (its primary group, no supplementary groups). */
static int
drop_privileges(const char *user, uid_t uid, gid_t gid, char *err, size_t err_len)
{
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || setuid(0) == 0) {
		snprintf(err, err_len, "cannot become user %s: %s", user, strerror(errno));
		return KMS_ERR_IO;
	}
	return KMS_OK;
}

/* The KMS certificate's public values, once, from kms-hsmd. */
static int
fetch_certificate(struct kmsd *k)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	int r;

	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_CERTIFICATE;
	if ((r = kms_hsmd_call(k->pool, 0, &req, &rep)) != KMS_OK) {
		return r;
	}
	if (rep.status != KMS_OK) {
		return rep.status;
	}
	k->cert = rep.u.certificate;
	return KMS_OK;
}

/* Whether two optional strings differ. */
static bool
differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

static bool
claims_differ(const struct kmsd_config *a, const struct kmsd_config *b)
{
	size_t i;

	if (a->num_idms_claims != b->num_idms_claims) {
		return true;
	}
	for (i = 0; i < a->num_idms_claims; i++) {
		if (differ(a->idms_claims[i], b->idms_claims[i])) {
			return true;
		}
	}
	return false;
}

/* Log the keys whose new value (nc) differs from the one in force (cur) but needs a restart. */
static void
log_ignored(const struct kmsd_config *cur, const struct kmsd_config *nc)
{
	const struct {
		bool changed;
		const char *name;
	} keys[] = {
		{differ(cur->listen_host, nc->listen_host) || cur->listen_port != nc->listen_port,
		 "listen"},
		{cur->threads != nc->threads, "threads"},
		{differ(cur->public_url, nc->public_url), "public_url"},
		{differ(cur->root, nc->root), "root"},
		{cur->tls_key_token != nc->tls_key_token, "tls_key_token"},
		{cur->client_cert_optional != nc->client_cert_optional, "client_cert"},
		{differ(cur->store, nc->store), "store"},
		{differ(cur->hsmd, nc->hsmd), "hsmd"},
		{differ(cur->hsmd_conf, nc->hsmd_conf), "hsmd_conf"},
		{differ(cur->hsmd_socket, nc->hsmd_socket), "hsmd_socket"},
		{cur->hsmd_timeout_ms != nc->hsmd_timeout_ms, "hsmd_timeout"},
		{differ(cur->idms_keys, nc->idms_keys), "idms_keys"},
		{differ(cur->idms_issuer, nc->idms_issuer), "idms_issuer"},
		{differ(cur->idms_audience, nc->idms_audience), "idms_audience"},
		{claims_differ(cur, nc), "idms_claims"},
		{cur->idms_leeway != nc->idms_leeway, "idms_leeway"},
		{cur->auth_ue != nc->auth_ue, "auth_ue"},
		{cur->auth_server != nc->auth_server, "auth_server"},
		{differ(cur->kms_id, nc->kms_id), "kms_id"},
		{cur->cipher_value_hex != nc->cipher_value_hex, "cipher_value"},
		{cur->user_id_base64 != nc->user_id_base64, "user_id"},
		{cur->wrap_alg_compat != nc->wrap_alg_compat, "wrap_algorithm"},
		{cur->next_period_lead != nc->next_period_lead, "next_period_lead"},
		{cur->rate_limit != nc->rate_limit, "rate_limit"},
		{cur->rate_burst != nc->rate_burst, "rate_burst"},
		{cur->has_metrics != nc->has_metrics ||
			 differ(cur->metrics_host, nc->metrics_host) ||
			 cur->metrics_port != nc->metrics_port,
		 "metrics_listen"},
		{cur->request_timeout_ms != nc->request_timeout_ms, "request_timeout"},
		{differ(cur->user, nc->user), "user"},
		{cur->sandbox != nc->sandbox, "sandbox"},
		{cur->log_level != nc->log_level, "log_level"},
		{cur->audit_checkpoint_every != nc->audit_checkpoint_every,
		 "audit_checkpoint_every"},
	};
	char list[768]; /* every name above, with ", " between them */
	size_t i, n = 0;

	list[0] = '\0';
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int w;

		if (!keys[i].changed) {
			continue;
		}
		w = snprintf(list + n, sizeof(list) - n, "%s%s", n > 0 ? ", " : "", keys[i].name);
		if (w < 0 || (size_t)w >= sizeof(list) - n) {
			break;
		}
		n += (size_t)w;
	}
	if (n > 0) {
		kms_log(KMS_LOG_WARN,
			"SIGHUP: changed in %s but ignored until kmsd restarts: %s (a reload takes "
			"tls_cert, tls_key, client_ca and client_spki only)",
			conf_path_g, list);
	}
}

/* "<first 8 bytes of the SHA-256, hex>, valid until <notAfter>" of ctx's certificate. */
static void
describe_cert(SSL_CTX *ctx, char *out, size_t cap)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	struct tm tm;
	char until[32] = "?";

	snprintf(out, cap, "?");
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &md_len) != 1 || md_len < 8) {
		return;
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		(void)strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	snprintf(out, cap, "SHA-256 %02x%02x%02x%02x%02x%02x%02x%02x..., valid until %s", md[0],
		 md[1], md[2], md[3], md[4], md[5], md[6], md[7], until);
}

static void
utc_now(char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(out, cap, "?");
	}
}

/*
 * SIGHUP: re-read kmsd.conf; build a new TLS context from its tls_cert, tls_key (or, with
 * tls_key_token, the token's key for the new certificate, checked by a signature) and
 * client_ca; replace the client_spki mappings; publish the context for new connections. Any
 * failure leaves everything as it was. Main thread only.
 */
static void
reload(struct kmsd *k)
{
	struct kmsd_config nc;
	struct kms_tls_config tcfg;
	SSL_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	char err[KMS_CONF_ERR_LEN];
	char when[32], cert[128];
	int r;

	memset(&nc, 0, sizeof(nc));
	snprintf(err, sizeof(err), "unknown");
	kmsd_notify("RELOADING=1", "reloading the TLS files and client_spki");
	kms_log(KMS_LOG_INFO, "SIGHUP: reloading %s", conf_path_g);
	if ((r = kmsd_config_load(&nc, conf_path_g, err, sizeof(err))) != KMS_OK) {
		goto out;
	}
	log_ignored(&k->cfg, &nc);
	memset(&tcfg, 0, sizeof(tcfg));
	tcfg.cert_file = nc.tls_cert;
	tcfg.key_file = nc.tls_key;
	tcfg.client_ca = nc.client_ca;
	tcfg.client_cert_optional = k->cfg.client_cert_optional; /* restart only */
	if (k->cfg.tls_key_token) {
		/* the key stays in the token; the new certificate must be for it */
		if ((r = kms_tlskey_new(&key, k->pool, nc.tls_cert, err, sizeof(err))) != KMS_OK ||
		    (r = kms_tlskey_check(key, err, sizeof(err))) != KMS_OK) {
			goto out;
		}
		tcfg.key = key;
		tcfg.key_file = NULL;
	} else if (nc.tls_key == NULL) {
		snprintf(err, sizeof(err),
			 "tls_key is not set (tls_key_token = yes takes a restart)");
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = kms_tls_ctx_new(&ctx, &tcfg, err, sizeof(err))) != KMS_OK) {
		goto out;
	}
	if ((r = kmsd_spki_set(nc.spki_map, nc.num_spki_map)) != KMS_OK) {
		snprintf(err, sizeof(err), "client_spki: %s", kms_strerror(r));
		goto out;
	}
	if ((r = kms_tls_ctx_publish(ctx)) != KMS_OK) {
		/* never with OpenSSL 3 (an atomic increment); the mappings are the new ones */
		snprintf(err, sizeof(err), "the new TLS context cannot be referenced");
		goto out;
	}
	SSL_CTX_free((SSL_CTX *)k->ssl); /* its connections and threads hold their own references */
	k->ssl = ctx;
	ctx = NULL;
	r = KMS_OK;
out:
	utc_now(when, sizeof(when));
	if (r == KMS_OK) {
		describe_cert((SSL_CTX *)k->ssl, cert, sizeof(cert));
		kms_log(KMS_LOG_INFO,
			"SIGHUP: reloaded; new connections get the server certificate %s, the "
			"client CAs of %s and %zu client_spki mappings",
			cert, nc.client_ca, nc.num_spki_map);
		snprintf(status_g, sizeof(status_g), "serving; TLS files reloaded at %s", when);
	} else {
		kms_log(KMS_LOG_ERR,
			"SIGHUP: reload failed, serving on with the previous TLS files and "
			"client_spki mappings: %s",
			err);
		snprintf(status_g, sizeof(status_g),
			 "serving with the previous TLS settings: the reload at %s failed: %s",
			 when, err);
	}
	kmsd_notify("READY=1", status_g);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key); /* the context holds its own reference */
	kmsd_config_free(&nc);
}

void
kmsd_main_loop(struct kmsd *k, atomic_int *stop)
{
	const struct timespec tick = {0, SIGNAL_TICK_MS * 1000000L};
	struct kms_hsmd_stats hs;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (!*stop) {
		/* the listeners are open and the threads run; every kms-hsmd answered HEALTH
		 * before kms_hsmd_pool_new returned */
		kms_hsmd_stats(k->pool, &hs);
		snprintf(status_g, sizeof(status_g),
			 "serving https://%s:%u%s/ on %u threads, kms-hsmd %u of %u up",
			 k->cfg.listen_host, k->cfg.listen_port, k->cfg.root, k->cfg.threads, hs.up,
			 hs.slots);
		kmsd_notify("READY=1", status_g);
	}
	while (!*stop) {
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGHUP) {
			reload(k);
		} else if (sig == SIGTERM || sig == SIGINT) {
			kms_log(KMS_LOG_INFO, "%s: stopping",
				sig == SIGTERM ? "SIGTERM" : "SIGINT");
			*stop = 1;
		}
	}
	kmsd_notify("STOPPING=1", "stopping");
}

int
main(int argc, char **argv)
{
	static struct kmsd k;
	struct kms_tls_config tcfg;
	EVP_PKEY *tls_key = NULL;
	struct kms_hsmd_config hcfg;
	char err[KMS_CONF_ERR_LEN];
	const char *conf_path = NULL;
	bool check = false;
	int status = 2;
	int r, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf_path = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (conf_path == NULL) {
		usage(stderr);
		return 2;
	}
	if (kms_harden_process() != KMS_OK) {
		fprintf(stderr, "kmsd: cannot make the process undumpable\n");
		return 2;
	}
	kms_log_init("kmsd", KMS_LOG_INFO);
	conf_path_g = conf_path;
	if (!check && kmsd_notify_init() != KMS_OK) {
		/* said in the log; kmsd serves without telling the service manager */
	}
	if (kmsd_config_load(&k.cfg, conf_path, err, sizeof(err)) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	kms_log_init("kmsd", (enum kms_log_level)k.cfg.log_level);
	if (kms_xml_init() != KMS_OK) {
		fprintf(stderr, "kmsd: libxml2 is unusable (too old, or without C14N)\n");
		goto out;
	}
	if (k.cfg.idms_keys != NULL) {
		struct kms_jwt_policy pol;

		if (kms_jwt_keys_load(&k.jwt_keys, err, sizeof(err), k.cfg.idms_keys) != KMS_OK) {
			fprintf(stderr, "kmsd: %s: idms_keys: %s\n", conf_path, err);
			goto out;
		}
		memset(&pol, 0, sizeof(pol));
		pol.issuer = k.cfg.idms_issuer;
		pol.audience = k.cfg.idms_audience;
		pol.claims = k.cfg.idms_claims;
		pol.num_claims = k.cfg.num_idms_claims;
		pol.leeway = k.cfg.idms_leeway;
		if (k.cfg.idms_audience == NULL ||
		    kms_jwt_policy_check(&pol, err, sizeof(err)) != KMS_OK) {
			fprintf(stderr, "kmsd: %s: the IdMS settings: %s\n", conf_path,
				k.cfg.idms_audience == NULL ? "idms_audience is missing" : err);
			goto out;
		}
	}
	if (kmsd_ratelimit_new(&k.rl, k.cfg.rate_limit, k.cfg.rate_burst) != KMS_OK) {
		goto out;
	}
	status = 3;
	memset(&tcfg, 0, sizeof(tcfg));
	tcfg.cert_file = k.cfg.tls_cert;
	tcfg.key_file = k.cfg.tls_key;
	tcfg.client_ca = k.cfg.client_ca;
	tcfg.client_cert_optional = k.cfg.client_cert_optional;
	/* with the key in the token, the TLS context waits for kms-hsmd (below) */
	if (!k.cfg.tls_key_token &&
	    kms_tls_ctx_new((SSL_CTX **)&k.ssl, &tcfg, err, sizeof(err)) != KMS_OK) {
		fprintf(stderr, "kmsd: TLS: %s\n", err);
		goto out;
	}
	{
		struct sigaction sa;
		sigset_t set;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		(void)sigaction(SIGPIPE, &sa, NULL);
		/* a file-size limit makes the write fail (and the audit append with it), not kmsd
		 */
		(void)sigaction(SIGXFSZ, &sa, NULL);
		/* taken by the main thread alone (kmsd_main_loop); blocked before any thread
		 * starts, so that every thread inherits the mask */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
			fprintf(stderr, "kmsd: cannot block the signals\n");
			goto out;
		}
	}
	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.hsmd_path = k.cfg.hsmd;
	hcfg.hsmd_conf = k.cfg.hsmd_conf;
	hcfg.socket_path = k.cfg.hsmd_socket;
	hcfg.slots = check ? 1 : k.cfg.threads;
	hcfg.timeout_ms = k.cfg.hsmd_timeout_ms;
	if (k.cfg.user != NULL) {
		/* kms-hsmd runs as that user from its first start, not only after kmsd dropped */
		if (resolve_user(k.cfg.user, &hcfg.uid, &hcfg.gid, err, sizeof(err)) != KMS_OK) {
			fprintf(stderr, "kmsd: %s: user: %s\n", conf_path_g, err);
			status = 2; /* a configuration error */
			goto out;
		}
		hcfg.set_user = true;
	}
	/* before kms-hsmd logs in: a second kmsd on the same port must not start at all */
	if (!check && kmsd_listen_free(&k.cfg, err, sizeof(err)) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	if ((r = kms_hsmd_pool_new(&k.pool, &hcfg, START_WAIT_MS, err, sizeof(err))) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	if ((r = fetch_certificate(&k)) != KMS_OK) {
		fprintf(stderr, "kmsd: kms-hsmd has no KMS certificate: %s\n", kms_strerror(r));
		goto out;
	}
	if (k.cfg.tls_key_token) {
		/* the public key from tls_cert, signatures by kms-hsmd, checked once here */
		if (kms_tlskey_new(&tls_key, k.pool, k.cfg.tls_cert, err, sizeof(err)) != KMS_OK ||
		    kms_tlskey_check(tls_key, err, sizeof(err)) != KMS_OK) {
			fprintf(stderr, "kmsd: TLS: %s\n", err);
			goto out;
		}
		tcfg.key = tls_key;
		if (kms_tls_ctx_new((SSL_CTX **)&k.ssl, &tcfg, err, sizeof(err)) != KMS_OK) {
			fprintf(stderr, "kmsd: TLS: %s\n", err);
			goto out;
		}
	}
	if (check) {
		printf("kmsd: configuration and kms-hsmd OK; KMS %s\n", k.cert.kms_uri);
		status = 0;
		goto out;
	}
	if (k.cfg.user != NULL &&
	    drop_privileges(k.cfg.user, hcfg.uid, hcfg.gid, err, sizeof(err)) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "kmsd: cannot set no_new_privs\n");
		goto out;
	}
	if ((r = kmsd_spki_set(k.cfg.spki_map, k.cfg.num_spki_map)) != KMS_OK) {
		fprintf(stderr, "kmsd: client_spki: %s\n", kms_strerror(r));
		goto out;
	}
	status = 1;
	if ((r = kmsd_serve(&k, &stop_flag, err, sizeof(err))) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	kms_log(KMS_LOG_INFO, "stopped");
	status = 0;
out:
	if (kms_tls_ctx_publish(NULL) != KMS_OK || kmsd_spki_set(NULL, 0) != KMS_OK) {
		status = status == 0 ? 1 : status; /* never: releasing takes no reference */
	}
	kmsd_notify_close();
	kms_hsmd_pool_free(k.pool);
	kms_jwt_keys_free(k.jwt_keys);
	kmsd_ratelimit_free(k.rl);
	SSL_CTX_free((SSL_CTX *)k.ssl);
	EVP_PKEY_free(tls_key); /* the SSL_CTX held its own reference */
	kmsd_config_free(&k.cfg);
	return status;
}
