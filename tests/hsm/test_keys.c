/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key hierarchy in a real SoftHSM token (hsm/keys.c): attributes read back, RFC 5649 wraps
 * that OpenSSL (a client) unwraps to exactly the material, the published RFC 5649 vectors,
 * the token's padding defect found by the probe, rotation, HMAC in the token, and forged,
 * truncated and foreign blobs refused.
 *
 * The suite makes its own token in a temporary directory (SOFTHSM2_CONF) and removes it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "hsm/keys.h"
#include "hsm/p11.h"
#include "tests/unit/kms_test.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define LABEL "kms-keys-test"

static struct kms_devtoken tok;
static struct kms_p11 *p11;
static struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_HOST_ECB};

static int
suite_init(void)
{
	if (kms_devtoken_new(&tok, LABEL) != 0) {
		return 1;
	}
	p11 = tok.p11;
	return 0;
}

static int
suite_cleanup(void)
{
	p11 = NULL;
	return kms_devtoken_free(&tok) == 0 ? 0 : 1;
}

/* A session AES key whose value the test knows, allowed to use flag (CKA_WRAP / CKA_UNWRAP). */
static CK_OBJECT_HANDLE
known_key(struct kms_p11_session *s, const uint8_t *key, size_t len, CK_ATTRIBUTE_TYPE flag)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_MECHANISM_TYPE allowed[1] = {CKM_AES_KEY_WRAP_PAD};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, (void *)(uintptr_t)key, (CK_ULONG)len},
		{CKA_TOKEN, &fl, sizeof(fl)},
		{flag, &t, sizeof(t)},
		{CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CU_ASSERT_EQUAL(kms_p11_create_object(s, &h, tmpl, 6), KMS_OK);
	return h;
}

/* A TrK-like session key whose value the test knows (the client's copy of TrK_0). */
static CK_OBJECT_HANDLE
known_trk(struct kms_p11_session *s, const uint8_t *key, size_t len, int ecb)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_MECHANISM_TYPE allowed[2] = {CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, (void *)(uintptr_t)key, (CK_ULONG)len},
		{CKA_TOKEN, &fl, sizeof(fl)},
		{CKA_WRAP, &t, sizeof(t)},
		{CKA_ENCRYPT, &t, sizeof(t)},
		{CKA_ALLOWED_MECHANISMS, allowed, (CK_ULONG)(ecb ? 2 : 1) * sizeof(allowed[0])},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CU_ASSERT_EQUAL(kms_p11_create_object(s, &h, tmpl, 7), KMS_OK);
	return h;
}

static size_t
client_unwrap(const uint8_t *key, size_t key_len, const uint8_t *blob, size_t blob_len,
	      uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *ciph = key_len == 24 ? EVP_aes_192_wrap_pad() : EVP_aes_256_wrap_pad();
	int l1 = 0, l2 = 0;
	size_t n = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, ciph, NULL, key, NULL) == 1 &&
	    EVP_DecryptUpdate(c, out, &l1, blob, (int)blob_len) == 1 &&
	    EVP_DecryptFinal_ex(c, out + l1, &l2) == 1) {
		n = (size_t)l1 + (size_t)l2;
	}
	EVP_CIPHER_CTX_free(c);
	return n;
}

