/* SPDX-License-Identifier: Apache-2.0 */
#include "common/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cbs.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * Attacker model: whoever can write the file (an operator's mistake, a broken deployment
 * script, a hostile package) controls every byte of it, up to the size limit. The parser keeps
 * every length below its cap before it copies or allocates, never reads past a line, and does
 * linear work per byte (the edit distance runs once, on the first unknown key, over keys of
 * at most 64 bytes). Messages quote what they are about (bounded to ECHO_MAX bytes, cut on a
 * character boundary), except a secret key's value: nothing derived from it but the line
 * number is ever written, so a message can go to a log or a terminal as is. Everything the
 * messages quote has passed the byte checks first (no control characters, valid UTF-8), so a
 * message cannot carry a terminal escape or forge a log line.
 */

#define ECHO_MAX 64  /* bytes of a value or key quoted in a message */
#define LIST_MAX 320 /* bytes of a list of keys or words in a message */

/* One value of a key: the decoded text, and its typed form. */
struct value {
	char *text; /* owned, NUL-terminated, len bytes */
	size_t len;
	uint64_t num;      /* BOOL 0/1, U64, ENUM index, MODE */
	unsigned int line; /* 1-based; 0 for the default */
};

/* The values of one key of the table. */
struct slot {
	struct value *v; /* owned, num used of cap */
	size_t num;
	size_t cap;
};

struct kms_conf {
	const struct kms_conf_key *keys; /* borrowed */
	size_t num_keys;
	struct slot *slots; /* owned, one per key */
};

/* What a parse reports to, and about. */
struct parser {
	char *err; /* borrowed, err_len bytes */
	size_t err_len;
	const char *name; /* borrowed: the file's name in messages */
	const struct kms_conf_key *keys;
	size_t num_keys;
};

/* ---- messages ---- */

/* The length of the longest prefix of s[0..len) that ends on a UTF-8 character boundary. */
static size_t
utf8_cut(const char *s, size_t len)
{
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80) {
		len--;
	}
	return len;
}

int
kms_conf_verrf(char *err, size_t err_len, const char *name, unsigned int line, const char *fmt,
	       va_list ap)
{
	size_t off;
	int n;

	if (err == NULL || err_len == 0) {
		return KMS_ERR_PARSE;
	}
	if (line > 0) {
		n = snprintf(err, err_len, "%s:%u: ", name, line);
	} else {
		n = snprintf(err, err_len, "%s: ", name);
	}
	if (n < 0) {
		err[0] = '\0';
		return KMS_ERR_PARSE;
	}
	off = (size_t)n;
	if (off < err_len) {
		n = vsnprintf(err + off, err_len - off, fmt, ap);
		if (n < 0) {
			err[off] = '\0';
			return KMS_ERR_PARSE;
		}
		off += (size_t)n;
	}
	if (off >= err_len) {
		/* Cut: keep what fits of the message, then "..." (as much of it as fits). */
		size_t keep = err_len - 1;
		size_t dots = keep < 3 ? keep : 3;

		keep = utf8_cut(err, keep - dots);
		memcpy(err + keep, "...", dots);
		err[keep + dots] = '\0';
	}
	return KMS_ERR_PARSE;
}

int
kms_conf_errf(char *err, size_t err_len, const char *name, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)kms_conf_verrf(err, err_len, name, line, fmt, ap);
	va_end(ap);
	return KMS_ERR_PARSE;
}

static void fail(const struct parser *p, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* kms_conf_verrf into the parser's buffer. */
static void
fail(const struct parser *p, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)kms_conf_verrf(p->err, p->err_len, p->name, line, fmt, ap);
	va_end(ap);
}

/*
 * Quote s[0..len) for a message: "'s'", cut to ECHO_MAX bytes on a character boundary with
 * "..." after it. s must have passed check_bytes() (or be a table name). out has
 * ECHO_MAX + 8 bytes.
 */
#define QUOTE_LEN (ECHO_MAX + 8)
static void
quote(char out[static QUOTE_LEN], const char *s, size_t len)
{
	size_t n = len;
	const char *more = "";

	if (n > ECHO_MAX) {
		n = utf8_cut(s, ECHO_MAX);
		more = "...";
	}
	(void)snprintf(out, QUOTE_LEN, "'%.*s%s'", (int)n, s, more);
}

/* " (got 'value')" for an ordinary key; a fixed text for a secret one. */
#define GOT_LEN (QUOTE_LEN + 16)
static void
got(char out[static GOT_LEN], const struct kms_conf_key *k, const char *s, size_t len)
{
	char q[QUOTE_LEN];

	if ((k->flags & KMS_CONF_SECRET) != 0) {
		(void)snprintf(out, GOT_LEN, " (secret value not shown)");
		return;
	}
	quote(q, s, len);
	(void)snprintf(out, GOT_LEN, " (got %s)", q);
}

