/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_KEYS_H
#define KMS_HSM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/err.h"
#include "common/secmem.h"
#include "hsm/p11.h"

/*
 * The key hierarchy in the token (ARCHITECTURE.md): the domain KEK, the per-client transport
 * keys (TrK) and integrity keys (InK), and the wrapping of key material under them.
 *
 * Attributes, as tight as PKCS#11 and the token allow (tests/hsm reads them back):
 *   every key: CKA_SENSITIVE, CKA_PRIVATE, no CKA_DERIVE, CKA_ALLOWED_MECHANISMS listing
 *   exactly the one or two mechanisms it exists for, and CKA_EXTRACTABLE false (a TrK or InK is
 *   extractable only until its exports, one for the client and one under the KEK for the store,
 *   then locked: PKCS#11 lets the flag go from true to false, never back);
 *   KEK (AES-256, token object): wrap and unwrap with the RFC 5649 mechanism only;
 *   TrK (AES-256, token object): wrap only, with CKA_WRAP_TEMPLATE admitting only secret keys;
 *   in the host-ECB mode below, a KEK or TrK may also encrypt with CKM_AES_ECB, and nothing else
 *     (the ceremony wraps PVTs and RSKs under the KEK as kms-hsmd does under a TrK);
 *   InK (generic secret of 32 octets, token object): HMAC-SHA256 sign and verify only (tokens
 *     such as SoftHSM refuse HMAC with an AES-typed key, so the InK is never the TrK).
 *
 * RFC 5649 (AES key wrap with padding). Clients unwrap with any RFC 5649 implementation and must
 * get exactly the key's octets. A conforming token's mechanism (the id is configuration: 0x210B
 * CKM_AES_KEY_WRAP_KWP of PKCS#11 3.0, or 0x210A CKM_AES_KEY_WRAP_PAD of 2.40 where the token
 * means RFC 5649 by it, as SoftHSM does and NSS, which reads it as RFC 3394 with PKCS #7
 * padding, does not; vendor ids on some HSMs) does that; SoftHSM 2.6.1's zero-pads first and
 * writes the padded length, so a 65-octet
 * PVT unwraps elsewhere to 72 octets and a 257-octet RSK to 264, and it accepts no IV for
 * CKM_AES_KEY_WRAP, wraps with nothing else (CKM_AES_ECB and _CBC are refused), so no sequence
 * of its C_WrapKey calls can produce a correct blob. kms_wrap_probe() finds out which kind of
 * token this is at start-up, by a known-answer test checked with OpenSSL. Then:
 *   KMS_WRAP_TOKEN: the token wraps (C_WrapKey); material the host holds is first imported as
 *     a session object that is destroyed right after;
 *   KMS_WRAP_HOST_ECB: for tokens with the defect, and only where the configuration allows it:
 *     kms-hsmd computes RFC 5649 itself from the token's AES-ECB encryption under the TrK (the
 *     TrK never leaves the token, but the material passes through kms-hsmd's locked memory, and
 *     the TrK may then encrypt with ECB). A development mode: SECURITY.md says what it costs.
 */

/* PKCS#11 3.0's RFC 5649 mechanism (p11-kit's header is 2.40 and lacks the name) */
#define KMS_CKM_AES_KEY_WRAP_KWP 0x210BUL

#define KMS_KEYS_MAX_LABEL 128
#define KMS_WRAP_MAX_DATA  512                      /* longest material we wrap (an RSK is 257) */
#define KMS_WRAP_MAX_BLOB  (KMS_WRAP_MAX_DATA + 16) /* RFC 5649 adds at most 15 octets */

enum kms_key_role {
	KMS_KEY_KEK = 0,
	KMS_KEY_TRK = 1,
	KMS_KEY_INK = 2,
};

enum kms_wrap_mode {
	KMS_WRAP_TOKEN = 0,
	KMS_WRAP_HOST_ECB = 1,
};

struct kms_wrap_policy {
	CK_MECHANISM_TYPE kwp;   /* the token's RFC 5649 mechanism (configuration) */
	enum kms_wrap_mode mode; /* chosen by kms_wrap_choose() */
};

