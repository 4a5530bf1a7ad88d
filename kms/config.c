/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/hex.h"
#include "kms/config.h"

#include "kms/supervise.h"

#include "common/banned.h"

static const char *const auth_words[] = {"mtls", "token", "both", "either", NULL};
static const char *const optional_words[] = {"required", "optional", NULL};
static const char *const enc_words[] = {"base64", "hex", NULL};
static const char *const uid_words[] = {"hex", "base64", NULL};
static const char *const wrap_words[] = {"kw-aes-256-pad", "kw-aes256", NULL};
static const char *const level_words[] = {"err", "warn", "info", "debug", NULL};

/* kmsd.conf: deploy/kmsd.conf.example says what each key means. */
static const struct kms_conf_key keys[] = {
	{"listen", KMS_CONF_STRING, 0, "127.0.0.1:8443", 0, 0, NULL},
	{"threads", KMS_CONF_U64, 0, "0", 0, KMSD_MAX_THREADS, NULL},
	{"public_url", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"root", KMS_CONF_STRING, 0, "/keymanagement/identity/v1", 0, 0, NULL},
	{"tls_cert", KMS_CONF_PATH, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"tls_key", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"tls_key_token", KMS_CONF_BOOL, 0, "no", 0, 0, NULL},
	{"client_ca", KMS_CONF_PATH, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"client_cert", KMS_CONF_ENUM, 0, "required", 0, 0, optional_words},
	{"client_spki", KMS_CONF_STRING, KMS_CONF_REPEATABLE, NULL, 0, 0, NULL},
	{"store", KMS_CONF_PATH, KMS_CONF_REQUIRED, NULL, 0, 0, NULL},
	{"hsmd", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"hsmd_conf", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"hsmd_socket", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"hsmd_timeout", KMS_CONF_U64, 0, "10000", 100, 600000, NULL},
	{"idms_keys", KMS_CONF_PATH, 0, NULL, 0, 0, NULL},
	{"idms_issuer", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"idms_audience", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"idms_claims", KMS_CONF_STRING, 0, "mcptt_id mcdata_id mcvideo_id", 0, 0, NULL},
	{"idms_leeway", KMS_CONF_U64, 0, "60", 0, 600, NULL},
	{"auth_ue", KMS_CONF_ENUM, 0, "mtls", 0, 0, auth_words},
	{"auth_server", KMS_CONF_ENUM, 0, "mtls", 0, 0, auth_words},
	{"kms_id", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"cipher_value", KMS_CONF_ENUM, 0, "base64", 0, 0, enc_words},
	{"user_id", KMS_CONF_ENUM, 0, "hex", 0, 0, uid_words},
	{"wrap_algorithm", KMS_CONF_ENUM, 0, "kw-aes-256-pad", 0, 0, wrap_words},
	{"next_period_lead", KMS_CONF_U64, 0, "259200", 0, 31536000, NULL},
	{"rate_limit", KMS_CONF_U64, 0, "10", 0, 1000000, NULL},
	{"rate_burst", KMS_CONF_U64, 0, "20", 1, 1000000, NULL},
	{"metrics_listen", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"request_timeout", KMS_CONF_U64, 0, "10000", 1000, 600000, NULL},
	{"user", KMS_CONF_STRING, 0, NULL, 0, 0, NULL},
	{"sandbox", KMS_CONF_BOOL, 0, "yes", 0, 0, NULL},
	{"log_level", KMS_CONF_ENUM, 0, "info", 0, 0, level_words},
	/* signed audit checkpoints: every this many records (0: never) */
	{"audit_checkpoint_every", KMS_CONF_U64, 0, "1000", 0, 1000000, NULL},
};

int
kmsd_parse_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon;
	const char *h = s;
	size_t hlen;
	uint64_t v = 0;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':') {
			return KMS_ERR_PARSE;
		}
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			return KMS_ERR_PARSE;
		}
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= cap ||
	    kms_conf_decimal(colon + 1, strlen(colon + 1), 65535, &v) != KMS_OK || v < 1) {
		return KMS_ERR_PARSE;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)v;
	return KMS_OK;
}

static int
opt_str(const struct kms_conf *c, const char *name, const char **out)
{
	*out = NULL;
	return kms_conf_count(c, name) == 0 ? KMS_OK : kms_conf_str(c, name, 0, out);
}

static int
fail(char *err, size_t err_len, const struct kms_conf *c, const char *path, const char *key,
     const char *why)
{
	unsigned int line = kms_conf_line(c, key, 0);

	if (line > 0) {
		snprintf(err, err_len, "%s:%u: %s: %s", path, line, key, why);
	} else {
		snprintf(err, err_len, "%s: %s: %s", path, key, why);
	}
	return KMS_ERR_PARSE;
}

