/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/share.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cbs.h"
#include "common/ct.h"
#include "common/hex.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * The share text (docs/backup-shares.md). y is 256 bits: 52 Crockford base32 characters (the
 * last one holds 1 bit and 4 zero bits), 13 groups of 4, printed 4 groups a line on data lines
 * 1..4 (4, 4, 4 and 1 groups). Each data line ends with 2 check characters: the line number
 * and the line's characters, followed by the 2 checks, form a Reed-Solomon code word over
 * GF(32) with roots alpha and alpha^2 (distance 3): one or two wrong characters on a line are
 * always detected, and a single one is located (which group, or "this is data line K").
 *
 * The share characters are secret: they are decoded, checked and encoded with masks and
 * arithmetic only (no table indexed by them, no branch on their values). Whether a character
 * is valid, and the syndromes of a line, depend on the typing errors only, and may branch.
 */

#define HEADER        "KMS BACKUP SHARE 1"
#define HEADER_PREFIX "KMS BACKUP SHARE "
#define SUM_DOMAIN    "KMS-BACKUP-SHARE-1" /* SHA-256 domain separation of the check line */
#define DATA_LINES    4
#define LINE_MAX_DATA 16 /* share characters on a full data line */
#define GROUP_CHARS   4
#define Y_CHARS       52 /* ceil(256 / 5) */
#define LINE_CHECK    2
#define SUM_CHARS     8 /* 40 bits */
#define SUM_OCTETS    5
#define GF32_POLY     0x25u /* x^5 + x^2 + 1, primitive */
#define RS_LINE_MAX   (1 + LINE_MAX_DATA + LINE_CHECK)

/* The share characters of data line k (1-based). */
static unsigned int
line_data_chars(unsigned int k)
{
	return k < DATA_LINES ? LINE_MAX_DATA : Y_CHARS - (DATA_LINES - 1) * LINE_MAX_DATA;
}

/* 0 or all ones, hidden from the optimiser (common/ct.h). */
static unsigned int
mask_of(unsigned int bit)
{
	return (unsigned int)kms_ct_barrier_u64(0 - (uint64_t)(bit & 1u));
}

/* 1 if lo <= c <= hi (all three at most 0xff), else 0, without a branch. */
static unsigned int
in_range(unsigned int c, unsigned int lo, unsigned int hi)
{
	return ((((c - lo) | (hi - c)) >> 8) & 1u) ^ 1u;
}

/* b32_char - the Crockford base32 digit of v (0..31): 0-9 A-Z without I L O U. */
static char
b32_char(unsigned int v)
{
	unsigned int c = 0x30u + v;

	c += 7u & mask_of(in_range(v, 10, 31));
	c += mask_of(in_range(v, 18, 31)) & 1u; /* skip I */
	c += mask_of(in_range(v, 20, 31)) & 1u; /* skip L */
	c += mask_of(in_range(v, 22, 31)) & 1u; /* skip O */
	c += mask_of(in_range(v, 27, 31)) & 1u; /* skip U */
	return (char)c;
}

/*
 * b32_value - the value of base32 character ch, either case, with O read as 0 and I, L as 1;
 * *valid is 1 if ch is one, else 0 (and the value 0).
 */
static unsigned int
b32_value(unsigned char ch, unsigned int *valid)
{
	unsigned int c = ch;
	unsigned int v = 0, ok = 0, m;

	c -= 0x20u & mask_of(in_range(c, 'a', 'z'));
	m = mask_of(in_range(c, '0', '9'));
	v |= m & (c - 0x30u);
	ok |= m;
	m = mask_of(in_range(c, 'O', 'O'));
	ok |= m;
	m = mask_of(in_range(c, 'I', 'I') | in_range(c, 'L', 'L'));
	v |= m & 1u;
	ok |= m;
	m = mask_of(in_range(c, 'A', 'H'));
	v |= m & (c - 55u);
	ok |= m;
	m = mask_of(in_range(c, 'J', 'K'));
	v |= m & (c - 56u);
	ok |= m;
	m = mask_of(in_range(c, 'M', 'N'));
	v |= m & (c - 57u);
	ok |= m;
	m = mask_of(in_range(c, 'P', 'T'));
	v |= m & (c - 58u);
	ok |= m;
	m = mask_of(in_range(c, 'V', 'Z'));
	v |= m & (c - 59u);
	ok |= m;
	*valid = ok & 1u;
	return v & 0x1fu;
}

