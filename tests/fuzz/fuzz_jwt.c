/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_jwt - bearer token verification and key set parsing on arbitrary bytes. The first byte
 * picks the mode (byte % 3) and the policy (byte / 3 % 4); the rest is:
 *   mode 0: a token, as a client would send it;
 *   mode 1: header JSON, a NUL byte, payload JSON: the target encodes and signs them with a
 *           fixed P-256 key (kid "ec") of the key set, so the claim checks behind the
 *           signature are reached too;
 *   mode 2: a key set file (JWKS or PEM).
 * The key set, built once, holds that P-256 key (JWKS, kid "ec", and again without kid) and an
 * RSA-2048 key (kid "rsa"). Invariants: a verdict is one of the documented codes with one of
 * the constant reasons (never token content); an accepted token gives a result within every
 * bound (MC service ID a URI without control characters, a scope, a kid of the set, exp
 * ahead); a refused one leaves the result zeroed; verifying twice gives the same verdict; a
 * key set is 1 to 64 keys, or NULL with a message naming the file. Any violation aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kms/jwt.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define NOW             INT64_C(1700000000)
#define MAX_TOKEN_INPUT (KMS_JWT_MAX_TOKEN + 256u)
#define KEYS_NAME       "f.jwks"

/* A P-256 private key made for this target only (SEC 1 DER): it signs mode 1 tokens. */
static const uint8_t ec_der[] = {
	0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 0x76, 0x9e, 0xf7, 0xfe, 0x56, 0xd1, 0x48,
	0xd8, 0x5f, 0xe6, 0x82, 0x7b, 0x15, 0x82, 0x10, 0x02, 0x93, 0xf3, 0x13, 0x08, 0xc1,
	0xff, 0x3d, 0xe6, 0x0e, 0xd1, 0x05, 0x0b, 0xd9, 0xb9, 0x3b, 0x98, 0xa0, 0x0a, 0x06,
	0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42, 0x00,
	0x04, 0xd4, 0x43, 0x97, 0x5d, 0xa8, 0x2e, 0xc5, 0x75, 0xde, 0xce, 0x0c, 0x01, 0x8e,
	0x1c, 0xe2, 0x61, 0x72, 0xbd, 0xaa, 0x1a, 0x47, 0x1b, 0xa5, 0x49, 0x9b, 0x97, 0x49,
	0x7e, 0xd8, 0xec, 0x6c, 0x6e, 0xd8, 0xb0, 0xc6, 0x86, 0x13, 0x40, 0x4c, 0x08, 0xb5,
	0xf6, 0xac, 0xc0, 0x02, 0xaf, 0xe9, 0xfc, 0x8c, 0x68, 0x66, 0x57, 0x09, 0x26, 0x53,
	0xde, 0x26, 0x06, 0x20, 0x5a, 0xef, 0xf8, 0x35, 0x14,
};

/* Every reason kms_jwt_verify() gives for a token (keep in step with kms/jwt.c). */
static const char *const reasons[] = {
	"token too long",
	"malformed token (not three parts)",
	"malformed token (empty part)",
	"unsigned token",
	"bad base64url",
	"header: JSON nested too deeply",
	"header: duplicate JSON member",
	"header: malformed JSON",
	"header: not a JSON object",
	"payload: JSON nested too deeply",
	"payload: duplicate JSON member",
	"payload: malformed JSON",
	"payload: not a JSON object",
	"alg missing",
	"alg none refused",
	"HMAC alg refused",
	"unsupported alg",
	"crit refused",
	"bad typ",
	"kid is not a string",
	"bad ES256 signature length",
	"unknown kid",
	"no key for alg",
	"alg does not match the key",
	"bad signature",
	"exp missing",
	"exp is not an integer",
	"exp out of range",
	"nbf is not an integer",
	"nbf out of range",
	"iat is not an integer",
	"iat out of range",
	"expired",
	"not yet valid",
	"issued in the future",
	"lifetime too long",
	"iss is not a string",
	"iss missing",
	"issuer mismatch",
	"aud missing",
	"aud is not a string or an array of strings",
	"audience mismatch",
	"bad sub",
	"MC ID is not a string",
	"MC ID empty or too long",
	"MC ID has control characters",
	"MC ID is not a URI",
	"no MC ID claim",
	"scope is not a string",
	"no key-management scope",
	"out of memory",
	"cannot check the signature",
};

static const char *const custom_claims[] = {"mcvideo_id", "sub", "mcptt_id"};

static EVP_PKEY *ec_key;
static struct kms_jwt_keys *keys;
static struct kms_jwt_policy policies[4];