/*
 * Append the NULL-terminated names (or, with keys set, the num_keys keys' names) to out as
 * "a, b, c", stopping with ", ..." before LIST_MAX bytes.
 */
#define LIST_LEN (LIST_MAX + 8)
static void
list(char out[static LIST_LEN], const char *const *words, const struct kms_conf_key *keys,
     size_t num_keys)
{
	size_t off = 0, i, n;
	const char *w;

	out[0] = '\0';
	for (i = 0;; i++) {
		w = keys != NULL ? (i < num_keys ? keys[i].name : NULL) : words[i];
		if (w == NULL) {
			break;
		}
		n = strlen(w); /* a table name: at most KMS_CONF_MAX_KEY bytes, checked */
		if (off + 2 + n + 5 > LIST_MAX) {
			memcpy(out + off, ", ...", 6);
			return;
		}
		if (off > 0) {
			memcpy(out + off, ", ", 2);
			off += 2;
		}
		memcpy(out + off, w, n);
		off += n;
		out[off] = '\0';
	}
}

/* ---- bytes and lines ---- */

static int
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int
is_key_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int
valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > KMS_CONF_MAX_KEY) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (!is_key_char((uint8_t)s[i])) {
			return 0;
		}
	}
	return 1;
}

/*
 * The length of the valid UTF-8 sequence at s (n bytes available), or 0 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF).
 */
static size_t
utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t want, i;

	if (c < 0x80) {
		return 1;
	}
	if (c < 0xc2) {
		return 0;
	}
	if (c < 0xe0) {
		want = 2;
	} else if (c < 0xf0) {
		want = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c < 0xf5) {
		want = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (want > n || s[1] < lo || s[1] > hi) {
		return 0;
	}
	for (i = 2; i < want; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
	}
	return want;
}

/* The 1-based column, in characters, of byte pos of a line whose bytes before pos are UTF-8. */
static size_t
column(const uint8_t *s, size_t pos)
{
	size_t i, col = 1;

	for (i = 0; i < pos; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	return col;
}

/*
 * The byte rules that hold everywhere, comments included: no NUL, no "\r" (with its own
 * message at the end of a line), no other control character but tab, valid UTF-8 without C1
 * controls. what names the text in messages ("" for a line of the file). Messages give a
 * column, never the byte: the line may hold a secret.
 */
static int
check_bytes(const struct parser *p, unsigned int line, const uint8_t *s, size_t n, const char *what)
{
	size_t i = 0, k;

	while (i < n) {
		uint8_t c = s[i];

		if (c == '\0') {
			fail(p, line, "NUL byte%s at column %zu", what, column(s, i));
			return KMS_ERR_PARSE;
		}
		if (c == '\r' && i + 1 == n && what[0] == '\0') {
			fail(p, line,
			     "carriage return at the end of the line: the file has Windows (CRLF) "
			     "line endings, which are not accepted; convert it (dos2unix)");
			return KMS_ERR_PARSE;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(p, line, "control character%s at column %zu (only tab is allowed)",
			     what, column(s, i));
			return KMS_ERR_PARSE;
		}
		if ((k = utf8_len(s + i, n - i)) == 0) {
			fail(p, line, "invalid UTF-8%s at column %zu", what, column(s, i));
			return KMS_ERR_PARSE;
		}
		if (k == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
			fail(p, line, "control character%s at column %zu (only tab is allowed)",
			     what, column(s, i));
			return KMS_ERR_PARSE;
		}
		i += k;
	}
	return KMS_OK;
}

/* ---- values ---- */

/*
 * Decode the value text raw[0..raw_len) (trimmed, not empty, bytes checked) of key k into a
 * new NUL-terminated string *out of *out_len bytes. col0 is raw's column in the line, for
 * messages. A quoted value loses its quotes and escapes.
 */
static int
decode(const struct parser *p, unsigned int line, const struct kms_conf_key *k, const uint8_t *raw,
       size_t raw_len, size_t col0, char **out, size_t *out_len)
{
	char *s;
	size_t i, n = 0;
	int r = KMS_ERR_PARSE;

	*out = NULL;
	*out_len = 0;
	if ((s = malloc(raw_len + 1)) == NULL) {
		fail(p, 0, "out of memory");
		return KMS_ERR_NOMEM;
	}
	if (raw_len == 0 || raw[0] != '"') {
		memcpy(s, raw, raw_len);
		n = raw_len;
	} else {
		for (i = 1;; i++) {
			if (i >= raw_len) {
				fail(p, line,
				     "unterminated quoted value of '%s' (it must end with '\"' at "
				     "the end of the line)",
				     k->name);
				goto out;
			}
			if (raw[i] == '"') {
				break;
			}
			if (raw[i] == '\\') {
				if (i + 1 >= raw_len) {
					continue; /* the unterminated case above */
				}
				if (raw[i + 1] != '"' && raw[i + 1] != '\\') {
					fail(p, line,
					     "bad escape in the quoted value of '%s' at column %zu "
					     "(only \\\" and \\\\ are escapes)",
					     k->name, col0 + column(raw, i) - 1);
					goto out;
				}
				i++;
			}
			s[n++] = (char)raw[i];
		}
		if (i + 1 != raw_len) {
			fail(p, line, "text after the closing quote of '%s' at column %zu", k->name,
			     col0 + column(raw, i + 1) - 1);
			goto out;
		}
	}
	if (n > KMS_CONF_MAX_VALUE) {
		fail(p, line, "the value of '%s' is longer than %u bytes", k->name,
		     KMS_CONF_MAX_VALUE);
		goto out;
	}
	s[n] = '\0';
	*out = s;
	*out_len = n;
	s = NULL; /* transferred */
	r = KMS_OK;
out:
	if (s != NULL) {
		kms_memzero(s, raw_len + 1);
		free(s);
	}
	return r;
}

static int
all_digits(const char *s, size_t len, int hex)
{
	size_t i;

	if (len == 0) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') ||
		      (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))))) {
			return 0;
		}
	}
	return 1;
}