/* b32_from_bytes - num_sym 5-bit symbols of in (in_len octets, big-endian bits, 0-padded). */
static void
b32_from_bytes(uint8_t *sym, size_t num_sym, const uint8_t *in, size_t in_len)
{
	size_t s, bit, b;
	unsigned int w;

	for (s = 0; s < num_sym; s++) {
		bit = 5 * s;
		b = bit / 8;
		w = (unsigned int)in[b] << 8;
		if (b + 1 < in_len) {
			w |= in[b + 1];
		}
		sym[s] = (uint8_t)((w >> (11 - bit % 8)) & 0x1fu);
	}
}

/* b32_to_bytes - the inverse: out_len octets from num_sym symbols; extra low bits dropped. */
static void
b32_to_bytes(uint8_t *out, size_t out_len, const uint8_t *sym, size_t num_sym)
{
	size_t s, bit, b;
	unsigned int w;

	memset(out, 0, out_len);
	for (s = 0; s < num_sym; s++) {
		bit = 5 * s;
		b = bit / 8;
		w = (unsigned int)(sym[s] & 0x1fu) << (11 - bit % 8);
		out[b] = (uint8_t)(out[b] | (w >> 8));
		if (b + 1 < out_len) {
			out[b + 1] = (uint8_t)(out[b + 1] | (w & 0xffu));
		}
	}
}

/* gf32_mul - a * b in GF(32) modulo x^5 + x^2 + 1, shift-and-add with masks. */
static unsigned int
gf32_mul(unsigned int a, unsigned int b)
{
	unsigned int acc = 0;
	unsigned int i;

	for (i = 0; i < 5; i++) {
		acc ^= a & mask_of(b >> i);
		a = ((a << 1) ^ (GF32_POLY & mask_of(a >> 4))) & 0x1fu;
	}
	return acc;
}

/* gf32_inv - a^30 (0 for 0). Only for syndromes, which are public. */
static unsigned int
gf32_inv(unsigned int a)
{
	unsigned int r = 1;
	unsigned int i;

	for (i = 0; i < 30; i++) {
		r = gf32_mul(r, a);
	}
	return r;
}

/*
 * rs_check - the 2 check symbols of the message sym[0..num): the remainder of
 * m(x) * x^2 modulo g(x) = (x + a)(x + a^2) = x^2 + 6x + 8 (a = x = 2), sym[0] the highest term.
 */
static void
rs_check(const uint8_t *sym, size_t num, uint8_t check[LINE_CHECK])
{
	unsigned int r1 = 0, r0 = 0, fb;
	size_t i;

	for (i = 0; i < num; i++) {
		fb = sym[i] ^ r1;
		r1 = r0 ^ gf32_mul(fb, 6);
		r0 = gf32_mul(fb, 8);
	}
	check[0] = (uint8_t)r1;
	check[1] = (uint8_t)r0;
}

/* rs_syndromes - the received word sym[0..num) at a and a^2 (both 0 for a code word). */
static void
rs_syndromes(const uint8_t *sym, size_t num, unsigned int *s1, unsigned int *s2)
{
	unsigned int a = 0, b = 0;
	size_t i;

	for (i = 0; i < num; i++) {
		a = gf32_mul(a, 2) ^ sym[i];
		b = gf32_mul(b, 4) ^ sym[i];
	}
	*s1 = a;
	*s2 = b;
}

/* Field checks shared by format and parse. */

static int
ceremony_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/*
 * utf8_label_check - 0 if s[0..len) is UTF-8 (shortest form, no surrogates, at most U+10FFFF)
 * without control characters (C0, DEL, C1); else 1 and *at the offset of the first bad octet,
 * *is_control 1 if it is a control character.
 */
static int
utf8_label_check(const uint8_t *s, size_t len, size_t *at, int *is_control)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	*is_control = 0;
	while (i < len) {
		*at = i;
		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f) {
				*is_control = 1;
				return 1;
			}
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 1;
			cp = s[i] & 0x1fu;
			min = 0x80;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 2;
			cp = s[i] & 0x0fu;
			min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3;
			cp = s[i] & 0x07u;
			min = 0x10000;
		} else {
			return 1;
		}
		if (n > len - i - 1) {
			return 1;
		}
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0u) != 0x80u) {
				return 1;
			}
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return 1;
		}
		if (cp >= 0x80 && cp <= 0x9f) {
			*is_control = 1;
			return 1;
		}
		i += n + 1;
	}
	return 0;
}

/* share_fields_ok - the public fields of sh are in range (format's precondition). */
static int
share_fields_ok(const struct kms_share *sh)
{
	size_t cl = strnlen(sh->ceremony, sizeof(sh->ceremony));
	size_t ll = strnlen(sh->label, sizeof(sh->label));
	size_t i, at;
	int ctl;

	if (cl < 1 || cl > KMS_SHARE_MAX_CEREMONY || ll < 1 || ll > KMS_SHARE_MAX_LABEL) {
		return 0;
	}
	for (i = 0; i < cl; i++) {
		if (!ceremony_char_ok((unsigned char)sh->ceremony[i])) {
			return 0;
		}
	}
	if (utf8_label_check((const uint8_t *)sh->label, ll, &at, &ctl) != 0 ||
	    sh->label[0] == ' ' || sh->label[ll - 1] == ' ') {
		return 0;
	}
	return sh->m >= 2 && sh->m <= sh->n && sh->n <= 255 && sh->x >= 1 && sh->x <= sh->n;
}

