/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "common/cbs.h"
#include "proto/mp.h"

#include "common/banned.h"

/*
 * One table describes every message: the fields of each operation's request and reply, each
 * with its key (the C member's name), kind, place in the operation's struct and bounds. The
 * encoder, the decoder and the equality below all walk the same table, and the encoder checks
 * a struct with the very function the decoder uses on received values, so nothing encodes that
 * would not decode. The keys "op", "id" and "status" are the header, handled apart.
 *
 * Decoding is done here, over struct kms_cbs, after kms_mp_prescan() has accepted the whole
 * message; msgpack-c only encodes (its unpacker is not used at all, see mp.h).
 */

enum fkind {
	F_UINT,      /* unsigned integer member (1, 2, 4 or 8 bytes), value in [min, max] */
	F_BOOL,      /* bool member */
	F_ASCII,     /* str of visible ASCII: char[size], NUL-terminated, and a size_t length */
	F_UTF8,      /* str of UTF-8 without NUL: char[size], NUL-terminated, and a size_t length */
	F_BIN,       /* bin: uint8_t[size] and a size_t length */
	F_BIN_FIXED, /* bin of exactly size bytes: uint8_t[size] */
};

struct field {
	const char *key;
	enum fkind kind;
	size_t off;     /* of the member, in the operation's struct */
	size_t size;    /* sizeof the member */
	size_t len_off; /* F_ASCII, F_UTF8, F_BIN: of the size_t length member */
	uint64_t min;   /* F_UINT: the value's range; others: the length's */
	uint64_t max;
};

#define MSIZE(T, m) sizeof(((T *)NULL)->m)
/* An unsigned integer member m with its range. */
#define F_U(T, m, lo, hi)                                                                          \
	{                                                                                          \
		.kind = F_UINT, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m), .min = lo,  \
		.max = hi                                                                          \
	}
#define F_B(T, m)                                                                                  \
	{                                                                                          \
		.kind = F_BOOL, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m), .max = 1    \
	}
/* A str member m of kind F_ASCII or F_UTF8 with its m_len; the array keeps a byte for NUL. */
#define F_S(T, k, m, lo)                                                                           \
	{                                                                                          \
		.kind = k, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m),                  \
		.len_off = offsetof(T, m##_len), .min = lo, .max = MSIZE(T, m) - 1                 \
	}
/* A bin member m of 1..sizeof(m) bytes with its m_len. */
#define F_BV(T, m)                                                                                 \
	{                                                                                          \
		.kind = F_BIN, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m),              \
		.len_off = offsetof(T, m##_len), .min = 1, .max = MSIZE(T, m)                      \
	}
/* A bin member m of lo..sizeof(m) bytes with its m_len. */
#define F_BR(T, m, lo)                                                                             \
	{                                                                                          \
		.kind = F_BIN, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m),              \
		.len_off = offsetof(T, m##_len), .min = lo, .max = MSIZE(T, m)                     \
	}
/* A bin member m of exactly sizeof(m) bytes. */
#define F_BF(T, m)                                                                                 \
	{                                                                                          \
		.kind = F_BIN_FIXED, .key = #m, .off = offsetof(T, m), .size = MSIZE(T, m),        \
		.min = MSIZE(T, m), .max = MSIZE(T, m)                                             \
	}
#define NUM(a) (sizeof(a) / sizeof((a)[0]))

static const struct field provision_req[] = {
	F_S(struct kms_proto_provision_req, F_ASCII, client_id, 1),
	F_S(struct kms_proto_provision_req, F_UTF8, identity, 1),
	F_U(struct kms_proto_provision_req, key_period, 0, UINT64_MAX),
	F_B(struct kms_proto_provision_req, no_plain),
};

static const struct field rotate_keys_req[] = {
	F_S(struct kms_proto_rotate_keys_req, F_ASCII, client_id, 1),
};

static const struct field sign_req[] = {
	F_S(struct kms_proto_sign_req, F_ASCII, client_id, 1),
	F_BF(struct kms_proto_sign_req, digest),
};

static const struct field tls_sign_req[] = {
	F_BR(struct kms_proto_tls_sign_req, digest, KMS_PROTO_TLS_DIGEST_MIN),
};

