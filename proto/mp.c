/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/mp.h"

#include <stdbool.h>
#include <stdint.h>

#include "common/banned.h"

/*
 * Every function here reads through struct kms_cbs, so no read can leave the input whatever a
 * header claims; the getters work on a copy of the cursor and commit it only on success.
 */

enum kind {
	K_NIL,
	K_BOOL,
	K_UINT, /* positive fixint, uint8..uint64 */
	K_INT,  /* negative fixint, int8..int64 (whatever the sign of the value) */
	K_STR,
	K_BIN,
	K_ARRAY,
	K_MAP,
};

/* One msgpack header: the tag and its size or value bytes, not a str or bin body. */
struct head {
	enum kind kind;
	uint64_t u;     /* K_BOOL 0/1, K_UINT value, K_STR/K_BIN length, K_ARRAY/K_MAP count */
	int64_t i;      /* K_INT value */
	bool canonical; /* the shortest encoding of this value, length or count */
};

/* An n-byte big-endian unsigned integer, n in {1, 2, 4, 8}. */
static int
get_be(struct kms_cbs *cbs, size_t n, uint64_t *out)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	int r;

	switch (n) {
	case 1:
		r = kms_cbs_get_u8(cbs, &v8);
		*out = v8;
		return r;
	case 2:
		r = kms_cbs_get_u16be(cbs, &v16);
		*out = v16;
		return r;
	case 4:
		r = kms_cbs_get_u32be(cbs, &v32);
		*out = v32;
		return r;
	default:
		return kms_cbs_get_u64be(cbs, out);
	}
}

/* The two's-complement value of the low n bytes of x (n in {1, 2, 4, 8}), without UB. */
static int64_t
to_signed(uint64_t x, size_t n)
{
	uint64_t half;

	if (n == 8) {
		return x > (uint64_t)INT64_MAX ? -(int64_t)(UINT64_MAX - x) - 1 : (int64_t)x;
	}
	half = 1ULL << (8 * n - 1);
	return x >= half ? (int64_t)x - (int64_t)(half << 1) : (int64_t)x;
}

/*
 * A header whose tag is followed by an n-byte big-endian number: a value (K_UINT), a length
 * (K_STR, K_BIN) or a count (K_ARRAY, K_MAP). The encoding is canonical when the number is at
 * least shortest, the smallest number that needs this form.
 */
static int
sized(struct kms_cbs *cbs, struct head *h, enum kind kind, size_t n, uint64_t shortest)
{
	uint64_t v;
	int r;

	if ((r = get_be(cbs, n, &v)) != KMS_OK) {
		return r;
	}
	h->kind = kind;
	h->u = v;
	h->canonical = v >= shortest;
	return KMS_OK;
}

/*
 * An int8..int64: canonical only for a negative value below the range of the next smaller
 * form (-33..-128 for int8, and so on); a non-negative value belongs in a uint form.
 */
static int
sized_signed(struct kms_cbs *cbs, struct head *h, size_t n, int64_t above)
{
	uint64_t v;
	int r;

	if ((r = get_be(cbs, n, &v)) != KMS_OK) {
		return r;
	}
	h->kind = K_INT;
	h->i = to_signed(v, n);
	h->canonical = h->i < above;
	return KMS_OK;
}