/* 1 if the 8 octets at needle occur anywhere in hay. */
static int
contains8(const uint8_t *hay, size_t hay_len, const uint8_t *needle)
{
	size_t i;

	for (i = 0; i + 8 <= hay_len; i++) {
		if (memcmp(hay + i, needle, 8) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
test_probe_and_choice(void)
{
	struct kms_p11_session *s = NULL;
	struct kms_wrap_policy p = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_TOKEN};
	struct kms_wrap_policy bad = {CKM_AES_KEY_WRAP, KMS_WRAP_TOKEN};
	int exact = -1;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_wrap_probe(s, &p, &exact), KMS_OK);
	/* SoftHSM 2.6.1 pads wrongly: the probe must say so. */
	CU_ASSERT_EQUAL(exact, 0);
	CU_ASSERT_EQUAL(kms_wrap_choose(&p, exact, 0), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(kms_wrap_choose(&p, exact, 1), KMS_OK);
	CU_ASSERT_EQUAL(p.mode, KMS_WRAP_HOST_ECB);
	CU_ASSERT_EQUAL(kms_wrap_choose(&p, 1, 0), KMS_OK);
	CU_ASSERT_EQUAL(p.mode, KMS_WRAP_TOKEN);
	CU_ASSERT_EQUAL(kms_hmac_probe(s), KMS_OK);
	/* RFC 3394 without padding cannot wrap 65 octets: the probe refuses the token */
	CU_ASSERT_NOT_EQUAL(kms_wrap_probe(s, &bad, &exact), KMS_OK);
	kms_p11_return(s);
}

static void
test_rfc5649_vectors_host_ecb(void)
{
	static const uint8_t kek[24] = {0x58, 0x40, 0xdf, 0x6e, 0x29, 0xb0, 0x2a, 0xf1,
					0xab, 0x49, 0x3b, 0x70, 0x5b, 0xf1, 0x6e, 0xa1,
					0xae, 0x83, 0x38, 0xf4, 0xdc, 0xc1, 0x76, 0xa8};
	uint8_t k20[20], w20[32], k7[7], w7[16];
	uint8_t out[KMS_WRAP_MAX_BLOB];
	size_t out_len = 0;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE wk;

	CU_ASSERT_EQUAL(kms_test_hex(k20, sizeof(k20), "c37b7e6492584340bed1220780894115 5068f738"),
			20);
	CU_ASSERT_EQUAL(
		kms_test_hex(w20, sizeof(w20),
			     "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"),
		32);
	CU_ASSERT_EQUAL(kms_test_hex(k7, sizeof(k7), "466f7250617369"), 7);
	CU_ASSERT_EQUAL(kms_test_hex(w7, sizeof(w7), "afbeb0f07dfbf5419200f2ccb50bb24f"), 16);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	wk = known_trk(s, kek, sizeof(kek), 1);
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, k20, sizeof(k20), out, sizeof(out), &out_len),
			KMS_OK);
	CU_ASSERT_EQUAL(out_len, 32);
	CU_ASSERT(memcmp(out, w20, 32) == 0);
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, k7, sizeof(k7), out, sizeof(out), &out_len),
			KMS_OK);
	CU_ASSERT_EQUAL(out_len, 16);
	CU_ASSERT(memcmp(out, w7, 16) == 0);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, wk), KMS_OK);
	kms_p11_return(s);
}

/*
 * Several values at once (kms_wrap_bytes_many): in host-ECB mode the ones whose length is not a
 * multiple of 8 share one ECB stream, the others go through the token; each output is exactly
 * what kms_wrap_bytes gives for its value alone (RFC 5649 is deterministic), which OpenSSL
 * unwraps to the value. Among them RFC 5649's two vectors, and a key set's PVT, SSK and RSK.
 * Bad arguments leave every output zeroed.
 */
