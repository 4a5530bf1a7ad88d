/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "kms/jwt.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/*
 * Keys are made fresh by OpenSSL for each run; tokens are built and signed here, by a small
 * signer of our own (below), so that every field can be set wrong on purpose.
 */

/* A broken fixture or helper precondition: a bug in this file, not in the code under test. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fixture failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NOW      INT64_C(1700000000)
#define AUDIENCE "kms.example.org"
#define ISSUER   "https://idms.example.org"
#define MAX_SIG  1024u

enum sign_kind {
	SIGN_RS256,
	SIGN_PS256,
	SIGN_ES256,         /* r || s, as JWS wants */
	SIGN_ES256_DER,     /* the DER ECDSA-Sig-Value OpenSSL makes: wrong for JWS */
	SIGN_HS256,         /* HMAC-SHA256 keyed with hmac_secret */
	SIGN_PS256_SALT0,   /* PSS with an empty salt: RFC 7518 wants 32 bytes */
	SIGN_PS256_SALTMAX, /* PSS with the longest salt */
	SIGN_FAKE,          /* 32 bytes of 0x5a */
	SIGN_EMPTY,         /* no signature at all */
};

static EVP_PKEY *rsa1, *rsa2, *rsa1024, *ec1, *ec2, *ec384, *ed25519;
static char dir[256], jwks_path[300], pem_path[300];
static struct kms_jwt_keys *jwks, *pems, *rsa_only;
static const struct kms_jwt_keys *ks; /* the set the tests verify against */
static struct kms_jwt_policy pol;
static const uint8_t *hmac_secret;
static size_t hmac_secret_len;
static char *rsa1_pem; /* rsa1's public key in PEM: the confusion attack's HMAC secret */

/* ---- encoding and signing ---- */

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
	out[n] = '\0';
	return n;
}

/* A malloc'ed base64url string of s (as text) or of len bytes. */
static char *
b64url_dup(const void *p, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5);

	REQUIRE(out != NULL);
	(void)b64url(out, p, len);
	return out;
}

/* A DER ECDSA signature as r || s (64 bytes). */
static void
der_to_raw(uint8_t raw[64], const uint8_t *der, size_t der_len)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;

	REQUIRE(es != NULL);
	ECDSA_SIG_get0(es, &r, &s);
	REQUIRE(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32);
	ECDSA_SIG_free(es);
}

/* Sign msg; returns the signature length. */
static size_t
sign(uint8_t sig[MAX_SIG], EVP_PKEY *key, enum sign_kind kind, const char *msg)
{
	uint8_t der[MAX_SIG];
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned int hlen = 0;
	size_t len = MAX_SIG;

	switch (kind) {
	case SIGN_EMPTY:
		return 0;
	case SIGN_FAKE:
		memset(sig, 0x5a, 32);
		return 32;
	case SIGN_HS256:
		REQUIRE(HMAC(EVP_sha256(), hmac_secret, (int)hmac_secret_len, (const uint8_t *)msg,
			     strlen(msg), sig, &hlen) != NULL);
		return hlen;
	default:
		break;
	}
	ctx = EVP_MD_CTX_new();
	REQUIRE(ctx != NULL);
	REQUIRE(EVP_DigestSignInit_ex(ctx, &pctx, "SHA256", NULL, NULL, key, NULL) == 1);
	if (kind == SIGN_PS256 || kind == SIGN_PS256_SALT0 || kind == SIGN_PS256_SALTMAX) {
		REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
		REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(
				pctx, kind == SIGN_PS256_SALT0     ? 0
				      : kind == SIGN_PS256_SALTMAX ? RSA_PSS_SALTLEN_MAX
								   : RSA_PSS_SALTLEN_DIGEST) == 1);
		REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) == 1);
	}
	REQUIRE(EVP_DigestSign(ctx, der, &len, (const uint8_t *)msg, strlen(msg)) == 1);
	EVP_MD_CTX_free(ctx);
	if (kind == SIGN_ES256) {
		der_to_raw(sig, der, len);
		return 64;
	}
	memcpy(sig, der, len);
	return len;
}

/* "B64(header).B64(payload).B64(sig)", malloc'ed. */
static char *
join(const char *header, const char *payload, const uint8_t *sig, size_t sig_len)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *out = malloc((hl + pl + sig_len) / 3 * 4 + 16);

	REQUIRE(out != NULL);
	hl = b64url(out, (const uint8_t *)header, hl);
	out[hl] = '.';
	pl = b64url(out + hl + 1, (const uint8_t *)payload, pl);
	out[hl + 1 + pl] = '.';
	(void)b64url(out + hl + 2 + pl, sig, sig_len);
	return out;
}

/* A token of header and payload, signed with key. Malloc'ed. */
static char *
token_raw(const char *header, const char *payload, EVP_PKEY *key, enum sign_kind kind)
{
	uint8_t sig[MAX_SIG];
	size_t hl = strlen(header), pl = strlen(payload), n;
	char *input = malloc((hl + pl) / 3 * 4 + 16), *tok;

	REQUIRE(input != NULL);
	hl = b64url(input, (const uint8_t *)header, hl);
	input[hl] = '.';
	(void)b64url(input + hl + 1, (const uint8_t *)payload, pl);
	n = sign(sig, key, kind, input);
	tok = join(header, payload, sig, n);
	free(input);
	return tok;
}

/* ---- payloads ---- */

struct claim {
	const char *name;
	const char *json; /* the value as JSON text; NULL leaves the claim out */
};

#define END                                                                                        \
	{                                                                                          \
		NULL, NULL                                                                         \
	}

/* A valid token's claims at NOW: ptt key management, mcptt_id, five minutes left. */
static const struct claim base_claims[] = {
	{"iss", "\"" ISSUER "\""},
	{"aud", "\"" AUDIENCE "\""},
	{"sub", "\"alice\""},
	{"iat", "1699999990"},
	{"exp", "1700000300"},
	{"scope", "\"openid 3gpp:mc:ptt_key_management_service\""},
	{"mcptt_id", "\"sip:alice@example.org\""},
	END,
};

/* The base claims with over's replacing (or, with json NULL, removing) those of their name. */
static const char *
payload(const struct claim *over)
{
	static char buf[16384];
	size_t off = 0, i, j;
	bool first = true;
	const char *v;

#define ADD(name, json)                                                                            \
	do {                                                                                       \
		int n_ = snprintf(buf + off, sizeof(buf) - off, "%s\"%s\":%s", first ? "" : ",",   \
				  (name), (json));                                                 \
		REQUIRE(n_ > 0 && (size_t)n_ < sizeof(buf) - off);                                 \
		off += (size_t)n_;                                                                 \
		first = false;                                                                     \
	} while (0)

	buf[off++] = '{';
	for (i = 0; base_claims[i].name != NULL; i++) {
		v = base_claims[i].json;
		for (j = 0; over != NULL && over[j].name != NULL; j++) {
			if (strcmp(over[j].name, base_claims[i].name) == 0) {
				v = over[j].json;
			}
		}
		if (v != NULL) {
			ADD(base_claims[i].name, v);
		}
	}
	for (j = 0; over != NULL && over[j].name != NULL; j++) {
		for (i = 0; base_claims[i].name != NULL; i++) {
			if (strcmp(over[j].name, base_claims[i].name) == 0) {
				break;
			}
		}
		if (base_claims[i].name == NULL && over[j].json != NULL) {
			ADD(over[j].name, over[j].json);
		}
	}
#undef ADD
	REQUIRE(off + 2 <= sizeof(buf));
	buf[off++] = '}';
	buf[off] = '\0';
	return buf;
}

#define H_RS256 "{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"JWT\"}"
#define H_PS256 "{\"alg\":\"PS256\",\"kid\":\"r1\"}"
#define H_ES256 "{\"alg\":\"ES256\",\"kid\":\"e1\",\"typ\":\"at+jwt\"}"

static char *
token(const char *header, const struct claim *over, EVP_PKEY *key, enum sign_kind kind)
{
	return token_raw(header, payload(over), key, kind);
}

/* ---- verdicts ---- */

static int
verify(const char *tok, size_t len, struct kms_jwt_result *res, char *err, size_t err_len)
{
	return kms_jwt_verify(ks, &pol, (const uint8_t *)tok, len, NOW, res, err, err_len);
}

/* tok (owned, freed) is accepted; *out (may be NULL) gets the result. */
static void
expect_ok_(char *tok, struct kms_jwt_result *out, int line)
{
	struct kms_jwt_result res;
	char err[128];
	int r;

	memset(err, 'Z', sizeof(err));
	r = verify(tok, strlen(tok), &res, err, sizeof(err));
	if (r != KMS_OK) {
		fprintf(stderr, "\ntest_jwt.c:%d: refused (%d, \"%s\"), want accepted\n", line, r,
			err);
	}
	CU_ASSERT_EQUAL(r, KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	if (out != NULL) {
		*out = res;
	}
	free(tok);
}

/* tok (owned, freed) is refused with code and exactly the reason why; the result is zeroed. */
static void
expect_refused_(char *tok, size_t len, int code, const char *why, int line)
{
	struct kms_jwt_result res;
	char err[128];
	int r;

	memset(&res, 0xa5, sizeof(res));
	memset(err, 'Z', sizeof(err));
	r = verify(tok, len, &res, err, sizeof(err));
	if (r != code || strcmp(err, why) != 0) {
		fprintf(stderr, "\ntest_jwt.c:%d: got (%d, \"%s\"), want (%d, \"%s\")\n", line, r,
			err, code, why);
	}
	CU_ASSERT_EQUAL(r, code);
	CU_ASSERT_STRING_EQUAL(err, why);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&res, sizeof(res)));
	free(tok);
}

#define EXPECT_OK(tok, out)            expect_ok_((tok), (out), __LINE__)
#define EXPECT_REFUSED(tok, code, why) refused_str((tok), (code), (why), __LINE__)

static void
refused_str(char *tok, int code, const char *why, int line)
{
	expect_refused_(tok, strlen(tok), code, why, line);
}

#define AUTH      KMS_ERR_AUTH
#define FORBIDDEN KMS_ERR_FORBIDDEN

static char *
dup_str(const char *s)
{
	char *d = strdup(s);

	REQUIRE(d != NULL);
	return d;
}

/* ---- fixtures ---- */

/* The JWK of key's public part with extra members (",\"kid\":\"x\""), malloc'ed. */
static char *
jwk(EVP_PKEY *key, const char *extra)
{
	uint8_t a[600], b[600];
	char *out = malloc(2048), *x, *y;
	BIGNUM *n = NULL, *e = NULL;
	size_t len = 0;

	REQUIRE(out != NULL);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
		REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
		x = b64url_dup(a, (size_t)BN_bn2bin(n, a));
		y = b64url_dup(b, (size_t)BN_bn2bin(e, b));
		(void)snprintf(out, 2048, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s}", x, y,
			       extra);
		BN_free(n);
		BN_free(e);
	} else {
		REQUIRE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, a, sizeof(a),
							&len) == 1);
		REQUIRE(len == 65 && a[0] == 4);
		x = b64url_dup(a + 1, 32);
		y = b64url_dup(a + 33, 32);
		(void)snprintf(out, 2048,
			       "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"%s}", x,
			       y, extra);
	}
	free(x);
	free(y);
	return out;
}

