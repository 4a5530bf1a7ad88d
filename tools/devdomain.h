/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_DEVDOMAIN_H
#define KMS_TOOLS_DEVDOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "hsm/adapter.h"
#include "hsm/eccsi.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "hsm/sakke.h"
#include "proto/msg.h"
#include "proto/store.h"
#include "tools/devtoken.h"

/*
 * A small development domain, made the way the key ceremony makes a real one (for the hsm
 * tests and kms-bench hsm; the key ceremony of issue 5 will make the real ones): a throw-away
 * SoftHSM token with the domain KEK (label KMS_DEV_KEK); a store with the certificate of
 * kms.example.org (one-month key period), KSAK and z_T wrapped under the KEK; clients alice and bob
 * (UEs, each entitled to their own identity) whose TrK and InK values the tests know as the clients
 * do; a revoked identity carol that alice is entitled to; alice's key set for the current period
 * pre-minted. The host-ECB wrap is used (SoftHSM).
 */
#define KMS_DEV_KMS_URI "kms.example.org"
#define KMS_DEV_PERIOD  2592000ULL
#define KMS_DEV_KEK     "kms.kek"
#define KMS_DEV_ALICE   "sip:alice@example.org"
#define KMS_DEV_BOB     "sip:bob@example.org"

struct kms_devdomain {
	struct kms_devtoken tok;
	uint8_t alice_trk[32], alice_ink[32], bob_trk[32], bob_ink[32];
	uint8_t kpak[KMS_ECCSI_POINT_LEN];
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	uint64_t now_period;
	CK_MECHANISM_TYPE kwp; /* the token's RFC 5649 mechanism: 0x210a SoftHSM, 0x210b NSS */
};

/*
 * The steps of a development domain, for kms-devsetup (var/dev) and kms_devdomain_new.
 *
 * kms_devdomain_ceremony - the key ceremony's part, in the token of s and the store st: the domain
 * KEK (labelled kek_label: an AES-256 token object, never extractable; ECB allowed as well when
 * pol->mode is KMS_WRAP_HOST_ECB), KSAK and z_T generated in this process and stored only wrapped
 * under the KEK (secrets "ksak", "z_t"), and the KMS certificate's public values (kms_uri,
 * cert_uri, which may be "", user_key_period period, offset 0). *out_kek is the KEK's handle;
 * out_kpak and out_zpub get the public keys. With out_eccsi / out_sakke not NULL the issuing
 * keys are handed over (owned: kms_eccsi_kms_free, kms_sakke_kms_free), for pre-minting;
 * otherwise they are freed (and wiped) here. Returns KMS_OK or the first failing step's error
 * (the token's, the store's, KMS_ERR_RANDOM); outputs are cleared on failure.
 */
int kms_devdomain_ceremony(struct kms_p11_session *s, struct kms_store *st,
			   const struct kms_wrap_policy *pol, const char *kek_label,
			   const char *kms_uri, const char *cert_uri, uint64_t period,
			   CK_OBJECT_HANDLE *out_kek, uint8_t out_kpak[KMS_ECCSI_POINT_LEN],
			   uint8_t out_zpub[KMS_SAKKE_POINT_LEN], struct kms_eccsi_kms **out_eccsi,
			   struct kms_sakke_kms **out_sakke) KMS_WUR;

/*
 * kms_devdomain_premint - the pre-minted key set of uri for key period period (the development
 * domain's KMS URI and key period), computed with the issuing keys e and k, wrapped under the
 * KEK kek per pol and stored (kms_store_put_keyset), as the key ceremony's premint step does.
 * Returns KMS_OK, or the first failing step's error.
 */
int kms_devdomain_premint(struct kms_store *st, struct kms_p11_session *s,
			  const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE kek,
			  struct kms_eccsi_kms *e, struct kms_sakke_kms *k, const char *uri,
			  uint64_t period) KMS_WUR;

