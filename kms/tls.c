/* SPDX-License-Identifier: Apache-2.0 */
#include "kms/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http2.h>

#include "common/secmem.h"
#include "kms/internal.h"

#include "common/banned.h"

#define BUCKETS 4096u

/* The record of one connection's verified client certificate; ex_data of its SSL object. */
struct peer_rec {
	const void *sock; /* h2o's socket: the key of the index */
	struct kms_peer peer;
	struct peer_rec *next; /* in its bucket */
};

static pthread_mutex_t index_lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer_rec *buckets[BUCKETS];
static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static size_t
bucket_of(const void *sock)
{
	uintptr_t v = (uintptr_t)sock;

	return (size_t)((v >> 4) ^ (v >> 16)) % BUCKETS;
}

/* Remove rec from the index (index_lock held). */
static void
unlink_rec(struct peer_rec *rec)
{
	struct peer_rec **pp = &buckets[bucket_of(rec->sock)];

	while (*pp != NULL) {
		if (*pp == rec) {
			*pp = rec->next;
			return;
		}
		pp = &(*pp)->next;
	}
}

static void
free_rec(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct peer_rec *rec = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (rec == NULL) {
		return;
	}
	pthread_mutex_lock(&index_lock);
	unlink_rec(rec);
	pthread_mutex_unlock(&index_lock);
	kms_memzero(rec, sizeof(*rec));
	free(rec);
}

static void
ex_init(void)
{
	ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_rec);
}

/* The first URI subjectAltName of cert, if it is 1..255 visible ASCII characters. */
static void
first_uri(X509 *cert, char out[static KMS_TLS_MAX_NAME + 1])
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, n;

	out[0] = '\0';
	n = names == NULL ? 0 : sk_GENERAL_NAME_num(names);
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *d;
		int len, j, ok = 1;

		if (g->type != GEN_URI) {
			continue;
		}
		d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (len < 1 || len > KMS_TLS_MAX_NAME) {
			break;
		}
		for (j = 0; j < len; j++) {
			ok &= d[j] > 0x20 && d[j] < 0x7f;
		}
		if (ok) {
			memcpy(out, d, (size_t)len);
			out[len] = '\0';
		}
		break;
	}
	GENERAL_NAMES_free(names);
}

static int
spki_hash(X509 *cert, uint8_t out[static 32])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int ok = len > 0 && EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	return ok;
}

/*
 * Called by OpenSSL for each certificate of the client's chain, after its own checks (ok). At
 * the leaf, record the client's name and key for this connection. A failure here fails the
 * handshake: no record, no request.
 */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl;
	struct peer_rec *rec;
	const void *sock;
	X509 *cert;

	if (!ok || X509_STORE_CTX_get_error_depth(x) != 0) {
		return ok;
	}
	ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	cert = X509_STORE_CTX_get_current_cert(x);
	if (ssl == NULL || cert == NULL || SSL_get_rbio(ssl) == NULL ||
	    (sock = BIO_get_data(SSL_get_rbio(ssl))) == NULL) {
		return 0;
	}
	if (SSL_get_ex_data(ssl, ex_index) != NULL) {
		return 0; /* a second leaf on one connection: never expected, refused */
	}
	if ((rec = calloc(1, sizeof(*rec))) == NULL) {
		return 0;
	}
	rec->sock = sock;
	first_uri(cert, rec->peer.uri);
	if (!spki_hash(cert, rec->peer.spki_sha256) || SSL_set_ex_data(ssl, ex_index, rec) != 1) {
		free(rec);
		return 0;
	}
	pthread_mutex_lock(&index_lock);
	{
		struct peer_rec **pp = &buckets[bucket_of(sock)];
		/* a stale record of a freed socket at the same address cannot exist (records go
		 * with their SSL objects), but drop any, to be sure the newest wins */
		while (*pp != NULL) {
			if ((*pp)->sock == sock) {
				struct peer_rec *old = *pp;
				*pp = old->next;
				old->sock = NULL;
				continue;
			}
			pp = &(*pp)->next;
		}
		rec->next = buckets[bucket_of(sock)];
		buckets[bucket_of(sock)] = rec;
	}
	pthread_mutex_unlock(&index_lock);
	return 1;
}

int
kms_tls_peer(const void *sock, struct kms_peer *out)
{
	struct peer_rec *rec;
	int r = KMS_ERR_AUTH;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&index_lock);
	for (rec = buckets[bucket_of(sock)]; rec != NULL; rec = rec->next) {
		if (rec->sock == sock) {
			*out = rec->peer;
			r = KMS_OK;
			break;
		}
	}
	pthread_mutex_unlock(&index_lock);
	return r;
}

static void
ssl_reason(char *err, size_t err_len, const char *what, const char *file)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160];

	if (access(file, R_OK) != 0) {
		snprintf(err, err_len, "%s %s: %s", what, file, strerror(errno));
		ERR_clear_error();
		return;
	}
	ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(err, err_len, "%s %s: %s", what, file, e != 0 ? reason : "failed");
	ERR_clear_error();
}

