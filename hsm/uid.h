/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_UID_H
#define KMS_HSM_UID_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * TS 33.180 Annex F.2.1 MIKEY-SAKKE UID (UserIdFormat 2), key periods, and NTP time.
 * All times here are NTP seconds: seconds since 1900-01-01T00:00:00Z.
 */
#define KMS_UID_LEN         32
#define KMS_UID_MAX_URI_LEN 2048          /* user URI and KMS URI, each */
#define KMS_NTP_UNIX_OFFSET 2208988800ULL /* 1970-01-01 in NTP seconds */

/*
 * kms_uid_compute - UID = SHA-256(0x00 || "MIKEY-SAKKE-UID" || 00 0F || uri || L1 || kms_uri
 * || L2 || period || L3 || offset || L4 || period_no || L5), each L a 2-octet big-endian
 * length, integers as minimal big-endian octets (0 is one 00 octet). URIs of 1 to
 * KMS_UID_MAX_URI_LEN octets, period > 0; KMS_ERR_INVALID_ARG otherwise.
 */
int kms_uid_compute(uint8_t out[KMS_UID_LEN], const char *uri, size_t uri_len, const char *kms_uri,
		    size_t kms_uri_len, uint64_t period, uint64_t offset,
		    uint64_t period_no) KMS_WUR;

/*
 * kms_key_period_no - floor((ntp_seconds - offset) / period). KMS_ERR_RANGE if ntp_seconds <
 * offset; KMS_ERR_INVALID_ARG if period is 0.
 */
int kms_key_period_no(uint64_t *out, uint64_t ntp_seconds, uint64_t period,
		      uint64_t offset) KMS_WUR;

/*
 * kms_key_period_bounds - the NTP seconds at which period period_no starts (inclusive) and
 * ends (exclusive): offset + n * period and offset + (n + 1) * period. KMS_ERR_RANGE on overflow.
 */
int kms_key_period_bounds(uint64_t *out_start, uint64_t *out_end, uint64_t period_no,
			  uint64_t period, uint64_t offset) KMS_WUR;

/*
 * kms_ntp_parse_hex - parse the 64-bit NTP timestamp of a request URI: exactly 16 hex digits
 * (either case, nothing else), seconds in the high 32 bits and the fraction in the low 32.
 * *out_ts is the whole 64-bit value; KMS_ERR_PARSE / KMS_ERR_ENCODING on anything else, and
 * *out_ts is 0 then. The input is untrusted (it comes from the network): len is checked first.
 */
int kms_ntp_parse_hex(uint64_t *out_ts, const char *s, size_t len) KMS_WUR;

/* kms_ntp_seconds - the seconds (era 0) of a 64-bit NTP timestamp. */
uint64_t kms_ntp_seconds(uint64_t ts);

/* kms_ntp_from_unix / kms_ntp_to_unix - convert seconds between the two epochs. */
uint64_t kms_ntp_from_unix(uint64_t unix_seconds);
/* KMS_ERR_RANGE if ntp_seconds is before 1970. */
int kms_ntp_to_unix(uint64_t *out, uint64_t ntp_seconds) KMS_WUR;

/*
 * The identifier that ECCSI and SAKKE consume (kms-interface.md): the raw 32-octet UID by
 * default; the 64-character ASCII hex of the UID where a deployment's clients expect that
 * (the case of the digits is part of the setting).
 */
enum kms_id_format {
	KMS_ID_RAW = 0,
	KMS_ID_HEX_LOWER = 1,
	KMS_ID_HEX_UPPER = 2,
};
#define KMS_ID_MAX_LEN 64

/* kms_uid_identifier - write the identifier for uid in format fmt; *out_len gets 32 or 64. */
int kms_uid_identifier(uint8_t out[KMS_ID_MAX_LEN], size_t *out_len, const uint8_t uid[KMS_UID_LEN],
		       enum kms_id_format fmt) KMS_WUR;

#endif /* KMS_HSM_UID_H */