static void
test_wrap_many(void)
{
	static const size_t lens[] = {20, 65, 32, 257, 7, 1, 8, 500};
	uint8_t vals[8][KMS_WRAP_MAX_DATA], outs[8][KMS_WRAP_MAX_BLOB];
	uint8_t one[KMS_WRAP_MAX_BLOB], back[KMS_WRAP_MAX_BLOB], k[32];
	const uint8_t *d[8];
	uint8_t *o[8];
	size_t l[8], ol[8], one_len = 0, i;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE wk;

	CU_ASSERT_EQUAL(RAND_bytes(k, sizeof(k)), 1);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(RAND_bytes(vals[i], (int)lens[i]), 1);
		d[i] = vals[i];
		l[i] = lens[i];
		o[i] = outs[i];
	}
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	wk = known_trk(s, k, sizeof(k), 1);
	CU_ASSERT_EQUAL(kms_wrap_bytes_many(s, &pol, wk, 8, d, l, o, KMS_WRAP_MAX_BLOB, ol),
			KMS_OK);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(ol[i], ((lens[i] + 7) / 8 + 1) * 8);
		CU_ASSERT_EQUAL(client_unwrap(k, 32, outs[i], ol[i], back), lens[i]);
		CU_ASSERT(memcmp(back, vals[i], lens[i]) == 0);
		CU_ASSERT_EQUAL(
			kms_wrap_bytes(s, &pol, wk, vals[i], lens[i], one, sizeof(one), &one_len),
			KMS_OK);
		CU_ASSERT(one_len == ol[i] && memcmp(one, outs[i], one_len) == 0);
	}
	/* one value too long, or no room: nothing comes out, not even the good values */
	l[3] = KMS_WRAP_MAX_DATA + 1;
	memset(outs, 0xa5, sizeof(outs));
	CU_ASSERT_EQUAL(kms_wrap_bytes_many(s, &pol, wk, 8, d, l, o, KMS_WRAP_MAX_BLOB, ol),
			KMS_ERR_INVALID_ARG);
	l[3] = lens[3];
	CU_ASSERT_EQUAL(kms_wrap_bytes_many(s, &pol, wk, 8, d, l, o, 271, ol), KMS_ERR_TOO_LARGE);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(ol[i], 0);
		CU_ASSERT(kms_test_all_zero(outs[i], 271));
	}
	CU_ASSERT_EQUAL(kms_wrap_bytes_many(s, &pol, wk, 0, d, l, o, KMS_WRAP_MAX_BLOB, ol),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_wrap_bytes_many(s, &pol, wk, KMS_WRAP_MANY_MAX + 1, d, l, o,
					    KMS_WRAP_MAX_BLOB, ol),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, wk), KMS_OK);
	kms_p11_return(s);
}

/* Attributes of a generated key, read back from the token. */
static void
check_attrs(struct kms_p11_session *s, CK_OBJECT_HANDLE h, enum kms_key_role role, int locked)
{
	int v = -1;
	CK_ULONG ul = 0;
	CK_MECHANISM_TYPE mechs[8];
	size_t len = 0;
	uint8_t value[64];

	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, locked ? 0 : 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_TOKEN), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_PRIVATE), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_DERIVE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_DECRYPT), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_WRAP), KMS_OK);
	CU_ASSERT_EQUAL(v, role != KMS_KEY_INK);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_UNWRAP), KMS_OK);
	CU_ASSERT_EQUAL(v, role == KMS_KEY_KEK);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_SIGN), KMS_OK);
	CU_ASSERT_EQUAL(v, role == KMS_KEY_INK);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, CKA_ENCRYPT), KMS_OK);
	CU_ASSERT_EQUAL(v, role != KMS_KEY_INK && pol.mode == KMS_WRAP_HOST_ECB);
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, h, CKA_KEY_TYPE), KMS_OK);
	CU_ASSERT_EQUAL(ul, role == KMS_KEY_INK ? CKK_GENERIC_SECRET : CKK_AES);
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, h, CKA_VALUE_LEN), KMS_OK);
	CU_ASSERT_EQUAL(ul, 32);
	CU_ASSERT_EQUAL(
		kms_p11_get_attribute(s, mechs, sizeof(mechs), &len, h, CKA_ALLOWED_MECHANISMS),
		KMS_OK);
	if (role == KMS_KEY_INK) {
		CU_ASSERT(len == sizeof(CK_MECHANISM_TYPE) && mechs[0] == CKM_SHA256_HMAC);
	} else if (pol.mode == KMS_WRAP_TOKEN) {
		CU_ASSERT(len == sizeof(CK_MECHANISM_TYPE) && mechs[0] == pol.kwp);
	} else {
		/* a set: the token may return it in any order */
		CU_ASSERT(len == 2 * sizeof(CK_MECHANISM_TYPE) &&
			  ((mechs[0] == pol.kwp && mechs[1] == CKM_AES_ECB) ||
			   (mechs[1] == pol.kwp && mechs[0] == CKM_AES_ECB)));
	}
	/* the value itself never comes out */
	CU_ASSERT_NOT_EQUAL(kms_p11_get_attribute(s, value, sizeof(value), &len, h, CKA_VALUE),
			    KMS_OK);
}

/*
 * kms_keys_destroy_label (retired client keys): the TrK and InK token objects of their labels
 * go, a KEK (it can unwrap) stays whatever its label, an absent label is no error, a bad one is
 * refused. Then the KEK is destroyed by hand.
 */
