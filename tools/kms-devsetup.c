/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-devsetup - the development domain of the KMS, complete, in one directory (docs/dev-domain.md;
 * deploy/quickstart runs it for var/dev). Development only: the TrKs and InKs of the clients sit
 * in plain files, the token's user PIN in a file, every key of the PKI unencrypted.
 *
 *   kms-devsetup --dir DIR [--hsmd PATH] [--force] [--listen HOST:PORT] [--metrics HOST:PORT]
 *                [--module PATH]
 *   kms-devsetup token --dir DIR --sub NAME --mcid URI [--ttl S] [--scope S] [--aud A]
 *                [--iss I] [--now UNIX]
 *
 * The first form builds everything in DIR.tmp.XXXXXX beside DIR and renames it to DIR at the
 * end; on any failure it removes the partial directory and says which step failed. A DIR that
 * is complete (its marker file, written last, is there) is left alone (exit 0) unless --force,
 * which builds a new one and then replaces the old one. The steps: a SoftHSM token (--token nss:
 * an NSS softoken database, docs/tokens.md); the key
 * ceremony's part (KEK, wrapped KSAK and z_T, the KMS certificate of kms.example.org); the
 * roster of three clients with their TrK and InK; a development CA and the server certificate;
 * the clients' certificates; an IdMS signing key and its JWKS; the configuration files; the
 * marker. KMS_DEVSETUP_FAIL_AFTER=<step> (tests only) makes it fail right after that step.
 *
 * The second form prints an ES256 JWT signed with DIR/pki/idms-key.pem, as the IdMS would issue
 * it, for curl demonstrations and tests.
 *
 * Exit status: 0 done (or nothing to do), 1 a step failed, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "hsm/uid.h"
#include "proto/store.h"
#include "tools/devdomain.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define PROG           "kms-devsetup"
#define MAX_DIR        1024 /* DIR, absolute: every path in the configuration stays short */
#define TOKEN_LABEL    "kms-dev"
#define MARKER         "complete"
#define MARKER_TEXT    "kms-devsetup layout 1\n"
#define BUILD_CONF     "token/softhsm2.build.conf"
#define DEF_LISTEN     "127.0.0.1:8443"
#define DEF_METRICS    "127.0.0.1:9443"
#define IDMS_ISSUER    "https://idms.example.org"
#define IDMS_KID       "dev-idms-1"
#define KM_SCOPE       "3gpp:mc:ptt_key_management_service"
#define CA_DAYS        3652 /* 10 years */
#define LEAF_DAYS      730  /* 2 years */
#define PIN_OCTETS     16   /* random octets of each PIN, written as 32 hex digits */
#define MAX_TTL        31536000
#define TEXT_CAP       16384
#define B64URL_LEN(n)  (((n) + 2) / 3 * 4 + 1)
#define MAX_HOST       253
#define MAX_TOKEN_JSON 8192

/* The roster: client id = its identity = its certificate's SAN URI. */
static const struct dev_client {
	const char *name; /* clients/<name>/, and the labels tk.1.<name>@example.org */
	const char *id;
	enum kms_client_class cls;
} dev_clients[] = {
	{"alice", "sip:alice@example.org", KMS_CLIENT_UE},
	{"bob", "sip:bob@example.org", KMS_CLIENT_UE},
	{"mcptt-server", "sip:mcptt-server@example.org", KMS_CLIENT_SERVER},
};
#define NUM_CLIENTS (sizeof(dev_clients) / sizeof(dev_clients[0]))

struct setup {
	char dir[MAX_DIR + 1];  /* the final DIR, absolute */
	char tmp[MAX_DIR + 32]; /* DIR.tmp.XXXXXX while building */
	const char *hsmd;       /* absolute, or NULL */
	const char *module;     /* the PKCS#11 module, absolute */
	const char *listen;     /* HOST:PORT */
	const char *metrics;    /* HOST:PORT */
	char public_url[MAX_HOST + 32];
	char extra_san[MAX_HOST + 8]; /* the listen host, when not one of the defaults */
	struct kms_p11 *p11;
	struct kms_store *st;
	enum kms_wrap_mode wrap_mode;
	EVP_PKEY *ca_key;
	X509 *ca;
	int nss;               /* --token nss: an NSS softoken database (docs/tokens.md) */
	char nss_params[512];  /* its module_params, with the final DIR */
	CK_MECHANISM_TYPE kwp; /* the token's RFC 5649 mechanism: 0x210a SoftHSM, 0x210b NSS */
	int tls_in_token; /* --tls-in-token: the server key pair in the token (TLS_KEY_LABEL) */
	int preminted;    /* --preminted: issuer = pre-minted, the clients' sets made here */
	/* --preminted: the ceremony's issuing keys, kept until the roster is there */
	struct kms_eccsi_kms *eccsi;
	struct kms_sakke_kms *sakke;
	EVP_PKEY *tls_pub; /* then its public key, for the server certificate */
};

#define TLS_KEY_LABEL   "kms.tls"   /* kms-hsmd.conf's tls_key with --tls-in-token */
#define AUDIT_KEY_LABEL "kms.audit" /* kms-hsmd.conf's audit_key: signs audit checkpoints */

/* A growing text (configuration files) with a fixed cap. */
struct text {
	char buf[TEXT_CAP];
	size_t len;
	int overflow;
};

static void textf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
textf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(t->buf) - t->len) {
		t->overflow = 1;
		return;
	}
	t->len += (size_t)n;
}

static int failf(char *err, size_t cap, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Say why a step failed (into err) and return r. */
static int
failf(char *err, size_t cap, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return r;
}

static int pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? KMS_ERR_TOO_LARGE : KMS_OK;
}

/* out := the building directory's rel */
static int
tpath(const struct setup *su, char *out, size_t cap, const char *rel)
{
	return pathf(out, cap, "%s/%s", su->tmp, rel);
}

static int
write_text(const struct setup *su, const char *rel, const struct text *t, mode_t mode, char *err,
	   size_t err_len)
{
	char p[PATH_MAX];

	if (t->overflow) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "%s: text too long", rel);
	}
	if (tpath(su, p, sizeof(p), rel) != KMS_OK ||
	    kms_devtoken_write_file(p, t->buf, t->len, mode) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_IO, "cannot write %s: %s", rel, strerror(errno));
	}
	return KMS_OK;
}

static int
make_dir(const struct setup *su, const char *rel, mode_t mode, char *err, size_t err_len)
{
	char p[PATH_MAX];

	if (tpath(su, p, sizeof(p), rel) != KMS_OK || mkdir(p, mode) != 0 || chmod(p, mode) != 0) {
		return failf(err, err_len, KMS_ERR_IO, "cannot create %s/: %s", rel,
			     strerror(errno));
	}
	return KMS_OK;
}

/* Random octets as lower-case hex in out (2 * n + 1 octets), for PINs. */
static int
random_hex(char *out, size_t n)
{
	static const char d[] = "0123456789abcdef";
	uint8_t b[64];
	size_t i;

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1) {
		return KMS_ERR_RANDOM;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
	kms_memzero(b, sizeof(b));
	return KMS_OK;
}

/* Step 1: the SoftHSM token and its configuration for the build (or the NSS database and its
 * initialisation strings), the user PIN file. */