int
kms_conf_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || out == NULL || !all_digits(s, len, 0) || (len > 1 && s[0] == '0')) {
		return KMS_ERR_PARSE;
	}
	for (i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10) {
			return KMS_ERR_RANGE;
		}
		v = v * 10 + d;
	}
	if (v > max) {
		return KMS_ERR_RANGE;
	}
	*out = v;
	return KMS_OK;
}

_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "strtoull must give 64 bits");

/* strtoull on digits already checked to be a whole number of that base: only range fails. */
static int
to_u64(const char *s, size_t len, int base, uint64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	errno = 0;
	v = strtoull(s, &end, base);
	if (end != s + len) {
		return KMS_ERR_INTERNAL;
	}
	if (errno == ERANGE) {
		return KMS_ERR_RANGE;
	}
	*out = (uint64_t)v;
	return KMS_OK;
}

static int
convert_u64(const struct parser *p, unsigned int line, const struct kms_conf_key *k,
	    struct value *v)
{
	const char *s = v->text;
	size_t len = v->len;
	int hex = (k->flags & KMS_CONF_HEX) != 0;
	char g[GOT_LEN];
	uint64_t num = 0;
	int r;

	got(g, k, s, len);
	if (len > 2 && s[0] == '0' && s[1] == 'x' && hex) {
		if (!all_digits(s + 2, len - 2, 1)) {
			fail(p, line, "'%s' must be a decimal or 0x hexadecimal number%s", k->name,
			     g);
			return KMS_ERR_PARSE;
		}
		r = to_u64(s + 2, len - 2, 16, &num);
	} else if (!all_digits(s, len, 0)) {
		if (hex) {
			fail(p, line, "'%s' must be a decimal or 0x hexadecimal number%s", k->name,
			     g);
		} else if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			fail(p, line, "'%s' must be a decimal number, not hexadecimal%s", k->name,
			     g);
		} else {
			fail(p, line, "'%s' must be a decimal number%s", k->name, g);
		}
		return KMS_ERR_PARSE;
	} else if (len > 1 && s[0] == '0') {
		fail(p, line, "'%s' must be a decimal number without leading zeros%s", k->name, g);
		return KMS_ERR_PARSE;
	} else {
		r = kms_conf_decimal(s, len, UINT64_MAX, &num);
	}
	if (r == KMS_ERR_INTERNAL) {
		fail(p, line, "'%s': internal error converting the number", k->name);
		return r;
	}
	if (r != KMS_OK || num < k->min || num > k->max) {
		fail(p, line, "'%s' must be between %llu and %llu%s", k->name,
		     (unsigned long long)k->min, (unsigned long long)k->max, g);
		return KMS_ERR_PARSE;
	}
	v->num = num;
	return KMS_OK;
}

