/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SAKKE (RFC 6508) with RFC 6509 parameter set 1: E: y^2 = x^3 - 3x over F_p, p a 1024-bit
 * prime = 3 mod 4, q = (p + 1) / 4 prime, base point P of order q.
 *
 * Issuing RSK = [(a + z_T)^-1 mod q]P:
 *   - the scalar inverse runs in constant time (Fermat: k = s^(q-2), Montgomery arithmetic,
 *     public exponent);
 *   - [k]P uses a fixed-base signed-window method: k is recoded into 147 signed 7-bit digits
 *     d_i in [-63, 64], and [k]P = sum d_i [2^(7i)]P. Each term is read from a precomputed table
 *     of [j 2^(7i)]P (j = 1..64, affine) by a scan of the whole row with masks, negated by a
 *     mask, and added with mixed Jacobian-affine addition whose exceptional cases (the
 *     accumulator at infinity, a zero digit) are resolved with masks too. No doublings, no
 *     branch, no secret-dependent address;
 *   - the result is made affine with a constant-time Fermat inversion.
 * The KMS self-check [a + z_T]RSK == P is evaluated as two cheaper facts that together are
 * equivalent to it: k (a + z_T) = 1 mod q (one scalar multiplication), and RSK == [k z_T^-1]Z_T,
 * a second fixed-base multiplication through an independent table, that of Z_T. Given
 * Z_T = [z_T]P (verified when the key is loaded, as [z_T^-1]Z_T == P), the second says
 * RSK = [k]P, so [a + z_T]RSK = [(a + z_T) k]P = P. It catches a fault in the inversion, the
 * point multiplication or the affine conversion, and it accepts only RSKs in the subgroup of
 * order q (the literal equation would also pass an RSK with a component of order 2 when
 * a + z_T is even). tests/unit/test_sakke.c checks the literal equation with OpenSSL's
 * generic curve arithmetic as an independent implementation.
 *
 * Field elements are 16 limbs in Montgomery form unless a name says "plain".
 */
#include "hsm/sakke.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "hsm/ctbn.h"
#include "hsm/internal.h"

#include "common/banned.h"

#define NL       16  /* limbs of a field element */
#define FE_BYTES 128 /* octets of a coordinate */
#define WIN      7   /* bits of a signed digit */
#define ROW      64  /* table entries per digit position: 2^(WIN-1) */
#define NPOS     147 /* digit positions: ceil(1022 / 7) + 1 for the final carry */
#define Q_BITS   1022

struct aff {
	uint64_t x[NL];
	uint64_t y[NL];
};

struct jac {
	uint64_t x[NL];
	uint64_t y[NL];
	uint64_t z[NL];
};

/* A fixed-base table: row i holds [(j + 1) 2^(7 i)]B for j = 0..63, affine, Montgomery form. */
struct comb {
	struct aff row[NPOS][ROW];
};

struct sakke_params {
	struct kms_mont fp;     /* arithmetic mod p */
	struct kms_mont fq;     /* arithmetic mod q */
	struct aff base;        /* P */
	uint64_t q_plain[NL];   /* q */
	uint64_t qm1_plain[NL]; /* q - 1: the Miller loop's bits */
	uint64_t g_plain[NL];   /* g = <P, P> */
	struct comb *comb_p;    /* fixed-base table of P (public; heap) */
	int ok;
};

struct kms_sakke_kms {
	uint64_t z_plain[NL];    /* z_T, the master secret (this struct is in locked memory) */
	uint64_t zinv_plain[NL]; /* z_T^-1 mod q, for the self-check; as secret as z_T */
	uint8_t z_pub[KMS_SAKKE_POINT_LEN];
	struct aff z_aff;    /* Z_T */
	struct comb *comb_z; /* fixed-base table of Z_T (public; heap) */
};

/* RFC 6509 Appendix A, parameter set 1. */
static const char *const P_HEX = "997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2E"
				 "F40AAB27E2FC0F1B228730D531A59CB0E791B39FF7C88A19356D27F4A666A6D0"
				 "E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82A7CF3C521C3C09AA"
				 "9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB";
static const char *const Q_HEX = "265EAEC7C2958FF69971846636B4195E905B0338672D20986FA6B8D62CF8068B"
				 "BD02AAC9F8BF03C6C8A1CC354C69672C39E46CE7FDF222864D5B49FD2999A9B4"
				 "389B1921CC9AD335144AB173595A07386DABFD2A0C614AA0A9F3CF14870F026A"
				 "A7E535ABD5A5C7C7FF38FA08E2615F6C203177C42B1EB3A1D99B601EBFAA17FB";
static const char *const PX_HEX =
	"53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBF"
	"B5EDB6C0F6CE2308AB10DB9030B09E1043D5F22CDB9DFA55718BD9E7406CE890"
	"9760AF765DD5BCCB337C86548B72F2E1A702C3397A60DE74A7C1514DBA66910D"
	"D5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895";