static int
step_token(struct setup *su, char *err, size_t err_len)
{
	struct kms_secret *pins = NULL; /* SO PIN, user PIN and the PIN file's text */
	char conf[PATH_MAX], tokens[PATH_MAX], pin_path[PATH_MAX], build_params[512];
	char *so_pin, *user_pin;
	int r;

	if ((r = make_dir(su, "token", 0700, err, err_len)) != KMS_OK ||
	    (r = make_dir(su, su->nss ? "token/nssdb" : "token/tokens", 0700, err, err_len)) !=
		    KMS_OK) {
		return r;
	}
	if (tpath(su, conf, sizeof(conf), BUILD_CONF) != KMS_OK ||
	    tpath(su, tokens, sizeof(tokens), su->nss ? "token/nssdb" : "token/tokens") != KMS_OK ||
	    tpath(su, pin_path, sizeof(pin_path), "user.pin") != KMS_OK) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "path too long");
	}
	if (su->nss) {
		/* the database is built in DIR.tmp.XXXXXX: its files name no path, so it moves */
		char final[PATH_MAX];

		if (kms_devtoken_nss_params(build_params, sizeof(build_params), tokens,
					    TOKEN_LABEL) != KMS_OK ||
		    pathf(final, sizeof(final), "%s/token/nssdb", su->dir) != KMS_OK ||
		    kms_devtoken_nss_params(su->nss_params, sizeof(su->nss_params), final,
					    TOKEN_LABEL) != KMS_OK) {
			return failf(err, err_len, KMS_ERR_TOO_LARGE,
				     "the NSS database's path is too long or has a quote");
		}
	} else if (kms_devtoken_write_conf(conf, tokens) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_IO, "cannot write %s: %s", BUILD_CONF,
			     strerror(errno));
	}
	pins = kms_secret_new(2 * (2 * PIN_OCTETS + 2));
	if (pins == NULL) {
		return failf(err, err_len, KMS_ERR_NOMEM, "cannot lock memory for the PINs");
	}
	so_pin = (char *)pins->data;
	user_pin = so_pin + 2 * PIN_OCTETS + 2;
	if (random_hex(so_pin, PIN_OCTETS) != KMS_OK ||
	    random_hex(user_pin, PIN_OCTETS) != KMS_OK) {
		r = failf(err, err_len, KMS_ERR_RANDOM, "no random PINs");
		goto out;
	}
	if (su->nss) {
		if ((r = kms_devtoken_nss_init(su->module, build_params, TOKEN_LABEL, user_pin)) !=
		    KMS_OK) {
			r = failf(err, err_len, r, "cannot set up the NSS database with %s: %s",
				  su->module, kms_strerror(r));
			goto out;
		}
	} else if ((r = kms_devtoken_init_token(conf, TOKEN_LABEL, so_pin, user_pin)) != KMS_OK) {
		r = failf(err, err_len, r, "softhsm2-util could not initialise the token: %s",
			  kms_strerror(r));
		goto out;
	}
	kms_memzero(so_pin, 2 * PIN_OCTETS + 1); /* not kept anywhere */
	user_pin[2 * PIN_OCTETS] = '\n';
	if (kms_devtoken_write_file(pin_path, user_pin, 2 * PIN_OCTETS + 1, 0600) != KMS_OK) {
		r = failf(err, err_len, KMS_ERR_IO, "cannot write user.pin: %s", strerror(errno));
		goto out;
	}
	if ((r = kms_devtoken_open_params(&su->p11, su->module, su->nss ? build_params : NULL,
					  TOKEN_LABEL, pin_path)) != KMS_OK) {
		r = failf(err, err_len, r, "cannot open the new token with %s: %s", su->module,
			  kms_strerror(r));
		goto out;
	}
	r = KMS_OK;
out:
	kms_secret_free(pins);
	return r;
}

static void
print_fingerprint(const char *what, const uint8_t *data, size_t len)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256(data, len, md);
	printf(PROG ":       %s SHA-256 ", what);
	for (i = 0; i < 8; i++) {
		printf("%02X%s", md[i], i + 1 < 8 ? ":" : "...\n");
	}
}

/* The development certificate's validity (from now) and KmsDomainList; it has no Issuer. */
#define DEV_CERT_DAYS    3653 /* ten years, leap days included */
#define DEV_CERT_DOMAINS "example.org"

/*
 * The certificate's fields beyond the ceremony's public values (kms_devdomain_ceremony): valid
 * from now for DEV_CERT_DAYS, the domain list DEV_CERT_DOMAINS, no issuer. KMS_OK or the
 * store's error (said in err).
 */
static int
complete_cert(struct kms_store *st, char *err, size_t err_len)
{
	struct kms_store_cert *cert;
	int64_t now = (int64_t)time(NULL);
	int r;

	if ((cert = calloc(1, sizeof(*cert))) == NULL) {
		return failf(err, err_len, KMS_ERR_NOMEM, "out of memory");
	}
	if ((r = kms_store_get_cert(st, cert)) == KMS_OK) {
		cert->issuer[0] = '\0';
		cert->has_valid_from = 1;
		cert->valid_from = now;
		cert->has_valid_to = 1;
		cert->valid_to = now + (int64_t)DEV_CERT_DAYS * 86400;
		snprintf(cert->domains, sizeof(cert->domains), "%s", DEV_CERT_DOMAINS);
		r = kms_store_put_cert(st, cert);
	}
	if (r != KMS_OK) {
		r = failf(err, err_len, r, "cannot complete the KMS certificate: %s",
			  kms_strerror(r));
	}
	free(cert);
	return r;
}

/* Step 2: the ceremony's part: KEK, KSAK and z_T wrapped under it, the KMS certificate. */
/* --preminted: every client's key sets for the current key period and the next two (the
 * roster holds the clients' identities by then); the issuing keys are freed (wiped) after. */
#define PREMINT_PERIODS 3

static int
premint_all(struct setup *su, struct kms_p11_session *s, char *err, size_t err_len)
{
	struct kms_wrap_policy pol = {su->kwp, su->wrap_mode};
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
	uint64_t now = 0, p;
	size_t i;
	int r;

	if ((r = kms_keys_find(s, &kek, KMS_DEV_KEK)) != KMS_OK) {
		return failf(err, err_len, r, "the KEK is not in the token: %s", kms_strerror(r));
	}
	if ((r = kms_key_period_no(&now, kms_devdomain_ntp_now(), KMS_DEV_PERIOD, 0)) != KMS_OK) {
		return failf(err, err_len, r, "the current key period: %s", kms_strerror(r));
	}
	for (i = 0; i < NUM_CLIENTS; i++) {
		for (p = now; p < now + PREMINT_PERIODS; p++) {
			if ((r = kms_devdomain_premint(su->st, s, &pol, kek, su->eccsi, su->sakke,
						       dev_clients[i].id, p)) != KMS_OK) {
				return failf(err, err_len, r, "pre-minting %s, key period %llu: %s",
					     dev_clients[i].id, (unsigned long long)p,
					     kms_strerror(r));
			}
		}
	}
	printf("pre-minted key sets: %zu clients, key periods %llu..%llu\n", (size_t)NUM_CLIENTS,
	       (unsigned long long)now, (unsigned long long)(now + PREMINT_PERIODS - 1));
	return KMS_OK;
}

static int
step_ceremony(struct setup *su, char *err, size_t err_len)
{
	struct kms_p11_session *s = NULL;
	struct kms_wrap_policy pol = {su->kwp, KMS_WRAP_TOKEN};
	CK_OBJECT_HANDLE kek;
	uint8_t kpak[KMS_ECCSI_POINT_LEN], zpub[KMS_SAKKE_POINT_LEN];
	char store[PATH_MAX];
	int exact = 0;
	int r;

	if (tpath(su, store, sizeof(store), "kms.db") != KMS_OK) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "path too long");
	}
	if ((r = kms_store_open(&su->st, store, KMS_STORE_CREATE)) != KMS_OK) {
		return failf(err, err_len, r, "cannot create the store kms.db: %s",
			     kms_strerror(r));
	}
	if ((r = kms_p11_borrow(su->p11, &s)) != KMS_OK) {
		return failf(err, err_len, r, "no token session: %s", kms_strerror(r));
	}
	/* SoftHSM 2.6.1 pads RFC 5649 wrongly: then the KEK may also encrypt with ECB */
	if ((r = kms_wrap_probe(s, &pol, &exact)) != KMS_OK ||
	    (r = kms_wrap_choose(&pol, exact, 1)) != KMS_OK) {
		r = failf(err, err_len, r,
			  "the token's RFC 5649 wrap failed its known-answer test: %s",
			  kms_strerror(r));
		goto out;
	}
	su->wrap_mode = pol.mode;
	if ((r = kms_devdomain_ceremony(s, su->st, &pol, KMS_DEV_KEK, KMS_DEV_KMS_URI,
					KMS_DEV_KMS_URI, KMS_DEV_PERIOD, &kek, kpak, zpub,
					su->preminted ? &su->eccsi : NULL,
					su->preminted ? &su->sakke : NULL)) != KMS_OK) {
		r = failf(err, err_len, r, "%s", kms_strerror(r));
		goto out;
	}

	if ((r = complete_cert(su->st, err, err_len)) != KMS_OK) {
		goto out;
	}
	print_fingerprint("KPAK", kpak, sizeof(kpak));
	print_fingerprint("Z_T ", zpub, sizeof(zpub));
	r = KMS_OK;
