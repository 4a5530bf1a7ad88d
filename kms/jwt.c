/* SPDX-License-Identifier: Apache-2.0 */
#include "kms/jwt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "common/conf.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * Attacker model. A token arrives from any client that reached kmsd's TLS listener: every byte
 * is hostile. Only the header is parsed before the signature is checked (it picks the key);
 * the payload is decoded but parsed as JSON only once the signature holds, so jansson sees
 * unauthenticated bytes of at most one part of at most KMS_JWT_MAX_TOKEN bytes, after our own
 * depth scan. A token is a credential: no reason string carries any byte of it.
 *
 * The key set comes from a file the operator configured; it is still parsed strictly, because
 * a wrong key set fails open (a key that should not be trusted) or closed (every client out).
 */

#define ALG_BIT(a) (1u << (unsigned int)(a))
#define RSA_ALGS   (ALG_BIT(KMS_JWT_RS256) | ALG_BIT(KMS_JWT_PS256))
#define EC_ALGS    ALG_BIT(KMS_JWT_ES256)
#define P256_LEN   ((size_t)32)
#define QUOTE_MAX  32u /* bytes of a key set value quoted in a message */

struct jwt_key {
	EVP_PKEY *pkey;    /* owned */
	int type;          /* EVP_PKEY_RSA or EVP_PKEY_EC */
	unsigned int algs; /* ALG_BIT() of the algorithms this key may verify */
	bool has_kid;
	size_t kid_len;
	char kid[KMS_JWT_MAX_KID + 1];
};

struct kms_jwt_keys {
	size_t num;
	struct jwt_key key[KMS_JWT_MAX_KEYS];
};

/* The order of the P-256 group, big-endian: r and s of an ES256 signature lie in [1, n). */
static const uint8_t p256_order[P256_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
	0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static const char *const default_claims[] = {"mcptt_id", "mcdata_id", "mcvideo_id"};

static const struct {
	const char *name;
	unsigned int bit;
} scopes[] = {
	{"3gpp:mc:ptt_key_management_service", KMS_JWT_SCOPE_PTT},
	{"3gpp:mc:data_key_management_service", KMS_JWT_SCOPE_DATA},
	{"3gpp:mc:video_key_management_service", KMS_JWT_SCOPE_VIDEO},
	{"3gpp:mcptt:key_management_server", KMS_JWT_SCOPE_MCPTT_LEGACY},
};

/* JWK members that only a private or symmetric key has: refused in a key set. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* ---- messages ---- */

/*
 * Write "NAME: " and the formatted message into err (err_len bytes) with kms_conf_verrf: a
 * message that does not fit is cut on a character boundary and ends in "...". Returns code.
 */
static int fail(char *err, size_t err_len, const char *name, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int
fail(char *err, size_t err_len, const char *name, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)kms_conf_verrf(err, err_len, name, 0, fmt, ap);
	va_end(ap);
	return code;
}

/* Put the constant reason into err (cut to err_len - 1 bytes). */
static void
set_reason(char *err, size_t err_len, const char *reason)
{
	if (err_len > 0) {
		(void)snprintf(err, err_len, "%s", reason);
	}
}

/*
 * A key set value for a message: up to QUOTE_MAX bytes of printable ASCII, anything else
 * replaced by '?', "..." after a longer one. out has QUOTE_MAX + 4 bytes.
 */
static void
quote(char *out, const char *s)
{
	size_t i;

	for (i = 0; i < QUOTE_MAX && s[i] != '\0'; i++) {
		out[i] = s[i];
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"') {
			out[i] = '?';
		}
	}
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* ---- lexical checks ---- */

/*
 * base64url without padding (RFC 7515, 2), the one encoding of each byte string
 * (common/base64.h): a token cannot be altered without breaking its signature.
 */
static int
b64url_decode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in, size_t in_len)
{
	return kms_b64_decode(out, cap, out_len, (const char *)in, in_len, KMS_B64_URL);
}

/*
 * Whether the nesting of arrays and objects in the JSON text s[0..len) stays within max_depth,
 * scanning as a JSON lexer does (brackets inside strings do not count). jansson recurses per
 * level; this bounds the recursion before jansson sees the text. Malformed text may pass: the
 * parser refuses it.
 */
static bool
json_depth_ok(const uint8_t *s, size_t len, unsigned int max_depth)
{
	unsigned int depth = 0;
	bool in_string = false, escaped = false;
	size_t i;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (escaped) {
				escaped = false;
			} else if (s[i] == '\\') {
				escaped = true;
			} else if (s[i] == '"') {
				in_string = false;
			}
			continue;
		}
		switch (s[i]) {
		case '"':
			in_string = true;
			break;
		case '[':
		case '{':
			if (++depth > max_depth) {
				return false;
			}
			break;
		case ']':
		case '}':
			if (depth > 0) {
				depth--;
			}
			break;
		default:
			break;
		}
	}
	return true;
}

/* Whether s[0..len) holds a C0 control, DEL, or a C1 control (U+0080..U+009F in UTF-8). */
static bool
has_control(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f) {
			return true;
		}
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
			return true;
		}
	}
	return false;
}

/* Whether s[0..len) starts with a URI scheme and ':' (RFC 3986, 3.1) with something after it. */
static bool
is_uri(const char *s, size_t len)
{
	size_t i;

	if (len < 3 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
		return false;
	}
	for (i = 1; i < len; i++) {
		char c = s[i];

		if (c == ':') {
			return i + 1 < len;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.')) {
			return false;
		}
	}
	return false;
}

/* A JSON string value equal to s (NUL-terminated). */
static bool
json_str_eq(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), s, n) == 0;
}

/* ---- keys ---- */

/* A short description of a jansson error, without jansson's text (it quotes the input). */
static const char *
json_error_what(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "the text ends early";
	case json_error_end_of_input_expected:
		return "characters after the end of the JSON value";
	case json_error_duplicate_key:
		return "duplicate member";
	case json_error_numeric_overflow:
		return "number out of range";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "\\u0000 in a string";
	case json_error_stack_overflow:
		return "nested too deeply";
	default:
		return "syntax error";
	}
}

