/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_KAT_H
#define KMS_HSM_KAT_H

#include "common/err.h"

/*
 * kms_mikey_selftest - the known-answer tests of the issuing core, for programs to run before
 * they issue anything (kms-hsmd at start-up, kms-bench selftest): the RFC 6507 ECCSI vector
 * (KPAK, PVT, HS, SSK and the client check), the RFC 6508 SAKKE vector (Z_T, RSK, the KMS
 * self-check and the client's pairing check, and its failure for another identifier) and a
 * TS 33.180 UID vector. On failure *out_name (if not NULL) names the first test that failed.
 * KMS_OK, or KMS_ERR_SELFTEST; no secret is involved (the vectors are public).
 */
int kms_mikey_selftest(const char **out_name) KMS_WUR;

#endif /* KMS_HSM_KAT_H */