static void
check_destroy_label(struct kms_p11_session *s, CK_OBJECT_HANDLE kek, const char *kek_label,
		    const char *trk_label, const char *ink_label)
{
	CK_OBJECT_HANDLE found;
	size_t n = 9;

	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, trk_label, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, trk_label), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, ink_label, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, ink_label, &n), KMS_OK); /* gone already */
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, kek_label, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, kek_label), KMS_OK);
	CU_ASSERT_EQUAL(found, kek);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, "a\nb", &n), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek), KMS_OK);
}

static void
test_generate_and_attributes(void)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE kek, trk, ink, found;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &kek, KMS_KEY_KEK, "kek.attr", &pol, 1, 0), KMS_OK);
	check_attrs(s, kek, KMS_KEY_KEK, 1); /* a KEK is never extractable, asked or not */
	CU_ASSERT_EQUAL(kms_keys_generate(s, &trk, KMS_KEY_TRK, "tk.1.attr", &pol, 0, 0), KMS_OK);
	check_attrs(s, trk, KMS_KEY_TRK, 1);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &ink, KMS_KEY_INK, "ik.1.attr", &pol, 1, 0), KMS_OK);
	check_attrs(s, ink, KMS_KEY_INK, 0);
	CU_ASSERT_EQUAL(kms_keys_lock(s, ink), KMS_OK);
	check_attrs(s, ink, KMS_KEY_INK, 1);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, "tk.1.attr"), KMS_OK);
	CU_ASSERT_EQUAL(found, trk);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, "no.such.key"), KMS_ERR_INVALID_ARG);
	/* bad labels */
	CU_ASSERT_EQUAL(kms_keys_generate(s, &found, KMS_KEY_TRK, "", &pol, 0, 1),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &found, KMS_KEY_TRK, "a\nb", &pol, 0, 1),
			KMS_ERR_INVALID_ARG);
	check_destroy_label(s, kek, "kek.attr", "tk.1.attr", "ik.1.attr");
	kms_p11_return(s);
}

/*
 * A client holds TrK_0. Rotation gives it TrK_1 and an InK, each wrapped under TrK_0, and the
 * store the same keys wrapped under the KEK (for restore); then the KMS wraps an SSK, a PVT and
 * an RSK under TrK_1 and HMACs with the InK: the client unwraps and checks each with OpenSSL
 * alone. A rotation that fails half-way leaves no key and no output behind.
 */