/*
 * share_sum - the check line's 40 bits: SHA-256 of SUM_DOMAIN || u8 len(ceremony) || ceremony
 * || backup_id || u8 len(label) || label || u8 x || u8 m || u8 n || y, first 5 octets.
 */
static int
share_sum(const struct kms_share *sh, uint8_t sum[SUM_OCTETS])
{
	uint8_t buf[sizeof(SUM_DOMAIN) - 1 + 1 + KMS_SHARE_MAX_CEREMONY + 8 + 1 +
		    KMS_SHARE_MAX_LABEL + 3 + KMS_SHARE_Y_LEN];
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t cl = strnlen(sh->ceremony, KMS_SHARE_MAX_CEREMONY);
	size_t ll = strnlen(sh->label, KMS_SHARE_MAX_LABEL);
	size_t o = 0;
	unsigned int md_len = 0;
	int r = KMS_ERR_INTERNAL;

	memcpy(buf + o, SUM_DOMAIN, sizeof(SUM_DOMAIN) - 1);
	o += sizeof(SUM_DOMAIN) - 1;
	buf[o++] = (uint8_t)cl;
	memcpy(buf + o, sh->ceremony, cl);
	o += cl;
	memcpy(buf + o, sh->backup_id, sizeof(sh->backup_id));
	o += sizeof(sh->backup_id);
	buf[o++] = (uint8_t)ll;
	memcpy(buf + o, sh->label, ll);
	o += ll;
	buf[o++] = (uint8_t)sh->x;
	buf[o++] = (uint8_t)sh->m;
	buf[o++] = (uint8_t)sh->n;
	memcpy(buf + o, sh->y, KMS_SHARE_Y_LEN);
	o += KMS_SHARE_Y_LEN;
	if (EVP_Digest(buf, o, md, &md_len, EVP_sha256(), NULL) != 1 || md_len < SUM_OCTETS) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	memcpy(sum, md, SUM_OCTETS);
	r = KMS_OK;
out:
	kms_memzero(buf, sizeof(buf));
	kms_memzero(md, sizeof(md));
	return r;
}

/* A bounded text builder: on overflow it sets over and stops writing. */
struct text {
	char *buf;
	size_t cap; /* with the NUL */
	size_t len;
	int over;
};

