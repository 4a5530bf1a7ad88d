/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd - the TS 33.180 Key Management Server's network-facing process (ARCHITECTURE.md).
 *
 *   kmsd -c FILE           serve until SIGTERM or SIGINT
 *   kmsd -c FILE --check   load and check the configuration, start kms-hsmd, check that it
 *                          answers, and exit
 *
 * Exit status: 0 after a clean stop (or a passed --check); 1 when serving failed; 2 for a bad
 * command line or configuration; 3 when kms-hsmd or the TLS set-up failed at start.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <openssl/ssl.h>

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

#define START_WAIT_MS 60000u

static volatile int stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: kmsd -c FILE [--check]\n"
		"\n"
		"The Key Management Server of 3GPP mission-critical services (TS 33.180): it\n"
		"serves init, keyprov and certcache over HTTPS with mutual TLS and IdMS bearer\n"
		"tokens, and starts kms-hsmd, which alone touches the token. FILE is kmsd.conf\n"
		"(deploy/kmsd.conf.example explains every key). --check loads the configuration,\n"
		"starts kms-hsmd and checks it answers, then exits 0.\n"
		"\n"
		"Signals: SIGTERM and SIGINT stop it cleanly. Exit status: 0 clean stop or passed\n"
		"check, 1 serving failed, 2 bad command line or configuration, 3 start-up "
		"failed.\n");
}

/* Give up root for the configured user (its primary group, no supplementary groups). */
static int
drop_privileges(const char *user, char *err, size_t err_len)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, err_len, "user %s: %s", user,
			 errno != 0 ? strerror(errno) : "unknown");
		return KMS_ERR_INVALID_ARG;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    setuid(0) == 0) {
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

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		(void)sigaction(SIGPIPE, &sa, NULL);
		/* a file-size limit makes the write fail (and the audit append with it), not kmsd
		 */
		(void)sigaction(SIGXFSZ, &sa, NULL);
		sa.sa_handler = on_signal;
		(void)sigaction(SIGTERM, &sa, NULL);
		(void)sigaction(SIGINT, &sa, NULL);
	}
	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.hsmd_path = k.cfg.hsmd;
	hcfg.hsmd_conf = k.cfg.hsmd_conf;
	hcfg.slots = check ? 1 : k.cfg.threads;
	hcfg.timeout_ms = k.cfg.hsmd_timeout_ms;
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
	if (k.cfg.user != NULL && drop_privileges(k.cfg.user, err, sizeof(err)) != KMS_OK) {
		fprintf(stderr, "kmsd: %s\n", err);
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "kmsd: cannot set no_new_privs\n");
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
	kms_hsmd_pool_free(k.pool);
	kms_jwt_keys_free(k.jwt_keys);
	kmsd_ratelimit_free(k.rl);
	SSL_CTX_free((SSL_CTX *)k.ssl);
	EVP_PKEY_free(tls_key); /* the SSL_CTX held its own reference */
	kmsd_config_free(&k.cfg);
	return status;
}