out:
	kms_p11_return(s);
	return r;
}

static int
write_client_key(const struct setup *su, const char *name, const char *file, const uint8_t v[32],
		 char *err, size_t err_len)
{
	char rel[128];
	char p[PATH_MAX];
	char hex[2 * 32 + 2]; /* a secret: wiped */
	int r = KMS_OK;

	if (pathf(rel, sizeof(rel), "clients/%s/%s", name, file) != KMS_OK ||
	    tpath(su, p, sizeof(p), rel) != KMS_OK ||
	    kms_hex_encode(hex, sizeof(hex), v, 32) != KMS_OK) {
		r = failf(err, err_len, KMS_ERR_INTERNAL, "cannot encode %s", file);
		goto out;
	}
	hex[64] = '\n';
	if (kms_devtoken_write_file(p, hex, 65, 0600) != KMS_OK) {
		r = failf(err, err_len, KMS_ERR_IO, "cannot write %s: %s", rel, strerror(errno));
	}
out:
	kms_memzero(hex, sizeof(hex));
	return r;
}

/* An EVP_PKEY of the uncompressed P-256 point (a public key only). */
static EVP_PKEY *
p256_public(const uint8_t point[static KMS_EC_POINT_LEN])
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)(uintptr_t) "prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)(uintptr_t)point, KMS_EC_POINT_LEN);
	params[2] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* --tls-in-token: kmsd's TLS key pair, generated in the token (its private half stays there). */
static int
make_tls_key(struct setup *su, struct kms_p11_session *s, char *err, size_t err_len)
{
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
	uint8_t point[KMS_EC_POINT_LEN];
	int r;

	if ((r = kms_keys_generate_tls(s, &priv, point, TLS_KEY_LABEL)) != KMS_OK) {
		return failf(err, err_len, r, "cannot generate the TLS key pair in the token: %s",
			     kms_strerror(r));
	}
	if ((su->tls_pub = p256_public(point)) == NULL) {
		return failf(err, err_len, KMS_ERR_CRYPTO,
			     "the token's TLS public key is unusable");
	}
	printf(PROG ":       TLS key pair \"" TLS_KEY_LABEL "\" in the token\n");
	return KMS_OK;
}

/*
 * The audit key: an ECDSA P-256 pair in the token (the TLS key's attributes), its public point
 * in the store, so that kms-hsmd signs audit checkpoints and kms-admin checks them.
 */
static int
make_audit_key(struct setup *su, struct kms_p11_session *s, char *err, size_t err_len)
{
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
	uint8_t point[KMS_EC_POINT_LEN], fp[KMS_AUDIT_HASH_LEN];
	char fp_hex[2 * KMS_AUDIT_HASH_LEN + 1];
	int r;

	if ((r = kms_keys_generate_tls(s, &priv, point, AUDIT_KEY_LABEL)) != KMS_OK) {
		return failf(err, err_len, r, "cannot generate the audit key pair in the token: %s",
			     kms_strerror(r));
	}
	if ((r = kms_store_put_audit_key(su->st, point, AUDIT_KEY_LABEL)) != KMS_OK ||
	    (r = kms_store_audit_key_fingerprint(point, fp)) != KMS_OK ||
	    (r = kms_hex_encode(fp_hex, sizeof(fp_hex), fp, sizeof(fp))) != KMS_OK) {
		return failf(err, err_len, r, "cannot put the audit key into the store: %s",
			     kms_strerror(r));
	}
	printf(PROG ":       audit key pair \"" AUDIT_KEY_LABEL "\" in the token, fingerprint %s\n",
	       fp_hex);
	return KMS_OK;
}

/* Step 3: the roster: each client's TrK and InK in the token (known values), store entries. */
static int
step_roster(struct setup *su, char *err, size_t err_len)
{
	struct kms_p11_session *s = NULL;
	struct kms_secret *keys = NULL; /* TrK || InK of one client */
	char trk_label[128], ink_label[128], rel[128];
	struct text t;
	size_t i;
	int r = KMS_OK;

	if ((r = make_dir(su, "clients", 0700, err, err_len)) != KMS_OK) {
		return r;
	}
	keys = kms_secret_new(64);
	if (keys == NULL) {
		return failf(err, err_len, KMS_ERR_NOMEM, "cannot lock memory for the keys");
	}
	if ((r = kms_p11_borrow(su->p11, &s)) != KMS_OK) {
		r = failf(err, err_len, r, "no token session: %s", kms_strerror(r));
		goto out;
	}
	for (i = 0; i < NUM_CLIENTS; i++) {
		const struct dev_client *c = &dev_clients[i];

		printf(PROG ":       %s (%s)\n", c->id,
		       c->cls == KMS_CLIENT_UE ? "UE" : "MC server");
		if (pathf(trk_label, sizeof(trk_label), "tk.1.%s@example.org", c->name) != KMS_OK ||
		    pathf(ink_label, sizeof(ink_label), "ik.1.%s@example.org", c->name) != KMS_OK ||
		    pathf(rel, sizeof(rel), "clients/%s", c->name) != KMS_OK) {
			r = failf(err, err_len, KMS_ERR_INTERNAL, "label too long");
			goto out;
		}
		if (RAND_bytes(keys->data, 64) != 1) {
			r = failf(err, err_len, KMS_ERR_RANDOM, "no random keys");
			goto out;
		}
		if ((r = kms_devdomain_enrol(s, su->st, c->id, c->cls, c->id, trk_label, keys->data,
					     ink_label, keys->data + 32)) != KMS_OK) {
			r = failf(err, err_len, r, "cannot enrol %s: %s", c->id, kms_strerror(r));
			goto out;
		}
		if ((r = make_dir(su, rel, 0700, err, err_len)) != KMS_OK ||
		    (r = write_client_key(su, c->name, "trk.hex", keys->data, err, err_len)) !=
			    KMS_OK ||
		    (r = write_client_key(su, c->name, "ink.hex", keys->data + 32, err, err_len)) !=
			    KMS_OK) {
			goto out;
		}
		memset(&t, 0, sizeof(t));
		textf(&t, "%s\n", trk_label);
		if ((r = pathf(rel, sizeof(rel), "clients/%s/trk.id", c->name)) != KMS_OK ||
		    (r = write_text(su, rel, &t, 0644, err, err_len)) != KMS_OK) {
			goto out;
		}
		memset(&t, 0, sizeof(t));
		textf(&t, "%s\n", ink_label);
		if ((r = pathf(rel, sizeof(rel), "clients/%s/ink.id", c->name)) != KMS_OK ||
		    (r = write_text(su, rel, &t, 0644, err, err_len)) != KMS_OK) {
			goto out;
		}
	}
	if (su->tls_in_token && (r = make_tls_key(su, s, err, err_len)) != KMS_OK) {
		goto out;
	}
	if ((r = make_audit_key(su, s, err, err_len)) != KMS_OK) {
		goto out;
	}
	if (su->preminted && (r = premint_all(su, s, err, err_len)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	kms_eccsi_kms_free(su->eccsi);
	su->eccsi = NULL;
	kms_sakke_kms_free(su->sakke);
	su->sakke = NULL;
	kms_p11_return(s);
	kms_secret_free(keys);
	/* the token and the store are complete: close them before the directory moves */
	kms_store_close(su->st);
	su->st = NULL;
	kms_p11_free(su->p11);
	su->p11 = NULL;
	return r;
}

/* One X.509 v3 extension, in OpenSSL's configuration syntax. */
struct ext {
	int nid;
	const char *value;
};

/*
 * A certificate for key, named cn, issued by issuer with issuer_key (issuer NULL: self-signed),
 * valid from an hour ago (clock skew) for days days, with a random 127-bit serial number.
 */
static int
make_cert(X509 **out, EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int days,
	  const struct ext *exts, size_t num_exts)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *sn = BN_new();
	X509V3_CTX ctx;
	size_t i;
	int r = KMS_ERR_CRYPTO;

	*out = NULL;
	if (x == NULL || name == NULL || sn == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    BN_rand(sn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
				       (const unsigned char *)"KMS development", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1) {
		goto out;
	}
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; i < num_exts; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
		int ok = e != NULL && X509_add_ext(x, e, -1) == 1;

		X509_EXTENSION_free(e);
		if (!ok) {
			goto out;
		}
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		goto out;
	}
	*out = x;
	x = NULL; /* transferred */
	r = KMS_OK;
out:
	X509_free(x);
	X509_NAME_free(name);
	BN_free(sn);
	return r;
}

static int
write_bio(const struct setup *su, const char *rel, BIO *b, mode_t mode, char *err, size_t err_len)
{
	char p[PATH_MAX];
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || data == NULL) {
		return failf(err, err_len, KMS_ERR_CRYPTO, "cannot encode %s", rel);
	}
	if (tpath(su, p, sizeof(p), rel) != KMS_OK ||
	    kms_devtoken_write_file(p, data, (size_t)n, mode) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_IO, "cannot write %s: %s", rel, strerror(errno));
	}
	return KMS_OK;
}