/*
 * Check a public key of either source: RSA moduli of KMS_JWT_MIN_RSA_BITS ..
 * KMS_JWT_MAX_RSA_BITS bits with an odd exponent in [3, 2^32), EC keys on P-256 only; then
 * OpenSSL's own public key check. where ("keys[2]", "PEM block 1") prefixes the message.
 */
static int
check_key(EVP_PKEY *pkey, int type, char *err, size_t err_len, const char *name, const char *where)
{
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *e = NULL;
	char group[64];
	int bits, r = KMS_ERR_INTERNAL;

	if (type == EVP_PKEY_RSA) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < (int)KMS_JWT_MIN_RSA_BITS || bits > (int)KMS_JWT_MAX_RSA_BITS) {
			r = fail(err, err_len, name, KMS_ERR_RANGE,
				 "%s: an RSA modulus of %d bits (%u to %u allowed)", where, bits,
				 KMS_JWT_MIN_RSA_BITS, KMS_JWT_MAX_RSA_BITS);
			goto out;
		}
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
			r = fail(err, err_len, name, KMS_ERR_CRYPTO, "%s: cannot read the exponent",
				 where);
			goto out;
		}
		if (!BN_is_odd(e) || BN_num_bits(e) > 32 || BN_num_bits(e) < 2) {
			r = fail(err, err_len, name, KMS_ERR_RANGE,
				 "%s: the RSA exponent must be odd, from 3 to 2^32 - 1", where);
			goto out;
		}
	} else {
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1 ||
		    strcmp(group, SN_X9_62_prime256v1) != 0) {
			r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				 "%s: an EC key not on P-256 (the only curve of ES256)", where);
			goto out;
		}
	}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		r = fail(err, err_len, name, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (EVP_PKEY_public_check(ctx) != 1) {
		r = type == EVP_PKEY_RSA
			    ? fail(err, err_len, name, KMS_ERR_RANGE,
				   "%s: the RSA public key fails its check", where)
			    : fail(err, err_len, name, KMS_ERR_POINT,
				   "%s: the EC public key is not a point of P-256", where);
		goto out;
	}
	r = KMS_OK;
out:
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/*
 * Decode the base64url member mem of JWK obj into out (cap bytes). Missing, not a string, bad
 * base64url, too long: a message naming where and mem.
 */
static int
jwk_bytes(const json_t *obj, const char *mem, uint8_t *out, size_t cap, size_t *out_len, char *err,
	  size_t err_len, const char *name, const char *where)
{
	const json_t *v = json_object_get(obj, mem);
	int r;

	*out_len = 0;
	if (v == NULL) {
		return fail(err, err_len, name, KMS_ERR_PARSE, "%s: no \"%s\"", where, mem);
	}
	if (!json_is_string(v)) {
		return fail(err, err_len, name, KMS_ERR_PARSE, "%s: \"%s\" is not a string", where,
			    mem);
	}
	r = b64url_decode(out, cap, out_len, (const uint8_t *)json_string_value(v),
			  json_string_length(v));
	if (r == KMS_ERR_TOO_LARGE) {
		return fail(err, err_len, name, KMS_ERR_RANGE, "%s: \"%s\" is too long", where,
			    mem);
	}
	if (r != KMS_OK || *out_len == 0) {
		return fail(err, err_len, name, KMS_ERR_ENCODING,
			    "%s: \"%s\" is not unpadded base64url of at least one byte", where,
			    mem);
	}
	return KMS_OK;
}

/* An RSA public key from the big-endian modulus and exponent. */
static int
rsa_from_ne(EVP_PKEY **out, const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	if ((bn_n = BN_bin2bn(n, (int)n_len, NULL)) == NULL ||
	    (bn_e = BN_bin2bn(e, (int)e_len, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL) {
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		*out = NULL;
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = KMS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	ERR_clear_error();
	return r;
}

/* A P-256 public key from its coordinates (32 bytes each); KMS_ERR_POINT if OpenSSL refuses. */
static int
ec_from_xy(EVP_PKEY **out, const uint8_t x[P256_LEN], const uint8_t y[P256_LEN])
{
	uint8_t pub[1 + 2 * P256_LEN];
	char group[] = SN_X9_62_prime256v1;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	int r = KMS_ERR_NOMEM;

	*out = NULL;
	pub[0] = 0x04; /* uncompressed */
	memcpy(pub + 1, x, P256_LEN);
	memcpy(pub + 1 + P256_LEN, y, P256_LEN);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) {
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		*out = NULL;
		r = KMS_ERR_POINT; /* OpenSSL decodes the point and refuses one off the curve */
		goto out;
	}
	r = KMS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/* The optional "kid", "use", "key_ops" and "alg" of JWK obj, into k (algs narrowed). */
static int
jwk_common(struct jwt_key *k, const json_t *obj, char *err, size_t err_len, const char *name,
	   const char *where)
{
	const json_t *v, *op;
	char q[QUOTE_MAX + 4];
	size_t i;
	bool verify = false;

	if ((v = json_object_get(obj, "kid")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > KMS_JWT_MAX_KID ||
		    has_control(json_string_value(v), json_string_length(v))) {
			return fail(err, err_len, name, KMS_ERR_PARSE,
				    "%s: \"kid\" must be a string of 1 to %u bytes without control "
				    "characters",
				    where, KMS_JWT_MAX_KID);
		}
		k->has_kid = true;
		k->kid_len = json_string_length(v);
		memcpy(k->kid, json_string_value(v), k->kid_len);
		k->kid[k->kid_len] = '\0';
	}
	if ((v = json_object_get(obj, "use")) != NULL && !json_str_eq(v, "sig")) {
		return fail(err, err_len, name, KMS_ERR_PARSE,
			    "%s: \"use\" is not \"sig\": not a signature key", where);
	}
	if ((v = json_object_get(obj, "key_ops")) != NULL) {
		if (!json_is_array(v)) {
			return fail(err, err_len, name, KMS_ERR_PARSE,
				    "%s: \"key_ops\" is not an array", where);
		}
		json_array_foreach(v, i, op)
		{
			if (!json_is_string(op)) {
				return fail(err, err_len, name, KMS_ERR_PARSE,
					    "%s: \"key_ops\" holds a non-string", where);
			}
			verify = verify || json_str_eq(op, "verify");
		}
		if (!verify) {
			return fail(err, err_len, name, KMS_ERR_PARSE,
				    "%s: \"key_ops\" does not allow \"verify\"", where);
		}
	}
	if ((v = json_object_get(obj, "alg")) != NULL) {
		if (!json_is_string(v)) {
			return fail(err, err_len, name, KMS_ERR_PARSE,
				    "%s: \"alg\" is not a string", where);
		}
		if (json_str_eq(v, "RS256") && k->type == EVP_PKEY_RSA) {
			k->algs = ALG_BIT(KMS_JWT_RS256);
		} else if (json_str_eq(v, "PS256") && k->type == EVP_PKEY_RSA) {
			k->algs = ALG_BIT(KMS_JWT_PS256);
		} else if (json_str_eq(v, "ES256") && k->type == EVP_PKEY_EC) {
			k->algs = ALG_BIT(KMS_JWT_ES256);
		} else {
			quote(q, json_string_value(v));
			return fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				    "%s: \"alg\" \"%s\" is not supported for an %s key (%s)", where,
				    q, k->type == EVP_PKEY_RSA ? "RSA" : "EC",
				    k->type == EVP_PKEY_RSA ? "RS256 or PS256" : "ES256");
		}
	}
	return KMS_OK;
}

/* One JWK (RFC 7517, 4; RFC 7518, 6) into k. */
static int
parse_jwk(struct jwt_key *k, const json_t *obj, char *err, size_t err_len, const char *name,
	  size_t index)
{
	/* RSA moduli up to KMS_JWT_MAX_RSA_BITS; the cap leaves room to tell "too big". */
	uint8_t n[KMS_JWT_MAX_RSA_BITS / 8 + 1], e[8], x[P256_LEN + 1], y[P256_LEN + 1];
	size_t n_len, e_len, x_len, y_len, i;
	char where[32], q[QUOTE_MAX + 4];
	const json_t *kty, *crv;
	int r = KMS_ERR_INTERNAL;

	(void)snprintf(where, sizeof(where), "keys[%zu]", index);
	if (!json_is_object(obj)) {
		r = fail(err, err_len, name, KMS_ERR_PARSE, "%s: not a JSON object", where);
		goto out;
	}
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
		if (json_object_get(obj, private_members[i]) != NULL) {
			r = fail(err, err_len, name, KMS_ERR_PARSE,
				 "%s: holds the private key member \"%s\"; a key set holds public "
				 "keys only (and this private key is no longer secret)",
				 where, private_members[i]);
			goto out;
		}
	}
	if ((kty = json_object_get(obj, "kty")) == NULL || !json_is_string(kty)) {
		r = fail(err, err_len, name, KMS_ERR_PARSE, "%s: no \"kty\" string", where);
		goto out;
	}
	if (json_str_eq(kty, "RSA")) {
		k->type = EVP_PKEY_RSA;
		k->algs = RSA_ALGS;
	} else if (json_str_eq(kty, "EC")) {
		k->type = EVP_PKEY_EC;
		k->algs = EC_ALGS;
	} else {
		quote(q, json_string_value(kty));
		r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
			 "%s: \"kty\" \"%s\" is not supported (RSA or EC)", where, q);
		goto out;
	}
	if ((r = jwk_common(k, obj, err, err_len, name, where)) != KMS_OK) {
		goto out;
	}
	if (k->type == EVP_PKEY_RSA) {
		if ((r = jwk_bytes(obj, "n", n, sizeof(n), &n_len, err, err_len, name, where)) !=
			    KMS_OK ||
		    (r = jwk_bytes(obj, "e", e, sizeof(e), &e_len, err, err_len, name, where)) !=
			    KMS_OK) {
			goto out;
		}
		if (n[0] == 0 || e[0] == 0) {
			r = fail(err, err_len, name, KMS_ERR_ENCODING,
				 "%s: \"%s\" has a leading zero byte (RFC 7518 wants the shortest "
				 "form)",
				 where, n[0] == 0 ? "n" : "e");
			goto out;
		}
		if ((r = rsa_from_ne(&k->pkey, n, n_len, e, e_len)) != KMS_OK) {
			r = fail(err, err_len, name, r, "%s: OpenSSL refuses the RSA key", where);
			goto out;
		}
	} else {
		if ((crv = json_object_get(obj, "crv")) == NULL || !json_is_string(crv)) {
			r = fail(err, err_len, name, KMS_ERR_PARSE, "%s: no \"crv\" string", where);
			goto out;
		}
		if (!json_str_eq(crv, "P-256")) {
			quote(q, json_string_value(crv));
			r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				 "%s: \"crv\" \"%s\" is not supported (P-256)", where, q);
			goto out;
		}
		if ((r = jwk_bytes(obj, "x", x, sizeof(x), &x_len, err, err_len, name, where)) !=
			    KMS_OK ||
		    (r = jwk_bytes(obj, "y", y, sizeof(y), &y_len, err, err_len, name, where)) !=
			    KMS_OK) {
			goto out;
		}
		if (x_len != P256_LEN || y_len != P256_LEN) {
			r = fail(err, err_len, name, KMS_ERR_RANGE,
				 "%s: \"%s\" is not %zu bytes (RFC 7518, 6.2.1.2)", where,
				 x_len != P256_LEN ? "x" : "y", P256_LEN);
			goto out;
		}
		if ((r = ec_from_xy(&k->pkey, x, y)) != KMS_OK) {
			r = fail(err, err_len, name, r, "%s: x, y is not a point of P-256", where);
			goto out;
		}
	}
	r = check_key(k->pkey, k->type, err, err_len, name, where);
out:
	return r;
}

