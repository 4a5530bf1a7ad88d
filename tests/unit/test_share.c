/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backup share text (tools/share.c, docs/backup-shares.md): golden texts computed by an
 * independent implementation of the format, round trips, what a human may type differently,
 * every single-character substitution in a data line, swapped lines, changed fields, every
 * truncation and bit flip, oversize text, and every field out of range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/rand.h>

#include "tests/unit/kms_test.h"
#include "tools/share.h"

#include "common/banned.h"

#define ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Computed by a separate Python model of docs/backup-shares.md (not by tools/share.c). */
static const char golden1[] = "KMS BACKUP SHARE 1\n"
			      "ceremony: prod-2025-01\n"
			      "backup: 0123456789ABCDEF\n"
			      "custodian: Alice Example\n"
			      "share 2 of 5, any 3 restore\n"
			      "1: 000G 40R4 0M30 E209  YV\n"
			      "2: 185G R38E 1W81 24GK  33\n"
			      "3: 2GAH C5RR 34D1 P70X  A3\n"
			      "4: 3RFG  06\n"
			      "check: JEF3 JKN5\n";

static const char golden2[] = "KMS BACKUP SHARE 1\n"
			      "ceremony: c\n"
			      "backup: 0000000000000000\n"
			      "custodian: Bj\xc3\xb6rk\n"
			      "share 255 of 255, any 255 restore\n"
			      "1: ZZZZ ZZZZ ZZZZ ZZZZ  H9\n"
			      "2: ZZZZ ZZZZ ZZZZ ZZZZ  JA\n"
			      "3: ZZZZ ZZZZ ZZZZ ZZZZ  KB\n"
			      "4: ZZZG  VX\n"
			      "check: 0J39 QKRZ\n";

static char err[KMS_SHARE_ERR_LEN];

static void
golden1_share(struct kms_share *sh)
{
	static const uint8_t bid[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	size_t i;

	memset(sh, 0, sizeof(*sh));
	memcpy(sh->ceremony, "prod-2025-01", sizeof("prod-2025-01"));
	memcpy(sh->backup_id, bid, sizeof(bid));
	memcpy(sh->label, "Alice Example", sizeof("Alice Example"));
	sh->x = 2;
	sh->m = 3;
	sh->n = 5;
	for (i = 0; i < KMS_SHARE_Y_LEN; i++) {
		sh->y[i] = (uint8_t)i;
	}
}

static int
same_share(const struct kms_share *a, const struct kms_share *b)
{
	return strcmp(a->ceremony, b->ceremony) == 0 &&
	       memcmp(a->backup_id, b->backup_id, sizeof(a->backup_id)) == 0 &&
	       strcmp(a->label, b->label) == 0 && a->x == b->x && a->m == b->m && a->n == b->n &&
	       memcmp(a->y, b->y, sizeof(a->y)) == 0;
}

static int
parse_str(const char *text, struct kms_share *out)
{
	return kms_share_parse(text, strlen(text), out, err, sizeof(err));
}

/* text is refused with r, *out wiped, and err contains every one of the NULL-ended whys. */
static void
refused_n(const char *text, size_t len, int r, const char *why1, const char *why2)
{
	struct kms_share sh;

	memset(&sh, 0xa5, sizeof(sh));
	CU_ASSERT_EQUAL(kms_share_parse(text, len, &sh, err, sizeof(err)), r);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&sh, sizeof(sh)));
	if (strstr(err, why1) == NULL || (why2 != NULL && strstr(err, why2) == NULL)) {
		fprintf(stderr, "\n  err: %s\n  want: %s / %s\n", err, why1,
			why2 != NULL ? why2 : "");
		CU_FAIL("error message");
	}
}

static void
refused(const char *text, int r, const char *why1, const char *why2)
{
	refused_n(text, strlen(text), r, why1, why2);
}

/* replace - golden1 with its line number `line` (1-based) replaced by repl (NULL: removed). */
static void
replace_line(char *out, size_t cap, const char *text, int line, const char *repl)
{
	const char *p = text, *nl;
	size_t o = 0, n;
	int i;

	out[0] = '\0';
	for (i = 1; *p != '\0'; i++) {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
		if (i == line) {
			if (repl != NULL) {
				o += (size_t)snprintf(out + o, cap - o, "%s\n", repl);
			}
		} else {
			o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)n, p);
		}
		p += n;
	}
}

