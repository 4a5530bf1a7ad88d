/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/eccsi.h"
#include "hsm/kat.h"
#include "hsm/sakke.h"
#include "proto/frame.h"
#include "proto/signedinfo.h"
#include "proto/store.h"

#include "common/banned.h"

#define RSK_LEN KMS_SAKKE_POINT_LEN
#define SSK_LEN KMS_ECCSI_SCALAR_LEN
#define PVT_LEN KMS_ECCSI_POINT_LEN

/*
 * Session copies of the token keys the adapter uses for every request (KEK, TrK, InK): SoftHSM
 * re-reads a token object from disk at each use and searches token objects file by file (hsm
 * notes, pitfall 5); a session copy (C_CopyObject with CKA_TOKEN false keeps every other
 * attribute) is used from memory. A copy is good for the PKCS#11 generation it was made in (a
 * module restart ends every session object) and for KEY_CACHE_TTL seconds, so that a key an
 * operator removes from the token stops being used soon; entitlements are checked in the store
 * at every request regardless.
 */
#define KEY_CACHE_SIZE 64
#define KEY_CACHE_TTL  60

struct key_copy {
	char label[KMS_KEYS_MAX_LABEL + 1];
	CK_OBJECT_CLASS cls; /* CKO_SECRET_KEY, or CKO_PRIVATE_KEY (the TLS key) */
	CK_OBJECT_HANDLE handle;
	unsigned long generation;
	time_t made;
	uint64_t last_use;
};

struct keyset_plain;

struct kms_adapter {
	struct kms_p11 *p11; /* borrowed */
	struct kms_store *store;
	struct kms_store_cert cert;
	struct kms_wrap_policy wrap;
	char kek_label[KMS_KEYS_MAX_LABEL + 1];
	enum kms_issuer issuer;
	enum kms_id_format id_format;
	unsigned int past_periods;
	unsigned int future_periods;
	/* kmsd's TLS key pair in the token (tls_key), or "" */
	char tls_label[KMS_KEYS_MAX_LABEL + 1];
	uint8_t tls_point[KMS_EC_POINT_LEN];
	/* the audit key pair in the token (audit_key), or "" */
	char audit_label[KMS_KEYS_MAX_LABEL + 1];
	uint8_t audit_point[KMS_EC_POINT_LEN];
	uint8_t audit_fp[KMS_AUDIT_HASH_LEN]; /* its fingerprint, which checkpoints name */
	/* online issuer only: the master secrets, in locked memory (their own structs) */
	struct kms_eccsi_kms *eccsi;
	struct kms_sakke_kms *sakke;
	/* session copies of token keys (see key_get) */
	struct key_copy cache[KEY_CACHE_SIZE];
	uint64_t cache_clock;
	/* the key set being issued or unwrapped: locked memory of its own, wiped after each use */
	struct keyset_plain *plain;
	/* the last check that the token is there (token_present): monotonic ms, 0: none */
	uint64_t present_ms;
	unsigned long present_generation;
	/* the clients whose key sets go out unwrapped (plaintext_clients) */
	char plaintext[KMS_ADAPTER_MAX_PLAINTEXT][KMS_PROTO_MAX_CLIENT_ID + 1];
	size_t num_plaintext;
};

/* Secret buffers of one provisioning: one locked allocation, wiped on free. */
struct keyset_plain {
	uint8_t rsk[RSK_LEN];
	uint8_t ssk[SSK_LEN];
	uint8_t pvt[PVT_LEN];
};

static int
copy_label(char *out, size_t cap, const char *in)
{
	size_t n = in != NULL ? strlen(in) : 0;

	if (n == 0 || n >= cap) {
		return KMS_ERR_INVALID_ARG;
	}
	memcpy(out, in, n + 1);
	return KMS_OK;
}

_Static_assert(KMS_STORE_MAX_ID <= KMS_PROTO_MAX_CLIENT_ID, "a client id fits a plaintext entry");

/* The plaintext clients of cfg into a, each announced as loudly as the choice deserves. */
static int
copy_plaintext_clients(struct kms_adapter *a, const struct kms_adapter_config *cfg)
{
	size_t i;

	if (cfg->num_plaintext_clients > KMS_ADAPTER_MAX_PLAINTEXT ||
	    (cfg->num_plaintext_clients > 0 && cfg->plaintext_clients == NULL)) {
		kms_log(KMS_LOG_ERR, "adapter: at most %d plaintext clients",
			KMS_ADAPTER_MAX_PLAINTEXT);
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < cfg->num_plaintext_clients; i++) {
		const char *id = cfg->plaintext_clients[i];

		if (id == NULL || !kms_store_id_ok(id, strlen(id))) {
			kms_log(KMS_LOG_ERR,
				"adapter: plaintext client %zu is not a client id (1 to %d visible "
				"ASCII characters)",
				i + 1, KMS_STORE_MAX_ID);
			return KMS_ERR_INVALID_ARG;
		}
		memcpy(a->plaintext[i], id, strlen(id) + 1);
		kms_log(KMS_LOG_WARN,
			"adapter: client %s gets its key material UNWRAPPED (KeyContentType, "
			"protected by TLS alone; plaintext_client): kmsd handles it in plain form",
			id);
	}
	a->num_plaintext = cfg->num_plaintext_clients;
	return KMS_OK;
}