/* Check the decoded value v of key k against its type, and fill v->num. */
static int
convert(const struct parser *p, unsigned int line, const struct kms_conf_key *k, struct value *v)
{
	static const char *const yes[] = {"yes", "true", "on"};
	static const char *const no[] = {"no", "false", "off"};
	char g[GOT_LEN], l[LIST_LEN];
	size_t i;

	switch (k->type) {
	case KMS_CONF_STRING:
		return KMS_OK;
	case KMS_CONF_BOOL:
		for (i = 0; i < 3; i++) {
			if (strcmp(v->text, yes[i]) == 0 || strcmp(v->text, no[i]) == 0) {
				v->num = strcmp(v->text, yes[i]) == 0;
				return KMS_OK;
			}
		}
		got(g, k, v->text, v->len);
		fail(p, line, "'%s' must be yes, no, true, false, on or off%s", k->name, g);
		return KMS_ERR_PARSE;
	case KMS_CONF_U64:
		return convert_u64(p, line, k, v);
	case KMS_CONF_ENUM:
		for (i = 0; k->words[i] != NULL; i++) {
			if (strcmp(v->text, k->words[i]) == 0) {
				v->num = i;
				return KMS_OK;
			}
		}
		got(g, k, v->text, v->len);
		list(l, k->words, NULL, 0);
		fail(p, line, "'%s' must be one of %s%s", k->name, l, g);
		return KMS_ERR_PARSE;
	case KMS_CONF_PATH:
		if (v->len == 0 || v->text[0] != '/') {
			got(g, k, v->text, v->len);
			fail(p, line, "'%s' must be an absolute path%s", k->name, g);
			return KMS_ERR_PARSE;
		}
		if (v->len > KMS_CONF_MAX_PATH) {
			fail(p, line, "'%s' is a path longer than %u bytes", k->name,
			     KMS_CONF_MAX_PATH);
			return KMS_ERR_PARSE;
		}
		return KMS_OK;
	case KMS_CONF_MODE:
		if (v->len < 1 || v->len > 4 || strspn(v->text, "01234567") != v->len ||
		    to_u64(v->text, v->len, 8, &v->num) != KMS_OK) {
			got(g, k, v->text, v->len);
			fail(p, line,
			     "'%s' must be a file mode of 1 to 4 octal digits, such as 0640%s",
			     k->name, g);
			return KMS_ERR_PARSE;
		}
		return KMS_OK;
	default:
		break;
	}
	fail(p, line, "'%s': unknown type", k->name);
	return KMS_ERR_INVALID_ARG;
}

/* ---- the key table ---- */

/* Wipe and free v's text, and clear v. */
static void
wipe_value(struct value *v)
{
	if (v->text != NULL) {
		kms_memzero(v->text, v->len);
		free(v->text);
	}
	kms_memzero(v, sizeof(*v));
}

static int
check_table(const struct parser *p)
{
	const struct kms_conf_key *k;
	const unsigned int all_flags =
		KMS_CONF_REQUIRED | KMS_CONF_REPEATABLE | KMS_CONF_SECRET | KMS_CONF_HEX;
	size_t i, j, n;

	if (p->num_keys > KMS_CONF_MAX_KEYS) {
		fail(p, 0, "key table: more than %u keys", KMS_CONF_MAX_KEYS);
		return KMS_ERR_INVALID_ARG;
	}
	for (i = 0; i < p->num_keys; i++) {
		k = &p->keys[i];
		if (k->name == NULL ||
		    !valid_name(k->name, strnlen(k->name, KMS_CONF_MAX_KEY + 1))) {
			fail(p, 0, "key table: entry %zu: not a valid key name", i);
			return KMS_ERR_INVALID_ARG;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(p->keys[j].name, k->name) == 0) {
				fail(p, 0, "key table: '%s' declared twice", k->name);
				return KMS_ERR_INVALID_ARG;
			}
		}
		if (k->type < KMS_CONF_STRING || k->type > KMS_CONF_MODE ||
		    (k->flags & ~all_flags) != 0 ||
		    ((k->flags & KMS_CONF_HEX) != 0 && k->type != KMS_CONF_U64) ||
		    ((k->flags & KMS_CONF_REQUIRED) != 0 && k->def != NULL) ||
		    ((k->words != NULL) != (k->type == KMS_CONF_ENUM)) ||
		    (k->type == KMS_CONF_U64 ? k->min > k->max || k->max == 0
					     : k->min != 0 || k->max != 0)) {
			fail(p, 0, "key table: '%s': bad type, flags, bounds, words or default",
			     k->name);
			return KMS_ERR_INVALID_ARG;
		}
		if (k->type != KMS_CONF_ENUM) {
			continue;
		}
		for (n = 0; k->words[n] != NULL; n++) {
			if (!valid_name(k->words[n], strnlen(k->words[n], KMS_CONF_MAX_KEY + 1))) {
				fail(p, 0, "key table: '%s': word %zu is not a valid word", k->name,
				     n);
				return KMS_ERR_INVALID_ARG;
			}
			for (j = 0; j < n; j++) {
				if (strcmp(k->words[j], k->words[n]) == 0) {
					fail(p, 0, "key table: '%s': word '%s' listed twice",
					     k->name, k->words[n]);
					return KMS_ERR_INVALID_ARG;
				}
			}
		}
		if (n == 0) {
			fail(p, 0, "key table: '%s': no words", k->name);
			return KMS_ERR_INVALID_ARG;
		}
	}
	return KMS_OK;
}