static const char *const PY_HEX =
	"0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178"
	"F5EA69F4654EC2B9E7F7F5E5F0DE55F66B598CCF9A140B2E416CFF0CA9E032B9"
	"70DAE117AD547C6CCAD696B5B7652FE0AC6F1E80164AA989492D979FC5A4D5F2"
	"13515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7";
static const char *const G_HEX = "66FC2A432B6EA392148F15867D623068C6A87BD1FB94C41E27FABE658E015A87"
				 "371E94744C96FEDA449AE9563F8BC446CBFDA85D5D00EF577072DA8F541721BE"
				 "EE0FAED1828EAB90B99DFB0138C7843355DF0460B4A9FD74B4F1A32BCAFA1FFA"
				 "D682C033A7942BCCE3720F20B9B7B0403C8CAE87B7A0042ACDE0FAB36461EA46";

static struct sakke_params params;
static pthread_once_t params_once = PTHREAD_ONCE_INIT;

/* --- field arithmetic (mod p, Montgomery form) ------------------------------------------ */

static inline void
fmul(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	kms_mont_mul16(&params.fp, r, a, b);
}

static inline void
fsqr(uint64_t *r, const uint64_t *a)
{
	kms_mont_mul16(&params.fp, r, a, a);
}

static inline void
fadd(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	kms_mont_add(&params.fp, r, a, b);
}

static inline void
fsub(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
	kms_mont_sub(&params.fp, r, a, b);
}

static inline void
fcopy(uint64_t *r, const uint64_t *a)
{
	memcpy(r, a, NL * sizeof(uint64_t));
}

/* r = a^-1 (0 for 0), constant time. */
static void
finv(uint64_t *r, const uint64_t *a)
{
	kms_mont_inv(&params.fp, r, a);
}