static int
write_cert(const struct setup *su, const char *rel, X509 *x, char *err, size_t err_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int r;

	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return failf(err, err_len, KMS_ERR_CRYPTO, "cannot encode %s", rel);
	}
	r = write_bio(su, rel, b, 0644, err, err_len);
	BIO_free(b);
	return r;
}

/* A private key, PKCS#8 PEM, unencrypted (development), mode 0600; the buffer is wiped. */
static int
write_key(const struct setup *su, const char *rel, EVP_PKEY *k, char *err, size_t err_len)
{
	BIO *b = BIO_new(BIO_s_secmem());
	int r;

	if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return failf(err, err_len, KMS_ERR_CRYPTO, "cannot encode %s", rel);
	}
	r = write_bio(su, rel, b, 0600, err, err_len);
	BIO_free(b);
	return r;
}

static EVP_PKEY *
new_p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Step 4: the development CA and the server certificate. */
static int
step_pki(struct setup *su, char *err, size_t err_len)
{
	static const struct ext ca_exts[] = {
		{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
		{NID_key_usage, "critical,keyCertSign,cRLSign"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};
	char san[64 + sizeof(su->extra_san)];
	struct ext srv_exts[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "serverAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_subject_alt_name, san},
	};
	EVP_PKEY *key = NULL;
	X509 *srv = NULL;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	unsigned int i;
	int r;

	if ((r = make_dir(su, "pki", 0700, err, err_len)) != KMS_OK) {
		return r;
	}
	if (pathf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s", su->extra_san) !=
	    KMS_OK) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "host name too long");
	}
	su->ca_key = new_p256();
	if (su->tls_pub != NULL) {
		key = su->tls_pub; /* in the token: no server-key.pem */
		su->tls_pub = NULL;
	} else {
		key = new_p256();
	}
	if (su->ca_key == NULL || key == NULL) {
		r = failf(err, err_len, KMS_ERR_CRYPTO, "cannot generate P-256 keys");
		goto out;
	}
	if ((r = make_cert(&su->ca, su->ca_key, "KMS development CA", NULL, su->ca_key, CA_DAYS,
			   ca_exts, sizeof(ca_exts) / sizeof(ca_exts[0]))) != KMS_OK ||
	    (r = make_cert(&srv, key, "localhost", su->ca, su->ca_key, LEAF_DAYS, srv_exts,
			   sizeof(srv_exts) / sizeof(srv_exts[0]))) != KMS_OK) {
		r = failf(err, err_len, r, "cannot make the certificates");
		goto out;
	}
	if ((r = write_cert(su, "pki/ca.pem", su->ca, err, err_len)) != KMS_OK ||
	    (r = write_key(su, "pki/ca-key.pem", su->ca_key, err, err_len)) != KMS_OK ||
	    (r = write_cert(su, "pki/server.pem", srv, err, err_len)) != KMS_OK ||
	    (!su->tls_in_token &&
	     (r = write_key(su, "pki/server-key.pem", key, err, err_len)) != KMS_OK)) {
		goto out;
	}
	if (X509_digest(su->ca, EVP_sha256(), md, &md_len) == 1) {
		printf(PROG ":       CA SHA-256 ");
		for (i = 0; i < md_len; i++) {
			printf("%02X%s", md[i], i + 1 < md_len ? ":" : "\n");
		}
	}
	printf(PROG ":       server certificate for %s\n", san);
	r = KMS_OK;
out:
	EVP_PKEY_free(key);
	X509_free(srv);
	return r;
}

/* Step 5: each client's key and certificate (SAN URI = its id, clientAuth). */
static int
step_client_certs(struct setup *su, char *err, size_t err_len)
{
	char san[160];
	const struct ext exts[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "clientAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_subject_alt_name, san},
	};
	char rel[128];
	size_t i;
	int r = KMS_OK;

	for (i = 0; i < NUM_CLIENTS && r == KMS_OK; i++) {
		const struct dev_client *c = &dev_clients[i];
		EVP_PKEY *key = new_p256();
		X509 *x = NULL;

		if (key == NULL || pathf(san, sizeof(san), "URI:%s", c->id) != KMS_OK) {
			r = failf(err, err_len, KMS_ERR_CRYPTO, "cannot generate a P-256 key");
		} else if ((r = make_cert(&x, key, c->id, su->ca, su->ca_key, LEAF_DAYS, exts,
					  sizeof(exts) / sizeof(exts[0]))) != KMS_OK) {
			r = failf(err, err_len, r, "cannot make the certificate of %s", c->id);
		} else if ((r = pathf(rel, sizeof(rel), "clients/%s/cert.pem", c->name)) !=
				   KMS_OK ||
			   (r = write_cert(su, rel, x, err, err_len)) != KMS_OK ||
			   (r = pathf(rel, sizeof(rel), "clients/%s/key.pem", c->name)) != KMS_OK ||
			   (r = write_key(su, rel, key, err, err_len)) != KMS_OK) {
			/* err says which */
		}
		EVP_PKEY_free(key);
		X509_free(x);
	}
	return r;
}

/* base64url without padding (RFC 7515) of n octets into out (B64URL_LEN(n) octets). */
static size_t
b64url(char *out, const uint8_t *in, size_t n)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	size_t m = len > 0 ? (size_t)len : 0;
	size_t i;

	while (m > 0 && out[m - 1] == '=') {
		m--;
	}
	out[m] = '\0';
	for (i = 0; i < m; i++) {
		if (out[i] == '+') {
			out[i] = '-';
		} else if (out[i] == '/') {
			out[i] = '_';
		}
	}
	return m;
}

