/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_JWT_H
#define KMS_KMS_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * IdMS bearer tokens (kms-interface.md "bearer token", docs/bearer-tokens.md): the JWTs that
 * the MC Identity Management Server issues and MC clients send as "Authorization: Bearer".
 * kmsd loads the IdMS verification keys once (struct kms_jwt_keys), then checks each token
 * with kms_jwt_verify() against a policy (struct kms_jwt_policy).
 *
 * A token is a credential: nothing here logs it, and no message quotes any part of it.
 * Messages are short constant reasons ("expired", "audience mismatch", ...).
 */

#define KMS_JWT_MAX_TOKEN      8192u    /* bytes in a token (the three parts and two dots) */
#define KMS_JWT_MAX_DEPTH      8u       /* nesting of JSON arrays and objects, the top included */
#define KMS_JWT_MAX_KEYS       64u      /* keys in a key set */
#define KMS_JWT_MAX_KEYS_FILE  1048576u /* bytes in a key set file (1 MiB) */
#define KMS_JWT_MAX_KID        256u     /* bytes in a "kid" */
#define KMS_JWT_MAX_MC_ID      2048u    /* bytes in an MC service ID */
#define KMS_JWT_MAX_SUB        255u     /* bytes in a "sub" (OpenID Connect Core 1.0, 2) */
#define KMS_JWT_MAX_CLAIMS     8u       /* names in a policy's MC service ID claim list */
#define KMS_JWT_MAX_CLAIM_NAME 64u      /* bytes in one such name */
#define KMS_JWT_MAX_LEEWAY     600u     /* seconds of clock skew a policy may allow */
#define KMS_JWT_MAX_TIME       253402300799 /* 9999-12-31T23:59:59Z: the largest exp/nbf/iat */
#define KMS_JWT_MIN_RSA_BITS   2048u
#define KMS_JWT_MAX_RSA_BITS   4096u /* bounds the work of a token without "kid" */
#define KMS_JWT_ERR_LEN        1024u /* a key set message about a path of <= 256 bytes fits */

/* The signature algorithms accepted (RFC 7518); everything else is refused. */
enum kms_jwt_alg {
	KMS_JWT_RS256 = 1, /* RSASSA-PKCS1-v1_5 with SHA-256 */
	KMS_JWT_PS256 = 2, /* RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt */
	KMS_JWT_ES256 = 3, /* ECDSA P-256 with SHA-256, signature r || s (64 bytes) */
};

/* The key-management scopes of the "scope" claim (bits of struct kms_jwt_result.scopes). */
enum kms_jwt_scope {
	KMS_JWT_SCOPE_PTT = 1u << 0,          /* 3gpp:mc:ptt_key_management_service */
	KMS_JWT_SCOPE_DATA = 1u << 1,         /* 3gpp:mc:data_key_management_service */
	KMS_JWT_SCOPE_VIDEO = 1u << 2,        /* 3gpp:mc:video_key_management_service */
	KMS_JWT_SCOPE_MCPTT_LEGACY = 1u << 3, /* 3gpp:mcptt:key_management_server (Rel-13) */
};

/* A set of IdMS verification keys: opaque, immutable once loaded (share it between threads). */
struct kms_jwt_keys;

/*
 * kms_jwt_keys_load - read the key set file path (a regular file of at most
 * KMS_JWT_MAX_KEYS_FILE bytes, opened O_NONBLOCK | O_NOCTTY | O_CLOEXEC, symbolic links
 * followed) and parse it with kms_jwt_keys_parse(), path naming it in messages.
 * Returns what kms_jwt_keys_parse() returns, or KMS_ERR_IO when the file cannot be opened,
 * examined or read or is not a regular file, KMS_ERR_TOO_LARGE when it is too big.
 */
int kms_jwt_keys_load(struct kms_jwt_keys **out, char *err, size_t err_len,
		      const char *path) KMS_WUR;

/*
 * kms_jwt_keys_parse - parse the len bytes at data (borrowed) as a key set called name (for
 * messages only). The content is either
 *   - a JWKS (RFC 7517): a JSON object whose "keys" array holds 1 to KMS_JWT_MAX_KEYS public
 *     keys: "kty" "RSA" with "n" and "e", or "kty" "EC" with "crv" "P-256", "x" and "y"; each
 *     with an optional "kid" (1 to KMS_JWT_MAX_KID bytes, no control characters, unique in
 *     the set), "alg" (RS256 or PS256 for RSA, ES256 for EC) and "use" ("sig");
 *   - or one or more PEM "PUBLIC KEY" blocks (SubjectPublicKeyInfo, RSA or EC P-256), which
 *     have no kid and may verify any algorithm of their type.
 * RSA moduli have KMS_JWT_MIN_RSA_BITS to KMS_JWT_MAX_RSA_BITS bits and odd public exponents
 * from 3 to 2^32 - 1; EC points must be on P-256. Other key types, curves and algorithms,
 * private key members ("d", ...), private key or certificate PEM blocks, duplicate JSON
 * members and nesting deeper than KMS_JWT_MAX_DEPTH are refused.
 * On success *out is a new key set (owned: kms_jwt_keys_free()) and err is "". On failure *out
 * is NULL and err holds "NAME: message" (which key, what is wrong; cut to err_len - 1 bytes);
 * the return is KMS_ERR_PARSE (malformed content, a refused member), KMS_ERR_UNSUPPORTED (an
 * unknown kty, crv or alg), KMS_ERR_ENCODING (bad base64url), KMS_ERR_RANGE (RSA size or
 * exponent), KMS_ERR_POINT (not a P-256 point), KMS_ERR_TOO_LARGE (more than
 * KMS_JWT_MAX_KEYS keys, or more than KMS_JWT_MAX_KEYS_FILE bytes), KMS_ERR_NOMEM,
 * KMS_ERR_CRYPTO or KMS_ERR_INVALID_ARG (a NULL argument). err may be NULL only if err_len
 * is 0.
 */
