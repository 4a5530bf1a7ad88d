/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EC_KEY_METHOD API is deprecated in OpenSSL 3.0; it is used here only, so that an OpenSSL
 * provider can take its place later behind the same interface (kms/tlskey.h).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "kms/tlskey.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/secmem.h"
#include "kms/internal.h"
#include "kms/supervise.h"
#include "proto/msg.h"

#include "common/banned.h"

_Thread_local unsigned int kms_tlskey_slot;

static EC_KEY_METHOD *method;
static int pool_index = -1;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

/*
 * The sign_sig of the method: the digest goes to kms-hsmd of this thread's slot; its r || s
 * becomes the ECDSA_SIG. kinv and r are precomputation hints that only a local key could use.
 */
static ECDSA_SIG *
remote_sign_sig(const unsigned char *dgst, int dgst_len, const BIGNUM *kinv, const BIGNUM *r,
		EC_KEY *eckey)
{
	struct kms_hsmd_pool *pool = EC_KEY_get_ex_data(eckey, pool_index);
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;

	(void)kinv;
	(void)r;
	if (pool == NULL || dgst_len < KMS_PROTO_TLS_DIGEST_MIN ||
	    dgst_len > KMS_PROTO_TLS_DIGEST_MAX) {
		ECerr(EC_F_ECDSA_SIMPLE_SIGN_SIG, EC_R_INVALID_DIGEST);
		return NULL;
	}
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_TLS_SIGN;
	memcpy(req.u.tls_sign.digest, dgst, (size_t)dgst_len);
	req.u.tls_sign.digest_len = (size_t)dgst_len;
	if (kms_hsmd_call(pool, kms_tlskey_slot, &req, &rep) != KMS_OK || rep.status != KMS_OK) {
		ECerr(EC_F_ECDSA_SIMPLE_SIGN_SIG, ERR_R_EC_LIB);
		goto out;
	}
	if ((sig = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(rep.u.tls_sign.signature, 32, NULL)) == NULL ||
	    (bs = BN_bin2bn(rep.u.tls_sign.signature + 32, 32, NULL)) == NULL ||
	    ECDSA_SIG_set0(sig, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(sig);
		sig = NULL;
	}
out:
	kms_memzero(&rep, sizeof(rep));
	return sig;
}

static void
method_init(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
		    const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;
	ECDSA_SIG *(*sign_sig)(const unsigned char *, int, const BIGNUM *, const BIGNUM *,
			       EC_KEY *) = NULL;

	pool_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (pool_index < 0 || (method = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL) {
		return;
	}
	/* OpenSSL's sign (DER around sign_sig) and setup stay; sign_sig goes to kms-hsmd */
	EC_KEY_METHOD_get_sign(EC_KEY_OpenSSL(), &sign, &setup, &sign_sig);
	EC_KEY_METHOD_set_sign(method, sign, setup, remote_sign_sig);
}

int
kms_tlskey_new(EVP_PKEY **out, struct kms_hsmd_pool *pool, const char *cert_file, char *err,
	       size_t err_len)
{
	FILE *f = NULL;
	X509 *cert = NULL;
	EC_KEY *ec = NULL;
	EVP_PKEY *pk = NULL;
	const EC_KEY *pub;
	int r = KMS_ERR_CRYPTO;

	*out = NULL;
	pthread_once(&method_once, method_init);
	if (method == NULL || pool == NULL) {
		snprintf(err, err_len, "cannot set up the remote TLS key");
		return KMS_ERR_NOMEM;
	}
	if ((f = fopen(cert_file, "r")) == NULL ||
	    (cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		snprintf(err, err_len, "cannot read the server certificate %s", cert_file);
		goto out;
	}
	if ((pub = EVP_PKEY_get0_EC_KEY(X509_get0_pubkey(cert))) == NULL ||
	    EC_GROUP_get_curve_name(EC_KEY_get0_group(pub)) != NID_X9_62_prime256v1) {
		snprintf(err, err_len,
			 "%s: the certificate's key is not ECDSA P-256, the only kind of TLS key "
			 "in the token",
			 cert_file);
		goto out;
	}
	if ((ec = EC_KEY_new()) == NULL || EC_KEY_set_method(ec, method) != 1 ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(pub)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(pub)) != 1 ||
	    EC_KEY_set_ex_data(ec, pool_index, pool) != 1 || (pk = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_assign_EC_KEY(pk, ec) != 1) {
		snprintf(err, err_len, "cannot build the remote TLS key");
		r = KMS_ERR_NOMEM;
		goto out;
	}
	ec = NULL; /* transferred */
	*out = pk;
	pk = NULL;
	r = KMS_OK;
out:
	ERR_clear_error();
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	X509_free(cert);
	if (f != NULL) {
		(void)fclose(f);
	}
	return r;
}

int
kms_tlskey_check(EVP_PKEY *key, char *err, size_t err_len)
{
	const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(key);
	struct kms_hsmd_pool *pool = ec != NULL ? EC_KEY_get_ex_data(ec, pool_index) : NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	uint8_t digest[32];
	int der_len;
	int r;

	if (pool == NULL) {
		snprintf(err, err_len, "not a key of kms_tlskey_new");
		return KMS_ERR_INVALID_ARG;
	}
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_TLS_SIGN;
	req.u.tls_sign.digest_len = sizeof(digest);
	if (RAND_bytes(digest, sizeof(digest)) != 1) {
		snprintf(err, err_len, "no random digest");
		return KMS_ERR_RANDOM;
	}
	memcpy(req.u.tls_sign.digest, digest, sizeof(digest));
	if ((r = kms_hsmd_call(pool, kms_tlskey_slot, &req, &rep)) != KMS_OK ||
	    (r = rep.status) != KMS_OK) {
		snprintf(err, err_len, "kms-hsmd cannot sign with the token's TLS key: %s%s",
			 kms_strerror(r),
			 r == KMS_ERR_UNSUPPORTED ? " (no tls_key in kms-hsmd's configuration)"
						  : "");
		return r;
	}
	/* the verifying key is an ordinary copy of the certificate's public key */
	r = KMS_ERR_NOMEM;
	{
		unsigned char *spki = NULL;
		const unsigned char *p;
		int n = i2d_PUBKEY(key, &spki);

		p = spki;
		pub = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
		OPENSSL_free(spki);
	}
	if (pub == NULL || (sig = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(rep.u.tls_sign.signature, 32, NULL)) == NULL ||
	    (bs = BN_bin2bn(rep.u.tls_sign.signature + 32, 32, NULL)) == NULL ||
	    ECDSA_SIG_set0(sig, br, bs) != 1) {
		goto out;
	}
	br = NULL;
	bs = NULL; /* transferred */
	if ((der_len = i2d_ECDSA_SIG(sig, &der)) <= 0 ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) != 1) {
		goto out;
	}
	if (EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest)) != 1) {
		snprintf(err, err_len, "the token's TLS key does not match tls_cert");
		r = KMS_ERR_AUTH;
		goto out;
	}
	r = KMS_OK;
out:
	if (r == KMS_ERR_NOMEM) {
		snprintf(err, err_len, "cannot check the token's TLS key");
	}
	ERR_clear_error();
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return r;
}
