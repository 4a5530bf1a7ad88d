/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/signedinfo.h"

#include <string.h>

#include <openssl/evp.h>

#include "common/banned.h"

/* The canonical text around the base64 digest. Every empty element is a start-end tag pair. */
static const char head[] =
	"<ds:SignedInfo " KMS_SIGNEDINFO_NS ">"
	"<ds:CanonicalizationMethod Algorithm=\"" KMS_SIGNEDINFO_C14N
	"\"></ds:CanonicalizationMethod>"
	"<ds:SignatureMethod Algorithm=\"" KMS_SIGNEDINFO_HMAC "\"></ds:SignatureMethod>"
	"<ds:Reference URI=\"" KMS_SIGNEDINFO_REF "\"><ds:Transforms>"
	"<ds:Transform Algorithm=\"" KMS_SIGNEDINFO_ENVELOPED "\"></ds:Transform></ds:Transforms>"
	"<ds:DigestMethod Algorithm=\"" KMS_SIGNEDINFO_DIGEST "\"></ds:DigestMethod>"
	"<ds:DigestValue>";
static const char tail[] = "</ds:DigestValue></ds:Reference></ds:SignedInfo>";

#define B64_LEN 44 /* base64 of 32 bytes */

_Static_assert(sizeof(head) - 1 + B64_LEN + sizeof(tail) - 1 == KMS_SIGNEDINFO_LEN,
	       "KMS_SIGNEDINFO_LEN is the length of the canonical SignedInfo");

int
kms_signedinfo_build(char *out, size_t out_cap, size_t *out_len, const uint8_t digest[static 32])
{
	char b64[B64_LEN + 1];
	size_t off = 0;

	if (out_cap < KMS_SIGNEDINFO_LEN) {
		return KMS_ERR_TOO_LARGE;
	}
	if (EVP_EncodeBlock((unsigned char *)b64, digest, 32) != B64_LEN) {
		return KMS_ERR_INTERNAL;
	}
	memcpy(out + off, head, sizeof(head) - 1);
	off += sizeof(head) - 1;
	memcpy(out + off, b64, B64_LEN);
	off += B64_LEN;
	memcpy(out + off, tail, sizeof(tail) - 1);
	off += sizeof(tail) - 1;
	*out_len = off;
	return KMS_OK;
}
