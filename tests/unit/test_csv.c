/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The roster import file of kms-admin (tools/roster-csv.c): golden files, every rule of the
 * format, and malformed input (truncation at every offset, bit flips, unterminated quotes,
 * embedded NUL, CR without LF, bad UTF-8, control characters, oversize lines and files).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "tests/unit/kms_test.h"
#include "tools/roster-csv.h"

#include "common/banned.h"

static char err[KMS_ROSTER_CSV_ERR_LEN];
static size_t line;

static int
parse_n(struct kms_roster_csv *csv, const char *text, size_t len)
{
	return kms_roster_csv_parse(csv, &line, err, sizeof(err), (const uint8_t *)text, len);
}

static int
parse(struct kms_roster_csv *csv, const char *text)
{
	return parse_n(csv, text, strlen(text));
}

/* text is refused with r at line want_line, the reason containing why. */
static void
refused(const char *text, size_t len, int r, size_t want_line, const char *why)
{
	struct kms_roster_csv csv;

	CU_ASSERT_EQUAL(parse_n(&csv, text, len), r);
	CU_ASSERT_EQUAL(line, want_line);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	CU_ASSERT_EQUAL(csv.num_ops, 0);
	CU_ASSERT_PTR_NULL(csv.ops);
	CU_ASSERT_PTR_NULL(csv.arena);
	kms_roster_csv_cleanup(&csv);
}

static const char golden[] = "op,client,uri\n"
			     "# the alice group\n"
			     "identity,sip:alice@example.org\n"
			     "\n"
			     "entitle,sip:mcptt-server@example.org,sip:alice@example.org\r\n"
			     "revoke-identity,\"sip:bob@example.org\"\n"
			     "withdraw,\"c\"\"1\",\"sip:a,b@example.org\"";

static void
test_golden(void)
{
	struct kms_roster_csv csv;

	CU_ASSERT_EQUAL_FATAL(parse(&csv, golden), KMS_OK);
	CU_ASSERT_EQUAL(line, 0);
	CU_ASSERT_EQUAL_FATAL(csv.num_ops, 4);
	CU_ASSERT_EQUAL(csv.ops[0].kind, KMS_ROSTER_ADD_IDENTITY);
	CU_ASSERT_PTR_NULL(csv.ops[0].client_id);
	CU_ASSERT_STRING_EQUAL(csv.ops[0].uri, "sip:alice@example.org");
	CU_ASSERT_EQUAL(csv.lines[0], 3);
	CU_ASSERT_EQUAL(csv.ops[1].kind, KMS_ROSTER_ENTITLE);
	CU_ASSERT_STRING_EQUAL(csv.ops[1].client_id, "sip:mcptt-server@example.org");
	CU_ASSERT_STRING_EQUAL(csv.ops[1].uri, "sip:alice@example.org");
	CU_ASSERT_EQUAL(csv.lines[1], 5);
	CU_ASSERT_EQUAL(csv.ops[2].kind, KMS_ROSTER_REVOKE_IDENTITY);
	CU_ASSERT_STRING_EQUAL(csv.ops[2].uri, "sip:bob@example.org");
	CU_ASSERT_EQUAL(csv.lines[2], 6);
	CU_ASSERT_EQUAL(csv.ops[3].kind, KMS_ROSTER_WITHDRAW);
	CU_ASSERT_STRING_EQUAL(csv.ops[3].client_id, "c\"1");
	CU_ASSERT_STRING_EQUAL(csv.ops[3].uri, "sip:a,b@example.org");
	CU_ASSERT_EQUAL(csv.lines[3], 7);
	kms_roster_csv_cleanup(&csv);
	CU_ASSERT_PTR_NULL(csv.ops);
	kms_roster_csv_cleanup(&csv); /* twice, and NULL */
	kms_roster_csv_cleanup(NULL);
}