static size_t
b64url(char *out, const uint8_t *in, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n = 0;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[n++] = abc[v >> 18];
		out[n++] = abc[(v >> 12) & 63];
		out[n++] = abc[(v >> 6) & 63];
		out[n++] = abc[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[n++] = abc[v >> 18];
		out[n++] = abc[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[n++] = abc[v >> 18];
		out[n++] = abc[(v >> 12) & 63];
		out[n++] = abc[(v >> 6) & 63];
	}
	return n;
}

static void
init(void)
{
	static char jwks[4096];
	const unsigned char *p = ec_der;
	uint8_t pub[65], n_bytes[256];
	char x[64], y[64], n[400], err[KMS_JWT_ERR_LEN];
	EVP_PKEY *rsa;
	BIGNUM *bn = NULL;
	size_t pub_len = 0, i;
	int len;

	ec_key = d2i_AutoPrivateKey(NULL, &p, (long)sizeof(ec_der));
	CHECK(ec_key != NULL);
	CHECK(EVP_PKEY_get_octet_string_param(ec_key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
					      &pub_len) == 1 &&
	      pub_len == 65);
	x[b64url(x, pub + 1, 32)] = '\0';
	y[b64url(y, pub + 33, 32)] = '\0';
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(rsa != NULL);
	CHECK(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn) == 1);
	len = BN_bn2bin(bn, n_bytes);
	CHECK(len == 256);
	n[b64url(n, n_bytes, (size_t)len)] = '\0';
	(void)snprintf(
		jwks, sizeof(jwks),
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\",\"x\":\"%s\","
		"\"y\":\"%s\"},{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		x, y, n, x, y);
	CHECK(kms_jwt_keys_parse(&keys, err, sizeof(err), KEYS_NAME, (const uint8_t *)jwks,
				 strlen(jwks)) == KMS_OK);
	CHECK(kms_jwt_keys_count(keys) == 3);
	BN_free(bn);
	EVP_PKEY_free(rsa);

	/* 0: kmsd's defaults with an issuer; 1: no issuer, no leeway; 2: custom claims and a
	 * lifetime limit; 3: the largest leeway. */
	for (i = 0; i < 4; i++) {
		policies[i].audience = "kms.example.org";
		policies[i].leeway = 60;
	}
	policies[0].issuer = "https://idms.example.org";
	policies[1].leeway = 0;
	policies[2].issuer = "https://idms.example.org";
	policies[2].claims = custom_claims;
	policies[2].num_claims = sizeof(custom_claims) / sizeof(custom_claims[0]);
	policies[2].max_lifetime = 3600;
	policies[3].leeway = KMS_JWT_MAX_LEEWAY;
	for (i = 0; i < 4; i++) {
		CHECK(kms_jwt_policy_check(&policies[i], err, sizeof(err)) == KMS_OK);
	}
}

static bool
known_reason(const char *err)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcmp(err, reasons[i]) == 0) {
			return true;
		}
	}
	return false;
}

static bool
no_controls(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f ||
		    (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)) {
			return false;
		}
	}
	return true;
}

static void
check_verify(const uint8_t *tok, size_t len, const struct kms_jwt_policy *pol)
{
	static const struct kms_jwt_result zero;
	struct kms_jwt_result res, again;
	char err[128], err2[128];
	size_t n, num_claims = pol->num_claims == 0 ? 3 : pol->num_claims;
	int r, r2;

	memset(&res, 0x5a, sizeof(res));
	memset(err, 'Z', sizeof(err));
	r = kms_jwt_verify(keys, pol, tok, len, NOW, &res, err, sizeof(err));
	CHECK(r == KMS_OK || r == KMS_ERR_AUTH || r == KMS_ERR_FORBIDDEN || r == KMS_ERR_NOMEM);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(r != KMS_ERR_FORBIDDEN || strcmp(err, "no key-management scope") == 0);
	if (r != KMS_OK) {
		CHECK(known_reason(err));
		CHECK(memcmp(&res, &zero, sizeof(res)) == 0);
	} else {
		CHECK(err[0] == '\0');
		n = strnlen(res.mc_id, sizeof(res.mc_id));
		CHECK(n >= 3 && n <= KMS_JWT_MAX_MC_ID && no_controls(res.mc_id, n));
		CHECK(strchr(res.mc_id, ':') != NULL);
		CHECK(res.mc_id_claim < num_claims);
		n = strnlen(res.sub, sizeof(res.sub));
		CHECK(n <= KMS_JWT_MAX_SUB && no_controls(res.sub, n));
		CHECK(res.scopes != 0 && (res.scopes & ~0xfu) == 0);
		CHECK(res.alg == KMS_JWT_ES256 || res.alg == KMS_JWT_RS256 ||
		      res.alg == KMS_JWT_PS256);
		CHECK(strcmp(res.kid, "ec") == 0 || strcmp(res.kid, "rsa") == 0 ||
		      res.kid[0] == '\0');
		CHECK(res.exp + (int64_t)pol->leeway > NOW && res.exp <= KMS_JWT_MAX_TIME);
		CHECK(len <= KMS_JWT_MAX_TOKEN);
	}
	/* The same verdict again (nothing depends on state or chance). */
	r2 = kms_jwt_verify(keys, pol, tok, len, NOW, &again, err2, sizeof(err2));
	CHECK(r2 == r && strcmp(err, err2) == 0);
	CHECK(r != KMS_OK || memcmp(&res, &again, sizeof(res)) == 0);
}

