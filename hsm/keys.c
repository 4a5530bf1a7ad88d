/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/keys.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/log.h"
#include "hsm/p11attr.h"

#include "common/banned.h"

#define AES256_LEN 32
#define INK_LEN    32

_Static_assert(AES256_LEN == INK_LEN, "kms_keys_rotate exports a TrK and an InK alike");

static const CK_KEY_TYPE type_generic = CKK_GENERIC_SECRET;

static int
label_ok(const char *label, size_t *out_len)
{
	size_t n;

	if (label == NULL) {
		return 0;
	}
	for (n = 0; label[n] != '\0'; n++) {
		if (n >= KMS_KEYS_MAX_LABEL || label[n] < 0x20 || label[n] > 0x7e) {
			return 0;
		}
	}
	*out_len = n;
	return n > 0;
}

int
kms_keys_template(struct kms_keys_tmpl *t, enum kms_key_role role, const char *label,
		  const struct kms_wrap_policy *pol, int extractable, int session, int for_unwrap)
{
	size_t label_len = 0;
	CK_ULONG n = 0;

	memset(t, 0, sizeof(*t));
	if (pol == NULL || !label_ok(label, &label_len)) {
		return KMS_ERR_INVALID_ARG;
	}
	t->gen.mechanism = CKM_AES_KEY_GEN;
	t->type = CKK_AES;
	t->value_len = AES256_LEN;
	t->num_allowed = 1;
	switch (role) {
	case KMS_KEY_KEK:
	case KMS_KEY_TRK:
		t->allowed[0] = pol->kwp;
		t->wrap = CK_TRUE;
		t->unwrap = role == KMS_KEY_KEK ? CK_TRUE : CK_FALSE;
		/* host-ECB mode: the ceremony wraps PVTs and RSKs under the KEK the same way */
		if (pol->mode == KMS_WRAP_HOST_ECB) {
			t->allowed[t->num_allowed++] = CKM_AES_ECB;
			t->encrypt = CK_TRUE;
		}
		break;
	case KMS_KEY_INK:
		t->allowed[0] = CKM_SHA256_HMAC;
		t->sign = CK_TRUE;
		t->verify = CK_TRUE;
		t->type = CKK_GENERIC_SECRET;
		t->gen.mechanism = CKM_GENERIC_SECRET_KEY_GEN;
		t->value_len = INK_LEN;
		break;
	default:
		return KMS_ERR_INVALID_ARG;
	}
	t->token = session ? CK_FALSE : CK_TRUE;
	t->extractable = extractable ? CK_TRUE : CK_FALSE;
	t->wrap_tmpl[0] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret,
						     sizeof(kms_p11_class_secret));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret,
						   sizeof(kms_p11_class_secret));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_KEY_TYPE, &t->type, sizeof(t->type));
	/* C_UnwrapKey takes the length from the blob (SoftHSM refuses it in the template). */
	if (!for_unwrap) {
		t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_VALUE_LEN, &t->value_len,
							   sizeof(t->value_len));
	}
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_LABEL, label, label_len);
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_TOKEN, &t->token, sizeof(t->token));
	t->attrs[n++] =
		(CK_ATTRIBUTE)KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true));
	t->attrs[n++] =
		(CK_ATTRIBUTE)KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_true, sizeof(kms_p11_true));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_EXTRACTABLE, &t->extractable,
						   sizeof(t->extractable));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_WRAP, &t->wrap, sizeof(t->wrap));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_UNWRAP, &t->unwrap, sizeof(t->unwrap));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_ENCRYPT, &t->encrypt, sizeof(t->encrypt));
	t->attrs[n++] =
		(CK_ATTRIBUTE)KMS_P11_ATTR(CKA_DECRYPT, &kms_p11_false, sizeof(kms_p11_false));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_SIGN, &t->sign, sizeof(t->sign));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_VERIFY, &t->verify, sizeof(t->verify));
	t->attrs[n++] =
		(CK_ATTRIBUTE)KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false));
	t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, t->allowed,
						   t->num_allowed * sizeof(t->allowed[0]));
	/* Only a TrK wraps material for others: it alone gets a wrap template. */
	if (role == KMS_KEY_TRK) {
		t->attrs[n++] = (CK_ATTRIBUTE)KMS_P11_ATTR(CKA_WRAP_TEMPLATE, t->wrap_tmpl,
							   sizeof(t->wrap_tmpl));
	}
	t->num_attrs = n;
	return KMS_OK;
}

int
kms_keys_generate(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, enum kms_key_role role,
		  const char *label, const struct kms_wrap_policy *pol, int exportable, int session)
{
	struct kms_keys_tmpl t;
	int r;

	*out = CK_INVALID_HANDLE;
	/* A KEK is never extractable here (the key ceremony's backup export is its own). */
	if ((r = kms_keys_template(&t, role, label, pol, exportable && role != KMS_KEY_KEK, session,
				   0)) != KMS_OK) {
		return r;
	}
	return kms_p11_generate_key(s, out, &t.gen, t.attrs, t.num_attrs);
}

int
kms_keys_lock(struct kms_p11_session *s, CK_OBJECT_HANDLE key)
{
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_false, sizeof(kms_p11_false))};
	int extractable = 1;
	int r;

	if ((r = kms_p11_check(s,
			       kms_p11_fn(s)->C_SetAttributeValue(kms_p11_handle(s), key, tmpl, 1),
			       "C_SetAttributeValue")) != KMS_OK ||
	    (r = kms_p11_get_bool(s, &extractable, key, CKA_EXTRACTABLE)) != KMS_OK) {
		return r;
	}
	/* A token that answers CKR_OK and keeps the flag would leave the key exportable. */
	if (extractable) {
		kms_log(KMS_LOG_ERR, "keys: the token kept a key extractable after locking it");
		return KMS_ERR_HSM;
	}
	return KMS_OK;
}