/* Step 6: the development IdMS's signing key and its public key as a JWKS. */
static int
step_idms(struct setup *su, char *err, size_t err_len)
{
	EVP_PKEY *key = new_p256();
	BIGNUM *x = NULL, *y = NULL;
	uint8_t xb[32], yb[32];
	char xs[B64URL_LEN(32)], ys[B64URL_LEN(32)];
	struct text t;
	int r;

	if (key == NULL || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
	    BN_bn2binpad(x, xb, 32) != 32 || BN_bn2binpad(y, yb, 32) != 32) {
		r = failf(err, err_len, KMS_ERR_CRYPTO, "cannot generate the IdMS key");
		goto out;
	}
	b64url(xs, xb, 32);
	b64url(ys, yb, 32);
	memset(&t, 0, sizeof(t));
	textf(&t,
	      "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
	      "\"kid\":\"" IDMS_KID "\",\"alg\":\"ES256\",\"use\":\"sig\"}]}\n",
	      xs, ys);
	if ((r = write_key(su, "pki/idms-key.pem", key, err, err_len)) != KMS_OK ||
	    (r = write_text(su, "pki/idms.jwks", &t, 0644, err, err_len)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	EVP_PKEY_free(key);
	BN_free(x);
	BN_free(y);
	return r;
}

/* Step 7: softhsm2.conf (SoftHSM), kms-hsmd.conf and kmsd.conf, with the final absolute paths. */
static int
step_config(struct setup *su, char *err, size_t err_len)
{
	const char *d = su->dir;
	char conf[PATH_MAX], tokens[PATH_MAX], build[PATH_MAX];
	struct text t;
	int r;

	if (tpath(su, conf, sizeof(conf), "token/softhsm2.conf") != KMS_OK ||
	    tpath(su, build, sizeof(build), BUILD_CONF) != KMS_OK ||
	    pathf(tokens, sizeof(tokens), "%s/token/tokens", d) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_TOO_LARGE, "path too long");
	}
	if (!su->nss && kms_devtoken_write_conf(conf, tokens) != KMS_OK) {
		return failf(err, err_len, KMS_ERR_IO, "cannot write token/softhsm2.conf: %s",
			     strerror(errno));
	}
	if (!su->nss && unlink(build) != 0) {
		return failf(err, err_len, KMS_ERR_IO, "cannot remove %s: %s", BUILD_CONF,
			     strerror(errno));
	}

	memset(&t, 0, sizeof(t));
	textf(&t,
	      "# kms-hsmd.conf - the HSM adapter of the development KMS, made by kms-devsetup.\n"
	      "# DEVELOPMENT ONLY (docs/dev-domain.md). Every key: "
	      "deploy/kms-hsmd.conf.example.\n\n");
	if (su->nss) {
		textf(&t, "# The PKCS#11 module: NSS's softoken (docs/tokens.md).\nmodule = %s\n\n",
		      su->module);
		textf(&t,
		      "# Its initialisation string: the database (%s/token/nssdb) and the token's "
		      "label.\nmodule_params = %s\n\n",
		      d, su->nss_params);
		textf(&t, "# Its RFC 5649 wrap (PKCS#11 3.0 CKM_AES_KEY_WRAP_KWP), exact: the "
			  "token wraps.\nwrap_mechanism = 0x210b\n\n");
	} else {
		textf(&t, "# The PKCS#11 module: SoftHSM v2.\nmodule = %s\n\n", su->module);
		textf(&t,
		      "# SoftHSM finds the token directory (%s/token/tokens) through this file.\n"
		      "environment = SOFTHSM2_CONF=%s/token/softhsm2.conf\n\n",
		      d, d);
	}
	textf(&t, "# The development token, initialised with a random SO PIN that was not kept.\n"
		  "token = pkcs11:token=" TOKEN_LABEL "\n\n");
	textf(&t, "# The token's user PIN (random; mode 0600).\npin_file = %s/user.pin\n\n", d);
	textf(&t, "# The domain KEK in the token.\nkek = " KMS_DEV_KEK "\n\n");
	textf(&t,
	      "# The store: roster, KMS certificate, KSAK and z_T wrapped under the KEK.\n"
	      "store = %s/kms.db\n\n",
	      d);
	if (su->preminted) {
		textf(&t,
		      "# Key sets come pre-minted from the store (kms-devsetup --preminted made\n"
		      "# the clients' sets of three key periods); none is computed here.\n"
		      "issuer = pre-minted\n\n");
	} else {
		textf(&t, "# Key sets are computed on demand from the master secrets.\n"
			  "issuer = online\n\n");
	}
	textf(&t, "# ECCSI and SAKKE take the raw 32-octet UID.\nid_format = raw\n\n");
	if (su->wrap_mode == KMS_WRAP_HOST_ECB) {
		textf(&t, "# SoftHSM 2.6.1 pads RFC 5649 wrongly: kms-hsmd computes the wrap from "
			  "the token's\n# AES-ECB (development tokens only; SECURITY.md).\n"
			  "allow_host_ecb_wrap = yes\n");
	}
	textf(&t,
	      "\n# The audit key pair in the token: kms-hsmd signs the audit log's checkpoints.\n"
	      "audit_key = " AUDIT_KEY_LABEL "\n");
	if (su->tls_in_token) {
		textf(&t, "\n# kmsd's TLS key pair in the token: kms-hsmd signs its handshakes.\n"
			  "tls_key = " TLS_KEY_LABEL "\n");
	}
	if ((r = write_text(su, "kms-hsmd.conf", &t, 0644, err, err_len)) != KMS_OK) {
		return r;
	}

	memset(&t, 0, sizeof(t));
	textf(&t,
	      "# kmsd.conf - the development KMS of kms.example.org, made by kms-devsetup.\n"
	      "# DEVELOPMENT ONLY (docs/dev-domain.md). Run: kmsd -c %s/kmsd.conf\n\n",
	      d);
	textf(&t, "# Where kmsd listens for HTTPS (mutual TLS).\nlisten = %s\n\n", su->listen);
	textf(&t, "# The base URL clients use (responses, examples).\npublic_url = %s\n\n",
	      su->public_url);
	textf(&t,
	      "# The server certificate (development CA; localhost, 127.0.0.1, ::1).\n"
	      "tls_cert = %s/pki/server.pem\n\n",
	      d);
	if (su->tls_in_token) {
		textf(&t,
		      "# Its private key is in the token (kms-hsmd's tls_key): kms-hsmd signs.\n"
		      "tls_key_token = yes\n\n");
	} else {
		textf(&t, "# Its private key.\ntls_key = %s/pki/server-key.pem\n\n", d);
	}
	textf(&t,
	      "# Client certificates must chain to this CA; their SAN URI names the client.\n"
	      "client_ca = %s/pki/ca.pem\n\n",
	      d);
	textf(&t,
	      "# The store (roster, KMS certificate; shared with kms-hsmd).\n"
	      "store = %s/kms.db\n\n",
	      d);
	textf(&t,
	      "# The configuration of kms-hsmd, the HSM adapter kmsd starts.\n"
	      "hsmd_conf = %s/kms-hsmd.conf\n\n",
	      d);
	if (su->hsmd != NULL) {
		textf(&t, "# The kms-hsmd program.\nhsmd = %s\n\n", su->hsmd);
	}
	textf(&t,
	      "# The IdMS's public keys (JWKS) that bearer tokens are verified with.\n"
	      "idms_keys = %s/pki/idms.jwks\n\n",
	      d);
	textf(&t,
	      "# The issuer (iss) bearer tokens must carry.\nidms_issuer = " IDMS_ISSUER "\n\n");
	textf(&t, "# The audience (aud) bearer tokens must name.\n"
		  "idms_audience = " KMS_DEV_KMS_URI "\n\n");
	textf(&t, "# How UEs authenticate: mutual TLS.\nauth_ue = mtls\n\n");
	textf(&t, "# How MC servers authenticate: mutual TLS.\nauth_server = mtls\n\n");
	textf(&t, "# Where kmsd serves its metrics.\nmetrics_listen = %s\n\n", su->metrics);
	textf(&t, "# err, warn, info or debug.\nlog_level = info\n");
	return write_text(su, "kmsd.conf", &t, 0644, err, err_len);
}

/* Step 8: the marker, written last. */
static int
step_marker(struct setup *su, char *err, size_t err_len)
{
	struct text t;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	memset(&t, 0, sizeof(t));
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		when[0] = '\0';
	}
	textf(&t, MARKER_TEXT "made %s\n", when);
	return write_text(su, MARKER, &t, 0644, err, err_len);
}

