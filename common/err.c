/* SPDX-License-Identifier: Apache-2.0 */
#include "common/err.h"

#include <stddef.h>

#include "common/banned.h"

/*
 * One switch serves both kms_strerror() and kms_err_name(), so a code cannot have a name
 * without a message. -Wswitch-enum (made an error here) fails the build when err.h gains an
 * enumerator that this switch does not list; test_err checks docs/errors.md against err.h.
 */
#define KMS_ERR_CASE(code, msg)                                                                    \
	case code:                                                                                 \
		*out_name = #code;                                                                 \
		return msg

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wswitch-enum"
#endif

static const char *
describe(int err, const char **out_name)
{
	switch ((enum kms_err)err) {
		KMS_ERR_CASE(KMS_OK, "success");
		/* general */
		KMS_ERR_CASE(KMS_ERR_INTERNAL, "internal error");
		KMS_ERR_CASE(KMS_ERR_NOMEM, "out of memory");
		KMS_ERR_CASE(KMS_ERR_INVALID_ARG, "invalid argument");
		KMS_ERR_CASE(KMS_ERR_TOO_LARGE, "size exceeds its limit");
		KMS_ERR_CASE(KMS_ERR_RANDOM, "random number generator failed");
		KMS_ERR_CASE(KMS_ERR_CRYPTO, "cryptographic library call failed");
		KMS_ERR_CASE(KMS_ERR_SELFTEST, "issued key failed its self-check");
		KMS_ERR_CASE(KMS_ERR_UNSUPPORTED, "not supported by this build or configuration");
		/* parse */
		KMS_ERR_CASE(KMS_ERR_PARSE, "malformed input");
		KMS_ERR_CASE(KMS_ERR_TRUNCATED, "input truncated");
		KMS_ERR_CASE(KMS_ERR_TRAILING, "trailing bytes after a complete value");
		KMS_ERR_CASE(KMS_ERR_RANGE, "number or length out of range");
		KMS_ERR_CASE(KMS_ERR_ENCODING, "bad hex, base64 or UTF-8 encoding");
		KMS_ERR_CASE(KMS_ERR_POINT, "point not on the curve or at infinity");
		KMS_ERR_CASE(KMS_ERR_SCALAR, "scalar is zero or not below the group order");
		/* auth / TLS */
		KMS_ERR_CASE(KMS_ERR_AUTH, "verification failed");
		KMS_ERR_CASE(KMS_ERR_FORBIDDEN, "not entitled");
		KMS_ERR_CASE(KMS_ERR_PLAIN_REFUSED,
			     "plaintext key material refused on this transport");
		/* HSM */
		KMS_ERR_CASE(KMS_ERR_HSM, "token returned an error");
		KMS_ERR_CASE(KMS_ERR_HSM_UNAVAIL, "token not available");
		KMS_ERR_CASE(KMS_ERR_HSM_PIN, "token refused the PIN");
		KMS_ERR_CASE(KMS_ERR_HSM_BUSY, "no token session free in time");
		KMS_ERR_CASE(KMS_ERR_PIN_FILE, "PIN file refused");
		/* IO */
		KMS_ERR_CASE(KMS_ERR_IO, "read or write failed");
		KMS_ERR_CASE(KMS_ERR_CLOSED, "peer closed the connection");
	default:
		break;
	}
	*out_name = NULL;
	return "unknown error";
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

const char *
kms_strerror(int err)
{
	const char *name;

	return describe(err, &name);
}

const char *
kms_err_name(int err)
{
	const char *name;

	(void)describe(err, &name);
	return name;
}