/*
 * The default of key k as a value: written as it would be after "key =" in a file (one line's
 * worth, not empty, no blanks around it unless quoted), and checked as such.
 */
static int
default_value(const struct parser *p, const struct kms_conf_key *k, struct value *out)
{
	const uint8_t *d = (const uint8_t *)k->def;
	size_t len = strnlen(k->def, KMS_CONF_MAX_LINE + 1);
	int r = KMS_ERR_INVALID_ARG;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > KMS_CONF_MAX_LINE || is_blank(d[0]) || is_blank(d[len - 1]) ||
	    check_bytes(p, 0, d, len, "") != KMS_OK) {
		goto bad;
	}
	if ((r = decode(p, 0, k, d, len, 1, &out->text, &out->len)) != KMS_OK ||
	    (r = convert(p, 0, k, out)) != KMS_OK) {
		goto bad;
	}
	return KMS_OK;
bad:
	wipe_value(out);
	if (r == KMS_ERR_NOMEM) {
		fail(p, 0, "out of memory");
		return r;
	}
	fail(p, 0, "key table: '%s': the default is not a valid value", k->name);
	return KMS_ERR_INVALID_ARG;
}

/* ---- the result ---- */

void
kms_conf_free(struct kms_conf *conf)
{
	size_t i, j;

	if (conf == NULL) {
		return;
	}
	if (conf->slots != NULL) {
		for (i = 0; i < conf->num_keys; i++) {
			for (j = 0; j < conf->slots[i].num; j++) {
				wipe_value(&conf->slots[i].v[j]);
			}
			free(conf->slots[i].v);
		}
		free(conf->slots);
	}
	free(conf);
}

/* Append v to slot s (taking v's text on success). Capacity is bounded by the line count. */
static int
push(struct slot *s, struct value *v)
{
	struct value *grown;
	size_t cap;

	if (s->num == s->cap) {
		cap = s->cap == 0 ? 1 : s->cap * 2;
		if ((grown = realloc(s->v, cap * sizeof(*grown))) == NULL) {
			return KMS_ERR_NOMEM;
		}
		s->v = grown;
		s->cap = cap;
	}
	s->v[s->num++] = *v;
	v->text = NULL; /* transferred */
	return KMS_OK;
}

/* ---- unknown keys ---- */

/* Optimal string alignment distance (edits and adjacent swaps) of two keys of <= 64 bytes. */
static size_t
distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t d[KMS_CONF_MAX_KEY + 1][KMS_CONF_MAX_KEY + 1];
	size_t i, j, best;

	for (i = 0; i <= la; i++) {
		d[i][0] = i;
	}
	for (j = 0; j <= lb; j++) {
		d[0][j] = j;
	}
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;

			best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best) {
				best = d[i][j - 1] + 1;
			}
			if (d[i - 1][j - 1] + cost < best) {
				best = d[i - 1][j - 1] + cost;
			}
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best) {
				best = d[i - 2][j - 2] + 1;
			}
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * "unknown key 'x'", with the one closest declared key if it is within distance 2 (and closer
 * than the key is long, so "a" does not suggest "id"), else the list of declared keys.
 */
static void
unknown_key(const struct parser *p, unsigned int line, const char *key, size_t len)
{
	char q[QUOTE_LEN], l[LIST_LEN];
	size_t i, d, best = SIZE_MAX, at = 0, ties = 0;

	quote(q, key, len);
	for (i = 0; i < p->num_keys; i++) {
		d = distance(key, len, p->keys[i].name, strlen(p->keys[i].name));
		if (d < best) {
			best = d;
			at = i;
			ties = 0;
		} else if (d == best) {
			ties++;
		}
	}
	if (best <= 2 && best < len && ties == 0) {
		fail(p, line, "unknown key %s (did you mean '%s'?)", q, p->keys[at].name);
		return;
	}
	if (p->num_keys == 0) {
		fail(p, line, "unknown key %s (no keys are known)", q);
		return;
	}
	list(l, NULL, p->keys, p->num_keys);
	fail(p, line, "unknown key %s (known: %s)", q, l);
}