static const struct step {
	const char *name;
	const char *what;
	int (*fn)(struct setup *su, char *err, size_t err_len);
} steps[] = {
	{"token",
	 "the token \"" TOKEN_LABEL "\" in token/ (SoftHSM with a random SO PIN, not kept, "
	 "or an NSS database; user PIN in user.pin)",
	 step_token},
	{"ceremony",
	 "domain KEK \"" KMS_DEV_KEK "\", KSAK and z_T wrapped under it in kms.db, "
	 "KMS certificate of " KMS_DEV_KMS_URI " (key period 2592000 s, valid for ten years, "
	 "domain " DEV_CERT_DOMAINS ")",
	 step_ceremony},
	{"roster", "clients, each entitled to its own identity, TrK and InK in the token",
	 step_roster},
	{"pki", "development CA (pki/ca.pem) and server certificate (pki/server.pem)", step_pki},
	{"client-certs", "client certificates (clients/<name>/cert.pem, key.pem)",
	 step_client_certs},
	{"idms", "IdMS signing key (pki/idms-key.pem) and JWKS (pki/idms.jwks)", step_idms},
	{"config", "token/softhsm2.conf, kms-hsmd.conf, kmsd.conf", step_config},
	{"marker", "marker file " MARKER, step_marker},
};
#define NUM_STEPS (sizeof(steps) / sizeof(steps[0]))

/* 1 if dir holds the marker of this layout. */
static int
is_complete(const char *dir)
{
	char p[PATH_MAX];
	char buf[sizeof(MARKER_TEXT)];
	FILE *f;
	size_t n;

	if (pathf(p, sizeof(p), "%s/" MARKER, dir) != KMS_OK) {
		return 0;
	}
	f = fopen(p, "r");
	if (f == NULL) {
		return 0;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, MARKER_TEXT) == 0;
}

/* The parent directories of path (absolute), made as needed (mode 0755). */
static int
make_parents(const char *path)
{
	char p[PATH_MAX];
	size_t i;

	if (pathf(p, sizeof(p), "%s", path) != KMS_OK) {
		return KMS_ERR_TOO_LARGE;
	}
	for (i = 1; p[i] != '\0'; i++) {
		if (p[i] != '/') {
			continue;
		}
		p[i] = '\0';
		if (mkdir(p, 0755) == 0) {
			(void)chmod(p, 0755);
		} else if (errno != EEXIST) {
			return KMS_ERR_IO;
		}
		p[i] = '/';
	}
	return KMS_OK;
}

/*
 * su->dir := dir made absolute: its parent made (if needed) and resolved (realpath), then its
 * last component. Refused: an empty last component, "." or "..", control characters, trailing
 * blanks, longer than MAX_DIR.
 */
static int
resolve_dir(struct setup *su, const char *dir)
{
	char abs[PATH_MAX], parent[PATH_MAX];
	char *slash, *base;
	size_t n;
	size_t i;

	if (dir[0] == '/') {
		if (pathf(abs, sizeof(abs), "%s", dir) != KMS_OK) {
			return KMS_ERR_TOO_LARGE;
		}
	} else {
		if (getcwd(parent, sizeof(parent)) == NULL ||
		    pathf(abs, sizeof(abs), "%s/%s", parent, dir) != KMS_OK) {
			return KMS_ERR_TOO_LARGE;
		}
	}
	n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/') {
		abs[--n] = '\0';
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)abs[i] < 0x20 || abs[i] == 0x7f) {
			return KMS_ERR_INVALID_ARG;
		}
	}
	slash = strrchr(abs, '/');
	base = slash + 1;
	if (slash == abs || base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    abs[n - 1] == ' ' || abs[n - 1] == '\t') {
		return KMS_ERR_INVALID_ARG;
	}
	if (make_parents(abs) != KMS_OK) {
		return KMS_ERR_IO;
	}
	*slash = '\0';
	if (realpath(abs, parent) == NULL) {
		return KMS_ERR_IO;
	}
	if (pathf(su->dir, sizeof(su->dir), "%s%s%s", parent, strcmp(parent, "/") == 0 ? "" : "/",
		  base) != KMS_OK) {
		return KMS_ERR_TOO_LARGE;
	}
	return KMS_OK;
}

/* A port: 1..65535, decimal digits, no leading zero. */
static int
parse_port(const char *s)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || s[0] == '0' || strlen(s) > 5) {
		return 0;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return 0;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

/*
 * HOST:PORT, with HOST an IPv4 address, a bracketed IPv6 address or a DNS name. out_host gets
 * HOST (without brackets), out_is_ip whether it is an address.
 */
static int
parse_hostport(const char *s, char *out_host, size_t cap, int *out_is_ip)
{
	const char *colon;
	uint8_t addr[16];
	size_t hl;
	size_t i;

	*out_is_ip = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			return 0;
		}
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= cap) {
			return 0;
		}
		memcpy(out_host, s + 1, hl);
		out_host[hl] = '\0';
		*out_is_ip = 1;
		return inet_pton(AF_INET6, out_host, addr) == 1 && parse_port(close + 2);
	}
	colon = strrchr(s, ':');
	if (colon == NULL || strchr(s, ':') != colon) {
		return 0;
	}
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= cap || hl > MAX_HOST || !parse_port(colon + 1)) {
		return 0;
	}
	memcpy(out_host, s, hl);
	out_host[hl] = '\0';
	if (inet_pton(AF_INET, out_host, addr) == 1) {
		*out_is_ip = 1;
		return 1;
	}
	for (i = 0; i < hl; i++) {
		char c = out_host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.')) {
			return 0;
		}
	}
	return 1;
}

/* public_url and the server certificate's extra name from --listen. */
static int
plan_listen(struct setup *su)
{
	char host[MAX_HOST + 1];
	int is_ip = 0;
	int n;

	if (!parse_hostport(su->listen, host, sizeof(host), &is_ip)) {
		return KMS_ERR_INVALID_ARG;
	}
	su->extra_san[0] = '\0';
	if (strcmp(host, "0.0.0.0") == 0) {
		n = snprintf(su->public_url, sizeof(su->public_url), "https://127.0.0.1%s",
			     strrchr(su->listen, ':'));
	} else if (strcmp(host, "::") == 0) {
		n = snprintf(su->public_url, sizeof(su->public_url), "https://[::1]%s",
			     strrchr(su->listen, ':'));
	} else {
		n = snprintf(su->public_url, sizeof(su->public_url), "https://%s", su->listen);
		if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0 &&
		    strcmp(host, "::1") != 0) {
			snprintf(su->extra_san, sizeof(su->extra_san), ",%s:%s",
				 is_ip ? "IP" : "DNS", host);
		}
	}
	return n < 0 || (size_t)n >= sizeof(su->public_url) ? KMS_ERR_TOO_LARGE : KMS_OK;
}

/* Replace (or create) su->dir with the finished su->tmp. */
static int
install(struct setup *su, int replace, char *err, size_t err_len)
{
	char old[MAX_DIR + 32];
	char parent[MAX_DIR + 1];
	char *slash;
	int fd;

	if (!replace) {
		if (rename(su->tmp, su->dir) != 0) {
			return failf(err, err_len, KMS_ERR_IO, "cannot rename %s to %s: %s",
				     su->tmp, su->dir, strerror(errno));
		}
	} else {
		/* rename(2) replaces an empty directory only: move the old one aside first */
		if (pathf(old, sizeof(old), "%s.old.XXXXXX", su->dir) != KMS_OK ||
		    mkdtemp(old) == NULL) {
			return failf(err, err_len, KMS_ERR_IO, "cannot make room beside %s: %s",
				     su->dir, strerror(errno));
		}
		if (rename(su->dir, old) != 0) {
			(void)rmdir(old);
			return failf(err, err_len, KMS_ERR_IO, "cannot move the old %s aside: %s",
				     su->dir, strerror(errno));
		}
		if (rename(su->tmp, su->dir) != 0) {
			int e = errno;
			(void)rename(old, su->dir);
			return failf(err, err_len, KMS_ERR_IO, "cannot rename %s to %s: %s",
				     su->tmp, su->dir, strerror(e));
		}
		if (kms_devtoken_rmtree(old) != KMS_OK) {
			fprintf(stderr, PROG ": warning: could not remove the old domain %s\n",
				old);
		}
	}
	/* make the rename durable */
	snprintf(parent, sizeof(parent), "%s", su->dir);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
	}
	return KMS_OK;
}