int
kms_keys_token_present(struct kms_p11_session *s)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	int r;

	/* C_GetTokenInfo fails on a token that is gone; kms_p11_check makes that unavailable. */
	if ((r = kms_p11_check(s, f->C_GetSessionInfo(kms_p11_handle(s), &si),
			       "C_GetSessionInfo")) != KMS_OK) {
		return r;
	}
	return kms_p11_check(s, kms_p11_token_info(s, si.slotID, &ti), "C_GetTokenInfo");
}

int
kms_keys_find(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, const char *label)
{
	return kms_keys_find_class(s, out, CKO_SECRET_KEY, label);
}

/* kms_keys_find_class; an absent key is logged unless absent_ok (a check that it is not there). */
static int
find_class(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_OBJECT_CLASS cls, const char *label,
	   int absent_ok)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_HANDLE h = kms_p11_handle(s);
	CK_OBJECT_HANDLE found[2];
	CK_ULONG num = 0;
	size_t label_len = 0;
	int r;

	*out = CK_INVALID_HANDLE;
	if (!label_ok(label, &label_len)) {
		return KMS_ERR_INVALID_ARG;
	}
	{
		CK_ATTRIBUTE tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &cls, sizeof(cls)),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_LABEL, label, label_len),
		};

		if ((r = kms_p11_check(s, f->C_FindObjectsInit(h, tmpl, 3), "C_FindObjectsInit")) !=
		    KMS_OK) {
			return r;
		}
	}
	r = kms_p11_check(s, f->C_FindObjects(h, found, 2, &num), "C_FindObjects");
	if (kms_p11_check(s, f->C_FindObjectsFinal(h), "C_FindObjectsFinal") != KMS_OK &&
	    r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	if (r != KMS_OK) {
		return r;
	}
	/*
	 * Absent, or is the token itself gone? SoftHSM answers C_FindObjects with nothing when its
	 * token directory has disappeared.
	 */
	if (num == 0 && (r = kms_keys_token_present(s)) != KMS_OK) {
		return r;
	}
	if (num == 0 && absent_ok) {
		return KMS_ERR_INVALID_ARG;
	}
	if (num != 1) {
		kms_log(KMS_LOG_ERR, "keys: %s %s labelled '%s' in the token",
			num == 0 ? "no" : "more than one",
			cls == CKO_PRIVATE_KEY  ? "private key"
			: cls == CKO_PUBLIC_KEY ? "public key"
						: "secret key",
			label);
		return KMS_ERR_INVALID_ARG;
	}
	*out = found[0];
	return KMS_OK;
}

int
kms_keys_find_class(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_OBJECT_CLASS cls,
		    const char *label)
{
	return find_class(s, out, cls, label, 0);
}

/* At most this many objects of one label are destroyed per search (then searched again). */
#define DESTROY_BATCH 16

int
kms_keys_destroy_label(struct kms_p11_session *s, const char *label, size_t *out_n)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_HANDLE h = kms_p11_handle(s);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_OBJECT_HANDLE found[DESTROY_BATCH];
	CK_ULONG num, i;
	size_t label_len = 0;
	int r, rounds = 0;

	*out_n = 0;
	if (!label_ok(label, &label_len)) {
		return KMS_ERR_INVALID_ARG;
	}
	/* Each object found is destroyed, so the next search finds the rest (or none). */
	do {
		CK_ATTRIBUTE tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &cls, sizeof(cls)),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_UNWRAP, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_LABEL, label, label_len),
		};

		num = 0;
		if ((r = kms_p11_check(s, f->C_FindObjectsInit(h, tmpl, 4), "C_FindObjectsInit")) !=
		    KMS_OK) {
			return r;
		}
		r = kms_p11_check(s, f->C_FindObjects(h, found, DESTROY_BATCH, &num),
				  "C_FindObjects");
		if (kms_p11_check(s, f->C_FindObjectsFinal(h), "C_FindObjectsFinal") != KMS_OK &&
		    r == KMS_OK) {
			r = KMS_ERR_HSM;
		}
		if (r == KMS_OK && num > DESTROY_BATCH) {
			r = KMS_ERR_HSM; /* the token claims more than it was given room for */
		}
		for (i = 0; i < num && r == KMS_OK; i++) {
			if ((r = kms_p11_destroy_object(s, found[i])) == KMS_OK) {
				(*out_n)++;
			}
		}
	} while (r == KMS_OK && num == DESTROY_BATCH && ++rounds < 64);
	return r;
}

/* Handles asked for per C_FindObjects when listing a token's client keys. */
#define LIST_BATCH 256

int
kms_keys_client_key_labels(struct kms_p11_session *s, size_t max,
			   int (*cb)(void *ctx, const char *label), void *ctx)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_HANDLE h = kms_p11_handle(s);
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &cls, sizeof(cls)),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_UNWRAP, &kms_p11_false, sizeof(kms_p11_false)),
	};
	CK_OBJECT_HANDLE *all = NULL;
	char *label = NULL; /* any label the token holds: longer ones are skipped, not errors */
	size_t n = 0, cap = 0, len, i, ignored;
	CK_ULONG got;
	int r, fr;

	if (cb == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((label = malloc(KMS_P11_MAX_ATTR + 1)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_p11_check(s, f->C_FindObjectsInit(h, tmpl, 3), "C_FindObjectsInit")) !=
	    KMS_OK) {
		free(label);
		return r;
	}
	/* every handle first: the session can run one search only, and cb may destroy objects */
	do {
		if (n + LIST_BATCH > cap) {
			size_t ncap = cap == 0 ? LIST_BATCH : 2 * cap;
			CK_OBJECT_HANDLE *p;

			if (cap > max || (p = realloc(all, ncap * sizeof(*all))) == NULL) {
				r = cap > max ? KMS_ERR_TOO_LARGE : KMS_ERR_NOMEM;
				break;
			}
			all = p;
			cap = ncap;
		}
		got = 0;
		r = kms_p11_check(s, f->C_FindObjects(h, all + n, LIST_BATCH, &got),
				  "C_FindObjects");
		if (r == KMS_OK && got > LIST_BATCH) {
			r = KMS_ERR_HSM; /* the token claims more than it was given room for */
		}
		n += r == KMS_OK ? (size_t)got : 0;
		if (r == KMS_OK && n > max) {
			r = KMS_ERR_TOO_LARGE;
		}
	} while (r == KMS_OK && got == LIST_BATCH);
	fr = kms_p11_check(s, f->C_FindObjectsFinal(h), "C_FindObjectsFinal");
	r = r != KMS_OK ? r : fr;
	for (i = 0; i < n && r == KMS_OK; i++) {
		r = kms_p11_get_attribute(s, label, KMS_P11_MAX_ATTR, &len, all[i], CKA_LABEL);
		if (r == KMS_ERR_TOO_LARGE || r == KMS_ERR_HSM) {
			r = KMS_OK; /* no label kms_keys_generate gives: not a client key of ours */
			continue;
		}
		if (r != KMS_OK) {
			break;
		}
		label[len] = '\0';
		if (strlen(label) != len || !label_ok(label, &ignored)) {
			continue;
		}
		r = cb(ctx, label);
	}
	free(all);
	free(label);
	return r;
}