static void
test_rotation_wrap_and_hmac(void)
{
	struct kms_p11_session *s = NULL;
	uint8_t k0[32], k1[32], kink[32], kek_val[32], back_kek[KMS_WRAP_MAX_BLOB];
	uint8_t blob[KMS_WRAP_MAX_BLOB], back[KMS_WRAP_MAX_BLOB], kblob[KMS_WRAP_MAX_BLOB];
	size_t blob_len = 0, kblob_len = 0;
	CK_OBJECT_HANDLE trk0, trk1, ink, kek, found;
	static const size_t lens[] = {32, 65, 257, 1, 8, 9, 16, 500};
	size_t i;
	int v = -1;

	CU_ASSERT_EQUAL(RAND_bytes(k0, sizeof(k0)), 1);
	CU_ASSERT_EQUAL(RAND_bytes(kek_val, sizeof(kek_val)), 1);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	trk0 = known_trk(s, k0, sizeof(k0), 0);
	kek = known_key(s, kek_val, sizeof(kek_val), CKA_WRAP);
	CU_ASSERT_EQUAL(kms_keys_rotate(s, &pol, trk0, kek, KMS_KEY_TRK, "tk.2.alice", &trk1, blob,
					sizeof(blob), &blob_len, kblob, sizeof(kblob), &kblob_len),
			KMS_OK);
	CU_ASSERT_EQUAL(client_unwrap(k0, 32, blob, blob_len, k1), 32);
	/* the store's copy under the KEK is the very same key */
	CU_ASSERT_EQUAL(kblob_len, 40);
	CU_ASSERT_EQUAL(client_unwrap(kek_val, 32, kblob, kblob_len, back_kek), 32);
	CU_ASSERT(memcmp(back_kek, k1, 32) == 0);
	CU_ASSERT(memcmp(kblob, blob, 40) != 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, trk1, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	check_attrs(s, trk1, KMS_KEY_TRK, 1);
	CU_ASSERT_EQUAL(kms_keys_rotate(s, &pol, trk0, kek, KMS_KEY_INK, "ik.2.alice", &ink, blob,
					sizeof(blob), &blob_len, kblob, sizeof(kblob), &kblob_len),
			KMS_OK);
	CU_ASSERT_EQUAL(client_unwrap(k0, 32, blob, blob_len, kink), 32);
	CU_ASSERT_EQUAL(client_unwrap(kek_val, 32, kblob, kblob_len, back_kek), 32);
	CU_ASSERT(memcmp(back_kek, kink, 32) == 0);
	check_attrs(s, ink, KMS_KEY_INK, 1);
	/*
	 * Half-way failures: no KEK to wrap under, no room for the KEK's blob (40 octets), a role
	 * that is not rotated. Each leaves no key labelled so, and zeroed outputs.
	 */
	{
		static const struct {
			int no_kek; /* 1: CK_INVALID_HANDLE for the KEK */
			size_t kcap;
			enum kms_key_role role;
		} bad[] = {
			{1, sizeof(kblob), KMS_KEY_TRK},
			{0, 39, KMS_KEY_INK},
			{0, sizeof(kblob), KMS_KEY_KEK},
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CK_OBJECT_HANDLE h = 99;

			memset(blob, 0xa5, sizeof(blob));
			memset(kblob, 0xa5, sizeof(kblob));
			blob_len = kblob_len = 99;
			CU_ASSERT_NOT_EQUAL(kms_keys_rotate(s, &pol, trk0,
							    bad[i].no_kek ? CK_INVALID_HANDLE : kek,
							    bad[i].role, "tk.3.alice", &h, blob,
							    sizeof(blob), &blob_len, kblob,
							    bad[i].kcap, &kblob_len),
					    KMS_OK);
			CU_ASSERT_EQUAL(h, CK_INVALID_HANDLE);
			CU_ASSERT_EQUAL(blob_len, 0);
			CU_ASSERT_EQUAL(kblob_len, 0);
			CU_ASSERT(kms_test_all_zero(blob, sizeof(blob)));
			CU_ASSERT(kms_test_all_zero(kblob, bad[i].kcap));
			CU_ASSERT_EQUAL(kms_keys_find(s, &found, "tk.3.alice"),
					KMS_ERR_INVALID_ARG);
		}
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t material[KMS_WRAP_MAX_DATA];

		CU_ASSERT_EQUAL(RAND_bytes(material, (int)lens[i]), 1);
		CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, trk1, material, lens[i], blob, sizeof(blob),
					       &blob_len),
				KMS_OK);
		CU_ASSERT_EQUAL(blob_len, ((lens[i] + 7) / 8 + 1) * 8);
		CU_ASSERT_EQUAL(client_unwrap(k1, 32, blob, blob_len, back), lens[i]);
		CU_ASSERT(memcmp(back, material, lens[i]) == 0);
		/* the blob never contains the material in clear */
		CU_ASSERT(lens[i] < 8 || !contains8(blob, blob_len, material));
	}
	/* HMAC in the token = HMAC by the client with the InK */
	{
		uint8_t mac[32], want[32];
		unsigned int want_len = 0;
		static const uint8_t msg[] = "<KmsResponse Id=\"xmldoc\">...</KmsResponse>";

		CU_ASSERT_EQUAL(kms_hmac_sha256(s, ink, msg, sizeof(msg) - 1, mac), KMS_OK);
		CU_ASSERT_PTR_NOT_NULL(
			HMAC(EVP_sha256(), kink, 32, msg, sizeof(msg) - 1, want, &want_len));
		CU_ASSERT(memcmp(mac, want, 32) == 0);
		/* a TrK cannot sign */
		CU_ASSERT_NOT_EQUAL(kms_hmac_sha256(s, trk1, msg, sizeof(msg) - 1, mac), KMS_OK);
		CU_ASSERT(kms_test_all_zero(mac, sizeof(mac)));
	}
	/* an InK cannot wrap */
	{
		uint8_t m[32] = {1};

		CU_ASSERT_NOT_EQUAL(
			kms_wrap_bytes(s, &pol, ink, m, sizeof(m), blob, sizeof(blob), &blob_len),
			KMS_OK);
	}
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, trk0), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, trk1), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, ink), KMS_OK);
	kms_p11_return(s);
}