/* Plain big-endian octets (exactly FE_BYTES, < p) into Montgomery form. */
static int
fe_from_bytes(uint64_t *r, const uint8_t in[FE_BYTES])
{
	uint64_t t[NL];

	if (kms_ctbn_from_be(t, NL, in, FE_BYTES) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	if (!kms_ctbn_lt(t, params.fp.m, NL)) {
		return KMS_ERR_POINT;
	}
	kms_mont_to(&params.fp, r, t);
	kms_memzero(t, sizeof(t));
	return KMS_OK;
}

static void
fe_to_bytes(uint8_t out[FE_BYTES], const uint64_t *a)
{
	uint64_t t[NL];

	kms_mont_from(&params.fp, t, a);
	kms_ctbn_to_be(out, FE_BYTES, t, NL);
	kms_memzero(t, sizeof(t));
}

/* --- points ----------------------------------------------------------------------------- */

/* Is (x, y) on E? (Montgomery form.) All-ones mask if so. */
static uint64_t
aff_on_curve(const struct aff *pt)
{
	uint64_t lhs[NL];
	uint64_t rhs[NL];
	uint64_t t[NL];

	fsqr(lhs, pt->y);
	fsqr(t, pt->x);
	fsub(t, t, params.fp.one);
	fsub(t, t, params.fp.one);
	fsub(t, t, params.fp.one);
	fmul(rhs, t, pt->x); /* x^3 - 3x = x (x^2 - 3) */
	return kms_ctbn_eq(lhs, rhs, NL);
}

/* 0x04 || x || y, coordinates < p, on the curve. */
static int
aff_from_bytes(struct aff *pt, const uint8_t in[KMS_SAKKE_POINT_LEN])
{
	int r;

	if (in[0] != 0x04) {
		return KMS_ERR_POINT;
	}
	if ((r = fe_from_bytes(pt->x, in + 1)) != KMS_OK ||
	    (r = fe_from_bytes(pt->y, in + 1 + FE_BYTES)) != KMS_OK) {
		return r;
	}
	if (!aff_on_curve(pt)) {
		return KMS_ERR_POINT;
	}
	return KMS_OK;
}

static void
aff_to_bytes(uint8_t out[KMS_SAKKE_POINT_LEN], const struct aff *pt)
{
	out[0] = 0x04;
	fe_to_bytes(out + 1, pt->x);
	fe_to_bytes(out + 1 + FE_BYTES, pt->y);
}

static void
jac_from_aff(struct jac *r, const struct aff *a)
{
	fcopy(r->x, a->x);
	fcopy(r->y, a->y);
	fcopy(r->z, params.fp.one);
}

/* r = [2]a, a = -3 formulas (dbl-2001-b); infinity (z = 0) stays infinity. */
static void
jac_dbl(struct jac *r, const struct jac *a)
{
	uint64_t delta[NL], gamma[NL], beta[NL], alpha[NL], t1[NL], t2[NL];

	fsqr(delta, a->z);
	fsqr(gamma, a->y);
	fmul(beta, a->x, gamma);
	fsub(t1, a->x, delta);
	fadd(t2, a->x, delta);
	fmul(alpha, t1, t2);
	fadd(t1, alpha, alpha);
	fadd(alpha, t1, alpha); /* 3 (x - delta)(x + delta) */
	/* z3 = (y + z)^2 - gamma - delta, before x and y are overwritten */
	fadd(t1, a->y, a->z);
	fsqr(t1, t1);
	fsub(t1, t1, gamma);
	fsub(r->z, t1, delta);
	/* x3 = alpha^2 - 8 beta */
	fadd(beta, beta, beta);
	fadd(beta, beta, beta); /* 4 beta */
	fsqr(t1, alpha);
	fadd(t2, beta, beta);
	fsub(r->x, t1, t2);
	/* y3 = alpha (4 beta - x3) - 8 gamma^2 */
	fsub(t1, beta, r->x);
	fmul(t1, alpha, t1);
	fsqr(t2, gamma);
	fadd(t2, t2, t2);
	fadd(t2, t2, t2);
	fadd(t2, t2, t2);
	fsub(r->y, t1, t2);
}

/*
 * r = a + b, b affine (madd-2007-bl). Correct when a is not infinity and a != +-b; callers
 * deal with those cases (see comb_mul and the comments where it is used).
 */
static void
jac_madd(struct jac *r, const struct jac *a, const struct aff *b)
{
	uint64_t z1z1[NL], u2[NL], s2[NL], h[NL], hh[NL], i4[NL], j[NL], rr[NL], v[NL], t[NL];

	fsqr(z1z1, a->z);
	fmul(u2, b->x, z1z1);
	fmul(s2, b->y, a->z);
	fmul(s2, s2, z1z1);
	fsub(h, u2, a->x);
	fsqr(hh, h);
	fadd(i4, hh, hh);
	fadd(i4, i4, i4);
	fmul(j, h, i4);
	fsub(rr, s2, a->y);
	fadd(rr, rr, rr);
	fmul(v, a->x, i4);
	/* z3 = (z1 + h)^2 - z1z1 - hh */
	fadd(t, a->z, h);
	fsqr(t, t);
	fsub(t, t, z1z1);
	fsub(t, t, hh);
	/* y1 * j before y is overwritten (r may alias a) */
	fmul(s2, a->y, j);
	fcopy(r->z, t);
	/* x3 = rr^2 - j - 2 v */
	fsqr(t, rr);
	fsub(t, t, j);
	fsub(t, t, v);
	fsub(r->x, t, v);
	/* y3 = rr (v - x3) - 2 y1 j */
	fsub(t, v, r->x);
	fmul(t, rr, t);
	fsub(t, t, s2);
	fsub(r->y, t, s2);
}

/* Affine from Jacobian (z != 0), constant time. */
static void
jac_to_aff(struct aff *r, const struct jac *a)
{
	uint64_t zi[NL], zi2[NL];

	finv(zi, a->z);
	fsqr(zi2, zi);
	fmul(r->x, a->x, zi2);
	fmul(zi2, zi2, zi);
	fmul(r->y, a->y, zi2);
	kms_memzero(zi, sizeof(zi));
	kms_memzero(zi2, sizeof(zi2));
}

/* --- fixed-base tables ------------------------------------------------------------------ */

/* Batch affine conversion of n Jacobian points (z != 0): one inversion (Montgomery's trick). */
static void
batch_to_aff(struct aff *out, const struct jac *in, size_t n, uint64_t (*acc)[NL])
{
	uint64_t inv[NL], t[NL], zi2[NL];
	size_t i;

	fcopy(acc[0], in[0].z);
	for (i = 1; i < n; i++) {
		fmul(acc[i], acc[i - 1], in[i].z);
	}
	finv(inv, acc[n - 1]);
	for (i = n; i-- > 0;) {
		if (i > 0) {
			fmul(t, inv, acc[i - 1]); /* 1 / z_i */
			fmul(inv, inv, in[i].z);
		} else {
			fcopy(t, inv);
		}
		fsqr(zi2, t);
		fmul(out[i].x, in[i].x, zi2);
		fmul(zi2, zi2, t);
		fmul(out[i].y, in[i].y, zi2);
	}
}

/* Build the table of base (affine, order q). Public data. */
static int
comb_build(struct comb **out, const struct aff *base)
{
	struct comb *c = NULL;
	struct jac *m = NULL;
	struct aff *tmp = NULL;
	uint64_t(*acc)[NL] = NULL;
	struct aff b;
	size_t i;
	size_t j;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	m = calloc(ROW + 1, sizeof(*m));
	tmp = calloc(ROW + 1, sizeof(*tmp));
	acc = calloc(ROW + 1, sizeof(*acc));
	if (c == NULL || m == NULL || tmp == NULL || acc == NULL) {
		goto out;
	}
	b = *base;
	for (i = 0; i < NPOS; i++) {
		/* m[j] = [j + 1] b; [1]b + b is a doubling, later sums never meet +-b. */
		jac_from_aff(&m[0], &b);
		jac_dbl(&m[1], &m[0]);
		for (j = 2; j < ROW; j++) {
			jac_madd(&m[j], &m[j - 1], &b);
		}
		jac_dbl(&m[ROW], &m[ROW - 1]); /* [128] b: the next row's base */
		batch_to_aff(tmp, m, ROW + 1, acc);
		memcpy(c->row[i], tmp, ROW * sizeof(struct aff));
		b = tmp[ROW];
	}
	*out = c;
	c = NULL;
	r = KMS_OK;
out:
	free(c);
	free(m);
	free(tmp);
	free(acc);
	return r;
}

/*
 * Signed recoding of a plain scalar k < 2^1022 into NPOS digits in [-63, 64], constant time:
 * k = sum d_i 2^(7 i).
 */
static void
recode(int32_t d[NPOS], const uint64_t k[NL])
{
	uint32_t carry = 0;
	size_t i;

	for (i = 0; i < NPOS; i++) {
		size_t bit = i * WIN;
		size_t limb = bit / 64;
		unsigned int off = (unsigned int)(bit % 64);
		uint64_t w = 0;
		uint32_t v;

		if (limb < NL) {
			w = k[limb] >> off;
			if (off > 64 - WIN && limb + 1 < NL) {
				w |= k[limb + 1] << (64 - off);
			}
		}
		v = (uint32_t)(w & ((1u << WIN) - 1)) + carry;
		/* v > 64: take v - 128 and carry one into the next digit */
		carry = ((uint32_t)ROW - v) >> 31;
		d[i] = (int32_t)v - (int32_t)(carry << WIN);
	}
}

/* out = entry |d| of the row, negated if d < 0; *is_zero = all-ones if d == 0. */
static void
comb_select(struct aff *out, uint64_t *is_zero, const struct aff row[ROW], int32_t d)
{
	uint32_t sign = (uint32_t)d >> 31;
	uint32_t abs_d = ((uint32_t)d ^ (0u - sign)) + sign;
	uint64_t neg_y[NL];
	uint64_t *o = (uint64_t *)out;
	size_t j;
	size_t k;

	memset(out, 0, sizeof(*out));
	for (j = 0; j < ROW; j++) {
		uint32_t diff = abs_d ^ (uint32_t)(j + 1);
		uint64_t mask = kms_ct_barrier_u64((uint64_t)0 -
						   (uint64_t)(((diff | (0u - diff)) >> 31) ^ 1));
		const uint64_t *e = (const uint64_t *)&row[j];

		for (k = 0; k < 2 * NL; k++) {
			o[k] |= e[k] & mask;
		}
	}
	kms_mont_neg(&params.fp, neg_y, out->y);
	kms_ctbn_cmov(out->y, neg_y, NL, (uint64_t)0 - (uint64_t)sign);
	*is_zero = (uint64_t)0 - (uint64_t)(((abs_d | (0u - abs_d)) >> 31) ^ 1);
	kms_memzero(neg_y, sizeof(neg_y));
}

/*
 * r = [k]B for the table of B and a plain scalar k < 2^1022, constant time. The accumulator
 * cannot meet +-(the added term) before the top positions (each partial sum is smaller in
 * absolute value than the next term), and there only with probability about 2^-1000; the
 * issuer's self-check would catch even that.
 */
static void
comb_mul(struct jac *r, const struct comb *c, const uint64_t k[NL])
{
	int32_t d[NPOS];
	struct jac acc, sum, as_jac;
	struct aff e;
	uint64_t acc_inf = ~(uint64_t)0;
	uint64_t is_zero;
	size_t i;

	recode(d, k);
	memset(&acc, 0, sizeof(acc));
	for (i = 0; i < NPOS; i++) {
		comb_select(&e, &is_zero, c->row[i], d[i]);
		jac_madd(&sum, &acc, &e);
		jac_from_aff(&as_jac, &e);
		/* acc at infinity: the sum is the term itself */
		kms_ctbn_cmov(sum.x, as_jac.x, NL, acc_inf);
		kms_ctbn_cmov(sum.y, as_jac.y, NL, acc_inf);
		kms_ctbn_cmov(sum.z, as_jac.z, NL, acc_inf);
		/* zero digit: nothing to add */
		kms_ctbn_cmov(sum.x, acc.x, NL, is_zero);
		kms_ctbn_cmov(sum.y, acc.y, NL, is_zero);
		kms_ctbn_cmov(sum.z, acc.z, NL, is_zero);
		acc = sum;
		acc_inf &= is_zero;
	}
	*r = acc;
	kms_memzero(d, sizeof(d));
	kms_memzero(&acc, sizeof(acc));
	kms_memzero(&sum, sizeof(sum));
	kms_memzero(&as_jac, sizeof(as_jac));
	kms_memzero(&e, sizeof(e));
}

/* --- parameters ------------------------------------------------------------------------- */

/* Our own constants (hex with spaces for readability) into limbs. */
static int
hex_to_limbs(uint64_t out[NL], const char *hex)
{
	uint8_t buf[FE_BYTES];
	size_t n = 0;

	if (kms_hex_decode_loose(buf, sizeof(buf), &n, hex) != KMS_OK || n != FE_BYTES) {
		return KMS_ERR_INTERNAL;
	}
	return kms_ctbn_from_be(out, NL, buf, FE_BYTES);
}

static void
params_init(void)
{
	uint64_t t[NL];
	uint8_t buf[FE_BYTES];

	memset(&params, 0, sizeof(params));
	if (hex_to_limbs(t, P_HEX) != KMS_OK) {
		return;
	}
	kms_ctbn_to_be(buf, FE_BYTES, t, NL);
	if (kms_mont_init(&params.fp, buf, FE_BYTES) != KMS_OK) {
		return;
	}
	if (hex_to_limbs(params.q_plain, Q_HEX) != KMS_OK) {
		return;
	}
	kms_ctbn_to_be(buf, FE_BYTES, params.q_plain, NL);
	if (kms_mont_init(&params.fq, buf, FE_BYTES) != KMS_OK) {
		return;
	}
	memcpy(params.qm1_plain, params.q_plain, sizeof(params.qm1_plain));
	params.qm1_plain[0] -= 1; /* q is odd: no borrow */
	if (hex_to_limbs(t, PX_HEX) != KMS_OK) {
		return;
	}
	kms_mont_to(&params.fp, params.base.x, t);
	if (hex_to_limbs(t, PY_HEX) != KMS_OK) {
		return;
	}
	kms_mont_to(&params.fp, params.base.y, t);
	if (hex_to_limbs(params.g_plain, G_HEX) != KMS_OK) {
		return;
	}
	if (!aff_on_curve(&params.base)) {
		return;
	}
	if (comb_build(&params.comb_p, &params.base) != KMS_OK) {
		return;
	}
	params.ok = 1;
}

static int
params_get(void)
{
	if (pthread_once(&params_once, params_init) != 0 || !params.ok) {
		return KMS_ERR_INTERNAL;
	}
	return KMS_OK;
}

/* --- scalars ---------------------------------------------------------------------------- */

/* a = id mod q (plain). KMS_ERR_SCALAR if a = 0 mod q. */
static int
id_scalar(uint64_t a[NL], const uint8_t *id, size_t id_len)
{
	if (id == NULL || id_len == 0 || id_len > KMS_SAKKE_MAX_ID_LEN) {
		return KMS_ERR_INVALID_ARG;
	}
	if (kms_mont_reduce_bytes(&params.fq, a, id, id_len) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	/* The identifier is public: a branch on it is fine. */
	if (kms_ctbn_is_zero(a, NL)) {
		return KMS_ERR_SCALAR;
	}
	return KMS_OK;
}

/* k = (a + z)^-1 mod q (plain), constant time in z. KMS_ERR_SCALAR if a + z = 0 mod q. */
static int
inverse_scalar(uint64_t k[NL], const uint64_t a[NL], const uint64_t z[NL])
{
	uint64_t s[NL];
	uint64_t zero;

	kms_mont_add(&params.fq, s, a, z);
	zero = kms_ctbn_is_zero(s, NL);
	kms_mont_to(&params.fq, s, s);
	kms_mont_inv(&params.fq, k, s);
	kms_mont_from(&params.fq, k, k);
	kms_memzero(s, sizeof(s));
	/* Reveals only that a = -z_T mod q, which happens with probability 2^-1021. */
	KMS_CT_DECLASSIFY(&zero, sizeof(zero));
	return zero ? KMS_ERR_SCALAR : KMS_OK;
}

/* All-ones if the Jacobian point j (z != 0) is the affine point a: x z^2 == X, y z^3 == Y. */
static uint64_t
jac_eq_aff(const struct jac *j, const struct aff *a)
{
	uint64_t z2[NL], t[NL];
	uint64_t ok = ~kms_ctbn_is_zero(j->z, NL);

	fsqr(z2, j->z);
	fmul(t, a->x, z2);
	ok &= kms_ctbn_eq(t, j->x, NL);
	fmul(z2, z2, j->z);
	fmul(t, a->y, z2);
	ok &= kms_ctbn_eq(t, j->y, NL);
	kms_memzero(z2, sizeof(z2));
	kms_memzero(t, sizeof(t));
	return ok;
}

/* r = a * b mod q for plain scalars, constant time. */
static void
scalar_mul(uint64_t r[NL], const uint64_t a[NL], const uint64_t b[NL])
{
	uint64_t am[NL];

	kms_mont_to(&params.fq, am, a);
	kms_mont_mul(&params.fq, r, am, b); /* a R b R^-1 = a b */
	kms_memzero(am, sizeof(am));
}

/* --- the KMS key pair ------------------------------------------------------------------- */

int
kms_sakke_kms_new(struct kms_sakke_kms **out, const uint8_t *z, size_t z_len)
{
	struct kms_sakke_kms *kms = NULL;
	struct jac zj;
	int r;

	*out = NULL;
	if ((r = params_get()) != KMS_OK) {
		return r;
	}
	if (z == NULL || z_len == 0 || z_len > KMS_SAKKE_SCALAR_LEN) {
		return KMS_ERR_SCALAR;
	}
	kms = kms_secmem_alloc(sizeof(*kms));
	if (kms == NULL) {
		return KMS_ERR_NOMEM;
	}
	if (kms_ctbn_from_be(kms->z_plain, NL, z, z_len) != KMS_OK) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	/* 0 < z < q; the branch reveals only that a configured secret is invalid. */
	if (kms_ctbn_is_zero(kms->z_plain, NL) || !kms_ctbn_lt(kms->z_plain, params.q_plain, NL)) {
		r = KMS_ERR_SCALAR;
		goto out;
	}
	comb_mul(&zj, params.comb_p, kms->z_plain);
	jac_to_aff(&kms->z_aff, &zj);
	aff_to_bytes(kms->z_pub, &kms->z_aff);
	if ((r = comb_build(&kms->comb_z, &kms->z_aff)) != KMS_OK) {
		goto out;
	}
	/* z_T^-1, and the check that Z_T = [z_T]P through the other table: [z_T^-1]Z_T == P. */
	{
		uint64_t zm[NL];
		uint64_t ok;

		kms_mont_to(&params.fq, zm, kms->z_plain);
		kms_mont_inv(&params.fq, zm, zm);
		kms_mont_from(&params.fq, kms->zinv_plain, zm);
		kms_memzero(zm, sizeof(zm));
		comb_mul(&zj, kms->comb_z, kms->zinv_plain);
		ok = jac_eq_aff(&zj, &params.base);
		KMS_CT_DECLASSIFY(&ok, sizeof(ok));
		if (!ok) {
			r = KMS_ERR_SELFTEST;
			goto out;
		}
	}
	*out = kms;
	kms = NULL;
	r = KMS_OK;
out:
	kms_memzero(&zj, sizeof(zj));
	kms_sakke_kms_free(kms);
	return r;
}

int
kms_sakke_kms_generate(struct kms_sakke_kms **out)
{
	uint8_t z[KMS_SAKKE_SCALAR_LEN];
	int r = KMS_ERR_RANDOM;
	int tries;

	*out = NULL;
	if ((r = params_get()) != KMS_OK) {
		return r;
	}
	/* Rejection sampling of 1022-bit values: about 60% land in [1, q). */
	for (tries = 0; tries < 256; tries++) {
		if (RAND_priv_bytes(z, sizeof(z)) != 1) {
			r = KMS_ERR_RANDOM;
			break;
		}
		z[0] &= 0x3f;
		r = kms_sakke_kms_new(out, z, sizeof(z));
		if (r != KMS_ERR_SCALAR) {
			break;
		}
	}
	kms_memzero(z, sizeof(z));
	return r;
}

void
kms_sakke_kms_free(struct kms_sakke_kms *kms)
{
	if (kms == NULL) {
		return;
	}
	free(kms->comb_z);
	kms_secmem_free(kms, sizeof(*kms));
}

void
kms_sakke_kms_public(const struct kms_sakke_kms *kms, uint8_t out[KMS_SAKKE_POINT_LEN])
{
	memcpy(out, kms->z_pub, KMS_SAKKE_POINT_LEN);
}

void
kms_sakke_kms_secret(const struct kms_sakke_kms *kms, uint8_t out[KMS_SAKKE_SCALAR_LEN])
{
	kms_ctbn_to_be(out, KMS_SAKKE_SCALAR_LEN, kms->z_plain, NL);
}

/* --- issuing and the self-check --------------------------------------------------------- */

/*
 * The self-check (see the top of this file): k (a + z_T) = 1 mod q and rsk == [k z_T^-1]Z_T,
 * rsk on the curve. KMS_OK, KMS_ERR_POINT or KMS_ERR_AUTH; only the verdict is revealed.
 */
static int
selfcheck_k(const struct kms_sakke_kms *kms, const uint64_t a[NL], const uint64_t k[NL],
	    const struct aff *rsk)
{
	struct jac t;
	uint64_t s[NL], one[NL], k2[NL];
	uint64_t ok = aff_on_curve(rsk);

	KMS_CT_DECLASSIFY(&ok, sizeof(ok));
	if (!ok) {
		return KMS_ERR_POINT;
	}
	memset(one, 0, sizeof(one));
	one[0] = 1;
	kms_mont_add(&params.fq, s, a, kms->z_plain);
	scalar_mul(s, s, k);
	ok &= kms_ctbn_eq(s, one, NL);
	scalar_mul(k2, k, kms->zinv_plain);
	comb_mul(&t, kms->comb_z, k2);
	ok &= jac_eq_aff(&t, rsk);
	kms_memzero(&t, sizeof(t));
	kms_memzero(s, sizeof(s));
	kms_memzero(k2, sizeof(k2));
	/* The verdict is the one thing this check reveals. */
	KMS_CT_DECLASSIFY(&ok, sizeof(ok));
	return ok ? KMS_OK : KMS_ERR_AUTH;
}

int
kms_sakke_issue(const struct kms_sakke_kms *kms, const uint8_t *id, size_t id_len,
		uint8_t rsk[KMS_SAKKE_POINT_LEN])
{
	uint64_t a[NL], k[NL];
	struct jac rj;
	struct aff ra;
	int r;

	memset(rsk, 0, KMS_SAKKE_POINT_LEN);
	if (kms == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = params_get()) != KMS_OK || (r = id_scalar(a, id, id_len)) != KMS_OK ||
	    (r = inverse_scalar(k, a, kms->z_plain)) != KMS_OK) {
		goto out;
	}
	comb_mul(&rj, params.comb_p, k);
	jac_to_aff(&ra, &rj);
	if (selfcheck_k(kms, a, k, &ra) != KMS_OK) {
		r = KMS_ERR_SELFTEST;
		goto out;
	}
	aff_to_bytes(rsk, &ra);
	r = KMS_OK;
out:
	kms_memzero(k, sizeof(k));
	kms_memzero(&rj, sizeof(rj));
	kms_memzero(&ra, sizeof(ra));
	return r;
}

int
kms_sakke_selfcheck(const struct kms_sakke_kms *kms, const uint8_t *id, size_t id_len,
		    const uint8_t rsk[KMS_SAKKE_POINT_LEN])
{
	uint64_t a[NL], k[NL];
	struct aff ra;
	int r;

	if (kms == NULL || rsk == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = params_get()) != KMS_OK || (r = id_scalar(a, id, id_len)) != KMS_OK ||
	    (r = aff_from_bytes(&ra, rsk)) != KMS_OK ||
	    (r = inverse_scalar(k, a, kms->z_plain)) != KMS_OK) {
		goto out;
	}
	r = selfcheck_k(kms, a, k, &ra);
out:
	kms_memzero(k, sizeof(k));
	kms_memzero(&ra, sizeof(ra));
	return r;
}