/* Import data as a sensitive, extractable session object (to be wrapped, then destroyed). */
static int
import_value(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, const uint8_t *data, size_t len)
{
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret, sizeof(kms_p11_class_secret)),
		KMS_P11_ATTR(CKA_KEY_TYPE, &type_generic, sizeof(type_generic)),
		KMS_P11_ATTR(CKA_VALUE, data, len),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
	};

	return kms_p11_create_object(s, out, tmpl, 8);
}

static int
token_wrap(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE wk,
	   CK_OBJECT_HANDLE obj, uint8_t *out, size_t cap, size_t *out_len)
{
	CK_MECHANISM mech = {pol->kwp, NULL, 0};
	CK_ULONG len = (CK_ULONG)cap;
	int r;

	r = kms_p11_check(s, kms_p11_fn(s)->C_WrapKey(kms_p11_handle(s), &mech, wk, obj, out, &len),
			  "C_WrapKey");
	if (r == KMS_OK && len > cap) {
		r = KMS_ERR_HSM; /* the token claims to have written more than it was given */
	}
	*out_len = r == KMS_OK ? (size_t)len : 0;
	return r;
}

/* One value of a host-ECB wrap: RFC 5649's A and R[1..n], and where its output goes. */
struct ecb_value {
	uint8_t a[8];
	uint8_t r[KMS_WRAP_MAX_DATA + 8];
	size_t blocks; /* n: the value padded to 8 octets, in 8-octet blocks */
	size_t steps;  /* AES operations: 1 when n is 1, else 6n (RFC 3394 section 2.2.1) */
	uint8_t *out;
	size_t *out_len;
};

/*
 * RFC 5649 from the token's AES-ECB under wk (KMS_WRAP_HOST_ECB), for num values at once. The
 * 64-bit integrity register A and the blocks R[i] of each value are computed here; each AES
 * block operation is the token's. RFC 3394's steps depend on each other within a value, not
 * across values: step t of every value still wrapping goes into one C_EncryptUpdate (ECB
 * encrypts each 16-octet block on its own), so num values cost as many calls as the longest.
 */
static int
host_ecb_wrap(struct kms_p11_session *s, CK_OBJECT_HANDLE wk, struct ecb_value *v, size_t num)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_HANDLE h = kms_p11_handle(s);
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	uint8_t blk[16 * KMS_WRAP_MANY_MAX];
	uint8_t enc[16 * KMS_WRAP_MANY_MAX];
	size_t m, k, t, max_steps = 0;
	int rc;

	if (num == 0 || num > KMS_WRAP_MANY_MAX) {
		return KMS_ERR_INVALID_ARG;
	}
	for (m = 0; m < num; m++) {
		max_steps = v[m].steps > max_steps ? v[m].steps : max_steps;
	}
	if ((rc = kms_p11_check(s, f->C_EncryptInit(h, &ecb, wk), "C_EncryptInit")) != KMS_OK) {
		return rc;
	}
	for (t = 0; t < max_steps && rc == KMS_OK; t++) {
		CK_ULONG el = sizeof(enc);

		for (m = 0, k = 0; m < num; m++) {
			if (t < v[m].steps) {
				/* one block: C = AES(K, AIV || P); else step t of W with the AIV */
				memcpy(blk + 16 * k, v[m].a, 8);
				memcpy(blk + 16 * k + 8, v[m].r + 8 * (t % v[m].blocks), 8);
				k++;
			}
		}
		rc = kms_p11_check(s, f->C_EncryptUpdate(h, blk, (CK_ULONG)(16 * k), enc, &el),
				   "C_EncryptUpdate");
		if (rc == KMS_OK && el != 16 * k) {
			rc = KMS_ERR_HSM;
		}
		for (m = 0, k = 0; m < num && rc == KMS_OK; m++) {
			if (t >= v[m].steps) {
				continue;
			}
			if (v[m].blocks == 1) {
				memcpy(v[m].out, enc + 16 * k, 16);
				*v[m].out_len = 16;
			} else {
				int b;

				/* t = n * j + i (0-based): A = MSB(B) ^ (n * j + i + 1) */
				memcpy(v[m].a, enc + 16 * k, 8);
				for (b = 0; b < 8; b++) {
					v[m].a[7 - b] ^= (uint8_t)((uint64_t)(t + 1) >> (8 * b));
				}
				memcpy(v[m].r + 8 * (t % v[m].blocks), enc + 16 * k + 8, 8);
			}
			k++;
		}
	}
	/*
	 * End the multi-part operation, on success and on failure alike: a session with an active
	 * operation refuses every other one. The buffer must be real: a NULL one only asks for the
	 * length and leaves the operation running. ECB has nothing left to output.
	 */
	{
		CK_ULONG el = sizeof(enc);
		int fr = kms_p11_check(s, f->C_EncryptFinal(h, enc, &el), "C_EncryptFinal");

		if (rc == KMS_OK && (fr != KMS_OK || el != 0)) {
			rc = fr != KMS_OK ? fr : KMS_ERR_HSM;
		}
	}
	for (m = 0; m < num && rc == KMS_OK; m++) {
		if (v[m].blocks > 1) {
			memcpy(v[m].out, v[m].a, 8);
			memcpy(v[m].out + 8, v[m].r, 8 * v[m].blocks);
			*v[m].out_len = 8 * (v[m].blocks + 1);
		}
	}
	kms_memzero(blk, sizeof(blk));
	kms_memzero(enc, sizeof(enc));
	return rc;
}