static int
parse_jwks(struct kms_jwt_keys *set, char *err, size_t err_len, const char *name,
	   const uint8_t *data, size_t len)
{
	json_error_t jerr;
	json_t *root = NULL;
	const json_t *arr, *obj;
	size_t i, j;
	int r = KMS_ERR_INTERNAL;

	if (!json_depth_ok(data, len, KMS_JWT_MAX_DEPTH)) {
		r = fail(err, err_len, name, KMS_ERR_PARSE, "JSON nested deeper than %u levels",
			 KMS_JWT_MAX_DEPTH);
		goto out;
	}
	if ((root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = json_error_code(&jerr) == json_error_out_of_memory ? KMS_ERR_NOMEM
								       : KMS_ERR_PARSE;
		r = fail(err, err_len, name, r, "line %d, column %d: %s", jerr.line, jerr.column,
			 json_error_what(&jerr));
		goto out;
	}
	if (!json_is_object(root) || (arr = json_object_get(root, "keys")) == NULL ||
	    !json_is_array(arr)) {
		r = fail(err, err_len, name, KMS_ERR_PARSE,
			 "not a JWKS: a JSON object with a \"keys\" array");
		goto out;
	}
	if (json_array_size(arr) == 0) {
		r = fail(err, err_len, name, KMS_ERR_PARSE, "the \"keys\" array is empty");
		goto out;
	}
	if (json_array_size(arr) > KMS_JWT_MAX_KEYS) {
		r = fail(err, err_len, name, KMS_ERR_TOO_LARGE, "more than %u keys",
			 KMS_JWT_MAX_KEYS);
		goto out;
	}
	json_array_foreach(arr, i, obj)
	{
		struct jwt_key *k = &set->key[i];

		set->num = i + 1; /* k->pkey is freed with the set whatever happens */
		if ((r = parse_jwk(k, obj, err, err_len, name, i)) != KMS_OK) {
			goto out;
		}
		for (j = 0; j < i && k->has_kid; j++) {
			if (set->key[j].has_kid && set->key[j].kid_len == k->kid_len &&
			    memcmp(set->key[j].kid, k->kid, k->kid_len) == 0) {
				r = fail(err, err_len, name, KMS_ERR_PARSE,
					 "keys[%zu]: the same \"kid\" as keys[%zu]", i, j);
				goto out;
			}
		}
	}
	r = KMS_OK;
out:
	json_decref(root);
	return r;
}

/* Whether the PEM reader stopped at the end of the text, rather than on a broken block. */
static bool
pem_at_end(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static int
parse_pem(struct kms_jwt_keys *set, char *err, size_t err_len, const char *name,
	  const uint8_t *data, size_t len)
{
	BIO *bio = NULL;
	char *pem_name = NULL, *header = NULL, where[32], q[QUOTE_MAX + 4];
	unsigned char *der = NULL;
	const unsigned char *p;
	long der_len = 0;
	size_t block;
	int r = KMS_ERR_INTERNAL;

	ERR_clear_error();
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = fail(err, err_len, name, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (block = 1;; block++) {
		struct jwt_key *k;

		(void)snprintf(where, sizeof(where), "PEM block %zu", block);
		if (PEM_read_bio(bio, &pem_name, &header, &der, &der_len) != 1) {
			if (pem_at_end() && block > 1) {
				break;
			}
			r = pem_at_end()
				    ? fail(err, err_len, name, KMS_ERR_PARSE,
					   "neither a JWKS (JSON) nor PEM public keys")
				    : fail(err, err_len, name, KMS_ERR_PARSE,
					   "%s: malformed (bad base64, or no END line)", where);
			goto out;
		}
		if (set->num == KMS_JWT_MAX_KEYS) {
			r = fail(err, err_len, name, KMS_ERR_TOO_LARGE, "more than %u keys",
				 KMS_JWT_MAX_KEYS);
			goto out;
		}
		if (strstr(pem_name, "PRIVATE KEY") != NULL) {
			r = fail(
				err, err_len, name, KMS_ERR_PARSE,
				"%s: a private key; a key set holds public keys only (openssl pkey "
				"-pubout)",
				where);
			goto out;
		}
		if (strcmp(pem_name, "CERTIFICATE") == 0) {
			r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				 "%s: a certificate; give its public key (openssl x509 -pubkey "
				 "-noout)",
				 where);
			goto out;
		}
		if (strcmp(pem_name, "PUBLIC KEY") != 0) {
			quote(q, pem_name);
			r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				 "%s: \"%s\" is not a PUBLIC KEY block (convert a PKCS#1 RSA key "
				 "with openssl rsa -RSAPublicKey_in -pubout)",
				 where, q);
			goto out;
		}
		if (header[0] != '\0') {
			r = fail(err, err_len, name, KMS_ERR_PARSE, "%s: has PEM headers", where);
			goto out;
		}
		k = &set->key[set->num];
		p = der;
		k->pkey = d2i_PUBKEY(NULL, &p, der_len);
		set->num++; /* k->pkey is freed with the set whatever happens */
		if (k->pkey == NULL || p != der + der_len) {
			r = fail(err, err_len, name, KMS_ERR_PARSE,
				 "%s: not a DER SubjectPublicKeyInfo%s", where,
				 k->pkey == NULL ? "" : " (bytes after it)");
			goto out;
		}
		k->type = EVP_PKEY_get_base_id(k->pkey);
		if (k->type == EVP_PKEY_RSA) {
			k->algs = RSA_ALGS;
		} else if (k->type == EVP_PKEY_EC) {
			k->algs = EC_ALGS;
		} else {
			r = fail(err, err_len, name, KMS_ERR_UNSUPPORTED,
				 "%s: a key type other than RSA and EC P-256", where);
			goto out;
		}
		if ((r = check_key(k->pkey, k->type, err, err_len, name, where)) != KMS_OK) {
			goto out;
		}
		OPENSSL_free(pem_name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		pem_name = header = NULL;
		der = NULL;
	}
	r = KMS_OK;
out:
	OPENSSL_free(pem_name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

int
kms_jwt_keys_parse(struct kms_jwt_keys **out, char *err, size_t err_len, const char *name,
		   const uint8_t *data, size_t len)
{
	struct kms_jwt_keys *set = NULL;
	size_t i = 0;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (err_len > 0) {
		if (err == NULL) {
			return KMS_ERR_INVALID_ARG;
		}
		err[0] = '\0';
	}
	if (out == NULL || name == NULL || (data == NULL && len > 0)) {
		set_reason(err, err_len, "invalid argument");
		return KMS_ERR_INVALID_ARG;
	}
	if (len > KMS_JWT_MAX_KEYS_FILE) {
		return fail(err, err_len, name, KMS_ERR_TOO_LARGE, "larger than %u bytes",
			    KMS_JWT_MAX_KEYS_FILE);
	}
	/*
	 * jansson seeds its hash function on first use, from /dev/urandom; this happens at startup,
	 * before a sandbox could forbid the open and leave it a guessable seed.
	 */
	json_object_seed(0);
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		return fail(err, err_len, name, KMS_ERR_NOMEM, "out of memory");
	}
	while (i < len &&
	       (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) {
		i++;
	}
	if (i == len) {
		r = fail(err, err_len, name, KMS_ERR_PARSE, "empty: no keys");
		goto out;
	}
	if (data[i] == '{' || data[i] == '[') {
		r = parse_jwks(set, err, err_len, name, data, len);
	} else {
		r = parse_pem(set, err, err_len, name, data, len);
	}
	if (r != KMS_OK) {
		goto out;
	}
	*out = set;
	set = NULL; /* transferred */
	set_reason(err, err_len, "");
out:
	kms_jwt_keys_free(set);
	return r;
}

int
kms_jwt_keys_load(struct kms_jwt_keys **out, char *err, size_t err_len, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (out != NULL) {
		*out = NULL;
	}
	if ((err == NULL && err_len > 0) || out == NULL || path == NULL) {
		set_reason(err, err_len, "invalid argument");
		return KMS_ERR_INVALID_ARG;
	}
	/* Its messages have the form of kms_jwt_keys_parse's: "PATH: message". */
	if ((r = kms_conf_read_file(path, KMS_JWT_MAX_KEYS_FILE, &buf, &len, err, err_len)) !=
	    KMS_OK) {
		return r;
	}
	r = kms_jwt_keys_parse(out, err, err_len, path, buf, len);
	kms_memzero(buf, len + 1); /* a mistaken file may hold a private key */
	free(buf);
	return r;
}

void
kms_jwt_keys_free(struct kms_jwt_keys *keys)
{
	size_t i;

	if (keys == NULL) {
		return;
	}
	for (i = 0; i < keys->num; i++) {
		EVP_PKEY_free(keys->key[i].pkey);
	}
	free(keys);
}

size_t
kms_jwt_keys_count(const struct kms_jwt_keys *keys)
{
	return keys == NULL ? 0 : keys->num;
}

/* ---- policy ---- */

int
kms_jwt_policy_check(const struct kms_jwt_policy *policy, char *err, size_t err_len)
{
	size_t i, j, n;

	if (err == NULL && err_len > 0) {
		return KMS_ERR_INVALID_ARG;
	}
	set_reason(err, err_len, "");
	if (policy == NULL) {
		set_reason(err, err_len, "no policy");
		return KMS_ERR_INVALID_ARG;
	}
	if (policy->audience == NULL || policy->audience[0] == '\0') {
		set_reason(err, err_len, "the policy has no audience");
		return KMS_ERR_INVALID_ARG;
	}
	if (policy->issuer != NULL && policy->issuer[0] == '\0') {
		set_reason(err, err_len, "the policy's issuer is empty");
		return KMS_ERR_INVALID_ARG;
	}
	if (policy->num_claims > KMS_JWT_MAX_CLAIMS ||
	    (policy->claims == NULL && policy->num_claims > 0)) {
		set_reason(err, err_len,
			   "the policy's MC service ID claim list is too long or missing");
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < policy->num_claims; i++) {
		n = policy->claims[i] == NULL
			    ? 0
			    : strnlen(policy->claims[i], KMS_JWT_MAX_CLAIM_NAME + 1);
		if (n == 0 || n > KMS_JWT_MAX_CLAIM_NAME) {
			set_reason(err, err_len,
				   "an MC service ID claim name is empty or too long");
			return KMS_ERR_INVALID_ARG;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(policy->claims[i], policy->claims[j]) == 0) {
				set_reason(err, err_len, "an MC service ID claim name is repeated");
				return KMS_ERR_INVALID_ARG;
			}
		}
	}
	if (policy->leeway > KMS_JWT_MAX_LEEWAY) {
		set_reason(err, err_len, "the policy's leeway is too long");
		return KMS_ERR_INVALID_ARG;
	}
	if (policy->max_lifetime > (uint64_t)KMS_JWT_MAX_TIME) {
		set_reason(err, err_len, "the policy's maximum lifetime is too long");
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

/* ---- tokens ---- */

/* The decoded parts of a token, in one buffer of the token's length. */
struct parts {
	const uint8_t *signing_input; /* borrowed from the token: header "." payload */
	size_t signing_input_len;
	uint8_t *header, *payload, *sig; /* borrowed from the buffer */
	size_t header_len, payload_len, sig_len;
};

/*
 * Split the token at its two dots and decode the three parts into buf (token_len bytes, which
 * the decoded parts never exceed). KMS_ERR_AUTH with *why, or KMS_OK.
 */
static int
split_decode(struct parts *p, uint8_t *buf, const uint8_t *token, size_t token_len,
	     const char **why)
{
	const uint8_t *dot1, *dot2;
	size_t len1, len2, len3, used;

	dot1 = memchr(token, '.', token_len);
	dot2 = dot1 == NULL ? NULL : memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || memchr(dot2 + 1, '.', token_len - (size_t)(dot2 + 1 - token)) != NULL) {
		*why = "malformed token (not three parts)";
		return KMS_ERR_AUTH;
	}
	len1 = (size_t)(dot1 - token);
	len2 = (size_t)(dot2 - dot1 - 1);
	len3 = token_len - (size_t)(dot2 + 1 - token);
	if (len1 == 0 || len2 == 0 || len3 == 0) {
		*why = len1 > 0 && len2 > 0 ? "unsigned token" : "malformed token (empty part)";
		return KMS_ERR_AUTH;
	}
	p->signing_input = token;
	p->signing_input_len = (size_t)(dot2 - token);
	p->header = buf;
	if (b64url_decode(p->header, token_len, &p->header_len, token, len1) != KMS_OK) {
		*why = "bad base64url";
		return KMS_ERR_AUTH;
	}
	used = p->header_len;
	p->payload = buf + used;
	if (b64url_decode(p->payload, token_len - used, &p->payload_len, dot1 + 1, len2) !=
	    KMS_OK) {
		*why = "bad base64url";
		return KMS_ERR_AUTH;
	}
	used += p->payload_len;
	p->sig = buf + used;
	if (b64url_decode(p->sig, token_len - used, &p->sig_len, dot2 + 1, len3) != KMS_OK) {
		*why = "bad base64url";
		return KMS_ERR_AUTH;
	}
	return KMS_OK;
}

/* Parse s[0..len) as a JSON object into *out (owned). KMS_ERR_AUTH with *why, KMS_ERR_NOMEM. */
static int
load_object(json_t **out, const uint8_t *s, size_t len, bool header, const char **why)
{
	json_error_t jerr;

	*out = NULL;
	if (!json_depth_ok(s, len, KMS_JWT_MAX_DEPTH)) {
		*why = header ? "header: JSON nested too deeply"
			      : "payload: JSON nested too deeply";
		return KMS_ERR_AUTH;
	}
	if ((*out = json_loadb((const char *)s, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			*why = "out of memory";
			return KMS_ERR_NOMEM;
		}
		if (json_error_code(&jerr) == json_error_duplicate_key) {
			*why = header ? "header: duplicate JSON member"
				      : "payload: duplicate JSON member";
		} else {
			*why = header ? "header: malformed JSON" : "payload: malformed JSON";
		}
		return KMS_ERR_AUTH;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		*why = header ? "header: not a JSON object" : "payload: not a JSON object";
		return KMS_ERR_AUTH;
	}
	return KMS_OK;
}

/* Whether the string v is, case-insensitively, "JWT" or "at+jwt", or either after "application/".
 */
static bool
typ_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	static const char prefix[] = "application/";

	if (n > sizeof(prefix) - 1 && strncasecmp(s, prefix, sizeof(prefix) - 1) == 0) {
		s += sizeof(prefix) - 1;
		n -= sizeof(prefix) - 1;
	}
	return (n == 3 && strncasecmp(s, "JWT", 3) == 0) ||
	       (n == 6 && strncasecmp(s, "at+jwt", 6) == 0);
}

/* The JOSE header (RFC 7515, 4.1): alg, crit, typ, kid. */
static int
check_header(const json_t *hdr, enum kms_jwt_alg *alg, const json_t **kid, const char **why)
{
	const json_t *v;

	*kid = NULL;
	if ((v = json_object_get(hdr, "alg")) == NULL || !json_is_string(v)) {
		*why = "alg missing";
		return KMS_ERR_AUTH;
	}
	if (json_str_eq(v, "RS256")) {
		*alg = KMS_JWT_RS256;
	} else if (json_str_eq(v, "PS256")) {
		*alg = KMS_JWT_PS256;
	} else if (json_str_eq(v, "ES256")) {
		*alg = KMS_JWT_ES256;
	} else if (json_string_length(v) == 4 &&
		   strncasecmp(json_string_value(v), "none", 4) == 0) {
		*why = "alg none refused";
		return KMS_ERR_AUTH;
	} else if (json_string_length(v) >= 2 && strncasecmp(json_string_value(v), "HS", 2) == 0) {
		/* With an RSA public key as the HMAC secret: the classic key confusion. */
		*why = "HMAC alg refused";
		return KMS_ERR_AUTH;
	} else {
		*why = "unsupported alg";
		return KMS_ERR_AUTH;
	}
	/* We implement no extension, so a critical one is never understood (RFC 7515, 4.1.11). */
	if (json_object_get(hdr, "crit") != NULL) {
		*why = "crit refused";
		return KMS_ERR_AUTH;
	}
	if ((v = json_object_get(hdr, "typ")) != NULL && (!json_is_string(v) || !typ_ok(v))) {
		*why = "bad typ";
		return KMS_ERR_AUTH;
	}
	if ((v = json_object_get(hdr, "kid")) != NULL) {
		if (!json_is_string(v)) {
			*why = "kid is not a string";
			return KMS_ERR_AUTH;
		}
		*kid = v;
	}
	return KMS_OK;
}

/*
 * An ES256 signature r || s as the DER ECDSA-Sig-Value OpenSSL verifies (der: 72 bytes at
 * most). r and s must lie in [1, n): OpenSSL would refuse others too, but refusing them here
 * keeps the rule independent of the library. KMS_ERR_AUTH, KMS_ERR_NOMEM or KMS_OK.
 */
static int
es256_der(uint8_t *der, size_t cap, size_t *der_len, const uint8_t sig[2 * P256_LEN])
{
	static const uint8_t zero[P256_LEN];
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	int n, ret = KMS_ERR_NOMEM;

	*der_len = 0;
	if (memcmp(sig, zero, P256_LEN) == 0 || memcmp(sig + P256_LEN, zero, P256_LEN) == 0 ||
	    memcmp(sig, p256_order, P256_LEN) >= 0 ||
	    memcmp(sig + P256_LEN, p256_order, P256_LEN) >= 0) {
		return KMS_ERR_AUTH;
	}
	if ((es = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, (int)P256_LEN, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + P256_LEN, (int)P256_LEN, NULL)) == NULL) {
		goto out;
	}
	if (ECDSA_SIG_set0(es, r, s) != 1) {
		goto out;
	}
	r = s = NULL; /* transferred */
	n = i2d_ECDSA_SIG(es, NULL);
	if (n <= 0 || (size_t)n > cap || i2d_ECDSA_SIG(es, &p) != n) {
		ret = KMS_ERR_CRYPTO;
		goto out;
	}
	*der_len = (size_t)n;
	ret = KMS_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return ret;
}

/*
 * Verify sig (for ES256 already in DER) over msg with key k and alg. *ok tells the verdict;
 * the return is KMS_OK, or KMS_ERR_NOMEM / KMS_ERR_CRYPTO when the check could not run.
 */
static int
verify_with(const struct jwt_key *k, enum kms_jwt_alg alg, const uint8_t *msg, size_t msg_len,
	    const uint8_t *sig, size_t sig_len, bool *ok)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int r = KMS_ERR_CRYPTO;

	*ok = false;
	/* An RSA signature is exactly as long as the modulus (RFC 8017, 8.1.2 and 8.2.2). */
	if (k->type == EVP_PKEY_RSA && sig_len != (size_t)EVP_PKEY_get_size(k->pkey)) {
		return KMS_OK;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, NULL, k->pkey, NULL) != 1) {
		goto out;
	}
	if (alg == KMS_JWT_PS256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
		goto out;
	}
	*ok = EVP_DigestVerify(mctx, sig, sig_len, msg, msg_len) == 1;
	r = KMS_OK;
out:
	EVP_MD_CTX_free(mctx); /* frees pctx */
	ERR_clear_error();
	return r;
}

/*
 * Pick the key(s) and check the signature; *used is the key that verified. Without a "kid",
 * every key that fits alg is tried. With a "kid" that a key of the set has, that key alone is
 * tried (its type and "alg" must fit alg). With a "kid" that no key has, the keys without a kid
 * that fit alg are tried: a set from PEM files has no kids, and an IdMS may send one anyway.
 * A key with another kid is never tried for a token with a kid.
 */
static int
check_signature(const struct kms_jwt_keys *keys, const struct parts *p, enum kms_jwt_alg alg,
		const json_t *kid, const struct jwt_key **used, const char **why)
{
	uint8_t der[80];
	const uint8_t *sig = p->sig;
	size_t sig_len = p->sig_len, i, tried = 0;
	const struct jwt_key *k = NULL, *named = NULL;
	bool ok = false;
	int r;

	*used = NULL;
	if (alg == KMS_JWT_ES256) {
		/* JWS wants r || s (RFC 7518, 3.4); a DER signature is refused, not converted. */
		if (sig_len != 2 * P256_LEN) {
			*why = "bad ES256 signature length";
			return KMS_ERR_AUTH;
		}
		if ((r = es256_der(der, sizeof(der), &sig_len, sig)) != KMS_OK) {
			*why = r == KMS_ERR_AUTH ? "bad signature" : "cannot check the signature";
			return r;
		}
		sig = der;
	}
	for (i = 0; kid != NULL && i < keys->num; i++) {
		k = &keys->key[i];
		if (k->has_kid && k->kid_len == json_string_length(kid) &&
		    memcmp(k->kid, json_string_value(kid), k->kid_len) == 0) {
			named = k;
			break;
		}
	}
	if (named != NULL && (named->algs & ALG_BIT(alg)) == 0) {
		*why = "alg does not match the key";
		return KMS_ERR_AUTH;
	}
	for (i = 0; i < keys->num && !ok; i++) {
		k = &keys->key[i];
		if (named != NULL
			    ? k != named
			    : ((kid != NULL && k->has_kid) || (k->algs & ALG_BIT(alg)) == 0)) {
			continue;
		}
		tried++;
		if ((r = verify_with(k, alg, p->signing_input, p->signing_input_len, sig, sig_len,
				     &ok)) != KMS_OK) {
			*why = "cannot check the signature";
			return r;
		}
	}
	if (tried == 0) {
		*why = kid != NULL ? "unknown kid" : "no key for alg";
		return KMS_ERR_AUTH;
	}
	if (!ok) {
		*why = "bad signature";
		return KMS_ERR_AUTH;
	}
	*used = k;
	return KMS_OK;
}

/* A NumericDate claim: absent (when optional) or a JSON integer in 0 .. KMS_JWT_MAX_TIME. */
struct time_claim {
	const char *name;
	const char *missing, *not_integer, *range;
};

static const struct time_claim claim_exp = {"exp", "exp missing", "exp is not an integer",
					    "exp out of range"};
static const struct time_claim claim_nbf = {"nbf", NULL, "nbf is not an integer",
					    "nbf out of range"};
static const struct time_claim claim_iat = {"iat", NULL, "iat is not an integer",
					    "iat out of range"};

/*
 * Reals are refused, even integral ones: RFC 7519 allows fractions, but IdMSs write integers,
 * and one integer type keeps the comparisons exact.
 */
static int
get_time(const json_t *pl, const struct time_claim *c, bool *present, int64_t *out,
	 const char **why)
{
	const json_t *v = json_object_get(pl, c->name);
	json_int_t t;

	*present = false;
	*out = 0;
	if (v == NULL) {
		if (c->missing != NULL) {
			*why = c->missing;
			return KMS_ERR_AUTH;
		}
		return KMS_OK;
	}
	if (!json_is_integer(v)) {
		*why = c->not_integer;
		return KMS_ERR_AUTH;
	}
	t = json_integer_value(v);
	if (t < 0 || t > KMS_JWT_MAX_TIME) {
		*why = c->range;
		return KMS_ERR_AUTH;
	}
	*present = true;
	*out = (int64_t)t;
	return KMS_OK;
}

static int
check_times(const json_t *pl, const struct kms_jwt_policy *policy, int64_t now,
	    struct kms_jwt_result *res, const char **why)
{
	const int64_t leeway = (int64_t)policy->leeway, max = (int64_t)policy->max_lifetime;
	int64_t exp, nbf, iat;
	bool has_exp, has_nbf, has_iat;
	int r;

	if ((r = get_time(pl, &claim_exp, &has_exp, &exp, why)) != KMS_OK ||
	    (r = get_time(pl, &claim_nbf, &has_nbf, &nbf, why)) != KMS_OK ||
	    (r = get_time(pl, &claim_iat, &has_iat, &iat, why)) != KMS_OK) {
		return r;
	}
	/* Every value is at most KMS_JWT_MAX_TIME (2^38): no sum below can overflow. */
	if (now >= exp + leeway) {
		*why = "expired";
		return KMS_ERR_AUTH;
	}
	if (has_nbf && nbf > now + leeway) {
		*why = "not yet valid";
		return KMS_ERR_AUTH;
	}
	if (has_iat && iat > now + leeway) {
		*why = "issued in the future";
		return KMS_ERR_AUTH;
	}
	if (max > 0 && ((has_iat && exp - iat > max) || exp - now > max + leeway)) {
		*why = "lifetime too long";
		return KMS_ERR_AUTH;
	}
	res->exp = exp;
	return KMS_OK;
}

static int
check_iss_aud(const json_t *pl, const struct kms_jwt_policy *policy, const char **why)
{
	const json_t *v, *e;
	size_t i;
	bool match = false;

	v = json_object_get(pl, "iss");
	if (v != NULL && !json_is_string(v)) {
		*why = "iss is not a string";
		return KMS_ERR_AUTH;
	}
	if (policy->issuer != NULL) {
		if (v == NULL) {
			*why = "iss missing";
			return KMS_ERR_AUTH;
		}
		if (!json_str_eq(v, policy->issuer)) {
			*why = "issuer mismatch";
			return KMS_ERR_AUTH;
		}
	}
	if ((v = json_object_get(pl, "aud")) == NULL) {
		*why = "aud missing";
		return KMS_ERR_AUTH;
	}
	if (json_is_string(v)) {
		match = json_str_eq(v, policy->audience);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e)) {
				*why = "aud is not a string or an array of strings";
				return KMS_ERR_AUTH;
			}
			match = match || json_str_eq(e, policy->audience);
		}
	} else {
		*why = "aud is not a string or an array of strings";
		return KMS_ERR_AUTH;
	}
	if (!match) {
		*why = "audience mismatch";
		return KMS_ERR_AUTH;
	}
	return KMS_OK;
}