/* key's public key (or, private, its private key) in PEM, malloc'ed. */
static char *
pem(EVP_PKEY *key, bool private)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	REQUIRE(bio != NULL);
	if (private) {
		REQUIRE(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1);
	} else {
		REQUIRE(PEM_write_bio_PUBKEY(bio, key) == 1);
	}
	n = BIO_get_mem_data(bio, &data);
	REQUIRE(n > 0);
	out = malloc((size_t)n + 1);
	REQUIRE(out != NULL);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

/* A self-signed certificate of key in PEM, malloc'ed. */
static char *
cert_pem(EVP_PKEY *key)
{
	X509 *x = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	REQUIRE(x != NULL && bio != NULL);
	REQUIRE(X509_set_version(x, 2) == 1);
	REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1);
	REQUIRE(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
	REQUIRE(X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL);
	REQUIRE(X509_set_pubkey(x, key) == 1);
	REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
	REQUIRE(PEM_write_bio_X509(bio, x) == 1);
	n = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)n + 1);
	REQUIRE(out != NULL);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	X509_free(x);
	return out;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f != NULL);
	REQUIRE(fputs(text, f) >= 0);
	REQUIRE(fclose(f) == 0);
}

static int
keys_parse(struct kms_jwt_keys **out, char *err, size_t err_len, const char *text)
{
	return kms_jwt_keys_parse(out, err, err_len, "t.jwks", (const uint8_t *)text, strlen(text));
}

static int
suite_init(void)
{
	char err[KMS_JWT_ERR_LEN], *a, *b, *c, *d, text[16384];

	rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (rsa1 == NULL || rsa2 == NULL || rsa1024 == NULL || ec1 == NULL || ec2 == NULL ||
	    ec384 == NULL || ed25519 == NULL || kms_test_tmpdir(dir, sizeof(dir), "jwt") != 0) {
		return -1;
	}
	(void)snprintf(jwks_path, sizeof(jwks_path), "%s/idms.jwks", dir);
	(void)snprintf(pem_path, sizeof(pem_path), "%s/idms.pem", dir);
	/* r1: rsa1, any RSA alg; r2: rsa2, RS256 only; e1: ec1. */
	a = jwk(rsa1, ",\"kid\":\"r1\",\"use\":\"sig\"");
	b = jwk(rsa2, ",\"kid\":\"r2\",\"alg\":\"RS256\",\"key_ops\":[\"verify\"]");
	c = jwk(ec1, ",\"kid\":\"e1\",\"alg\":\"ES256\",\"x5t\":\"ignored\"");
	(void)snprintf(text, sizeof(text), "{\"keys\":[%s,\n%s,\n%s],\"other\":{\"a\":1}}\n", a, b,
		       c);
	write_file(jwks_path, text);
	free(a);
	free(b);
	free(c);
	a = pem(rsa1, false);
	b = pem(ec1, false);
	(void)snprintf(text, sizeof(text), "# the IdMS keys\n%s\n%s", a, b);
	write_file(pem_path, text);
	rsa1_pem = a;
	free(b);
	if (kms_jwt_keys_load(&jwks, err, sizeof(err), jwks_path) != KMS_OK ||
	    kms_jwt_keys_load(&pems, err, sizeof(err), pem_path) != KMS_OK) {
		fprintf(stderr, "suite_init: %s\n", err);
		return -1;
	}
	d = pem(rsa2, false);
	if (keys_parse(&rsa_only, err, sizeof(err), d) != KMS_OK) {
		fprintf(stderr, "suite_init: %s\n", err);
		return -1;
	}
	free(d);
	return 0;
}

static int
suite_clean(void)
{
	kms_jwt_keys_free(jwks);
	kms_jwt_keys_free(pems);
	kms_jwt_keys_free(rsa_only);
	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(ec1);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(ed25519);
	free(rsa1_pem);
	kms_test_rmdir(dir);
	return 0;
}

/* Before each test: the JWKS, and the policy of kmsd's defaults with an issuer. */
static void
setup(void)
{
	ks = jwks;
	memset(&pol, 0, sizeof(pol));
	pol.issuer = ISSUER;
	pol.audience = AUDIENCE;
	pol.leeway = 60;
}

static void
teardown(void)
{
}

/* ---- tests: valid tokens ---- */

static void
test_valid_each_alg(void)
{
	struct kms_jwt_result res;

	EXPECT_OK(token(H_RS256, NULL, rsa1, SIGN_RS256), &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:alice@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 0);
	CU_ASSERT_STRING_EQUAL(res.sub, "alice");
	CU_ASSERT_STRING_EQUAL(res.kid, "r1");
	CU_ASSERT_EQUAL(res.scopes, KMS_JWT_SCOPE_PTT);
	CU_ASSERT_EQUAL(res.alg, KMS_JWT_RS256);
	CU_ASSERT_EQUAL(res.exp, 1700000300);

	EXPECT_OK(token(H_PS256, NULL, rsa1, SIGN_PS256), &res);
	CU_ASSERT_EQUAL(res.alg, KMS_JWT_PS256);
	CU_ASSERT_STRING_EQUAL(res.kid, "r1");
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:alice@example.org");

	EXPECT_OK(token(H_ES256, NULL, ec1, SIGN_ES256), &res);
	CU_ASSERT_EQUAL(res.alg, KMS_JWT_ES256);
	CU_ASSERT_STRING_EQUAL(res.kid, "e1");
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:alice@example.org");

	/* r2 allows RS256 (its "alg"). */
	EXPECT_OK(token("{\"alg\":\"RS256\",\"kid\":\"r2\"}", NULL, rsa2, SIGN_RS256), &res);
	CU_ASSERT_STRING_EQUAL(res.kid, "r2");
}

/* Without a kid, every key of the algorithm's type is tried; PEM keys have no kid. */
static void
test_valid_without_kid(void)
{
	struct kms_jwt_result res;

	EXPECT_OK(token("{\"alg\":\"RS256\"}", NULL, rsa2, SIGN_RS256), &res);
	CU_ASSERT_STRING_EQUAL(res.kid, "r2");
	EXPECT_OK(token("{\"alg\":\"ES256\"}", NULL, ec1, SIGN_ES256), &res);
	CU_ASSERT_STRING_EQUAL(res.kid, "e1");
	/* r2 allows RS256 only: a PS256 token by rsa2 finds no key that may verify it. */
	EXPECT_REFUSED(token("{\"alg\":\"PS256\"}", NULL, rsa2, SIGN_PS256), AUTH, "bad signature");

	ks = pems;
	CU_ASSERT_EQUAL(kms_jwt_keys_count(pems), 2);
	EXPECT_OK(token("{\"alg\":\"RS256\"}", NULL, rsa1, SIGN_RS256), &res);
	CU_ASSERT_STRING_EQUAL(res.kid, "");
	EXPECT_OK(token("{\"alg\":\"PS256\"}", NULL, rsa1, SIGN_PS256), NULL);
	EXPECT_OK(token("{\"alg\":\"ES256\"}", NULL, ec1, SIGN_ES256), NULL);
	/* A kid that no key has falls back on the keys without a kid... */
	EXPECT_OK(token("{\"alg\":\"ES256\",\"kid\":\"idms-2024\"}", NULL, ec1, SIGN_ES256), NULL);
	EXPECT_REFUSED(token("{\"alg\":\"ES256\",\"kid\":\"idms-2024\"}", NULL, ec2, SIGN_ES256),
		       AUTH, "bad signature");
	/* ...but never on keys with another kid. */
	ks = jwks;
	EXPECT_REFUSED(token("{\"alg\":\"ES256\",\"kid\":\"idms-2024\"}", NULL, ec1, SIGN_ES256),
		       AUTH, "unknown kid");
	/* Only EC keys for ES256, only RSA keys for RS256. */
	ks = rsa_only;
	EXPECT_REFUSED(token("{\"alg\":\"ES256\"}", NULL, ec1, SIGN_ES256), AUTH, "no key for alg");
}

static void
test_typ(void)
{
	static const char *const good[] = {
		"JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/JWT"};
	static const char *const bad[] = {"JOSE", "", "at+jwt ", "application/", "JWS", "jwt+at"};
	char h[128];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		(void)snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"%s\"}",
			       good[i]);
		EXPECT_OK(token(h, NULL, rsa1, SIGN_RS256), NULL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"%s\"}",
			       bad[i]);
		EXPECT_REFUSED(token(h, NULL, rsa1, SIGN_RS256), AUTH, "bad typ");
	}
	EXPECT_REFUSED(
		token("{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":1}", NULL, rsa1, SIGN_RS256), AUTH,
		"bad typ");
}

/* ---- tests: time ---- */

static void
test_times(void)
{
	/* exp: valid while now < exp + leeway (60). */
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"exp", "1699999940"}, END}, rsa1,
			     SIGN_RS256),
		       AUTH, "expired");
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"exp", "1699999941"}, END}, rsa1,
			SIGN_RS256),
		  NULL);
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"exp", "0"}, END}, rsa1, SIGN_RS256),
		       AUTH, "expired");
	/* nbf: valid from nbf - leeway. */
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"nbf", "1700000060"}, END}, rsa1,
			SIGN_RS256),
		  NULL);
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"nbf", "1700000061"}, END}, rsa1,
			     SIGN_RS256),
		       AUTH, "not yet valid");
	/* iat: not after now + leeway. */
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"iat", "1700000060"}, END}, rsa1,
			SIGN_RS256),
		  NULL);
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"iat", "1700000061"}, END}, rsa1,
			     SIGN_RS256),
		       AUTH, "issued in the future");
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"iat", NULL}, END}, rsa1, SIGN_RS256),
		  NULL);
	/* Leeway 0: exactly at exp is too late. */
	pol.leeway = 0;
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"exp", "1700000000"}, END}, rsa1,
			     SIGN_RS256),
		       AUTH, "expired");
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"exp", "1700000001"}, END}, rsa1,
			SIGN_RS256),
		  NULL);
}