/*
 * kms_keys_generate - generate a key of the given role in the token, labelled label (1 to
 * KMS_KEYS_MAX_LABEL printable ASCII octets), with the attributes listed above; a token object
 * unless session is set (tests). exportable: a TrK or InK that is to be exported (wrapped)
 * is created extractable; kms_keys_lock() then clears the flag. A KEK is never extractable.
 * host_ecb: a TrK may also encrypt with CKM_AES_ECB (KMS_WRAP_HOST_ECB). *out is the handle.
 * Returns KMS_OK, KMS_ERR_INVALID_ARG, or the token's error (kms_p11_check).
 */
int kms_keys_generate(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, enum kms_key_role role,
		      const char *label, const struct kms_wrap_policy *pol, int exportable,
		      int session) KMS_WUR;

/*
 * kms_keys_template - the template kms_keys_generate uses for a key of role (the attributes
 * listed above), for callers that make such a key another way: the key ceremony generates an
 * extractable KEK for its single backup export, and C_UnwrapKey re-imports a KEK, TrK or InK on
 * restore (for_unwrap: without CKA_VALUE_LEN, which the blob fixes and SoftHSM refuses there).
 * extractable sets CKA_EXTRACTABLE (for any role: the caller locks the key after its export);
 * session makes a session object. t->attrs (t->num_attrs entries) points into *t and to label
 * (borrowed: both must outlive the use of the template; never copy *t); t->gen is the
 * C_GenerateKey mechanism. Returns KMS_OK or KMS_ERR_INVALID_ARG (pol NULL, a bad label or role;
 * *t is then zeroed).
 */
#define KMS_KEYS_MAX_ATTRS 17
struct kms_keys_tmpl {
	CK_ATTRIBUTE attrs[KMS_KEYS_MAX_ATTRS];
	CK_ULONG num_attrs;
	CK_MECHANISM gen;
	/* the values the attributes point to */
	CK_MECHANISM_TYPE allowed[2];
	CK_ULONG num_allowed;
	CK_ULONG value_len;
	CK_KEY_TYPE type;
	CK_BBOOL token, extractable, wrap, unwrap, encrypt, sign, verify;
	CK_ATTRIBUTE wrap_tmpl[1];
};
int kms_keys_template(struct kms_keys_tmpl *t, enum kms_key_role role, const char *label,
		      const struct kms_wrap_policy *pol, int extractable, int session,
		      int for_unwrap) KMS_WUR;

/*
 * kms_keys_lock - CKA_EXTRACTABLE := false on key (after its exports), then read back: KMS_OK
 * only if the token now says false. KMS_ERR_HSM (logged) if it kept the key extractable although
 * C_SetAttributeValue succeeded; otherwise the token's error.
 */
int kms_keys_lock(struct kms_p11_session *s, CK_OBJECT_HANDLE key) KMS_WUR;

/*
 * kms_keys_token_present - is the session's token still there (C_GetTokenInfo)? KMS_OK, or
 * KMS_ERR_HSM_UNAVAIL (and the PKCS#11 layer goes down to restart). Session objects can outlive
 * their token on some tokens (SoftHSM): callers that use session copies of keys ask this first.
 */
int kms_keys_token_present(struct kms_p11_session *s) KMS_WUR;

/*
 * kms_keys_find - the one secret-key token object labelled label. KMS_ERR_INVALID_ARG if none
 * or several carry the label (the message says which).
 */
int kms_keys_find(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, const char *label) KMS_WUR;

/*
 * kms_keys_find_class - as kms_keys_find, for the one token object of class cls (CKO_SECRET_KEY,
 * CKO_PRIVATE_KEY, CKO_PUBLIC_KEY) labelled label. kms_keys_find is this with CKO_SECRET_KEY.
 */
int kms_keys_find_class(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_OBJECT_CLASS cls,
			const char *label) KMS_WUR;

/*
 * kms_keys_destroy_label - destroy every secret-key token object labelled label that cannot
 * unwrap (CKA_UNWRAP false: a client's TrK or InK; never a KEK, whatever its label), for a key
 * the store has retired; *out_n says how many (0: none there). Returns KMS_OK;
 * KMS_ERR_INVALID_ARG (a label kms_keys_generate would refuse); KMS_ERR_HSM_UNAVAIL (the token
 * is gone) or the token's error (kms_p11_check), after which some may have been destroyed.
 */
