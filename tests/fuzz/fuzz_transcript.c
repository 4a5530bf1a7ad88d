/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_transcript - kms_transcript_verify (tools/transcript.c) on arbitrary bytes, twice:
 *   1. the input as a whole transcript: any verdict but a crash; outputs set exactly on
 *      success (a 64-digit upper-case fingerprint, a file ending in LF), cleared otherwise, and
 *      a reason that starts with "line " and holds no control character;
 *   2. the input as the body of a transcript, signed here with a P-256 key of this process
 *      (signed-by and signature lines appended), so that the checks behind the signature are
 *      reached: the signed file verifies exactly when the body alone is a well-formed unfinished
 *      run ("did not finish"), and then with this key's fingerprint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "tests/fuzz/fuzz.h"
#include "tools/transcript.h"

#include "common/banned.h"

#define MAX_SIGNED_BODY (64 * 1024) /* longer bodies test nothing new and slow the search */
#define TAIL_LEN        (11 + 130 + 1 + 64 + 1 + 11 + 128 + 1)

static EVP_PKEY *key;
static uint8_t point[65];
static char key_fpr[65];

static void
setup(void)
{
	size_t len = 0;

	key = EVP_EC_gen("P-256");
	CHECK(key != NULL);
	CHECK(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
					      &len) == 1 &&
	      len == sizeof(point));
	kms_transcript_fingerprint(point, key_fpr);
}

static void
sign_digest(const uint8_t md[32], uint8_t sig[64])
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es;

	CHECK(pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	      EVP_PKEY_sign(pc, der, &der_len, md, 32) == 1);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	CHECK(es != NULL);
	CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
	      BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(pc);
}

/* The invariants of one verdict; returns it. */
static int
check_verify(const uint8_t *data, size_t len, char *err, size_t err_len, size_t *out_entries)
{
	char fpr[65];
	size_t entries = 12345, i, lines = 0;
	int r;

	memset(fpr, 'x', sizeof(fpr));
	r = kms_transcript_verify(data, len, fpr, &entries, err, err_len);
	CHECK(r == KMS_OK || r == KMS_ERR_PARSE || r == KMS_ERR_AUTH || r == KMS_ERR_TRUNCATED ||
	      r == KMS_ERR_TOO_LARGE || r == KMS_ERR_NOMEM);
	CHECK(strnlen(err, err_len) < err_len);
	for (i = 0; err[i] != '\0'; i++) {
		CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] < 0x7f);
	}
	if (r != KMS_OK) {
		CHECK(fpr[0] == '\0' && entries == 0);
		CHECK(strncmp(err, "line ", 5) == 0 || r == KMS_ERR_NOMEM);
		*out_entries = 0;
		return r;
	}
	CHECK(err[0] == '\0');
	CHECK(strlen(fpr) == 64);
	for (i = 0; i < 64; i++) {
		CHECK((fpr[i] >= '0' && fpr[i] <= '9') || (fpr[i] >= 'A' && fpr[i] <= 'F'));
	}
	CHECK(len > 0 && data[len - 1] == '\n');
	for (i = 0; i < len; i++) {
		lines += data[i] == '\n';
	}
	CHECK(entries + 8 == lines); /* format, 5 header fields, signed-by, signature */
	*out_entries = entries;
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160], small[12], ph[131], sh[129];
	uint8_t md[32], sig[64];
	uint8_t *buf;
	size_t entries, entries2, len;
	int raw, r, unfinished, n;

	if (key == NULL) {
		setup();
	}
	/* 1. the input as a transcript; a small reason buffer changes nothing but the reason */
	raw = check_verify(data, size, err, sizeof(err), &entries);
	unfinished = raw == KMS_ERR_TRUNCATED && strstr(err, "did not finish") != NULL;
	CHECK(check_verify(data, size, small, sizeof(small), &entries2) == raw);
	CHECK(entries2 == entries);

	/* 2. the input as a body, signed here */
	if (size > MAX_SIGNED_BODY) {
		return 0;
	}
	buf = malloc(size + TAIL_LEN + 1);
	CHECK(buf != NULL);
	memcpy(buf, data, size);
	CHECK(kms_hex_encode(ph, sizeof(ph), point, sizeof(point)) == KMS_OK);
	n = snprintf((char *)buf + size, TAIL_LEN + 1, "signed-by: %s %s\n", ph, key_fpr);
	CHECK(n == 11 + 130 + 1 + 64 + 1);
	len = size + (size_t)n;
	SHA256(buf, len, md);
	sign_digest(md, sig);
	CHECK(kms_hex_encode(sh, sizeof(sh), sig, sizeof(sig)) == KMS_OK);
	n = snprintf((char *)buf + len, TAIL_LEN + 1 - (size_t)n, "signature: %s\n", sh);
	CHECK(n == 11 + 128 + 1);
	len += (size_t)n;
	r = check_verify(buf, len, err, sizeof(err), &entries2);
	CHECK((r == KMS_OK) == unfinished);
	free(buf);
	return 0;
}