/* --- the pairing (RFC 6508 section 3.2) ------------------------------------------------- */

/* Elements of F_p^2 = F_p[i], i^2 = -1: x1 + i x2. */
struct fp2 {
	uint64_t a[NL];
	uint64_t b[NL];
};

static void
fp2_mul(struct fp2 *r, const struct fp2 *x, const struct fp2 *y)
{
	uint64_t t0[NL], t1[NL], t2[NL], t3[NL];

	fmul(t0, x->a, y->a);
	fmul(t1, x->b, y->b);
	fadd(t2, x->a, x->b);
	fadd(t3, y->a, y->b);
	fmul(t2, t2, t3);
	fsub(t2, t2, t0);
	fsub(r->b, t2, t1); /* a1 b2 + a2 b1 */
	fsub(r->a, t0, t1); /* a1 a2 - b1 b2 */
}

static void
fp2_sqr(struct fp2 *r, const struct fp2 *x)
{
	uint64_t t0[NL], t1[NL], t2[NL];

	fadd(t0, x->a, x->b);
	fsub(t1, x->a, x->b);
	fmul(t2, x->a, x->b);
	fmul(r->a, t0, t1); /* a^2 - b^2 */
	fadd(r->b, t2, t2); /* 2 a b */
}

/*
 * w = <R, Q> as RFC 6508 3.2 defines it, the representation x2 / x1 of the value of the
 * Miller loop raised to c = (p + 1) / q = 4. The line functions are evaluated at the
 * distorted point (-Q_x, i Q_y), with C in Jacobian coordinates; each line value is scaled by
 * a power of C_z, an element of F_p that the representation x2 / x1 cancels.
 */
