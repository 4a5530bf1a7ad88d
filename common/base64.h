/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_BASE64_H
#define KMS_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Base64 (RFC 4648) decoding, strict: every byte string has exactly one accepted encoding, so
 * a signed or MACed text cannot be altered without the change being seen. The one decoder of
 * the project's outside input: kmsd's signed requests (proto/xml-request.c), IdMS bearer tokens
 * (kms/jwt.c) and kms-client's reading of a KMS's answers (tools/kmsclient.c). Not for secrets:
 * its timing depends on the characters.
 */
enum kms_b64_flags {
	/* RFC 4648 section 4 ("+", "/"), padded with "=" to a multiple of 4 characters */
	KMS_B64_STD = 0,
	/* section 5 ("-", "_"), without padding (RFC 7515, section 2: JWS) */
	KMS_B64_URL = 1,
	/* XML whitespace (space, tab, CR, LF) anywhere is skipped (xsd:base64Binary) */
	KMS_B64_XML_SPACE = 2,
};

/*
 * kms_b64_decode - decode in[0..in_len) (flags: KMS_B64_STD or KMS_B64_URL, optionally with
 * KMS_B64_XML_SPACE) into out, at most cap bytes; *out_len the bytes written. Refused with
 * KMS_ERR_ENCODING: a character outside the alphabet (a space without KMS_B64_XML_SPACE), a
 * count of characters that is 1 mod 4, padding missing, short, too long, inside the text or
 * (KMS_B64_URL) present at all, and bits after the last byte that are not zero. KMS_ERR_TOO_LARGE
 * if the bytes do not fit cap; KMS_ERR_INVALID_ARG for NULL pointers (in may be NULL when
 * in_len is 0) or unknown flags. On failure *out_len is 0 (out may hold a part). The empty text
 * is zero bytes.
 */
int kms_b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *in, size_t in_len,
		   unsigned int flags) KMS_WUR;

#endif /* KMS_COMMON_BASE64_H */
