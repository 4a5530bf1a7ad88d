/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_DEVDOMAIN_H
#define KMS_TOOLS_DEVDOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "proto/msg.h"
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
};

/* kms_devdomain_new - make d; 0 on success. kms_devdomain_free - remove it. */
int kms_devdomain_new(struct kms_devdomain *d, const char *token_label);
int kms_devdomain_free(struct kms_devdomain *d);

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