static void
pairing(uint64_t w_plain[NL], const struct aff *rp, const struct aff *qp)
{
	struct jac c;
	struct fp2 v, l;
	uint64_t z2[NL], z3[NL], t0[NL], t1[NL], t2[NL];
	int top = Q_BITS - 1;
	int i;

	while (top > 0 && ((params.qm1_plain[top / 64] >> (top % 64)) & 1) == 0) {
		top--;
	}
	memset(&v, 0, sizeof(v));
	fcopy(v.a, params.fp.one);
	jac_from_aff(&c, rp);
	for (i = top - 1; i >= 0; i--) {
		/* tangent at C: 3 (X^2 - Z^4)(Qx Z^2 + X) - 2 Y^2 + i 2 Y Z^3 Qy */
		fsqr(z2, c.z);
		fmul(z3, z2, c.z);
		fsqr(t0, c.x);
		fsqr(t1, z2);
		fsub(t0, t0, t1);
		fadd(t1, t0, t0);
		fadd(t0, t1, t0);
		fmul(t1, qp->x, z2);
		fadd(t1, t1, c.x);
		fmul(t0, t0, t1);
		fsqr(t1, c.y);
		fadd(t1, t1, t1);
		fsub(l.a, t0, t1);
		fmul(t2, c.y, z3);
		fmul(t2, t2, qp->y);
		fadd(l.b, t2, t2);
		fp2_sqr(&v, &v);
		fp2_mul(&v, &v, &l);
		jac_dbl(&c, &c);
		if ((params.qm1_plain[i / 64] >> (i % 64)) & 1) {
			/* chord through C and R: Y (Qx + Rx) - Ry (Qx Z^3 + X Z) + i Qy (X Z - Rx
			 * Z^3) */
			fsqr(z2, c.z);
			fmul(z3, z2, c.z);
			fadd(t0, qp->x, rp->x);
			fmul(t0, t0, c.y);
			fmul(t1, qp->x, z3);
			fmul(t2, c.x, c.z);
			fadd(t1, t1, t2);
			fmul(t1, t1, rp->y);
			fsub(l.a, t0, t1);
			fmul(t1, rp->x, z3);
			fsub(t2, t2, t1);
			fmul(l.b, t2, qp->y);
			fp2_mul(&v, &v, &l);
			jac_madd(&c, &c, rp);
		}
	}
	fp2_sqr(&v, &v);
	fp2_sqr(&v, &v);
	finv(t0, v.a);
	fmul(t0, t0, v.b);
	kms_mont_from(&params.fp, w_plain, t0);
	kms_memzero(&v, sizeof(v));
	kms_memzero(&l, sizeof(l));
	kms_memzero(&c, sizeof(c));
}