/* ---- lines ---- */

/* Parse one line (bytes checked, not blank, not a comment) into conf. */
static int
parse_line(const struct parser *p, struct kms_conf *conf, unsigned int line, const uint8_t *s,
	   size_t n)
{
	const struct kms_conf_key *k = NULL;
	struct value v = {0};
	size_t ks, ke, vs, ve, i;
	const uint8_t *eq;
	char q[QUOTE_LEN];
	int r;

	for (ks = 0; ks < n && is_blank(s[ks]); ks++) {
	}
	if ((eq = memchr(s, '=', n)) == NULL) {
		/* Not quoted: a line without '=' may be a secret pasted in the wrong place. */
		fail(p, line, "expected 'key = value' (this line has no '=')");
		return KMS_ERR_PARSE;
	}
	ke = (size_t)(eq - s);
	while (ke > ks && is_blank(s[ke - 1])) {
		ke--;
	}
	if (ke == ks) {
		fail(p, line, "missing key before '='");
		return KMS_ERR_PARSE;
	}
	if (!valid_name((const char *)s + ks, ke - ks)) {
		quote(q, (const char *)s + ks, ke - ks);
		fail(p, line,
		     "invalid key %s (a key is 1 to %u characters among a-z, 0-9, '_', '.' and "
		     "'-')",
		     q, KMS_CONF_MAX_KEY);
		return KMS_ERR_PARSE;
	}
	for (i = 0; i < p->num_keys; i++) {
		if (strlen(p->keys[i].name) == ke - ks &&
		    memcmp(p->keys[i].name, s + ks, ke - ks) == 0) {
			k = &p->keys[i];
			break;
		}
	}
	if (k == NULL) {
		unknown_key(p, line, (const char *)s + ks, ke - ks);
		return KMS_ERR_PARSE;
	}
	if ((k->flags & KMS_CONF_REPEATABLE) == 0 && conf->slots[i].num > 0) {
		fail(p, line, "duplicate key '%s' (first set on line %u)", k->name,
		     conf->slots[i].v[0].line);
		return KMS_ERR_PARSE;
	}
	vs = (size_t)(eq - s) + 1;
	while (vs < n && is_blank(s[vs])) {
		vs++;
	}
	ve = n;
	while (ve > vs && is_blank(s[ve - 1])) {
		ve--;
	}
	if (ve == vs) {
		fail(p, line, "'%s' has no value", k->name);
		return KMS_ERR_PARSE;
	}
	if ((r = decode(p, line, k, s + vs, ve - vs, column(s, vs), &v.text, &v.len)) != KMS_OK) {
		return r;
	}
	v.line = line;
	if ((r = convert(p, line, k, &v)) != KMS_OK) {
		goto out;
	}
	if ((r = push(&conf->slots[i], &v)) != KMS_OK) {
		fail(p, 0, "out of memory");
		goto out;
	}
	r = KMS_OK;
out:
	wipe_value(&v);
	return r;
}