/* "sub", if present, and the MC service ID from the first present claim of the policy's list. */
static int
check_ids(const json_t *pl, const struct kms_jwt_policy *policy, struct kms_jwt_result *res,
	  const char **why)
{
	const char *const *names = policy->claims;
	size_t num = policy->num_claims, i, n;
	const json_t *v;

	if ((v = json_object_get(pl, "sub")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > KMS_JWT_MAX_SUB ||
		    has_control(json_string_value(v), json_string_length(v))) {
			*why = "bad sub";
			return KMS_ERR_AUTH;
		}
		memcpy(res->sub, json_string_value(v), json_string_length(v));
	}
	if (num == 0) {
		names = default_claims;
		num = sizeof(default_claims) / sizeof(default_claims[0]);
	}
	for (i = 0; i < num; i++) {
		if ((v = json_object_get(pl, names[i])) == NULL) {
			continue;
		}
		/* The first present claim decides: a bad one does not fall through to the next. */
		if (!json_is_string(v)) {
			*why = "MC ID is not a string";
			return KMS_ERR_AUTH;
		}
		n = json_string_length(v);
		if (n == 0 || n > KMS_JWT_MAX_MC_ID) {
			*why = "MC ID empty or too long";
			return KMS_ERR_AUTH;
		}
		if (has_control(json_string_value(v), n)) {
			*why = "MC ID has control characters";
			return KMS_ERR_AUTH;
		}
		if (!is_uri(json_string_value(v), n)) {
			*why = "MC ID is not a URI";
			return KMS_ERR_AUTH;
		}
		memcpy(res->mc_id, json_string_value(v), n);
		res->mc_id_claim = i;
		return KMS_OK;
	}
	*why = "no MC ID claim";
	return KMS_ERR_AUTH;
}

