/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "hsm/eccsi.h"
#include "hsm/uid.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/*
 * ECCSI vectors: RFC 6507 Appendix A and the Streamwide KMS key sets (vectors.txt sections 1
 * and 3). The gms and bob PVTs are not printed in vectors.txt; they are taken from the same
 * published file (StreamwideTestVectors.md, "KMS KeyProv for GMS/Bob").
 */

/* RFC 6507 Appendix A */
static const char rfc_ksak[] = "00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
			       "00012345";
static const char rfc_kpak[] =
	"04"
	"50D4670B DE75244F 28D2838A 0D25558A 7A72686D 4522D4C8 273FB644 2AEBFA93"
	"DBDD3755 1AFD263B 5DFD617F 3960C65A 8C298850 FF99F203 66DCE7D4 367217F4";
static const char rfc_id[] = "32303131 2D303200 74656C3A 2B343437 37303039 30303132 3300";
static const char rfc_v[] = "00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
			    "00023456";
static const char rfc_pvt[] =
	"04"
	"758A1427 79BE89E8 29E71984 CB40EF75 8CC4AD77 5FC5B9A3 E1C8ED52 F6FA36D9"
	"A79D2476 92F4EDA3 A6BDAB77 D6AA6474 A464AE49 34663C52 65BA7018 BA091F79";
static const char rfc_hs[] =
	"490F3FEB BC1C902F 6289723D 7F8CBF79 DB889308 49D19F38 F0295B5C 276C14D1";
static const char rfc_ssk[] =
	"23F374AE 1F4033F3 E9DBDDAA EF20F4CF 0B86BBD5 A138A5AE 9E7E006B 34489A0D";

static const char p256_q_hex[] =
	"FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551";
static const char p256_g_hex[] =
	"04 6B17D1F2 E12C4247 F8BCE6E5 63A440F2 77037D81 2DEB33A0 F4A13945 D898C296"
	"4FE342E2 FE1A7F9B 8EE7EB4A 7C0F9E16 2BCE3357 6B315ECE CBB64068 37BF51F5";

/* Streamwide KMS */
static const char sw_kpak[] =
	"0448f9c2c48b50735f6bc70ec6691073243f1e0bd83cc73bb936d61ffcb2d6049a5b297e8205b29fbd8591cb"
	"582d6402add21451ce4beebeaaa7520e93b11cf28f";

struct sw_user {
	const char *uri;
	const char *uid;
	const char *ssk;
	const char *pvt;
};

static const char sw_kms_uri[] = "kms.mydev.streamwide.com";
#define SW_PERIOD    16777215u
#define SW_OFFSET    0u
#define SW_PERIOD_NO 236u

static const struct sw_user sw_alice = {
	"sip:alice@streamwide.com",
	"b5c452309219da6a3d805615548d6c1b0f4de45a6b48fb13d9a24d857fc03dc4",
	"a1be54a56c7905c06abd2be177fc0c137a32278c9067550b0f0d93fb630d2428",
	"0426cd8b0a33af9b381ee53ebc6841aed5c1c98fb0d2beb9c7ff98d7c79808d1f566659f6b735016192dd998"
	"4df56e54f3f95c76ac4638c1f3d3228f3c752c8cc8",
};

static const struct sw_user sw_gms = {
	"gms@streamwide.com",
	"15a4d5b12856538d02d91fedbb766e6dd377b014c92e216666c8fb678608d20e",
	"2e7237faa18a874b88d955199dea974b7d0fefcbbae1946baf659b26a4d05a5e",
	"0468a24d49b184d7008d22f63a415debd38bfa9295f066fa6ada5951c2322d2eca1d6f1d994f22710daef776"
	"d9c54d9a338f32395080d6f2bdffb6c7895f12cda2",
};

static const struct sw_user sw_bob = {
	"sip:bob@streamwide.com",
	"780851cda91a9c33f941cd3a2831697e2893264754e363f8a0cef827eb201a81",
	"a36885736f21b6ceba48448093086f4ada1ce099bd77e3047c04529ac3f4d4eb",
	"049c203fda536ae9481eb7f3a1e4662d0adaa6a3b7d3fff0c2dfadd148a754af424d434253b62dcd08eb6aed"
	"b6cd091e09f8539d41d3ef2d0ce07e8ead352f2dd9",
};

#define SCALAR KMS_ECCSI_SCALAR_LEN
#define POINT  KMS_ECCSI_POINT_LEN

static int
bytes_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			return 0;
		}
	}
	return 1;
}