static void
test_empty_bom_header(void)
{
	struct kms_roster_csv csv;

	CU_ASSERT_EQUAL(parse_n(&csv, "", 0), KMS_OK);
	CU_ASSERT_EQUAL(csv.num_ops, 0);
	kms_roster_csv_cleanup(&csv);
	CU_ASSERT_EQUAL(parse(&csv, "# only\n\n\r\n"), KMS_OK);
	CU_ASSERT_EQUAL(csv.num_ops, 0);
	kms_roster_csv_cleanup(&csv);
	CU_ASSERT_EQUAL(parse(&csv, "\xef\xbb\xbfidentity,sip:\xc3\xa9@x\n"), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(csv.num_ops, 1);
	CU_ASSERT_STRING_EQUAL(csv.ops[0].uri, "sip:\xc3\xa9@x");
	kms_roster_csv_cleanup(&csv);
	/* A header only first; later "op" is an unknown operation. */
	refused("identity,sip:a\nop,client,uri\n", 29, KMS_ERR_PARSE, 2, "unknown operation");
	/* A BOM not at the start is a character like any other: an unknown operation. */
	refused("\n\xef\xbb\xbfidentity,sip:a\n", 19, KMS_ERR_PARSE, 2, "unknown operation");
	CU_ASSERT_EQUAL(kms_roster_csv_parse(&csv, &line, err, sizeof(err), NULL, 0), KMS_OK);
	kms_roster_csv_cleanup(&csv);
	CU_ASSERT_EQUAL(kms_roster_csv_parse(NULL, &line, err, sizeof(err), NULL, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_roster_csv_parse(&csv, &line, err, 0, NULL, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_roster_csv_parse(&csv, &line, err, sizeof(err), NULL, 1),
			KMS_ERR_INVALID_ARG);
}

static void
test_malformed(void)
{
	refused("identity,\"sip:a\n", 15, KMS_ERR_PARSE, 1, "unterminated");
	refused("identity,\"sip:a", 15, KMS_ERR_PARSE, 1, "unterminated");
	refused("\nidentity,\"sip:a\"x\n", 19, KMS_ERR_PARSE, 2, "after a closing quote");
	refused("identity,sip:\"a\n", 16, KMS_ERR_PARSE, 1, "quote inside");
	refused("identity,sip:a\0b\n", 17, KMS_ERR_PARSE, 1, "control");
	refused("identity,sip:a\rb\n", 17, KMS_ERR_PARSE, 1, "control");
	refused("identity,sip:a\tb\n", 17, KMS_ERR_PARSE, 1, "control");
	refused("identity,sip:a\x7f\n", 16, KMS_ERR_PARSE, 1, "control");
	refused("identity,sip:a\xc2\x85\n", 17, KMS_ERR_PARSE, 1, "control"); /* NEL (C1) */
	refused("identity,sip:a\xff\n", 16, KMS_ERR_PARSE, 1, "UTF-8");
	refused("identity,sip:a\xc0\xaf\n", 17, KMS_ERR_PARSE, 1, "UTF-8");     /* overlong */
	refused("identity,sip:a\xed\xa0\x80\n", 18, KMS_ERR_PARSE, 1, "UTF-8"); /* surrogate */
	refused("# \xff comment\n", 12, KMS_ERR_PARSE, 1, "UTF-8");
	refused("identity,sip:a,b,c\n", 19, KMS_ERR_PARSE, 1, "more than 3 fields");
	refused("identity,a,sip:b\n", 17, KMS_ERR_PARSE, 1, "'identity' wants URI");
	refused("entitle,sip:b\n", 14, KMS_ERR_PARSE, 1, "'entitle' wants CLIENT,URI");
	refused("withdraw,c\n", 11, KMS_ERR_PARSE, 1, "'withdraw' wants");
	refused("revoke-identity\n", 16, KMS_ERR_PARSE, 1, "'revoke-identity' wants URI");
	refused("Identity,sip:a\n", 15, KMS_ERR_PARSE, 1, "unknown operation");
	refused(" identity,sip:a\n", 16, KMS_ERR_PARSE, 1, "unknown operation");
	refused("identity,\n", 10, KMS_ERR_PARSE, 1, "URI:");
	refused("identity,sip:a \n", 16, KMS_ERR_PARSE, 1, "URI:");
	refused("entitle,,sip:a\n", 15, KMS_ERR_PARSE, 1, "CLIENT:");
	refused("entitle,\"a b\",sip:a\n", 20, KMS_ERR_PARSE, 1, "CLIENT:");
	refused("entitle,\xc3\xa9,sip:a\n", 16, KMS_ERR_PARSE, 1, "CLIENT:");
	refused(",\n", 2, KMS_ERR_PARSE, 1, "unknown operation");
}

static void
test_limits(void)
{
	struct kms_roster_csv csv;
	size_t len, n;
	char *buf;

	/* A URI of exactly the maximum, and one byte more. */
	buf = malloc(KMS_ROSTER_CSV_MAX_FILE + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	memcpy(buf, "identity,", 9);
	memset(buf + 9, 'u', KMS_STORE_MAX_URI);
	CU_ASSERT_EQUAL(parse_n(&csv, buf, 9 + KMS_STORE_MAX_URI), KMS_OK);
	CU_ASSERT_EQUAL(csv.num_ops, 1);
	kms_roster_csv_cleanup(&csv);
	buf[9 + KMS_STORE_MAX_URI] = 'u';
	refused(buf, 10 + KMS_STORE_MAX_URI, KMS_ERR_PARSE, 1, "URI:");
	/* A line of the maximum length (a comment), one byte more, and with CRLF. */
	memset(buf, '#', KMS_ROSTER_CSV_MAX_LINE);
	CU_ASSERT_EQUAL(parse_n(&csv, buf, KMS_ROSTER_CSV_MAX_LINE), KMS_OK);
	kms_roster_csv_cleanup(&csv);
	buf[KMS_ROSTER_CSV_MAX_LINE] = '\r';
	buf[KMS_ROSTER_CSV_MAX_LINE + 1] = '\n';
	CU_ASSERT_EQUAL(parse_n(&csv, buf, KMS_ROSTER_CSV_MAX_LINE + 2), KMS_OK);
	kms_roster_csv_cleanup(&csv);
	buf[0] = '\n';
	buf[KMS_ROSTER_CSV_MAX_LINE] = '#';
	buf[KMS_ROSTER_CSV_MAX_LINE + 1] = '#';
	refused(buf, KMS_ROSTER_CSV_MAX_LINE + 2, KMS_ERR_TOO_LARGE, 2, "longer than 8192");
	/* A file one byte over its limit (newlines only: the size alone refuses it). */
	memset(buf, '\n', KMS_ROSTER_CSV_MAX_FILE + 1);
	CU_ASSERT_EQUAL(parse_n(&csv, buf, KMS_ROSTER_CSV_MAX_FILE), KMS_OK);
	kms_roster_csv_cleanup(&csv);
	refused(buf, KMS_ROSTER_CSV_MAX_FILE + 1, KMS_ERR_TOO_LARGE, 0, "larger than");
	/* KMS_STORE_MAX_ROSTER_OPS changes, and one more. */
	len = 0;
	for (n = 0; n <= KMS_STORE_MAX_ROSTER_OPS; n++) {
		memcpy(buf + len, "identity,u\n", 11);
		len += 11;
	}
	CU_ASSERT_EQUAL(parse_n(&csv, buf, len - 11), KMS_OK);
	CU_ASSERT_EQUAL(csv.num_ops, KMS_STORE_MAX_ROSTER_OPS);
	CU_ASSERT_EQUAL(csv.lines[KMS_STORE_MAX_ROSTER_OPS - 1], KMS_STORE_MAX_ROSTER_OPS);
	kms_roster_csv_cleanup(&csv);
	refused(buf, len, KMS_ERR_TOO_LARGE, KMS_STORE_MAX_ROSTER_OPS + 1, "more than 100000");
	/* A reason cut to a small buffer stays a terminated text. */
	CU_ASSERT_EQUAL(kms_roster_csv_parse(&csv, &line, err, 5, (const uint8_t *)"x\n", 2),
			KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(strlen(err), 4);
	free(buf);
}

/* Every prefix of the golden file: either a parse of fewer ops, or a refusal of its last line. */
static void
test_truncation(void)
{
	struct kms_roster_csv csv;
	size_t n, i, nl;
	int r;

	for (n = 0; n <= sizeof(golden) - 1; n++) {
		r = parse_n(&csv, golden, n);
		for (nl = 1, i = 0; i < n; i++) {
			nl += golden[i] == '\n';
		}
		if (r == KMS_OK) {
			CU_ASSERT(csv.num_ops <= 4);
			CU_ASSERT_EQUAL(line, 0);
		} else {
			CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
			CU_ASSERT_EQUAL(line, nl); /* only the cut line can be wrong */
			CU_ASSERT_EQUAL(csv.num_ops, 0);
		}
		kms_roster_csv_cleanup(&csv);
	}
	/* Cut inside the quoted field of the last line: unterminated. */
	refused(golden, sizeof(golden) - 3, KMS_ERR_PARSE, 7, "unterminated");
}

/* Each single bit flipped: never a crash, and any success still holds well-formed ops. */
static void
test_bit_flips(void)
{
	struct kms_roster_csv csv;
	char buf[sizeof(golden)];
	size_t i, k, bit;
	int r;

	for (i = 0; i < sizeof(golden) - 1; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(buf, golden, sizeof(golden));
			buf[i] = (char)(buf[i] ^ (1 << bit));
			r = parse_n(&csv, buf, sizeof(golden) - 1);
			CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
			for (k = 0; r == KMS_OK && k < csv.num_ops; k++) {
				CU_ASSERT(strlen(csv.ops[k].uri) >= 1);
				CU_ASSERT_PTR_NULL(strchr(csv.ops[k].uri, ' '));
			}
			if (r != KMS_OK) {
				CU_ASSERT(line >= 1 && line <= 7);
			}
			kms_roster_csv_cleanup(&csv);
		}
	}
}

static CU_TestInfo csv_tests[] = {
	{"golden file", test_golden},
	{"empty file, BOM, header", test_empty_bom_header},
	{"malformed lines", test_malformed},
	{"limits", test_limits},
	{"truncation at every offset", test_truncation},
	{"bit flips", test_bit_flips},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"roster-csv", NULL, NULL, NULL, NULL, csv_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