/* Master secrets at rest under the KEK; pre-minted material re-wrapped token to token. */
static void
test_kek_secrets_and_preminted(void)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE kek, kek2, trk, obj;
	struct kms_secret *sec = NULL;
	uint8_t z[128], ssk[32], k[32];
	uint8_t blob[KMS_WRAP_MAX_BLOB], blob2[KMS_WRAP_MAX_BLOB], back[KMS_WRAP_MAX_BLOB];
	size_t blob_len = 0, blob2_len = 0, i;

	CU_ASSERT_EQUAL(RAND_bytes(z, sizeof(z)), 1);
	CU_ASSERT_EQUAL(RAND_bytes(ssk, sizeof(ssk)), 1);
	CU_ASSERT_EQUAL(RAND_bytes(k, sizeof(k)), 1);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &kek, KMS_KEY_KEK, "kek.test", &pol, 0, 1), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &kek2, KMS_KEY_KEK, "kek.other", &pol, 0, 1), KMS_OK);
	/* z_T at rest, wrapped under the KEK, and back into locked memory */
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, kek, z, sizeof(z), blob, sizeof(blob), &blob_len),
			KMS_OK);
	CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek, blob, blob_len, sizeof(z), &sec), KMS_OK);
	CU_ASSERT(sec != NULL && sec->len == sizeof(z) && memcmp(sec->data, z, sizeof(z)) == 0);
	kms_secret_free(sec);
	sec = NULL;
	/* the wrong length, another KEK, a flipped bit anywhere, a truncated blob */
	CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek, blob, blob_len, 32, &sec), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek2, blob, blob_len, sizeof(z), &sec),
			KMS_ERR_AUTH);
	for (i = 0; i < blob_len; i += 13) {
		memcpy(blob2, blob, blob_len);
		blob2[i] ^= 0x04;
		CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek, blob2, blob_len, sizeof(z), &sec),
				KMS_ERR_AUTH);
	}
	CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek, blob, blob_len - 8, sizeof(z), &sec),
			KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_unwrap_secret(s, &pol, kek, blob, blob_len - 3, sizeof(z), &sec),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(sec);
	/* pre-minted: an SSK under the KEK, unwrapped into the token, wrapped for the client */
	trk = known_trk(s, k, sizeof(k), 1);
	CU_ASSERT_EQUAL(
		kms_wrap_bytes(s, &pol, kek, ssk, sizeof(ssk), blob, sizeof(blob), &blob_len),
		KMS_OK);
	CU_ASSERT_EQUAL(kms_unwrap_object(s, &pol, kek, blob, blob_len, sizeof(ssk), &obj), KMS_OK);
	{
		int v = -1;

		CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, obj, CKA_SENSITIVE), KMS_OK);
		CU_ASSERT_EQUAL(v, 1);
	}
	CU_ASSERT_EQUAL(
		kms_wrap_object(s, &pol, trk, obj, sizeof(ssk), blob2, sizeof(blob2), &blob2_len),
		KMS_OK);
	CU_ASSERT_EQUAL(client_unwrap(k, 32, blob2, blob2_len, back), sizeof(ssk));
	CU_ASSERT(memcmp(back, ssk, sizeof(ssk)) == 0);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, obj), KMS_OK);
	/* a forged pre-minted blob is refused */
	blob[5] ^= 0x80;
	CU_ASSERT_EQUAL(kms_unwrap_object(s, &pol, kek, blob, blob_len, sizeof(ssk), &obj),
			KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(obj, CK_INVALID_HANDLE);
	/*
	 * A 257-octet RSK wrapped by a conforming offline token (OpenSSL here, under a KEK whose
	 * value the test knows) unwraps into the token; in host-ECB mode it cannot be wrapped for
	 * the client without taking it out, and the function says so.
	 */
	{
		uint8_t rsk[257];
		uint8_t kv[32];
		CK_OBJECT_HANDLE known_kek;
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int l1 = 0, l2 = 0;

		CU_ASSERT_EQUAL(RAND_bytes(rsk, sizeof(rsk)), 1);
		CU_ASSERT_EQUAL(RAND_bytes(kv, sizeof(kv)), 1);
		EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
		CU_ASSERT(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kv, NULL) == 1 &&
			  EVP_EncryptUpdate(c, blob, &l1, rsk, (int)sizeof(rsk)) == 1 &&
			  EVP_EncryptFinal_ex(c, blob + l1, &l2) == 1);
		EVP_CIPHER_CTX_free(c);
		blob_len = (size_t)(l1 + l2);
		CU_ASSERT_EQUAL(blob_len, 272);
		known_kek = known_key(s, kv, sizeof(kv), CKA_UNWRAP);
		CU_ASSERT_EQUAL(
			kms_unwrap_object(s, &pol, known_kek, blob, blob_len, sizeof(rsk), &obj),
			KMS_OK);
		/* a wrong expected length is refused */
		{
			CK_OBJECT_HANDLE o2;

			CU_ASSERT_EQUAL(
				kms_unwrap_object(s, &pol, known_kek, blob, blob_len, 256, &o2),
				KMS_ERR_RANGE);
		}
		CU_ASSERT_EQUAL(kms_p11_destroy_object(s, known_kek), KMS_OK);
		CU_ASSERT_EQUAL(kms_wrap_object(s, &pol, trk, obj, sizeof(rsk), blob2,
						sizeof(blob2), &blob2_len),
				KMS_ERR_UNSUPPORTED);
		CU_ASSERT_EQUAL(kms_p11_destroy_object(s, obj), KMS_OK);
	}
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, trk), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek2), KMS_OK);
	kms_p11_return(s);
}