static void
hex_exact(uint8_t *out, size_t len, const char *hex)
{
	CU_ASSERT_FATAL(kms_test_hex(out, len, hex) == len);
}

/* The RFC 6507 Appendix A material, decoded. */
struct rfc_vec {
	uint8_t ksak[SCALAR];
	uint8_t kpak[POINT];
	uint8_t id[26];
	uint8_t v[SCALAR];
	uint8_t pvt[POINT];
	uint8_t hs[32];
	uint8_t ssk[SCALAR];
};

static void
rfc_load(struct rfc_vec *tv)
{
	hex_exact(tv->ksak, sizeof(tv->ksak), rfc_ksak);
	hex_exact(tv->kpak, sizeof(tv->kpak), rfc_kpak);
	hex_exact(tv->id, sizeof(tv->id), rfc_id);
	hex_exact(tv->v, sizeof(tv->v), rfc_v);
	hex_exact(tv->pvt, sizeof(tv->pvt), rfc_pvt);
	hex_exact(tv->hs, sizeof(tv->hs), rfc_hs);
	hex_exact(tv->ssk, sizeof(tv->ssk), rfc_ssk);
}

/* ----- RFC 6507 Appendix A ----- */

static void
test_rfc_id_is_text(void)
{
	struct rfc_vec tv;

	rfc_load(&tv);
	/* "2011-02\0tel:+447700900123\0" */
	CU_ASSERT(bytes_eq(tv.id, (const uint8_t *)"2011-02\0tel:+447700900123", 26));
}

static void
test_rfc_kpak(void)
{
	struct rfc_vec tv;
	struct kms_eccsi_kms *kms = NULL;
	uint8_t kpak[POINT];
	uint8_t ksak[SCALAR];

	rfc_load(&tv);
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, tv.ksak), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kms);
	kms_eccsi_kms_kpak(kms, kpak);
	CU_ASSERT(bytes_eq(kpak, tv.kpak, POINT));
	kms_eccsi_kms_ksak(kms, ksak);
	CU_ASSERT(bytes_eq(ksak, tv.ksak, SCALAR));
	kms_eccsi_kms_free(kms);
}

static void
test_rfc_hs(void)
{
	struct rfc_vec tv;
	uint8_t hs[32];

	rfc_load(&tv);
	CU_ASSERT_EQUAL(kms_eccsi_hs(hs, tv.kpak, tv.id, sizeof(tv.id), tv.pvt), KMS_OK);
	CU_ASSERT(bytes_eq(hs, tv.hs, sizeof(hs)));
}

static void
test_rfc_issue(void)
{
	struct rfc_vec tv;
	struct kms_eccsi_kms *kms = NULL;
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];

	rfc_load(&tv);
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, tv.ksak), KMS_OK);
	CU_ASSERT_EQUAL(kms_eccsi_issue_with_v(kms, tv.id, sizeof(tv.id), tv.v, ssk, pvt), KMS_OK);
	CU_ASSERT(bytes_eq(pvt, tv.pvt, POINT));
	CU_ASSERT(bytes_eq(ssk, tv.ssk, SCALAR));
	kms_eccsi_kms_free(kms);
}

static void
test_rfc_validate(void)
{
	struct rfc_vec tv;

	rfc_load(&tv);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, tv.pvt), KMS_OK);
}

/* ----- Streamwide ----- */

/* Compute the user's UID from the section 3 parameters and check it against the published one. */
static void
sw_uid(uint8_t uid[KMS_UID_LEN], const struct sw_user *u)
{
	uint8_t want[KMS_UID_LEN];

	hex_exact(want, sizeof(want), u->uid);
	CU_ASSERT_EQUAL_FATAL(kms_uid_compute(uid, u->uri, strlen(u->uri), sw_kms_uri,
					      sizeof(sw_kms_uri) - 1, SW_PERIOD, SW_OFFSET,
					      SW_PERIOD_NO),
			      KMS_OK);
	CU_ASSERT_FATAL(bytes_eq(uid, want, KMS_UID_LEN));
}

static int
sw_validate(const struct sw_user *u, enum kms_id_format fmt)
{
	uint8_t kpak[POINT];
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];
	uint8_t uid[KMS_UID_LEN];
	uint8_t id[KMS_ID_MAX_LEN];
	size_t id_len = 0;

	hex_exact(kpak, sizeof(kpak), sw_kpak);
	hex_exact(ssk, sizeof(ssk), u->ssk);
	hex_exact(pvt, sizeof(pvt), u->pvt);
	sw_uid(uid, u);
	CU_ASSERT_EQUAL_FATAL(kms_uid_identifier(id, &id_len, uid, fmt), KMS_OK);
	return kms_eccsi_validate(kpak, id, id_len, ssk, pvt);
}