/* v for data (1..KMS_WRAP_MAX_DATA octets): the AIV and the zero-padded value (RFC 5649 3). */
static void
ecb_value_init(struct ecb_value *v, const uint8_t *data, size_t len, uint8_t *out, size_t *out_len)
{
	memset(v, 0, sizeof(*v));
	v->a[0] = 0xA6;
	v->a[1] = 0x59;
	v->a[2] = 0x59;
	v->a[3] = 0xA6;
	v->a[4] = (uint8_t)(len >> 24);
	v->a[5] = (uint8_t)(len >> 16);
	v->a[6] = (uint8_t)(len >> 8);
	v->a[7] = (uint8_t)len;
	memcpy(v->r, data, len);
	v->blocks = (len + 7) / 8;
	v->steps = v->blocks == 1 ? 1 : 6 * v->blocks;
	v->out = out;
	v->out_len = out_len;
}

/* One value through the token: imported as a session object, wrapped there, destroyed. */
static int
token_wrap_bytes(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE wk,
		 const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	int r;

	if ((r = import_value(s, &obj, data, len)) == KMS_OK) {
		r = token_wrap(s, pol, wk, obj, out, cap, out_len);
		if (kms_p11_destroy_object(s, obj) != KMS_OK && r == KMS_OK) {
			r = KMS_ERR_HSM; /* a copy of the material would stay in the token */
		}
	}
	return r;
}

int
kms_wrap_bytes_many(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		    CK_OBJECT_HANDLE wk, size_t num, const uint8_t *const data[],
		    const size_t len[], uint8_t *const out[], size_t cap, size_t out_len[])
{
	struct ecb_value v[KMS_WRAP_MANY_MAX]; /* wiped below, as the earlier stack buffers were */
	size_t m, n_ecb = 0;
	int r = KMS_OK;

	if (pol == NULL || num == 0 || num > KMS_WRAP_MANY_MAX || data == NULL || len == NULL ||
	    out == NULL || out_len == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	for (m = 0; m < num; m++) {
		out_len[m] = 0;
	}
	for (m = 0; m < num && r == KMS_OK; m++) {
		if (data[m] == NULL || len[m] == 0 || len[m] > KMS_WRAP_MAX_DATA ||
		    out[m] == NULL) {
			r = KMS_ERR_INVALID_ARG;
		} else if (cap < ((len[m] + 7) / 8 + 1) * 8) {
			r = KMS_ERR_TOO_LARGE;
		}
	}
	if (r != KMS_OK) {
		for (m = 0; m < num; m++) {
			if (out[m] != NULL) {
				kms_memzero(out[m], cap);
			}
		}
		return r;
	}
	for (m = 0; m < num && r == KMS_OK; m++) {
		/* Multiples of 8 octets come out exact even from a token with the padding defect.
		 */
		if (pol->mode == KMS_WRAP_HOST_ECB && len[m] % 8 != 0) {
			ecb_value_init(&v[n_ecb++], data[m], len[m], out[m], &out_len[m]);
		} else {
			r = token_wrap_bytes(s, pol, wk, data[m], len[m], out[m], cap, &out_len[m]);
		}
	}
	if (r == KMS_OK && n_ecb > 0) {
		r = host_ecb_wrap(s, wk, v, n_ecb);
	}
	kms_memzero(v, n_ecb * sizeof(*v));
	if (r != KMS_OK) {
		for (m = 0; m < num; m++) {
			kms_memzero(out[m], cap);
			out_len[m] = 0;
		}
	}
	return r;
}

int
kms_wrap_bytes(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE wk,
	       const uint8_t *data, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *const d[1] = {data};
	const size_t l[1] = {len};
	uint8_t *const o[1] = {out};

	*out_len = 0;
	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	return kms_wrap_bytes_many(s, pol, wk, 1, d, l, o, cap, out_len);
}

int
kms_wrap_object(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE wk,
		CK_OBJECT_HANDLE obj, size_t value_len, uint8_t *out, size_t cap, size_t *out_len)
{
	int r;

	*out_len = 0;
	if (pol == NULL || out == NULL || value_len == 0 || value_len > KMS_WRAP_MAX_DATA) {
		return KMS_ERR_INVALID_ARG;
	}
	if (pol->mode == KMS_WRAP_HOST_ECB && value_len % 8 != 0) {
		return KMS_ERR_UNSUPPORTED;
	}
	r = token_wrap(s, pol, wk, obj, out, cap, out_len);
	if (r == KMS_OK && *out_len != ((value_len + 7) / 8 + 1) * 8) {
		r = KMS_ERR_HSM; /* not the object the caller thinks it is */
	}
	if (r != KMS_OK) {
		kms_memzero(out, cap);
		*out_len = 0;
	}
	return r;
}

/*
 * C_UnwrapKey of an RFC 5649 blob under kek with the template tmpl; *out the new session
 * object (counted). A blob that fails its integrity check (forged, truncated, another KEK:
 * tokens say so in various ways, SoftHSM with CKR_GENERAL_ERROR) is KMS_ERR_AUTH, unless the
 * check finds the token gone (KMS_ERR_HSM_UNAVAIL).
 */
static int
unwrap_into(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE kek,
	    const uint8_t *blob, size_t blob_len, size_t expect_len, CK_ATTRIBUTE *tmpl,
	    CK_ULONG num, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM mech;
	CK_RV rv;
	int r;

	*out = CK_INVALID_HANDLE;
	if (pol == NULL || blob == NULL || blob_len < 16 || blob_len > KMS_WRAP_MAX_BLOB ||
	    blob_len % 8 != 0 || expect_len == 0 || expect_len > KMS_WRAP_MAX_DATA) {
		return KMS_ERR_INVALID_ARG;
	}
	mech.mechanism = pol->kwp;
	mech.pParameter = NULL;
	mech.ulParameterLen = 0;
	rv = kms_p11_fn(s)->C_UnwrapKey(kms_p11_handle(s), &mech, kek, (CK_BYTE_PTR)(uintptr_t)blob,
					(CK_ULONG)blob_len, tmpl, num, out);
	r = kms_p11_check(s, rv, "C_UnwrapKey");
	if (r != KMS_OK) {
		*out = CK_INVALID_HANDLE;
		if (r != KMS_ERR_HSM_UNAVAIL &&
		    (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE ||
		     rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_GENERAL_ERROR)) {
			r = KMS_ERR_AUTH;
		}
		return r;
	}
	kms_p11_note_created(s, 1);
	return KMS_OK;
}

int
kms_unwrap_object(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		  CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, size_t expect_len,
		  CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret, sizeof(kms_p11_class_secret)),
		KMS_P11_ATTR(CKA_KEY_TYPE, &type_generic, sizeof(type_generic)),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
	};
	CK_ULONG got = 0;
	int r;

	if ((r = unwrap_into(s, pol, kek, blob, blob_len, expect_len, tmpl, 7, out)) != KMS_OK) {
		return r;
	}
	/*
	 * The length: CKA_VALUE_LEN where the token keeps it; SoftHSM 2.6.1 leaves it 0 on
	 * unwrapped generic secrets (and refuses it in the template), and then the blob's length,
	 * which RFC 5649 fixes as 8 (ceil(len / 8) + 1), must match: the token has checked the MLI.
	 */
	r = kms_p11_get_ulong(s, &got, *out, CKA_VALUE_LEN);
	if (r == KMS_OK && got == 0 && blob_len == ((expect_len + 7) / 8 + 1) * 8) {
		got = expect_len;
	}
	if (r != KMS_OK || got != expect_len) {
		if (kms_p11_destroy_object(s, *out) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "keys: cannot destroy a rejected unwrapped object");
		}
		*out = CK_INVALID_HANDLE;
		return r != KMS_OK ? r : KMS_ERR_RANGE;
	}
	return KMS_OK;
}

