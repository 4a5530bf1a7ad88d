/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/p11uri.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/cbs.h"

#include "common/banned.h"

/*
 * The URI comes from configuration, but configuration is outside input too: every byte goes
 * through a struct kms_cbs, every value is decoded into a fixed-size field of a struct built
 * on the stack and copied out only when the whole URI was accepted. The grammar is RFC 7512
 * section 2.3's; the comments name its productions.
 */

enum kind {
	KIND_TEXT,    /* %-decoded UTF-8, no NUL, into a byte field */
	KIND_BYTES,   /* %-decoded bytes (id) */
	KIND_VERSION, /* 1*DIGIT [ "." 1*DIGIT ], each part <= 255 */
	KIND_SLOT_ID, /* 1*DIGIT, fits CK_SLOT_ID */
	KIND_TYPE,    /* public / private / cert / secret-key / data */
	KIND_PATH,    /* %-decoded UTF-8, no NUL, absolute, into a C string */
	KIND_NAME,    /* %-decoded UTF-8, no NUL, no '/', into a C string */
	KIND_SOURCE,  /* %-decoded UTF-8, no NUL, into a C string (a file: URI or a path) */
	KIND_PIN,     /* pin-value: always refused */
};

struct attr_def {
	const char *name;
	unsigned int bit;
	int query; /* 1: a query attribute (after '?'), 0: a path attribute */
	enum kind kind;
};

static const struct attr_def attr_defs[] = {
	{"token", KMS_P11URI_TOKEN, 0, KIND_TEXT},
	{"manufacturer", KMS_P11URI_MANUFACTURER, 0, KIND_TEXT},
	{"serial", KMS_P11URI_SERIAL, 0, KIND_TEXT},
	{"model", KMS_P11URI_MODEL, 0, KIND_TEXT},
	{"library-manufacturer", KMS_P11URI_LIB_MANUF, 0, KIND_TEXT},
	{"library-description", KMS_P11URI_LIB_DESC, 0, KIND_TEXT},
	{"library-version", KMS_P11URI_LIB_VERSION, 0, KIND_VERSION},
	{"slot-id", KMS_P11URI_SLOT_ID, 0, KIND_SLOT_ID},
	{"slot-description", KMS_P11URI_SLOT_DESC, 0, KIND_TEXT},
	{"slot-manufacturer", KMS_P11URI_SLOT_MANUF, 0, KIND_TEXT},
	{"object", KMS_P11URI_OBJECT, 0, KIND_TEXT},
	{"type", KMS_P11URI_TYPE, 0, KIND_TYPE},
	{"id", KMS_P11URI_ID, 0, KIND_BYTES},
	{"module-path", KMS_P11URI_MODULE_PATH, 1, KIND_PATH},
	{"module-name", KMS_P11URI_MODULE_NAME, 1, KIND_NAME},
	{"pin-source", KMS_P11URI_PIN_SOURCE, 1, KIND_SOURCE},
	{"pin-value", 0, 1, KIND_PIN},
};

static const struct {
	const char *name;
	CK_OBJECT_CLASS cls;
} type_names[] = {
	{"public", CKO_PUBLIC_KEY},     {"private", CKO_PRIVATE_KEY}, {"cert", CKO_CERTIFICATE},
	{"secret-key", CKO_SECRET_KEY}, {"data", CKO_DATA},
};

struct parser {
	const uint8_t *base; /* borrowed: the start of the URI, for offsets */
	struct kms_p11uri *u;
	struct kms_p11uri_diag *diag; /* borrowed, may be NULL */
};

/* Record why the parse failed at the cursor's position, and return err. */
static int
fail(struct parser *ps, const struct kms_cbs *at, int err, const char *reason)
{
	if (ps->diag != NULL) {
		ps->diag->offset = at->data != NULL ? (size_t)(at->data - ps->base) : 0;
		ps->diag->reason = reason;
	}
	return err;
}

/*
 * Split *c at the first sep: *head is a sub-cursor over the bytes before it, and *c moves past
 * the separator (*found 1) or to the end (*found 0).
 */