int
kms_conf_parse(struct kms_conf **out, char *err, size_t err_len, const struct kms_conf_key *keys,
	       size_t num_keys, const char *name, const uint8_t *data, size_t len)
{
	struct parser p = {err, err_len, name, keys, num_keys};
	struct kms_conf *conf = NULL;
	struct kms_cbs cbs, line;
	struct value v = {0};
	const uint8_t *nl;
	unsigned int lineno = 0;
	size_t i, n, s;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (err_len > 0 && err != NULL) {
		err[0] = '\0';
	}
	if (out == NULL || (err == NULL && err_len > 0) || (keys == NULL && num_keys > 0) ||
	    name == NULL || (data == NULL && len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = check_table(&p)) != KMS_OK) {
		return r;
	}
	/* Defaults are checked before the file, so a bad table fails whatever the file says. */
	for (i = 0; i < num_keys; i++) {
		if (keys[i].def != NULL) {
			if ((r = default_value(&p, &keys[i], &v)) != KMS_OK) {
				return r;
			}
			wipe_value(&v);
		}
	}
	if (len > KMS_CONF_MAX_FILE) {
		fail(&p, 0, "larger than %u bytes", KMS_CONF_MAX_FILE);
		return KMS_ERR_PARSE;
	}
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (num_keys > 0 && (conf->slots = calloc(num_keys, sizeof(*conf->slots))) == NULL)) {
		fail(&p, 0, "out of memory");
		r = KMS_ERR_NOMEM;
		goto out;
	}
	conf->keys = keys;
	conf->num_keys = num_keys;

	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
		fail(&p, 1, "the file starts with a UTF-8 byte order mark; save it without one");
		r = KMS_ERR_PARSE;
		goto out;
	}
	kms_cbs_init(&cbs, data, len);
	while (kms_cbs_len(&cbs) > 0) {
		if (lineno == KMS_CONF_MAX_LINES) {
			fail(&p, lineno + 1, "more than %u lines", KMS_CONF_MAX_LINES);
			r = KMS_ERR_PARSE;
			goto out;
		}
		lineno++;
		nl = memchr(cbs.data, '\n', kms_cbs_len(&cbs));
		n = nl != NULL ? (size_t)(nl - cbs.data) : kms_cbs_len(&cbs);
		if (n > KMS_CONF_MAX_LINE) {
			fail(&p, lineno, "line longer than %u bytes", KMS_CONF_MAX_LINE);
			r = KMS_ERR_PARSE;
			goto out;
		}
		if (kms_cbs_get_bytes(&cbs, &line, n) != KMS_OK ||
		    (nl != NULL && kms_cbs_skip(&cbs, 1) != KMS_OK)) {
			fail(&p, lineno, "internal error splitting lines");
			r = KMS_ERR_INTERNAL;
			goto out;
		}
		if ((r = check_bytes(&p, lineno, line.data, n, "")) != KMS_OK) {
			goto out;
		}
		for (s = 0; s < n && is_blank(line.data[s]); s++) {
		}
		if (s == n || line.data[s] == '#') {
			continue;
		}
		if ((r = parse_line(&p, conf, lineno, line.data, n)) != KMS_OK) {
			goto out;
		}
	}

	for (i = 0; i < num_keys; i++) {
		if (conf->slots[i].num > 0) {
			continue;
		}
		if ((keys[i].flags & KMS_CONF_REQUIRED) != 0) {
			fail(&p, 0, "missing required key '%s'", keys[i].name);
			r = KMS_ERR_PARSE;
			goto out;
		}
		if (keys[i].def == NULL) {
			continue;
		}
		if ((r = default_value(&p, &keys[i], &v)) != KMS_OK) {
			goto out;
		}
		if ((r = push(&conf->slots[i], &v)) != KMS_OK) {
			fail(&p, 0, "out of memory");
			goto out;
		}
	}
	if (err_len > 0) {
		err[0] = '\0';
	}
	*out = conf;
	conf = NULL; /* transferred */
	r = KMS_OK;
out:
	wipe_value(&v);
	kms_conf_free(conf);
	return r;
}

/* ---- files ---- */

int
kms_conf_read_fd(int fd, const char *name, uint8_t *buf, size_t len, char *err, size_t err_len)
{
	uint8_t extra = 0;
	size_t got = 0;
	ssize_t n;
	int r = KMS_ERR_IO;

	if (fd < 0 || name == NULL || (buf == NULL && len > 0) || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	/* exactly len bytes, then make sure the file ends there (it did not grow meanwhile) */
	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			(void)kms_conf_errf(err, err_len, name, 0, "cannot read: %s",
					    n < 0 ? strerror(errno)
						  : "the file shrank while being read");
			goto out;
		}
		got += (size_t)n;
	}
	do {
		n = read(fd, &extra, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 0) {
		(void)kms_conf_errf(err, err_len, name, 0, "cannot read: %s",
				    n < 0 ? strerror(errno) : "the file grew while being read");
		goto out;
	}
	r = KMS_OK;
out:
	/* The file may hold a secret (a PIN, a key set with a private key by mistake). */
	kms_memzero(&extra, sizeof(extra));
	if (r != KMS_OK && len > 0) {
		kms_memzero(buf, len);
	}
	return r;
}

int
kms_conf_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len, char *err,
		   size_t err_len)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd = -1, r = KMS_ERR_IO;

	if (out != NULL) {
		*out = NULL;
	}
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (out == NULL || out_len == NULL || path == NULL || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		(void)kms_conf_errf(err, err_len, path, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		(void)kms_conf_errf(err, err_len, path, 0, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)kms_conf_errf(err, err_len, path, 0, "not a regular file%s",
				    S_ISDIR(st.st_mode) ? " (a directory)" : "");
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		(void)kms_conf_errf(err, err_len, path, 0, "larger than %zu bytes", max);
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len + 1)) == NULL) {
		(void)kms_conf_errf(err, err_len, path, 0, "out of memory");
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = kms_conf_read_fd(fd, path, buf, len, err, err_len)) != KMS_OK) {
		goto out;
	}
	buf[len] = 0;
	*out = buf;
	*out_len = len;
	buf = NULL; /* transferred */
	r = KMS_OK;