int
kms_unwrap_secret_to(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		     CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, uint8_t *out,
		     size_t expect_len)
{
	CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret, sizeof(kms_p11_class_secret)),
		KMS_P11_ATTR(CKA_KEY_TYPE, &type_generic, sizeof(type_generic)),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
	};
	size_t got = 0;
	int r;

	if (out == NULL || expect_len == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = unwrap_into(s, pol, kek, blob, blob_len, expect_len, tmpl, 7, &obj)) != KMS_OK) {
		return r;
	}
	/* A value longer than expected does not fit: KMS_ERR_TOO_LARGE, reported as a range error.
	 */
	r = kms_p11_get_attribute(s, out, expect_len, &got, obj, CKA_VALUE);
	if (r == KMS_ERR_TOO_LARGE) {
		r = KMS_ERR_RANGE;
	}
	if (r == KMS_OK && got != expect_len) {
		r = KMS_ERR_RANGE;
	}
	if (kms_p11_destroy_object(s, obj) != KMS_OK && r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	if (r != KMS_OK) {
		kms_memzero(out, expect_len);
	}
	return r;
}

int
kms_unwrap_secret(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		  CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, size_t expect_len,
		  struct kms_secret **out)
{
	struct kms_secret *sec = NULL;
	int r;

	*out = NULL;
	if (expect_len == 0 || (sec = kms_secret_new(expect_len)) == NULL) {
		return expect_len == 0 ? KMS_ERR_INVALID_ARG : KMS_ERR_NOMEM;
	}
	if ((r = kms_unwrap_secret_to(s, pol, kek, blob, blob_len, sec->data, expect_len)) !=
	    KMS_OK) {
		kms_secret_free(sec);
		return r;
	}
	*out = sec;
	return KMS_OK;
}

int
kms_hmac_sha256(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *data, size_t len,
		uint8_t out[32])
{
	CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
	CK_ULONG sig_len = 32;
	int r;

	memset(out, 0, 32);
	if ((r = kms_p11_check(s, kms_p11_fn(s)->C_SignInit(kms_p11_handle(s), &mech, key),
			       "C_SignInit")) != KMS_OK) {
		return r;
	}
	r = kms_p11_check(s,
			  kms_p11_fn(s)->C_Sign(kms_p11_handle(s), (CK_BYTE_PTR)(uintptr_t)data,
						(CK_ULONG)len, out, &sig_len),
			  "C_Sign");
	if (r == KMS_OK && sig_len != 32) {
		r = KMS_ERR_HSM;
	}
	if (r != KMS_OK) {
		memset(out, 0, 32);
	}
	return r;
}

int
kms_hmac_sha256_verify(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *data,
		       size_t len, const uint8_t mac[32])
{
	CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
	uint8_t want[32];
	CK_RV rv;
	int r;

	if ((r = kms_p11_check(s, kms_p11_fn(s)->C_VerifyInit(kms_p11_handle(s), &mech, key),
			       "C_VerifyInit")) != KMS_OK) {
		return r;
	}
	rv = kms_p11_fn(s)->C_Verify(kms_p11_handle(s), (CK_BYTE_PTR)(uintptr_t)data, (CK_ULONG)len,
				     (CK_BYTE_PTR)(uintptr_t)mac, 32);
	if (rv == CKR_OK || rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
		return rv == CKR_OK ? KMS_OK : KMS_ERR_AUTH; /* anyone can send a bad MAC: no log */
	}
	/*
	 * Any other answer: a token gone, or one that reports a wrong MAC its own way (NSS's
	 * softoken: CKR_ARGUMENTS_BAD). The token's own HMAC, compared in constant time, decides.
	 */
	if (kms_p11_err(rv) == KMS_ERR_HSM_UNAVAIL) {
		return kms_p11_check(s, rv, "C_Verify");
	}
	if ((r = kms_hmac_sha256(s, key, data, len, want)) != KMS_OK) {
		return r;
	}
	r = CRYPTO_memcmp(want, mac, sizeof(want)) == 0 ? KMS_ERR_HSM : KMS_ERR_AUTH;
	if (r == KMS_ERR_HSM) {
		kms_log(KMS_LOG_ERR,
			"keys: the token's C_Verify says %s to the MAC its C_Sign gives",
			kms_p11_rv_name(rv));
	}
	kms_memzero(want, sizeof(want));
	return r;
}