static void
test_sw_alice(void)
{
	CU_ASSERT_EQUAL(sw_validate(&sw_alice, KMS_ID_RAW), KMS_OK);
	CU_ASSERT_EQUAL(sw_validate(&sw_alice, KMS_ID_HEX_LOWER), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(sw_validate(&sw_alice, KMS_ID_HEX_UPPER), KMS_ERR_AUTH);
}

static void
test_sw_gms(void)
{
	CU_ASSERT_EQUAL(sw_validate(&sw_gms, KMS_ID_RAW), KMS_OK);
	CU_ASSERT_EQUAL(sw_validate(&sw_gms, KMS_ID_HEX_LOWER), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(sw_validate(&sw_gms, KMS_ID_HEX_UPPER), KMS_ERR_AUTH);
}

static void
test_sw_bob(void)
{
	CU_ASSERT_EQUAL(sw_validate(&sw_bob, KMS_ID_RAW), KMS_OK);
	CU_ASSERT_EQUAL(sw_validate(&sw_bob, KMS_ID_HEX_LOWER), KMS_ERR_AUTH);
}

/* One user's key pair under another user's identifier, and mixed pairs. */
static void
test_sw_cross(void)
{
	uint8_t kpak[POINT];
	uint8_t ssk_a[SCALAR];
	uint8_t pvt_a[POINT];
	uint8_t ssk_g[SCALAR];
	uint8_t pvt_g[POINT];
	uint8_t uid_a[KMS_UID_LEN];
	uint8_t uid_g[KMS_UID_LEN];

	hex_exact(kpak, sizeof(kpak), sw_kpak);
	hex_exact(ssk_a, sizeof(ssk_a), sw_alice.ssk);
	hex_exact(pvt_a, sizeof(pvt_a), sw_alice.pvt);
	hex_exact(ssk_g, sizeof(ssk_g), sw_gms.ssk);
	hex_exact(pvt_g, sizeof(pvt_g), sw_gms.pvt);
	sw_uid(uid_a, &sw_alice);
	sw_uid(uid_g, &sw_gms);
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, uid_g, KMS_UID_LEN, ssk_a, pvt_a), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, uid_a, KMS_UID_LEN, ssk_g, pvt_g), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, uid_a, KMS_UID_LEN, ssk_g, pvt_a), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, uid_a, KMS_UID_LEN, ssk_a, pvt_g), KMS_ERR_AUTH);
	/* The RFC KMS's KPAK with Streamwide's key pair. */
	hex_exact(kpak, sizeof(kpak), rfc_kpak);
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, uid_a, KMS_UID_LEN, ssk_a, pvt_a), KMS_ERR_AUTH);
}

/* ----- negative tests on the RFC vector ----- */

static void
test_neg_identity(void)
{
	struct rfc_vec tv;
	uint8_t id[27];
	size_t i;

	rfc_load(&tv);
	/* Each octet changed, the trailing NUL dropped, one octet appended. */
	for (i = 0; i < sizeof(tv.id); i++) {
		memcpy(id, tv.id, sizeof(tv.id));
		id[i] ^= 0x01;
		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, id, sizeof(tv.id), tv.ssk, tv.pvt),
				KMS_ERR_AUTH);
	}
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id) - 1, tv.ssk, tv.pvt),
			KMS_ERR_AUTH);
	memcpy(id, tv.id, sizeof(tv.id));
	id[26] = 0;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, id, sizeof(id), tv.ssk, tv.pvt), KMS_ERR_AUTH);
	/* The next month's identifier. */
	memcpy(id, tv.id, sizeof(tv.id));
	id[6] = '3';
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, id, sizeof(tv.id), tv.ssk, tv.pvt),
			KMS_ERR_AUTH);
}

static void
test_neg_ssk_bitflips(void)
{
	struct rfc_vec tv;
	uint8_t ssk[SCALAR];
	size_t bit;

	rfc_load(&tv);
	for (bit = 0; bit < (size_t)8 * SCALAR; bit++) {
		int r;

		memcpy(ssk, tv.ssk, SCALAR);
		ssk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt);
		/* SSK's top octet is 0x23: no flip reaches q, so each one fails with AUTH. */
		CU_ASSERT_EQUAL(r, KMS_ERR_AUTH);
	}
}

