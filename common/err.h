/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_ERR_H
#define KMS_COMMON_ERR_H

/*
 * One error enum for the whole project. The bands are frozen: general -1..-19, parse -20..-39,
 * auth/TLS -40..-59, HSM -60..-79, IO -80..-99. docs/errors.md lists every code; test_err
 * checks the two agree. Never renumber a code: add new ones at the end of their band.
 */
enum kms_err {
	KMS_OK = 0,
	/* general */
	KMS_ERR_INTERNAL = -1,    /* an invariant broke, or a self-check failed */
	KMS_ERR_NOMEM = -2,       /* allocation failed */
	KMS_ERR_INVALID_ARG = -3, /* the caller passed something out of contract */
	KMS_ERR_TOO_LARGE = -4,   /* a size exceeds its cap */
	KMS_ERR_RANDOM = -5,      /* the random number generator failed */
	KMS_ERR_CRYPTO = -6,      /* a cryptographic library call failed */
	KMS_ERR_SELFTEST = -7,    /* an issued key failed its issuer's self-check */
	KMS_ERR_UNSUPPORTED = -8, /* a valid request for something not built or configured */
	/* parse */
	KMS_ERR_PARSE = -20,     /* malformed input */
	KMS_ERR_TRUNCATED = -21, /* input ended early */
	KMS_ERR_TRAILING = -22,  /* bytes left over after a complete value */
	KMS_ERR_RANGE = -23,     /* a number or length outside its allowed range */
	KMS_ERR_ENCODING = -24,  /* bad hex, base64 or UTF-8 */
	KMS_ERR_POINT = -25,     /* a point is not on the curve, or is at infinity */
	KMS_ERR_SCALAR = -26,    /* a scalar is zero or not below the group order */
	/* auth / TLS */
	KMS_ERR_AUTH = -40,          /* the key material or client failed verification */
	KMS_ERR_FORBIDDEN = -41,     /* authenticated, but not entitled */
	KMS_ERR_PLAIN_REFUSED = -42, /* plaintext key material may not go over this transport */
	/* HSM */
	KMS_ERR_HSM = -60,         /* the token returned an error */
	KMS_ERR_HSM_UNAVAIL = -61, /* the token is not there */
	KMS_ERR_HSM_PIN = -62,     /* the token refused the PIN (incorrect, locked, expired) */
	KMS_ERR_HSM_BUSY = -63,    /* no token session became free in time */
	KMS_ERR_PIN_FILE = -64,    /* the PIN file is unsafe (not a plain private file) or empty */
	/* IO */
	KMS_ERR_IO = -80,     /* a read or write failed */
	KMS_ERR_CLOSED = -81, /* the peer closed the connection between two messages */
};

/*
 * kms_strerror - a short, constant, secret-free description of err. Unknown codes get
 * "unknown error". Never returns NULL.
 */
const char *kms_strerror(int err);

/* kms_err_name - the enumerator's name ("KMS_ERR_PARSE"), or NULL for an unknown code. */
const char *kms_err_name(int err);

#if defined(__GNUC__)
#define KMS_WUR __attribute__((warn_unused_result))
#else
#define KMS_WUR
#endif

#endif /* KMS_COMMON_ERR_H */