static int
split(struct kms_cbs *c, uint8_t sep, struct kms_cbs *head, int *found)
{
	size_t n = kms_cbs_len(c);
	const uint8_t *p = n > 0 ? memchr(c->data, sep, n) : NULL;
	int r;

	*found = p != NULL;
	if (p != NULL) {
		n = (size_t)(p - c->data);
	}
	if ((r = kms_cbs_get_bytes(c, head, n)) != KMS_OK) {
		return r;
	}
	return *found ? kms_cbs_skip(c, 1) : KMS_OK;
}

static int
is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* pk11-pchar (query 0) or pk11-qchar (query 1), without pct-encoded. */
static int
is_plain_char(uint8_t c, int query)
{
	if (is_alpha(c) || is_digit(c) || strchr("-._~", c) != NULL) {
		return c != '\0'; /* unreserved; strchr matches the terminator */
	}
	if (c != '\0' && strchr(":[]@!$'()*+,=", c) != NULL) {
		return 1; /* pk11-res-avail */
	}
	if (query) {
		return c == '/' || c == '?' || c == '|'; /* pk11-query-res-avail */
	}
	return c == '&'; /* pk11-path-res-avail */
}

static int
hex_value(uint8_t c)
{
	if (is_digit(c)) {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static int
utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0, n, k;
	uint8_t lo, hi;

	while (i < len) {
		uint8_t c = s[i];

		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			return 0;
		}
		if (n > len - i - 1) {
			return 0;
		}
		for (k = 1; k <= n; k++) {
			uint8_t b = s[i + k];

			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) {
				return 0;
			}
		}
		i += n + 1;
	}
	return 1;
}

/*
 * %-decode val into out (at most cap bytes), allowing the plain characters of the path or the
 * query. *out_len is set on success only.
 */
static int
decode(struct parser *ps, struct kms_cbs val, int query, uint8_t *out, size_t cap, size_t *out_len)
{
	struct kms_cbs at;
	uint8_t c, h[2];
	size_t n = 0;
	int r, hi, lo;

	while (kms_cbs_len(&val) > 0) {
		at = val;
		if ((r = kms_cbs_get_u8(&val, &c)) != KMS_OK) {
			return fail(ps, &at, r, "internal cursor error");
		}
		if (c == '%') {
			if (kms_cbs_copy(&val, h, 2) != KMS_OK) {
				return fail(ps, &at, KMS_ERR_ENCODING, "truncated %-escape");
			}
			hi = hex_value(h[0]);
			lo = hex_value(h[1]);
			if (hi < 0 || lo < 0) {
				return fail(ps, &at, KMS_ERR_ENCODING, "bad %-escape");
			}
			c = (uint8_t)(hi << 4 | lo);
		} else if (!is_plain_char(c, query)) {
			return fail(ps, &at, KMS_ERR_PARSE,
				    query ? "character not allowed in the query (escape it)"
					  : "character not allowed in the path (escape it)");
		}
		if (n == cap) {
			return fail(ps, &at, KMS_ERR_TOO_LARGE, "value longer than its field");
		}
		out[n++] = c;
	}
	*out_len = n;
	return KMS_OK;
}