static void
put(struct text *t, const char *s, size_t n)
{
	if (t->over || n >= t->cap - t->len) {
		t->over = 1;
		return;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void
put_str(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* put_syms - symbols as base32, a space between groups of 4. */
static void
put_syms(struct text *t, const uint8_t *sym, size_t num)
{
	size_t i;
	char c;

	for (i = 0; i < num; i++) {
		if (i > 0 && i % GROUP_CHARS == 0) {
			put(t, " ", 1);
		}
		c = b32_char(sym[i]);
		put(t, &c, 1);
	}
	c = 0;
}

int
kms_share_format(const struct kms_share *sh, char *out, size_t cap, size_t *out_len)
{
	char buf[KMS_SHARE_MAX_TEXT + 1];
	char num[64];
	uint8_t ysym[Y_CHARS];
	uint8_t word[RS_LINE_MAX];
	uint8_t sum[SUM_OCTETS];
	uint8_t sumsym[SUM_CHARS];
	char hex[2 * 8 + 1];
	struct text t = {buf, sizeof(buf), 0, 0};
	unsigned int k, nd;
	int r = KMS_ERR_INTERNAL;

	if (out_len != NULL) {
		*out_len = 0;
	}
	if (out != NULL && cap > 0) {
		out[0] = '\0';
	}
	if (sh == NULL || out == NULL || out_len == NULL || cap == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	buf[0] = '\0';
	if (!share_fields_ok(sh)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = share_sum(sh, sum)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_hex_encode(hex, sizeof(hex), sh->backup_id, sizeof(sh->backup_id))) !=
	    KMS_OK) {
		goto out;
	}
	b32_from_bytes(ysym, Y_CHARS, sh->y, KMS_SHARE_Y_LEN);
	b32_from_bytes(sumsym, SUM_CHARS, sum, SUM_OCTETS);

	put_str(&t, HEADER "\nceremony: ");
	put_str(&t, sh->ceremony);
	put_str(&t, "\nbackup: ");
	put_str(&t, hex);
	put_str(&t, "\ncustodian: ");
	put_str(&t, sh->label);
	(void)snprintf(num, sizeof(num), "\nshare %u of %u, any %u restore\n", sh->x, sh->n, sh->m);
	put_str(&t, num);
	for (k = 1; k <= DATA_LINES; k++) {
		nd = line_data_chars(k);
		word[0] = (uint8_t)k;
		memcpy(word + 1, ysym + (k - 1) * LINE_MAX_DATA, nd);
		rs_check(word, 1 + (size_t)nd, word + 1 + nd);
		(void)snprintf(num, sizeof(num), "%u: ", k);
		put_str(&t, num);
		put_syms(&t, word + 1, nd);
		put(&t, "  ", 2);
		put_syms(&t, word + 1 + nd, LINE_CHECK);
		put(&t, "\n", 1);
	}
	put_str(&t, "check: ");
	put_syms(&t, sumsym, SUM_CHARS);
	put(&t, "\n", 1);
	if (t.over) {
		r = KMS_ERR_INTERNAL; /* the fields' limits keep the text far below the cap */
		goto out;
	}
	if (t.len >= cap) {
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(out, buf, t.len + 1);
	*out_len = t.len;
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		kms_memzero(out, cap);
	}
	kms_memzero(buf, sizeof(buf));
	kms_memzero(ysym, sizeof(ysym));
	kms_memzero(word, sizeof(word));
	kms_memzero(sum, sizeof(sum));
	kms_memzero(sumsym, sizeof(sumsym));
	return r;
}

/* Parsing. */

enum field {
	F_CEREMONY,
	F_BACKUP,
	F_CUSTODIAN,
	F_SHARE,
	F_DATA1, /* .. F_DATA1 + DATA_LINES - 1 */
	F_CHECK = F_DATA1 + DATA_LINES,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"'ceremony:'", "'backup:'", "'custodian:'", "'share X of N, any M restore'", "'1:'", "'2:'",
	"'3:'",        "'4:'",      "'check:'",
};

struct parser {
	char *err; /* borrowed */
	size_t err_len;
	size_t line_no;            /* the current line, 1-based */
	size_t lines[F_COUNT];     /* where each field was, 0 if not seen */
	struct kms_share sh;       /* the result, secret */
	uint8_t ysym[Y_CHARS];     /* secret */
	uint8_t sumsym[SUM_CHARS]; /* the check line's symbols */
	uint8_t word[RS_LINE_MAX]; /* a data line being checked, secret */
};

__attribute__((format(printf, 3, 4))) static int
fail(struct parser *p, int r, const char *fmt, ...)
{
	va_list ap;

	if (p->err_len > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(p->err, p->err_len, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* describe - a safe description of an unexpected byte: "'U'" or "byte 0xC3". */
static void
describe(char *out, size_t cap, unsigned char c)
{
	if (c > 0x20 && c < 0x7f && c != '\'') {
		(void)snprintf(out, cap, "'%c'", c);
	} else {
		(void)snprintf(out, cap, "byte 0x%02X", (unsigned int)c);
	}
}

static int
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static void
trim(struct kms_cbs *v)
{
	while (v->len > 0 && is_blank(v->data[0])) {
		v->data++;
		v->len--;
	}
	while (v->len > 0 && is_blank(v->data[v->len - 1])) {
		v->len--;
	}
}

static uint8_t
ascii_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 0x20) : c;
}

/* next_line - the next line of text (without LF, and without a CR before the LF); 0 at end. */
static int
next_line(struct kms_cbs *text, struct kms_cbs *line)
{
	size_t i = 0;
	int r;

	if (kms_cbs_len(text) == 0) {
		return 0;
	}
	while (i < text->len && text->data[i] != '\n') {
		i++;
	}
	if ((r = kms_cbs_get_bytes(text, line, i)) != KMS_OK) {
		return 0;
	}
	if (kms_cbs_len(text) > 0 && kms_cbs_skip(text, 1) != KMS_OK) {
		return 0;
	}
	if (line->len > 0 && line->data[line->len - 1] == '\r') {
		line->len--;
	}
	return 1;
}

/* starts_ci - v begins with the ASCII word w (either case); if so, v moves past it. */
static int
take_word(struct kms_cbs *v, const char *w)
{
	size_t n = strlen(w), i;

	if (v->len < n) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (ascii_upper(v->data[i]) != ascii_upper((uint8_t)w[i])) {
			return 0;
		}
	}
	return kms_cbs_skip(v, n) == KMS_OK;
}

/* skip_blanks - skip blanks; 1 if there was at least one. */
static int
skip_blanks(struct kms_cbs *v)
{
	int any = 0;

	while (v->len > 0 && is_blank(v->data[0])) {
		if (kms_cbs_skip(v, 1) != KMS_OK) {
			break;
		}
		any = 1;
	}
	return any;
}

/* take_num - 1 to 3 decimal digits; 0 if there are none or more. */
static int
take_num(struct kms_cbs *v, unsigned int *out)
{
	unsigned int n = 0;
	size_t i = 0;

	while (i < v->len && v->data[i] >= '0' && v->data[i] <= '9') {
		if (i == 3) {
			return 0;
		}
		n = n * 10 + (unsigned int)(v->data[i] - '0');
		i++;
	}
	if (i == 0 || kms_cbs_skip(v, i) != KMS_OK) {
		return 0;
	}
	*out = n;
	return 1;
}

/* The header line, words separated by any blanks, either case. */
static int
parse_header(struct parser *p, struct kms_cbs v)
{
	static const char *const words[] = {"KMS", "BACKUP", "SHARE"};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!take_word(&v, words[i]) || !skip_blanks(&v)) {
			return fail(
				p, KMS_ERR_PARSE,
				"line %zu: not a backup share (it must start with the line '" HEADER
				"')",
				p->line_no);
		}
	}
	if (!take_word(&v, "1") || kms_cbs_len(&v) != 0) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: a share of another format version (this program reads "
			    "'" HEADER "')",
			    p->line_no);
	}
	return KMS_OK;
}