static void
test_time_types(void)
{
	static const struct {
		const char *name, *value, *why;
	} cases[] = {
		{"exp", NULL, "exp missing"},
		{"exp", "1700000300.0", "exp is not an integer"},
		{"exp", "1.7000003e9", "exp is not an integer"},
		{"exp", "\"1700000300\"", "exp is not an integer"},
		{"exp", "null", "exp is not an integer"},
		{"exp", "true", "exp is not an integer"},
		{"exp", "-1", "exp out of range"},
		{"exp", "253402300800", "exp out of range"},
		{"exp", "9223372036854775807", "exp out of range"},
		{"exp", "99999999999999999999", "payload: malformed JSON"},
		{"exp", "1e400", "payload: malformed JSON"},
		{"nbf", "1.5", "nbf is not an integer"},
		{"nbf", "-5", "nbf out of range"},
		{"nbf", "[1]", "nbf is not an integer"},
		{"iat", "\"now\"", "iat is not an integer"},
		{"iat", "253402300800", "iat out of range"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct claim over[] = {{cases[i].name, cases[i].value}, END};

		EXPECT_REFUSED(token(H_ES256, over, ec1, SIGN_ES256), AUTH, cases[i].why);
	}
	/* The largest time allowed. */
	EXPECT_OK(token(H_ES256, (const struct claim[]){{"exp", "253402300799"}, END}, ec1,
			SIGN_ES256),
		  NULL);
}

static void
test_max_lifetime(void)
{
	pol.max_lifetime = 600;
	/* exp - iat */
	EXPECT_OK(token(H_ES256,
			(const struct claim[]){{"iat", "1699999900"}, {"exp", "1700000500"}, END},
			ec1, SIGN_ES256),
		  NULL);
	EXPECT_REFUSED(
		token(H_ES256,
		      (const struct claim[]){{"iat", "1699999900"}, {"exp", "1700000501"}, END},
		      ec1, SIGN_ES256),
		AUTH, "lifetime too long");
	/* exp - now, without iat: at most max_lifetime + leeway */
	EXPECT_OK(token(H_ES256, (const struct claim[]){{"iat", NULL}, {"exp", "1700000660"}, END},
			ec1, SIGN_ES256),
		  NULL);
	EXPECT_REFUSED(token(H_ES256,
			     (const struct claim[]){{"iat", NULL}, {"exp", "1700000661"}, END}, ec1,
			     SIGN_ES256),
		       AUTH, "lifetime too long");
	/* No limit: ten years is fine. */
	pol.max_lifetime = 0;
	EXPECT_OK(
		token(H_ES256, (const struct claim[]){{"exp", "2015000000"}, END}, ec1, SIGN_ES256),
		NULL);
}

/* ---- tests: issuer, audience ---- */

static void
test_audience(void)
{
	static const struct {
		const char *aud, *why; /* why NULL: accepted */
	} cases[] = {
		{"\"kms.example.org\"", NULL},
		{"[\"kms.example.org\"]", NULL},
		{"[\"other\",\"kms.example.org\",\"third\"]", NULL},
		{"\"other.example.org\"", "audience mismatch"},
		{"\"kms.example.or\"", "audience mismatch"},
		{"\"kms.example.org \"", "audience mismatch"},
		{"\"KMS.example.org\"", "audience mismatch"},
		{"[\"a\",\"b\"]", "audience mismatch"},
		{"[]", "audience mismatch"},
		{"[\"kms.example.org\",5]", "aud is not a string or an array of strings"},
		{"[[\"kms.example.org\"]]", "aud is not a string or an array of strings"},
		{"5", "aud is not a string or an array of strings"},
		{"{\"kms.example.org\":1}", "aud is not a string or an array of strings"},
		{"\"kms.example.org\\u0000\"", "payload: malformed JSON"},
		{NULL, "aud missing"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct claim over[] = {{"aud", cases[i].aud}, END};
		char *tok = token(H_RS256, over, rsa1, SIGN_RS256);

		if (cases[i].why == NULL) {
			EXPECT_OK(tok, NULL);
		} else {
			EXPECT_REFUSED(tok, AUTH, cases[i].why);
		}
	}
}

static void
test_issuer(void)
{
	EXPECT_REFUSED(token(H_RS256,
			     (const struct claim[]){{"iss", "\"https://evil.example\""}, END}, rsa1,
			     SIGN_RS256),
		       AUTH, "issuer mismatch");
	EXPECT_REFUSED(token(H_RS256,
			     (const struct claim[]){{"iss", "\"https://idms.example.org/\""}, END},
			     rsa1, SIGN_RS256),
		       AUTH, "issuer mismatch");
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"iss", NULL}, END}, rsa1, SIGN_RS256),
		       AUTH, "iss missing");
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"iss", "[\"" ISSUER "\"]"}, END},
			     rsa1, SIGN_RS256),
		       AUTH, "iss is not a string");
	/* Without a configured issuer, any issuer (or none) will do, but it must be a string. */
	pol.issuer = NULL;
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"iss", "\"https://other.example\""}, END},
			rsa1, SIGN_RS256),
		  NULL);
	EXPECT_OK(token(H_RS256, (const struct claim[]){{"iss", NULL}, END}, rsa1, SIGN_RS256),
		  NULL);
	EXPECT_REFUSED(token(H_RS256, (const struct claim[]){{"iss", "7"}, END}, rsa1, SIGN_RS256),
		       AUTH, "iss is not a string");
}

/* ---- tests: scope ---- */

static void
test_scopes(void)
{
	static const struct {
		const char *scope;
		unsigned int want; /* 0: refused, FORBIDDEN */
	} cases[] = {
		{"\"3gpp:mc:ptt_key_management_service\"", KMS_JWT_SCOPE_PTT},
		{"\"3gpp:mc:data_key_management_service\"", KMS_JWT_SCOPE_DATA},
		{"\"3gpp:mc:video_key_management_service\"", KMS_JWT_SCOPE_VIDEO},
		{"\"3gpp:mcptt:key_management_server\"", KMS_JWT_SCOPE_MCPTT_LEGACY},
		{"\"openid 3gpp:mc:data_key_management_service 3gpp:mcptt:key_management_server\"",
		 KMS_JWT_SCOPE_DATA | KMS_JWT_SCOPE_MCPTT_LEGACY},
		{"\"3gpp:mc:ptt_key_management_service 3gpp:mc:data_key_management_service "
		 "3gpp:mc:video_key_management_service 3gpp:mcptt:key_management_server\"",
		 KMS_JWT_SCOPE_PTT | KMS_JWT_SCOPE_DATA | KMS_JWT_SCOPE_VIDEO |
			 KMS_JWT_SCOPE_MCPTT_LEGACY},
		{"\"  3gpp:mc:video_key_management_service  \"", KMS_JWT_SCOPE_VIDEO},
		{"\"openid profile\"", 0},
		{"\"\"", 0},
		{"\"3gpp:mc:ptt_key_management_servicex\"", 0},
		{"\"x3gpp:mc:ptt_key_management_service\"", 0},
		{"\"3GPP:MC:PTT_KEY_MANAGEMENT_SERVICE\"", 0},
		{"\"3gpp:mc:ptt_key_management_service,openid\"", 0},
		{"\"3gpp:mc:ptt_key_management_service\\topenid\"", 0},
		{"\"3gpp:mc:ptt_key_management\"", 0},
		{NULL, 0},
	};
	struct kms_jwt_result res;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct claim over[] = {{"scope", cases[i].scope}, END};
		char *tok = token(H_ES256, over, ec1, SIGN_ES256);

		if (cases[i].want == 0) {
			EXPECT_REFUSED(tok, FORBIDDEN, "no key-management scope");
		} else {
			EXPECT_OK(tok, &res);
			CU_ASSERT_EQUAL(res.scopes, cases[i].want);
		}
	}
	EXPECT_REFUSED(token(H_ES256,
			     (const struct claim[]){
				     {"scope", "[\"3gpp:mc:ptt_key_management_service\"]"}, END},
			     ec1, SIGN_ES256),
		       AUTH, "scope is not a string");
	/* A token that fails anything else is refused as such, not as a scope problem. */
	EXPECT_REFUSED(token(H_ES256,
			     (const struct claim[]){{"scope", NULL}, {"aud", "\"x\""}, END}, ec1,
			     SIGN_ES256),
		       AUTH, "audience mismatch");
	EXPECT_REFUSED(token(H_ES256,
			     (const struct claim[]){{"scope", NULL}, {"mcptt_id", NULL}, END}, ec1,
			     SIGN_ES256),
		       AUTH, "no MC ID claim");
}

/* ---- tests: MC service ID ---- */