int kms_jwt_keys_parse(struct kms_jwt_keys **out, char *err, size_t err_len, const char *name,
		       const uint8_t *data, size_t len) KMS_WUR;

/* kms_jwt_keys_free - free keys. NULL is a no-op. */
void kms_jwt_keys_free(struct kms_jwt_keys *keys);

/* kms_jwt_keys_count - the number of keys in the set (0 for NULL). */
size_t kms_jwt_keys_count(const struct kms_jwt_keys *keys);

/*
 * What a token must satisfy besides its signature. All pointers are borrowed for the call.
 * claims == NULL with num_claims == 0 selects the default list: mcptt_id, mcdata_id,
 * mcvideo_id.
 */
struct kms_jwt_policy {
	const char *issuer;        /* the exact "iss" required; NULL: not checked */
	const char *audience;      /* required: "aud" (a string or an array) must contain it */
	const char *const *claims; /* MC service ID claim names, in order of preference */
	size_t num_claims;         /* 0 .. KMS_JWT_MAX_CLAIMS */
	uint64_t leeway;           /* seconds of clock skew allowed, <= KMS_JWT_MAX_LEEWAY */
	uint64_t max_lifetime;     /* seconds; 0: no limit; else exp - iat and exp - now bound */
};

/*
 * kms_jwt_policy_check - KMS_OK if policy is usable, else KMS_ERR_INVALID_ARG with the reason
 * in err (cut to err_len - 1 bytes): audience missing or empty, issuer empty, a claim name
 * empty, longer than KMS_JWT_MAX_CLAIM_NAME or repeated, more than KMS_JWT_MAX_CLAIMS names,
 * claims NULL with num_claims > 0, leeway above KMS_JWT_MAX_LEEWAY, max_lifetime above
 * KMS_JWT_MAX_TIME. kmsd calls it at startup; kms_jwt_verify() calls it too.
 */
int kms_jwt_policy_check(const struct kms_jwt_policy *policy, char *err, size_t err_len) KMS_WUR;

/* What a verified token says. Strings are NUL-terminated and hold no control characters. */
struct kms_jwt_result {
	char mc_id[KMS_JWT_MAX_MC_ID + 1]; /* the MC service ID: a URI, 3.. bytes */
	size_t mc_id_claim;                /* which claim of the policy's list gave it (0-based) */
	char sub[KMS_JWT_MAX_SUB + 1];     /* "sub", or "" when the token has none */
	char kid[KMS_JWT_MAX_KID + 1];     /* the kid of the key that verified it, or "" */
	unsigned int scopes;               /* enum kms_jwt_scope bits: at least one */
	enum kms_jwt_alg alg;
	int64_t exp; /* seconds since 1970 */
};

/*
 * kms_jwt_verify - verify the bearer token (token_len bytes at token, borrowed, without the
 * "Bearer " prefix; need not be NUL-terminated) at time now_unix (seconds since 1970, 0 ..
 * KMS_JWT_MAX_TIME) against keys and policy, and fill *result.
 *
 * The token must be a JWS compact serialisation of at most KMS_JWT_MAX_TOKEN bytes: three
 * unpadded, canonical base64url parts; a header and a payload that are JSON objects (no
 * duplicate members, nesting at most KMS_JWT_MAX_DEPTH); "alg" RS256, PS256 or ES256, allowed
 * by the key; no "crit"; "typ", if present, JWT or at+jwt (case-insensitive, an "application/"
 * prefix allowed). With a "kid" that a key of the set has, only that key is tried; with
 * another "kid", only the keys without a kid; without a "kid", every key. Either way a key is
 * tried only for the algorithms of its type and its own "alg". The signature is checked
 * before the payload is parsed. Then the
 * claims: "exp" (required), "nbf" and "iat" are JSON integers (not reals) in 0 ..
 * KMS_JWT_MAX_TIME, with now < exp + leeway, nbf <= now + leeway, iat <= now + leeway, and
 * the policy's max_lifetime; "iss" equals the policy's issuer when it has one; "aud" holds the
 * policy's audience; "sub", if present, is a string of at most KMS_JWT_MAX_SUB bytes; the first
 * claim of the policy's list that is present is a string URI of 1 to KMS_JWT_MAX_MC_ID bytes
 * without control characters; "scope" holds at least one key-management scope.
 *
 * Returns KMS_OK; KMS_ERR_AUTH for a token that fails any check but the scope;
 * KMS_ERR_FORBIDDEN for a valid token without a key-management scope; KMS_ERR_INVALID_ARG
 * (NULL argument, bad policy, now_unix out of range); KMS_ERR_NOMEM; KMS_ERR_CRYPTO (OpenSSL
 * failed other than on a bad signature). err (err_len bytes; NULL only if err_len is 0) gets
 * "" on success or a short constant reason, never any part of the token. *result is zeroed on
 * entry and filled only on success. Cost: at most KMS_JWT_MAX_KEYS signature checks.
 */
int kms_jwt_verify(const struct kms_jwt_keys *keys, const struct kms_jwt_policy *policy,
		   const uint8_t *token, size_t token_len, int64_t now_unix,
		   struct kms_jwt_result *result, char *err, size_t err_len) KMS_WUR;

#endif /* KMS_KMS_JWT_H */