/* Read one header. KMS_ERR_PARSE for 0xc1, floats and ext types, which no message uses. */
static int
read_head(struct kms_cbs *cbs, struct head *h)
{
	uint8_t tag;
	int r;

	if ((r = kms_cbs_get_u8(cbs, &tag)) != KMS_OK) {
		return r;
	}
	h->canonical = true;
	h->u = 0;
	h->i = 0;
	if (tag <= 0x7f) {
		h->kind = K_UINT;
		h->u = tag;
		return KMS_OK;
	}
	if (tag >= 0xe0) {
		h->kind = K_INT;
		h->i = (int64_t)tag - 0x100;
		return KMS_OK;
	}
	if (tag <= 0x8f) {
		h->kind = K_MAP;
		h->u = tag & 0x0fu;
		return KMS_OK;
	}
	if (tag <= 0x9f) {
		h->kind = K_ARRAY;
		h->u = tag & 0x0fu;
		return KMS_OK;
	}
	if (tag <= 0xbf) {
		h->kind = K_STR;
		h->u = tag & 0x1fu;
		return KMS_OK;
	}
	switch (tag) {
	case 0xc0:
		h->kind = K_NIL;
		return KMS_OK;
	case 0xc2:
	case 0xc3:
		h->kind = K_BOOL;
		h->u = tag & 1u;
		return KMS_OK;
	case 0xc4:
		return sized(cbs, h, K_BIN, 1, 0);
	case 0xc5:
		return sized(cbs, h, K_BIN, 2, 1u << 8);
	case 0xc6:
		return sized(cbs, h, K_BIN, 4, 1u << 16);
	case 0xcc:
		return sized(cbs, h, K_UINT, 1, 1u << 7);
	case 0xcd:
		return sized(cbs, h, K_UINT, 2, 1u << 8);
	case 0xce:
		return sized(cbs, h, K_UINT, 4, 1u << 16);
	case 0xcf:
		return sized(cbs, h, K_UINT, 8, 1ULL << 32);
	case 0xd0:
		return sized_signed(cbs, h, 1, -32);
	case 0xd1:
		return sized_signed(cbs, h, 2, INT8_MIN);
	case 0xd2:
		return sized_signed(cbs, h, 4, INT16_MIN);
	case 0xd3:
		return sized_signed(cbs, h, 8, INT32_MIN);
	case 0xd9:
		return sized(cbs, h, K_STR, 1, 32);
	case 0xda:
		return sized(cbs, h, K_STR, 2, 1u << 8);
	case 0xdb:
		return sized(cbs, h, K_STR, 4, 1u << 16);
	case 0xdc:
		return sized(cbs, h, K_ARRAY, 2, 16);
	case 0xdd:
		return sized(cbs, h, K_ARRAY, 4, 1u << 16);
	case 0xde:
		return sized(cbs, h, K_MAP, 2, 16);
	case 0xdf:
		return sized(cbs, h, K_MAP, 4, 1u << 16);
	default:
		/* 0xc1 (never used), ext8/16/32, float32/64, fixext1..16 */
		return KMS_ERR_PARSE;
	}
}

int
kms_mp_utf8_check(const uint8_t *s, size_t len)
{
	size_t i = 0, n, k;
	uint8_t c, lo, hi;

	while (i < len) {
		c = s[i];
		lo = 0x80;
		hi = 0xbf;
		if (c <= 0x7f) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0) {
				lo = 0xa0; /* no overlong 3-byte forms */
			} else if (c == 0xed) {
				hi = 0x9f; /* no surrogates U+D800..U+DFFF */
			}
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0) {
				lo = 0x90; /* no overlong 4-byte forms */
			} else if (c == 0xf4) {
				hi = 0x8f; /* nothing above U+10FFFF */
			}
		} else {
			return KMS_ERR_ENCODING; /* continuation byte, 0xc0, 0xc1, 0xf5..0xff */
		}
		if (n > len - i - 1) {
			return KMS_ERR_ENCODING;
		}
		/* The second byte has the narrowed range, the others the plain one. */
		if (s[i + 1] < lo || s[i + 1] > hi) {
			return KMS_ERR_ENCODING;
		}
		for (k = 2; k <= n; k++) {
			if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
				return KMS_ERR_ENCODING;
			}
		}
		i += n + 1;
	}
	return KMS_OK;
}

/*
 * Consume one complete object within lim. Iterative: todo[l] counts the objects still to read
 * at nesting level l (level 0 holds the one top-level object), so an attacker's depth costs
 * no stack. A container's count must fit in the bytes left (each element is at least one
 * byte) before it is believed, and must fit lim.
 */
static int
walk(struct kms_cbs *cbs, const struct kms_mp_limits *lim)
{
	uint64_t todo[KMS_MP_MAX_DEPTH + 1];
	size_t level = 0;
	struct head h;
	struct kms_cbs body;
	uint64_t items;
	int r;

	if (lim->max_depth == 0 || lim->max_depth > KMS_MP_MAX_DEPTH) {
		return KMS_ERR_INVALID_ARG;
	}
	todo[0] = 1;
	for (;;) {
		while (todo[level] == 0) {
			if (level == 0) {
				return KMS_OK;
			}
			level--;
		}
		todo[level]--;
		if ((r = read_head(cbs, &h)) != KMS_OK) {
			return r;
		}
		switch (h.kind) {
		case K_STR:
		case K_BIN:
			if (h.u > lim->max_len) {
				return KMS_ERR_TOO_LARGE;
			}
			if ((r = kms_cbs_get_bytes(cbs, &body, (size_t)h.u)) != KMS_OK) {
				return r;
			}
			if (h.kind == K_STR &&
			    (r = kms_mp_utf8_check(body.data, kms_cbs_len(&body))) != KMS_OK) {
				return r;
			}
			break;
		case K_ARRAY:
		case K_MAP:
			/* This container's depth is level + 1. */
			if (level >= lim->max_depth || h.u > lim->max_count) {
				return KMS_ERR_TOO_LARGE;
			}
			items = h.kind == K_MAP ? 2 * h.u : h.u;
			if (items > kms_cbs_len(cbs)) {
				return KMS_ERR_TRUNCATED;
			}
			level++;
			todo[level] = items;
			break;
		case K_NIL:
		case K_BOOL:
		case K_UINT:
		case K_INT:
			break;
		}
	}
}