/* The "scope" claim (RFC 8693, 4.2: space-separated, case-sensitive). */
static int
check_scope(const json_t *pl, struct kms_jwt_result *res, const char **why)
{
	const json_t *v = json_object_get(pl, "scope");
	const char *s, *end, *word;
	size_t i, n;

	if (v == NULL) {
		*why = "no key-management scope";
		return KMS_ERR_FORBIDDEN;
	}
	if (!json_is_string(v)) {
		*why = "scope is not a string";
		return KMS_ERR_AUTH;
	}
	s = json_string_value(v);
	end = s + json_string_length(v);
	while (s < end) {
		word = s;
		while (s < end && *s != ' ') {
			s++;
		}
		n = (size_t)(s - word);
		for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
			if (n == strlen(scopes[i].name) && memcmp(word, scopes[i].name, n) == 0) {
				res->scopes |= scopes[i].bit;
			}
		}
		if (s < end) {
			s++; /* the space */
		}
	}
	if (res->scopes == 0) {
		*why = "no key-management scope";
		return KMS_ERR_FORBIDDEN;
	}
	return KMS_OK;
}

int
kms_jwt_verify(const struct kms_jwt_keys *keys, const struct kms_jwt_policy *policy,
	       const uint8_t *token, size_t token_len, int64_t now_unix,
	       struct kms_jwt_result *result, char *err, size_t err_len)
{
	struct kms_jwt_result res;
	struct parts p;
	const struct jwt_key *used = NULL;
	const json_t *kid = NULL;
	json_t *hdr = NULL, *pl = NULL;
	enum kms_jwt_alg alg = KMS_JWT_RS256;
	uint8_t *buf = NULL;
	const char *why = NULL;
	int r = KMS_ERR_INTERNAL;

