/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_CEREMONY_P11_H
#define KMS_TOOLS_CEREMONY_P11_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "common/err.h"
#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/p11.h"

/*
 * The key ceremony's operations in the token (kms-ceremony, docs/ceremony-keys.md): PIN entry,
 * token initialisation, the domain KEK made in the token and exported exactly once under the
 * backup key B, its restore, and the clients' TrK and InK: generated in the token, exported once
 * for the client and once under the KEK for the store, and re-imported on restore.
 *
 * Every function returns a project error code (common/err.h), never logs a secret, and wipes
 * every copy of one it makes. The keys made here have the attributes of hsm/keys.h
 * (kms_keys_template), so kms-hsmd uses them exactly as those of kms_keys_generate.
 *
 * One module instance per process: kms_cer_init_token loads and initialises the module on its
 * own, so call it while no struct kms_p11 is open on the same module (C_Initialize would be
 * refused as CKR_CRYPTOKI_ALREADY_INITIALIZED).
 */

#define KMS_CER_MIN_PIN   4
#define KMS_CER_MAX_PIN   255
#define KMS_CER_MAX_LABEL 32 /* CK_TOKEN_INFO.label */
#define KMS_CER_KEY_LEN   32
#define KMS_CER_BLOB_LEN  40 /* RFC 5649 of 32 octets */

/*
 * kms_cer_read_pin - read a PIN for `what` ("SO PIN", "user PIN"): when stdin is a terminal,
 * prompt on /dev/tty (or stderr) with echo off (termios; restored even on SIGINT: block it or
 * restore in a handler), and when confirm is set ask a second time and require equality
 * (mismatch: KMS_ERR_AUTH, message "the two entries differ"). When stdin is not a terminal
 * (scripts, tests), read one line from stdin for each ask (so a confirmed PIN is two lines).
 * PIN: 4..255 printable ASCII octets, no leading/trailing blank. *out in locked memory
 * (kms_secret), owned. Both copies wiped.
 *
 * Details: without a terminal, stdin is read with read(2) one octet at a time, so that exactly
 * one line is consumed per ask (do not read stdin through stdio before: its buffer would hold
 * the lines). SIGINT, SIGTERM, SIGQUIT, SIGHUP and SIGTSTP during terminal entry stop it: echo
 * is restored, then the signal is raised again with its previous disposition (if the process
 * survives, KMS_ERR_IO). Returns KMS_OK; KMS_ERR_AUTH (the entries differ); KMS_ERR_RANGE (not a
 * valid PIN: the message says which rule, never the PIN); KMS_ERR_IO (end of input, read error,
 * interrupted); KMS_ERR_INVALID_ARG; KMS_ERR_NOMEM. *out is NULL on failure.
 */
int kms_cer_read_pin(const char *what, int confirm, struct kms_secret **out) KMS_WUR;

/*
 * kms_cer_init_token - load module (absolute path) on its own (dlopen, C_GetFunctionList,
 * C_Initialize with CKF_OS_LOCKING_OK and params, the module's initialisation string or NULL,
 * as pReserved ... C_Finalize, dlclose before returning), pick the
 * slot (has_slot: that slot id, which must hold a token that is NOT initialised; else the
 * first slot with a token that is not initialised), C_InitToken with so_pin and label
 * (1..32 printable ASCII, blank-padded to 32), open an R/W session, C_Login as SO,
 * C_InitPIN(user_pin), logout, close. Refuses (KMS_ERR_INVALID_ARG, err says so) if a token
 * labelled label is already initialised in any slot. err gets a precise message (which
 * slot, which call failed by CK_RV name). *out_slot the slot used.
 *
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (bad argument, label in use, the slot is initialised or
 * has no token); KMS_ERR_HSM_UNAVAIL (module cannot be loaded, no free token); KMS_ERR_HSM_PIN
 * (a PIN refused by the token); the mapped CK_RV (kms_p11_err) of the failing call. err (err_len
 * octets, may be NULL if err_len is 0) is "" on success.
 */
int kms_cer_init_token(const char *module, const char *params, int has_slot, unsigned long slot,
		       const char *label, const struct kms_secret *so_pin,
		       const struct kms_secret *user_pin, unsigned long *out_slot, char *err,
		       size_t err_len) KMS_WUR;

/*
 * kms_cer_open - kms_p11_new on the token labelled label of module (its initialisation
 * string params, or NULL: kms_p11_config.module_params) with the PIN in memory
 * (kms_p11_config.pin). A wrong PIN is KMS_ERR_HSM_PIN, a missing token
 * KMS_ERR_HSM_UNAVAIL (err says which, in words for a custodian).
 * user_pin is borrowed by *out: it must outlive it (kms_p11_free first). *out is owned, NULL on
 * failure. Other errors as kms_p11_new.
 */
int kms_cer_open(struct kms_p11 **out, const char *module, const char *params, const char *label,
		 const struct kms_secret *user_pin, char *err, size_t err_len) KMS_WUR;