static void
test_bad_arguments(void)
{
	struct kms_p11_session *s = NULL;
	uint8_t data[KMS_WRAP_MAX_DATA + 1] = {0};
	uint8_t out[KMS_WRAP_MAX_BLOB];
	size_t out_len = 99;
	CK_OBJECT_HANDLE wk;
	uint8_t k[32] = {3};

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	wk = known_trk(s, k, sizeof(k), 1);
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, data, 0, out, sizeof(out), &out_len),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(out_len, 0);
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, data, sizeof(data), out, sizeof(out), &out_len),
			KMS_ERR_INVALID_ARG);
	/* 65 octets: padded to 72, plus the 8-octet integrity block = 80 */
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, data, 65, out, 79, &out_len),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, wk, data, 65, out, 80, &out_len), KMS_OK);
	CU_ASSERT_EQUAL(out_len, 80);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, wk), KMS_OK);
	kms_p11_return(s);
}

/* A token secret key labelled label (label_len octets, any of them), CKA_UNWRAP unwrap. */
static CK_OBJECT_HANDLE
planted_key(struct kms_p11_session *s, const char *label, size_t label_len, CK_BBOOL unwrap)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL t = CK_TRUE;
	uint8_t value[32] = {7};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, value, sizeof(value)},
		{CKA_TOKEN, &t, sizeof(t)},
		{CKA_PRIVATE, &t, sizeof(t)},
		{CKA_WRAP, &t, sizeof(t)},
		{CKA_UNWRAP, &unwrap, sizeof(unwrap)},
		{CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)label_len},
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CU_ASSERT_EQUAL(kms_p11_create_object(s, &h, tmpl, 8), KMS_OK);
	return h;
}

struct listed {
	char text[1024]; /* the labels, each followed by '\n' */
	size_t calls;
};

static int
collect_label(void *ctx, const char *label)
{
	struct listed *l = ctx;
	size_t used = strlen(l->text);

	l->calls++;
	if (used + strlen(label) + 2 <= sizeof(l->text)) {
		memcpy(l->text + used, label, strlen(label));
		memcpy(l->text + used + strlen(label), "\n", 2);
	}
	return KMS_OK;
}