int
kms_keys_rotate(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		CK_OBJECT_HANDLE current_trk, CK_OBJECT_HANDLE kek, enum kms_key_role role,
		const char *new_label, CK_OBJECT_HANDLE *out_new, uint8_t *out, size_t cap,
		size_t *out_len, uint8_t *out_kek, size_t kek_cap, size_t *out_kek_len)
{
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	int r = KMS_ERR_INTERNAL;

	*out_new = CK_INVALID_HANDLE;
	*out_len = 0;
	*out_kek_len = 0;
	if (out == NULL || out_kek == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (role != KMS_KEY_TRK && role != KMS_KEY_INK) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = kms_keys_generate(s, &key, role, new_label, pol, 1, 0)) != KMS_OK) {
		key = CK_INVALID_HANDLE;
		goto out;
	}
	/*
	 * The key's two exports, as the key ceremony's enrolment makes them: for the client under
	 * its current TrK, and for the store under the KEK (restore). 32 octets wrap exactly on
	 * every token, so the token wraps them in either mode and the value never leaves it.
	 */
	if ((r = kms_wrap_object(s, pol, current_trk, key, AES256_LEN, out, cap, out_len)) !=
		    KMS_OK ||
	    (r = kms_wrap_object(s, pol, kek, key, AES256_LEN, out_kek, kek_cap, out_kek_len)) !=
		    KMS_OK ||
	    (r = kms_keys_lock(s, key)) != KMS_OK) {
		goto out;
	}
	*out_new = key;
	key = CK_INVALID_HANDLE; /* kept */
	r = KMS_OK;
out:
	if (key != CK_INVALID_HANDLE && kms_p11_destroy_object(s, key) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "keys: cannot destroy the half-made key '%s'", new_label);
	}
	if (r != KMS_OK) {
		kms_memzero(out, cap);
		kms_memzero(out_kek, kek_cap);
		*out_len = 0;
		*out_kek_len = 0;
	}
	return r;
}

/* --- the known-answer test of the token's RFC 5649 mechanism ----------------------------- */

/* OpenSSL's RFC 5649 unwrap: the client side. *out_len 0 if the blob does not unwrap. */
static void
openssl_unwrap(const uint8_t key[AES256_LEN], const uint8_t *blob, size_t blob_len, uint8_t *out,
	       size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0;
	int l2 = 0;

	*out_len = 0;
	if (c == NULL) {
		return;
	}
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) == 1 &&
	    EVP_DecryptUpdate(c, out, &l1, blob, (int)blob_len) == 1 &&
	    EVP_DecryptFinal_ex(c, out + l1, &l2) == 1) {
		*out_len = (size_t)l1 + (size_t)l2;
	}
	EVP_CIPHER_CTX_free(c);
}

/*
 * A session AES-256 key of the known (public, test-only) value key for the probes, with the
 * usage flag flag, allowed the mechanism mech.
 */
static int
probe_key(struct kms_p11_session *s, const uint8_t key[AES256_LEN], CK_ATTRIBUTE_TYPE flag,
	  CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM_TYPE allowed[1] = {mech};
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret, sizeof(kms_p11_class_secret)),
		KMS_P11_ATTR(CKA_KEY_TYPE, &kms_p11_type_aes, sizeof(kms_p11_type_aes)),
		KMS_P11_ATTR(CKA_VALUE, (void *)(uintptr_t)key, AES256_LEN),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(flag, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
	};

	return kms_p11_create_object(s, out, tmpl, 6);
}

int
kms_unwrap_probe(struct kms_p11_session *s, const struct kms_wrap_policy *pol, size_t len)
{
	/* A public test key and test data: nothing here is secret. */
	uint8_t key[AES256_LEN];
	uint8_t data[KMS_WRAP_MAX_DATA];
	uint8_t blob[KMS_WRAP_MAX_BLOB];
	CK_OBJECT_HANDLE wk = CK_INVALID_HANDLE, obj = CK_INVALID_HANDLE;
	EVP_CIPHER_CTX *c = NULL;
	int l1 = 0, l2 = 0, ok;
	size_t i;
	int r;

	if (pol == NULL || len == 0 || len > sizeof(data)) {
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(0xB0 + i);
	}
	for (i = 0; i < len; i++) {
		data[i] = (uint8_t)(i * 17 + 3);
	}
	/* the blob as a ceremony makes it: OpenSSL's RFC 5649 */
	ok = (c = EVP_CIPHER_CTX_new()) != NULL &&
	     EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) == 1 &&
	     EVP_EncryptUpdate(c, blob, &l1, data, (int)len) == 1 &&
	     EVP_EncryptFinal_ex(c, blob + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		ERR_clear_error();
		return KMS_ERR_INTERNAL;
	}
	if ((r = probe_key(s, key, CKA_UNWRAP, pol->kwp, &wk)) != KMS_OK) {
		return r;
	}
	r = kms_unwrap_object(s, pol, wk, blob, (size_t)(l1 + l2), len, &obj);
	if (r == KMS_OK && kms_p11_destroy_object(s, obj) != KMS_OK) {
		r = KMS_ERR_HSM;
	}
	if (r != KMS_OK && r != KMS_ERR_HSM_UNAVAIL) {
		kms_log(KMS_LOG_ERR,
			"keys: the token cannot unwrap a %zu-octet key (RFC 5649, mechanism 0x%lx) "
			"into a key object",
			len, (unsigned long)pol->kwp);
		r = KMS_ERR_UNSUPPORTED;
	}
	if (kms_p11_destroy_object(s, wk) != KMS_OK && r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	return r;
}