static void
test_neg_pvt(void)
{
	struct rfc_vec tv;
	uint8_t pvt[POINT];
	uint8_t g[POINT];
	size_t i;

	rfc_load(&tv);
	/* A flipped octet of x or y: off the curve. */
	for (i = 1; i < POINT; i += 8) {
		memcpy(pvt, tv.pvt, POINT);
		pvt[i] ^= 0x40;
		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, pvt),
				KMS_ERR_POINT);
	}
	memcpy(pvt, tv.pvt, POINT);
	pvt[POINT - 1] ^= 0x01;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, pvt),
			KMS_ERR_POINT);
	/* Different valid points: G, and KPAK, in place of PVT. */
	hex_exact(g, sizeof(g), p256_g_hex);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, g), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, tv.kpak),
			KMS_ERR_AUTH);
	/* G in place of KPAK. */
	CU_ASSERT_EQUAL(kms_eccsi_validate(g, tv.id, sizeof(tv.id), tv.ssk, tv.pvt), KMS_ERR_AUTH);
}

/* -PVT = (x, p - y): a valid point, the wrong one. */
static void
test_neg_pvt_negated(void)
{
	struct rfc_vec tv;
	EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *p = NULL;
	uint8_t neg[POINT];

	rfc_load(&tv);
	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	p = EC_POINT_new(group);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(EC_POINT_oct2point(group, p, tv.pvt, POINT, NULL), 1);
	CU_ASSERT_EQUAL(EC_POINT_invert(group, p, NULL), 1);
	CU_ASSERT_EQUAL(
		EC_POINT_point2oct(group, p, POINT_CONVERSION_UNCOMPRESSED, neg, POINT, NULL),
		POINT);
	CU_ASSERT(bytes_eq(neg, tv.pvt, 33)); /* same prefix and x */
	CU_ASSERT(!bytes_eq(neg, tv.pvt, POINT));
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, neg),
			KMS_ERR_AUTH);
	/* And the hybrid encoding 0x06/0x07 of the genuine PVT (OpenSSL accepts it; we do not). */
	{
		uint8_t hyb[POINT];

		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, tv.pvt),
				KMS_OK);
		memcpy(hyb, tv.pvt, POINT);
		hyb[0] = (uint8_t)(0x06 | (tv.pvt[POINT - 1] & 1));
		CU_ASSERT_EQUAL(EC_POINT_oct2point(group, p, hyb, POINT, NULL), 1);
		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, hyb),
				KMS_ERR_POINT);
		memcpy(hyb, tv.kpak, POINT);
		hyb[0] = (uint8_t)(0x06 | (tv.kpak[POINT - 1] & 1));
		CU_ASSERT_EQUAL(kms_eccsi_validate(hyb, tv.id, sizeof(tv.id), tv.ssk, tv.pvt),
				KMS_ERR_POINT);
	}
	EC_POINT_free(p);
	EC_GROUP_free(group);
}

static void
test_neg_prefix_and_infinity(void)
{
	static const uint8_t prefixes[] = {0x00, 0x01, 0x02, 0x03, 0x05,
					   0x06, 0x07, 0x14, 0x84, 0xff};
	struct rfc_vec tv;
	uint8_t bad[POINT];
	size_t i;

	rfc_load(&tv);
	for (i = 0; i < sizeof(prefixes); i++) {
		memcpy(bad, tv.pvt, POINT);
		bad[0] = prefixes[i];
		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, bad),
				KMS_ERR_POINT);
		memcpy(bad, tv.kpak, POINT);
		bad[0] = prefixes[i];
		CU_ASSERT_EQUAL(kms_eccsi_validate(bad, tv.id, sizeof(tv.id), tv.ssk, tv.pvt),
				KMS_ERR_POINT);
	}
	/* Infinity: the SEC1 encoding 00 (padded to 65), and 04 || 0 || 0. */
	memset(bad, 0, sizeof(bad));
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, bad),
			KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_eccsi_validate(bad, tv.id, sizeof(tv.id), tv.ssk, tv.pvt),
			KMS_ERR_POINT);
	bad[0] = 0x04;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, bad),
			KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_eccsi_validate(bad, tv.id, sizeof(tv.id), tv.ssk, tv.pvt),
			KMS_ERR_POINT);
	/* Coordinates of all ones (>= p). */
	memset(bad, 0xff, sizeof(bad));
	bad[0] = 0x04;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, bad),
			KMS_ERR_POINT);
	/* x + p overflows 256 bits for this x; x = p itself: */
	{
		static const char p_hex[] = "FFFFFFFF 00000001 00000000 00000000 00000000 FFFFFFFF "
					    "FFFFFFFF FFFFFFFF";

		memcpy(bad, tv.pvt, POINT);
		hex_exact(bad + 1, 32, p_hex);
		CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), tv.ssk, bad),
				KMS_ERR_POINT);
	}
}