int kms_keys_destroy_label(struct kms_p11_session *s, const char *label, size_t *out_n) KMS_WUR;

/*
 * kms_keys_client_key_labels - the labels of the token objects kms_keys_destroy_label could
 * destroy (secret keys, CKA_TOKEN true, CKA_UNWRAP false): cb(ctx, label) for each, in the
 * token's order, after the search has ended (cb may use the session). An object whose label is
 * not one kms_keys_generate accepts is skipped. At most max objects: a token with more is
 * KMS_ERR_TOO_LARGE before any cb. Returns KMS_OK; cb's value if not KMS_OK; KMS_ERR_NOMEM;
 * KMS_ERR_TOO_LARGE; the token's error (kms_p11_check).
 */
int kms_keys_client_key_labels(struct kms_p11_session *s, size_t max,
			       int (*cb)(void *ctx, const char *label), void *ctx) KMS_WUR;

/*
 * kmsd's TLS key (SECURITY.md): an ECDSA P-256 key pair in the token, both halves labelled
 * alike; kms-hsmd signs TLS handshakes' digests with the private half (KMS_PROTO_TLS_SIGN).
 *   private key (token object): CKA_SIGN only, CKA_SENSITIVE, CKA_PRIVATE, CKA_EXTRACTABLE
 *     false, CKA_ALLOWED_MECHANISMS {CKM_ECDSA}, no CKA_DERIVE, CKA_DECRYPT, CKA_UNWRAP;
 *   public key (token object): CKA_VERIFY only.
 */
#define KMS_EC_POINT_LEN  65 /* an uncompressed P-256 point: 04 || x || y */
#define KMS_ECDSA_SIG_LEN 64 /* r || s */

/*
 * kms_keys_generate_tls - generate kmsd's TLS key pair in the token, labelled label (as
 * kms_keys_generate), with the attributes above; out_point gets the public point (uncompressed),
 * *out_priv the private key's handle. A label already in use for a private key is refused
 * (KMS_ERR_INVALID_ARG). Returns KMS_OK, KMS_ERR_INVALID_ARG, KMS_ERR_HSM (the token returned no
 * valid P-256 point; the pair is destroyed again), or the token's error.
 */
int kms_keys_generate_tls(struct kms_p11_session *s, CK_OBJECT_HANDLE *out_priv,
			  uint8_t out_point[static KMS_EC_POINT_LEN], const char *label) KMS_WUR;

/*
 * kms_keys_find_tls - the private key labelled label (one CKO_PRIVATE_KEY token object) into
 * *out_priv, and the public point of the public key of the same label (CKA_EC_POINT, DER OCTET
 * STRING or raw, must be an uncompressed P-256 point) into out_point. Returns KMS_OK;
 * KMS_ERR_INVALID_ARG (no such key, or several; the log says which); KMS_ERR_HSM (not a P-256
 * point); or the token's error.
 */
int kms_keys_find_tls(struct kms_p11_session *s, CK_OBJECT_HANDLE *out_priv,
		      uint8_t out_point[static KMS_EC_POINT_LEN], const char *label) KMS_WUR;

/*
 * kms_ecdsa_sign - CKM_ECDSA (C_SignInit + C_Sign) with the EC private key key over digest
 * (len octets, as it is): out gets r || s. Returns KMS_OK, KMS_ERR_INVALID_ARG (len 0 or over
 * 64), KMS_ERR_HSM (a signature that is not 64 octets), or the token's error; out is zeroed on
 * failure.
 */
int kms_ecdsa_sign(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *digest,
		   size_t len, uint8_t out[static KMS_ECDSA_SIG_LEN]) KMS_WUR;

/*
 * kms_ecdsa_verify_point - verify the ECDSA P-256 signature sig (r || s) of digest with the
 * public point (uncompressed) in OpenSSL, outside the token. KMS_OK, KMS_ERR_AUTH (it does not
 * verify), KMS_ERR_CRYPTO (not a point on P-256), KMS_ERR_NOMEM.
 */