int
kms_wrap_probe(struct kms_p11_session *s, const struct kms_wrap_policy *pol, int *out_exact)
{
	/* A public test key and test data: nothing here is secret. */
	static const size_t lens[] = {32, 65, 257};
	uint8_t key[AES256_LEN];
	uint8_t data[257];
	uint8_t blob[KMS_WRAP_MAX_BLOB];
	uint8_t back[KMS_WRAP_MAX_BLOB];
	CK_OBJECT_HANDLE wk = CK_INVALID_HANDLE;
	int exact = 1;
	size_t i;
	int r;

	*out_exact = 0;
	if (pol == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(0xA0 + i);
	}
	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 31 + 7);
	}
	if ((r = probe_key(s, key, CKA_WRAP, pol->kwp, &wk)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct kms_wrap_policy tok = {pol->kwp, KMS_WRAP_TOKEN};
		size_t blob_len = 0;
		size_t back_len = 0;

		if ((r = kms_wrap_bytes(s, &tok, wk, data, lens[i], blob, sizeof(blob),
					&blob_len)) != KMS_OK) {
			goto out;
		}
		openssl_unwrap(key, blob, blob_len, back, &back_len);
		if (back_len == lens[i] && memcmp(back, data, lens[i]) == 0) {
			continue;
		}
		/* The known defect: zero-padded to a multiple of 8 and wrapped at that length. */
		if (lens[i] % 8 != 0 && back_len == (lens[i] + 7) / 8 * 8 &&
		    memcmp(back, data, lens[i]) == 0) {
			exact = 0;
			continue;
		}
		kms_log(KMS_LOG_ERR,
			"keys: the token's RFC 5649 wrap (mechanism 0x%lx) of %zu "
			"octets does not unwrap with OpenSSL",
			(unsigned long)pol->kwp, lens[i]);
		r = KMS_ERR_SELFTEST;
		goto out;
	}
	*out_exact = exact;
	r = KMS_OK;
out:
	if (kms_p11_destroy_object(s, wk) != KMS_OK && r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	return r;
}

int
kms_wrap_choose(struct kms_wrap_policy *pol, int exact, int allow_host_ecb)
{
	if (exact) {
		pol->mode = KMS_WRAP_TOKEN;
		return KMS_OK;
	}
	if (allow_host_ecb) {
		pol->mode = KMS_WRAP_HOST_ECB;
		kms_log(KMS_LOG_WARN,
			"keys: the token's RFC 5649 wrap pads wrongly for lengths that are not a "
			"multiple of 8 (SoftHSM 2.6.1 does): PVT and RSK are wrapped by kms-hsmd "
			"from "
			"the token's AES-ECB under the TrK (development mode, see SECURITY.md)");
		return KMS_OK;
	}
	kms_log(KMS_LOG_ERR,
		"keys: the token's RFC 5649 wrap pads wrongly for lengths that are not a multiple "
		"of 8, so clients could not unwrap PVTs and RSKs; configure the token's correct "
		"mechanism id, or allow the host-ECB wrap (development tokens only)");
	return KMS_ERR_UNSUPPORTED;
}

int
kms_hmac_probe(struct kms_p11_session *s)
{
	/* RFC 4231 test case 6: a 131-octet key (tokens want HMAC keys of at least 32 octets) */
	static const char msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const uint8_t want[32] = {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f,
					 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
					 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14,
					 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54};
	uint8_t key[131];
	uint8_t mac[32];
	CK_MECHANISM_TYPE allowed[1] = {CKM_SHA256_HMAC};
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	int r;

	memset(key, 0xaa, sizeof(key));
	{
		CK_ATTRIBUTE tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret,
				     sizeof(kms_p11_class_secret)),
			KMS_P11_ATTR(CKA_KEY_TYPE, &type_generic, sizeof(type_generic)),
			KMS_P11_ATTR(CKA_VALUE, key, sizeof(key)),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_SIGN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
		};

		if ((r = kms_p11_create_object(s, &k, tmpl, 6)) != KMS_OK) {
			return r;
		}
	}
	r = kms_hmac_sha256(s, k, (const uint8_t *)msg, sizeof(msg) - 1, mac);
	if (r == KMS_OK && memcmp(mac, want, sizeof(want)) != 0) {
		kms_log(KMS_LOG_ERR, "keys: the token's HMAC-SHA256 fails RFC 4231's test case 6");
		r = KMS_ERR_SELFTEST;
	}
	if (kms_p11_destroy_object(s, k) != KMS_OK && r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
	return r;
}