static void
test_neg_ssk_range(void)
{
	struct rfc_vec tv;
	uint8_t ssk[SCALAR];

	rfc_load(&tv);
	memset(ssk, 0, sizeof(ssk));
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_SCALAR);
	hex_exact(ssk, sizeof(ssk), p256_q_hex);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_SCALAR);
	ssk[SCALAR - 1]++; /* q + 1 */
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_SCALAR);
	memset(ssk, 0xff, sizeof(ssk));
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_SCALAR);
	/* q + 2^200: above q by more than the last octets. */
	hex_exact(ssk, sizeof(ssk), p256_q_hex);
	ssk[SCALAR - 1 - 25]++;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_SCALAR);
	/* 1 is in range (and wrong). */
	memset(ssk, 0, sizeof(ssk));
	ssk[SCALAR - 1] = 1;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_AUTH);
	/* q - 1 is in range (and wrong). */
	hex_exact(ssk, sizeof(ssk), p256_q_hex);
	ssk[SCALAR - 1]--;
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, tv.pvt),
			KMS_ERR_AUTH);
}

static void
test_neg_ksak(void)
{
	struct kms_eccsi_kms *kms = (struct kms_eccsi_kms *)(uintptr_t)1;
	uint8_t ksak[SCALAR];
	uint8_t kpak[POINT];
	uint8_t g[POINT];

	memset(ksak, 0, sizeof(ksak));
	CU_ASSERT_EQUAL(kms_eccsi_kms_new(&kms, ksak), KMS_ERR_SCALAR);
	CU_ASSERT_PTR_NULL(kms);
	hex_exact(ksak, sizeof(ksak), p256_q_hex);
	kms = (struct kms_eccsi_kms *)(uintptr_t)1;
	CU_ASSERT_EQUAL(kms_eccsi_kms_new(&kms, ksak), KMS_ERR_SCALAR);
	CU_ASSERT_PTR_NULL(kms);
	memset(ksak, 0xff, sizeof(ksak));
	CU_ASSERT_EQUAL(kms_eccsi_kms_new(&kms, ksak), KMS_ERR_SCALAR);
	CU_ASSERT_PTR_NULL(kms);
	CU_ASSERT_EQUAL(kms_eccsi_kms_new(&kms, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(kms);
	/* The extremes that are allowed: 1 (KPAK = G) and q - 1 (KPAK = -G). */
	memset(ksak, 0, sizeof(ksak));
	ksak[SCALAR - 1] = 1;
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, ksak), KMS_OK);
	kms_eccsi_kms_kpak(kms, kpak);
	hex_exact(g, sizeof(g), p256_g_hex);
	CU_ASSERT(bytes_eq(kpak, g, POINT));
	kms_eccsi_kms_free(kms);
	kms = NULL;
	hex_exact(ksak, sizeof(ksak), p256_q_hex);
	ksak[SCALAR - 1]--;
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, ksak), KMS_OK);
	kms_eccsi_kms_kpak(kms, kpak);
	CU_ASSERT(bytes_eq(kpak, g, 33));
	CU_ASSERT(!bytes_eq(kpak, g, POINT));
	kms_eccsi_kms_free(kms);
	kms_eccsi_kms_free(NULL);
}