static void
test_mc_id_claims(void)
{
	static const char *const custom[] = {"mcdata_id", "mcptt_id"};
	struct kms_jwt_result res;

	EXPECT_REFUSED(
		token(H_RS256, (const struct claim[]){{"mcptt_id", NULL}, END}, rsa1, SIGN_RS256),
		AUTH, "no MC ID claim");
	/* Default order: mcptt_id, mcdata_id, mcvideo_id. */
	EXPECT_OK(token(H_RS256,
			(const struct claim[]){
				{"mcptt_id", NULL}, {"mcvideo_id", "\"sip:vid@example.org\""}, END},
			rsa1, SIGN_RS256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:vid@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 2);
	EXPECT_OK(token(H_RS256,
			(const struct claim[]){{"mcvideo_id", "\"sip:vid@example.org\""},
					       {"mcdata_id", "\"sip:data@example.org\""},
					       END},
			rsa1, SIGN_RS256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:alice@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 0);
	EXPECT_OK(token(H_RS256,
			(const struct claim[]){{"mcptt_id", NULL},
					       {"mcvideo_id", "\"sip:vid@example.org\""},
					       {"mcdata_id", "\"sip:data@example.org\""},
					       END},
			rsa1, SIGN_RS256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:data@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 1);
	/* A configured list: its order wins, and claims not in it are ignored. */
	pol.claims = custom;
	pol.num_claims = 2;
	EXPECT_OK(token(H_RS256,
			(const struct claim[]){{"mcdata_id", "\"sip:data@example.org\""}, END},
			rsa1, SIGN_RS256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:data@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 0);
	EXPECT_OK(token(H_RS256, NULL, rsa1, SIGN_RS256), &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:alice@example.org");
	CU_ASSERT_EQUAL(res.mc_id_claim, 1);
	EXPECT_REFUSED(token(H_RS256,
			     (const struct claim[]){{"mcptt_id", NULL},
						    {"mcvideo_id", "\"sip:vid@example.org\""},
						    END},
			     rsa1, SIGN_RS256),
		       AUTH, "no MC ID claim");
}

static void
test_mc_id_values(void)
{
	static const struct {
		const char *value, *why;
	} cases[] = {
		{"\"\"", "MC ID empty or too long"},
		{"5", "MC ID is not a string"},
		{"null", "MC ID is not a string"},
		{"[\"sip:alice@example.org\"]", "MC ID is not a string"},
		{"\"sip:alice@example.org\\n\"", "MC ID has control characters"},
		{"\"sip:al\\u0007ice@example.org\"", "MC ID has control characters"},
		{"\"sip:alice\\u007f@example.org\"", "MC ID has control characters"},
		{"\"sip:alice\\u0085@example.org\"", "MC ID has control characters"},
		{"\"sip:al\\u0000ice@example.org\"", "payload: malformed JSON"},
		{"\"alice@example.org\"", "MC ID is not a URI"},
		{"\"sip:\"", "MC ID is not a URI"},
		{"\":alice\"", "MC ID is not a URI"},
		{"\"1sip:alice\"", "MC ID is not a URI"},
		{"\"s_p:alice\"", "MC ID is not a URI"},
	};
	struct kms_jwt_result res;
	char *big;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct claim over[] = {{"mcptt_id", cases[i].value}, END};

		EXPECT_REFUSED(token(H_ES256, over, ec1, SIGN_ES256), AUTH, cases[i].why);
	}
	/* The first present claim decides: a bad mcptt_id does not fall back on mcdata_id. */
	EXPECT_REFUSED(token(H_ES256,
			     (const struct claim[]){{"mcptt_id", "\"\""},
						    {"mcdata_id", "\"sip:d@example.org\""},
						    END},
			     ec1, SIGN_ES256),
		       AUTH, "MC ID empty or too long");
	/* UTF-8 beyond ASCII is fine (U+00E9, U+00A0 is not a C1 control). */
	EXPECT_OK(token(H_ES256,
			(const struct claim[]){
				{"mcptt_id", "\"sip:jos\\u00e9\\u00a0@example.org\""}, END},
			ec1, SIGN_ES256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "sip:jos\xc3\xa9\xc2\xa0@example.org");
	EXPECT_OK(token(H_ES256, (const struct claim[]){{"mcptt_id", "\"tel:+4912345\""}, END}, ec1,
			SIGN_ES256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.mc_id, "tel:+4912345");
	/* 2048 bytes exactly, then 2049. */
	big = malloc(KMS_JWT_MAX_MC_ID + 8);
	REQUIRE(big != NULL);
	big[0] = '"';
	memcpy(big + 1, "sip:", 4);
	memset(big + 5, 'a', KMS_JWT_MAX_MC_ID - 4);
	memcpy(big + 1 + KMS_JWT_MAX_MC_ID, "\"", 2);
	EXPECT_OK(token(H_ES256, (const struct claim[]){{"mcptt_id", big}, END}, ec1, SIGN_ES256),
		  &res);
	CU_ASSERT_EQUAL(strlen(res.mc_id), KMS_JWT_MAX_MC_ID);
	memcpy(big + 1 + KMS_JWT_MAX_MC_ID, "a\"", 3);
	EXPECT_REFUSED(
		token(H_ES256, (const struct claim[]){{"mcptt_id", big}, END}, ec1, SIGN_ES256),
		AUTH, "MC ID empty or too long");
	free(big);
}

static void
test_sub(void)
{
	struct kms_jwt_result res;
	char big[KMS_JWT_MAX_SUB + 8];

	EXPECT_OK(token(H_ES256, (const struct claim[]){{"sub", NULL}, END}, ec1, SIGN_ES256),
		  &res);
	CU_ASSERT_STRING_EQUAL(res.sub, "");
	EXPECT_REFUSED(token(H_ES256, (const struct claim[]){{"sub", "1"}, END}, ec1, SIGN_ES256),
		       AUTH, "bad sub");
	EXPECT_REFUSED(
		token(H_ES256, (const struct claim[]){{"sub", "\"\""}, END}, ec1, SIGN_ES256), AUTH,
		"bad sub");
	EXPECT_REFUSED(
		token(H_ES256, (const struct claim[]){{"sub", "\"a\\rb\""}, END}, ec1, SIGN_ES256),
		AUTH, "bad sub");
	big[0] = '"';
	memset(big + 1, 'b', KMS_JWT_MAX_SUB);
	memcpy(big + 1 + KMS_JWT_MAX_SUB, "\"", 2);
	EXPECT_OK(token(H_ES256, (const struct claim[]){{"sub", big}, END}, ec1, SIGN_ES256), &res);
	CU_ASSERT_EQUAL(strlen(res.sub), KMS_JWT_MAX_SUB);
	memcpy(big + 1 + KMS_JWT_MAX_SUB, "b\"", 3);
	EXPECT_REFUSED(token(H_ES256, (const struct claim[]){{"sub", big}, END}, ec1, SIGN_ES256),
		       AUTH, "bad sub");
}

/* ---- tests: header and algorithm attacks ---- */

static void
test_alg_none_and_unknown(void)
{
	static const struct {
		const char *header, *why;
	} cases[] = {
		{"{\"alg\":\"none\"}", "alg none refused"},
		{"{\"alg\":\"None\",\"kid\":\"r1\"}", "alg none refused"},
		{"{\"alg\":\"NONE\"}", "alg none refused"},
		{"{\"alg\":\"HS256\",\"kid\":\"r1\"}", "HMAC alg refused"},
		{"{\"alg\":\"HS512\"}", "HMAC alg refused"},
		{"{\"alg\":\"RS384\",\"kid\":\"r1\"}", "unsupported alg"},
		{"{\"alg\":\"ES512\"}", "unsupported alg"},
		{"{\"alg\":\"EdDSA\"}", "unsupported alg"},
		{"{\"alg\":\"rs256\",\"kid\":\"r1\"}", "unsupported alg"},
		{"{\"alg\":\"RS256 \",\"kid\":\"r1\"}", "unsupported alg"},
		{"{\"alg\":\"\"}", "unsupported alg"},
		{"{\"kid\":\"r1\"}", "alg missing"},
		{"{\"alg\":256}", "alg missing"},
		{"{\"alg\":null}", "alg missing"},
		{"{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"],\"exp\":1}", "crit refused"},
		{"{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[]}", "crit refused"},
		{"{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":null}", "crit refused"},
		{"{\"alg\":\"RS256\",\"kid\":7}", "kid is not a string"},
		{"{\"alg\":\"RS256\",\"kid\":\"nope\"}", "unknown kid"},
		{"{\"alg\":\"RS256\",\"kid\":\"\"}", "unknown kid"},
		{"{\"alg\":\"RS256\",\"kid\":\"R1\"}", "unknown kid"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_REFUSED(token(cases[i].header, NULL, rsa1, SIGN_FAKE), AUTH, cases[i].why);
	}
	/* alg none as attackers send it: no signature at all. */
	EXPECT_REFUSED(token("{\"alg\":\"none\"}", NULL, NULL, SIGN_EMPTY), AUTH, "unsigned token");
	EXPECT_REFUSED(token(H_RS256, NULL, NULL, SIGN_EMPTY), AUTH, "unsigned token");
}

/*
 * The classic confusion: HS256 keyed with the RSA public key (its PEM, or its DER, or the
 * JWK's n) that a library would hand to HMAC if it took the algorithm from the token.
 */
static void
test_hs256_confusion(void)
{
	hmac_secret = (const uint8_t *)rsa1_pem;
	hmac_secret_len = strlen(rsa1_pem);
	EXPECT_REFUSED(token("{\"alg\":\"HS256\",\"kid\":\"r1\"}", NULL, NULL, SIGN_HS256), AUTH,
		       "HMAC alg refused");
	EXPECT_REFUSED(token("{\"alg\":\"HS256\"}", NULL, NULL, SIGN_HS256), AUTH,
		       "HMAC alg refused");
	ks = pems;
	EXPECT_REFUSED(token("{\"alg\":\"HS256\"}", NULL, NULL, SIGN_HS256), AUTH,
		       "HMAC alg refused");
	/* A correct HMAC under an RS256 label is just a bad RSA signature. */
	EXPECT_REFUSED(token("{\"alg\":\"RS256\"}", NULL, NULL, SIGN_HS256), AUTH, "bad signature");
}

static void
test_alg_key_mismatch(void)
{
	/* The kid names a key of the other type. */
	EXPECT_REFUSED(token("{\"alg\":\"ES256\",\"kid\":\"r1\"}", NULL, ec1, SIGN_ES256), AUTH,
		       "alg does not match the key");
	EXPECT_REFUSED(token("{\"alg\":\"RS256\",\"kid\":\"e1\"}", NULL, rsa1, SIGN_RS256), AUTH,
		       "alg does not match the key");
	EXPECT_REFUSED(token("{\"alg\":\"PS256\",\"kid\":\"e1\"}", NULL, rsa1, SIGN_PS256), AUTH,
		       "alg does not match the key");
	/* The kid names a key whose own "alg" is RS256. */
	EXPECT_REFUSED(token("{\"alg\":\"PS256\",\"kid\":\"r2\"}", NULL, rsa2, SIGN_PS256), AUTH,
		       "alg does not match the key");
	/* PS256 means a 32-byte salt (RFC 7518, 3.5). */
	EXPECT_REFUSED(token(H_PS256, NULL, rsa1, SIGN_PS256_SALT0), AUTH, "bad signature");
	EXPECT_REFUSED(token(H_PS256, NULL, rsa1, SIGN_PS256_SALTMAX), AUTH, "bad signature");
	/* RS256 and PS256 are not interchangeable on one key. */
	EXPECT_REFUSED(token("{\"alg\":\"PS256\",\"kid\":\"r1\"}", NULL, rsa1, SIGN_RS256), AUTH,
		       "bad signature");
	EXPECT_REFUSED(token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", NULL, rsa1, SIGN_PS256), AUTH,
		       "bad signature");
}

static void
test_other_key(void)
{
	EXPECT_REFUSED(token(H_RS256, NULL, rsa2, SIGN_RS256), AUTH, "bad signature");
	EXPECT_REFUSED(token(H_PS256, NULL, rsa2, SIGN_PS256), AUTH, "bad signature");
	EXPECT_REFUSED(token(H_ES256, NULL, ec2, SIGN_ES256), AUTH, "bad signature");
	EXPECT_REFUSED(token("{\"alg\":\"ES256\"}", NULL, ec2, SIGN_ES256), AUTH, "bad signature");
	ks = pems;
	EXPECT_REFUSED(token("{\"alg\":\"RS256\"}", NULL, rsa2, SIGN_RS256), AUTH, "bad signature");
	/* An RSA signature of the wrong length (rsa1024's) for a 2048-bit key. */
	EXPECT_REFUSED(token("{\"alg\":\"RS256\"}", NULL, rsa1024, SIGN_RS256), AUTH,
		       "bad signature");
}

/* ---- tests: ES256 signature encoding ---- */

/* Make an ES256 token by ec1 whose signature is r || s transformed by fix. */
static char *
es256_with(void (*fix)(uint8_t raw[64]))
{
	const char *hdr = H_ES256;
	const char *pl = payload(NULL);
	uint8_t sig[MAX_SIG];
	char *input = malloc(strlen(hdr) * 2 + strlen(pl) * 2 + 8), *tok;
	size_t hl;

	REQUIRE(input != NULL);
	hl = b64url(input, (const uint8_t *)hdr, strlen(hdr));
	input[hl] = '.';
	(void)b64url(input + hl + 1, (const uint8_t *)pl, strlen(pl));
	REQUIRE(sign(sig, ec1, SIGN_ES256, input) == 64);
	fix(sig);
	tok = join(hdr, pl, sig, 64);
	free(input);
	return tok;
}

static const uint8_t order[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
	0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* x := n - x (32 bytes, big-endian) */
static void
negate(uint8_t x[32])
{
	int i, borrow = 0, d;

	for (i = 31; i >= 0; i--) {
		d = order[i] - x[i] - borrow;
		borrow = d < 0;
		x[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

static void
fix_none(uint8_t raw[64])
{
	(void)raw;
}

static void
fix_high_s(uint8_t raw[64])
{
	negate(raw + 32);
}

static void
fix_r_zero(uint8_t raw[64])
{
	memset(raw, 0, 32);
}

static void
fix_s_zero(uint8_t raw[64])
{
	memset(raw + 32, 0, 32);
}

static void
fix_r_order(uint8_t raw[64])
{
	memcpy(raw, order, 32);
}

static void
fix_s_order(uint8_t raw[64])
{
	memcpy(raw + 32, order, 32);
}

static void
fix_s_ones(uint8_t raw[64])
{
	memset(raw + 32, 0xff, 32);
}

static void
fix_r_plus_n(uint8_t raw[64])
{
	/* r + n overflows 256 bits for most r; r + n mod 2^256 is >= n or a different r */
	int i, carry = 0, d;

	for (i = 31; i >= 0; i--) {
		d = raw[i] + order[i] + carry;
		carry = d > 255;
		raw[i] = (uint8_t)d;
	}
}

static void
test_es256_encoding(void)
{
	struct kms_jwt_result res;

	EXPECT_OK(es256_with(fix_none), &res);
	/*
	 * High S: (r, n - s) is as valid as (r, s) for ECDSA, and OpenSSL-based signers make such
	 * signatures half the time, so it is accepted (docs/bearer-tokens.md: a token's bytes
	 * are therefore not unique, and must not serve as a replay-cache key).
	 */
	EXPECT_OK(es256_with(fix_high_s), &res);
	EXPECT_REFUSED(es256_with(fix_r_zero), AUTH, "bad signature");
	EXPECT_REFUSED(es256_with(fix_s_zero), AUTH, "bad signature");
	EXPECT_REFUSED(es256_with(fix_r_order), AUTH, "bad signature");
	EXPECT_REFUSED(es256_with(fix_s_order), AUTH, "bad signature");
	EXPECT_REFUSED(es256_with(fix_s_ones), AUTH, "bad signature");
	EXPECT_REFUSED(es256_with(fix_r_plus_n), AUTH, "bad signature");
	/* DER as OpenSSL makes it (70 to 72 bytes), and raw signatures of the wrong length. */
	EXPECT_REFUSED(token(H_ES256, NULL, ec1, SIGN_ES256_DER), AUTH,
		       "bad ES256 signature length");
	EXPECT_REFUSED(token(H_ES256, NULL, ec1, SIGN_FAKE), AUTH, "bad ES256 signature length");
	{
		uint8_t sig[65];
		char *tok;

		memset(sig, 1, sizeof(sig));
		tok = join(H_ES256, payload(NULL), sig, 63);
		EXPECT_REFUSED(tok, AUTH, "bad ES256 signature length");
		tok = join(H_ES256, payload(NULL), sig, 65);
		EXPECT_REFUSED(tok, AUTH, "bad ES256 signature length");
		tok = join(H_ES256, payload(NULL), sig, 64);
		EXPECT_REFUSED(tok, AUTH, "bad signature");
	}
}

/* ---- tests: structure and encoding ---- */

static void
test_structure(void)
{
	static const struct {
		const char *tok, *why;
	} cases[] = {
		{"", "malformed token (not three parts)"},
		{"abc", "malformed token (not three parts)"},
		{"e30.e30", "malformed token (not three parts)"},
		{"e30.e30.AAAA.AAAA", "malformed token (not three parts)"},
		{"..", "malformed token (empty part)"},
		{".e30.AAAA", "malformed token (empty part)"},
		{"e30..AAAA", "malformed token (empty part)"},
		{"e30.e30.", "unsigned token"},
		{"e30.e30.A", "bad base64url"},
		{"e30=.e30.AAAA", "bad base64url"},
		{"e30.e30=.AAAA", "bad base64url"},
		{"e30.e30.AA==", "bad base64url"},
		{"e3+.e30.AAAA", "bad base64url"},
		{"e30.e3/.AAAA", "bad base64url"},
		{"e30.e30.AA A", "bad base64url"},
		{"e30.e30.AA\tA", "bad base64url"},
		{"e31.e30.AAAA",
		 "bad base64url"}, /* non-canonical: low bits of the last char set */
		{"e30.e31.AAAA", "bad base64url"},
		{"e30.e30.AB", "bad base64url"},
		{"e30.e30.AAB", "bad base64url"},
		{" e30.e30.AAAA", "bad base64url"},
		{"e30.e30.AAAA\n", "bad base64url"},
		{"e30.e30.AAAA", "alg missing"},                      /* {} */
		{"W10.e30.AAAA", "header: not a JSON object"},        /* [] */
		{"MQ.e30.AAAA", "header: malformed JSON"},            /* 1 */
		{"eyJhbGciOiJSUzI1NiJ9IA.e30.AAAA", "bad signature"}, /* trailing space: valid */
		{"eyJhbGciOiJSUzI1NiJ9eA.e30.AAAA", "header: malformed JSON"},  /* trailing x */
		{"eyJhbGciOiJSUzI1NiJ9e30.e30.AAAA", "header: malformed JSON"}, /* two objects */
		{"77u_e30.e30.AAAA", "header: malformed JSON"}, /* byte order mark */
		{"eyJhbGciOiJSUzI1NiIsImFsZyI6IlJTMjU2In0.e30.AAAA",
		 "header: duplicate JSON member"}, /* {"alg":"RS256","alg":"RS256"} */
		{"eyJhbGciOiJSUzI1NiIsIlx1MDA2MWxnIjoiUlMyNTYifQ.e30.AAAA",
		 "header: duplicate JSON member"}, /* {"alg":"RS256","\u0061lg":"RS256"} */
		{"eyJhbGciOiLvv70ifQ.e30.AAAA", "unsupported alg"},            /* U+FFFD */
		{"eyJhbGciOiL_In0.e30.AAAA", "header: malformed JSON"},        /* a 0xff byte */
		{"eyJhbGciOiJcdTAwMDAifQ.e30.AAAA", "header: malformed JSON"}, /* \u0000 */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EXPECT_REFUSED(dup_str(cases[i].tok), AUTH, cases[i].why);
	}
	/* Bytes the string functions would stop at. */
	expect_refused_(dup_str("e30.e30.AAAA"), 13, AUTH, "bad base64url", __LINE__);
	{
		char nul[] = "e30.e\0.AAAA";

		expect_refused_(dup_str("x"), 0, AUTH, "malformed token (not three parts)",
				__LINE__);
		CU_ASSERT_EQUAL(kms_jwt_verify(ks, &pol, (const uint8_t *)nul, sizeof(nul) - 1, NOW,
					       &(struct kms_jwt_result){0}, NULL, 0),
				AUTH);
	}
}

/* The RS256 and ES256 samples with "pad" padding claims grown to reach want bytes. */
static char *
token_of_length(size_t want, EVP_PKEY *key, const char *hdr, enum sign_kind kind)
{
	char *pad = malloc(KMS_JWT_MAX_TOKEN + 8), *tok = NULL;
	size_t n, len;

	REQUIRE(pad != NULL);
	for (n = 0; n < KMS_JWT_MAX_TOKEN; n++) {
		pad[0] = '"';
		memset(pad + 1, 'p', n);
		memcpy(pad + 1 + n, "\"", 2);
		tok = token(hdr, (const struct claim[]){{"pad", pad}, END}, key, kind);
		len = strlen(tok);
		if (len >= want) {
			break;
		}
		free(tok);
		tok = NULL;
		if (len + 200 < want) {
			n += (want - len - 200) * 3 / 4;
		}
	}
	free(pad);
	return tok;
}

static void
test_size_limit(void)
{
	char *tok;
	size_t len;

	/* The largest accepted token: as close to 8192 bytes as base64 allows. */
	tok = token_of_length(KMS_JWT_MAX_TOKEN - 2, rsa1, H_RS256, SIGN_RS256);
	len = strlen(tok);
	CU_ASSERT(len >= KMS_JWT_MAX_TOKEN - 2 && len <= KMS_JWT_MAX_TOKEN);
	EXPECT_OK(tok, NULL);
	tok = token_of_length(KMS_JWT_MAX_TOKEN + 1, rsa1, H_RS256, SIGN_RS256);
	CU_ASSERT(strlen(tok) > KMS_JWT_MAX_TOKEN);
	EXPECT_REFUSED(tok, AUTH, "token too long");
	/* A huge token: refused before any work. */
	tok = malloc(1u << 20);
	REQUIRE(tok != NULL);
	memset(tok, 'A', (1u << 20) - 1);
	tok[(1u << 20) - 1] = '\0';
	EXPECT_REFUSED(tok, AUTH, "token too long");
}

/* The base payload plus "x" nested to depth levels in all: {..., "x":open...1...close}. */
static const char *
nested(unsigned int depth, const char *open, const char *close)
{
	static char buf[4096];
	size_t off;
	unsigned int i;

	(void)snprintf(buf, sizeof(buf), "%s", payload(NULL));
	off = strlen(buf) - 1; /* drop the closing brace */
	REQUIRE(off + 8 + depth * (strlen(open) + strlen(close)) < sizeof(buf));
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", ",\"x\":");
	for (i = 1; i < depth; i++) {
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", open);
	}
	buf[off++] = '1';
	for (i = 1; i < depth; i++) {
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s", close);
	}
	(void)snprintf(buf + off, sizeof(buf) - off, "%s", "}");
	return buf;
}

static void
test_nesting_and_duplicates(void)
{
	EXPECT_OK(token_raw(H_ES256, nested(KMS_JWT_MAX_DEPTH, "[", "]"), ec1, SIGN_ES256), NULL);
	EXPECT_OK(token_raw(H_ES256, nested(KMS_JWT_MAX_DEPTH, "{\"a\":", "}"), ec1, SIGN_ES256),
		  NULL);
	EXPECT_REFUSED(token_raw(H_ES256, nested(KMS_JWT_MAX_DEPTH + 1, "[", "]"), ec1, SIGN_ES256),
		       AUTH, "payload: JSON nested too deeply");
	EXPECT_REFUSED(token_raw(H_ES256, nested(100, "{\"a\":", "}"), ec1, SIGN_ES256), AUTH,
		       "payload: JSON nested too deeply");
	/* Brackets inside strings are text. */
	EXPECT_OK(token(H_ES256,
			(const struct claim[]){{"x", "\"[[[[[[[[[[[[{{{{{{{{{{\\\"[[[[[\""}, END},
			ec1, SIGN_ES256),
		  NULL);
	EXPECT_REFUSED(token("{\"alg\":\"ES256\",\"kid\":\"e1\",\"x\":[[[[[[[[1]]]]]]]]}", NULL,
			     ec1, SIGN_ES256),
		       AUTH, "header: JSON nested too deeply");
	/* Duplicates in the payload, plain and escaped. */
	EXPECT_REFUSED(token_raw(H_ES256,
				 "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE
				 "\",\"exp\":1700000300,\"exp\":1,\"scope\":\"3gpp:mc:ptt_key_"
				 "management_service\",\"mcptt_id\":\"sip:a@b\"}",
				 ec1, SIGN_ES256),
		       AUTH, "payload: duplicate JSON member");
	EXPECT_REFUSED(
		token_raw(H_ES256,
			  "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE
			  "\",\"exp\":1700000300,\"scope\":\"3gpp:mc:ptt_key_management_"
			  "service\",\"mcptt_id\":\"sip:a@b\",\"mcptt_\\u0069d\":\"sip:c@d\"}",
			  ec1, SIGN_ES256),
		AUTH, "payload: duplicate JSON member");
	EXPECT_REFUSED(token_raw(H_ES256, "[1]", ec1, SIGN_ES256), AUTH,
		       "payload: not a JSON object");
	EXPECT_REFUSED(token_raw(H_ES256, "{\"exp\":1700000300,}", ec1, SIGN_ES256), AUTH,
		       "payload: malformed JSON");
	EXPECT_REFUSED(token_raw(H_ES256, "{\"exp\":1700000300}{}", ec1, SIGN_ES256), AUTH,
		       "payload: malformed JSON");
	EXPECT_REFUSED(token_raw(H_ES256, "{\"exp\":1700000300,\"x\":\"\xc3\"}", ec1, SIGN_ES256),
		       AUTH, "payload: malformed JSON");
}

/* Every bit of every byte of tok, flipped one at a time: never accepted. */
static void
flip_text(const char *orig)
{
	char *tok = dup_str(orig);
	size_t len = strlen(tok), i, accepted = 0, other_code = 0;
	char err[128];
	struct kms_jwt_result res;
	int bit, r;

	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			tok[i] = (char)(tok[i] ^ (1 << bit));
			r = verify(tok, len, &res, err, sizeof(err));
			accepted += r == KMS_OK;
			other_code += r != KMS_OK && r != AUTH;
			tok[i] = orig[i];
		}
	}
	CU_ASSERT_EQUAL(accepted, 0);
	CU_ASSERT_EQUAL(other_code, 0);
	free(tok);
}

/* Every bit of each decoded part, flipped and re-encoded: never accepted. */
static void
flip_decoded(const char *header, const char *pl, EVP_PKEY *key, enum sign_kind kind)
{
	uint8_t sig[MAX_SIG], h[512], p[2048];
	size_t hl = strlen(header), ppl = strlen(pl), sl, i, accepted = 0, tried = 0;
	char *tok, err[128];
	struct kms_jwt_result res;
	int bit;

	REQUIRE(hl <= sizeof(h) && ppl <= sizeof(p));
	memcpy(h, header, hl);
	memcpy(p, pl, ppl);
	tok = token_raw(header, pl, key, kind);
	EXPECT_OK(tok, NULL);
	{
		char *input = malloc((hl + ppl) * 2 + 8);
		size_t n;

		REQUIRE(input != NULL);
		n = b64url(input, h, hl);
		input[n] = '.';
		(void)b64url(input + n + 1, p, ppl);
		sl = sign(sig, key, kind, input);
		free(input);
	}
	for (i = 0; i < hl + ppl + sl; i++) {
		for (bit = 0; bit < 8; bit++) {
			uint8_t *b = i < hl         ? &h[i]
				     : i < hl + ppl ? &p[i - hl]
						    : &sig[i - hl - ppl];
			char hs[1024], ps[4096];

			*b = (uint8_t)(*b ^ (1u << bit));
			/* join() takes text: the header and payload may hold any byte but NUL */
			memcpy(hs, h, hl);
			hs[hl] = '\0';
			memcpy(ps, p, ppl);
			ps[ppl] = '\0';
			if (strlen(hs) == hl && strlen(ps) == ppl) {
				tok = join(hs, ps, sig, sl);
				accepted +=
					verify(tok, strlen(tok), &res, err, sizeof(err)) == KMS_OK;
				tried++;
				free(tok);
			}
			*b = (uint8_t)(*b ^ (1u << bit));
		}
	}
	CU_ASSERT(tried > 8 * (hl + ppl));
	CU_ASSERT_EQUAL(accepted, 0);
}

static void
test_bit_flips(void)
{
	char *tok;

	tok = token(H_RS256, NULL, rsa1, SIGN_RS256);
	flip_text(tok);
	free(tok);
	tok = token(H_ES256, NULL, ec1, SIGN_ES256);
	flip_text(tok);
	free(tok);
	tok = token(H_PS256, NULL, rsa1, SIGN_PS256);
	flip_text(tok);
	free(tok);
	flip_decoded(H_ES256, payload(NULL), ec1, SIGN_ES256);
	flip_decoded(H_RS256, payload(NULL), rsa1, SIGN_RS256);
}

static void
test_truncation(void)
{
	static const enum sign_kind kinds[] = {SIGN_RS256, SIGN_ES256};
	static const char *const hdrs[] = {H_RS256, H_ES256};
	struct kms_jwt_result res;
	char err[128], *tok;
	size_t k, i, len, accepted, other;

	for (k = 0; k < 2; k++) {
		tok = token(hdrs[k], NULL, k == 0 ? rsa1 : ec1, kinds[k]);
		len = strlen(tok);
		accepted = other = 0;
		for (i = 0; i < len; i++) {
			int r = verify(tok, i, &res, err, sizeof(err));

			accepted += r == KMS_OK;
			other += r != KMS_OK && r != AUTH;
		}
		CU_ASSERT_EQUAL(accepted, 0);
		CU_ASSERT_EQUAL(other, 0);
		CU_ASSERT_EQUAL(verify(tok, len, &res, err, sizeof(err)), KMS_OK);
		/* and bytes after the end */
		{
			char *more = malloc(len + 3);

			REQUIRE(more != NULL);
			memcpy(more, tok, len);
			memcpy(more + len, "AA", 3);
			CU_ASSERT_EQUAL(verify(more, len + 2, &res, err, sizeof(err)), AUTH);
			memcpy(more + len, ".A", 3);
			CU_ASSERT_EQUAL(verify(more, len + 2, &res, err, sizeof(err)), AUTH);
			free(more);
		}
		free(tok);
	}
}

/* ---- tests: arguments, policy, messages ---- */

static void
test_policy_check(void)
{
	static const char *const two[] = {"a", "a"};
	static const char *const empty[] = {""};
	static const char *const nul[] = {NULL};
	static const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
	struct kms_jwt_policy p;
	char err[128], *tok;
	char long_name[KMS_JWT_MAX_CLAIM_NAME + 2];
	const char *one[1];
	struct kms_jwt_result res;

	CU_ASSERT_EQUAL(kms_jwt_policy_check(&pol, err, sizeof(err)), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(kms_jwt_policy_check(NULL, err, sizeof(err)), KMS_ERR_INVALID_ARG);
#define BAD_POLICY(field, value, why)                                                              \
	do {                                                                                       \
		p = pol;                                                                           \
		p.field = value;                                                                   \
		CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);  \
		CU_ASSERT_STRING_EQUAL(err, why);                                                  \
	} while (0)
	BAD_POLICY(audience, NULL, "the policy has no audience");
	BAD_POLICY(audience, "", "the policy has no audience");
	BAD_POLICY(issuer, "", "the policy's issuer is empty");
	BAD_POLICY(leeway, KMS_JWT_MAX_LEEWAY + 1, "the policy's leeway is too long");
	BAD_POLICY(max_lifetime, (uint64_t)KMS_JWT_MAX_TIME + 1,
		   "the policy's maximum lifetime is too long");
	BAD_POLICY(num_claims, 1, "the policy's MC service ID claim list is too long or missing");
	p = pol;
	p.claims = nine;
	p.num_claims = 9;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	p.claims = two;
	p.num_claims = 2;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_STRING_EQUAL(err, "an MC service ID claim name is repeated");
	p.claims = empty;
	p.num_claims = 1;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	p.claims = nul;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	memset(long_name, 'c', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	one[0] = long_name;
	p.claims = one;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	long_name[KMS_JWT_MAX_CLAIM_NAME] = '\0';
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_OK);
	p.claims = nine;
	p.num_claims = 8;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_OK);
	p = pol;
	p.leeway = KMS_JWT_MAX_LEEWAY;
	CU_ASSERT_EQUAL(kms_jwt_policy_check(&p, err, sizeof(err)), KMS_OK);
#undef BAD_POLICY

	/* verify() checks the policy and its other arguments too. */
	tok = token(H_ES256, NULL, ec1, SIGN_ES256);
	p = pol;
	p.audience = NULL;
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, &p, (const uint8_t *)tok, strlen(tok), NOW, &res, err,
				       sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_STRING_EQUAL(err, "the policy has no audience");
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok), -1, &res, err,
				       sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok),
				       KMS_JWT_MAX_TIME + 1, &res, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_verify(NULL, &pol, (const uint8_t *)tok, strlen(tok), NOW, &res,
				       err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, NULL, (const uint8_t *)tok, strlen(tok), NOW, &res, err,
				       sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, &pol, NULL, 0, NOW, &res, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok), NOW, NULL, err,
				       sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(
		kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok), NOW, &res, NULL, 5),
		KMS_ERR_INVALID_ARG);
	/* No message buffer, or a tiny one, is fine. */
	CU_ASSERT_EQUAL(
		kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok), NOW, &res, NULL, 0),
		KMS_OK);
	CU_ASSERT_EQUAL(
		kms_jwt_verify(ks, &pol, (const uint8_t *)tok, strlen(tok) - 1, NOW, &res, err, 4),
		AUTH);
	CU_ASSERT_STRING_EQUAL(err, "bad");
	free(tok);
}