static const struct field audit_sign_req[] = {
	F_U(struct kms_proto_audit_sign_req, seq, 1, INT64_MAX),
	F_BF(struct kms_proto_audit_sign_req, hash),
	F_U(struct kms_proto_audit_sign_req, time_s, 0, INT64_MAX),
};

_Static_assert(KMS_PROTO_MAX_SIGNED_INFO <= KMS_PROTO_MAX_URI, "within KMS_PROTO_LIMITS' max_len");

static const struct field verify_req[] = {
	F_S(struct kms_proto_verify_req, F_ASCII, client_id, 1),
	F_S(struct kms_proto_verify_req, F_ASCII, key_id, 1),
	F_BV(struct kms_proto_verify_req, signed_info),
	F_BF(struct kms_proto_verify_req, signature),
};

static const struct field health_rep[] = {
	F_B(struct kms_proto_health_rep, token_present),
	F_S(struct kms_proto_health_rep, F_UTF8, issuer, 0),
};

static const struct field provision_rep[] = {
	F_B(struct kms_proto_provision_rep, plain),
	F_U(struct kms_proto_provision_rep, key_period, 0, UINT64_MAX),
	F_U(struct kms_proto_provision_rep, period_start, 0, UINT64_MAX),
	F_U(struct kms_proto_provision_rep, period_end, 0, UINT64_MAX),
	F_S(struct kms_proto_provision_rep, F_UTF8, kms_uri, 1),
	F_BF(struct kms_proto_provision_rep, user_id),
	F_BV(struct kms_proto_provision_rep, rsk_wrapped),
	F_BV(struct kms_proto_provision_rep, ssk_wrapped),
	F_BV(struct kms_proto_provision_rep, pvt_wrapped),
	F_S(struct kms_proto_provision_rep, F_ASCII, trk_id, 0), /* >= 1 unless plain */
	F_BF(struct kms_proto_provision_rep, hmac),
};

static const struct field certificate_rep[] = {
	F_S(struct kms_proto_certificate_rep, F_UTF8, kms_uri, 1),
	F_S(struct kms_proto_certificate_rep, F_UTF8, cert_uri, 0),
	F_BF(struct kms_proto_certificate_rep, kpak),
	F_BF(struct kms_proto_certificate_rep, z_t),
	F_U(struct kms_proto_certificate_rep, user_key_period, 1, UINT64_MAX),
	F_U(struct kms_proto_certificate_rep, user_key_offset, 0, UINT64_MAX),
	F_U(struct kms_proto_certificate_rep, parameter_set, KMS_PROTO_PARAMETER_SET,
	    KMS_PROTO_PARAMETER_SET),
};

static const struct field rotate_keys_rep[] = {
	F_BV(struct kms_proto_rotate_keys_rep, new_trk_wrapped),
	F_S(struct kms_proto_rotate_keys_rep, F_ASCII, new_trk_id, 1),
	F_BV(struct kms_proto_rotate_keys_rep, new_ink_wrapped),
	F_S(struct kms_proto_rotate_keys_rep, F_ASCII, new_ink_id, 1),
};

static const struct field sign_rep[] = {
	F_BF(struct kms_proto_sign_rep, signature),
	F_S(struct kms_proto_sign_rep, F_ASCII, key_id, 1),
};

static const struct field tls_sign_rep[] = {
	F_BF(struct kms_proto_tls_sign_rep, signature),
};

static const struct field audit_sign_rep[] = {
	F_BF(struct kms_proto_audit_sign_rep, signature),
};

static const struct field verify_rep[] = {
	F_B(struct kms_proto_verify_rep, rotated),
};