/*
 * Fill the extension cache (key identifiers, usages, flags) of every certificate in ctx's trust
 * store on this thread, before ctx is shared. OpenSSL fills it lazily, on the first chain built
 * with the certificate, under the certificate's lock; other threads then read it without the
 * lock once a flag, stored with release and loaded with acquire inside libcrypto, says it is
 * there. That is sound, but ThreadSanitizer sees neither side of the flag (libcrypto is not
 * instrumented) and reports the key identifier's memcpy and memcmp (tests/tsan.supp); on the
 * event-loop threads it cannot even match the suppression, as its symbolizer would have to be
 * started under their seccomp filter (stat, fork: SIGSYS). Filled here, the cache is written
 * before the threads start (or before kms_tls_ctx_publish) and only read by them.
 */
static void
fill_store_caches(SSL_CTX *ctx)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	int i;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (cert != NULL) {
			(void)X509_get_extension_flags(cert);
		}
	}
}

int
kms_tls_ctx_new(SSL_CTX **out, const struct kms_tls_config *cfg, char *err, size_t err_len)
{
	SSL_CTX *ctx = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	int mode = SSL_VERIFY_PEER;
	int r = KMS_ERR_CRYPTO;

	*out = NULL;
	pthread_once(&ex_once, ex_init);
	if (ex_index < 0 || (ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, err_len, "cannot create the TLS context");
		return KMS_ERR_NOMEM;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
		snprintf(err, err_len, "cannot set the TLS versions and ciphers");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
		ssl_reason(err, err_len, "cannot load the server certificate", cfg->cert_file);
		goto out;
	}
	if (cfg->key != NULL) {
		/*
		 * A key whose private half is elsewhere (kms/tlskey.h): OpenSSL compares only the
		 * public halves here; the caller has checked a signature (kms_tlskey_check).
		 */
		if (SSL_CTX_use_PrivateKey(ctx, cfg->key) != 1) {
			ssl_reason(err, err_len, "the token's TLS key does not match",
				   cfg->cert_file);
			goto out;
		}
	} else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(err, err_len, "cannot load the server key", cfg->key_file);
		goto out;
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(err, err_len, "the server key does not match the certificate",
			   cfg->key_file);
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(cfg->client_ca)) == NULL) {
		ssl_reason(err, err_len, "cannot load the client CAs", cfg->client_ca);
		goto out;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	fill_store_caches(ctx);
	(void)SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (!cfg->client_cert_optional) {
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	}
	SSL_CTX_set_verify(ctx, mode, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 8);
	h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
	*out = ctx;
	ctx = NULL;
	r = KMS_OK;
out:
	SSL_CTX_free(ctx);
	return r;
}

/*
 * The context of new connections after a reload (SIGHUP, kms/main.c). The main thread builds
 * a new SSL_CTX and publishes it; each event-loop thread, when it next accepts a connection,
 * takes a reference of its own under the lock and drops the one it held. Every SSL object
 * holds a reference to its SSL_CTX, so connections made before keep theirs, and an old context
 * is freed with its last connection (or by the thread that drops the last reference to it).
 * Taking the reference under the lock is what makes publishing safe: the main thread releases
 * the published context only after it has replaced it under the same lock.
 */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *pub_ctx;                /* a reference of its own, or NULL */
static atomic_uint_least64_t pub_gen;   /* publications so far */
static _Thread_local uint64_t seen_gen; /* the publication this thread uses */
static _Thread_local bool holds_ref;    /* it holds a reference to its context */

int
kms_tls_ctx_publish(SSL_CTX *ctx)
{
	SSL_CTX *old;

	if (ctx != NULL && SSL_CTX_up_ref(ctx) != 1) {
		return KMS_ERR_CRYPTO;
	}
	pthread_mutex_lock(&pub_lock);
	old = pub_ctx;
	pub_ctx = ctx;
	if (ctx != NULL) {
		atomic_fetch_add(&pub_gen, 1);
	}
	pthread_mutex_unlock(&pub_lock);
	SSL_CTX_free(old);
	return KMS_OK;
}

void
kms_tls_ctx_refresh(SSL_CTX **ctx)
{
	SSL_CTX *now = NULL;

	if (atomic_load(&pub_gen) == seen_gen) {
		return;
	}
	pthread_mutex_lock(&pub_lock);
	if (pub_ctx != NULL && SSL_CTX_up_ref(pub_ctx) == 1) {
		now = pub_ctx;
		seen_gen = atomic_load(&pub_gen);
	}
	pthread_mutex_unlock(&pub_lock);
	if (now == NULL) {
		return; /* released at exit, or the count cannot grow: keep what this thread has */
	}
	if (holds_ref) {
		SSL_CTX_free(*ctx);
	}
	*ctx = now;
	holds_ref = true;
}