int kms_ecdsa_verify_point(const uint8_t point[static KMS_EC_POINT_LEN], const uint8_t *digest,
			   size_t len, const uint8_t sig[static KMS_ECDSA_SIG_LEN]) KMS_WUR;

/*
 * kms_wrap_probe - the known-answer test of the token's RFC 5649 mechanism pol->kwp: a session
 * AES key of known (public, test-only) value wraps known data of 32, 65 and 257 octets, and
 * OpenSSL's RFC 5649 unwrap must give back exactly those octets. *out_exact is 1 if all three
 * do, 0 if the token has the padding defect (only the lengths that are multiples of 8 come
 * back exact). Any other outcome (a blob that does not unwrap at all, a wrong multiple-of-8
 * result, a token error) is KMS_ERR_SELFTEST or the token's error: the token cannot serve.
 */
int kms_wrap_probe(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		   int *out_exact) KMS_WUR;

/*
 * kms_unwrap_probe - can the token C_UnwrapKey (pol->kwp) an RFC 5649 blob of a len-octet
 * key, made by OpenSSL under a session key of known (public, test-only) value, into a key
 * object of exactly len octets (kms_unwrap_object)? The pre-minted issuer needs 257 octets
 * (an RSK): NSS's softoken unwraps generic secrets of at most 256. KMS_OK; KMS_ERR_UNSUPPORTED
 * (logged); KMS_ERR_HSM_UNAVAIL; KMS_ERR_INVALID_ARG (len 0 or above KMS_WRAP_MAX_DATA).
 */
int kms_unwrap_probe(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		     size_t len) KMS_WUR;

/*
 * kms_hmac_probe - the known-answer test of the token's HMAC-SHA256 (RFC 4231 test case 6) with
 * a public test key in a session object. KMS_OK, KMS_ERR_SELFTEST, or the token's error.
 */
int kms_hmac_probe(struct kms_p11_session *s) KMS_WUR;

/*
 * kms_wrap_choose - set pol->mode from the probe's verdict: KMS_WRAP_TOKEN when the token is
 * exact; KMS_WRAP_HOST_ECB when it is not and allow_host_ecb is set (logged as a warning);
 * otherwise KMS_ERR_UNSUPPORTED with a message that names the defect and the setting.
 */
int kms_wrap_choose(struct kms_wrap_policy *pol, int exact, int allow_host_ecb) KMS_WUR;

/*
 * kms_wrap_bytes - RFC 5649 wrap of data (1..KMS_WRAP_MAX_DATA octets, secret, borrowed) under
 * the wrapping key wk (a TrK or the KEK) into out (cap octets; *out_len set), per pol->mode.
 * Nothing of data is left in the token or in this function's memory afterwards. Returns KMS_OK,
 * KMS_ERR_INVALID_ARG, KMS_ERR_TOO_LARGE (cap), or the token's error; out is zeroed on failure.
 */
int kms_wrap_bytes(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		   CK_OBJECT_HANDLE wk, const uint8_t *data, size_t len, uint8_t *out, size_t cap,
		   size_t *out_len) KMS_WUR;

/* The most values kms_wrap_bytes_many wraps at once (a key set is three). */
#define KMS_WRAP_MANY_MAX 8

/*
 * kms_wrap_bytes_many - kms_wrap_bytes of num values (1..KMS_WRAP_MANY_MAX) under one wrapping
 * key: data[m] (len[m] octets) into out[m] (cap octets each; out_len[m] set). In
 * KMS_WRAP_HOST_ECB mode the values whose length is not a multiple of 8 share one ECB stream:
 * a key set's PVT and RSK cost as many token calls as the RSK alone. Returns as kms_wrap_bytes;
 * on failure every out[m] is zeroed.
 */
int kms_wrap_bytes_many(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
			CK_OBJECT_HANDLE wk, size_t num, const uint8_t *const data[],
			const size_t len[], uint8_t *const out[], size_t cap,
			size_t out_len[]) KMS_WUR;