	if (result != NULL) {
		memset(result, 0, sizeof(*result));
	}
	memset(&res, 0, sizeof(res));
	if (err == NULL && err_len > 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if (keys == NULL || token == NULL || result == NULL) {
		why = "invalid argument";
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = kms_jwt_policy_check(policy, err, err_len)) != KMS_OK) {
		goto out; /* err holds the reason; why stays NULL */
	}
	if (now_unix < 0 || now_unix > KMS_JWT_MAX_TIME) {
		why = "time out of range";
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if (token_len > KMS_JWT_MAX_TOKEN) {
		why = "token too long";
		r = KMS_ERR_AUTH;
		goto out;
	}
	if (token_len == 0) {
		why = "malformed token (not three parts)";
		r = KMS_ERR_AUTH;
		goto out;
	}
	if ((buf = malloc(token_len)) == NULL) {
		why = "out of memory";
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = split_decode(&p, buf, token, token_len, &why)) != KMS_OK ||
	    (r = load_object(&hdr, p.header, p.header_len, true, &why)) != KMS_OK ||
	    (r = check_header(hdr, &alg, &kid, &why)) != KMS_OK ||
	    (r = check_signature(keys, &p, alg, kid, &used, &why)) != KMS_OK) {
		goto out;
	}
	/* Authenticated from here on. */
	if ((r = load_object(&pl, p.payload, p.payload_len, false, &why)) != KMS_OK ||
	    (r = check_times(pl, policy, now_unix, &res, &why)) != KMS_OK ||
	    (r = check_iss_aud(pl, policy, &why)) != KMS_OK ||
	    (r = check_ids(pl, policy, &res, &why)) != KMS_OK ||
	    (r = check_scope(pl, &res, &why)) != KMS_OK) {
		goto out;
	}
	res.alg = alg;
	if (used->has_kid) {
		memcpy(res.kid, used->kid, used->kid_len + 1);
	}
	*result = res;
	why = "";
	r = KMS_OK;
out:
	if (why != NULL) {
		set_reason(err, err_len, why);
	}
	json_decref(hdr);
	json_decref(pl);
	if (buf != NULL) {
		kms_memzero(buf, token_len); /* the signature makes the token a credential */
		free(buf);
	}
	return r;
}