/* "client_spki = <64 hex digits> <client id>" */
static int
load_spki_map(struct kmsd_config *cfg, const char *path, char *err, size_t err_len)
{
	size_t n = kms_conf_count(cfg->conf, "client_spki");
	size_t i;

	if (n > KMSD_MAX_SPKI_MAP) {
		return fail(err, err_len, cfg->conf, path, "client_spki", "too many entries");
	}
	if (n == 0) {
		return KMS_OK;
	}
	if ((cfg->spki_map = calloc(n, sizeof(*cfg->spki_map))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		const char *v = NULL;
		const char *id;
		size_t id_len, j;
		unsigned int line;

		if (kms_conf_str(cfg->conf, "client_spki", i, &v) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		line = kms_conf_line(cfg->conf, "client_spki", i);
		id = v + 64;
		id_len = strlen(v) > 65 ? strlen(v) - 65 : 0;
		if (strlen(v) < 66 || v[64] != ' ' ||
		    kms_hex_decode(cfg->spki_map[i].spki_sha256, 32, v, 64) != KMS_OK ||
		    id_len > KMS_PROTO_MAX_CLIENT_ID) {
			snprintf(err, err_len,
				 "%s:%u: client_spki: want the SHA-256 of a SubjectPublicKeyInfo "
				 "(64 hex digits), a space and a client id",
				 path, line);
			return KMS_ERR_PARSE;
		}
		id++;
		for (j = 0; j < id_len; j++) {
			if (id[j] <= 0x20 || id[j] >= 0x7f) {
				snprintf(err, err_len,
					 "%s:%u: client_spki: a client id is visible ASCII", path,
					 line);
				return KMS_ERR_PARSE;
			}
		}
		memcpy(cfg->spki_map[i].client_id, id, id_len);
	}
	cfg->num_spki_map = n;
	return KMS_OK;
}

int
kmsd_config_load(struct kmsd_config *cfg, const char *path, char *err, size_t err_len)
{
	const char *s = NULL;
	uint64_t u = 0;
	size_t e = 0;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if ((r = kms_conf_load(&cfg->conf, err, err_len, keys, sizeof(keys) / sizeof(keys[0]),
			       path)) != KMS_OK) {
		return r;
	}
	if (kms_conf_str(cfg->conf, "listen", 0, &s) != KMS_OK ||
	    kmsd_parse_hostport(s, cfg->listen_host_buf, sizeof(cfg->listen_host_buf),
				&cfg->listen_port) != KMS_OK) {
		return fail(err, err_len, cfg->conf, path, "listen", "want HOST:PORT or [V6]:PORT");
	}
	cfg->listen_host = cfg->listen_host_buf;
	if (kms_conf_u64(cfg->conf, "threads", 0, &u) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	if (u == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		u = n < 1 ? 1 : n > KMSD_MAX_THREADS ? KMSD_MAX_THREADS : (uint64_t)n;
	}
	cfg->threads = (unsigned int)u;
	if (opt_str(cfg->conf, "public_url", &cfg->public_url) != KMS_OK ||
	    kms_conf_str(cfg->conf, "root", 0, &cfg->root) != KMS_OK ||
	    kms_conf_str(cfg->conf, "tls_cert", 0, &cfg->tls_cert) != KMS_OK ||
	    opt_str(cfg->conf, "tls_key", &cfg->tls_key) != KMS_OK ||
	    kms_conf_bool(cfg->conf, "tls_key_token", 0, &cfg->tls_key_token) != KMS_OK ||
	    kms_conf_str(cfg->conf, "client_ca", 0, &cfg->client_ca) != KMS_OK ||
	    kms_conf_enum(cfg->conf, "client_cert", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->client_cert_optional = e == 1;
	if (cfg->tls_key_token && cfg->tls_key != NULL) {
		return fail(err, err_len, cfg->conf, path, "tls_key",
			    "set, but tls_key_token = yes: the key is in the token; set one only");
	}
	if (!cfg->tls_key_token && cfg->tls_key == NULL) {
		return fail(err, err_len, cfg->conf, path, "tls_key",
			    "missing: the server's private key (PEM), or tls_key_token = yes");
	}
	if (cfg->public_url == NULL) {
		return fail(
			err, err_len, cfg->conf, path, "public_url",
			"missing: the https:// address clients use (ClientReqUrl of responses)");
	}
	if (strncmp(cfg->public_url, "https://", 8) != 0 || strlen(cfg->public_url) > 1024 ||
	    cfg->public_url[strlen(cfg->public_url) - 1] == '/') {
		return fail(err, err_len, cfg->conf, path, "public_url",
			    "want an https:// URL without a trailing /");
	}
	if (cfg->root[0] != '/' || strlen(cfg->root) > 255 || strlen(cfg->root) < 2 ||
	    cfg->root[strlen(cfg->root) - 1] == '/' || strchr(cfg->root, '?') != NULL) {
		return fail(err, err_len, cfg->conf, path, "root",
			    "want an absolute path without a trailing /");
	}
	if ((r = load_spki_map(cfg, path, err, err_len)) != KMS_OK) {
		return r;
	}
	if (kms_conf_str(cfg->conf, "store", 0, &cfg->store) != KMS_OK ||
	    opt_str(cfg->conf, "hsmd", &cfg->hsmd) != KMS_OK ||
	    opt_str(cfg->conf, "hsmd_conf", &cfg->hsmd_conf) != KMS_OK ||
	    opt_str(cfg->conf, "hsmd_socket", &cfg->hsmd_socket) != KMS_OK ||
	    kms_conf_u64(cfg->conf, "hsmd_timeout", 0, &u) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->hsmd_timeout_ms = (unsigned int)u;
	if (cfg->hsmd_socket != NULL) {
		/* systemd starts kms-hsmd with its own configuration, as its own user */
		if (cfg->hsmd_conf != NULL || cfg->hsmd != NULL) {
			return fail(
				err, err_len, cfg->conf, path,
				cfg->hsmd_conf != NULL ? "hsmd_conf" : "hsmd",
				"set, but hsmd_socket is set too: with a socket, systemd starts "
				"kms-hsmd (kms-hsmd@.service names its program and "
				"configuration); set one of hsmd_conf and hsmd_socket");
		}
		if (cfg->hsmd_socket[0] != '/' || strlen(cfg->hsmd_socket) > 107) {
			return fail(err, err_len, cfg->conf, path, "hsmd_socket",
				    "want the absolute path of kms-hsmd.socket's ListenStream= "
				    "(at most 107 octets)");
		}
	} else if (cfg->hsmd_conf == NULL) {
		return fail(err, err_len, cfg->conf, path, "hsmd_conf",
			    "missing: kms-hsmd's configuration file (kmsd starts kms-hsmd), or "
			    "hsmd_socket (systemd starts it)");
	} else if (cfg->hsmd == NULL) {
		/* kms-hsmd beside this program, when the configuration does not name it */
		if (kms_hsmd_default_path(cfg->hsmd_buf, sizeof(cfg->hsmd_buf)) != KMS_OK) {
			return fail(err, err_len, cfg->conf, path, "hsmd",
				    "not set, and kms-hsmd is not beside kmsd");
		}
		cfg->hsmd = cfg->hsmd_buf;
	}
	if (opt_str(cfg->conf, "idms_keys", &cfg->idms_keys) != KMS_OK ||
	    opt_str(cfg->conf, "idms_issuer", &cfg->idms_issuer) != KMS_OK ||
	    opt_str(cfg->conf, "idms_audience", &cfg->idms_audience) != KMS_OK ||
	    kms_conf_str(cfg->conf, "idms_claims", 0, &s) != KMS_OK ||
	    kms_conf_u64(cfg->conf, "idms_leeway", 0, &cfg->idms_leeway) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	if (strlen(s) >= sizeof(cfg->idms_claims_buf)) {
		return fail(err, err_len, cfg->conf, path, "idms_claims", "too long");
	}
	memcpy(cfg->idms_claims_buf, s, strlen(s) + 1);
	{
		char *p = cfg->idms_claims_buf;
		while (*p != '\0') {
			while (*p == ' ') {
				*p++ = '\0';
			}
			if (*p == '\0') {
				break;
			}
			if (cfg->num_idms_claims ==
			    sizeof(cfg->idms_claims) / sizeof(cfg->idms_claims[0])) {
				return fail(err, err_len, cfg->conf, path, "idms_claims",
					    "at most 8 claim names");
			}
			cfg->idms_claims[cfg->num_idms_claims++] = p;
			while (*p != '\0' && *p != ' ') {
				p++;
			}
		}
	}
	if (cfg->num_idms_claims == 0) {
		return fail(err, err_len, cfg->conf, path, "idms_claims", "want claim names");
	}
	if (kms_conf_enum(cfg->conf, "auth_ue", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->auth_ue = (enum kmsd_auth)e;
	if (kms_conf_enum(cfg->conf, "auth_server", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->auth_server = (enum kmsd_auth)e;
	if ((cfg->auth_ue != KMSD_AUTH_MTLS || cfg->auth_server != KMSD_AUTH_MTLS) &&
	    (cfg->idms_keys == NULL || cfg->idms_audience == NULL)) {
		return fail(err, err_len, cfg->conf, path, "idms_keys",
			    "bearer tokens are accepted (auth_ue or auth_server), so idms_keys and "
			    "idms_audience must be set");
	}
	if (cfg->client_cert_optional && cfg->auth_ue != KMSD_AUTH_TOKEN &&
	    cfg->auth_server != KMSD_AUTH_TOKEN && cfg->auth_ue != KMSD_AUTH_EITHER &&
	    cfg->auth_server != KMSD_AUTH_EITHER) {
		return fail(err, err_len, cfg->conf, path, "client_cert",
			    "optional makes sense only when some class may use a bearer token "
			    "alone");
	}
	if (opt_str(cfg->conf, "kms_id", &cfg->kms_id) != KMS_OK ||
	    kms_conf_enum(cfg->conf, "cipher_value", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->cipher_value_hex = e == 1;
	if (kms_conf_enum(cfg->conf, "user_id", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->user_id_base64 = e == 1;
	if (kms_conf_enum(cfg->conf, "wrap_algorithm", 0, &e) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->wrap_alg_compat = e == 1;
	if (kms_conf_u64(cfg->conf, "next_period_lead", 0, &cfg->next_period_lead) != KMS_OK ||
	    kms_conf_u64(cfg->conf, "rate_limit", 0, &cfg->rate_limit) != KMS_OK ||
	    kms_conf_u64(cfg->conf, "rate_burst", 0, &cfg->rate_burst) != KMS_OK ||
	    opt_str(cfg->conf, "metrics_listen", &s) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	if (s != NULL) {
		if (kmsd_parse_hostport(s, cfg->metrics_host_buf, sizeof(cfg->metrics_host_buf),
					&cfg->metrics_port) != KMS_OK) {
			return fail(err, err_len, cfg->conf, path, "metrics_listen",
				    "want HOST:PORT or [V6]:PORT");
		}
		cfg->metrics_host = cfg->metrics_host_buf;
		cfg->has_metrics = true;
	}
	if (kms_conf_u64(cfg->conf, "request_timeout", 0, &cfg->request_timeout_ms) != KMS_OK ||
	    opt_str(cfg->conf, "user", &cfg->user) != KMS_OK ||
	    kms_conf_bool(cfg->conf, "sandbox", 0, &cfg->sandbox) != KMS_OK ||
	    kms_conf_enum(cfg->conf, "log_level", 0, &e) != KMS_OK ||
	    kms_conf_u64(cfg->conf, "audit_checkpoint_every", 0, &cfg->audit_checkpoint_every) !=
		    KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	cfg->log_level = (int)e;
	return KMS_OK;
}

void
kmsd_config_free(struct kmsd_config *cfg)
{
	free(cfg->spki_map);
	kms_conf_free(cfg->conf);
	memset(cfg, 0, sizeof(*cfg));
}

/*
 * The client_spki mappings in force: kmsd.conf's at start, replaced on SIGHUP (kms/main.c)
 * while the event-loop threads look them up for every request (kms/http.c). A read-write lock:
 * lookups share it, the rare replacement takes it alone, and the old array is freed after.
 */
static pthread_rwlock_t spki_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct kmsd_spki_map *spki_map;
static size_t num_spki_map;
static bool spki_installed;

int
kmsd_spki_set(const struct kmsd_spki_map *map, size_t num)
{
	struct kmsd_spki_map *copy = NULL;
	struct kmsd_spki_map *old;

	if (num > KMSD_MAX_SPKI_MAP) {
		return KMS_ERR_TOO_LARGE;
	}
	if (num > 0) {
		if ((copy = calloc(num, sizeof(*copy))) == NULL) {
			return KMS_ERR_NOMEM;
		}
		memcpy(copy, map, num * sizeof(*copy));
	}
	pthread_rwlock_wrlock(&spki_lock);
	old = spki_map;
	spki_map = copy;
	num_spki_map = num;
	spki_installed = true;
	pthread_rwlock_unlock(&spki_lock);
	free(old);
	return KMS_OK;
}

bool
kmsd_spki_lookup(const struct kmsd_config *cfg, const uint8_t spki_sha256[static 32], char *out,
		 size_t cap)
{
	const struct kmsd_spki_map *map;
	size_t i, num;
	bool found = false;

	pthread_rwlock_rdlock(&spki_lock);
	map = spki_installed ? spki_map : cfg->spki_map;
	num = spki_installed ? num_spki_map : cfg->num_spki_map;
	for (i = 0; i < num; i++) {
		if (CRYPTO_memcmp(map[i].spki_sha256, spki_sha256, 32) == 0) {
			snprintf(out, cap, "%s", map[i].client_id);
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&spki_lock);
	return found;
}