/* Checks across fields of a decoded or to-be-encoded struct: KMS_OK or KMS_ERR_RANGE. */
static int
check_provision_rep(const void *base)
{
	const struct kms_proto_provision_rep *p = base;
	static const uint8_t zero[KMS_PROTO_HMAC_LEN];

	if (p->period_start > p->period_end) {
		return KMS_ERR_RANGE;
	}
	if (!p->plain) {
		return p->trk_id_len > 0 ? KMS_OK : KMS_ERR_RANGE;
	}
	/* the keys themselves, of exactly their lengths; no TrK, no hmac */
	return p->rsk_wrapped_len == KMS_PROTO_PLAIN_RSK_LEN &&
			       p->ssk_wrapped_len == KMS_PROTO_PLAIN_SSK_LEN &&
			       p->pvt_wrapped_len == KMS_PROTO_PLAIN_PVT_LEN &&
			       p->trk_id_len == 0 && memcmp(p->hmac, zero, sizeof(zero)) == 0
		       ? KMS_OK
		       : KMS_ERR_RANGE;
}

struct op_desc {
	const char *name;
	const struct field *req;
	size_t num_req;
	const struct field *rep;
	size_t num_rep;
	int (*check_rep)(const void *base); /* NULL: none */
};

static const struct op_desc ops[KMS_PROTO_OP_MAX + 1] = {
	[KMS_PROTO_HEALTH] = {"health", NULL, 0, health_rep, NUM(health_rep), NULL},
	[KMS_PROTO_PROVISION] = {"provision", provision_req, NUM(provision_req), provision_rep,
				 NUM(provision_rep), check_provision_rep},
	[KMS_PROTO_CERTIFICATE] = {"certificate", NULL, 0, certificate_rep, NUM(certificate_rep),
				   NULL},
	[KMS_PROTO_ROTATE_KEYS] = {"rotate_keys", rotate_keys_req, NUM(rotate_keys_req),
				   rotate_keys_rep, NUM(rotate_keys_rep), NULL},
	[KMS_PROTO_SIGN] = {"sign", sign_req, NUM(sign_req), sign_rep, NUM(sign_rep), NULL},
	[KMS_PROTO_TLS_SIGN] = {"tls_sign", tls_sign_req, NUM(tls_sign_req), tls_sign_rep,
				NUM(tls_sign_rep), NULL},
	[KMS_PROTO_AUDIT_SIGN] = {"audit_sign", audit_sign_req, NUM(audit_sign_req), audit_sign_rep,
				  NUM(audit_sign_rep), NULL},
	[KMS_PROTO_VERIFY] = {"verify", verify_req, NUM(verify_req), verify_rep, NUM(verify_rep),
			      NULL},
};

/* The fields and the check of a message: a request, or a reply with the given status. */
struct shape {
	const struct field *fields;
	size_t num;
	int (*check)(const void *base);
};

static const struct op_desc *
find_op(uint64_t op)
{
	if (op == 0 || op > KMS_PROTO_OP_MAX) {
		return NULL;
	}
	return &ops[op];
}

static struct shape
shape_of(const struct op_desc *d, bool reply, int status)
{
	struct shape s = {NULL, 0, NULL};

	if (!reply) {
		s.fields = d->req;
		s.num = d->num_req;
	} else if (status == KMS_OK) {
		s.fields = d->rep;
		s.num = d->num_rep;
		s.check = d->check_rep;
	}
	return s;
}

const char *
kms_proto_op_name(int op)
{
	const struct op_desc *d = op < 0 ? NULL : find_op((uint64_t)op);

	return d == NULL ? NULL : d->name;
}

/* A status is a code kms_err_name() knows: KMS_OK or one of the negative bands. */
static bool
status_ok(int64_t status)
{
	return status <= 0 && status >= -99 && kms_err_name((int)status) != NULL;
}

static uint64_t
load_uint(const uint8_t *p, size_t size)
{
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (size) {
	case 1:
		memcpy(&v8, p, 1);
		return v8;
	case 2:
		memcpy(&v16, p, 2);
		return v16;
	case 4:
		memcpy(&v32, p, 4);
		return v32;
	default:
		memcpy(&v64, p, 8);
		return v64;
	}
}

/* Store v, which the field's range keeps within the member's size. */
static void
store_uint(uint8_t *p, size_t size, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (size) {
	case 1:
		memcpy(p, &v8, 1);
		break;
	case 2:
		memcpy(p, &v16, 2);
		break;
	case 4:
		memcpy(p, &v32, 4);
		break;
	default:
		memcpy(p, &v, 8);
		break;
	}
}