/* The byte field and its length for a KIND_TEXT or KIND_BYTES attribute. */
static void
byte_field(struct kms_p11uri *u, unsigned int bit, uint8_t **out, size_t **out_len, size_t *cap)
{
#define KMS_P11URI_FIELD(b, f)                                                                     \
	case b:                                                                                    \
		*out = u->f;                                                                       \
		*out_len = &u->f##_len;                                                            \
		*cap = sizeof(u->f);                                                               \
		return
	switch (bit) {
		KMS_P11URI_FIELD(KMS_P11URI_TOKEN, token);
		KMS_P11URI_FIELD(KMS_P11URI_MANUFACTURER, manufacturer);
		KMS_P11URI_FIELD(KMS_P11URI_SERIAL, serial);
		KMS_P11URI_FIELD(KMS_P11URI_MODEL, model);
		KMS_P11URI_FIELD(KMS_P11URI_LIB_MANUF, lib_manufacturer);
		KMS_P11URI_FIELD(KMS_P11URI_LIB_DESC, lib_description);
		KMS_P11URI_FIELD(KMS_P11URI_SLOT_DESC, slot_description);
		KMS_P11URI_FIELD(KMS_P11URI_SLOT_MANUF, slot_manufacturer);
		KMS_P11URI_FIELD(KMS_P11URI_OBJECT, object);
		KMS_P11URI_FIELD(KMS_P11URI_ID, id);
	default:
		break;
	}
#undef KMS_P11URI_FIELD
	*out = NULL;
	*out_len = NULL;
	*cap = 0;
}

/* A decimal number of at most max_digits digits (no sign, no escape) that fills val. */
static int
parse_decimal(struct parser *ps, struct kms_cbs val, size_t max_digits, unsigned long max,
	      unsigned long *out)
{
	struct kms_cbs start = val;
	unsigned long v = 0;
	size_t digits = 0;
	uint8_t c;

	if (kms_cbs_len(&val) == 0) {
		return fail(ps, &start, KMS_ERR_PARSE, "a number is expected");
	}
	while (kms_cbs_get_u8(&val, &c) == KMS_OK) {
		if (!is_digit(c)) {
			return fail(ps, &start, KMS_ERR_PARSE, "a number is expected");
		}
		if (++digits > max_digits || v > (max - (unsigned long)(c - '0')) / 10) {
			return fail(ps, &start, KMS_ERR_RANGE, "number out of range");
		}
		v = v * 10 + (unsigned long)(c - '0');
	}
	*out = v;
	return KMS_OK;
}

/* library-version = 1*DIGIT [ "." 1*DIGIT ]; "3" is 3.0. */
static int
parse_version(struct parser *ps, struct kms_cbs val, CK_VERSION *out)
{
	struct kms_cbs major;
	unsigned long maj, min = 0;
	int found, r;

	if ((r = split(&val, '.', &major, &found)) != KMS_OK) {
		return fail(ps, &val, r, "internal cursor error");
	}
	if ((r = parse_decimal(ps, major, 3, 255, &maj)) != KMS_OK) {
		return r;
	}
	if (found && (r = parse_decimal(ps, val, 3, 255, &min)) != KMS_OK) {
		return r;
	}
	out->major = (CK_BYTE)maj;
	out->minor = (CK_BYTE)min;
	return KMS_OK;
}

static int
parse_type(struct parser *ps, struct kms_cbs val, CK_OBJECT_CLASS *out)
{
	size_t i, n = kms_cbs_len(&val);

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strlen(type_names[i].name) == n &&
		    memcmp(type_names[i].name, val.data, n) == 0) {
			*out = type_names[i].cls;
			return KMS_OK;
		}
	}
	return fail(ps, &val, KMS_ERR_PARSE,
		    "type is one of public, private, cert, secret-key, data");
}

/* Decode a text value into a NUL-terminated string of at most cap - 1 bytes. */
static int
parse_cstring(struct parser *ps, struct kms_cbs val, enum kind kind, char *out, size_t cap)
{
	size_t n;
	int r;

	if ((r = decode(ps, val, 1, (uint8_t *)out, cap - 1, &n)) != KMS_OK) {
		return r;
	}
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL || !utf8_valid((const uint8_t *)out, n)) {
		return fail(ps, &val, KMS_ERR_ENCODING, "invalid UTF-8 or %00 in a text value");
	}
	if (kind == KIND_PATH && (n == 0 || out[0] != '/')) {
		return fail(ps, &val, KMS_ERR_PARSE, "the path must be absolute");
	}
	if (kind == KIND_NAME && (n == 0 || memchr(out, '/', n) != NULL)) {
		return fail(ps, &val, KMS_ERR_PARSE, "module-name is a name, not a path");
	}
	return KMS_OK;
}

