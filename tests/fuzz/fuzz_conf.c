/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_conf - the configuration parser on arbitrary bytes, against two fixed tables that hold
 * every type and flag (one with a required key). An accepted file must give getters that keep
 * every bound (counts, lines, lengths, ranges, the enum's word, no control characters), refuse
 * the wrong type and the index past the end, and must survive a round trip: written back with
 * every value quoted and escaped, it parses to the same values. A refused file must leave no
 * result and give a printable message naming the file, never quoting the secret key's value,
 * cut cleanly in a small buffer. Any violation aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

#define MAX_INPUT (64u * 1024u) /* past the line limit and the line count; not the file size */
#define NAME      "f.conf"

static const char *const words[] = {"online", "pre-minted", "x", NULL};

static const struct kms_conf_key optional_keys[] = {
	{.name = "s", .type = KMS_CONF_STRING},
	{.name = "secret", .type = KMS_CONF_STRING, .flags = KMS_CONF_SECRET},
	{.name = "secret.n",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_SECRET | KMS_CONF_HEX,
	 .min = 10,
	 .max = 99999},
	{.name = "b", .type = KMS_CONF_BOOL, .def = "no"},
	{.name = "n", .type = KMS_CONF_U64, .min = 1, .max = 1000, .def = "5"},
	{.name = "h",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_HEX | KMS_CONF_REPEATABLE,
	 .max = UINT64_MAX},
	{.name = "e", .type = KMS_CONF_ENUM, .words = words, .def = "online"},
	{.name = "p", .type = KMS_CONF_PATH},
	{.name = "m", .type = KMS_CONF_MODE, .def = "0600"},
	{.name = "r.list", .type = KMS_CONF_STRING, .flags = KMS_CONF_REPEATABLE},
	{.name = "q_s", .type = KMS_CONF_STRING, .def = "\" d \""},
};
#define NUM_KEYS (sizeof(optional_keys) / sizeof(optional_keys[0]))
/* The same table with "s" required: built on the first input. */
static struct kms_conf_key required_keys[NUM_KEYS];

/* The length of the valid UTF-8 sequence at s (n bytes), or 0: a reference for the checks. */
static size_t
ref_utf8(const uint8_t *s, size_t n)
{
	uint32_t cp;
	size_t want, i;

	if (s[0] < 0x80) {
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		want = 2;
		cp = s[0] & 0x1fu;
	} else if ((s[0] & 0xf0) == 0xe0) {
		want = 3;
		cp = s[0] & 0x0fu;
	} else if ((s[0] & 0xf8) == 0xf0) {
		want = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (want > n) {
		return 0;
	}
	for (i = 1; i < want; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((want == 2 && cp < 0x80) || (want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return want;
}

/* Printable: valid UTF-8, no C0, DEL or C1 control; tab allowed only where allow_tab. */
static bool
printable(const char *str, size_t len, bool allow_tab)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0, k;

	while (i < len) {
		if ((s[i] < 0x20 && !(allow_tab && s[i] == '\t')) || s[i] == 0x7f) {
			return false;
		}
		if ((k = ref_utf8(s + i, len - i)) == 0) {
			return false;
		}
		if (k == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
			return false;
		}
		i += k;
	}
	return true;
}

static unsigned int
count_lines(const uint8_t *data, size_t size)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < size; i++) {
		n += data[i] == '\n';
	}
	return n + (size > 0 && data[size - 1] != '\n');
}

/* Every getter of an accepted conf keeps its bounds; wrong types and indexes are refused. */
static void
check_accepted(const struct kms_conf *conf, const struct kms_conf_key *keys, unsigned int lines)
{
	const char *s;
	uint64_t u;
	size_t i, j, n, idx;
	unsigned int line, prev;
	mode_t m;
	bool b;

	CHECK(kms_conf_count(conf, "nope") == 0);
	for (i = 0; i < NUM_KEYS; i++) {
		const struct kms_conf_key *k = &keys[i];

		n = kms_conf_count(conf, k->name);
		CHECK(n <= lines || (n == 1 && kms_conf_line(conf, k->name, 0) == 0));
		CHECK((k->flags & KMS_CONF_REPEATABLE) != 0 || n <= 1);
		CHECK(((k->flags & KMS_CONF_REQUIRED) == 0 && k->def == NULL) || n >= 1);
		prev = 0;
		for (j = 0; j < n; j++) {
			line = kms_conf_line(conf, k->name, j);
			CHECK(line <= lines && line <= KMS_CONF_MAX_LINES);
			CHECK(line > prev || (line == 0 && n == 1 && k->def != NULL));
			prev = line;
			switch (k->type) {
			case KMS_CONF_STRING:
			case KMS_CONF_PATH:
				CHECK(kms_conf_str(conf, k->name, j, &s) == KMS_OK && s != NULL);
				CHECK(strnlen(s, KMS_CONF_MAX_VALUE + 1) <= KMS_CONF_MAX_VALUE);
				CHECK(printable(s, strlen(s), true));
				CHECK(k->type != KMS_CONF_PATH ||
				      (s[0] == '/' && strlen(s) <= KMS_CONF_MAX_PATH));
				CHECK(kms_conf_u64(conf, k->name, j, &u) == KMS_ERR_INVALID_ARG);
				break;
			case KMS_CONF_BOOL:
				CHECK(kms_conf_bool(conf, k->name, j, &b) == KMS_OK);
				CHECK(kms_conf_str(conf, k->name, j, &s) == KMS_ERR_INVALID_ARG &&
				      s == NULL);
				break;
			case KMS_CONF_U64:
				CHECK(kms_conf_u64(conf, k->name, j, &u) == KMS_OK);
				CHECK(u >= k->min && u <= k->max);
				CHECK(kms_conf_mode(conf, k->name, j, &m) == KMS_ERR_INVALID_ARG);
				break;
			case KMS_CONF_ENUM:
				CHECK(kms_conf_enum(conf, k->name, j, &idx) == KMS_OK);
				CHECK(idx < 3);
				CHECK(kms_conf_str(conf, k->name, j, &s) == KMS_OK);
				CHECK(strcmp(s, words[idx]) == 0);
				break;
			case KMS_CONF_MODE:
				CHECK(kms_conf_mode(conf, k->name, j, &m) == KMS_OK);
				CHECK(m <= 07777);
				CHECK(kms_conf_bool(conf, k->name, j, &b) == KMS_ERR_INVALID_ARG);
				break;
			default:
				CHECK(0);
			}
		}
		CHECK(kms_conf_line(conf, k->name, n) == 0);
		CHECK(kms_conf_enum(conf, k->name, n, &idx) ==
		      (k->type == KMS_CONF_ENUM ? KMS_ERR_RANGE : KMS_ERR_INVALID_ARG));
	}
}

/* The text of value j of key k as a string: what the file said, for every type. */
static void
value_text(const struct kms_conf *conf, const struct kms_conf_key *k, size_t j, char *out,
	   size_t out_len)
{
	const char *s = NULL;
	uint64_t u = 0;
	mode_t m = 0;
	bool b = false;

	switch (k->type) {
	case KMS_CONF_BOOL:
		CHECK(kms_conf_bool(conf, k->name, j, &b) == KMS_OK);
		(void)snprintf(out, out_len, "%s", b ? "on" : "off");
		return;
	case KMS_CONF_U64:
		CHECK(kms_conf_u64(conf, k->name, j, &u) == KMS_OK);
		(void)snprintf(out, out_len, "%llu", (unsigned long long)u);
		return;
	case KMS_CONF_MODE:
		CHECK(kms_conf_mode(conf, k->name, j, &m) == KMS_OK);
		(void)snprintf(out, out_len, "%o", (unsigned int)m);
		return;
	default:
		CHECK(kms_conf_str(conf, k->name, j, &s) == KMS_OK);
		(void)snprintf(out, out_len, "%s", s);
		return;
	}
}

/*
 * Write conf's values from the file (not the defaults) back as quoted, escaped lines, parse
 * that, and compare every value of every key.
 */
static void
check_round_trip(const struct kms_conf *conf, const struct kms_conf_key *keys, char *buf,
		 size_t buf_len)
{
	static char a[KMS_CONF_MAX_VALUE + 32], b[KMS_CONF_MAX_VALUE + 32];
	struct kms_conf *again = NULL;
	char err[KMS_CONF_ERR_LEN];
	size_t off = 0, i, j, n, c;

	for (i = 0; i < NUM_KEYS; i++) {
		n = kms_conf_count(conf, keys[i].name);
		for (j = 0; j < n; j++) {
			if (kms_conf_line(conf, keys[i].name, j) == 0) {
				continue;
			}
			value_text(conf, &keys[i], j, a, sizeof(a));
			/* key = "value": at most 64 + 4 + 2 * 4096 + 2 bytes, buf_len is ample */
			CHECK(off + strlen(keys[i].name) + 2 * strlen(a) + 8 < buf_len);
			off += (size_t)snprintf(buf + off, buf_len - off, "%s = \"", keys[i].name);
			for (c = 0; a[c] != '\0'; c++) {
				if (a[c] == '"' || a[c] == '\\') {
					buf[off++] = '\\';
				}
				buf[off++] = a[c];
			}
			buf[off++] = '"';
			buf[off++] = '\n';
		}
	}
	CHECK(kms_conf_parse(&again, err, sizeof(err), keys, NUM_KEYS, NAME, (const uint8_t *)buf,
			     off) == KMS_OK);
	for (i = 0; i < NUM_KEYS; i++) {
		n = kms_conf_count(conf, keys[i].name);
		CHECK(kms_conf_count(again, keys[i].name) == n);
		for (j = 0; j < n; j++) {
			value_text(conf, &keys[i], j, a, sizeof(a));
			value_text(again, &keys[i], j, b, sizeof(b));
			CHECK(strcmp(a, b) == 0);
			CHECK((kms_conf_line(conf, keys[i].name, j) == 0) ==
			      (kms_conf_line(again, keys[i].name, j) == 0));
		}
	}
	kms_conf_free(again);
}

/*
 * Whether the message err ("f.conf:LINE: ...") is about a line of data whose key (the text
 * before its first '=', blanks trimmed) is key.
 */
static bool
line_key_is(const uint8_t *data, size_t size, const char *err, const char *key)
{
	const char *p = err + sizeof(NAME ":") - 1;
	unsigned long want, line = 1;
	size_t i = 0, s, e, n = strlen(key);
	char *end;

	if (*p < '1' || *p > '9') {
		return false; /* no line */
	}
	want = strtoul(p, &end, 10);
	if (*end != ':') {
		return false;
	}
	while (line < want && i < size) {
		line += data[i++] == '\n';
	}
	if (line != want) {
		return false;
	}
	for (s = i; s < size && (data[s] == ' ' || data[s] == '\t'); s++) {
	}
	for (e = s; e < size && data[e] != '=' && data[e] != '\n'; e++) {
	}
	if (e == size || data[e] != '=') {
		return false;
	}
	while (e > s && (data[e - 1] == ' ' || data[e - 1] == '\t')) {
		e--;
	}
	return e - s == n && memcmp(data + s, key, n) == 0;
}

/* A refused file: printable message naming the file; the same, cut, in a small buffer. */
static void
check_refused(int r, const char *err, const struct kms_conf_key *keys, const uint8_t *data,
	      size_t size)
{
	struct kms_conf *conf = NULL;
	char small[64];
	size_t len = strnlen(err, KMS_CONF_ERR_LEN), small_len, n;

	CHECK(r == KMS_ERR_PARSE);
	CHECK(len > 0 && len < KMS_CONF_ERR_LEN);
	CHECK(strncmp(err, NAME ":", sizeof(NAME ":") - 1) == 0);
	CHECK(printable(err, len, true)); /* a quoted value may hold a tab */
	/* About a line that sets the secret key: never "(got ...)". */
	if (line_key_is(data, size, err, "secret") || line_key_is(data, size, err, "secret.n")) {
		CHECK(strstr(err, "(got") == NULL);
	}

	small_len = 1 + (size > 0 ? data[0] : 0) % sizeof(small);
	memset(small, 'Z', sizeof(small));
	CHECK(kms_conf_parse(&conf, small, small_len, keys, NUM_KEYS, NAME, data, size) == r);
	CHECK(conf == NULL);
	n = strnlen(small, small_len);
	CHECK(n < small_len);
	CHECK(small_len == sizeof(small) || small[small_len] == 'Z');
	if (len < small_len) {
		CHECK(strcmp(small, err) == 0);
	} else if (small_len >= 4) {
		CHECK(n >= 3 && strcmp(small + n - 3, "...") == 0);
		CHECK(strncmp(small, err, n - 3) == 0);
		CHECK(printable(small, n, true));
	}
}

static void
run(const struct kms_conf_key *keys, const uint8_t *data, size_t size, char *buf, size_t buf_len)
{
	struct kms_conf *conf = NULL;
	char err[KMS_CONF_ERR_LEN];
	int r;

	memset(err, 'Z', sizeof(err));
	r = kms_conf_parse(&conf, err, sizeof(err), keys, NUM_KEYS, NAME, data, size);
	if (r == KMS_OK) {
		CHECK(conf != NULL);
		CHECK(err[0] == '\0');
		check_accepted(conf, keys, count_lines(data, size));
		check_round_trip(conf, keys, buf, buf_len);
		kms_conf_free(conf);
		return;
	}
	CHECK(conf == NULL);
	check_refused(r, err, keys, data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The round trip's text: every value doubled by escapes at worst, plus each line's key. */
	static char buf[2 * MAX_INPUT + 80 * KMS_CONF_MAX_LINES];

	if (size > MAX_INPUT) {
		return 0;
	}
	if (required_keys[0].name == NULL) {
		memcpy(required_keys, optional_keys, sizeof(required_keys));
		required_keys[0].flags |= KMS_CONF_REQUIRED;
	}
	run(optional_keys, data, size, buf, sizeof(buf));
	run(required_keys, data, size, buf, sizeof(buf));
	return 0;
}