/* The length of a str or bin member as the struct says it. */
static size_t
load_len(const uint8_t *base, const struct field *f)
{
	size_t n;

	if (f->kind == F_BIN_FIXED) {
		return f->size;
	}
	memcpy(&n, base + f->len_off, sizeof(n));
	return n;
}

/* The check of one integer value, received or about to be sent: KMS_OK or KMS_ERR_RANGE. */
static int
check_uint(const struct field *f, uint64_t v)
{
	return v < f->min || v > f->max ? KMS_ERR_RANGE : KMS_OK;
}

/*
 * The check of one str or bin value, received or about to be sent: its length first (so the
 * content check never reads past the member), then its character set.
 * KMS_ERR_RANGE (length), KMS_ERR_PARSE (NUL, or outside visible ASCII), KMS_ERR_ENCODING.
 */
static int
check_bytes(const struct field *f, const uint8_t *p, size_t len)
{
	size_t i;
	int r;

	if (len < f->min || len > f->max) {
		return KMS_ERR_RANGE;
	}
	switch (f->kind) {
	case F_ASCII:
		for (i = 0; i < len; i++) {
			if (p[i] < 0x21 || p[i] > 0x7e) {
				return KMS_ERR_PARSE;
			}
		}
		break;
	case F_UTF8:
		if ((r = kms_mp_utf8_check(p, len)) != KMS_OK) {
			return r;
		}
		if (len > 0 && memchr(p, 0, len) != NULL) {
			return KMS_ERR_PARSE;
		}
		break;
	case F_UINT:
	case F_BOOL:
	case F_BIN:
	case F_BIN_FIXED:
		break;
	}
	return KMS_OK;
}

/* Decode the value at val (exactly one object: the getter consumes all of it) into f. */
static int
decode_field(uint8_t *base, const struct field *f, struct kms_cbs *val)
{
	struct kms_cbs s;
	uint64_t v;
	bool b;
	size_t len;
	int r;

	switch (f->kind) {
	case F_UINT:
		if ((r = kms_mp_get_uint(val, &v)) != KMS_OK || (r = check_uint(f, v)) != KMS_OK) {
			return r;
		}
		store_uint(base + f->off, f->size, v);
		break;
	case F_BOOL:
		if ((r = kms_mp_get_bool(val, &b)) != KMS_OK) {
			return r;
		}
		memcpy(base + f->off, &b, sizeof(b));
		break;
	case F_ASCII:
	case F_UTF8:
	case F_BIN:
	case F_BIN_FIXED:
		r = f->kind == F_ASCII || f->kind == F_UTF8 ? kms_mp_get_str(val, &s)
							    : kms_mp_get_bin(val, &s);
		if (r != KMS_OK) {
			return r;
		}
		len = kms_cbs_len(&s);
		if ((r = check_bytes(f, s.data, len)) != KMS_OK ||
		    (r = kms_cbs_copy(&s, base + f->off, len)) != KMS_OK) {
			return r;
		}
		if (f->kind == F_ASCII || f->kind == F_UTF8) {
			base[f->off + len] = '\0'; /* len <= size - 1 */
		}
		if (f->kind != F_BIN_FIXED) {
			memcpy(base + f->len_off, &len, sizeof(len));
		}
		break;
	}
	return KMS_OK;
}

/* Check the member f of base before encoding it: KMS_OK or the decoder's verdict. */
static int
check_field(const uint8_t *base, const struct field *f)
{
	switch (f->kind) {
	case F_UINT:
		return check_uint(f, load_uint(base + f->off, f->size));
	case F_BOOL:
		return KMS_OK;
	case F_ASCII:
	case F_UTF8:
	case F_BIN:
	case F_BIN_FIXED:
		return check_bytes(f, base + f->off, load_len(base, f));
	}
	return KMS_ERR_INTERNAL;
}

/* msgpack-c's packers return 0, or -1 when msgpack_sbuffer_write() cannot grow the buffer. */
static int
pack_key(msgpack_packer *pk, const char *key)
{
	return msgpack_pack_str_with_body(pk, key, strlen(key));
}

