/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/eccsi.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "common/secmem.h"
#include "hsm/ctbn.h"

#include "common/banned.h"

/*
 * ECCSI (RFC 6507) on P-256 / SHA-256.
 *
 * Division of labour: point arithmetic is OpenSSL's (EC_POINT_mul with the generator takes
 * OpenSSL's constant-time path; secret scalars carry BN_FLG_CONSTTIME and live in secure
 * BIGNUMs). Scalar arithmetic modulo q on secrets (SSK = KSAK + HS * v) is ours, in
 * hsm/ctbn.h, because BN_mod_* is not constant time. Range checks on secret scalars use the
 * constant-time comparisons of ctbn; only their one-bit verdict steers control flow.
 */

#define KMS_ECCSI_LIMBS     4 /* q is 256 bits */
/*
 * Rejection sampling draws: q > 2^256 - 2^224, so one draw is rejected with probability
 * below 2^-32. Running out of draws means the RNG is broken.
 */
#define KMS_ECCSI_MAX_DRAWS 64
/* HS or SSK is 0 with probability about 2^-256 per try: more than a few tries is a bug. */
#define KMS_ECCSI_MAX_TRIES 8

struct kms_eccsi_kms {
	uint8_t ksak[KMS_ECCSI_SCALAR_LEN]; /* secret, big-endian, 0 < KSAK < q */
	uint64_t ksak_l[KMS_ECCSI_LIMBS];   /* secret, the same as ctbn limbs */
	uint8_t kpak[KMS_ECCSI_POINT_LEN];  /* public, [KSAK]G */
};