/*
 * A token is a credential: plant a sentinel in every part and every claim, drive the errors,
 * and check that no message and no log line carries any of it.
 */
static void
test_no_token_in_messages(void)
{
	static const char *const claims[] = {"iss", "aud", "sub", "scope", "mcptt_id", "kid_x"};
	char logpath[400], logbuf[4096], err[128], hdr[256], val[128], *tok;
	struct kms_jwt_result res;
	size_t i, n = 0;
	int fd;

	(void)snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = kms_test_log_capture(logpath, "test_jwt");
	REQUIRE(fd >= 0);
	for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		struct claim over[] = {{claims[i], val}, END};

		(void)snprintf(val, sizeof(val), "\"SENTINEL%zu\"", i);
		tok = token(H_RS256, over, rsa1, SIGN_RS256);
		(void)verify(tok, strlen(tok), &res, err, sizeof(err));
		CU_ASSERT(strstr(err, "SENTINEL") == NULL);
		n += err[0] != '\0';
		free(tok);
	}
	(void)snprintf(hdr, sizeof(hdr), "{\"alg\":\"SENTINEL\",\"kid\":\"r1\"}");
	tok = token(hdr, NULL, rsa1, SIGN_RS256);
	(void)verify(tok, strlen(tok), &res, err, sizeof(err));
	CU_ASSERT(strstr(err, "SENTINEL") == NULL);
	free(tok);
	(void)snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"SENTINEL\"}");
	tok = token(hdr, NULL, rsa1, SIGN_RS256);
	(void)verify(tok, strlen(tok), &res, err, sizeof(err));
	CU_ASSERT(strstr(err, "SENTINEL") == NULL);
	CU_ASSERT(strstr(err, "U0VOVElORU") == NULL); /* base64 of it */
	free(tok);
	CU_ASSERT(n >= 4); /* the iss, aud, scope and mcptt_id ones were refused */
	(void)kms_test_read_fd(fd, logbuf, sizeof(logbuf));
	CU_ASSERT_STRING_EQUAL(logbuf, ""); /* nothing is logged at all */
	kms_test_log_release(fd);
}