static void
usage(FILE *f)
{
	fputs("usage: kms-devsetup --dir DIR [--hsmd PATH] [--force] [--listen HOST:PORT]\n"
	      "                    [--metrics HOST:PORT] [--module PATH] [--tls-in-token]\n"
	      "                    [--preminted] [--token softhsm|nss]\n"
	      "       kms-devsetup token --dir DIR --sub NAME --mcid URI [--ttl S] [--scope S]\n"
	      "                    [--aud A] [--iss I] [--now UNIX]\n"
	      "\n"
	      "The first form makes the development domain of kms.example.org in DIR (built in\n"
	      "DIR.tmp.XXXXXX, renamed at the end; a complete DIR is left alone unless --force):\n"
	      "a SoftHSM token (or an NSS database), the ceremony's KEK, KSAK and z_T, clients\n"
	      "alice, bob (UEs) and mcptt-server (MC server), a development CA with server and\n"
	      "client certificates, an IdMS key, kms-hsmd.conf and kmsd.conf. DEVELOPMENT ONLY:\n"
	      "TrKs, InKs, the PIN and every private key sit in plain files. docs/dev-domain.md\n"
	      "describes the layout.\n"
	      "  --hsmd PATH          kms-hsmd for kmsd.conf's hsmd key (absolute after "
	      "resolving)\n"
	      "  --listen HOST:PORT   kmsd's HTTPS address (default " DEF_LISTEN ")\n"
	      "  --metrics HOST:PORT  kmsd's metrics address (default " DEF_METRICS ")\n"
	      "  --module PATH        the PKCS#11 module (default: Debian's SoftHSM, or NSS's\n"
	      "                       softoken with --token nss)\n"
	      "  --token softhsm|nss  the token: a SoftHSM token (default; RFC 5649 by host ECB),\n"
	      "                       or an NSS softoken database in DIR/token/nssdb (the token\n"
	      "                       wraps; online issuer only; docs/tokens.md)\n"
	      "  --force              replace DIR even when it is complete\n"
	      "  --tls-in-token       kmsd's TLS key pair in the token (" TLS_KEY_LABEL "), used\n"
	      "                       through kms-hsmd; no pki/server-key.pem\n"
	      "  --preminted          issuer = pre-minted: the clients' key sets of the current\n"
	      "                       key period and the next two are pre-minted into the store\n"
	      "                       (for kms-bench load; later periods get 404)\n"
	      "\n"
	      "The second form prints an ES256 JWT signed with DIR/pki/idms-key.pem (kid " IDMS_KID
	      "),\n"
	      "claims iss, aud, sub, iat, exp, scope, mcptt_id, for curl and tests:\n"
	      "  --sub NAME --mcid URI  subject and MC service ID (mcptt_id)\n"
	      "  --ttl S                lifetime in seconds (default 3600)\n"
	      "  --scope S              default " KM_SCOPE "\n"
	      "  --aud A                default " KMS_DEV_KMS_URI "\n"
	      "  --iss I                default " IDMS_ISSUER "\n"
	      "  --now UNIX             issue as if it were this time (expired tokens for tests)\n"
	      "\n"
	      "Exit status: 0 done or nothing to do, 1 failure, 2 usage.\n",
	      f);
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	return kms_conf_decimal(s, strlen(s), max, out) == KMS_OK;
}