/* The base point G of P-256, uncompressed; checked against OpenSSL's at start-up. */
static const uint8_t p256_g[KMS_ECCSI_POINT_LEN] = {
	0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
	0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
	0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
	0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
	0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

/* The group order q of P-256. */
static const uint8_t p256_q[KMS_ECCSI_SCALAR_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
	0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/*
 * Per-process parameters, built once (pthread_once) and read-only afterwards: OpenSSL allows
 * concurrent use of a const EC_GROUP. The group is never freed (it lives as long as the
 * process, like OpenSSL's own tables).
 */
static pthread_once_t params_once = PTHREAD_ONCE_INIT;
static int params_status = KMS_ERR_INTERNAL;
static EC_GROUP *params_group;               /* owned by the process */
static struct kms_mont params_q;             /* Montgomery context for q */
static uint64_t params_q_l[KMS_ECCSI_LIMBS]; /* q as limbs */

static void
params_init(void)
{
	EC_GROUP *group = NULL;
	BIGNUM *order = NULL;
	uint8_t buf[KMS_ECCSI_POINT_LEN];
	int status = KMS_ERR_CRYPTO;

	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	if (group == NULL) {
		goto out;
	}
	/* The constants above and OpenSSL's curve must agree. */
	order = BN_new();
	if (order == NULL || BN_bin2bn(p256_q, (int)sizeof(p256_q), order) == NULL ||
	    BN_cmp(order, EC_GROUP_get0_order(group)) != 0) {
		goto out;
	}
	if (EC_POINT_point2oct(group, EC_GROUP_get0_generator(group), POINT_CONVERSION_UNCOMPRESSED,
			       buf, sizeof(buf), NULL) != sizeof(buf) ||
	    CRYPTO_memcmp(buf, p256_g, sizeof(buf)) != 0) {
		goto out;
	}
	status = KMS_ERR_INTERNAL;
	if (kms_mont_init(&params_q, p256_q, sizeof(p256_q)) != KMS_OK ||
	    params_q.n != KMS_ECCSI_LIMBS) {
		goto out;
	}
	if (kms_ctbn_from_be(params_q_l, KMS_ECCSI_LIMBS, p256_q, sizeof(p256_q)) != KMS_OK) {
		goto out;
	}
	params_group = group;
	group = NULL; /* transferred */
	status = KMS_OK;
out:
	params_status = status;
	BN_free(order);
	EC_GROUP_free(group);
}

/* params_get - the shared parameters; KMS_OK, or the error of their one-time set-up. */
static int
params_get(const EC_GROUP **out_group)
{
	*out_group = NULL;
	if (pthread_once(&params_once, params_init) != 0) {
		return KMS_ERR_INTERNAL;
	}
	if (params_status != KMS_OK) {
		return params_status;
	}
	*out_group = params_group;
	return KMS_OK;
}

/* scalar_ok - 1 if 0 < s < q (s as limbs), else 0. Constant time up to the verdict. */
static int
scalar_ok(const uint64_t s[KMS_ECCSI_LIMBS])
{
	uint64_t mask =
		~kms_ctbn_is_zero(s, KMS_ECCSI_LIMBS) & kms_ctbn_lt(s, params_q_l, KMS_ECCSI_LIMBS);

	return (int)(mask & 1);
}

/*
 * draw_scalar - a uniformly random scalar in [1, q - 1], as bytes and as limbs (both the
 * caller's secrets). Rejection sampling: a rejected draw says nothing about the accepted one.
 */
static int
draw_scalar(uint8_t out[KMS_ECCSI_SCALAR_LEN], uint64_t out_l[KMS_ECCSI_LIMBS])
{
	int r = KMS_ERR_RANDOM;
	int i;

	for (i = 0; i < KMS_ECCSI_MAX_DRAWS; i++) {
		if (RAND_priv_bytes(out, KMS_ECCSI_SCALAR_LEN) != 1) {
			r = KMS_ERR_RANDOM;
			goto out;
		}
		if ((r = kms_ctbn_from_be(out_l, KMS_ECCSI_LIMBS, out, KMS_ECCSI_SCALAR_LEN)) !=
		    KMS_OK) {
			goto out;
		}
		if (scalar_ok(out_l)) {
			r = KMS_OK;
			goto out;
		}
		r = KMS_ERR_RANDOM;
	}
out:
	if (r != KMS_OK) {
		kms_memzero(out, KMS_ECCSI_SCALAR_LEN);
		kms_memzero(out_l, KMS_ECCSI_LIMBS * sizeof(uint64_t));
	}
	return r;
}

/*
 * secret_bn - a secure, constant-time-flagged BIGNUM holding the 32-octet secret s. The
 * caller owns *out and releases it with BN_clear_free().
 */
static int
secret_bn(BIGNUM **out, const uint8_t s[KMS_ECCSI_SCALAR_LEN])
{
	BIGNUM *bn = NULL;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	bn = BN_secure_new();
	if (bn == NULL) {
		goto out;
	}
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	if (BN_bin2bn(s, KMS_ECCSI_SCALAR_LEN, bn) == NULL) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	*out = bn;
	bn = NULL; /* transferred */
	r = KMS_OK;
out:
	BN_clear_free(bn);
	return r;
}

/*
 * point_decode - load the 65-octet uncompressed encoding into p. Only the 0x04 form is
 * accepted (OpenSSL would also take the 0x06/0x07 hybrid forms of the same length). OpenSSL
 * rejects coordinates >= p and points off the curve; infinity has no 65-octet encoding, and is
 * checked anyway. KMS_ERR_POINT for anything malformed. The untrusted input's failure must not
 * linger in OpenSSL's error queue, hence the mark.
 */
static int
point_decode(const EC_GROUP *group, EC_POINT *p, const uint8_t in[KMS_ECCSI_POINT_LEN],
	     BN_CTX *bnctx)
{
	int ok;

	if (in[0] != POINT_CONVERSION_UNCOMPRESSED) {
		return KMS_ERR_POINT;
	}
	ERR_set_mark();
	ok = EC_POINT_oct2point(group, p, in, KMS_ECCSI_POINT_LEN, bnctx) == 1 &&
	     EC_POINT_is_at_infinity(group, p) == 0 && EC_POINT_is_on_curve(group, p, bnctx) == 1;
	ERR_pop_to_mark();
	return ok ? KMS_OK : KMS_ERR_POINT;
}

/* point_encode - the 65-octet uncompressed encoding of p (not infinity). */
static int
point_encode(const EC_GROUP *group, uint8_t out[KMS_ECCSI_POINT_LEN], const EC_POINT *p,
	     BN_CTX *bnctx)
{
	if (EC_POINT_point2oct(group, p, POINT_CONVERSION_UNCOMPRESSED, out, KMS_ECCSI_POINT_LEN,
			       bnctx) != KMS_ECCSI_POINT_LEN) {
		return KMS_ERR_CRYPTO;
	}
	return KMS_OK;
}

/* mul_g - out = [s]G for the secret scalar s (0 < s < q, the caller's check). */
static int
mul_g(const EC_GROUP *group, uint8_t out[KMS_ECCSI_POINT_LEN],
      const uint8_t s[KMS_ECCSI_SCALAR_LEN])
{
	BN_CTX *bnctx = NULL;
	BIGNUM *bn = NULL;
	EC_POINT *p = NULL;
	int r = KMS_ERR_INTERNAL;

	bnctx = BN_CTX_secure_new();
	p = EC_POINT_new(group);
	if (bnctx == NULL || p == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = secret_bn(&bn, s)) != KMS_OK) {
		goto out;
	}
	if (EC_POINT_mul(group, p, bn, NULL, NULL, bnctx) != 1) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	if ((r = point_encode(group, out, p, bnctx)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	EC_POINT_clear_free(p);
	BN_clear_free(bn);
	BN_CTX_free(bnctx);
	return r;
}

static int
id_ok(const uint8_t *id, size_t id_len)
{
	return id != NULL && id_len >= 1 && id_len <= KMS_ECCSI_MAX_ID_LEN;
}

int
kms_eccsi_kms_new(struct kms_eccsi_kms **out, const uint8_t ksak[KMS_ECCSI_SCALAR_LEN])
{
	struct kms_eccsi_kms *kms = NULL; /* owned */
	const EC_GROUP *group = NULL;
	int r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	if (ksak == NULL) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = params_get(&group)) != KMS_OK) {
		goto out;
	}
	kms = kms_secmem_alloc(sizeof(*kms));
	if (kms == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	memcpy(kms->ksak, ksak, sizeof(kms->ksak));
	if ((r = kms_ctbn_from_be(kms->ksak_l, KMS_ECCSI_LIMBS, kms->ksak, sizeof(kms->ksak))) !=
	    KMS_OK) {
		goto out;
	}
	if (!scalar_ok(kms->ksak_l)) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	if ((r = mul_g(group, kms->kpak, kms->ksak)) != KMS_OK) {
		goto out;
	}
	*out = kms;
	kms = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_eccsi_kms_free(kms);
	return r;
}

int
kms_eccsi_kms_generate(struct kms_eccsi_kms **out)
{
	const EC_GROUP *group = NULL;
	uint8_t ksak[KMS_ECCSI_SCALAR_LEN]; /* secret */
	uint64_t ksak_l[KMS_ECCSI_LIMBS];   /* secret */
	int r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	if ((r = params_get(&group)) != KMS_OK) {
		goto out;
	}
	if ((r = draw_scalar(ksak, ksak_l)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_eccsi_kms_new(out, ksak)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	kms_memzero(ksak, sizeof(ksak));
	kms_memzero(ksak_l, sizeof(ksak_l));
	return r;
}

void
kms_eccsi_kms_free(struct kms_eccsi_kms *kms)
{
	if (kms == NULL) {
		return;
	}
	kms_secmem_free(kms, sizeof(*kms)); /* wipes the whole struct */
}

void
kms_eccsi_kms_kpak(const struct kms_eccsi_kms *kms, uint8_t out[KMS_ECCSI_POINT_LEN])
{
	if (kms == NULL) {
		memset(out, 0, KMS_ECCSI_POINT_LEN);
		return;
	}
	memcpy(out, kms->kpak, KMS_ECCSI_POINT_LEN);
}

void
kms_eccsi_kms_ksak(const struct kms_eccsi_kms *kms, uint8_t out[KMS_ECCSI_SCALAR_LEN])
{
	if (kms == NULL) {
		kms_memzero(out, KMS_ECCSI_SCALAR_LEN);
		return;
	}
	memcpy(out, kms->ksak, KMS_ECCSI_SCALAR_LEN);
}

int
kms_eccsi_hs(uint8_t hs[32], const uint8_t kpak[KMS_ECCSI_POINT_LEN], const uint8_t *id,
	     size_t id_len, const uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	EVP_MD_CTX *md = NULL;
	unsigned int md_len = 0;
	int r = KMS_ERR_INTERNAL;

	if (hs == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(hs, 0, 32);
	if (kpak == NULL || pvt == NULL || !id_ok(id, id_len)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, p256_g, sizeof(p256_g)) != 1 ||
	    EVP_DigestUpdate(md, kpak, KMS_ECCSI_POINT_LEN) != 1 ||
	    EVP_DigestUpdate(md, id, id_len) != 1 ||
	    EVP_DigestUpdate(md, pvt, KMS_ECCSI_POINT_LEN) != 1 ||
	    EVP_DigestFinal_ex(md, hs, &md_len) != 1 || md_len != 32) {
		memset(hs, 0, 32);
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = KMS_OK;
out:
	EVP_MD_CTX_free(md);
	return r;
}

int
kms_eccsi_validate(const uint8_t kpak[KMS_ECCSI_POINT_LEN], const uint8_t *id, size_t id_len,
		   const uint8_t ssk[KMS_ECCSI_SCALAR_LEN], const uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	const EC_GROUP *group = NULL;
	BN_CTX *bnctx = NULL;
	EC_POINT *kpak_p = NULL;
	EC_POINT *pvt_p = NULL;
	EC_POINT *lhs = NULL;
	EC_POINT *rhs = NULL;
	BIGNUM *ssk_bn = NULL; /* secret on the KMS side (self-check) */
	BIGNUM *hs_bn = NULL;
	uint64_t ssk_l[KMS_ECCSI_LIMBS] = {0}; /* secret */
	uint8_t hs[32] = {0};
	int cmp;
	int r = KMS_ERR_INTERNAL;

	if (kpak == NULL || ssk == NULL || pvt == NULL || !id_ok(id, id_len)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = params_get(&group)) != KMS_OK) {
		goto out;
	}
	bnctx = BN_CTX_secure_new();
	kpak_p = EC_POINT_new(group);
	pvt_p = EC_POINT_new(group);
	lhs = EC_POINT_new(group);
	rhs = EC_POINT_new(group);
	if (bnctx == NULL || kpak_p == NULL || pvt_p == NULL || lhs == NULL || rhs == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	/* RFC 6507 5.1.2 step 1: PVT (and the KMS's KPAK) lie on E. */
	if ((r = point_decode(group, kpak_p, kpak, bnctx)) != KMS_OK ||
	    (r = point_decode(group, pvt_p, pvt, bnctx)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_ctbn_from_be(ssk_l, KMS_ECCSI_LIMBS, ssk, KMS_ECCSI_SCALAR_LEN)) != KMS_OK) {
		goto out;
	}
	if (!scalar_ok(ssk_l)) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	/* Step 2: HS. */
	if ((r = kms_eccsi_hs(hs, kpak, id, id_len, pvt)) != KMS_OK) {
		goto out;
	}
	if ((r = secret_bn(&ssk_bn, ssk)) != KMS_OK) {
		goto out;
	}
	hs_bn = BN_bin2bn(hs, (int)sizeof(hs), NULL);
	if (hs_bn == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	/* Step 3: [SSK]G == KPAK + [HS]PVT. HS may exceed q; OpenSSL reduces it. */
	if (EC_POINT_mul(group, lhs, ssk_bn, NULL, NULL, bnctx) != 1 ||
	    EC_POINT_mul(group, rhs, NULL, pvt_p, hs_bn, bnctx) != 1 ||
	    EC_POINT_add(group, rhs, rhs, kpak_p, bnctx) != 1) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	cmp = EC_POINT_cmp(group, lhs, rhs, bnctx);
	if (cmp < 0) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = cmp == 0 ? KMS_OK : KMS_ERR_AUTH;
out:
	kms_memzero(ssk_l, sizeof(ssk_l));
	BN_clear_free(ssk_bn);
	BN_free(hs_bn);
	EC_POINT_clear_free(lhs);
	EC_POINT_free(rhs);
	EC_POINT_free(pvt_p);
	EC_POINT_free(kpak_p);
	BN_CTX_free(bnctx);
	return r;
}

/*
 * issue_core - PVT = [v]G, HS, SSK = (KSAK + HS * v) mod q (RFC 6507 5.1.1 steps 2-4) for
 * 0 < v < q. KMS_ERR_SCALAR if HS mod q or SSK is 0 (the caller draws another v). Outputs
 * are unspecified on failure: the caller wipes them.
 */
static int
issue_core(const EC_GROUP *group, const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
	   const uint8_t v[KMS_ECCSI_SCALAR_LEN], const uint64_t v_l[KMS_ECCSI_LIMBS],
	   uint8_t ssk[KMS_ECCSI_SCALAR_LEN], uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	uint8_t hs[32];
	uint64_t hs_l[KMS_ECCSI_LIMBS];
	uint64_t t[KMS_ECCSI_LIMBS]; /* secret */
	uint64_t s[KMS_ECCSI_LIMBS]; /* secret */
	int r = KMS_ERR_INTERNAL;

	if ((r = mul_g(group, pvt, v)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_eccsi_hs(hs, kms->kpak, id, id_len, pvt)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_mont_reduce_bytes(&params_q, hs_l, hs, sizeof(hs))) != KMS_OK) {
		goto out;
	}
	/* HS is public (it is computed from public values): branching on it leaks nothing. */
	if (kms_ctbn_is_zero(hs_l, KMS_ECCSI_LIMBS) != 0) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	/*
	 * kms_mont_mul(a, b) = a * b * R^-1: with a = HS * R (Montgomery form) and b = v (plain),
	 * the product is HS * v in plain form; adding KSAK (plain) needs no conversion.
	 */
	kms_mont_to(&params_q, t, hs_l);
	kms_mont_mul(&params_q, t, t, v_l);
	kms_mont_add(&params_q, s, t, kms->ksak_l);
	if (kms_ctbn_is_zero(s, KMS_ECCSI_LIMBS) != 0) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	kms_ctbn_to_be(ssk, KMS_ECCSI_SCALAR_LEN, s, KMS_ECCSI_LIMBS);
	r = KMS_OK;
out:
	kms_memzero(t, sizeof(t));
	kms_memzero(s, sizeof(s));
	kms_memzero(hs_l, sizeof(hs_l));
	kms_memzero(hs, sizeof(hs));
	return r;
}

/*
 * self_check - RFC 6507 5.1.2, as the client will run it, before anything leaves the issuer.
 * A verdict other than KMS_OK is KMS_ERR_SELFTEST, except running out of memory, which says
 * nothing about the key.
 */
static int
self_check(const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
	   const uint8_t ssk[KMS_ECCSI_SCALAR_LEN], const uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	int r = kms_eccsi_validate(kms->kpak, id, id_len, ssk, pvt);

	if (r == KMS_OK || r == KMS_ERR_NOMEM) {
		return r;
	}
	return KMS_ERR_SELFTEST;
}

int
kms_eccsi_issue_with_v(const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
		       const uint8_t v[KMS_ECCSI_SCALAR_LEN], uint8_t ssk[KMS_ECCSI_SCALAR_LEN],
		       uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	const EC_GROUP *group = NULL;
	uint64_t v_l[KMS_ECCSI_LIMBS] = {0}; /* secret */
	int r = KMS_ERR_INTERNAL;

	if (ssk == NULL || pvt == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	kms_memzero(ssk, KMS_ECCSI_SCALAR_LEN);
	memset(pvt, 0, KMS_ECCSI_POINT_LEN);
	if (kms == NULL || v == NULL || !id_ok(id, id_len)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = params_get(&group)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_ctbn_from_be(v_l, KMS_ECCSI_LIMBS, v, KMS_ECCSI_SCALAR_LEN)) != KMS_OK) {
		goto out;
	}
	if (!scalar_ok(v_l)) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	/* With a fixed v there is nothing to retry: HS or SSK of 0 is KMS_ERR_SCALAR. */
	if ((r = issue_core(group, kms, id, id_len, v, v_l, ssk, pvt)) != KMS_OK) {
		goto out;
	}
	if ((r = self_check(kms, id, id_len, ssk, pvt)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		kms_memzero(ssk, KMS_ECCSI_SCALAR_LEN);
		memset(pvt, 0, KMS_ECCSI_POINT_LEN);
	}
	kms_memzero(v_l, sizeof(v_l));
	return r;
}

int
kms_eccsi_issue(const struct kms_eccsi_kms *kms, const uint8_t *id, size_t id_len,
		uint8_t ssk[KMS_ECCSI_SCALAR_LEN], uint8_t pvt[KMS_ECCSI_POINT_LEN])
{
	const EC_GROUP *group = NULL;
	uint8_t v[KMS_ECCSI_SCALAR_LEN] = {0}; /* secret */
	uint64_t v_l[KMS_ECCSI_LIMBS] = {0};   /* secret */
	int tries;
	int r = KMS_ERR_INTERNAL;

	if (ssk == NULL || pvt == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	kms_memzero(ssk, KMS_ECCSI_SCALAR_LEN);
	memset(pvt, 0, KMS_ECCSI_POINT_LEN);
	if (kms == NULL || !id_ok(id, id_len)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = params_get(&group)) != KMS_OK) {
		goto out;
	}
	/* RFC 6507 5.1.1: choose v; if HS or SSK comes out 0, choose again. */
	r = KMS_ERR_INTERNAL;
	for (tries = 0; tries < KMS_ECCSI_MAX_TRIES; tries++) {
		if ((r = draw_scalar(v, v_l)) != KMS_OK) {
			goto out;
		}
		r = issue_core(group, kms, id, id_len, v, v_l, ssk, pvt);
		if (r != KMS_ERR_SCALAR) {
			break;
		}
	}
	if (r == KMS_ERR_SCALAR) {
		r = KMS_ERR_INTERNAL; /* 2^-256 per try: the arithmetic is broken */
	}
	if (r != KMS_OK) {
		goto out;
	}
	if ((r = self_check(kms, id, id_len, ssk, pvt)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		kms_memzero(ssk, KMS_ECCSI_SCALAR_LEN);
		memset(pvt, 0, KMS_ECCSI_POINT_LEN);
	}
	kms_memzero(v, sizeof(v));
	kms_memzero(v_l, sizeof(v_l));
	return r;
}