/* ---- tests: key sets ---- */

struct keyset_case {
	const char *text; /* %1$s: a valid RSA JWK body, %2$s: a valid EC one (without braces) */
	int code;
	const char *msg; /* the message after "t.jwks: " must contain it */
};

static void
check_keyset(const char *text, int code, const char *msg, int line)
{
	struct kms_jwt_keys *const sentinel = (struct kms_jwt_keys *)(uintptr_t)16;
	struct kms_jwt_keys *set = sentinel; /* must be cleared */
	char err[KMS_JWT_ERR_LEN];
	int r;

	memset(err, 'Z', sizeof(err));
	r = keys_parse(&set, err, sizeof(err), text);
	if (r != code || strncmp(err, "t.jwks: ", 8) != 0 || strstr(err, msg) == NULL) {
		fprintf(stderr, "\ntest_jwt.c:%d: got (%d, \"%s\"), want (%d, \"...%s...\")\n",
			line, r, err, code, msg);
	}
	CU_ASSERT_EQUAL(r, code);
	CU_ASSERT(set == NULL);
	CU_ASSERT(strncmp(err, "t.jwks: ", 8) == 0);
	CU_ASSERT(strstr(err, msg) != NULL);
	if (set != sentinel) {
		kms_jwt_keys_free(set);
	}
}

#define CHECK_KEYSET(text, code, msg) check_keyset((text), (code), (msg), __LINE__)

/* A JWK of key with its outer braces dropped, so tests can add members. */
static char *
jwk_body(EVP_PKEY *key)
{
	char *j = jwk(key, "");
	size_t n = strlen(j);

	memmove(j, j + 1, n - 2);
	j[n - 2] = '\0';
	return j;
}