static int
parse_ceremony(struct parser *p, struct kms_cbs v)
{
	char what[16];
	size_t i;

	if (v.len == 0) {
		return fail(p, KMS_ERR_PARSE, "line %zu: the ceremony id is empty", p->line_no);
	}
	if (v.len > KMS_SHARE_MAX_CEREMONY) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: the ceremony id is longer than %d characters", p->line_no,
			    KMS_SHARE_MAX_CEREMONY);
	}
	for (i = 0; i < v.len; i++) {
		if (!ceremony_char_ok(v.data[i])) {
			describe(what, sizeof(what), v.data[i]);
			return fail(p, KMS_ERR_PARSE,
				    "line %zu: the ceremony id holds %s (character %zu): only "
				    "letters, digits, '.', '_' and '-' are allowed",
				    p->line_no, what, i + 1);
		}
	}
	memcpy(p->sh.ceremony, v.data, v.len);
	p->sh.ceremony[v.len] = '\0';
	return KMS_OK;
}

static int
parse_backup(struct parser *p, struct kms_cbs v)
{
	char hex[16];
	char what[16];
	size_t i, n = 0;
	unsigned char c;

	for (i = 0; i < v.len; i++) {
		c = v.data[i];
		if (is_blank(c) || c == '-') {
			continue;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			describe(what, sizeof(what), c);
			return fail(p, KMS_ERR_PARSE, "line %zu: backup id: %s is not a hex digit",
				    p->line_no, what);
		}
		if (n == sizeof(hex)) {
			return fail(p, KMS_ERR_PARSE,
				    "line %zu: the backup id has more than 16 hex digits",
				    p->line_no);
		}
		hex[n++] = (char)c;
	}
	if (n != sizeof(hex)) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: the backup id has %zu hex digits, it needs 16", p->line_no,
			    n);
	}
	if (kms_hex_decode(p->sh.backup_id, sizeof(p->sh.backup_id), hex, n) != KMS_OK) {
		return fail(p, KMS_ERR_PARSE, "line %zu: the backup id is not hex", p->line_no);
	}
	return KMS_OK;
}

static int
parse_custodian(struct parser *p, struct kms_cbs v)
{
	size_t at = 0;
	int ctl = 0;

	if (v.len == 0) {
		return fail(p, KMS_ERR_PARSE, "line %zu: the custodian label is empty", p->line_no);
	}
	if (v.len > KMS_SHARE_MAX_LABEL) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: the custodian label is longer than %d octets", p->line_no,
			    KMS_SHARE_MAX_LABEL);
	}
	if (utf8_label_check(v.data, v.len, &at, &ctl) != 0) {
		return fail(p, KMS_ERR_PARSE, "line %zu: the custodian label %s at octet %zu",
			    p->line_no, ctl ? "holds a control character" : "is not valid UTF-8",
			    at + 1);
	}
	memcpy(p->sh.label, v.data, v.len);
	p->sh.label[v.len] = '\0';
	return KMS_OK;
}

