/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TESTS_HSM_DOMAIN_H
#define KMS_TESTS_HSM_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "proto/msg.h"
#include "tests/hsm/tmp_token.h"

/*
 * A small development domain for the adapter's tests, made the way the key ceremony makes a
 * real one: a throw-away SoftHSM token with the domain KEK (label KMS_TEST_KEK); a store with
 * the certificate of kms.example.org (one-month key period), KSAK and z_T wrapped under the
 * KEK; clients alice and bob (UEs, each entitled to their own identity) whose TrK and InK
 * values the tests know as the clients do; a revoked identity carol that alice is entitled to;
 * alice's key set for the current period pre-minted. The host-ECB wrap is used (SoftHSM).
 */
#define KMS_TEST_KMS_URI "kms.example.org"
#define KMS_TEST_PERIOD  2592000ULL
#define KMS_TEST_KEK     "kms.kek"
#define KMS_TEST_ALICE   "sip:alice@example.org"
#define KMS_TEST_BOB     "sip:bob@example.org"

struct kms_test_domain {
	struct kms_tmp_token tok;
	uint8_t alice_trk[32], alice_ink[32], bob_trk[32], bob_ink[32];
	uint8_t kpak[KMS_ECCSI_POINT_LEN];
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	uint64_t now_period;
};

/* kms_test_domain_new - make d; 0 on success. kms_test_domain_free - remove it. */
int kms_test_domain_new(struct kms_test_domain *d, const char *token_label);
int kms_test_domain_free(struct kms_test_domain *d);

/* kms_test_ntp_now - now, in NTP seconds. */
uint64_t kms_test_ntp_now(void);

/* kms_test_client_unwrap - RFC 5649 unwrap with OpenSSL, as a client does; 0 if it fails. */
size_t kms_test_client_unwrap(const uint8_t key[32], const uint8_t *blob, size_t blob_len,
			      uint8_t *out);

/*
 * kms_test_client_checks - check a provision reply as its client would: unwrap the three keys
 * with trk, recompute the UID of uri, validate the pair (RFC 6507) and the RSK (RFC 6508)
 * against d's public keys, the period bounds, the KMS URI, and the HMAC with ink. 1 if all
 * holds. The unwrapped SSK and RSK go to out_ssk / out_rsk when not NULL.
 */
int kms_test_client_checks(const struct kms_test_domain *d, const struct kms_proto_provision_rep *p,
			   const uint8_t trk[32], const uint8_t ink[32], const char *uri,
			   uint8_t out_ssk[32], uint8_t out_rsk[257]);

#endif /* KMS_TESTS_HSM_DOMAIN_H */