/* tmpl with each '@' replaced by rep, into out (cap bytes). */
static void
subst(char *out, size_t cap, const char *tmpl, const char *rep)
{
	size_t off = 0, n = strlen(rep);

	for (; *tmpl != '\0'; tmpl++) {
		if (*tmpl == '@') {
			REQUIRE(off + n < cap);
			memcpy(out + off, rep, n);
			off += n;
		} else {
			REQUIRE(off + 1 < cap);
			out[off++] = *tmpl;
		}
	}
	out[off] = '\0';
}

static void
test_jwks_errors(void)
{
	char *rsa = jwk_body(rsa1), *ec = jwk_body(ec1), *small = jwk_body(rsa1024);
	char text[8192], *s;
	static const struct {
		const char *tmpl; /* @: the RSA JWK body */
		int code;
		const char *msg;
	} rsa_cases[] = {
		{"{\"keys\":[{@,\"d\":\"SECRETD\"}]}", KMS_ERR_PARSE,
		 "keys[0]: holds the private key member \"d\""},
		{"{\"keys\":[{@,\"use\":\"enc\"}]}", KMS_ERR_PARSE, "\"use\" is not \"sig\""},
		{"{\"keys\":[{@,\"key_ops\":[\"sign\"]}]}", KMS_ERR_PARSE,
		 "\"key_ops\" does not allow \"verify\""},
		{"{\"keys\":[{@,\"key_ops\":\"verify\"}]}", KMS_ERR_PARSE,
		 "\"key_ops\" is not an array"},
		{"{\"keys\":[{@,\"alg\":\"RS512\"}]}", KMS_ERR_UNSUPPORTED,
		 "\"alg\" \"RS512\" is not supported for an RSA key"},
		{"{\"keys\":[{@,\"alg\":\"ES256\"}]}", KMS_ERR_UNSUPPORTED,
		 "\"alg\" \"ES256\" is not supported for an RSA key"},
		{"{\"keys\":[{@,\"alg\":\"none\"}]}", KMS_ERR_UNSUPPORTED, "\"alg\" \"none\""},
		{"{\"keys\":[{@,\"alg\":5}]}", KMS_ERR_PARSE, "\"alg\" is not a string"},
		{"{\"keys\":[{@,\"kid\":\"\"}]}", KMS_ERR_PARSE, "\"kid\" must be a string"},
		{"{\"keys\":[{@,\"kid\":5}]}", KMS_ERR_PARSE, "\"kid\" must be a string"},
		{"{\"keys\":[{@,\"kid\":\"a\\nb\"}]}", KMS_ERR_PARSE, "\"kid\" must be a string"},
		{"{\"keys\":[{@,\"kid\":\"a\"},{@,\"kid\":\"b\"},{@,\"kid\":\"a\"}]}",
		 KMS_ERR_PARSE, "keys[2]: the same \"kid\" as keys[0]"},
		{"{\"keys\":[{@}],\"keys\":[]}", KMS_ERR_PARSE, "duplicate member"},
		{"{\"keys\":[{@,\"kid\":\"x\",\"kid\":\"y\"}]}", KMS_ERR_PARSE, "duplicate member"},
		{"{\"keys\":[{@}]} x", KMS_ERR_PARSE, "characters after the end"},
		{"{\"keys\":[{@,\"x\":[[[[[[[1]]]]]]]}]}", KMS_ERR_PARSE, "nested deeper than 8"},
	};
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} cases[] = {
		{"", KMS_ERR_PARSE, "empty"},
		{" \n\t\r\n", KMS_ERR_PARSE, "empty"},
		{"{", KMS_ERR_PARSE, "line 1, column 1: the text ends early"},
		{"{\"keys\":[}", KMS_ERR_PARSE, "syntax error"},
		{"{\"keys\":[\"\xff\"]}", KMS_ERR_PARSE, "invalid UTF-8"},
		{"{\"keys\":[\"\\u0000\"]}", KMS_ERR_PARSE, "\\u0000 in a string"},
		{"{\"keys\":[1e999]}", KMS_ERR_PARSE, "number out of range"},
		{"[]", KMS_ERR_PARSE, "not a JWKS"},
		{"{}", KMS_ERR_PARSE, "not a JWKS"},
		{"{\"keys\":{}}", KMS_ERR_PARSE, "not a JWKS"},
		{"{\"keys\":[]}", KMS_ERR_PARSE, "the \"keys\" array is empty"},
		{"{\"keys\":[1]}", KMS_ERR_PARSE, "keys[0]: not a JSON object"},
		{"{\"keys\":[{}]}", KMS_ERR_PARSE, "keys[0]: no \"kty\" string"},
		{"{\"keys\":[{\"kty\":1}]}", KMS_ERR_PARSE, "keys[0]: no \"kty\" string"},
		{"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", KMS_ERR_PARSE,
		 "private key member \"k\""},
		{"{\"keys\":[{\"kty\":\"oct\"}]}", KMS_ERR_UNSUPPORTED,
		 "\"kty\" \"oct\" is not supported"},
		{"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
		 KMS_ERR_UNSUPPORTED, "\"kty\" \"OKP\" is not supported"},
		{"{\"keys\":[{\"kty\":\"rsa\"}]}", KMS_ERR_UNSUPPORTED, "\"kty\" \"rsa\""},
		{"{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", KMS_ERR_PARSE,
		 "keys[0]: no \"n\""},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":5,\"e\":\"AQAB\"}]}", KMS_ERR_PARSE,
		 "\"n\" is not a string"},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB=\",\"e\":\"AQAB\"}]}", KMS_ERR_ENCODING,
		 "\"n\" is not unpadded base64url"},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}]}", KMS_ERR_ENCODING,
		 "\"n\" is not unpadded base64url"},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQ+B\",\"e\":\"AQAB\"}]}", KMS_ERR_ENCODING,
		 "\"n\" is not unpadded base64url"},
		{"{\"keys\":[{\"kty\":\"EC\",\"x\":\"AA\",\"y\":\"AA\"}]}", KMS_ERR_PARSE,
		 "no \"crv\" string"},
		{"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		 KMS_ERR_UNSUPPORTED, "\"crv\" \"secp256k1\" is not supported"},
		{"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		 KMS_ERR_RANGE, "\"x\" is not 32 bytes"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_KEYSET(cases[i].text, cases[i].code, cases[i].msg);
	}
	for (i = 0; i < sizeof(rsa_cases) / sizeof(rsa_cases[0]); i++) {
		subst(text, sizeof(text), rsa_cases[i].tmpl, rsa);
		CHECK_KEYSET(text, rsa_cases[i].code, rsa_cases[i].msg);
	}
	/* The private member's value is never quoted. */
	{
		struct kms_jwt_keys *set = NULL;
		char err[KMS_JWT_ERR_LEN];

		(void)snprintf(text, sizeof(text), "{\"keys\":[{%s,\"d\":\"SECRETD\"}]}", rsa);
		CU_ASSERT_EQUAL(keys_parse(&set, err, sizeof(err), text), KMS_ERR_PARSE);
		CU_ASSERT(strstr(err, "SECRETD") == NULL);
		/* nor is a malformed file's text */
		CU_ASSERT_EQUAL(keys_parse(&set, err, sizeof(err), "{\"d\":SECRETD}"),
				KMS_ERR_PARSE);
		CU_ASSERT(strstr(err, "SECRETD") == NULL);
	}

	/* RSA: too small; leading zeros; even, tiny and huge exponents. */
	(void)snprintf(text, sizeof(text), "{\"keys\":[{%s}]}", small);
	CHECK_KEYSET(text, KMS_ERR_RANGE, "keys[0]: an RSA modulus of 1024 bits (2048 to 4096");
	s = strstr(rsa, "\"n\":\"") + 5;
	(void)snprintf(text, sizeof(text), "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AAAA%s}]}", s);
	CHECK_KEYSET(text, KMS_ERR_ENCODING, "\"n\" has a leading zero byte");
	{
		static const struct {
			const char *e;
			int code;
			const char *msg;
		} exps[] = {
			{"AQAA", KMS_ERR_RANGE, "the RSA exponent must be odd"},    /* 65536 */
			{"AQ", KMS_ERR_RANGE, "the RSA exponent must be odd"},      /* 1 */
			{"AAEAAQ", KMS_ERR_ENCODING, "\"e\" has a leading zero"},   /* 0x00010001 */
			{"AQAAAAE", KMS_ERR_RANGE, "the RSA exponent must be odd"}, /* 2^32 + 1 */
			{"AQAAAAAAAAAB", KMS_ERR_RANGE, "\"e\" is too long"},       /* 9 bytes */
			{"Aw", 0, NULL},                                            /* 3 */
			{"_____w", 0, NULL},                                        /* 2^32 - 1 */
		};
		char *n_only = dup_str(rsa);
		struct kms_jwt_keys *set = NULL;
		char err[KMS_JWT_ERR_LEN];

		*strstr(n_only, ",\"e\":") = '\0';
		for (i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
			(void)snprintf(text, sizeof(text), "{\"keys\":[{%s,\"e\":\"%s\"}]}", n_only,
				       exps[i].e);
			if (exps[i].msg != NULL) {
				CHECK_KEYSET(text, exps[i].code, exps[i].msg);
			} else {
				CU_ASSERT_EQUAL(keys_parse(&set, err, sizeof(err), text), KMS_OK);
				kms_jwt_keys_free(set);
				set = NULL;
			}
		}
		free(n_only);
	}

	/* EC: other curves, short and long coordinates, a point off the curve. */
	CHECK_KEYSET("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		     KMS_ERR_UNSUPPORTED, "\"crv\" \"P-384\" is not supported");
	{
		char *bad = dup_str(ec);
		char *y = strstr(bad, "\"y\":\"") + 5;

		/* Change y's first character: (x, y') is (almost surely) off the curve. */
		y[0] = y[0] == 'A' ? 'B' : 'A';
		(void)snprintf(text, sizeof(text), "{\"keys\":[{%s}]}", bad);
		CHECK_KEYSET(text, KMS_ERR_POINT, "keys[0]: x, y is not a point of P-256");
		free(bad);
		/* 33 bytes of x; 35 bytes of x */
		(void)snprintf(text, sizeof(text),
			       "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":"
			       "\"AA\"}]}",
			       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		CHECK_KEYSET(text, KMS_ERR_RANGE, "\"x\" is not 32 bytes");
		(void)snprintf(text, sizeof(text),
			       "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":"
			       "\"AA\"}]}",
			       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		CHECK_KEYSET(text, KMS_ERR_RANGE, "\"x\" is too long");
	}
	free(rsa);
	free(ec);
	free(small);
}

static void
test_jwks_limits(void)
{
	char *ec = jwk_body(ec1), *text = malloc(64 * 1024), kid[32];
	struct kms_jwt_keys *set = NULL;
	char err[KMS_JWT_ERR_LEN];
	size_t off, i;
	uint8_t *big;

	REQUIRE(text != NULL);
	/* 64 keys are fine (the same key under 64 kids), 65 are not. */
	off = (size_t)snprintf(text, 64 * 1024, "{\"keys\":[");
	for (i = 0; i < KMS_JWT_MAX_KEYS + 1; i++) {
		(void)snprintf(kid, sizeof(kid), "k%zu", i);
		off += (size_t)snprintf(text + off, 64 * 1024 - off, "%s{%s,\"kid\":\"%s\"}",
					i == 0 ? "" : ",", ec, kid);
		if (i == KMS_JWT_MAX_KEYS - 1) {
			char *end = text + off;

			memcpy(end, "]}", 3);
			CU_ASSERT_EQUAL(keys_parse(&set, err, sizeof(err), text), KMS_OK);
			CU_ASSERT_EQUAL(kms_jwt_keys_count(set), KMS_JWT_MAX_KEYS);
			/* the last one is found by its kid */
			ks = set;
			EXPECT_OK(
				token("{\"alg\":\"ES256\",\"kid\":\"k63\"}", NULL, ec1, SIGN_ES256),
				NULL);
			ks = jwks;
			kms_jwt_keys_free(set);
			set = NULL;
		}
	}
	memcpy(text + off, "]}", 3);
	CHECK_KEYSET(text, KMS_ERR_TOO_LARGE, "more than 64 keys");

	/* 65 PEM blocks */
	{
		char *one = pem(ec1, false);
		size_t n = strlen(one);

		off = 0;
		for (i = 0; i < KMS_JWT_MAX_KEYS + 1; i++) {
			memcpy(text + off, one, n);
			off += n;
		}
		text[off] = '\0';
		CHECK_KEYSET(text, KMS_ERR_TOO_LARGE, "more than 64 keys");
		text[n * KMS_JWT_MAX_KEYS] = '\0';
		CU_ASSERT_EQUAL(keys_parse(&set, err, sizeof(err), text), KMS_OK);
		CU_ASSERT_EQUAL(kms_jwt_keys_count(set), KMS_JWT_MAX_KEYS);
		kms_jwt_keys_free(set);
		set = NULL;
		free(one);
	}

	/* Over 1 MiB */
	big = malloc(KMS_JWT_MAX_KEYS_FILE + 1);
	REQUIRE(big != NULL);
	memset(big, ' ', KMS_JWT_MAX_KEYS_FILE + 1);
	big[0] = '{';
	CU_ASSERT_EQUAL(kms_jwt_keys_parse(&set, err, sizeof(err), "t.jwks", big,
					   KMS_JWT_MAX_KEYS_FILE + 1),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(err, "larger than 1048576 bytes") != NULL);
	CU_ASSERT(set == NULL);
	free(big);
	free(ec);
	free(text);
}

static void
test_pem_errors(void)
{
	char *priv = pem(rsa1, true), *cert = cert_pem(ec1), *p384 = pem(ec384, false);
	char *small = pem(rsa1024, false), *ed = pem(ed25519, false), *good = pem(ec1, false);
	char text[16384], *cut;

	CHECK_KEYSET(priv, KMS_ERR_PARSE, "PEM block 1: a private key");
	CHECK_KEYSET(cert, KMS_ERR_UNSUPPORTED, "PEM block 1: a certificate");
	CHECK_KEYSET(p384, KMS_ERR_UNSUPPORTED, "PEM block 1: an EC key not on P-256");
	CHECK_KEYSET(small, KMS_ERR_RANGE, "PEM block 1: an RSA modulus of 1024 bits");
	CHECK_KEYSET(ed, KMS_ERR_UNSUPPORTED, "PEM block 1: a key type other than RSA and EC");
	CHECK_KEYSET("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
		     KMS_ERR_UNSUPPORTED, "\"RSA PUBLIC KEY\" is not a PUBLIC KEY block");
	CHECK_KEYSET("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", KMS_ERR_PARSE,
		     "PEM block 1: not a DER SubjectPublicKeyInfo");
	CHECK_KEYSET("hello", KMS_ERR_PARSE, "neither a JWKS (JSON) nor PEM public keys");
	/* A P-256 key whose point is the point at infinity (the one-byte encoding 00). */
	CHECK_KEYSET(
		"-----BEGIN PUBLIC KEY-----\nMBkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDAgAA\n-----END PUBLIC "
		"KEY-----\n",
		KMS_ERR_POINT, "PEM block 1: the EC public key is not a point of P-256");
	/* The second block is the bad one. */
	(void)snprintf(text, sizeof(text), "%s%s", good, priv);
	CHECK_KEYSET(text, KMS_ERR_PARSE, "PEM block 2: a private key");
	/* A block without its END line. */
	(void)snprintf(text, sizeof(text), "%s", good);
	cut = strstr(text, "-----END");
	*cut = '\0';
	CHECK_KEYSET(text, KMS_ERR_PARSE, "PEM block 1: malformed");
	/* Bad base64 inside. */
	(void)snprintf(text, sizeof(text), "%s", good);
	text[40] = '*';
	CHECK_KEYSET(text, KMS_ERR_PARSE, "PEM block 1: malformed");
	free(priv);
	free(cert);
	free(p384);
	free(small);
	free(ed);
	free(good);
}

static void
test_load_errors(void)
{
	struct kms_jwt_keys *set = NULL;
	char err[KMS_JWT_ERR_LEN], path[400];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/missing", dir);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), path), KMS_ERR_IO);
	CU_ASSERT(strncmp(err, path, strlen(path)) == 0 && strstr(err, "cannot open") != NULL);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), dir), KMS_ERR_IO);
	CU_ASSERT(strstr(err, "not a regular file (a directory)") != NULL);
	/* Over 1 MiB on disk: refused before reading. */
	(void)snprintf(path, sizeof(path), "%s/big.jwks", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, KMS_JWT_MAX_KEYS_FILE + 1) == 0);
	(void)close(fd);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), path), KMS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(err, "larger than") != NULL);
	/* A bad file: the message names it. */
	(void)snprintf(path, sizeof(path), "%s/bad.jwks", dir);
	write_file(path, "{\"keys\":[]}");
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), path), KMS_ERR_PARSE);
	CU_ASSERT(strncmp(err, path, strlen(path)) == 0);
	CU_ASSERT(set == NULL);
	/* A small buffer gets a cut message. */
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, 12, path), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(strlen(err), 11);
	CU_ASSERT(strcmp(err + 8, "...") == 0);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, NULL, 0, path), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(NULL, err, sizeof(err), path), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_keys_parse(&set, err, sizeof(err), "x", NULL, 1),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_jwt_keys_count(NULL), 0);
	kms_jwt_keys_free(NULL);
}