/* "share X of N, any M restore": blanks between words, around the comma, either case. */
static int
parse_share_line(struct parser *p, struct kms_cbs v)
{
	unsigned int x = 0, n = 0, m = 0;

	if (!take_word(&v, "share") || !skip_blanks(&v) || !take_num(&v, &x) || !skip_blanks(&v) ||
	    !take_word(&v, "of") || !skip_blanks(&v) || !take_num(&v, &n)) {
		goto syntax;
	}
	(void)skip_blanks(&v);
	if (!take_word(&v, ",")) {
		goto syntax;
	}
	(void)skip_blanks(&v);
	if (!take_word(&v, "any") || !skip_blanks(&v) || !take_num(&v, &m) || !skip_blanks(&v) ||
	    !take_word(&v, "restore") || kms_cbs_len(&v) != 0) {
		goto syntax;
	}
	if (n < 2 || n > 255) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: %u shares: the number of shares must be 2 to 255",
			    p->line_no, n);
	}
	if (m < 2 || m > n) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: any %u restore: the number of shares needed must be 2 to %u",
			    p->line_no, m, n);
	}
	if (x < 1 || x > n) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu: share %u of %u: the share number must be 1 to %u",
			    p->line_no, x, n, n);
	}
	p->sh.x = x;
	p->sh.m = m;
	p->sh.n = n;
	return KMS_OK;
syntax:
	return fail(p, KMS_ERR_PARSE,
		    "line %zu: expected 'share X of N, any M restore' (numbers 1 to 255)",
		    p->line_no);
}

/*
 * get_syms - the base32 characters of v into sym (cap), blanks and '-' skipped; *num_out the
 * count (which may exceed cap: the rest is not stored). On an invalid character: 1, with the
 * character in *bad and its index among the characters in *bad_at. Validity is public; the
 * values are not and are decoded without branches.
 */
static int
get_syms(struct kms_cbs v, uint8_t *sym, size_t cap, size_t *num_out, unsigned char *bad,
	 size_t *bad_at)
{
	unsigned int val, valid;
	size_t i, n = 0;

	for (i = 0; i < v.len; i++) {
		if (is_blank(v.data[i]) || v.data[i] == '-') {
			continue;
		}
		val = b32_value(v.data[i], &valid);
		if (!valid) {
			*bad = v.data[i];
			*bad_at = n;
			*num_out = n;
			return 1;
		}
		if (n < cap) {
			sym[n] = (uint8_t)val;
		}
		n++;
	}
	val = 0;
	*num_out = n;
	return 0;
}

/* The location hint of a data line's failed check, from its syndromes (public). */
static void
locate(unsigned int k, unsigned int nd, unsigned int s1, unsigned int s2, char *hint, size_t cap)
{
	unsigned int total = 1 + nd + LINE_CHECK;
	unsigned int beta, pw = 1, j, i, e, other;

	hint[0] = '\0';
	if (s1 == 0 || s2 == 0) {
		(void)snprintf(hint, cap, ": more than one character of this line is mistyped");
		return;
	}
	/* A single error e at the term of degree j gives s1 = e a^j, s2 = e a^2j. */
	beta = gf32_mul(s2, gf32_inv(s1));
	for (j = 0; j < 31 && pw != beta; j++) {
		pw = gf32_mul(pw, 2);
	}
	if (j >= total) {
		(void)snprintf(hint, cap, ": more than one character of this line is mistyped");
		return;
	}
	i = total - 1 - j; /* index in the word: 0 the line number, then data, then check */
	if (i == 0) {
		e = gf32_mul(s1, gf32_inv(pw));
		other = k ^ e;
		if (other >= 1 && other <= DATA_LINES && line_data_chars(other) == nd) {
			(void)snprintf(hint, cap,
				       ": these look like the characters of data line %u (typed "
				       "on the wrong line?)",
				       other);
		} else {
			(void)snprintf(hint, cap, ": more than one character is mistyped");
		}
	} else if (i <= nd) {
		(void)snprintf(hint, cap,
			       ": a character of this line is mistyped (probably in group %u)",
			       (i - 1) / GROUP_CHARS + 1);
	} else {
		(void)snprintf(hint, cap,
			       ": a character of this line is mistyped (probably one of the 2 "
			       "check characters)");
	}
}