/* Mode 1: encode header and payload, sign them with ec_key (ES256, r || s), verify. */
static void
signed_token(const uint8_t *data, size_t size, const struct kms_jwt_policy *pol)
{
	static char tok[2 * MAX_TOKEN_INPUT];
	const uint8_t *nul = memchr(data, '\0', size);
	const uint8_t *hdr = data, *pl;
	size_t hdr_len, pl_len, off, der_len = 80;
	uint8_t der[80], raw[64];
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	EVP_MD_CTX *ctx;
	ECDSA_SIG *es;

	if (nul == NULL) {
		return;
	}
	hdr_len = (size_t)(nul - data);
	pl = nul + 1;
	pl_len = size - hdr_len - 1;
	off = b64url(tok, hdr, hdr_len);
	tok[off++] = '.';
	off += b64url(tok + off, pl, pl_len);
	ctx = EVP_MD_CTX_new();
	CHECK(ctx != NULL);
	CHECK(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, ec_key, NULL) == 1);
	CHECK(EVP_DigestSign(ctx, der, &der_len, (const uint8_t *)tok, off) == 1);
	EVP_MD_CTX_free(ctx);
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	CHECK(es != NULL);
	ECDSA_SIG_get0(es, &r, &s);
	CHECK(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32);
	ECDSA_SIG_free(es);
	tok[off++] = '.';
	off += b64url(tok + off, raw, sizeof(raw));
	check_verify((const uint8_t *)tok, off, pol);
}

static void
key_set(const uint8_t *data, size_t size)
{
	struct kms_jwt_keys *set = NULL;
	char err[KMS_JWT_ERR_LEN], small[24];
	size_t len, i;
	int r;

	memset(err, 'Z', sizeof(err));
	r = kms_jwt_keys_parse(&set, err, sizeof(err), KEYS_NAME, data, size);
	if (r == KMS_OK) {
		CHECK(set != NULL && err[0] == '\0');
		CHECK(kms_jwt_keys_count(set) >= 1 && kms_jwt_keys_count(set) <= KMS_JWT_MAX_KEYS);
		kms_jwt_keys_free(set);
		return;
	}
	CHECK(set == NULL);
	CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_UNSUPPORTED || r == KMS_ERR_ENCODING ||
	      r == KMS_ERR_RANGE || r == KMS_ERR_POINT || r == KMS_ERR_TOO_LARGE ||
	      r == KMS_ERR_NOMEM || r == KMS_ERR_CRYPTO);
	len = strnlen(err, sizeof(err));
	CHECK(len < sizeof(err) && strncmp(err, KEYS_NAME ": ", sizeof(KEYS_NAME ": ") - 1) == 0);
	for (i = 0; i < len; i++) {
		CHECK(err[i] >= 0x20 && err[i] < 0x7f); /* quoted values are printable ASCII */
	}
	/* A small buffer: the same verdict, the message cut with "...". */
	memset(small, 'Z', sizeof(small));
	CHECK(kms_jwt_keys_parse(&set, small, sizeof(small), KEYS_NAME, data, size) == r);
	CHECK(set == NULL && strnlen(small, sizeof(small)) < sizeof(small));
	CHECK(len < sizeof(small) ? strcmp(small, err) == 0
				  : strcmp(small + sizeof(small) - 4, "...") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kms_jwt_policy *pol;

	if (keys == NULL) {
		init();
	}
	if (size == 0) {
		return 0;
	}
	pol = &policies[data[0] / 3 % 4];
	switch (data[0] % 3) {
	case 0:
		if (size - 1 <= MAX_TOKEN_INPUT) {
			check_verify(data + 1, size - 1, pol);
		}
		break;
	case 1:
		if (size - 1 <= MAX_TOKEN_INPUT) {
			signed_token(data + 1, size - 1, pol);
		}
		break;
	default:
		if (size - 1 <= 64u * 1024u) {
			key_set(data + 1, size - 1);
		}
		break;
	}
	return 0;
}