/* Load path: it must fail with want_r and exactly the message "PATH" want_suffix. */
static void
expect_load_fail(const char *path, int want_r, const char *want_suffix)
{
	struct kms_jwt_keys *set = NULL;
	char err[KMS_JWT_ERR_LEN];
	size_t lp = strlen(path);

	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), path), want_r);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT(strncmp(err, path, lp) == 0 && strcmp(err + lp, want_suffix) == 0);
	kms_jwt_keys_free(set);
}

/*
 * The file checks of kms_jwt_keys_load beyond test_load_errors: the size bound exactly at and
 * one past the limit, symbolic links followed, FIFOs (refused without blocking the open) and
 * devices refused, and the exact messages.
 */
static void
test_load_files(void)
{
	struct kms_jwt_keys *set = NULL;
	char err[KMS_JWT_ERR_LEN], path[400], link[400], fifo[400];
	uint8_t *text;
	FILE *f;
	size_t len;
	int fd;

	/* The suite's JWKS padded with spaces to exactly the limit: read and parsed whole. */
	text = malloc(KMS_JWT_MAX_KEYS_FILE + 1);
	REQUIRE(text != NULL);
	f = fopen(jwks_path, "rb");
	REQUIRE(f != NULL);
	len = fread(text, 1, KMS_JWT_MAX_KEYS_FILE, f);
	REQUIRE(len > 0 && len < KMS_JWT_MAX_KEYS_FILE && fclose(f) == 0);
	memset(text + len, ' ', KMS_JWT_MAX_KEYS_FILE + 1 - len);
	(void)snprintf(path, sizeof(path), "%s/limit.jwks", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, KMS_JWT_MAX_KEYS_FILE) == (ssize_t)KMS_JWT_MAX_KEYS_FILE);
	REQUIRE(close(fd) == 0);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), path), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(kms_jwt_keys_count(set), 3);
	kms_jwt_keys_free(set);
	set = NULL;
	/* One byte more: refused before it is read. */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, " ", 1) == 1);
	REQUIRE(close(fd) == 0);
	expect_load_fail(path, KMS_ERR_TOO_LARGE, ": larger than 1048576 bytes");
	free(text);

	/* A symbolic link is followed (documented in kms/jwt.h). */
	(void)snprintf(link, sizeof(link), "%s/link.jwks", dir);
	REQUIRE(symlink(jwks_path, link) == 0);
	CU_ASSERT_EQUAL(kms_jwt_keys_load(&set, err, sizeof(err), link), KMS_OK);
	CU_ASSERT_EQUAL(kms_jwt_keys_count(set), 3);
	kms_jwt_keys_free(set);
	set = NULL;

	/* Not regular files: a FIFO without a writer (the open must not wait), a device. */
	(void)snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	REQUIRE(mkfifo(fifo, 0600) == 0);
	expect_load_fail(fifo, KMS_ERR_IO, ": not a regular file");
	expect_load_fail("/dev/null", KMS_ERR_IO, ": not a regular file");
	expect_load_fail(dir, KMS_ERR_IO, ": not a regular file (a directory)");
	(void)snprintf(path, sizeof(path), "%s/missing", dir);
	expect_load_fail(path, KMS_ERR_IO, ": cannot open: No such file or directory");
	/* A dangling link is a missing file. */
	(void)snprintf(link, sizeof(link), "%s/dangling.jwks", dir);
	REQUIRE(symlink(path, link) == 0);
	expect_load_fail(link, KMS_ERR_IO, ": cannot open: No such file or directory");
}

static CU_TestInfo token_tests[] = {
	{"valid RS256, PS256, ES256 tokens", test_valid_each_alg},
	{"tokens without kid; PEM keys", test_valid_without_kid},
	{"typ", test_typ},
	{"exp, nbf, iat and the leeway", test_times},
	{"exp, nbf, iat types and ranges", test_time_types},
	{"maximum lifetime", test_max_lifetime},
	{"audience: string and array", test_audience},
	{"issuer", test_issuer},
	{"key-management scopes", test_scopes},
	{"MC service ID claims and their order", test_mc_id_claims},
	{"MC service ID values", test_mc_id_values},
	{"sub", test_sub},
	{"alg none, HMAC, unknown alg, crit, kid", test_alg_none_and_unknown},
	{"HS256 keyed with the RSA public key", test_hs256_confusion},
	{"alg and key type mismatch", test_alg_key_mismatch},
	{"signature by another key", test_other_key},
	{"ES256: raw r||s only, high S, zero and out-of-range r, s", test_es256_encoding},
	{"structure and base64url", test_structure},
	{"size limit", test_size_limit},
	{"JSON nesting and duplicate members", test_nesting_and_duplicates},
	{"one bit flipped anywhere", test_bit_flips},
	{"truncation at every offset, bytes after the end", test_truncation},
	{"policy and argument checks", test_policy_check},
	{"no token content in messages or logs", test_no_token_in_messages},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo keyset_tests[] = {
	{"JWKS content errors", test_jwks_errors},
	{"JWKS and PEM limits", test_jwks_limits},
	{"PEM content errors", test_pem_errors},
	{"file errors and messages", test_load_errors},
	{"file size bound, links, FIFOs and devices", test_load_files},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"jwt tokens", suite_init, suite_clean, setup, teardown, token_tests},
	{"jwt key sets", suite_init, suite_clean, setup, teardown, keyset_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