int
kms_mp_skip(struct kms_cbs *cbs, const struct kms_mp_limits *lim)
{
	struct kms_cbs tmp = *cbs;
	int r;

	if ((r = walk(&tmp, lim)) != KMS_OK) {
		return r;
	}
	*cbs = tmp;
	return KMS_OK;
}

int
kms_mp_prescan(const struct kms_mp_limits *lim, const uint8_t *data, size_t len)
{
	struct kms_cbs cbs;
	int r;

	kms_cbs_init(&cbs, data, len);
	if ((r = walk(&cbs, lim)) != KMS_OK) {
		return r;
	}
	return kms_cbs_expect_end(&cbs);
}

/* Read a header of the wanted kind, in its canonical form, into h; commit only on success. */
static int
get_head(struct kms_cbs *cbs, struct head *h, enum kind want)
{
	struct kms_cbs tmp = *cbs;
	int r;

	if ((r = read_head(&tmp, h)) != KMS_OK) {
		return r;
	}
	if (h->kind != want || !h->canonical) {
		return KMS_ERR_PARSE;
	}
	*cbs = tmp;
	return KMS_OK;
}

int
kms_mp_get_uint(struct kms_cbs *cbs, uint64_t *out)
{
	struct kms_cbs tmp = *cbs;
	struct head h;
	int r;

	if ((r = read_head(&tmp, &h)) != KMS_OK) {
		return r;
	}
	if (h.kind == K_INT && h.canonical) {
		return KMS_ERR_RANGE; /* a well-formed negative number */
	}
	if (h.kind != K_UINT || !h.canonical) {
		return KMS_ERR_PARSE;
	}
	*out = h.u;
	*cbs = tmp;
	return KMS_OK;
}

int
kms_mp_get_int(struct kms_cbs *cbs, int64_t *out)
{
	struct kms_cbs tmp = *cbs;
	struct head h;
	int64_t v;
	int r;

	if ((r = read_head(&tmp, &h)) != KMS_OK) {
		return r;
	}
	if ((h.kind != K_UINT && h.kind != K_INT) || !h.canonical) {
		return KMS_ERR_PARSE;
	}
	if (h.kind == K_UINT) {
		if (h.u > (uint64_t)INT64_MAX) {
			return KMS_ERR_RANGE;
		}
		v = (int64_t)h.u;
	} else {
		v = h.i;
	}
	*out = v;
	*cbs = tmp;
	return KMS_OK;
}

int
kms_mp_get_bool(struct kms_cbs *cbs, bool *out)
{
	struct head h;
	int r;

	if ((r = get_head(cbs, &h, K_BOOL)) != KMS_OK) {
		return r;
	}
	*out = h.u != 0;
	return KMS_OK;
}

/* A str or bin: the header, then a sub-cursor over the body; commit only on success. */
static int
get_body(struct kms_cbs *cbs, struct kms_cbs *out, enum kind want)
{
	struct kms_cbs tmp = *cbs;
	struct kms_cbs body;
	struct head h;
	int r;

	if ((r = get_head(&tmp, &h, want)) != KMS_OK) {
		return r;
	}
	if ((r = kms_cbs_get_bytes(&tmp, &body, (size_t)h.u)) != KMS_OK) {
		return r;
	}
	if (want == K_STR && (r = kms_mp_utf8_check(body.data, kms_cbs_len(&body))) != KMS_OK) {
		return r;
	}
	*out = body;
	*cbs = tmp;
	return KMS_OK;
}

int
kms_mp_get_str(struct kms_cbs *cbs, struct kms_cbs *out)
{
	return get_body(cbs, out, K_STR);
}

int
kms_mp_get_bin(struct kms_cbs *cbs, struct kms_cbs *out)
{
	return get_body(cbs, out, K_BIN);
}

int
kms_mp_get_map(struct kms_cbs *cbs, uint32_t *out_count)
{
	struct head h;
	int r;

	if ((r = get_head(cbs, &h, K_MAP)) != KMS_OK) {
		return r;
	}
	*out_count = (uint32_t)h.u; /* at most 4 bytes were read */
	return KMS_OK;
}

int
kms_mp_text_check(const uint8_t *s, size_t len)
{
	size_t i;

	if (kms_mp_utf8_check(s, len) != KMS_OK) {
		return KMS_ERR_ENCODING;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			return KMS_ERR_ENCODING;
		}
		/* valid UTF-8: U+0080..U+009F are exactly C2 80..C2 9F */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			return KMS_ERR_ENCODING;
		}
	}
	return KMS_OK;
}