static void
test_neg_id_len(void)
{
	struct rfc_vec tv;
	struct kms_eccsi_kms *kms = NULL;
	uint8_t *big = NULL;
	uint8_t hs[32];
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];

	rfc_load(&tv);
	big = calloc(1, KMS_ECCSI_MAX_ID_LEN + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	if (big == NULL) {
		return; /* not reached: for the analyzer, which cannot see the longjmp */
	}
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, 0, tv.ssk, tv.pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, NULL, 26, tv.ssk, tv.pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, big, KMS_ECCSI_MAX_ID_LEN + 1, tv.ssk, tv.pvt),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_eccsi_validate(NULL, tv.id, 26, tv.ssk, tv.pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, 26, NULL, tv.pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, 26, tv.ssk, NULL), KMS_ERR_INVALID_ARG);
	memset(hs, 0xaa, sizeof(hs));
	CU_ASSERT_EQUAL(kms_eccsi_hs(hs, tv.kpak, tv.id, 0, tv.pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(hs, sizeof(hs)));
	CU_ASSERT_EQUAL(kms_eccsi_hs(hs, tv.kpak, big, KMS_ECCSI_MAX_ID_LEN + 1, tv.pvt),
			KMS_ERR_INVALID_ARG);

	/* Issue: a rejected identifier leaves both outputs zero. */
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, tv.ksak), KMS_OK);
	memset(ssk, 0xaa, sizeof(ssk));
	memset(pvt, 0xaa, sizeof(pvt));
	CU_ASSERT_EQUAL(kms_eccsi_issue(kms, tv.id, 0, ssk, pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(ssk, sizeof(ssk)));
	CU_ASSERT(kms_test_all_zero(pvt, sizeof(pvt)));
	memset(ssk, 0xaa, sizeof(ssk));
	memset(pvt, 0xaa, sizeof(pvt));
	CU_ASSERT_EQUAL(kms_eccsi_issue(kms, big, KMS_ECCSI_MAX_ID_LEN + 1, ssk, pvt),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(ssk, sizeof(ssk)));
	CU_ASSERT(kms_test_all_zero(pvt, sizeof(pvt)));
	memset(ssk, 0xaa, sizeof(ssk));
	memset(pvt, 0xaa, sizeof(pvt));
	CU_ASSERT_EQUAL(kms_eccsi_issue(NULL, tv.id, sizeof(tv.id), ssk, pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(ssk, sizeof(ssk)));
	CU_ASSERT(kms_test_all_zero(pvt, sizeof(pvt)));
	memset(ssk, 0xaa, sizeof(ssk));
	memset(pvt, 0xaa, sizeof(pvt));
	CU_ASSERT_EQUAL(kms_eccsi_issue_with_v(kms, NULL, 1, tv.v, ssk, pvt), KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(ssk, sizeof(ssk)));
	CU_ASSERT(kms_test_all_zero(pvt, sizeof(pvt)));

	/* The longest identifier is accepted, by issue and validate. */
	memset(big, 'x', KMS_ECCSI_MAX_ID_LEN);
	CU_ASSERT_EQUAL(kms_eccsi_issue(kms, big, KMS_ECCSI_MAX_ID_LEN, ssk, pvt), KMS_OK);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, big, KMS_ECCSI_MAX_ID_LEN, ssk, pvt), KMS_OK);
	kms_eccsi_kms_free(kms);
	free(big);
}

/* issue_with_v rejects v = 0, v = q, v > q and leaves zeroed outputs. */
static void
test_neg_v(void)
{
	struct rfc_vec tv;
	struct kms_eccsi_kms *kms = NULL;
	uint8_t v[SCALAR];
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];
	int k;

	rfc_load(&tv);
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms, tv.ksak), KMS_OK);
	for (k = 0; k < 3; k++) {
		if (k == 0) {
			memset(v, 0, sizeof(v));
		} else if (k == 1) {
			hex_exact(v, sizeof(v), p256_q_hex);
		} else {
			memset(v, 0xff, sizeof(v));
		}
		memset(ssk, 0xaa, sizeof(ssk));
		memset(pvt, 0xaa, sizeof(pvt));
		CU_ASSERT_EQUAL(kms_eccsi_issue_with_v(kms, tv.id, sizeof(tv.id), v, ssk, pvt),
				KMS_ERR_SCALAR);
		CU_ASSERT(kms_test_all_zero(ssk, sizeof(ssk)));
		CU_ASSERT(kms_test_all_zero(pvt, sizeof(pvt)));
	}
	/* v = q - 1 works and validates. */
	hex_exact(v, sizeof(v), p256_q_hex);
	v[SCALAR - 1]--;
	CU_ASSERT_EQUAL(kms_eccsi_issue_with_v(kms, tv.id, sizeof(tv.id), v, ssk, pvt), KMS_OK);
	CU_ASSERT_EQUAL(kms_eccsi_validate(tv.kpak, tv.id, sizeof(tv.id), ssk, pvt), KMS_OK);
	kms_eccsi_kms_free(kms);
}

/* ----- random round trips ----- */