/*
 * kms_devdomain_known_key - a token object with a value the caller knows, as a development
 * enrolment makes it (the client's trk.hex / ink.hex hold the value): a TrK (ink 0: AES-256,
 * wrap and encrypt, mechanisms RFC 5649 and ECB) or an InK (ink 1: a generic secret, HMAC-SHA256
 * sign only), labelled label, sensitive, private, not extractable. value (32 octets) is borrowed.
 * Returns KMS_OK or the token's error.
 */
int kms_devdomain_known_key(struct kms_p11_session *s, const char *label, const uint8_t value[32],
			    int ink) KMS_WUR;

/*
 * kms_devdomain_enrol - enrol a client: its TrK and InK made in the token with the known values
 * trk and ink (kms_devdomain_known_key, labelled trk_label and ink_label), the client put into the
 * store with class cls, identity added to the roster, and the client entitled to it. Returns KMS_OK
 * or the first failing step's error (the token's or the store's; KMS_ERR_INVALID_ARG for an id or
 * label over KMS_STORE_MAX_ID).
 */
int kms_devdomain_enrol(struct kms_p11_session *s, struct kms_store *st, const char *client_id,
			enum kms_client_class cls, const char *identity, const char *trk_label,
			const uint8_t trk[32], const char *ink_label,
			const uint8_t ink[32]) KMS_WUR;

/*
 * kms_devdomain_new - make d; 0 on success (on failure nothing of it is left). kms_devdomain_free -
 * remove it (a second call, or one after a failed new, is a no-op).
 */
int kms_devdomain_new(struct kms_devdomain *d, const char *token_label);
/* kms_devdomain_new_kind - the same in a token of the given kind (an NSS softoken database
 * wraps with the token's own RFC 5649, 0x210b; it cannot unwrap the 257-octet RSK, so the
 * pre-minted issuer cannot serve from it, docs/tokens.md). */
int kms_devdomain_new_kind(struct kms_devdomain *d, const char *token_label,
			   enum kms_devtoken_kind kind);
int kms_devdomain_free(struct kms_devdomain *d);

/*
 * kms_devdomain_adapter_cfg - the adapter configuration that serves a development domain whose
 * store is store_path (borrowed) with issuer: the KEK KMS_DEV_KEK, raw identifiers, the token's
 * RFC 5649 mechanism kwp, the host-ECB wrap allowed only where the token needs it (SoftHSM's
 * CKM_AES_KEY_WRAP_PAD), the current and the next key period served. For the hsm tests and
 * kms-bench, as kms-devsetup's kms-hsmd.conf says the same.
 */
void kms_devdomain_adapter_cfg(struct kms_adapter_config *cfg, const char *store_path,
			       CK_MECHANISM_TYPE kwp, enum kms_issuer issuer);

/* kms_devdomain_ntp_now - now, in NTP seconds. */
uint64_t kms_devdomain_ntp_now(void);

/* kms_devdomain_client_unwrap - RFC 5649 unwrap with OpenSSL, as a client does; 0 if it fails. */
size_t kms_devdomain_client_unwrap(const uint8_t key[32], const uint8_t *blob, size_t blob_len,
				   uint8_t *out);

/*
 * kms_devdomain_client_checks - check a provision reply as its client would: unwrap the three keys
 * with trk, recompute the UID of uri, validate the pair (RFC 6507) and the RSK (RFC 6508)
 * against d's public keys, the period bounds, the KMS URI, and the HMAC with ink. 1 if all
 * holds. The unwrapped SSK and RSK go to out_ssk / out_rsk when not NULL.
 */
int kms_devdomain_client_checks(const struct kms_devdomain *d,
				const struct kms_proto_provision_rep *p, const uint8_t trk[32],
				const uint8_t ink[32], const char *uri, uint8_t out_ssk[32],
				uint8_t out_rsk[257]);

#endif /* KMS_TOOLS_DEVDOMAIN_H */