static int
pack_field(msgpack_packer *pk, const uint8_t *base, const struct field *f)
{
	size_t len;
	bool b;
	int rc;

	rc = pack_key(pk, f->key);
	switch (f->kind) {
	case F_UINT:
		rc |= msgpack_pack_uint64(pk, load_uint(base + f->off, f->size));
		break;
	case F_BOOL:
		memcpy(&b, base + f->off, sizeof(b));
		rc |= b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		break;
	case F_ASCII:
	case F_UTF8:
		len = load_len(base, f);
		rc |= msgpack_pack_str_with_body(pk, base + f->off, len);
		break;
	case F_BIN:
	case F_BIN_FIXED:
		len = load_len(base, f);
		rc |= msgpack_pack_bin_with_body(pk, base + f->off, len);
		break;
	}
	return rc;
}

/* The header of a message, as found on the wire. */
struct header {
	uint64_t op;
	uint32_t id;
	int status;
};

/* The header keys, in the order they are encoded; "status" only in replies. */
enum {
	H_OP,
	H_ID,
	H_STATUS
};
static const char *const header_keys[] = {"op", "id", "status"};

/*
 * Encode a message: the header (status only in replies), then the fields of sh, all checked
 * first. base is the operation's struct (the union inside the request or reply).
 */
static int
encode(uint8_t *out, size_t out_cap, size_t *out_len, bool reply, const struct header *h,
       const uint8_t *base)
{
	const struct op_desc *d = find_op(h->op);
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	struct shape sh;
	size_t i;
	int rc;
	int r = KMS_ERR_INTERNAL;

	if (d == NULL || (reply && !status_ok(h->status))) {
		return KMS_ERR_INVALID_ARG;
	}
	sh = shape_of(d, reply, h->status);
	for (i = 0; i < sh.num; i++) {
		if (check_field(base, &sh.fields[i]) != KMS_OK) {
			return KMS_ERR_INVALID_ARG;
		}
	}
	if (sh.check != NULL && sh.check(base) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	rc = msgpack_pack_map(&pk, (reply ? 3u : 2u) + sh.num);
	rc |= pack_key(&pk, header_keys[H_OP]);
	rc |= msgpack_pack_uint64(&pk, h->op);
	rc |= pack_key(&pk, header_keys[H_ID]);
	rc |= msgpack_pack_uint32(&pk, h->id);
	if (reply) {
		rc |= pack_key(&pk, header_keys[H_STATUS]);
		rc |= msgpack_pack_int(&pk, h->status);
	}
	for (i = 0; i < sh.num; i++) {
		rc |= pack_field(&pk, base, &sh.fields[i]);
	}
	if (rc != 0) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (sbuf.size > KMS_MAX_IPC || sbuf.size > out_cap) {
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(out, sbuf.data, sbuf.size);
	*out_len = sbuf.size;
	r = KMS_OK;
out:
	msgpack_sbuffer_destroy(&sbuf);
	return r;
}

/* One key/value pair of the top-level map: the key's bytes, and the value's whole encoding. */
struct pair {
	struct kms_cbs key;
	struct kms_cbs val;
	bool used;
};

static bool
key_is(const struct pair *p, const char *key)
{
	size_t n = strlen(key);

	return kms_cbs_len(&p->key) == n && memcmp(p->key.data, key, n) == 0;
}

/*
 * Pre-scan in[0..in_len), then split its top-level map into pairs[0..*out_num) (at most
 * KMS_PROTO_MAX_KEYS). Every key must be a str; values are left encoded.
 */
static int
split_map(struct pair pairs[static KMS_PROTO_MAX_KEYS], size_t *out_num, const uint8_t *in,
	  size_t in_len)
{
	const struct kms_mp_limits lim = KMS_PROTO_LIMITS;
	struct kms_cbs cbs, start;
	uint32_t count, i;
	int r;

	if ((r = kms_mp_prescan(&lim, in, in_len)) != KMS_OK) {
		return r;
	}
	kms_cbs_init(&cbs, in, in_len);
	if ((r = kms_mp_get_map(&cbs, &count)) != KMS_OK) {
		return r;
	}
	if (count > KMS_PROTO_MAX_KEYS) {
		return KMS_ERR_TOO_LARGE; /* the pre-scan's limit already */
	}
	for (i = 0; i < count; i++) {
		if ((r = kms_mp_get_str(&cbs, &pairs[i].key)) != KMS_OK) {
			return r;
		}
		start = cbs;
		if ((r = kms_mp_skip(&cbs, &lim)) != KMS_OK) {
			return r;
		}
		kms_cbs_init(&pairs[i].val, start.data, kms_cbs_len(&start) - kms_cbs_len(&cbs));
		pairs[i].used = false;
	}
	*out_num = count;
	return kms_cbs_expect_end(&cbs);
}

/*
 * Claim for keys[k] the one pair whose key it is, among the pairs not yet claimed: slot[k]
 * becomes that pair's index. KMS_ERR_PARSE for a key found twice or not at all, and, when
 * all is set, for a pair left over (a key unknown to the message).
 */
static int
claim(size_t slot[static KMS_PROTO_MAX_KEYS], const char *const *keys, size_t num_keys,
      struct pair *pairs, size_t num, bool all)
{
	size_t i, k;

	for (k = 0; k < num_keys; k++) {
		slot[k] = SIZE_MAX;
	}
	for (i = 0; i < num; i++) {
		if (pairs[i].used) {
			continue;
		}
		for (k = 0; k < num_keys && !key_is(&pairs[i], keys[k]); k++) {
		}
		if (k == num_keys) {
			if (all) {
				return KMS_ERR_PARSE; /* unknown key */
			}
			continue;
		}
		if (slot[k] != SIZE_MAX) {
			return KMS_ERR_PARSE; /* duplicate key */
		}
		slot[k] = i;
		pairs[i].used = true;
	}
	for (k = 0; k < num_keys; k++) {
		if (slot[k] == SIZE_MAX) {
			return KMS_ERR_PARSE; /* missing key */
		}
	}
	return KMS_OK;
}

/* The header: "op", "id" and, in a reply, "status", each once, wherever they stand. */
static int
decode_header(struct header *out, struct pair *pairs, size_t num, bool reply)
{
	size_t slot[KMS_PROTO_MAX_KEYS];
	uint64_t op = 0, id = 0;
	int64_t status = KMS_OK;
	int r;

	if ((r = claim(slot, header_keys, reply ? 3 : 2, pairs, num, false)) != KMS_OK ||
	    (r = kms_mp_get_uint(&pairs[slot[H_OP]].val, &op)) != KMS_OK ||
	    (r = kms_mp_get_uint(&pairs[slot[H_ID]].val, &id)) != KMS_OK ||
	    (reply && (r = kms_mp_get_int(&pairs[slot[H_STATUS]].val, &status)) != KMS_OK)) {
		return r;
	}
	if (find_op(op) == NULL || id > UINT32_MAX || !status_ok(status)) {
		return KMS_ERR_RANGE;
	}
	out->op = op;
	out->id = (uint32_t)id;
	out->status = (int)status;
	return KMS_OK;
}

/*
 * Decode a message into *h and base (the operation's struct inside the caller's zeroed
 * copy). The header first, since op and status say which fields the message has; then every
 * other key must be one of those fields, once, and every field must be there, all checked
 * before any field's value is read; then the values.
 */
static int
decode(struct header *h, uint8_t *base, bool reply, const uint8_t *in, size_t in_len)
{
	struct pair pairs[KMS_PROTO_MAX_KEYS];
	const char *keys[KMS_PROTO_MAX_KEYS] = {NULL};
	size_t slot[KMS_PROTO_MAX_KEYS];
	struct shape sh;
	size_t num = 0, j;
	int r;

	if ((r = split_map(pairs, &num, in, in_len)) != KMS_OK ||
	    (r = decode_header(h, pairs, num, reply)) != KMS_OK) {
		return r;
	}
	sh = shape_of(find_op(h->op), reply, h->status);
	for (j = 0; j < sh.num; j++) {
		keys[j] = sh.fields[j].key;
	}
	if ((r = claim(slot, keys, sh.num, pairs, num, true)) != KMS_OK) {
		return r;
	}
	for (j = 0; j < sh.num; j++) {
		if ((r = decode_field(base, &sh.fields[j], &pairs[slot[j]].val)) != KMS_OK) {
			return r;
		}
	}
	if (sh.check != NULL && (r = sh.check(base)) != KMS_OK) {
		return r;
	}
	return KMS_OK;
}

/* Field by field equality of two operation structs of the same shape. */
static bool
fields_equal(const uint8_t *a, const uint8_t *b, const struct shape *sh)
{
	const struct field *f;
	size_t i, len;
	bool ba, bb;

	for (i = 0; i < sh->num; i++) {
		f = &sh->fields[i];
		switch (f->kind) {
		case F_UINT:
			if (load_uint(a + f->off, f->size) != load_uint(b + f->off, f->size)) {
				return false;
			}
			break;
		case F_BOOL:
			memcpy(&ba, a + f->off, sizeof(ba));
			memcpy(&bb, b + f->off, sizeof(bb));
			if (ba != bb) {
				return false;
			}
			break;
		case F_ASCII:
		case F_UTF8:
		case F_BIN:
		case F_BIN_FIXED:
			len = load_len(a, f);
			if (len != load_len(b, f) || len > f->max ||
			    memcmp(a + f->off, b + f->off, len) != 0) {
				return false;
			}
			break;
		}
	}
	return true;
}

int
kms_proto_encode_request(uint8_t *out, size_t out_cap, size_t *out_len,
			 const struct kms_proto_request *req)
{
	const struct header h = {(uint64_t)req->op, req->id, KMS_OK};

	return encode(out, out_cap, out_len, false, &h, (const uint8_t *)&req->u);
}

int
kms_proto_encode_reply(uint8_t *out, size_t out_cap, size_t *out_len,
		       const struct kms_proto_reply *rep)
{
	const struct header h = {(uint64_t)rep->op, rep->id, rep->status};

	return encode(out, out_cap, out_len, true, &h, (const uint8_t *)&rep->u);
}

int
kms_proto_decode_request(struct kms_proto_request *out, const uint8_t *in, size_t in_len)
{
	struct kms_proto_request tmp;
	struct header h = {0, 0, KMS_OK};
	int r;

	memset(&tmp, 0, sizeof(tmp));
	if ((r = decode(&h, (uint8_t *)&tmp.u, false, in, in_len)) != KMS_OK) {
		return r;
	}
	tmp.op = (enum kms_proto_op)h.op;
	tmp.id = h.id;
	*out = tmp;
	return KMS_OK;
}

int
kms_proto_decode_reply(struct kms_proto_reply *out, const uint8_t *in, size_t in_len)
{
	struct kms_proto_reply tmp;
	struct header h = {0, 0, KMS_OK};
	int r;

	memset(&tmp, 0, sizeof(tmp));
	if ((r = decode(&h, (uint8_t *)&tmp.u, true, in, in_len)) != KMS_OK) {
		return r;
	}
	tmp.op = (enum kms_proto_op)h.op;
	tmp.id = h.id;
	tmp.status = h.status;
	*out = tmp;
	return KMS_OK;
}

bool
kms_proto_request_equal(const struct kms_proto_request *a, const struct kms_proto_request *b)
{
	const struct op_desc *d = find_op((uint64_t)a->op);
	struct shape sh;

	if (d == NULL || a->op != b->op || a->id != b->id) {
		return false;
	}
	sh = shape_of(d, false, KMS_OK);
	return fields_equal((const uint8_t *)&a->u, (const uint8_t *)&b->u, &sh);
}

bool
kms_proto_reply_equal(const struct kms_proto_reply *a, const struct kms_proto_reply *b)
{
	const struct op_desc *d = find_op((uint64_t)a->op);
	struct shape sh;

	if (d == NULL || a->op != b->op || a->id != b->id || a->status != b->status) {
		return false;
	}
	sh = shape_of(d, true, a->status);
	return fields_equal((const uint8_t *)&a->u, (const uint8_t *)&b->u, &sh);
}