/*
 * kms_wrap_object - RFC 5649 wrap of the secret-key object obj of value_len octets (already in
 * the token, e.g. unwrapped from the KEK) under wk: the value never leaves the token. The
 * caller gives the length (tokens do not all keep CKA_VALUE_LEN; SoftHSM 2.6.1 leaves it 0 on
 * unwrapped objects). In KMS_WRAP_HOST_ECB mode only multiples of 8 octets, which such tokens
 * wrap exactly; other lengths are KMS_ERR_UNSUPPORTED (the value would have to come out).
 */
int kms_wrap_object(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		    CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE obj, size_t value_len, uint8_t *out,
		    size_t cap, size_t *out_len) KMS_WUR;

/*
 * kms_unwrap_object - C_UnwrapKey of an RFC 5649 blob under the KEK into a sensitive session
 * object (generic secret, extractable only so that it can be wrapped again) of expect_len
 * octets. *out is the handle; destroy it (kms_p11_destroy_object) when done. KMS_ERR_AUTH if
 * the blob does not unwrap (forged, truncated, another KEK), KMS_ERR_RANGE for a wrong length.
 */
int kms_unwrap_object(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		      CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, size_t expect_len,
		      CK_OBJECT_HANDLE *out) KMS_WUR;

/*
 * kms_unwrap_secret - unwrap an RFC 5649 blob under the KEK into locked memory (*out, owned;
 * kms_secret_free it): the online issuer's master secrets. The token holds the plaintext only
 * as a non-sensitive session object for the moment it takes to read it, then destroys it.
 * Errors as kms_unwrap_object.
 */
int kms_unwrap_secret(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		      CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, size_t expect_len,
		      struct kms_secret **out) KMS_WUR;

/*
 * kms_unwrap_secret_to - kms_unwrap_secret into the caller's buffer out of exactly expect_len
 * octets, which should be locked memory (kms_secmem_alloc): a key set element unwrapped for
 * every request without a mapping of its own. out is zeroed on failure.
 */
int kms_unwrap_secret_to(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
			 CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t blob_len, uint8_t *out,
			 size_t expect_len) KMS_WUR;

/* kms_hmac_sha256 - HMAC-SHA256 of data under the InK key, computed by the token. */
int kms_hmac_sha256(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *data,
		    size_t len, uint8_t out[32]) KMS_WUR;

/*
 * kms_hmac_sha256_verify - check, in the token (C_Verify, CKM_SHA256_HMAC), that mac is the
 * HMAC-SHA256 of data under the InK key: KMS_OK; KMS_ERR_AUTH (it is not); the token's error.
 */
int kms_hmac_sha256_verify(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const uint8_t *data,
			   size_t len, const uint8_t mac[32]) KMS_WUR;

/*
 * kms_keys_rotate - a new TrK or InK (role) labelled new_label, generated in the token
 * (extractable for the moment of its exports) and exported twice, as the key ceremony's enrolment
 * does: wrapped under the client's current TrK current_trk into out (cap octets, *out_len), which
 * the client unwraps, and wrapped under the domain KEK kek into out_kek (kek_cap octets,
 * *out_kek_len), which the store keeps (kms_store_put_client_with_keys) for `kms-ceremony
 * restore`; both RFC 5649 of 32 octets (40 octets), made by the token, per pol. Then locked:
 * CKA_EXTRACTABLE false, read back (kms_keys_lock). *out_new is its handle. Returns KMS_OK;
 * KMS_ERR_INVALID_ARG (role not a TrK or InK, a bad label, a NULL output buffer); KMS_ERR_HSM (a
 * blob of another length, the flag did not stick); the token's error (e.g. a cap under 40). On
 * failure the new key is destroyed again, both outputs are zeroed and their lengths 0.
 */
int kms_keys_rotate(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		    CK_OBJECT_HANDLE current_trk, CK_OBJECT_HANDLE kek, enum kms_key_role role,
		    const char *new_label, CK_OBJECT_HANDLE *out_new, uint8_t *out, size_t cap,
		    size_t *out_len, uint8_t *out_kek, size_t kek_cap, size_t *out_kek_len) KMS_WUR;

#endif /* KMS_HSM_KEYS_H */