/*
 * kms_keys_client_key_labels reads labels back from the token, which is input: objects whose
 * label no key of ours could have (control octets, an embedded NUL, empty, longer than
 * KMS_KEYS_MAX_LABEL) are skipped, as are keys that can unwrap (a KEK); the longest label we
 * make is listed; and a token holding more than max such objects is refused before any cb.
 */
static void
test_client_key_labels_from_token(void)
{
	static const char nul_label[] = {'t', 'k', '.', 'n', 0, 'l'};
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE h[8];
	char longest[KMS_KEYS_MAX_LABEL + 2];
	struct listed l;
	static char logbuf[8192];
	char logdir[300], logpath[400];
	size_t i, n = 0;
	int fd;

	memset(longest, 'x', sizeof(longest));
	memcpy(longest, "tk.", 3);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	h[n++] = planted_key(s, "tk.listed.1", 11, CK_FALSE);
	h[n++] = planted_key(s, longest, KMS_KEYS_MAX_LABEL, CK_FALSE);     /* listed */
	h[n++] = planted_key(s, longest, KMS_KEYS_MAX_LABEL + 1, CK_FALSE); /* too long */
	h[n++] = planted_key(s, "tk.ctl\x01", 7, CK_FALSE);
	h[n++] = planted_key(s, "tk.del\x7f", 7, CK_FALSE);
	h[n++] = planted_key(s, nul_label, sizeof(nul_label), CK_FALSE);
	h[n++] = planted_key(s, "", 0, CK_FALSE);
	h[n++] = planted_key(s, "kek.like", 8, CK_TRUE); /* can unwrap: never a client key */

	/* the odd objects are skipped quietly: another application's keys are no error of ours */
	CU_ASSERT_FATAL(kms_test_tmpdir(logdir, sizeof(logdir), "keys-labels") == 0);
	snprintf(logpath, sizeof(logpath), "%s/log", logdir);
	fd = kms_test_log_capture(logpath, "test_keys");
	CU_ASSERT_FATAL(fd >= 0);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(kms_keys_client_key_labels(s, 100, collect_label, &l), KMS_OK);
	(void)kms_test_read_fd(fd, logbuf, sizeof(logbuf));
	kms_test_log_release(fd);
	(void)unlink(logpath);
	(void)rmdir(logdir);
	CU_ASSERT_PTR_NULL(strstr(logbuf, "ERROR"));
	CU_ASSERT_EQUAL(l.calls, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, "tk.listed.1\n"));
	longest[KMS_KEYS_MAX_LABEL] = '\n';
	longest[KMS_KEYS_MAX_LABEL + 1] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(l.text, longest));
	CU_ASSERT_PTR_NULL(strstr(l.text, "kek.like"));
	CU_ASSERT_PTR_NULL(strstr(l.text, "tk.n"));

	/* seven objects with CKA_UNWRAP false: more than 3 is refused, and no cb is made */
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(kms_keys_client_key_labels(s, 3, collect_label, &l), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(l.calls, 0);
	CU_ASSERT_EQUAL(kms_keys_client_key_labels(s, 3, NULL, &l), KMS_ERR_INVALID_ARG);

	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(kms_p11_destroy_object(s, h[i]), KMS_OK);
	}
	kms_p11_return(s);
}

static CU_TestInfo keys_tests[] = {
	{"the wrap probe finds SoftHSM's padding defect", test_probe_and_choice},
	{"host-ECB RFC 5649 reproduces RFC 5649's vectors", test_rfc5649_vectors_host_ecb},
	{"several values at once: one ECB stream, each as if alone", test_wrap_many},
	{"KEK, TrK and InK attributes read back", test_generate_and_attributes},
	{"rotation: exports under TrK and KEK, locked; OpenSSL unwraps; HMAC",
	 test_rotation_wrap_and_hmac},
	{"master secrets under the KEK; pre-minted re-wrap", test_kek_secrets_and_preminted},
	{"bad arguments", test_bad_arguments},
	{"client key labels read back from the token: odd ones skipped",
	 test_client_key_labels_from_token},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"keys", suite_init, suite_cleanup, NULL, NULL, keys_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