static const struct attr_def *
find_attr(const struct kms_cbs *name)
{
	size_t i, n = kms_cbs_len(name);

	for (i = 0; i < sizeof(attr_defs) / sizeof(attr_defs[0]); i++) {
		if (strlen(attr_defs[i].name) == n &&
		    memcmp(attr_defs[i].name, name->data, n) == 0) {
			return &attr_defs[i];
		}
	}
	return NULL;
}

/* One "name=value" of the path (query 0) or of the query (query 1). */
static int
parse_attr(struct parser *ps, struct kms_cbs piece, int query)
{
	struct kms_p11uri *u = ps->u;
	const struct attr_def *def;
	struct kms_cbs name, val, at = piece;
	uint8_t *field;
	size_t *field_len, cap, i;
	unsigned long slot;
	int found, r;

	if (kms_cbs_len(&piece) == 0) {
		return fail(ps, &at, KMS_ERR_PARSE, "empty attribute");
	}
	if ((r = split(&piece, '=', &name, &found)) != KMS_OK) {
		return fail(ps, &at, r, "internal cursor error");
	}
	val = piece;
	if (!found) {
		return fail(ps, &at, KMS_ERR_PARSE, "attribute without '='");
	}
	/* pk11-v-attr-nm-char: the standard names are made of the same characters */
	if (kms_cbs_len(&name) == 0) {
		return fail(ps, &at, KMS_ERR_PARSE, "empty attribute name");
	}
	for (i = 0; i < kms_cbs_len(&name); i++) {
		uint8_t c = name.data[i];

		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
			return fail(ps, &at, KMS_ERR_PARSE, "bad character in an attribute name");
		}
	}
	def = find_attr(&name);
	if (def == NULL) {
		if (kms_cbs_len(&name) > 2 && (name.data[0] == 'x' || name.data[0] == 'X') &&
		    name.data[1] == '-') {
			return fail(ps, &at, KMS_ERR_UNSUPPORTED,
				    "vendor-specific attribute (x-...) not supported");
		}
		return fail(ps, &at, KMS_ERR_UNSUPPORTED, "unknown or vendor-specific attribute");
	}
	if (def->kind == KIND_PIN) {
		/* Checked before anything else about it: its value is never looked at. */
		return fail(ps, &at, KMS_ERR_UNSUPPORTED,
			    "pin-value refused: the PIN is never taken from a URI");
	}
	if (def->query != query) {
		return fail(ps, &at, KMS_ERR_PARSE,
			    query ? "a path attribute in the query"
				  : "a query attribute in the path");
	}
	if ((u->has & def->bit) != 0) {
		return fail(ps, &at, KMS_ERR_PARSE, "attribute given twice");
	}

	switch (def->kind) {
	case KIND_TEXT:
	case KIND_BYTES:
		byte_field(u, def->bit, &field, &field_len, &cap);
		if (field == NULL) {
			return fail(ps, &at, KMS_ERR_INTERNAL, "internal: no field");
		}
		if ((r = decode(ps, val, query, field, cap, field_len)) != KMS_OK) {
			return r;
		}
		if (def->kind == KIND_TEXT &&
		    (memchr(field, '\0', *field_len) != NULL || !utf8_valid(field, *field_len))) {
			return fail(ps, &val, KMS_ERR_ENCODING,
				    "invalid UTF-8 or %00 in a text value");
		}
		break;
	case KIND_VERSION:
		r = parse_version(ps, val, &u->lib_version);
		break;
	case KIND_SLOT_ID:
		/* CK_SLOT_ID is an unsigned long */
		r = parse_decimal(ps, val, SIZE_MAX, ULONG_MAX, &slot);
		if (r == KMS_OK) {
			u->slot_id = (CK_SLOT_ID)slot;
		}
		break;
	case KIND_TYPE:
		r = parse_type(ps, val, &u->type);
		break;
	case KIND_PATH:
		r = parse_cstring(ps, val, def->kind, u->module_path, sizeof(u->module_path));
		break;
	case KIND_SOURCE:
		r = parse_cstring(ps, val, def->kind, u->pin_source, sizeof(u->pin_source));
		break;
	case KIND_NAME:
		r = parse_cstring(ps, val, def->kind, u->module_name, sizeof(u->module_name));
		break;
	case KIND_PIN:
	default:
		r = fail(ps, &at, KMS_ERR_INTERNAL, "internal: bad attribute kind");
		break;
	}
	if (r != KMS_OK) {
		return r;
	}
	u->has |= def->bit;
	return KMS_OK;
}