static int
parse_data(struct parser *p, unsigned int k, struct kms_cbs v)
{
	unsigned int nd = line_data_chars(k);
	unsigned int s1 = 0, s2 = 0, zero;
	unsigned char bad = 0;
	size_t num = 0, bad_at = 0;
	char what[16];
	char hint[96];

	p->word[0] = (uint8_t)k;
	if (get_syms(v, p->word + 1, (size_t)nd + LINE_CHECK, &num, &bad, &bad_at) != 0) {
		describe(what, sizeof(what), bad);
		if (bad_at < nd) {
			return fail(
				p, KMS_ERR_PARSE,
				"line %zu (data line %u), group %zu: %s is not a share character",
				p->line_no, k, bad_at / GROUP_CHARS + 1, what);
		}
		return fail(p, KMS_ERR_PARSE,
			    "line %zu (data line %u), check characters: %s is not a share "
			    "character",
			    p->line_no, k, what);
	}
	if (num != (size_t)nd + LINE_CHECK) {
		return fail(p, KMS_ERR_PARSE,
			    "line %zu (data line %u): %zu characters, expected %u (%u share "
			    "characters and 2 check characters): a character is %s",
			    p->line_no, k, num, nd + LINE_CHECK, nd,
			    num < (size_t)nd + LINE_CHECK ? "missing" : "extra");
	}
	rs_syndromes(p->word, 1 + (size_t)nd + LINE_CHECK, &s1, &s2);
	zero = (s1 | s2) == 0;
	KMS_CT_DECLASSIFY(&zero, sizeof(zero));
	if (!zero) {
		locate(k, nd, s1, s2, hint, sizeof(hint));
		return fail(p, KMS_ERR_AUTH,
			    "line %zu (data line %u): check characters do not match%s", p->line_no,
			    k, hint);
	}
	memcpy(p->ysym + (k - 1) * LINE_MAX_DATA, p->word + 1, nd);
	return KMS_OK;
}

static int
parse_check(struct parser *p, struct kms_cbs v)
{
	unsigned char bad = 0;
	size_t num = 0, bad_at = 0;
	char what[16];

	if (get_syms(v, p->sumsym, SUM_CHARS, &num, &bad, &bad_at) != 0) {
		describe(what, sizeof(what), bad);
		return fail(p, KMS_ERR_PARSE, "line %zu, group %zu: %s is not a share character",
			    p->line_no, bad_at / GROUP_CHARS + 1, what);
	}
	if (num != SUM_CHARS) {
		return fail(
			p, KMS_ERR_PARSE,
			"line %zu: the check has %zu characters, expected %d: a character is %s",
			p->line_no, num, SUM_CHARS, num < SUM_CHARS ? "missing" : "extra");
	}
	return KMS_OK;
}

/* classify - which field line v is (moving v to its value), or -1. */
static int
classify(struct kms_cbs *v, unsigned int *k)
{
	static const char *const keys[] = {"ceremony", "backup", "custodian", "check"};
	static const enum field fields[] = {F_CEREMONY, F_BACKUP, F_CUSTODIAN, F_CHECK};
	struct kms_cbs key;
	size_t colon = 0, i;

	*k = 0;
	{
		struct kms_cbs probe = *v;

		if (take_word(&probe, "share") &&
		    (probe.len == 0 || is_blank(probe.data[0]) || probe.data[0] == ':')) {
			return F_SHARE;
		}
	}
	while (colon < v->len && v->data[colon] != ':') {
		colon++;
	}
	if (colon == v->len) {
		return -1;
	}
	kms_cbs_init(&key, v->data, colon);
	trim(&key);
	kms_cbs_init(v, v->data + colon + 1, v->len - colon - 1);
	trim(v);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct kms_cbs kk = key;

		if (kk.len == strlen(keys[i]) && take_word(&kk, keys[i])) {
			return (int)fields[i];
		}
	}
	if (key.len >= 1 && key.len <= 3) {
		unsigned int n = 0;
		struct kms_cbs kk = key;

		if (take_num(&kk, &n) && kms_cbs_len(&kk) == 0) {
			*k = n;
			return F_DATA1; /* the caller checks k */
		}
	}
	return -1;
}

/* control - the first control character of line v (C0 but tab, DEL), or -1. */
static int
control(struct kms_cbs v)
{
	size_t i;

	for (i = 0; i < v.len; i++) {
		if ((v.data[i] < 0x20 && v.data[i] != '\t') || v.data[i] == 0x7f) {
			return v.data[i];
		}
	}
	return -1;
}