/* DER of the OID of P-256 (prime256v1, 1.2.840.10045.3.1.7): CKA_EC_PARAMS. */
static const uint8_t p256_params[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/*
 * The uncompressed point of CKA_EC_POINT: PKCS#11 says a DER OCTET STRING (04 41 04 x y); some
 * tokens give the raw point (04 x y). Anything else is not a P-256 public key.
 */
static int
read_point(struct kms_p11_session *s, CK_OBJECT_HANDLE pub, uint8_t out[static KMS_EC_POINT_LEN])
{
	uint8_t buf[2 + KMS_EC_POINT_LEN + 8];
	const uint8_t *p = buf;
	size_t len = 0;
	int r;

	if ((r = kms_p11_get_attribute(s, buf, sizeof(buf), &len, pub, CKA_EC_POINT)) != KMS_OK) {
		return r == KMS_ERR_TOO_LARGE ? KMS_ERR_HSM : r;
	}
	if (len == 2 + KMS_EC_POINT_LEN && buf[0] == 0x04 && buf[1] == KMS_EC_POINT_LEN) {
		p = buf + 2;
	} else if (len != KMS_EC_POINT_LEN) {
		return KMS_ERR_HSM;
	}
	if (p[0] != 0x04) {
		return KMS_ERR_HSM;
	}
	memcpy(out, p, KMS_EC_POINT_LEN);
	return KMS_OK;
}

int
kms_keys_generate_tls(struct kms_p11_session *s, CK_OBJECT_HANDLE *out_priv,
		      uint8_t out_point[static KMS_EC_POINT_LEN], const char *label)
{
	static const CK_OBJECT_CLASS class_pub = CKO_PUBLIC_KEY;
	static const CK_OBJECT_CLASS class_priv = CKO_PRIVATE_KEY;
	static const CK_KEY_TYPE type_ec = CKK_EC;
	static const CK_MECHANISM_TYPE allowed[] = {CKM_ECDSA};
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE existing = CK_INVALID_HANDLE;
	size_t label_len = 0;
	int r;

	*out_priv = CK_INVALID_HANDLE;
	memset(out_point, 0, KMS_EC_POINT_LEN);
	if (!label_ok(label, &label_len)) {
		return KMS_ERR_INVALID_ARG;
	}
	r = find_class(s, &existing, CKO_PRIVATE_KEY, label, 1);
	if (r == KMS_OK) {
		kms_log(KMS_LOG_ERR, "keys: a private key labelled '%s' is already in the token",
			label);
		return KMS_ERR_INVALID_ARG;
	}
	if (r != KMS_ERR_INVALID_ARG) {
		return r;
	}
	{
		CK_ATTRIBUTE pub_tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &class_pub, sizeof(class_pub)),
			KMS_P11_ATTR(CKA_KEY_TYPE, &type_ec, sizeof(type_ec)),
			KMS_P11_ATTR(CKA_EC_PARAMS, p256_params, sizeof(p256_params)),
			KMS_P11_ATTR(CKA_LABEL, label, label_len),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_VERIFY, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_ENCRYPT, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_WRAP, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
		};
		CK_ATTRIBUTE priv_tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &class_priv, sizeof(class_priv)),
			KMS_P11_ATTR(CKA_KEY_TYPE, &type_ec, sizeof(type_ec)),
			KMS_P11_ATTR(CKA_LABEL, label, label_len),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_SIGN, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_DECRYPT, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_UNWRAP, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
		};

		CK_ULONG num_priv = kms_p11_fit_template(s, priv_tmpl,
							 sizeof(priv_tmpl) / sizeof(priv_tmpl[0]));

		r = kms_p11_check(
			s,
			kms_p11_fn(s)->C_GenerateKeyPair(kms_p11_handle(s), &gen, pub_tmpl,
							 sizeof(pub_tmpl) / sizeof(pub_tmpl[0]),
							 priv_tmpl, num_priv, &pub, &priv),
			"C_GenerateKeyPair");
	}
	if (r != KMS_OK) {
		return r;
	}
	kms_p11_note_created(s, 2);
	if ((r = read_point(s, pub, out_point)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "keys: the token's new key '%s' has no P-256 public point",
			label);
		memset(out_point, 0, KMS_EC_POINT_LEN);
		if (kms_p11_destroy_object(s, priv) != KMS_OK ||
		    kms_p11_destroy_object(s, pub) != KMS_OK) {
			kms_log(KMS_LOG_ERR, "keys: cannot remove the key pair '%s' again", label);
		}
		return r;
	}
	*out_priv = priv;
	return KMS_OK;
}

int
kms_keys_find_tls(struct kms_p11_session *s, CK_OBJECT_HANDLE *out_priv,
		  uint8_t out_point[static KMS_EC_POINT_LEN], const char *label)
{
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	CK_ULONG type = 0;
	int r;

	*out_priv = CK_INVALID_HANDLE;
	memset(out_point, 0, KMS_EC_POINT_LEN);
	if ((r = kms_keys_find_class(s, &priv, CKO_PRIVATE_KEY, label)) != KMS_OK ||
	    (r = kms_keys_find_class(s, &pub, CKO_PUBLIC_KEY, label)) != KMS_OK ||
	    (r = kms_p11_get_ulong(s, &type, priv, CKA_KEY_TYPE)) != KMS_OK) {
		return r;
	}
	if (type != CKK_EC) {
		kms_log(KMS_LOG_ERR, "keys: the private key '%s' is not an EC key", label);
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = read_point(s, pub, out_point)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "keys: the public key '%s' is not a P-256 point", label);
		memset(out_point, 0, KMS_EC_POINT_LEN);
		return r;
	}
	*out_priv = priv;
	return KMS_OK;
}

int
kms_ecdsa_sign(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *digest, size_t len,
	       uint8_t out[static KMS_ECDSA_SIG_LEN])
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_ULONG sig_len = KMS_ECDSA_SIG_LEN;
	int r;

	memset(out, 0, KMS_ECDSA_SIG_LEN);
	if (len == 0 || len > 64) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_p11_check(s, kms_p11_fn(s)->C_SignInit(kms_p11_handle(s), &mech, key),
			       "C_SignInit")) != KMS_OK) {
		return r;
	}
	r = kms_p11_check(s,
			  kms_p11_fn(s)->C_Sign(kms_p11_handle(s), (CK_BYTE_PTR)(uintptr_t)digest,
						(CK_ULONG)len, out, &sig_len),
			  "C_Sign");
	if (r == KMS_OK && sig_len != KMS_ECDSA_SIG_LEN) {
		r = KMS_ERR_HSM;
	}
	if (r != KMS_OK) {
		memset(out, 0, KMS_ECDSA_SIG_LEN);
	}
	return r;
}

int
kms_ecdsa_verify_point(const uint8_t point[static KMS_EC_POINT_LEN], const uint8_t *digest,
		       size_t len, const uint8_t sig[static KMS_ECDSA_SIG_LEN])
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int der_len;
	int r = KMS_ERR_CRYPTO;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
		    1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
					     KMS_EC_POINT_LEN) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		goto out;
	}
	EVP_PKEY_CTX_free(ctx);
	ctx = NULL;
	if ((es = ECDSA_SIG_new()) == NULL || (br = BN_bin2bn(sig, 32, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + 32, 32, NULL)) == NULL || ECDSA_SIG_set0(es, br, bs) != 1) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	br = NULL;
	bs = NULL; /* transferred */
	if ((der_len = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) != 1) {
		goto out;
	}
	r = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, len) == 1 ? KMS_OK : KMS_ERR_AUTH;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}