/* A ';'-separated path or an '&'-separated query; empty means no attributes. */
static int
parse_list(struct parser *ps, struct kms_cbs list, uint8_t sep, int query)
{
	struct kms_cbs piece;
	int found, r;

	if (kms_cbs_len(&list) == 0) {
		return KMS_OK;
	}
	do {
		if ((r = split(&list, sep, &piece, &found)) != KMS_OK) {
			return fail(ps, &list, r, "internal cursor error");
		}
		if ((r = parse_attr(ps, piece, query)) != KMS_OK) {
			return r;
		}
		/* A separator with nothing after it is an empty attribute: the loop goes on. */
	} while (found);
	return KMS_OK;
}

int
kms_p11uri_parse(struct kms_p11uri *out, struct kms_p11uri_diag *diag, const char *uri,
		 size_t uri_len)
{
	static const char scheme[] = "pkcs11:";
	struct kms_p11uri u;
	struct parser ps;
	struct kms_cbs c, path;
	uint8_t head[sizeof(scheme) - 1];
	size_t i;
	int found, r;

	memset(&u, 0, sizeof(u));
	ps.base = (const uint8_t *)uri;
	ps.u = &u;
	ps.diag = diag;
	if (diag != NULL) {
		diag->offset = 0;
		diag->reason = NULL;
	}
	kms_cbs_init(&c, (const uint8_t *)uri, uri == NULL ? 0 : uri_len);
	if (uri == NULL) {
		return fail(&ps, &c, KMS_ERR_INVALID_ARG, "no URI");
	}
	if (uri_len > KMS_P11URI_MAX_LEN) {
		return fail(&ps, &c, KMS_ERR_TOO_LARGE, "URI longer than 4096 bytes");
	}
	if (kms_cbs_copy(&c, head, sizeof(head)) != KMS_OK) {
		return fail(&ps, &c, KMS_ERR_PARSE, "not a pkcs11: URI");
	}
	for (i = 0; i < sizeof(head); i++) {
		uint8_t l = head[i] >= 'A' && head[i] <= 'Z' ? (uint8_t)(head[i] + 32) : head[i];

		if (l != (uint8_t)scheme[i]) {
			kms_cbs_init(&c, (const uint8_t *)uri, uri_len);
			return fail(&ps, &c, KMS_ERR_PARSE, "not a pkcs11: URI");
		}
	}
	/* pk11-path cannot hold an unescaped '?': the first one starts the query. */
	if ((r = split(&c, '?', &path, &found)) != KMS_OK) {
		return fail(&ps, &c, r, "internal cursor error");
	}
	if ((r = parse_list(&ps, path, ';', 0)) != KMS_OK) {
		return r;
	}
	if (found && (r = parse_list(&ps, c, '&', 1)) != KMS_OK) {
		return r;
	}
	*out = u;
	return KMS_OK;
}

/* The length of a blank-padded field without its padding (blanks, and NULs some modules use). */
static size_t
unpadded_len(const uint8_t *f, size_t n)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0')) {
		n--;
	}
	return n;
}

/* A URI value equals a padded field; trailing blanks in either do not count. */
static int
field_eq(const unsigned char *field, size_t field_cap, const uint8_t *v, size_t v_len)
{
	size_t n = unpadded_len(field, field_cap);

	v_len = unpadded_len(v, v_len);
	return n == v_len && (n == 0 || memcmp(field, v, n) == 0);
}