static void
test_golden(void)
{
	struct kms_share sh, back;
	char text[KMS_SHARE_MAX_TEXT];
	size_t len = 0;

	golden1_share(&sh);
	CU_ASSERT_EQUAL_FATAL(kms_share_format(&sh, text, sizeof(text), &len), KMS_OK);
	CU_ASSERT_STRING_EQUAL(text, golden1);
	CU_ASSERT_EQUAL(len, strlen(golden1));
	CU_ASSERT_EQUAL(parse_str(golden1, &back), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT(same_share(&sh, &back));

	memset(&sh, 0, sizeof(sh));
	memcpy(sh.ceremony, "c", 2);
	memcpy(sh.label, "Bj\xc3\xb6rk", sizeof("Bj\xc3\xb6rk"));
	sh.x = sh.m = sh.n = 255;
	memset(sh.y, 0xff, sizeof(sh.y));
	CU_ASSERT_EQUAL_FATAL(kms_share_format(&sh, text, sizeof(text), &len), KMS_OK);
	CU_ASSERT_STRING_EQUAL(text, golden2);
	CU_ASSERT_EQUAL(parse_str(golden2, &back), KMS_OK);
	CU_ASSERT(same_share(&sh, &back));
}

/* Random shares with random fields round trip, and the text is within its limit. */
static void
test_round_trip(void)
{
	struct kms_share sh, back;
	char text[KMS_SHARE_MAX_TEXT];
	uint8_t rnd[4];
	size_t len, i;
	int rep;

	for (rep = 0; rep < 200; rep++) {
		memset(&sh, 0, sizeof(sh));
		CU_ASSERT_FATAL(RAND_bytes(sh.y, sizeof(sh.y)) == 1);
		CU_ASSERT_FATAL(RAND_bytes(sh.backup_id, sizeof(sh.backup_id)) == 1);
		CU_ASSERT_FATAL(RAND_bytes(rnd, sizeof(rnd)) == 1);
		for (i = 0; i < 1u + rnd[0] % KMS_SHARE_MAX_CEREMONY; i++) {
			sh.ceremony[i] = "abcXYZ019._-"[(i + rnd[1]) % 12];
		}
		/* a label of the longest kind: 64 octets of 2-octet characters and blanks */
		for (i = 0; i + 1 < KMS_SHARE_MAX_LABEL; i += 2) {
			memcpy(sh.label + i, (i / 2) % 3 == 1 ? " x" : "\xc3\xa9", 2);
		}
		sh.n = 2u + rnd[2] % 254u;
		sh.m = 2u + rnd[3] % (sh.n - 1);
		sh.x = 1u + (unsigned int)rep % sh.n;
		CU_ASSERT_EQUAL_FATAL(kms_share_format(&sh, text, sizeof(text), &len), KMS_OK);
		CU_ASSERT(len < KMS_SHARE_MAX_TEXT);
		CU_ASSERT_EQUAL(kms_share_parse(text, len, &back, err, sizeof(err)), KMS_OK);
		CU_ASSERT(same_share(&sh, &back));
	}
}

/* What a person may type differently: all of it reads as golden1. */
static void
test_forgiving(void)
{
	static const char lines_out_of_order[] = "KMS BACKUP SHARE 1\n"
						 "check: JEF3 JKN5\n"
						 "4: 3RFG  06\n"
						 "share 2 of 5, any 3 restore\n"
						 "3: 2GAH C5RR 34D1 P70X  A3\n"
						 "2: 185G R38E 1W81 24GK  33\n"
						 "1: 000G 40R4 0M30 E209  YV\n"
						 "custodian: Alice Example\n"
						 "backup: 0123456789ABCDEF\n"
						 "ceremony: prod-2025-01";
	static const char relaxed[] = "\xef\xbb\xbf\n  kms backup share 1  \r\n"
				      "\r\n"
				      "Ceremony :prod-2025-01\r\n"
				      "BACKUP: 0123-4567 89ab\tcdef\r\n"
				      "custodian:\tAlice Example   \r\n"
				      "SHARE  2 OF 5 ,ANY 3   Restore\r\n"
				      "\t1: 0o0g-40r4-0m30-e2o9 yv\r\n"
				      "2:185gr38eiw8i24gk33\r\n"
				      "   3: 2GAH C5RR 34DL P7OX A3\n"
				      "\n\n"
				      "04 : 3rfg - 06   \n"
				      "check: jef3-jkn5\n\n\n";
	struct kms_share want, sh;

	golden1_share(&want);
	CU_ASSERT_EQUAL(parse_str(relaxed, &sh), KMS_OK);
	if (err[0] != '\0') {
		fprintf(stderr, "\n  err: %s\n", err);
	}
	CU_ASSERT(same_share(&want, &sh));
	CU_ASSERT_EQUAL(parse_str(lines_out_of_order, &sh), KMS_OK);
	CU_ASSERT(same_share(&want, &sh));
}

/* where - the offset in golden1 of data line k's first character after "k: ". */
static size_t
data_start(const char *text, unsigned int k)
{
	char key[8];
	const char *p;

	(void)snprintf(key, sizeof(key), "\n%u: ", k);
	p = strstr(text, key);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return (size_t)(p - text) + strlen(key);
}

/* The share's data groups must never appear in a message. */
static int
err_leaks(void)
{
	static const char *const groups[] = {"000G", "40R4", "0M30", "E209", "185G", "R38E", "1W81",
					     "24GK", "2GAH", "C5RR", "34D1", "P70X", "3RFG"};
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (strstr(err, groups[i]) != NULL) {
			return 1;
		}
	}
	return 0;
}