static void
test_random_roundtrip(void)
{
	struct kms_eccsi_kms *kms = NULL;
	struct kms_eccsi_kms *kms2 = NULL;
	uint8_t kpak[POINT];
	uint8_t kpak2[POINT];
	uint8_t ksak[SCALAR];
	uint8_t id[64];
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];
	uint8_t ssk2[SCALAR];
	uint8_t pvt2[POINT];
	int i;

	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_generate(&kms), KMS_OK);
	kms_eccsi_kms_kpak(kms, kpak);
	CU_ASSERT_EQUAL(kpak[0], 0x04);
	/* The KSAK read back recreates the same KMS. */
	kms_eccsi_kms_ksak(kms, ksak);
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_new(&kms2, ksak), KMS_OK);
	kms_eccsi_kms_kpak(kms2, kpak2);
	CU_ASSERT(bytes_eq(kpak, kpak2, POINT));
	kms_eccsi_kms_free(kms2);
	kms2 = NULL;

	for (i = 0; i < 50; i++) {
		uint8_t n;
		size_t id_len;

		CU_ASSERT_EQUAL_FATAL(RAND_bytes(&n, 1), 1);
		id_len = 1 + (size_t)(n % sizeof(id));
		CU_ASSERT_EQUAL_FATAL(RAND_bytes(id, (int)id_len), 1);
		CU_ASSERT_EQUAL(kms_eccsi_issue(kms, id, id_len, ssk, pvt), KMS_OK);
		CU_ASSERT_EQUAL(pvt[0], 0x04);
		CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, id, id_len, ssk, pvt), KMS_OK);
		/* Not valid for a different identifier. */
		id[0] ^= 0x80;
		CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, id, id_len, ssk, pvt), KMS_ERR_AUTH);
		id[0] ^= 0x80;
		/* A second issue for the same identifier uses a fresh v. */
		CU_ASSERT_EQUAL(kms_eccsi_issue(kms, id, id_len, ssk2, pvt2), KMS_OK);
		CU_ASSERT(!bytes_eq(pvt, pvt2, POINT));
		CU_ASSERT(!bytes_eq(ssk, ssk2, SCALAR));
		CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, id, id_len, ssk2, pvt2), KMS_OK);
		/* Mixing the two pairs fails. */
		CU_ASSERT_EQUAL(kms_eccsi_validate(kpak, id, id_len, ssk, pvt2), KMS_ERR_AUTH);
	}
	/* Another KMS's KPAK does not validate this KMS's keys. */
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_generate(&kms2), KMS_OK);
	kms_eccsi_kms_kpak(kms2, kpak2);
	CU_ASSERT(!bytes_eq(kpak, kpak2, POINT));
	CU_ASSERT_EQUAL(kms_eccsi_validate(kpak2, id, 1, ssk, pvt), KMS_ERR_AUTH);
	kms_eccsi_kms_free(kms2);
	kms_eccsi_kms_free(kms);
}

/* Random v through issue_with_v agrees with an independent SSK computed with BN_mod_* (public test
 * data). */
static void
test_random_with_v_vs_bn(void)
{
	struct rfc_vec tv;
	struct kms_eccsi_kms *kms = NULL;
	BN_CTX *bnctx = BN_CTX_new();
	BIGNUM *q = BN_new();
	BIGNUM *ksak = NULL;
	BIGNUM *v = NULL;
	BIGNUM *hs = NULL;
	BIGNUM *s = BN_new();
	uint8_t vb[SCALAR];
	uint8_t hsb[32];
	uint8_t qb[SCALAR];
	uint8_t ssk[SCALAR];
	uint8_t want[SCALAR];
	uint8_t pvt[POINT];
	int i;

	rfc_load(&tv);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bnctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	hex_exact(qb, sizeof(qb), p256_q_hex);
	CU_ASSERT_PTR_NOT_NULL_FATAL(BN_bin2bn(qb, SCALAR, q));
	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_generate(&kms), KMS_OK);
	kms_eccsi_kms_ksak(kms, tv.ksak);
	kms_eccsi_kms_kpak(kms, tv.kpak);
	ksak = BN_bin2bn(tv.ksak, SCALAR, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ksak);
	for (i = 0; i < 20; i++) {
		do {
			CU_ASSERT_EQUAL_FATAL(RAND_bytes(vb, SCALAR), 1);
			if (i == 0) {
				memset(vb, 0, SCALAR - 1); /* a small v */
			}
			BN_free(v);
			v = BN_bin2bn(vb, SCALAR, NULL);
			CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		} while (BN_is_zero(v) || BN_cmp(v, q) >= 0);
		CU_ASSERT_EQUAL(kms_eccsi_issue_with_v(kms, tv.id, sizeof(tv.id), vb, ssk, pvt),
				KMS_OK);
		CU_ASSERT_EQUAL(kms_eccsi_hs(hsb, tv.kpak, tv.id, sizeof(tv.id), pvt), KMS_OK);
		BN_free(hs);
		hs = BN_bin2bn(hsb, 32, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(hs);
		CU_ASSERT_EQUAL(BN_mod_mul(s, hs, v, q, bnctx), 1);
		CU_ASSERT_EQUAL(BN_mod_add(s, s, ksak, q, bnctx), 1);
		CU_ASSERT_EQUAL(BN_bn2binpad(s, want, SCALAR), SCALAR);
		CU_ASSERT(bytes_eq(ssk, want, SCALAR));
	}
	kms_eccsi_kms_free(kms);
	BN_free(ksak);
	BN_free(v);
	BN_free(hs);
	BN_free(s);
	BN_free(q);
	BN_CTX_free(bnctx);
}