/* Whether the configuration names client_id in plaintext_clients. */
static int
is_plaintext_client(const struct kms_adapter *a, const char *client_id)
{
	size_t i;

	for (i = 0; i < a->num_plaintext; i++) {
		if (strcmp(a->plaintext[i], client_id) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Online issuer: the master secrets into locked memory, checked against the certificate. */
static int
load_master_secrets(struct kms_adapter *a, struct kms_p11_session *s, CK_OBJECT_HANDLE kek)
{
	struct kms_store_blob blob;
	struct kms_secret *ksak = NULL;
	struct kms_secret *z = NULL;
	uint8_t kpak[KMS_ECCSI_POINT_LEN];
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	int r;

	if ((r = kms_store_get_secret(a->store, "ksak", &blob)) != KMS_OK ||
	    (r = kms_unwrap_secret(s, &a->wrap, kek, blob.data, blob.len, KMS_ECCSI_SCALAR_LEN,
				   &ksak)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: cannot unwrap the ECCSI master secret (KSAK): %s",
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_store_get_secret(a->store, "z_t", &blob)) != KMS_OK ||
	    (r = kms_unwrap_secret(s, &a->wrap, kek, blob.data, blob.len, KMS_SAKKE_SCALAR_LEN,
				   &z)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: cannot unwrap the SAKKE master secret (z_T): %s",
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_eccsi_kms_new(&a->eccsi, ksak->data)) != KMS_OK ||
	    (r = kms_sakke_kms_new(&a->sakke, z->data, z->len)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the master secrets are not valid keys: %s",
			kms_strerror(r));
		goto out;
	}
	kms_eccsi_kms_kpak(a->eccsi, kpak);
	kms_sakke_kms_public(a->sakke, zpub);
	if (memcmp(kpak, a->cert.kpak, sizeof(kpak)) != 0 ||
	    memcmp(zpub, a->cert.z_t, sizeof(zpub)) != 0) {
		kms_log(KMS_LOG_ERR, "adapter: the master secrets do not match the certificate's "
				     "public keys (KPAK, Z_T): wrong store or wrong token");
		r = KMS_ERR_SELFTEST;
		goto out;
	}
	r = KMS_OK;
out:
	kms_secret_free(ksak);
	kms_secret_free(z);
	return r;
}

/*
 * The TLS key (tls_key): the pair is in the token, and a signature the token makes with the
 * private key verifies with OpenSSL against the public key's point, so that kmsd's check against
 * its certificate tests the key that signs.
 */
static int
load_tls_key(struct kms_adapter *a, struct kms_p11_session *s)
{
	static const uint8_t digest[32] = "kms-hsmd TLS key self-check ...";
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
	uint8_t sig[KMS_ECDSA_SIG_LEN];
	int r;

	if ((r = kms_keys_find_tls(s, &priv, a->tls_point, a->tls_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: tls_key: no usable EC P-256 key pair labelled '%s' in the token "
			"(a private and a public key of that label): %s",
			a->tls_label, kms_strerror(r));
		return r;
	}
	if ((r = kms_ecdsa_sign(s, priv, digest, sizeof(digest), sig)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: tls_key: the token cannot sign with '%s': %s",
			a->tls_label, kms_strerror(r));
		return r;
	}
	if ((r = kms_ecdsa_verify_point(a->tls_point, digest, sizeof(digest), sig)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: tls_key: a signature by '%s' does not verify with its public "
			"key: "
			"%s",
			a->tls_label, kms_strerror(r));
		return KMS_ERR_SELFTEST;
	}
	return KMS_OK;
}

/*
 * The audit key (audit_key): the pair is in the token, a signature the token makes verifies
 * with its public point, and that point is registered in the store (each node's token has its
 * own key; the key ceremony and kms-devsetup register it), against which kms-admin checks the
 * checkpoints this kms-hsmd writes, without the token.
 */
static int
load_audit_key(struct kms_adapter *a, struct kms_p11_session *s)
{
	static const uint8_t digest[32] = "kms-hsmd audit key self-check .";
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
	uint8_t sig[KMS_ECDSA_SIG_LEN];
	char fp_hex[2 * KMS_AUDIT_HASH_LEN + 1];
	int r, has = 0;

	if ((r = kms_keys_find_tls(s, &priv, a->audit_point, a->audit_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: audit_key: no usable EC P-256 key pair labelled '%s' in the "
			"token (a private and a public key of that label): %s",
			a->audit_label, kms_strerror(r));
		return r;
	}
	if ((r = kms_ecdsa_sign(s, priv, digest, sizeof(digest), sig)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: audit_key: the token cannot sign with '%s': %s",
			a->audit_label, kms_strerror(r));
		return r;
	}
	if ((r = kms_ecdsa_verify_point(a->audit_point, digest, sizeof(digest), sig)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: audit_key: a signature by '%s' does not verify with its public "
			"key: %s",
			a->audit_label, kms_strerror(r));
		return KMS_ERR_SELFTEST;
	}
	if ((r = kms_store_audit_key_fingerprint(a->audit_point, a->audit_fp)) != KMS_OK ||
	    (r = kms_hex_encode(fp_hex, sizeof(fp_hex), a->audit_fp, sizeof(a->audit_fp))) !=
		    KMS_OK) {
		return r;
	}
	if ((r = kms_store_has_audit_key(a->store, a->audit_point, &has)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: audit_key: cannot read the store's audit keys: %s",
			kms_strerror(r));
		return r;
	}
	if (!has) {
		kms_log(KMS_LOG_ERR,
			"adapter: audit_key: the token's key '%s' (fingerprint %s) is not "
			"registered "
			"in the store: register it (the key ceremony's generate or restore, or "
			"kms-devsetup, does), or check that this is the right store and token",
			a->audit_label, fp_hex);
		return KMS_ERR_SELFTEST;
	}
	kms_log(KMS_LOG_INFO, "adapter: audit key '%s', fingerprint %s", a->audit_label, fp_hex);
	return KMS_OK;
}

_Static_assert(KMS_AUDIT_POINT_LEN == KMS_EC_POINT_LEN, "the audit key is a P-256 point");
_Static_assert(KMS_AUDIT_SIG_LEN == KMS_ECDSA_SIG_LEN, "checkpoints are ECDSA P-256 r || s");
_Static_assert(KMS_PROTO_AUDIT_SIG_LEN == KMS_ECDSA_SIG_LEN, "AUDIT_SIGN returns r || s");
_Static_assert(KMS_PROTO_AUDIT_HASH_LEN == KMS_AUDIT_HASH_LEN, "an audit record's hash");

/*
 * Whether the token is there (kms_keys_token_present), asked at most every
 * KMS_ADAPTER_PRESENT_MS within one PKCS#11 generation; a failure is never remembered.
 */
static int
token_present(struct kms_adapter *a, struct kms_p11_session *s)
{
	struct kms_p11_stats st;
	uint64_t now = kms_mono_ms();
	int r;

	kms_p11_get_stats(a->p11, &st);
	if (a->present_ms != 0 && st.generation == a->present_generation && now >= a->present_ms &&
	    now - a->present_ms < KMS_ADAPTER_PRESENT_MS) {
		return KMS_OK;
	}
	r = kms_keys_token_present(s);
	a->present_ms = r == KMS_OK ? (now > 0 ? now : 1) : 0;
	a->present_generation = st.generation;
	return r;
}

/* Forget the cached session copy of the secret key label, if any, destroying it. */
static void
cache_drop(struct kms_adapter *a, struct kms_p11_session *s, const char *label)
{
	struct kms_p11_stats st;
	size_t i;

	kms_p11_get_stats(a->p11, &st);
	for (i = 0; i < KEY_CACHE_SIZE; i++) {
		struct key_copy *c = &a->cache[i];

		if (c->handle == CK_INVALID_HANDLE || c->cls != CKO_SECRET_KEY ||
		    strcmp(c->label, label) != 0) {
			continue;
		}
		if (c->generation == st.generation &&
		    kms_p11_destroy_object(s, c->handle) != KMS_OK) {
			kms_log(KMS_LOG_WARN, "adapter: cannot destroy a cached key copy");
		}
		c->handle = CK_INVALID_HANDLE;
	}
}

/*
 * Destroy the token objects of the retired client key label (the store said so: a TrK or InK
 * that no client nor pending rotation uses any longer) and this process's cached copy of it.
 * Never the KEK, whatever the store says: kmsd's user can write the store. *destroyed counts
 * the objects.
 */
static int
purge_label(struct kms_adapter *a, struct kms_p11_session *s, const char *label, size_t *destroyed)
{
	size_t n = 0;
	int r;

	if (strcmp(label, a->kek_label) == 0) {
		kms_log(KMS_LOG_ERR,
			"adapter: the store says the KEK '%s' is a retired client key; "
			"it is kept",
			label);
		return KMS_OK;
	}
	cache_drop(a, s, label);
	r = kms_keys_destroy_label(s, label, &n);
	if (r == KMS_ERR_INVALID_ARG) {
		return KMS_OK; /* a label no key of the token can carry */
	}
	if (n > 0) {
		kms_log(KMS_LOG_INFO, "adapter: destroyed the retired client key '%s' in the token",
			label);
		*destroyed += n;
	}
	return r;
}

struct purge_walk {
	struct kms_adapter *a;
	struct kms_p11_session *s;
	size_t destroyed;
	size_t retired; /* counted by count_one */
	/* the labels of the token's client keys, sorted (purge by listing), or NULL */
	char **labels;
	size_t num_labels, cap_labels;
};

static int
count_one(void *ctx, const char *label, int64_t retired)
{
	struct purge_walk *w = ctx;

	(void)label;
	(void)retired;
	w->retired++;
	return KMS_OK;
}

static int
purge_one(void *ctx, const char *label, int64_t retired)
{
	struct purge_walk *w = ctx;

	(void)retired;
	return purge_label(w->a, w->s, label, &w->destroyed);
}

static int
cmp_label(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* kms_keys_client_key_labels's callback: a copy of the token's label. */
static int
collect_label(void *ctx, const char *label)
{
	struct purge_walk *w = ctx;

	if (w->num_labels == w->cap_labels) {
		size_t ncap = w->cap_labels == 0 ? 64 : 2 * w->cap_labels;
		char **p = realloc(w->labels, ncap * sizeof(*p));

		if (p == NULL) {
			return KMS_ERR_NOMEM;
		}
		w->labels = p;
		w->cap_labels = ncap;
	}
	if ((w->labels[w->num_labels] = strdup(label)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w->num_labels++;
	return KMS_OK;
}

/* A retired label that the token's list holds: destroyed; any other: nothing to do. */
static int
purge_listed(void *ctx, const char *label, int64_t retired)
{
	struct purge_walk *w = ctx;
	const char *key = label;

	(void)retired;
	if (bsearch(&key, w->labels, w->num_labels, sizeof(*w->labels), cmp_label) == NULL) {
		return KMS_OK;
	}
	return purge_label(w->a, w->s, label, &w->destroyed);
}

/* The most client keys a token is listed with; beyond, the purge searches label by label. */
#define PURGE_LIST_MAX ((size_t)1 << 20)

/*
 * Destroy the token objects of every client key the store has retired (finished, cancelled or
 * dropped rotations and re-enrolments: kms_store_retired_list), at each start, so that every
 * node's token loses them, whichever node or tool retired them. The retired list only grows
 * (a node that was down long still needs it), so when the token holds no more client keys
 * (CKA_UNWRAP false) than there are retired labels, their labels are listed once and only the
 * retired labels among them are searched and destroyed; otherwise each retired label is
 * searched. Either way the start costs calls in proportion to the smaller of the two. A failure
 * is logged and left for the next start.
 */
static void
purge_retired(struct kms_adapter *a, struct kms_p11_session *s)
{
	struct purge_walk w;
	size_t i;
	int r;

	memset(&w, 0, sizeof(w));
	w.a = a;
	w.s = s;
	if ((r = kms_store_retired_list(a->store, count_one, &w)) != KMS_OK || w.retired == 0) {
		goto out;
	}
	/* listing pays two calls per client key of the token, searching three per retired label:
	 * list only a token with no more client keys than there are retired labels */
	r = kms_keys_client_key_labels(s, w.retired < PURGE_LIST_MAX ? w.retired : PURGE_LIST_MAX,
				       collect_label, &w);
	if (r == KMS_OK) {
		kms_log(KMS_LOG_DEBUG,
			"adapter: %zu retired client keys: looked for among the token's %zu",
			w.retired, w.num_labels);
		if (w.num_labels > 0) { /* none: nothing to destroy (and no array to sort) */
			qsort(w.labels, w.num_labels, sizeof(*w.labels), cmp_label);
			r = kms_store_retired_list(a->store, purge_listed, &w);
		}
		goto out;
	}
	if (r != KMS_ERR_TOO_LARGE && r != KMS_ERR_NOMEM) {
		goto out; /* the token failed: the next start tries again */
	}
	kms_log(KMS_LOG_DEBUG, "adapter: %zu retired client keys: looked for one by one",
		w.retired);
	r = kms_store_retired_list(a->store, purge_one, &w);
out:
	if (r != KMS_OK) {
		kms_log(KMS_LOG_WARN,
			"adapter: cannot destroy every retired client key now (%s); the next start "
			"tries again",
			kms_strerror(r));
	}
	if (w.destroyed > 0) {
		kms_log(KMS_LOG_INFO,
			"adapter: %zu token object%s of retired client keys destroyed", w.destroyed,
			w.destroyed == 1 ? "" : "s");
	}
	for (i = 0; i < w.num_labels; i++) {
		free(w.labels[i]);
	}
	free(w.labels);
}

int
kms_adapter_new(struct kms_adapter **out, struct kms_p11 *p11, const struct kms_adapter_config *cfg)
{
	struct kms_adapter *a = NULL;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
	const char *failed = NULL;
	int exact = 0;
	int r;

	*out = NULL;
	if (p11 == NULL || cfg == NULL || cfg->store_path == NULL ||
	    (cfg->issuer != KMS_ISSUER_ONLINE && cfg->issuer != KMS_ISSUER_PREMINTED)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_mikey_selftest(&failed)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: known-answer test failed: %s; refusing to serve",
			failed != NULL ? failed : "?");
		return r;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return KMS_ERR_NOMEM;
	}
	a->p11 = p11;
	a->issuer = cfg->issuer;
	a->id_format = cfg->id_format;
	a->past_periods = cfg->past_periods;
	a->future_periods = cfg->future_periods;
	a->wrap.kwp = cfg->kwp;
	a->wrap.mode = KMS_WRAP_TOKEN;
	if ((r = copy_label(a->kek_label, sizeof(a->kek_label), cfg->kek_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: no valid KEK label configured");
		goto out;
	}
	if (cfg->tls_key_label != NULL &&
	    (r = copy_label(a->tls_label, sizeof(a->tls_label), cfg->tls_key_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the tls_key label is empty or too long");
		goto out;
	}
	if (cfg->audit_key_label != NULL && (r = copy_label(a->audit_label, sizeof(a->audit_label),
							    cfg->audit_key_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the audit_key label is empty or too long");
		goto out;
	}
	if ((r = copy_plaintext_clients(a, cfg)) != KMS_OK) {
		goto out;
	}
	/* one locked buffer for every provision: no mmap and mlock per request */
	if ((a->plain = kms_secmem_alloc(sizeof(*a->plain))) == NULL) {
		kms_log(KMS_LOG_ERR, "adapter: cannot lock memory for key sets");
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = kms_store_open(&a->store, cfg->store_path, KMS_STORE_RW)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: cannot open the store %s: %s", cfg->store_path,
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_store_get_cert(a->store, &a->cert)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: the store has no KMS certificate yet (run the ceremony)");
		goto out;
	}
	if ((r = kms_p11_borrow(p11, &s)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: no session with the token: %s", kms_strerror(r));
		goto out;
	}
	if ((r = kms_wrap_probe(s, &a->wrap, &exact)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the token failed the RFC 5649 known-answer test: %s",
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_wrap_choose(&a->wrap, exact, cfg->allow_host_ecb)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_hmac_probe(s)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: the token failed the HMAC-SHA256 known-answer test: %s",
			kms_strerror(r));
		goto out;
	}
	/* the pre-minted issuer unwraps each element of a key set under the KEK in the token */
	if (a->issuer == KMS_ISSUER_PREMINTED &&
	    ((r = kms_unwrap_probe(s, &a->wrap, RSK_LEN)) != KMS_OK ||
	     (r = kms_unwrap_probe(s, &a->wrap, PVT_LEN)) != KMS_OK)) {
		kms_log(KMS_LOG_ERR,
			"adapter: the pre-minted issuer cannot serve from this token (it must "
			"unwrap %u- and %u-octet keys); use the online issuer",
			(unsigned int)RSK_LEN, (unsigned int)PVT_LEN);
		goto out;
	}
	if ((r = kms_keys_find(s, &kek, a->kek_label)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the domain KEK '%s' is not in the token",
			a->kek_label);
		goto out;
	}
	if (!cfg->no_purge) {
		purge_retired(a, s);
	}
	if (a->issuer == KMS_ISSUER_ONLINE && (r = load_master_secrets(a, s, kek)) != KMS_OK) {
		goto out;
	}
	if (a->tls_label[0] != '\0' && (r = load_tls_key(a, s)) != KMS_OK) {
		goto out;
	}
	if (a->audit_label[0] != '\0' && (r = load_audit_key(a, s)) != KMS_OK) {
		goto out;
	}
	kms_log(KMS_LOG_INFO,
		"adapter: ready: issuer %s, KMS %s, key period %llu s, wrap by %s, TLS key %s, "
		"audit key %s, %zu plaintext client%s",
		a->issuer == KMS_ISSUER_ONLINE ? "online" : "pre-minted", a->cert.kms_uri,
		(unsigned long long)a->cert.user_key_period,
		a->wrap.mode == KMS_WRAP_TOKEN ? "the token" : "host ECB (development)",
		a->tls_label[0] != '\0' ? a->tls_label : "none",
		a->audit_label[0] != '\0' ? a->audit_label : "none", a->num_plaintext,
		a->num_plaintext == 1 ? "" : "s");
	*out = a;
	a = NULL;
	r = KMS_OK;
out:
	kms_p11_return(s);
	kms_adapter_free(a);
	return r;
}

enum kms_wrap_mode
kms_adapter_wrap_mode(const struct kms_adapter *a)
{
	return a->wrap.mode;
}

/* Destroy the session copies still alive (this generation's); older ones died with the module. */
static void
cache_flush(struct kms_adapter *a)
{
	struct kms_p11_session *s = NULL;
	struct kms_p11_stats st;
	size_t i;

	if (a->p11 == NULL || kms_p11_borrow(a->p11, &s) != KMS_OK) {
		return;
	}
	kms_p11_get_stats(a->p11, &st);
	for (i = 0; i < KEY_CACHE_SIZE; i++) {
		struct key_copy *c = &a->cache[i];

		if (c->handle != CK_INVALID_HANDLE && c->generation == st.generation &&
		    kms_p11_destroy_object(s, c->handle) != KMS_OK) {
			kms_log(KMS_LOG_WARN, "adapter: cannot destroy a cached key copy");
		}
		c->handle = CK_INVALID_HANDLE;
	}
	kms_p11_return(s);
}

void
kms_adapter_free(struct kms_adapter *a)
{
	if (a == NULL) {
		return;
	}
	cache_flush(a);
	kms_secmem_free(a->plain, sizeof(*a->plain));
	kms_eccsi_kms_free(a->eccsi);
	kms_sakke_kms_free(a->sakke);
	kms_store_close(a->store);
	kms_memzero(a, sizeof(*a));
	free(a);
}

/* Is key period n one the KMS serves now? */
static int
period_served(const struct kms_adapter *a, uint64_t n, uint64_t ntp_now)
{
	uint64_t now = 0;

	if (kms_key_period_no(&now, ntp_now, a->cert.user_key_period, a->cert.user_key_offset) !=
	    KMS_OK) {
		return 0;
	}
	if (n > now) {
		return n - now <= a->future_periods;
	}
	return now - n <= a->past_periods;
}

static void
put_u16(uint8_t **p, size_t v)
{
	(*p)[0] = (uint8_t)(v >> 8);
	(*p)[1] = (uint8_t)v;
	*p += 2;
}

/* The hmac of a provision reply (the layout is in adapter.h). */
static int
keyset_mac(struct kms_p11_session *s, CK_OBJECT_HANDLE ink, struct kms_proto_provision_rep *p)
{
	static const char tag[] = "KMS-KEYSET-1";
	uint8_t buf[sizeof(tag) + 8 + KMS_PROTO_UID_LEN + 3 * (2 + KMS_PROTO_MAX_WRAPPED) + 1 +
		    KMS_PROTO_MAX_KEY_ID];
	uint8_t *w = buf;
	int i;

	memcpy(w, tag, sizeof(tag) - 1);
	w += sizeof(tag) - 1;
	for (i = 7; i >= 0; i--) {
		*w++ = (uint8_t)(p->key_period >> (8 * i));
	}
	memcpy(w, p->user_id, KMS_PROTO_UID_LEN);
	w += KMS_PROTO_UID_LEN;
	put_u16(&w, p->rsk_wrapped_len);
	memcpy(w, p->rsk_wrapped, p->rsk_wrapped_len);
	w += p->rsk_wrapped_len;
	put_u16(&w, p->ssk_wrapped_len);
	memcpy(w, p->ssk_wrapped, p->ssk_wrapped_len);
	w += p->ssk_wrapped_len;
	put_u16(&w, p->pvt_wrapped_len);
	memcpy(w, p->pvt_wrapped, p->pvt_wrapped_len);
	w += p->pvt_wrapped_len;
	*w++ = (uint8_t)p->trk_id_len;
	memcpy(w, p->trk_id, p->trk_id_len);
	w += p->trk_id_len;
	return kms_hmac_sha256(s, ink, buf, (size_t)(w - buf), p->hmac);
}

/*
 * Pre-minted: the RSK and PVT of ks, and its SSK with with_ssk, unwrapped from the KEK into
 * locked memory (a plaintext client's set; the host-ECB wrap).
 */
static int
unwrap_preminted(struct kms_adapter *a, struct kms_p11_session *s, CK_OBJECT_HANDLE kek,
		 const struct kms_store_keyset *ks, int with_ssk, struct keyset_plain *k)
{
	const struct kms_store_blob *blobs[3] = {&ks->rsk, &ks->pvt, &ks->ssk};
	uint8_t *dst[3] = {k->rsk, k->pvt, k->ssk};
	const size_t lens[3] = {RSK_LEN, PVT_LEN, SSK_LEN};
	size_t i;
	int r = KMS_OK;

	for (i = 0; i < (with_ssk ? 3u : 2u) && r == KMS_OK; i++) {
		r = kms_unwrap_secret_to(s, &a->wrap, kek, blobs[i]->data, blobs[i]->len, dst[i],
					 lens[i]);
	}
	return r;
}

/* A plaintext client's reply: the keys themselves, no TrK, no hmac (msg.h). */
static void
put_plain(struct kms_proto_provision_rep *rep, const struct keyset_plain *k)
{
	_Static_assert(RSK_LEN == KMS_PROTO_PLAIN_RSK_LEN && SSK_LEN == KMS_PROTO_PLAIN_SSK_LEN &&
			       PVT_LEN == KMS_PROTO_PLAIN_PVT_LEN,
		       "a plain reply holds the keys as the issuer makes them");
	rep->plain = true;
	memcpy(rep->rsk_wrapped, k->rsk, RSK_LEN);
	rep->rsk_wrapped_len = RSK_LEN;
	memcpy(rep->ssk_wrapped, k->ssk, SSK_LEN);
	rep->ssk_wrapped_len = SSK_LEN;
	memcpy(rep->pvt_wrapped, k->pvt, PVT_LEN);
	rep->pvt_wrapped_len = PVT_LEN;
	rep->trk_id[0] = '\0';
	rep->trk_id_len = 0;
	memset(rep->hmac, 0, sizeof(rep->hmac));
}

/* Online: compute the key set into locked memory. */
static int
issue_online(struct kms_adapter *a, const uint8_t *id, size_t id_len, struct keyset_plain *k)
{
	int r;

	if ((r = kms_eccsi_issue(a->eccsi, id, id_len, k->ssk, k->pvt)) != KMS_OK ||
	    (r = kms_sakke_issue(a->sakke, id, id_len, k->rsk)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: issuing failed: %s", kms_strerror(r));
	}
	return r;
}

/*
 * Wrap the RSK and PVT of k, and its SSK with with_ssk, under trk into rep, from locked memory,
 * in one kms_wrap_bytes_many: in host-ECB mode the PVT and RSK share one ECB stream.
 */
static int
wrap_set(struct kms_adapter *a, struct kms_p11_session *s, CK_OBJECT_HANDLE trk,
	 const struct keyset_plain *k, int with_ssk, struct kms_proto_provision_rep *rep)
{
	const uint8_t *const d[3] = {k->rsk, k->pvt, k->ssk};
	const size_t l[3] = {RSK_LEN, PVT_LEN, SSK_LEN};
	uint8_t *const o[3] = {rep->rsk_wrapped, rep->pvt_wrapped, rep->ssk_wrapped};
	size_t ol[3] = {0, 0, 0};
	int r;

	r = kms_wrap_bytes_many(s, &a->wrap, trk, with_ssk ? 3 : 2, d, l, o, KMS_PROTO_MAX_WRAPPED,
				ol);
	if (r == KMS_OK) {
		rep->rsk_wrapped_len = ol[0];
		rep->pvt_wrapped_len = ol[1];
		if (with_ssk) {
			rep->ssk_wrapped_len = ol[2];
		}
	}
	return r;
}

/*
 * Pre-minted: one element, unwrapped from the KEK into the token and re-wrapped under the TrK
 * there (in host-ECB mode only lengths that are a multiple of 8: kms_wrap_object).
 */
static int
rewrap_preminted(struct kms_adapter *a, struct kms_p11_session *s, CK_OBJECT_HANDLE kek,
		 CK_OBJECT_HANDLE trk, const struct kms_store_blob *blob, size_t len, uint8_t *out,
		 size_t *out_len)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	int r;

	if ((r = kms_unwrap_object(s, &a->wrap, kek, blob->data, blob->len, len, &obj)) != KMS_OK) {
		return r;
	}
	r = kms_wrap_object(s, &a->wrap, trk, obj, len, out, KMS_PROTO_MAX_WRAPPED, out_len);
	if (kms_p11_destroy_object(s, obj) != KMS_OK && r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	return r;
}

/*
 * The cached session copy of the key of class cls labelled label, if it is good (this PKCS#11
 * generation, younger than KEY_CACHE_TTL): its handle, or CK_INVALID_HANDLE. *slot gets the
 * entry to (re)fill otherwise: the stale entry of that label, else a free one, else the least
 * recently used.
 */
static CK_OBJECT_HANDLE
cache_find(struct kms_adapter *a, CK_OBJECT_CLASS cls, const char *label, struct key_copy **slot)
{
	struct kms_p11_stats st;
	time_t now = time(NULL);
	size_t i;

	kms_p11_get_stats(a->p11, &st);
	*slot = &a->cache[0];
	for (i = 0; i < KEY_CACHE_SIZE; i++) {
		struct key_copy *c = &a->cache[i];

		if (c->handle != CK_INVALID_HANDLE && c->cls == cls &&
		    strcmp(c->label, label) == 0) {
			if (c->generation == st.generation && now - c->made < KEY_CACHE_TTL &&
			    now >= c->made) {
				c->last_use = ++a->cache_clock;
				return c->handle;
			}
			*slot = c; /* stale: replace it */
			return CK_INVALID_HANDLE;
		}
		if (c->handle == CK_INVALID_HANDLE || c->last_use < (*slot)->last_use) {
			*slot = c; /* free, or the least recently used so far */
		}
	}
	return CK_INVALID_HANDLE;
}

/* Put the session object copy, a copy of the key label, into the cache entry slot. */
static void
cache_put(struct kms_adapter *a, struct kms_p11_session *s, struct key_copy *slot,
	  CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE copy)
{
	struct kms_p11_stats st;

	kms_p11_get_stats(a->p11, &st);
	/* the slot's old copy goes (one of this generation: older ones died with the module) */
	if (slot->handle != CK_INVALID_HANDLE && slot->generation == st.generation &&
	    kms_p11_destroy_object(s, slot->handle) != KMS_OK) {
		kms_log(KMS_LOG_WARN, "adapter: cannot destroy a cached key copy");
	}
	memset(slot, 0, sizeof(*slot));
	memcpy(slot->label, label, strlen(label) + 1);
	slot->cls = cls;
	slot->handle = copy;
	slot->generation = st.generation;
	slot->made = time(NULL);
	slot->last_use = ++a->cache_clock;
}

/* The session copy of the token key of class cls labelled label (see struct key_copy):
 * KMS_OK; KMS_ERR_INVALID_ARG (no such key in the token); the token's error. */
static int
key_get_class(struct kms_adapter *a, struct kms_p11_session *s, CK_OBJECT_CLASS cls,
	      const char *label, CK_OBJECT_HANDLE *out)
{
	struct key_copy *slot = NULL;
	CK_OBJECT_HANDLE tok = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &no, sizeof(no)}};
	int r;

	if ((*out = cache_find(a, cls, label, &slot)) != CK_INVALID_HANDLE) {
		return KMS_OK;
	}
	if ((r = kms_keys_find_class(s, &tok, cls, label)) != KMS_OK) {
		return r;
	}
	r = kms_p11_check(s, kms_p11_fn(s)->C_CopyObject(kms_p11_handle(s), tok, tmpl, 1, &copy),
			  "C_CopyObject");
	if (r != KMS_OK) {
		return r;
	}
	kms_p11_note_created(s, 1);
	cache_put(a, s, slot, cls, label, copy);
	*out = copy;
	return KMS_OK;
}

/* The session copy of the secret key labelled label. */
static int
key_get(struct kms_adapter *a, struct kms_p11_session *s, const char *label, CK_OBJECT_HANDLE *out)
{
	return key_get_class(a, s, CKO_SECRET_KEY, label, out);
}

/*
 * A client key that this node's token lacks, from the store: another node rotated the client's
 * keys (ROTATE_KEYS writes both new keys, wrapped under the domain KEK, into client_keys), and
 * the domain's nodes share the store and the KEK. The key is unwrapped under the KEK into a
 * session object with its role's template (sensitive, not extractable; as `kms-ceremony
 * restore` does into the token) and cached like a copy: no token object is made, so concurrent
 * kms-hsmd processes never make duplicates, and it is imported again after a module restart or
 * KEY_CACHE_TTL. KMS_ERR_INVALID_ARG when the store has no such key either.
 */
static int
key_import(struct kms_adapter *a, struct kms_p11_session *s, const char *label,
	   CK_OBJECT_HANDLE *out)
{
	struct kms_store_blob *wrapped = NULL;
	struct key_copy *slot = NULL;
	struct kms_keys_tmpl t;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, key = CK_INVALID_HANDLE;
	CK_MECHANISM mech = {a->wrap.kwp, NULL, 0};
	CK_RV rv;
	int r, ink = 0;

	*out = CK_INVALID_HANDLE;
	if ((wrapped = calloc(1, sizeof(*wrapped))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_store_get_client_key(a->store, label, &ink, wrapped)) != KMS_OK) {
		r = r == KMS_ERR_FORBIDDEN ? KMS_ERR_INVALID_ARG : KMS_ERR_IO;
		goto out;
	}
	if ((r = key_get(a, s, a->kek_label, &kek)) != KMS_OK ||
	    (r = kms_keys_template(&t, ink ? KMS_KEY_INK : KMS_KEY_TRK, label, &a->wrap, 0, 1,
				   1)) != KMS_OK) {
		goto out;
	}
	t.num_attrs = kms_p11_fit_template(s, t.attrs, t.num_attrs);
	rv = kms_p11_fn(s)->C_UnwrapKey(kms_p11_handle(s), &mech, kek, wrapped->data,
					(CK_ULONG)wrapped->len, t.attrs, t.num_attrs, &key);
	if ((r = kms_p11_check(s, rv, "C_UnwrapKey")) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: the stored key '%s' does not unwrap under the KEK",
			label);
		goto out;
	}
	kms_p11_note_created(s, 1);
	(void)cache_find(a, CKO_SECRET_KEY, label, &slot);
	cache_put(a, s, slot, CKO_SECRET_KEY, label, key);
	kms_log(KMS_LOG_INFO,
		"adapter: key '%s' is not in the token: imported from the store under the KEK",
		label);
	*out = key;
	r = KMS_OK;
out:
	free(wrapped);
	return r;
}

/*
 * The roster entry of client_id, which must be a known client, not revoked: KMS_OK;
 * KMS_ERR_FORBIDDEN (unknown or revoked: one answer, so kmsd learns nothing more);
 * KMS_ERR_IO (the store fails). kmsd is not trusted: every operation on behalf of a client
 * asks here again.
 */
static int
client_get(struct kms_adapter *a, const char *client_id, struct kms_store_client *out)
{
	int r;

	if ((r = kms_store_get_client(a->store, client_id, out)) != KMS_OK) {
		return r == KMS_ERR_FORBIDDEN ? r : KMS_ERR_IO;
	}
	return out->revoked ? KMS_ERR_FORBIDDEN : KMS_OK;
}

/*
 * The session copy of a client's TrK or InK (key_get), or, when the token lacks it, the key
 * imported from the store (key_import: rotated on another node). A client enrolled in the store
 * whose key is in neither gets KMS_ERR_FORBIDDEN, like a client that is not enrolled at all.
 */
static int
client_key(struct kms_adapter *a, struct kms_p11_session *s, const char *label,
	   CK_OBJECT_HANDLE *out)
{
	int r = key_get(a, s, label, out);

	if (r == KMS_ERR_INVALID_ARG) {
		r = key_import(a, s, label, out);
	}
	return r == KMS_ERR_INVALID_ARG ? KMS_ERR_FORBIDDEN : r;
}

static int
op_provision(struct kms_adapter *a, const struct kms_proto_provision_req *req,
	     struct kms_proto_provision_rep *rep, uint64_t ntp_now)
{
	struct kms_store_client client;
	struct kms_store_keyset ks;
	struct keyset_plain *plain = a->plain;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE trk = CK_INVALID_HANDLE, ink = CK_INVALID_HANDLE, kek = CK_INVALID_HANDLE;
	uint8_t id[KMS_ID_MAX_LEN];
	size_t id_len = 0;
	size_t len;
	int plaintext = is_plaintext_client(a, req->client_id);
	int r;

	/* kmsd is not trusted: the entitlement is checked here again, against the store. */
	if ((r = kms_store_check_entitled(a->store, req->client_id, req->identity)) != KMS_OK ||
	    (r = client_get(a, req->client_id, &client)) != KMS_OK) {
		return r == KMS_ERR_FORBIDDEN ? r : KMS_ERR_IO;
	}
	if (!period_served(a, req->key_period, ntp_now)) {
		return KMS_ERR_RANGE;
	}
	if (plaintext && req->no_plain) {
		return KMS_ERR_PLAIN_REFUSED; /* nothing made: kmsd could not send it (HTTP/2) */
	}
	rep->key_period = req->key_period;
	if ((r = kms_key_period_bounds(&rep->period_start, &rep->period_end, req->key_period,
				       a->cert.user_key_period, a->cert.user_key_offset)) !=
		    KMS_OK ||
	    (r = kms_uid_compute(rep->user_id, req->identity, req->identity_len, a->cert.kms_uri,
				 strlen(a->cert.kms_uri), a->cert.user_key_period,
				 a->cert.user_key_offset, req->key_period)) != KMS_OK ||
	    (r = kms_uid_identifier(id, &id_len, rep->user_id, a->id_format)) != KMS_OK) {
		return r;
	}
	len = strlen(a->cert.kms_uri);
	memcpy(rep->kms_uri, a->cert.kms_uri, len + 1);
	rep->kms_uri_len = len;
	if (!plaintext) {
		len = strlen(client.trk_label);
		memcpy(rep->trk_id, client.trk_label, len + 1);
		rep->trk_id_len = len;
	}
	if (a->issuer == KMS_ISSUER_PREMINTED &&
	    (r = kms_store_get_keyset(a->store, req->identity, req->key_period, &ks)) != KMS_OK) {
		/* never a fallback to computing the set */
		return r == KMS_ERR_FORBIDDEN ? KMS_ERR_RANGE : r;
	}
	if ((r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		return r;
	}
	/* the copies below outlive a lost token on SoftHSM: ask the token (now and then) */
	if ((r = token_present(a, s)) != KMS_OK) {
		goto out;
	}
	if (plaintext) {
		/* neither the TrK nor the InK: the client may have none in this token */
		if (a->issuer == KMS_ISSUER_ONLINE) {
			r = issue_online(a, id, id_len, plain);
		} else if ((r = key_get(a, s, a->kek_label, &kek)) == KMS_OK) {
			r = unwrap_preminted(a, s, kek, &ks, 1, plain);
		}
		if (r == KMS_OK) {
			put_plain(rep, plain);
		}
		goto out;
	}
	if ((r = client_key(a, s, client.trk_label, &trk)) != KMS_OK ||
	    (r = client_key(a, s, client.ink_label, &ink)) != KMS_OK) {
		goto out;
	}
	if (a->issuer == KMS_ISSUER_ONLINE) {
		if ((r = issue_online(a, id, id_len, plain)) != KMS_OK ||
		    (r = wrap_set(a, s, trk, plain, 1, rep)) != KMS_OK) {
			goto out;
		}
	} else if (a->wrap.mode == KMS_WRAP_HOST_ECB) {
		/* the RSK and PVT (not multiples of 8) through locked memory, in one ECB stream;
		 * the SSK re-wrapped in the token */
		if ((r = key_get(a, s, a->kek_label, &kek)) != KMS_OK ||
		    (r = unwrap_preminted(a, s, kek, &ks, 0, plain)) != KMS_OK ||
		    (r = wrap_set(a, s, trk, plain, 0, rep)) != KMS_OK ||
		    (r = rewrap_preminted(a, s, kek, trk, &ks.ssk, SSK_LEN, rep->ssk_wrapped,
					  &rep->ssk_wrapped_len)) != KMS_OK) {
			goto out;
		}
	} else {
		if ((r = key_get(a, s, a->kek_label, &kek)) != KMS_OK ||
		    (r = rewrap_preminted(a, s, kek, trk, &ks.rsk, RSK_LEN, rep->rsk_wrapped,
					  &rep->rsk_wrapped_len)) != KMS_OK ||
		    (r = rewrap_preminted(a, s, kek, trk, &ks.ssk, SSK_LEN, rep->ssk_wrapped,
					  &rep->ssk_wrapped_len)) != KMS_OK ||
		    (r = rewrap_preminted(a, s, kek, trk, &ks.pvt, PVT_LEN, rep->pvt_wrapped,
					  &rep->pvt_wrapped_len)) != KMS_OK) {
			goto out;
		}
	}
	r = keyset_mac(s, ink, rep);
out:
	kms_p11_return(s);
	kms_memzero(plain, sizeof(*plain));
	return r;
}

static int
op_certificate(struct kms_adapter *a, struct kms_proto_certificate_rep *rep)
{
	size_t n = strlen(a->cert.kms_uri);

	memcpy(rep->kms_uri, a->cert.kms_uri, n + 1);
	rep->kms_uri_len = n;
	n = strlen(a->cert.cert_uri);
	memcpy(rep->cert_uri, a->cert.cert_uri, n + 1);
	rep->cert_uri_len = n;
	memcpy(rep->kpak, a->cert.kpak, sizeof(rep->kpak));
	memcpy(rep->z_t, a->cert.z_t, sizeof(rep->z_t));
	rep->user_key_period = a->cert.user_key_period;
	rep->user_key_offset = a->cert.user_key_offset;
	rep->parameter_set = KMS_PROTO_PARAMETER_SET;
	return KMS_OK;
}

static int
op_health(struct kms_adapter *a, struct kms_proto_health_rep *rep)
{
	const char *name = a->issuer == KMS_ISSUER_ONLINE ? "online" : "pre-minted";

	rep->token_present = kms_p11_ping(a->p11) == KMS_OK;
	rep->issuer_len = strlen(name);
	memcpy(rep->issuer, name, rep->issuer_len + 1);
	return KMS_OK;
}

/* A fresh label "<prefix>.<16 hex digits>.<client>" for a rotated key. */
static int
new_label(char *out, size_t cap, const char *prefix, const char *client_id)
{
	uint8_t rnd[8];
	int n;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		return KMS_ERR_RANDOM;
	}
	n = snprintf(out, cap, "%s.%02x%02x%02x%02x%02x%02x%02x%02x.%s", prefix, rnd[0], rnd[1],
		     rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], client_id);
	if (n < 0 || (size_t)n >= cap || (size_t)n > KMS_KEYS_MAX_LABEL) {
		return KMS_ERR_TOO_LARGE;
	}
	return KMS_OK;
}

/*
 * ROTATE_KEYS: a new TrK and InK for the client, each made in the token, wrapped for the client
 * under its current TrK and for the store under the KEK (client_keys, which `kms-ceremony
 * restore` imports into another token), then locked. The rotation is stored as pending
 * (kms_store_put_rotation: both client_keys rows and the pending row in one transaction, so it
 * is in the store whole or not at all); the client keeps its current keys until it proves it
 * holds the new InK (VERIFY) or an operator finishes the rotation. Meanwhile kmsd hands the
 * client the new keys, wrapped under the current TrK, with every init and keyprov. The new keys
 * are destroyed again on any failure, so a half-done rotation leaves nothing in the token either.
 * A client with a rotation pending already gets KMS_ERR_AUTH (cancel it first).
 */
static int
op_rotate(struct kms_adapter *a, const struct kms_proto_rotate_keys_req *req,
	  struct kms_proto_rotate_keys_rep *rep)
{
	struct kms_store_client client;
	struct kms_store_rotation *rot = NULL;
	struct kms_store_blob trk_blob, ink_blob;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE trk = CK_INVALID_HANDLE, new_trk = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE new_ink = CK_INVALID_HANDLE, kek = CK_INVALID_HANDLE;
	char trk_label[KMS_STORE_MAX_ID + 1], ink_label[KMS_STORE_MAX_ID + 1];
	int r, found = 0;

	memset(&trk_blob, 0, sizeof(trk_blob));
	memset(&ink_blob, 0, sizeof(ink_blob));
	if ((r = client_get(a, req->client_id, &client)) != KMS_OK) {
		return r;
	}
	if ((rot = calloc(1, sizeof(*rot))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_store_get_rotation(a->store, req->client_id, rot, &found)) != KMS_OK) {
		r = KMS_ERR_IO;
		goto done;
	}
	if (found) {
		kms_log(KMS_LOG_WARN, "adapter: rotation of '%s': one is pending already",
			req->client_id);
		r = KMS_ERR_AUTH;
		goto done;
	}
	if ((r = new_label(trk_label, sizeof(trk_label), "tk", req->client_id)) != KMS_OK ||
	    (r = new_label(ink_label, sizeof(ink_label), "ik", req->client_id)) != KMS_OK) {
		goto done;
	}
	if ((r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		goto done;
	}
	if ((r = client_key(a, s, client.trk_label, &trk)) != KMS_OK) {
		goto out;
	}
	if ((r = key_get(a, s, a->kek_label, &kek)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: rotation: the domain KEK '%s' is not in the token",
			a->kek_label);
		goto out;
	}
	if ((r = kms_keys_rotate(s, &a->wrap, trk, kek, KMS_KEY_TRK, trk_label, &new_trk,
				 rep->new_trk_wrapped, KMS_PROTO_MAX_WRAPPED,
				 &rep->new_trk_wrapped_len, trk_blob.data, sizeof(trk_blob.data),
				 &trk_blob.len)) != KMS_OK ||
	    (r = kms_keys_rotate(s, &a->wrap, trk, kek, KMS_KEY_INK, ink_label, &new_ink,
				 rep->new_ink_wrapped, KMS_PROTO_MAX_WRAPPED,
				 &rep->new_ink_wrapped_len, ink_blob.data, sizeof(ink_blob.data),
				 &ink_blob.len)) != KMS_OK) {
		goto out;
	}
	/* The store keeps the pending rotation: the client's copies (under its current TrK,
	 * which kmsd sends it) and the copies under the KEK (for restore). */
	memset(rot, 0, sizeof(*rot));
	memcpy(rot->client_id, client.client_id, sizeof(rot->client_id));
	memcpy(rot->from_trk_label, client.trk_label, sizeof(rot->from_trk_label));
	memcpy(rot->new_trk_label, trk_label, sizeof(trk_label));
	memcpy(rot->new_ink_label, ink_label, sizeof(ink_label));
	memcpy(rot->new_trk.data, rep->new_trk_wrapped, rep->new_trk_wrapped_len);
	rot->new_trk.len = rep->new_trk_wrapped_len;
	memcpy(rot->new_ink.data, rep->new_ink_wrapped, rep->new_ink_wrapped_len);
	rot->new_ink.len = rep->new_ink_wrapped_len;
	rot->created = (int64_t)time(NULL);
	if ((r = kms_store_put_rotation(a->store, rot, &trk_blob, &ink_blob)) != KMS_OK) {
		kms_log(KMS_LOG_ERR,
			"adapter: rotation of '%s': the store refused the new keys: %s",
			req->client_id, kms_strerror(r));
		goto out;
	}
	rep->new_trk_id_len = strlen(trk_label);
	memcpy(rep->new_trk_id, trk_label, rep->new_trk_id_len + 1);
	rep->new_ink_id_len = strlen(ink_label);
	memcpy(rep->new_ink_id, ink_label, rep->new_ink_id_len + 1);
	kms_log(KMS_LOG_INFO, "adapter: rotation of '%s' pending: new TrK '%s', new InK '%s'",
		req->client_id, trk_label, ink_label);
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		/* a half-done rotation leaves nothing behind */
		if (new_trk != CK_INVALID_HANDLE && kms_p11_destroy_object(s, new_trk) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: cannot remove the new TrK '%s'", trk_label);
		}
		if (new_ink != CK_INVALID_HANDLE && kms_p11_destroy_object(s, new_ink) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: cannot remove the new InK '%s'", ink_label);
		}
	}
	kms_p11_return(s);
done:
	kms_memzero(&trk_blob, sizeof(trk_blob));
	kms_memzero(&ink_blob, sizeof(ink_blob));
	free(rot);
	return r;
}

/*
 * After a finished rotation: destroy the old keys of client (its row as read before) now, if the
 * store has retired them, rather than at the next start. The rotation stands whatever happens
 * here; a key left behind is logged and destroyed at the next start.
 */
static void
purge_finished(struct kms_adapter *a, struct kms_p11_session *s, const struct kms_store_client *old)
{
	const char *labels[2] = {old->trk_label, old->ink_label};
	size_t destroyed = 0, i;
	int retired = 0;

	for (i = 0; i < 2; i++) {
		if (kms_store_is_retired(a->store, labels[i], &retired) != KMS_OK ||
		    (retired && purge_label(a, s, labels[i], &destroyed) != KMS_OK)) {
			kms_log(KMS_LOG_WARN,
				"adapter: the old key '%s' stays in the token until the next start",
				labels[i]);
		}
		/* not retired: another client's row names it (a writer past the store's code) */
	}
}

/*
 * VERIFY: the HMAC of a client's signed request (kmsd checked the rest: proto/xml.h), checked
 * in the token under the key the signature names, which must be the client's InK or the new
 * InK of its pending rotation. The latter is the client's proof that it received the rotation:
 * the rotation is finished (kms_store_finish_rotation: the client's row names the new TrK and
 * InK from now on) and the reply says so. Anything else, a wrong HMAC included, is
 * KMS_ERR_AUTH: kmsd cannot tell an unknown key name from a bad signature.
 */
static int
op_verify(struct kms_adapter *a, const struct kms_proto_verify_req *req,
	  struct kms_proto_verify_rep *rep)
{
	struct kms_store_client client;
	struct kms_store_rotation *rot = NULL;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE ink = CK_INVALID_HANDLE;
	bool pending_ink = false;
	int r, found = 0;

	rep->rotated = false;
	if ((r = client_get(a, req->client_id, &client)) != KMS_OK) {
		return r;
	}
	if (strcmp(req->key_id, client.ink_label) != 0) {
		if ((rot = calloc(1, sizeof(*rot))) == NULL) {
			return KMS_ERR_NOMEM;
		}
		if ((r = kms_store_get_rotation(a->store, req->client_id, rot, &found)) != KMS_OK) {
			free(rot);
			return KMS_ERR_IO;
		}
		pending_ink = found && strcmp(req->key_id, rot->new_ink_label) == 0 &&
			      strcmp(rot->from_trk_label, client.trk_label) == 0;
		free(rot);
		if (!pending_ink) {
			return KMS_ERR_AUTH;
		}
	}
	if ((r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		return r;
	}
	if ((r = token_present(a, s)) != KMS_OK ||
	    (r = client_key(a, s, req->key_id, &ink)) != KMS_OK) {
		r = r == KMS_ERR_FORBIDDEN ? KMS_ERR_AUTH : r;
		goto out;
	}
	if ((r = kms_hmac_sha256_verify(s, ink, req->signed_info, req->signed_info_len,
					req->signature)) != KMS_OK) {
		goto out;
	}
	if (pending_ink) {
		if ((r = kms_store_finish_rotation(a->store, req->client_id, req->key_id)) !=
		    KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: rotation of '%s': cannot finish it: %s",
				req->client_id, kms_strerror(r));
			r = r == KMS_ERR_AUTH ? KMS_ERR_AUTH : KMS_ERR_IO;
			goto out;
		}
		kms_log(KMS_LOG_INFO,
			"adapter: rotation of '%s' finished: the client proved its new InK '%s'",
			req->client_id, req->key_id);
		rep->rotated = true;
		purge_finished(a, s, &client);
	}
	r = KMS_OK;
out:
	kms_p11_return(s);
	return r;
}

_Static_assert(KMS_PROTO_DIGEST_LEN == 32, "a SignedInfo references a SHA-256 digest");
_Static_assert(KMS_PROTO_HMAC_LEN == 32, "the signature is HMAC-SHA256");
_Static_assert(KMS_STORE_MAX_ID <= KMS_PROTO_MAX_KEY_ID, "a key label fits a key_id");

/*
 * SIGN: the signature of a response to a client. kmsd sends only the response's digest; the
 * SignedInfo that is HMACed is built here (kms_signedinfo_build), so the client's InK signs
 * nothing but SignedInfo elements of the one fixed shape, whatever kmsd asks. The key is the
 * InK only: the store requires an InK label for every client, and a TrK cannot sign (its
 * CKA_ALLOWED_MECHANISMS are the wrap mechanisms, hsm/keys.h).
 */
static int
op_sign(struct kms_adapter *a, const struct kms_proto_sign_req *req, struct kms_proto_sign_rep *rep)
{
	struct kms_store_client client;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE ink = CK_INVALID_HANDLE;
	char si[KMS_SIGNEDINFO_LEN];
	size_t si_len = 0;
	size_t len;
	int r = KMS_ERR_INTERNAL;

	if ((r = client_get(a, req->client_id, &client)) != KMS_OK ||
	    (r = kms_signedinfo_build(si, sizeof(si), &si_len, req->digest)) != KMS_OK ||
	    (r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		goto out;
	}
	/* a session copy outlives a lost token on SoftHSM: ask the token (now and then) */
	if ((r = token_present(a, s)) != KMS_OK ||
	    (r = client_key(a, s, client.ink_label, &ink)) != KMS_OK ||
	    (r = kms_hmac_sha256(s, ink, (const uint8_t *)si, si_len, rep->signature)) != KMS_OK) {
		goto out;
	}
	len = strlen(client.ink_label);
	memcpy(rep->key_id, client.ink_label, len + 1);
	rep->key_id_len = len;
	r = KMS_OK;
out:
	kms_p11_return(s);
	return r;
}

/*
 * TLS_SIGN: a digest of one of kmsd's TLS handshakes, signed with the TLS private key (CKM_ECDSA,
 * r || s). The digest is signed as it is: ECDSA signs only digests, and kmsd, which could have
 * any digest signed with its own key anyway, is the only one the key serves.
 */
static int
op_tls_sign(struct kms_adapter *a, const struct kms_proto_tls_sign_req *req,
	    struct kms_proto_tls_sign_rep *rep)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	int r = KMS_ERR_INTERNAL;

	if (a->tls_label[0] == '\0') {
		return KMS_ERR_UNSUPPORTED;
	}
	if (req->digest_len < KMS_PROTO_TLS_DIGEST_MIN ||
	    req->digest_len > KMS_PROTO_TLS_DIGEST_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		goto out;
	}
	/* a session copy outlives a lost token on SoftHSM: ask the token (now and then) */
	if ((r = token_present(a, s)) != KMS_OK ||
	    (r = key_get_class(a, s, CKO_PRIVATE_KEY, a->tls_label, &key)) != KMS_OK ||
	    (r = kms_ecdsa_sign(s, key, req->digest, req->digest_len, rep->signature)) != KMS_OK) {
		r = r == KMS_ERR_INVALID_ARG ? KMS_ERR_HSM : r; /* the key left the token */
		goto out;
	}
	r = KMS_OK;
out:
	kms_p11_return(s);
	return r;
}

/*
 * AUDIT_SIGN: a checkpoint of the audit log, signed with the audit key. kms-hsmd signs only a
 * record it reads from its own store handle with exactly the request's hash, and builds the
 * digest itself; the signature is checked with the public point, then kms-hsmd writes the
 * checkpoint (with its key's fingerprint) into the store itself, so a compromised kmsd cannot
 * insert checkpoints at all; the signature goes back for the record. A seq that has a
 * checkpoint already (another node's kms-hsmd was first) keeps that one: not an error.
 */
#define AUDIT_CLOCK_SKEW 300 /* seconds */

static int
op_audit_sign(struct kms_adapter *a, const struct kms_proto_audit_sign_req *req,
	      struct kms_proto_audit_sign_rep *rep)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	uint8_t hash[KMS_AUDIT_HASH_LEN], digest[KMS_AUDIT_HASH_LEN];
	struct kms_audit_checkpoint cp;
	int r = KMS_ERR_INTERNAL;

	if (a->audit_label[0] == '\0') {
		return KMS_ERR_UNSUPPORTED;
	}
	if (req->seq == 0 || req->seq > INT64_MAX || req->time_s > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	{
		/* the time signed is kmsd's, but only within AUDIT_CLOCK_SKEW of ours */
		time_t now = time(NULL);

		if (now < 0 || req->time_s + AUDIT_CLOCK_SKEW < (uint64_t)now ||
		    req->time_s > (uint64_t)now + AUDIT_CLOCK_SKEW) {
			kms_log(KMS_LOG_WARN,
				"adapter: audit_sign: the checkpoint's time is more than %d s from "
				"this clock: refused",
				AUDIT_CLOCK_SKEW);
			return KMS_ERR_RANGE;
		}
	}
	if ((r = kms_store_audit_hash_at(a->store, req->seq, hash)) != KMS_OK) {
		if (r == KMS_ERR_FORBIDDEN) {
			kms_log(KMS_LOG_WARN,
				"adapter: audit_sign: the store has no audit record %llu: refused",
				(unsigned long long)req->seq);
		}
		return r;
	}
	if (CRYPTO_memcmp(hash, req->hash, sizeof(hash)) != 0) {
		kms_log(KMS_LOG_WARN,
			"adapter: audit_sign: the hash of audit record %llu is not the store's: "
			"refused",
			(unsigned long long)req->seq);
		return KMS_ERR_FORBIDDEN;
	}
	if ((r = kms_store_checkpoint_digest(req->seq, hash, req->time_s, digest)) != KMS_OK) {
		return r;
	}
	if ((r = kms_p11_borrow(a->p11, &s)) != KMS_OK) {
		goto out;
	}
	if ((r = token_present(a, s)) != KMS_OK ||
	    (r = key_get_class(a, s, CKO_PRIVATE_KEY, a->audit_label, &key)) != KMS_OK ||
	    (r = kms_ecdsa_sign(s, key, digest, sizeof(digest), rep->signature)) != KMS_OK) {
		r = r == KMS_ERR_INVALID_ARG ? KMS_ERR_HSM : r; /* the key left the token */
		goto out;
	}
	if (kms_ecdsa_verify_point(a->audit_point, digest, sizeof(digest), rep->signature) !=
	    KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: audit_sign: the token's signature does not verify");
		r = KMS_ERR_HSM;
		goto out;
	}
	memset(&cp, 0, sizeof(cp));
	cp.seq = req->seq;
	memcpy(cp.hash, hash, sizeof(cp.hash));
	cp.time_s = req->time_s;
	memcpy(cp.key_fp, a->audit_fp, sizeof(cp.key_fp));
	memcpy(cp.sig, rep->signature, sizeof(cp.sig));
	if ((r = kms_store_checkpoint_put(a->store, &cp)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "adapter: audit_sign: checkpoint %llu not stored: %s",
			(unsigned long long)req->seq, kms_strerror(r));
		goto out;
	}
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		kms_memzero(rep->signature, sizeof(rep->signature));
	}
	kms_p11_return(s);
	return r;
}

_Static_assert(KMS_PROTO_TLS_SIG_LEN == KMS_ECDSA_SIG_LEN, "TLS_SIGN returns ECDSA P-256 r || s");
_Static_assert(KMS_PROTO_TLS_DIGEST_MAX <= 64, "kms_ecdsa_sign takes up to 64 octets");

/*
 * The public arguments of req for a debug line: the client, the identity and key period, the
 * audit record's number. Never a digest, a hash or anything wrapped (they say nothing to an
 * operator and are not for logs).
 */
static void
describe_request(char *out, size_t cap, const struct kms_proto_request *req)
{
	switch (req->op) {
	case KMS_PROTO_PROVISION:
		snprintf(out, cap, "client %s identity %.256s key period %llu",
			 req->u.provision.client_id, req->u.provision.identity,
			 (unsigned long long)req->u.provision.key_period);
		break;
	case KMS_PROTO_ROTATE_KEYS:
		snprintf(out, cap, "client %s", req->u.rotate_keys.client_id);
		break;
	case KMS_PROTO_VERIFY:
		snprintf(out, cap, "client %s, key %s", req->u.verify.client_id,
			 req->u.verify.key_id);
		break;
	case KMS_PROTO_SIGN:
		snprintf(out, cap, "client %s", req->u.sign.client_id);
		break;
	case KMS_PROTO_AUDIT_SIGN:
		snprintf(out, cap, "audit record %llu", (unsigned long long)req->u.audit_sign.seq);
		break;
	default:
		snprintf(out, cap, "-");
		break;
	}
}

void
kms_adapter_handle(struct kms_adapter *a, const struct kms_proto_request *req,
		   struct kms_proto_reply *rep, uint64_t ntp_now)
{
	char what[KMS_PROTO_MAX_CLIENT_ID + 320]; /* the identity cut at 256 octets */
	uint64_t t0 = kms_mono_us();
	int r;

	memset(rep, 0, sizeof(*rep));
	rep->op = req->op;
	rep->id = req->id;
	switch (req->op) {
	case KMS_PROTO_HEALTH:
		r = op_health(a, &rep->u.health);
		break;
	case KMS_PROTO_PROVISION:
		r = op_provision(a, &req->u.provision, &rep->u.provision, ntp_now);
		break;
	case KMS_PROTO_CERTIFICATE:
		r = op_certificate(a, &rep->u.certificate);
		break;
	case KMS_PROTO_VERIFY:
		r = op_verify(a, &req->u.verify, &rep->u.verify);
		break;
	case KMS_PROTO_ROTATE_KEYS:
		r = op_rotate(a, &req->u.rotate_keys, &rep->u.rotate_keys);
		break;
	case KMS_PROTO_SIGN:
		r = op_sign(a, &req->u.sign, &rep->u.sign);
		break;
	case KMS_PROTO_TLS_SIGN:
		r = op_tls_sign(a, &req->u.tls_sign, &rep->u.tls_sign);
		break;
	case KMS_PROTO_AUDIT_SIGN:
		r = op_audit_sign(a, &req->u.audit_sign, &rep->u.audit_sign);
		break;
	default:
		r = KMS_ERR_INVALID_ARG;
		break;
	}
	rep->status = r;
	if (r != KMS_OK) {
		/* nothing of a failed operation goes back */
		kms_memzero(&rep->u, sizeof(rep->u));
	}
	if (!kms_log_enabled(r != KMS_OK ? KMS_LOG_INFO : KMS_LOG_DEBUG)) {
		return; /* the usual case of a success: no line, so nothing to describe */
	}
	describe_request(what, sizeof(what), req);
	if (r != KMS_OK) {
		kms_log(KMS_LOG_INFO, "adapter: %s %u (%s): %s", kms_proto_op_name((int)req->op),
			(unsigned int)req->id, what, kms_strerror(r));
	} else {
		kms_log(KMS_LOG_DEBUG, "adapter: %s %u (%s): ok in %llu us",
			kms_proto_op_name((int)req->op), (unsigned int)req->id, what,
			(unsigned long long)(kms_mono_us() - t0));
	}
}

int
kms_adapter_serve(struct kms_adapter *a, int fd)
{
	/* per call, not static: each connection has its own buffers */
	uint8_t *in = malloc(KMS_MAX_IPC);
	uint8_t *out = malloc(KMS_MAX_IPC);
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	size_t in_len = 0;
	size_t out_len = 0;
	int r;

	if (in == NULL || out == NULL) {
		r = KMS_ERR_NOMEM;
		goto done;
	}
	for (;;) {
		r = kms_proto_frame_read(fd, in, KMS_MAX_IPC, &in_len);
		if (r == KMS_ERR_CLOSED) {
			r = KMS_OK;
			break;
		}
		if (r != KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: bad frame: %s; closing", kms_strerror(r));
			break;
		}
		if ((r = kms_proto_decode_request(&req, in, in_len)) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: bad request: %s; closing", kms_strerror(r));
			break;
		}
		kms_adapter_handle(a, &req, &rep, kms_ntp_from_unix((uint64_t)time(NULL)));
		r = kms_proto_encode_reply(out, KMS_MAX_IPC, &out_len, &rep);
		kms_memzero(&rep, sizeof(rep));
		if (r != KMS_OK || (r = kms_proto_frame_write(fd, out, out_len)) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "adapter: cannot answer: %s; closing",
				kms_strerror(r));
			break;
		}
		kms_memzero(out, out_len);
		if (kms_p11_recycle_due(a->p11)) {
			kms_log(KMS_LOG_DEBUG,
				"adapter: recycling the PKCS#11 module (recycle_after "
				"session objects made)");
			if (kms_p11_recycle(a->p11) != KMS_OK) {
				kms_log(KMS_LOG_WARN,
					"adapter: recycling the PKCS#11 module failed");
			}
		}
	}
done:
	if (out != NULL) {
		kms_memzero(out, KMS_MAX_IPC);
	}
	free(in);
	free(out);
	return r;
}