/*
 * Every character of every data line (share and check characters) replaced by every other
 * share character: refused with KMS_ERR_AUTH, naming the line and the group (a single error
 * is located exactly), without quoting the share.
 */
static void
test_every_substitution(void)
{
	char text[sizeof(golden1)];
	char want[64], want_group[64];
	unsigned int k, a, wrong = 0, total = 0;
	size_t start, pos, idx;
	struct kms_share sh;
	char orig;

	for (k = 1; k <= 4; k++) {
		start = data_start(golden1, k);
		idx = 0;
		for (pos = start; golden1[pos] != '\n'; pos++) {
			if (golden1[pos] == ' ') {
				continue;
			}
			orig = golden1[pos];
			for (a = 0; a < 32; a++) {
				if (ALPHABET[a] == orig) {
					continue;
				}
				memcpy(text, golden1, sizeof(golden1));
				text[pos] = ALPHABET[a];
				total++;
				(void)snprintf(want, sizeof(want), "line %u (data line %u): check",
					       5 + k, k);
				if (idx < (k < 4 ? 16u : 4u)) {
					(void)snprintf(want_group, sizeof(want_group),
						       "probably in group %zu)", idx / 4 + 1);
				} else {
					(void)snprintf(want_group, sizeof(want_group),
						       "one of the 2 check characters");
				}
				if (parse_str(text, &sh) != KMS_ERR_AUTH ||
				    strstr(err, want) != err || strstr(err, want_group) == NULL ||
				    err_leaks()) {
					if (wrong++ < 3) {
						fprintf(stderr, "\n  err: %s\n", err);
					}
				}
			}
			idx++;
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(total, (16 + 2) * 31 * 3 + (4 + 2) * 31);
}

/* Two adjacent characters swapped, and two characters changed: caught too (distance 3). */
static void
test_double_errors(void)
{
	char text[sizeof(golden1)];
	struct kms_share sh;
	unsigned int k, wrong = 0;
	size_t start, i, j;
	char t;

	for (k = 1; k <= 3; k++) {
		start = data_start(golden1, k);
		for (i = start; golden1[i + 1] != '\n'; i++) {
			memcpy(text, golden1, sizeof(golden1));
			j = text[i + 1] == ' ' ? i + 2 : i + 1;
			if (text[i] == ' ' || text[j] == ' ' || text[i] == text[j]) {
				continue;
			}
			t = text[i];
			text[i] = text[j];
			text[j] = t;
			if (parse_str(text, &sh) != KMS_ERR_AUTH) {
				wrong++;
			}
			/* and the first one replaced as well */
			text[start] = text[start] == 'Z' ? 'Y' : 'Z';
			if (i != start && j != start && parse_str(text, &sh) != KMS_ERR_AUTH) {
				wrong++;
			}
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
}

/* A data line typed on another line's number is recognised as such. */
static void
test_swapped_lines(void)
{
	char text[sizeof(golden1) + 16];
	char tmp[sizeof(golden1) + 16];

	replace_line(tmp, sizeof(tmp), golden1, 6, "1: 185G R38E 1W81 24GK  33");
	replace_line(text, sizeof(text), tmp, 7, "2: 000G 40R4 0M30 E209  YV");
	refused(text, KMS_ERR_AUTH, "line 6 (data line 1): check characters do not match",
		"look like the characters of data line 2");
	CU_ASSERT_FALSE(err_leaks());
	replace_line(text, sizeof(text), golden1, 8, "3: 185G R38E 1W81 24GK  33");
	refused(text, KMS_ERR_AUTH, "line 8 (data line 3)", "data line 2");
	/* line 4 is shorter: a line typed there is a length error */
	replace_line(text, sizeof(text), golden1, 9, "4: 185G R38E 1W81 24GK  33");
	refused(text, KMS_ERR_PARSE, "line 9 (data line 4): 18 characters, expected 6", "extra");
}

/* A changed field other than the data is caught by the check line, which names the lines. */
static void
test_changed_fields(void)
{
	static const struct {
		int line;
		const char *repl;
	} cases[] = {
		{2, "ceremony: prod-2025-02"},      {2, "ceremony: PROD-2025-01"},
		{3, "backup: 0123456789ABCDEE"},    {4, "custodian: Alice Examp1e"},
		{4, "custodian: alice Example"},    {4, "custodian: Alice  Example"},
		{5, "share 3 of 5, any 3 restore"}, {5, "share 2 of 6, any 3 restore"},
		{5, "share 2 of 5, any 2 restore"}, {10, "check: JEF3 JKN6"},
		{10, "check: EJF3 JKN5"},
	};
	char text[sizeof(golden1) + 16];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replace_line(text, sizeof(text), golden1, cases[i].line, cases[i].repl);
		refused(text, KMS_ERR_AUTH, "line 10: the share's check does not match",
			"custodian label (line 4)");
	}
}

/* Every prefix fails cleanly, but those that only drop the final line end. */
static void
test_truncation(void)
{
	const size_t len = strlen(golden1);
	struct kms_share sh;
	size_t n;
	unsigned int wrong = 0;

	for (n = 0; n < len - 1; n++) {
		memset(&sh, 0xa5, sizeof(sh));
		if (kms_share_parse(golden1, n, &sh, err, sizeof(err)) == KMS_OK ||
		    !kms_test_all_zero((const uint8_t *)&sh, sizeof(sh)) || err[0] == '\0' ||
		    err_leaks()) {
			wrong++;
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(kms_share_parse(golden1, len - 1, &sh, err, sizeof(err)), KMS_OK);
	refused_n(golden1, 0, KMS_ERR_PARSE, "empty", NULL);
	refused_n(golden1, 19, KMS_ERR_PARSE, "no 'ceremony:' line", NULL);
}

/* Any single bit flip either fails, or is harmless (case, '0'/'O'...) and reads the same. */
static void
test_bit_flips(void)
{
	char text[sizeof(golden1)];
	struct kms_share want, sh;
	size_t i;
	unsigned int b, wrong = 0, accepted = 0;
	int r;

	golden1_share(&want);
	for (i = 0; i < strlen(golden1); i++) {
		for (b = 0; b < 8; b++) {
			memcpy(text, golden1, sizeof(golden1));
			text[i] = (char)(text[i] ^ (1 << b));
			r = kms_share_parse(text, strlen(golden1), &sh, err, sizeof(err));
			if (r == KMS_OK) {
				accepted++;
				if (!same_share(&want, &sh)) {
					wrong++;
				}
			} else if (r != KMS_ERR_PARSE && r != KMS_ERR_AUTH) {
				wrong++;
			}
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT(accepted > 0); /* case flips of keys and base32 letters */
}

static void
test_oversize(void)
{
	static char text[KMS_SHARE_MAX_TEXT + 8];
	size_t len = strlen(golden1);
	struct kms_share sh;

	/* padded with blank lines to exactly the limit: fine; one octet more: refused */
	memcpy(text, golden1, len);
	memset(text + len, '\n', sizeof(text) - len);
	CU_ASSERT_EQUAL(kms_share_parse(text, KMS_SHARE_MAX_TEXT, &sh, err, sizeof(err)), KMS_OK);
	refused_n(text, KMS_SHARE_MAX_TEXT + 1, KMS_ERR_PARSE, "longer than 2048", NULL);
	/* a long line of blanks and dashes in a data line is within the limit but one line */
	memcpy(text, golden1, len + 1);
	refused("KMS BACKUP SHARE 1\nceremony: "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		KMS_ERR_PARSE, "line 2: the ceremony id is longer than 64", NULL);
}

static void
test_malformed(void)
{
	static const struct {
		int line;
		const char *repl;
		const char *why;
	} cases[] = {
		{1, "KMS BACKUP SHARE 2", "line 1: a share of another format version"},
		{1, "KMS BACKUP SHARES 1", "line 1: not a backup share"},
		{1, "KMS BACKUP SHARE 1 x", "line 1: a share of another format"},
		{2, "ceremony:", "line 2: the ceremony id is empty"},
		{2, "ceremony: prod 2025", "line 2: the ceremony id holds byte 0x20 (character 5)"},
		{2, "ceremony: prod/2025", "'/' (character 5)"},
		{3, "backup: 0123456789ABCDE", "line 3: the backup id has 15 hex digits"},
		{3, "backup: 0123456789ABCDEF0", "line 3: the backup id has more than 16"},
		{3, "backup: 0123456789ABCDEG", "line 3: backup id: 'G' is not a hex digit"},
		{4, "custodian:", "line 4: the custodian label is empty"},
		{4,
		 "custodian: "
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "line 4: the custodian label is longer than 64 octets"},
		{4, "custodian: a\tb",
		 "line 4: the custodian label holds a control character at octet 2"},
		{4, "custodian: a\xc2\x85", "holds a control character at octet 2"},
		{4, "custodian: a\xc3",
		 "line 4: the custodian label is not valid UTF-8 at octet 2"},
		{4, "custodian: \xc0\xaf", "is not valid UTF-8 at octet 1"},
		{4, "custodian: \xed\xa0\x80", "is not valid UTF-8"},
		{4, "custodian: \xf4\x90\x80\x80", "is not valid UTF-8"},
		{4, "custodian: \xe0\x80\xaf", "is not valid UTF-8"},
		{5, "share 0 of 5, any 3 restore",
		 "line 5: share 0 of 5: the share number must be"},
		{5, "share 6 of 5, any 3 restore", "share 6 of 5"},
		{5, "share 2 of 5, any 6 restore", "line 5: any 6 restore"},
		{5, "share 2 of 5, any 1 restore", "any 1 restore"},
		{5, "share 1 of 1, any 1 restore", "line 5: 1 shares"},
		{5, "share 2 of 256, any 3 restore", "256 shares"},
		{5, "share 2 of 1000, any 3 restore", "line 5: expected 'share X of N"},
		{5, "share 2 of 5 any 3 restore", "expected 'share X of N"},
		{5, "share 2 of 5, any 3", "expected 'share X of N"},
		{5, "share 2 of 5, any 3 restore x", "expected 'share X of N"},
		{5, "share two of 5, any 3 restore", "expected 'share X of N"},
		{5, "share -2 of 5, any 3 restore", "expected 'share X of N"},
		{6, "1: 000G 40R4 0M30 E2U9  YV",
		 "line 6 (data line 1), group 4: 'U' is not a share"},
		{6, "1: 000G 40R4 0M30 E209  Y*", "data line 1), check characters: '*' is not"},
		{6, "1: 000G 40R4 0M30 E209  YV0",
		 "line 6 (data line 1): 19 characters, expected 18"},
		{6, "1: 000G 40R4 0M30 E20  YV", "17 characters, expected 18"},
		{6,
		 "1: 000G 40R4 0M30 E2\xc3\xa9"
		 "9  YV",
		 "group 4: byte 0xC3 is not a share"},
		{6, "1 000G 40R4 0M30 E209  YV", "line 6: not a line of a share"},
		{6, "5: 000G 40R4 0M30 E209  YV", "line 6: there is no data line 5"},
		{6, "0: 000G 40R4 0M30 E209  YV", "there is no data line 0"},
		{6, "1000: 000G 40R4 0M30 E209  YV", "line 6: not a line of a share"},
		{10, "check: JEF3 JKN", "line 10: the check has 7 characters, expected 8"},
		{10, "check: JEF3 JKNU", "line 10, group 2: 'U' is not a share character"},
		{10, "checks: JEF3 JKN5", "line 10: not a line of a share"},
		{11, "trailing garbage", "line 11: not a line of a share"},
		{11, "custodian: Bob", "line 11: a second 'custodian:' line (the first is line 4)"},
		{11, "share 2 of 5, any 3 restore", "a second 'share X of N"},
		{11, "3: 2GAH C5RR 34D1 P70X  A3",
		 "line 11: a second '3:' line (the first is line 8)"},
		{11, "KMS BACKUP SHARE 1", "line 11: not a line of a share"},
		{11, "x\001", "line 11: a control character (byte 0x01)"},
		{2, NULL, "the share has no 'ceremony:' line"},
		{3, NULL, "the share has no 'backup:' line"},
		{4, NULL, "the share has no 'custodian:' line"},
		{5, NULL, "the share has no 'share X of N, any M restore' line"},
		{7, NULL, "the share has no '2:' line"},
		{9, NULL, "the share has no '4:' line"},
		{10, NULL, "the share has no 'check:' line"},
	};
	char text[sizeof(golden1) + 128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replace_line(text, sizeof(text), golden1, cases[i].line, cases[i].repl);
		if (cases[i].line == 11) {
			(void)snprintf(text, sizeof(text), "%s%s\n", golden1, cases[i].repl);
		}
		refused(text, KMS_ERR_PARSE, cases[i].why, NULL);
		CU_ASSERT_FALSE(err_leaks());
	}
	/* not a share at all; NUL; CR alone; a header that comes late */
	refused("hello\n", KMS_ERR_PARSE, "line 1: not a backup share", NULL);
	refused_n("KMS BACKUP SHARE 1\n\0", 20, KMS_ERR_PARSE,
		  "line 2: a control character (byte 0x00)", NULL);
	refused("KMS BACKUP SHARE 1\rceremony: x\n", KMS_ERR_PARSE, "line 1: a control character",
		NULL);
	refused("\n\nceremony: x\nKMS BACKUP SHARE 1\n", KMS_ERR_PARSE,
		"line 3: not a backup share", NULL);
	refused("   \n\t\n", KMS_ERR_PARSE, "the share is empty", NULL);
}

/*
 * The last character holds one bit of y and four zero bits: with a valid line check but a
 * non-zero padding it is refused. Find the one check pair that makes line 4 valid.
 */
static void
test_padding(void)
{
	char text[sizeof(golden1)];
	size_t start = data_start(golden1, 4);
	struct kms_share sh;
	unsigned int a, b, pad_errors = 0;
	int r;

	for (a = 0; a < 32; a++) {
		for (b = 0; b < 32; b++) {
			memcpy(text, golden1, sizeof(golden1));
			text[start + 3] = 'H'; /* 17: low bits 0001 */
			text[start + 6] = ALPHABET[a];
			text[start + 7] = ALPHABET[b];
			r = parse_str(text, &sh);
			if (r == KMS_ERR_PARSE) {
				CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 9 (data line 4): the last "
								   "share character cannot end"));
				pad_errors++;
			} else {
				CU_ASSERT_EQUAL(r, KMS_ERR_AUTH);
			}
		}
	}
	CU_ASSERT_EQUAL(pad_errors, 1);
}

static void
test_format_invalid(void)
{
	struct kms_share sh;
	char text[KMS_SHARE_MAX_TEXT];
	size_t len = 99;
	const size_t need = strlen(golden1);

	golden1_share(&sh);
	/* too small by one, and exactly enough */
	memset(text, 'x', sizeof(text));
	CU_ASSERT_EQUAL(kms_share_format(&sh, text, need, &len), KMS_ERR_TOO_LARGE);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)text, need));
	CU_ASSERT_EQUAL(text[need], 'x');
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(kms_share_format(&sh, text, need + 1, &len), KMS_OK);
	CU_ASSERT_EQUAL(len, need);
	CU_ASSERT_EQUAL(kms_share_format(NULL, text, sizeof(text), &len), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_share_format(&sh, NULL, sizeof(text), &len), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_share_format(&sh, text, 0, &len), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_share_format(&sh, text, sizeof(text), NULL), KMS_ERR_INVALID_ARG);

#define BAD(stmt)                                                                                  \
	do {                                                                                       \
		golden1_share(&sh);                                                                \
		stmt;                                                                              \
		len = 99;                                                                          \
		CU_ASSERT_EQUAL(kms_share_format(&sh, text, sizeof(text), &len),                   \
				KMS_ERR_INVALID_ARG);                                              \
		CU_ASSERT_EQUAL(text[0], '\0');                                                    \
		CU_ASSERT_EQUAL(len, 0);                                                           \
	} while (0)
	BAD(sh.m = 1);
	BAD(sh.m = 6);
	BAD(sh.n = 256);
	BAD((sh.n = 1, sh.m = 1, sh.x = 1));
	BAD(sh.x = 0);
	BAD(sh.x = 6);
	BAD(sh.ceremony[0] = '\0');
	BAD(sh.ceremony[3] = ' ');
	BAD(sh.ceremony[3] = ':');
	BAD(memset(sh.ceremony, 'a', sizeof(sh.ceremony)));
	BAD(sh.label[0] = '\0');
	BAD(sh.label[0] = ' ');
	BAD(memcpy(sh.label, "Alice ", 7));
	BAD(sh.label[5] = '\t');
	BAD(sh.label[5] = '\n');
	BAD(sh.label[5] = (char)0xff);
	BAD(memset(sh.label, 'a', sizeof(sh.label)));
#undef BAD
}

static void
test_parse_args(void)
{
	struct kms_share sh;
	char small[24];

	CU_ASSERT_EQUAL(kms_share_parse(golden1, strlen(golden1), NULL, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_share_parse(NULL, 1, &sh, err, sizeof(err)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_share_parse(golden1, strlen(golden1), &sh, NULL, 1),
			KMS_ERR_INVALID_ARG);
	/* no error buffer at all is allowed */
	CU_ASSERT_EQUAL(kms_share_parse(golden1, strlen(golden1), &sh, NULL, 0), KMS_OK);
	CU_ASSERT_EQUAL(kms_share_parse("x", 1, &sh, NULL, 0), KMS_ERR_PARSE);
	/* a small buffer is cut, and NUL-terminated */
	memset(small, 'x', sizeof(small));
	CU_ASSERT_EQUAL(kms_share_parse("x", 1, &sh, small, sizeof(small)), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
	CU_ASSERT_EQUAL(strncmp(small, "line 1: not a backup", 20), 0);
}

static CU_TestInfo share_tests[] = {
	{"golden texts", test_golden},
	{"format and parse round trip", test_round_trip},
	{"forgiving where people are", test_forgiving},
	{"every single-character substitution", test_every_substitution},
	{"transpositions and double errors", test_double_errors},
	{"swapped data lines", test_swapped_lines},
	{"changed fields fail the check line", test_changed_fields},
	{"truncation at every offset", test_truncation},
	{"every bit flip", test_bit_flips},
	{"oversize text", test_oversize},
	{"malformed lines and fields", test_malformed},
	{"non-zero padding bits", test_padding},
	{"format: invalid arguments", test_format_invalid},
	{"parse: invalid arguments", test_parse_args},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"share", NULL, NULL, NULL, NULL, share_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