int
kms_p11uri_match_token(const struct kms_p11uri *uri, const CK_TOKEN_INFO *info)
{
	if ((uri->has & KMS_P11URI_TOKEN) != 0 &&
	    !field_eq(info->label, sizeof(info->label), uri->token, uri->token_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_MANUFACTURER) != 0 &&
	    !field_eq(info->manufacturerID, sizeof(info->manufacturerID), uri->manufacturer,
		      uri->manufacturer_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_SERIAL) != 0 &&
	    !field_eq(info->serialNumber, sizeof(info->serialNumber), uri->serial,
		      uri->serial_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_MODEL) != 0 &&
	    !field_eq(info->model, sizeof(info->model), uri->model, uri->model_len)) {
		return 0;
	}
	return 1;
}

int
kms_p11uri_match_slot(const struct kms_p11uri *uri, CK_SLOT_ID slot_id, const CK_SLOT_INFO *info)
{
	if ((uri->has & KMS_P11URI_SLOT_ID) != 0 && uri->slot_id != slot_id) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_SLOT_DESC) != 0 &&
	    !field_eq(info->slotDescription, sizeof(info->slotDescription), uri->slot_description,
		      uri->slot_description_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_SLOT_MANUF) != 0 &&
	    !field_eq(info->manufacturerID, sizeof(info->manufacturerID), uri->slot_manufacturer,
		      uri->slot_manufacturer_len)) {
		return 0;
	}
	return 1;
}

int
kms_p11uri_match_library(const struct kms_p11uri *uri, const CK_INFO *info)
{
	if ((uri->has & KMS_P11URI_LIB_MANUF) != 0 &&
	    !field_eq(info->manufacturerID, sizeof(info->manufacturerID), uri->lib_manufacturer,
		      uri->lib_manufacturer_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_LIB_DESC) != 0 &&
	    !field_eq(info->libraryDescription, sizeof(info->libraryDescription),
		      uri->lib_description, uri->lib_description_len)) {
		return 0;
	}
	if ((uri->has & KMS_P11URI_LIB_VERSION) != 0 &&
	    (info->libraryVersion.major != uri->lib_version.major ||
	     info->libraryVersion.minor != uri->lib_version.minor)) {
		return 0;
	}
	return 1;
}

int
kms_p11uri_object_template(struct kms_p11uri *uri, CK_ATTRIBUTE out[KMS_P11URI_MAX_TEMPLATE],
			   CK_ULONG *out_num)
{
	CK_ULONG n = 0;

	*out_num = 0;
	if ((uri->has & (KMS_P11URI_OBJECT | KMS_P11URI_ID)) == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((uri->has & KMS_P11URI_OBJECT) != 0) {
		out[n].type = CKA_LABEL;
		out[n].pValue = uri->object;
		out[n].ulValueLen = uri->object_len;
		n++;
	}
	if ((uri->has & KMS_P11URI_ID) != 0) {
		out[n].type = CKA_ID;
		out[n].pValue = uri->id;
		out[n].ulValueLen = uri->id_len;
		n++;
	}
	if ((uri->has & KMS_P11URI_TYPE) != 0) {
		out[n].type = CKA_CLASS;
		out[n].pValue = &uri->type;
		out[n].ulValueLen = sizeof(uri->type);
		n++;
	}
	*out_num = n;
	return KMS_OK;
}

int
kms_p11uri_for_token(char *out, size_t cap, const char *label)
{
	static const char hexd[] = "0123456789ABCDEF";
	static const char prefix[] = "pkcs11:token=";
	size_t n = sizeof(prefix) - 1, i, len;

	if (out == NULL || label == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	len = strlen(label);
	if (len == 0 || len > KMS_P11URI_MAX_TOKEN) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cap < n + 3 * len + 1) {
		return KMS_ERR_TOO_LARGE;
	}
	memcpy(out, prefix, n);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hexd[c >> 4];
			out[n++] = hexd[c & 15];
		}
	}
	out[n] = '\0';
	return KMS_OK;
}