/* The JWT of the token subcommand, printed to stdout. */
static int
cmd_token(int argc, char **argv)
{
	const char *dir = NULL, *sub = NULL, *mcid = NULL, *scope = KM_SCOPE;
	const char *aud = KMS_DEV_KMS_URI, *iss = IDMS_ISSUER;
	uint64_t ttl = 3600, now = (uint64_t)time(NULL);
	char path[PATH_MAX];
	json_t *hdr = NULL, *claims = NULL;
	char *hs = NULL, *cs = NULL;
	char *input = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *sig = NULL;
	BIO *b = NULL;
	uint8_t der[128], raw[64];
	const uint8_t *dp;
	const BIGNUM *sr = NULL, *ss = NULL;
	char sigs[B64URL_LEN(64)];
	size_t der_len = sizeof(der);
	size_t hl, cl, n;
	int status = 1;
	int i;

	for (i = 2; i < argc; i += 2) { /* every option takes a value */
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--dir") == 0) {
			dir = v;
		} else if (strcmp(argv[i], "--sub") == 0) {
			sub = v;
		} else if (strcmp(argv[i], "--mcid") == 0) {
			mcid = v;
		} else if (strcmp(argv[i], "--scope") == 0) {
			scope = v;
		} else if (strcmp(argv[i], "--aud") == 0) {
			aud = v;
		} else if (strcmp(argv[i], "--iss") == 0) {
			iss = v;
		} else if (strcmp(argv[i], "--ttl") == 0) {
			if (!parse_u64(v, MAX_TTL, &ttl) || ttl == 0) {
				fprintf(stderr, PROG ": --ttl wants 1..%d seconds\n", MAX_TTL);
				return 2;
			}
		} else if (strcmp(argv[i], "--now") == 0) {
			if (!parse_u64(v, 4102444800ULL, &now)) { /* 2100-01-01 */
				fprintf(stderr, PROG ": --now wants a Unix time\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || sub == NULL || mcid == NULL || sub[0] == '\0' || mcid[0] == '\0') {
		usage(stderr);
		return 2;
	}
	if (!is_complete(dir)) {
		fprintf(stderr,
			PROG ": %s is not a complete development domain (kms-devsetup --dir)\n",
			dir);
		return 1;
	}
	hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "kid", IDMS_KID, "typ", "JWT");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", iss, "aud", aud, "sub",
			   sub, "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl), "scope",
			   scope, "mcptt_id", mcid);
	if (hdr == NULL || claims == NULL) {
		fprintf(stderr, PROG ": the claims are not valid UTF-8 text\n");
		goto out;
	}
	hs = json_dumps(hdr, JSON_COMPACT);
	cs = json_dumps(claims, JSON_COMPACT);
	if (hs == NULL || cs == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	hl = strlen(hs);
	cl = strlen(cs);
	if (hl > MAX_TOKEN_JSON || cl > MAX_TOKEN_JSON) {
		fprintf(stderr, PROG ": the claims are too long\n");
		goto out;
	}
	input = malloc(B64URL_LEN(hl) + B64URL_LEN(cl) + 1);
	if (input == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	n = b64url(input, (const uint8_t *)hs, hl);
	input[n++] = '.';
	n += b64url(input + n, (const uint8_t *)cs, cl);
	if (pathf(path, sizeof(path), "%s/pki/idms-key.pem", dir) != KMS_OK ||
	    (b = BIO_new_file(path, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL ||
	    EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		fprintf(stderr, PROG ": cannot read the IdMS key %s\n", path);
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, (const uint8_t *)input, n) != 1) {
		fprintf(stderr, PROG ": cannot sign\n");
		goto out;
	}
	/* JWS ES256: r || s, 32 octets each (RFC 7518 3.4), not DER */
	dp = der;
	sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
	if (sig == NULL) {
		fprintf(stderr, PROG ": cannot sign\n");
		goto out;
	}
	ECDSA_SIG_get0(sig, &sr, &ss);
	if (BN_bn2binpad(sr, raw, 32) != 32 || BN_bn2binpad(ss, raw + 32, 32) != 32) {
		fprintf(stderr, PROG ": cannot sign\n");
		goto out;
	}
	b64url(sigs, raw, sizeof(raw));
	printf("%s.%s\n", input, sigs);
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	json_decref(hdr);
	json_decref(claims);
	free(hs);
	free(cs);
	free(input);
	EVP_PKEY_free(key);
	EVP_MD_CTX_free(md);
	ECDSA_SIG_free(sig);
	BIO_free(b);
	return status;
}

/* Remove what the build left and free what it holds. */
static void
cleanup(struct setup *su, int remove_tmp)
{
	kms_eccsi_kms_free(su->eccsi);
	su->eccsi = NULL;
	kms_sakke_kms_free(su->sakke);
	su->sakke = NULL;
	kms_store_close(su->st);
	su->st = NULL;
	kms_p11_free(su->p11);
	su->p11 = NULL;
	EVP_PKEY_free(su->ca_key);
	su->ca_key = NULL;
	EVP_PKEY_free(su->tls_pub);
	su->tls_pub = NULL;
	X509_free(su->ca);
	su->ca = NULL;
	if (remove_tmp && su->tmp[0] != '\0') {
		if (kms_devtoken_rmtree(su->tmp) != KMS_OK) {
			fprintf(stderr, PROG ": could not remove all of %s\n", su->tmp);
		}
		su->tmp[0] = '\0';
	}
}

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

static int
cmd_setup(int argc, char **argv)
{
	static struct setup su; /* large; zeroed */
	const char *dir = NULL;
	const char *fail_after = getenv("KMS_DEVSETUP_FAIL_AFTER");
	char hsmd[PATH_MAX];
	char partial[sizeof(su.tmp)];
	char err[1024];
	struct stat st;
	struct sigaction sa;
	int force = 0;
	int exists;
	size_t k;
	int r = KMS_OK;
	int i;

	su.listen = DEF_LISTEN;
	su.metrics = DEF_METRICS;
	su.module = NULL;
	i = 1;
	while (i < argc) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--force") == 0) {
			force = 1;
			i++;
			continue;
		} else if (strcmp(argv[i], "--tls-in-token") == 0) {
			su.tls_in_token = 1;
			i++;
			continue;
		} else if (strcmp(argv[i], "--preminted") == 0) {
			su.preminted = 1;
			i++;
			continue;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--dir") == 0) {
			dir = v;
		} else if (strcmp(argv[i], "--hsmd") == 0) {
			if (realpath(v, hsmd) == NULL || access(hsmd, X_OK) != 0) {
				fprintf(stderr, PROG ": --hsmd %s: not an executable file\n", v);
				return 2;
			}
			su.hsmd = hsmd;
		} else if (strcmp(argv[i], "--listen") == 0) {
			su.listen = v;
		} else if (strcmp(argv[i], "--metrics") == 0) {
			su.metrics = v;
		} else if (strcmp(argv[i], "--module") == 0) {
			su.module = v;
		} else if (strcmp(argv[i], "--token") == 0) {
			if (strcmp(v, "softhsm") == 0) {
				su.nss = 0;
			} else if (strcmp(v, "nss") == 0) {
				su.nss = 1;
			} else {
				fprintf(stderr, PROG ": --token is softhsm or nss\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
		i += 2;
	}
	if (dir == NULL || dir[0] == '\0') {
		usage(stderr);
		return 2;
	}
	{
		char host[MAX_HOST + 1];
		int is_ip;
		if (plan_listen(&su) != KMS_OK ||
		    !parse_hostport(su.metrics, host, sizeof(host), &is_ip)) {
			fprintf(stderr,
				PROG ": --listen and --metrics want HOST:PORT (an IPv4 address, "
				     "[IPv6] or a name; port 1..65535)\n");
			return 2;
		}
	}
	if (su.nss && su.preminted) {
		fprintf(stderr, PROG ": --preminted needs SoftHSM: NSS's softoken cannot unwrap a "
				     "257-octet RSK (docs/tokens.md)\n");
		return 2;
	}
	su.kwp = su.nss ? KMS_CKM_AES_KEY_WRAP_KWP : CKM_AES_KEY_WRAP_PAD;
	if (su.module == NULL) {
		su.module = su.nss ? kms_devtoken_nss_module() : kms_devtoken_module();
	}
	if (su.module == NULL) {
		fprintf(stderr, PROG ": --token nss: NSS's softoken (libsoftokn3, package libnss3) "
				     "is not installed\n");
		return 1;
	}
	if (su.module[0] != '/') {
		fprintf(stderr, PROG ": --module wants an absolute path\n");
		return 2;
	}
	if ((r = resolve_dir(&su, dir)) != KMS_OK) {
		fprintf(stderr, PROG ": --dir %s: %s\n", dir,
			r == KMS_ERR_IO ? strerror(errno)
					: "not a usable directory name (at most 1024 octets, no "
					  "control characters, not ending in a blank, . or ..)");
		return r == KMS_ERR_IO ? 1 : 2;
	}
	exists = lstat(su.dir, &st) == 0;
	if (exists && S_ISDIR(st.st_mode) && is_complete(su.dir) && !force) {
		printf(PROG ": %s is a complete development domain: nothing to do (--force makes a "
			    "new one)\n",
		       su.dir);
		return 0;
	}
	if (exists && !force) {
		fprintf(stderr,
			PROG ": %s exists but is not a complete development domain (no %s/" MARKER
			     "): remove it, or run with --force to replace it\n",
			su.dir, su.dir);
		return 1;
	}
	if (exists && !S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": %s exists and is not a directory\n", su.dir);
		return 1;
	}

	/* an interruption ends the build between two steps, and the partial directory goes */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0 || sigaction(SIGQUIT, &sa, NULL) != 0) {
		fprintf(stderr, PROG ": cannot handle signals\n");
		return 1;
	}
	if (pathf(su.tmp, sizeof(su.tmp), "%s.tmp.XXXXXX", su.dir) != KMS_OK ||
	    mkdtemp(su.tmp) == NULL) {
		fprintf(stderr, PROG ": cannot create a directory beside %s: %s\n", su.dir,
			strerror(errno));
		su.tmp[0] = '\0';
		r = KMS_ERR_IO;
		goto done;
	}
	printf(PROG ": making the development domain %s (built in %s)\n", su.dir, su.tmp);
	fflush(stdout);
	for (k = 0; k < NUM_STEPS; k++) {
		err[0] = '\0';
		printf(PROG ": [%zu/%zu] %s: %s\n", k + 1, NUM_STEPS, steps[k].name, steps[k].what);
		fflush(stdout);
		r = steps[k].fn(&su, err, sizeof(err));
		if (r == KMS_OK && interrupted != 0) {
			r = failf(err, sizeof(err), KMS_ERR_INTERNAL, "interrupted (signal %d)",
				  (int)interrupted);
		}
		if (r == KMS_OK && fail_after != NULL && strcmp(fail_after, steps[k].name) == 0) {
			r = failf(err, sizeof(err), KMS_ERR_INTERNAL,
				  "failure injected (KMS_DEVSETUP_FAIL_AFTER)");
		}
		if (r != KMS_OK) {
			fflush(stdout);
			fprintf(stderr, PROG ": step %zu/%zu (%s) failed: %s\n", k + 1, NUM_STEPS,
				steps[k].name, err[0] != '\0' ? err : kms_strerror(r));
			break;
		}
		if (k == 1) {
			printf(PROG ":       RFC 5649 wrap: %s\n",
			       su.wrap_mode == KMS_WRAP_TOKEN
				       ? "by the token"
				       : "host-ECB (SoftHSM's padding defect; "
					 "development only)");
		}
	}
	if (r == KMS_OK) {
		cleanup(&su, 0);
		if ((r = install(&su, exists, err, sizeof(err))) != KMS_OK) {
			fprintf(stderr, PROG ": step install failed: %s\n", err);
		}
	}
	if (r == KMS_OK) {
		su.tmp[0] = '\0'; /* it is DIR now */
		printf(PROG ": done: %s; serve it with: kmsd -c %s/kmsd.conf\n", su.dir, su.dir);
	}
done:
	snprintf(partial, sizeof(partial), "%s", su.tmp);
	cleanup(&su, 1);
	if (r != KMS_OK && partial[0] != '\0') {
		fprintf(stderr, PROG ": removed the partial directory %s\n", partial);
	}
	fflush(stdout);
	return r == KMS_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (kms_harden_process() != KMS_OK) {
		fprintf(stderr, PROG ": cannot make the process undumpable\n");
		return 1;
	}
	kms_log_init(PROG, KMS_LOG_ERR);
	if (argc >= 2 && strcmp(argv[1], "token") == 0) {
		return cmd_token(argc, argv);
	}
	return cmd_setup(argc, argv);
}