/* Concurrent issuing and checking with one KMS: the shared EC_GROUP is used read-only. */
#define KMS_TEST_THREADS    4
#define KMS_TEST_PER_THREAD 25

struct thread_job {
	const struct kms_eccsi_kms *kms; /* borrowed */
	const uint8_t *kpak;             /* borrowed */
	uint8_t tag;
	int failures;
};

static void *
thread_main(void *arg)
{
	struct thread_job *job = arg;
	uint8_t id[20];
	uint8_t ssk[SCALAR];
	uint8_t pvt[POINT];
	int i;

	for (i = 0; i < KMS_TEST_PER_THREAD; i++) {
		memset(id, job->tag, sizeof(id));
		id[0] = (uint8_t)i;
		if (kms_eccsi_issue(job->kms, id, sizeof(id), ssk, pvt) != KMS_OK ||
		    kms_eccsi_validate(job->kpak, id, sizeof(id), ssk, pvt) != KMS_OK) {
			job->failures++;
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	struct kms_eccsi_kms *kms = NULL;
	struct thread_job jobs[KMS_TEST_THREADS];
	pthread_t tids[KMS_TEST_THREADS];
	uint8_t kpak[POINT];
	int started = 0;
	int i;

	CU_ASSERT_EQUAL_FATAL(kms_eccsi_kms_generate(&kms), KMS_OK);
	kms_eccsi_kms_kpak(kms, kpak);
	for (i = 0; i < KMS_TEST_THREADS; i++) {
		jobs[i].kms = kms;
		jobs[i].kpak = kpak;
		jobs[i].tag = (uint8_t)(0x30 + i);
		jobs[i].failures = 0;
		if (pthread_create(&tids[i], NULL, thread_main, &jobs[i]) != 0) {
			break;
		}
		started++;
	}
	CU_ASSERT_EQUAL(started, KMS_TEST_THREADS);
	for (i = 0; i < started; i++) {
		CU_ASSERT_EQUAL(pthread_join(tids[i], NULL), 0);
		CU_ASSERT_EQUAL(jobs[i].failures, 0);
	}
	kms_eccsi_kms_free(kms);
}

static CU_TestInfo rfc_tests[] = {
	{"ID is the RFC 6509 text", test_rfc_id_is_text},
	{"KPAK = [KSAK]G", test_rfc_kpak},
	{"HS", test_rfc_hs},
	{"issue with v: PVT and SSK", test_rfc_issue},
	{"client check TRUE", test_rfc_validate},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo sw_tests[] = {
	{"alice: raw UID TRUE, ASCII hex FALSE", test_sw_alice},
	{"gms: raw UID TRUE, ASCII hex FALSE", test_sw_gms},
	{"bob: raw UID TRUE, ASCII hex FALSE", test_sw_bob},
	{"crossed identities and pairs", test_sw_cross},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo neg_tests[] = {
	{"wrong identity", test_neg_identity},
	{"SSK bit flips", test_neg_ssk_bitflips},
	{"tampered or substituted PVT", test_neg_pvt},
	{"negated PVT, hybrid encodings", test_neg_pvt_negated},
	{"bad prefix, infinity, coordinates >= p", test_neg_prefix_and_infinity},
	{"SSK out of range", test_neg_ssk_range},
	{"KSAK out of range", test_neg_ksak},
	{"identifier length", test_neg_id_len},
	{"v out of range", test_neg_v},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo random_tests[] = {
	{"50 random identities: issue and validate", test_random_roundtrip},
	{"issue with v agrees with BN arithmetic", test_random_with_v_vs_bn},
	{"4 threads issue and validate concurrently", test_threads},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"eccsi_rfc6507", NULL, NULL, NULL, NULL, rfc_tests},
	{"eccsi_streamwide", NULL, NULL, NULL, NULL, sw_tests},
	{"eccsi_negative", NULL, NULL, NULL, NULL, neg_tests},
	{"eccsi_random", NULL, NULL, NULL, NULL, random_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