/*
 * kms_cer_new_kek - generate the domain KEK labelled label (refused if the label exists):
 * AES-256 token object with the KEK attributes of hsm/keys.h (wrap/unwrap with pol->kwp,
 * ECB as well in host-ECB mode), but created extractable; wrap it ONCE under wrap_key (32
 * octets, imported as a session AES key for this call only and destroyed) with RFC 5649
 * (pol->kwp; 32 octets wrap exactly even on SoftHSM), then set CKA_EXTRACTABLE false and read
 * it back (must be false, else destroy the KEK and fail). blob -> out (cap, *out_len: 40).
 * *out_kek the handle. On failure nothing is left in the token, out is zeroed.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (label in use or bad, pol NULL); KMS_ERR_TOO_LARGE (cap
 * under 40); KMS_ERR_HSM (the flag did not stick, or a blob of another length); the token's error.
 */
int kms_cer_new_kek(struct kms_p11_session *s, const struct kms_wrap_policy *pol, const char *label,
		    const uint8_t wrap_key[32], uint8_t *out, size_t cap, size_t *out_len,
		    CK_OBJECT_HANDLE *out_kek) KMS_WUR;

/*
 * kms_cer_restore_kek - C_UnwrapKey of blob under wrap_key (session object, destroyed)
 * into a token object labelled label with the KEK attributes, NOT extractable. Refused if
 * the label exists. KMS_ERR_AUTH when the blob does not unwrap (wrong backup key).
 * Also KMS_ERR_INVALID_ARG (label in use or bad; a blob that is not 40 octets); the token's
 * error. *out_kek is CK_INVALID_HANDLE on failure, and nothing is left in the token.
 */
int kms_cer_restore_kek(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
			const char *label, const uint8_t wrap_key[32], const uint8_t *blob,
			size_t len, CK_OBJECT_HANDLE *out_kek) KMS_WUR;

/* A key a client supplies to receive its TrK and InK at enrolment. */
enum kms_cer_ckey_kind {
	KMS_CER_CKEY_RSA,
	KMS_CER_CKEY_AES,
};
struct kms_cer_client_key {
	enum kms_cer_ckey_kind kind;
	EVP_PKEY *rsa;          /* RSA public key, 2048..8192 bits (owned, KMS_CER_CKEY_RSA) */
	struct kms_secret *aes; /* 32 octets (owned, KMS_CER_CKEY_AES) */
};

/*
 * kms_cer_client_key_load - a PEM "PUBLIC KEY" (RSA) file, or a file of exactly 64 hex
 * digits (+ optional newline) = an AES-256 key-encryption key. err precise.
 * The file is opened with O_NOFOLLOW, at most 64 KiB. Returns KMS_OK; KMS_ERR_IO (cannot open
 * or read); KMS_ERR_TOO_LARGE; KMS_ERR_PARSE (neither form); KMS_ERR_RANGE (RSA key size);
 * KMS_ERR_NOMEM. out is cleared first (zeroed on failure); kms_cer_client_key_clear it.
 */
int kms_cer_client_key_load(struct kms_cer_client_key *out, const char *path, char *err,
			    size_t err_len) KMS_WUR;
/* kms_cer_client_key_clear - free and wipe what k holds; k is zeroed. NULL is a no-op. */
void kms_cer_client_key_clear(struct kms_cer_client_key *k);

/*
 * kms_cer_enrol_key - generate a TrK (ink 0: AES-256) or InK (ink 1: generic secret of
 * 32 octets, HMAC-SHA256 only) token object labelled label (refused if it exists) with the
 * attributes of hsm/keys.h but extractable; export it for the client: RSA: C_WrapKey with
 * CKM_RSA_PKCS_OAEP (hash and MGF1 = SHA-1 when oaep_sha1, else SHA-256; SoftHSM 2.6.1 does
 * SHA-1 only) under the client's public key imported as a session object; AES: RFC 5649
 * (pol->kwp) under the client's KEK imported as a session object; into out_client; and wrap
 * it under kek (RFC 5649) into out_kek_blob for the store; then lock it (CKA_EXTRACTABLE
 * false, read back). On failure the key is destroyed, the outputs zeroed.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (label in use or bad, a bad client key);
 * KMS_ERR_TOO_LARGE (client_cap under the export's size: the RSA modulus length, or 40;
 * kek_cap under 40); KMS_ERR_HSM (the lock did not stick); the token's error
 * (KMS_ERR_HSM for SHA-256 OAEP on SoftHSM).
 */
int kms_cer_enrol_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		      CK_OBJECT_HANDLE kek, int ink, const char *label,
		      const struct kms_cer_client_key *ck, int oaep_sha1, uint8_t *out_client,
		      size_t client_cap, size_t *out_client_len, uint8_t *out_kek_blob,
		      size_t kek_cap, size_t *out_kek_len, CK_OBJECT_HANDLE *out) KMS_WUR;

/*
 * kms_cer_import_key - on restore: C_UnwrapKey of a TrK/InK blob (from the store) under
 * kek into a token object labelled label with the attributes of hsm/keys.h, NOT
 * extractable. An existing label: KMS_ERR_INVALID_ARG (*out_exists set to 1, so a restore
 * that is run again can skip it). KMS_ERR_AUTH if it does not unwrap.
 * Also KMS_ERR_INVALID_ARG (a bad label, a blob that is not 40 octets; *out_exists 0); the
 * token's error. *out is CK_INVALID_HANDLE on failure, and nothing is left in the token.
 */
int kms_cer_import_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		       CK_OBJECT_HANDLE kek, int ink, const char *label, const uint8_t *blob,
		       size_t len, int *out_exists, CK_OBJECT_HANDLE *out) KMS_WUR;

#endif /* KMS_TOOLS_CEREMONY_P11_H */
