/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_MP_H
#define KMS_PROTO_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cbs.h"
#include "common/err.h"

/*
 * A bounded msgpack reader over struct kms_cbs. msgpack-c's unpacker reserves memory from
 * counts it has not checked (24 bytes per element a 5-byte header claims), so nothing in the
 * project hands outside bytes to it: kms_mp_prescan() walks a whole message first, under the
 * limits of its message family, and the typed getters below then read the values themselves.
 * Nothing here allocates.
 *
 * The subset accepted: nil, booleans, integers, str (valid UTF-8), bin, arrays and maps.
 * Floats, ext types (timestamps included) and the never-used tag 0xc1 are rejected everywhere.
 */

/* The hard cap on kms_mp_limits.max_depth (the prescan's stack is this deep). */
#define KMS_MP_MAX_DEPTH 16

/* What one message family allows; every family declares its own. */
struct kms_mp_limits {
	unsigned int max_depth; /* containers inside containers: 1 = one map or array of scalars */
	uint32_t max_count;     /* elements of an array, or key/value pairs of a map */
	uint32_t max_len;       /* bytes of one str or bin */
};

/*
 * kms_mp_prescan - check that data[0..len) is exactly one well-formed msgpack object within
 * lim, before anything is decoded: every array or map count and every str or bin length is
 * checked against the bytes that remain (a map needs two bytes per pair at least) and against
 * lim; containers nest at most lim->max_depth deep; every str is valid UTF-8 (no overlong
 * forms, no surrogates, nothing above U+10FFFF); nothing follows the object.
 * Returns KMS_OK; KMS_ERR_TRUNCATED (the data ends early, or a count or length claims more
 * than is there); KMS_ERR_TOO_LARGE (a count, length or depth above lim); KMS_ERR_PARSE (a
 * float, an ext type or 0xc1); KMS_ERR_ENCODING (a str that is not UTF-8); KMS_ERR_TRAILING;
 * KMS_ERR_INVALID_ARG (lim->max_depth is 0 or above KMS_MP_MAX_DEPTH). Runs in time linear in
 * len, without recursion or allocation. data is borrowed.
 */
int kms_mp_prescan(const struct kms_mp_limits *lim, const uint8_t *data, size_t len) KMS_WUR;

/*
 * kms_mp_skip - advance cbs past one complete object, checked as kms_mp_prescan() checks (but
 * bytes may follow it). Same return codes, without KMS_ERR_TRAILING; cbs is unchanged on
 * failure.
 */
int kms_mp_skip(struct kms_cbs *cbs, const struct kms_mp_limits *lim) KMS_WUR;

/*
 * Typed getters. Each reads one value of its type at the cursor and advances past it; on
 * failure the cursor and *out are unchanged. Only the shortest encoding of a value is accepted
 * (the one msgpack-c and every conforming packer write): a non-negative integer as a positive
 * fixint or the smallest uint8/16/32/64, a negative one as a negative fixint or the smallest
 * int8/16/32/64, a str, bin or map header in its smallest form. Reading canonical forms only
 * means that encoding a decoded message reproduces its bytes.
 * Returns KMS_OK; KMS_ERR_TRUNCATED; KMS_ERR_PARSE (another type, or a longer encoding than
 * needed); and as said below.
 */

/* kms_mp_get_uint - a non-negative integer. KMS_ERR_RANGE for a negative one. */
int kms_mp_get_uint(struct kms_cbs *cbs, uint64_t *out) KMS_WUR;

/* kms_mp_get_int - any integer. KMS_ERR_RANGE for a uint64 above INT64_MAX. */
int kms_mp_get_int(struct kms_cbs *cbs, int64_t *out) KMS_WUR;

/* kms_mp_get_bool - true or false. */
int kms_mp_get_bool(struct kms_cbs *cbs, bool *out) KMS_WUR;

/*
 * kms_mp_get_str - a str: *out becomes a sub-cursor over its bytes (borrowed from cbs's
 * buffer). KMS_ERR_ENCODING if they are not valid UTF-8.
 */
int kms_mp_get_str(struct kms_cbs *cbs, struct kms_cbs *out) KMS_WUR;

/* kms_mp_get_bin - a bin: *out becomes a sub-cursor over its bytes (borrowed). */
int kms_mp_get_bin(struct kms_cbs *cbs, struct kms_cbs *out) KMS_WUR;

/*
 * kms_mp_get_map - a map header: *out_count is its number of key/value pairs, which follow.
 * The count is not checked against the bytes left: kms_mp_prescan() has done that.
 */
int kms_mp_get_map(struct kms_cbs *cbs, uint32_t *out_count) KMS_WUR;

/*
 * kms_mp_utf8_check - KMS_OK if s[0..len) is valid UTF-8 (RFC 3629: shortest forms only, no
 * surrogates, at most U+10FFFF; NUL is valid), else KMS_ERR_ENCODING.
 */
int kms_mp_utf8_check(const uint8_t *s, size_t len) KMS_WUR;

/*
 * kms_mp_text_check - KMS_OK if s[0..len) is valid UTF-8 (kms_mp_utf8_check) without control
 * characters: no C0 (0x00..0x1F: no NUL, tab or newline), no DEL, no C1 (U+0080..U+009F, which
 * some terminals obey), so that the text cannot forge a log line, an audit record or a table
 * column; else KMS_ERR_ENCODING. The empty text is KMS_OK.
 */
int kms_mp_text_check(const uint8_t *s, size_t len) KMS_WUR;

#endif /* KMS_PROTO_MP_H */