static int
parse_line(struct parser *p, struct kms_cbs v, int *seen_header)
{
	unsigned int k = 0;
	int f, c;
	int r;

	if ((c = control(v)) >= 0) {
		return fail(p, KMS_ERR_PARSE, "line %zu: a control character (byte 0x%02X)",
			    p->line_no, (unsigned int)c);
	}
	trim(&v);
	if (v.len == 0) {
		return KMS_OK;
	}
	if (!*seen_header) {
		*seen_header = 1;
		return parse_header(p, v);
	}
	if ((f = classify(&v, &k)) < 0) {
		return fail(
			p, KMS_ERR_PARSE,
			"line %zu: not a line of a share (the lines are '" HEADER
			"', 'ceremony:', 'backup:', 'custodian:', 'share X of N, any M restore', "
			"data lines '1:' to '4:' and 'check:')",
			p->line_no);
	}
	if (f == F_DATA1) {
		if (k < 1 || k > DATA_LINES) {
			return fail(p, KMS_ERR_PARSE,
				    "line %zu: there is no data line %u (data lines are 1 to %d)",
				    p->line_no, k, DATA_LINES);
		}
		f = F_DATA1 + (int)k - 1;
	}
	if (p->lines[f] != 0) {
		return fail(p, KMS_ERR_PARSE, "line %zu: a second %s line (the first is line %zu)",
			    p->line_no, field_names[f], p->lines[f]);
	}
	p->lines[f] = p->line_no;
	switch (f) {
	case F_CEREMONY:
		r = parse_ceremony(p, v);
		break;
	case F_BACKUP:
		r = parse_backup(p, v);
		break;
	case F_CUSTODIAN:
		r = parse_custodian(p, v);
		break;
	case F_SHARE:
		r = parse_share_line(p, v);
		break;
	case F_CHECK:
		r = parse_check(p, v);
		break;
	default:
		r = parse_data(p, k, v);
		break;
	}
	return r;
}

/* finish - every line there; y from its characters; the check line over every field. */
static int
finish(struct parser *p)
{
	uint8_t sum[SUM_OCTETS];
	uint8_t want[SUM_CHARS];
	unsigned int pad, eq;
	size_t f;
	int r = KMS_ERR_INTERNAL;

	for (f = 0; f < F_COUNT; f++) {
		if (p->lines[f] == 0) {
			r = fail(p, KMS_ERR_PARSE, "the share has no %s line", field_names[f]);
			goto out;
		}
	}
	/* The last character carries 1 bit of y and 4 zero bits. */
	pad = p->ysym[Y_CHARS - 1] & 0x0fu;
	KMS_CT_DECLASSIFY(&pad, sizeof(pad));
	if (pad != 0) {
		r = fail(p, KMS_ERR_PARSE,
			 "line %zu (data line %d): the last share character cannot end a share "
			 "(only 0 and G can): it is mistyped",
			 p->lines[F_DATA1 + DATA_LINES - 1], DATA_LINES);
		goto out;
	}
	b32_to_bytes(p->sh.y, KMS_SHARE_Y_LEN, p->ysym, Y_CHARS);
	if ((r = share_sum(&p->sh, sum)) != KMS_OK) {
		(void)fail(p, r, "cannot compute the share's check (SHA-256)");
		goto out;
	}
	b32_from_bytes(want, SUM_CHARS, sum, SUM_OCTETS);
	eq = (unsigned int)kms_ct_memeq(want, p->sumsym, SUM_CHARS);
	KMS_CT_DECLASSIFY(&eq, sizeof(eq));
	if (!eq) {
		r = fail(p, KMS_ERR_AUTH,
			 "line %zu: the share's check does not match: the ceremony id (line %zu), "
			 "backup id (line %zu), custodian label (line %zu) or share numbers (line "
			 "%zu) were changed or mistyped, or the check itself",
			 p->lines[F_CHECK], p->lines[F_CEREMONY], p->lines[F_BACKUP],
			 p->lines[F_CUSTODIAN], p->lines[F_SHARE]);
		goto out;
	}
	r = KMS_OK;
out:
	kms_memzero(sum, sizeof(sum));
	kms_memzero(want, sizeof(want));
	return r;
}

int
kms_share_parse(const char *text, size_t len, struct kms_share *out, char *err, size_t err_len)
{
	struct parser p;
	struct kms_cbs cbs, line;
	int seen_header = 0;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		kms_memzero(out, sizeof(*out));
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || (text == NULL && len > 0) || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&p, 0, sizeof(p));
	p.err = err;
	p.err_len = err_len;
	if (len > KMS_SHARE_MAX_TEXT) {
		r = fail(&p, KMS_ERR_PARSE, "the share text is longer than %d octets",
			 KMS_SHARE_MAX_TEXT);
		goto out;
	}
	kms_cbs_init(&cbs, (const uint8_t *)text, len);
	/* A byte order mark that an editor may have put first. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 && kms_cbs_skip(&cbs, 3) != KMS_OK) {
		goto out;
	}
	while (next_line(&cbs, &line)) {
		p.line_no++;
		if ((r = parse_line(&p, line, &seen_header)) != KMS_OK) {
			goto out;
		}
	}
	if (!seen_header) {
		r = fail(&p, KMS_ERR_PARSE, "the share is empty (no '" HEADER "' line)");
		goto out;
	}
	if ((r = finish(&p)) != KMS_OK) {
		goto out;
	}
	*out = p.sh;
	if (err_len > 0) {
		err[0] = '\0';
	}
	r = KMS_OK;
out:
	kms_memzero(&p, sizeof(p));
	return r;
}