out:
	if (buf != NULL) {
		kms_memzero(buf, len + 1);
		free(buf);
	}
	if (fd >= 0) {
		(void)close(fd);
	}
	return r;
}

int
kms_conf_load(struct kms_conf **out, char *err, size_t err_len, const struct kms_conf_key *keys,
	      size_t num_keys, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (out != NULL) {
		*out = NULL;
	}
	if (err_len > 0 && err != NULL) {
		err[0] = '\0';
	}
	if (out == NULL || (err == NULL && err_len > 0) || path == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_conf_read_file(path, KMS_CONF_MAX_FILE, &buf, &len, err, err_len)) != KMS_OK) {
		return r == KMS_ERR_TOO_LARGE ? KMS_ERR_PARSE : r;
	}
	r = kms_conf_parse(out, err, err_len, keys, num_keys, path, buf, len);
	kms_memzero(buf, len + 1); /* the file may hold a secret value */
	free(buf);
	return r;
}

/* ---- getters ---- */

/* The slot of key name if its type is one of the mask's (1u << type) bits; else NULL. */
static const struct slot *
lookup(const struct kms_conf *conf, const char *name, unsigned int types)
{
	size_t j;

	if (conf == NULL || name == NULL) {
		return NULL;
	}
	for (j = 0; j < conf->num_keys; j++) {
		if (strcmp(conf->keys[j].name, name) == 0) {
			return (types & (1u << conf->keys[j].type)) != 0 ? &conf->slots[j] : NULL;
		}
	}
	return NULL;
}

/* Value i of key name, for a getter serving the types of the mask. */
static int
find(const struct kms_conf *conf, const char *name, size_t i, unsigned int types,
     const struct value **out)
{
	const struct slot *s;

	*out = NULL;
	if ((s = lookup(conf, name, types)) == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (i >= s->num) {
		return KMS_ERR_RANGE;
	}
	*out = &s->v[i];
	return KMS_OK;
}

#define ALL_TYPES                                                                                  \
	((1u << KMS_CONF_STRING) | (1u << KMS_CONF_BOOL) | (1u << KMS_CONF_U64) |                  \
	 (1u << KMS_CONF_ENUM) | (1u << KMS_CONF_PATH) | (1u << KMS_CONF_MODE))

size_t
kms_conf_count(const struct kms_conf *conf, const char *name)
{
	const struct slot *s = lookup(conf, name, ALL_TYPES);

	return s != NULL ? s->num : 0;
}

unsigned int
kms_conf_line(const struct kms_conf *conf, const char *name, size_t i)
{
	const struct value *v;

	if (find(conf, name, i, ALL_TYPES, &v) != KMS_OK) {
		return 0;
	}
	return v->line;
}

int
kms_conf_str(const struct kms_conf *conf, const char *name, size_t i, const char **out)
{
	const struct value *v;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	if ((r = find(conf, name, i,
		      (1u << KMS_CONF_STRING) | (1u << KMS_CONF_PATH) | (1u << KMS_CONF_ENUM),
		      &v)) != KMS_OK) {
		return r;
	}
	*out = v->text;
	return KMS_OK;
}

int
kms_conf_bool(const struct kms_conf *conf, const char *name, size_t i, bool *out)
{
	const struct value *v;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = false;
	if ((r = find(conf, name, i, 1u << KMS_CONF_BOOL, &v)) != KMS_OK) {
		return r;
	}
	*out = v->num != 0;
	return KMS_OK;
}

int
kms_conf_u64(const struct kms_conf *conf, const char *name, size_t i, uint64_t *out)
{
	const struct value *v;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if ((r = find(conf, name, i, 1u << KMS_CONF_U64, &v)) != KMS_OK) {
		return r;
	}
	*out = v->num;
	return KMS_OK;
}

int
kms_conf_enum(const struct kms_conf *conf, const char *name, size_t i, size_t *out)
{
	const struct value *v;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if ((r = find(conf, name, i, 1u << KMS_CONF_ENUM, &v)) != KMS_OK) {
		return r;
	}
	*out = (size_t)v->num;
	return KMS_OK;
}

int
kms_conf_mode(const struct kms_conf *conf, const char *name, size_t i, mode_t *out)
{
	const struct value *v;
	int r;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if ((r = find(conf, name, i, 1u << KMS_CONF_MODE, &v)) != KMS_OK) {
		return r;
	}
	*out = (mode_t)v->num;
	return KMS_OK;
}