int
kms_sakke_validate(const uint8_t z_pub[KMS_SAKKE_POINT_LEN], const uint8_t *id, size_t id_len,
		   const uint8_t rsk[KMS_SAKKE_POINT_LEN])
{
	struct aff zt, ra, rp;
	struct jac t;
	uint64_t a[NL], w[NL];
	int r;

	if (z_pub == NULL || rsk == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = params_get()) != KMS_OK || (r = id_scalar(a, id, id_len)) != KMS_OK ||
	    (r = aff_from_bytes(&zt, z_pub)) != KMS_OK ||
	    (r = aff_from_bytes(&ra, rsk)) != KMS_OK) {
		goto out;
	}
	/* R = [a]P + Z_T; [a]P = -+Z_T only if a = -+z_T mod q: the check then fails. */
	comb_mul(&t, params.comb_p, a);
	jac_madd(&t, &t, &zt);
	if (kms_ctbn_is_zero(t.z, NL)) {
		r = KMS_ERR_AUTH;
		goto out;
	}
	jac_to_aff(&rp, &t);
	pairing(w, &rp, &ra);
	r = kms_ctbn_eq(w, params.g_plain, NL) ? KMS_OK : KMS_ERR_AUTH;
out:
	kms_memzero(&ra, sizeof(ra));
	kms_memzero(w, sizeof(w));
	return r;
}

int
kms_sakke_pairing_for_test(uint8_t w[KMS_SAKKE_SCALAR_LEN], const uint8_t r_pt[KMS_SAKKE_POINT_LEN],
			   const uint8_t q_pt[KMS_SAKKE_POINT_LEN])
{
	struct aff ra, qa;
	uint64_t wl[NL];
	int r;

	if ((r = params_get()) != KMS_OK || (r = aff_from_bytes(&ra, r_pt)) != KMS_OK ||
	    (r = aff_from_bytes(&qa, q_pt)) != KMS_OK) {
		return r;
	}
	pairing(wl, &ra, &qa);
	kms_ctbn_to_be(w, KMS_SAKKE_SCALAR_LEN, wl, NL);
	return KMS_OK;
}

int
kms_sakke_point_check(const uint8_t *in, size_t len)
{
	struct aff pt;
	int r;

	if (in == NULL || len != KMS_SAKKE_POINT_LEN) {
		return KMS_ERR_POINT;
	}
	if ((r = params_get()) != KMS_OK) {
		return r;
	}
	r = aff_from_bytes(&pt, in);
	kms_memzero(&pt, sizeof(pt));
	return r;
}

void
kms_sakke_ct_mark_secret(struct kms_sakke_kms *kms)
{
	KMS_CT_SECRET(kms->z_plain, sizeof(kms->z_plain));
}
