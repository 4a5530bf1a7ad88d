/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "common/err.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#ifndef KMS_SOURCE_DIR
#error "KMS_SOURCE_DIR must name the source tree (tests/unit/CMakeLists.txt)"
#endif

#define MAX_CODES 100
#define NAME_MAX_ 64

struct code {
	char name[NAME_MAX_];
	long value;
};

/* The codes declared in common/err.h, and those listed in docs/errors.md. */
static struct code header[MAX_CODES], doc[MAX_CODES];
static size_t num_header, num_doc;

/* Parse a decimal integer that must fill the whole of [s, s+len). */
static int
parse_long(const char *s, size_t len, long *out)
{
	char buf[32];
	char *end;

	if (len == 0 || len >= sizeof(buf)) {
		return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtol(buf, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/*
 * Collect (name, value) pairs from each line of path that matches pattern, whose first group
 * is the name and second the value. between, if not NULL, restricts the search to the lines
 * after the one that contains it, up to the first line starting with "};".
 */
static int
collect(const char *path, const char *pattern, int name_group, int value_group, const char *between,
	struct code *out, size_t *out_num)
{
	char line[512];
	regex_t re;
	regmatch_t m[4];
	FILE *f;
	int inside = between == NULL;
	size_t len;
	int r = 0;

	*out_num = 0;
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	if (regcomp(&re, pattern, REG_EXTENDED) != 0) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!inside) {
			inside = strstr(line, between) != NULL;
			continue;
		}
		if (between != NULL && strncmp(line, "};", 2) == 0) {
			break;
		}
		if (regexec(&re, line, 4, m, 0) != 0) {
			continue;
		}
		if (*out_num == MAX_CODES) {
			r = -1;
			break;
		}
		len = (size_t)(m[name_group].rm_eo - m[name_group].rm_so);
		if (len >= NAME_MAX_ ||
		    parse_long(line + m[value_group].rm_so,
			       (size_t)(m[value_group].rm_eo - m[value_group].rm_so),
			       &out[*out_num].value) != 0) {
			r = -1;
			break;
		}
		memcpy(out[*out_num].name, line + m[name_group].rm_so, len);
		out[*out_num].name[len] = '\0';
		(*out_num)++;
	}
	regfree(&re);
	fclose(f);
	return r;
}

#define SP "[[:space:]]*"

/* "	KMS_ERR_PARSE = -20, (comment)" inside "enum kms_err {" ... "};" */
static const char header_re[] = "^" SP "(KMS_[A-Z0-9_]+)" SP "=" SP "(-?[0-9]+)" SP "(,|/\\*|$)";

/* "| -20 | `KMS_ERR_PARSE` | malformed input |" */
static const char doc_re[] = "^\\|" SP "(-?[0-9]+)" SP "\\|" /* number */
	SP "`(KMS_[A-Z0-9_]+)`" SP "\\|"                     /* name */
	SP "[^|[:space:]][^|]*\\|" SP "$";                   /* meaning, not empty */

static int
suite_init(void)
{
	if (collect(KMS_SOURCE_DIR "/common/err.h", header_re, 1, 2, "enum kms_err {", header,
		    &num_header) != 0) {
		return 1;
	}
	if (collect(KMS_SOURCE_DIR "/docs/errors.md", doc_re, 2, 1, NULL, doc, &num_doc) != 0) {
		return 1;
	}
	return 0;
}

static const struct code *
find(const struct code *codes, size_t num, const char *name)
{
	size_t i;

	for (i = 0; i < num; i++) {
		if (strcmp(codes[i].name, name) == 0) {
			return &codes[i];
		}
	}
	return NULL;
}

/* The parse found the header's enum at all (guards the other tests against a vacuous pass). */
static void
test_header_parsed(void)
{
	const struct code *c;

	CU_ASSERT(num_header >= 20);
	c = find(header, num_header, "KMS_OK");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->value, KMS_OK);
	c = find(header, num_header, "KMS_ERR_PARSE");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->value, KMS_ERR_PARSE);
	c = find(header, num_header, "KMS_ERR_IO");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->value, KMS_ERR_IO);
}

/* Each code of err.h: its own name, a real message, a distinct number, inside the bands. */
static void
test_names_and_messages(void)
{
	size_t i, j;
	const char *name, *msg;

	for (i = 0; i < num_header; i++) {
		const struct code *c = &header[i];

		CU_ASSERT(c->value <= 0 && c->value >= -99);
		name = kms_err_name((int)c->value);
		msg = kms_strerror((int)c->value);
		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT_STRING_EQUAL(name, c->name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
		CU_ASSERT(strlen(msg) > 0);
		CU_ASSERT_STRING_NOT_EQUAL(msg, "unknown error");
		for (j = 0; j < i; j++) {
			CU_ASSERT_NOT_EQUAL(c->value, header[j].value);
			CU_ASSERT_STRING_NOT_EQUAL(c->name, header[j].name);
			CU_ASSERT_STRING_NOT_EQUAL(msg, kms_strerror((int)header[j].value));
		}
	}
}

/* err.c knows no code that err.h does not declare. */
static void
test_no_extra_codes(void)
{
	size_t known = 0;
	size_t i;
	int v, found;

	for (v = -1000; v <= 1000; v++) {
		if (kms_err_name(v) == NULL) {
			CU_ASSERT_STRING_EQUAL(kms_strerror(v), "unknown error");
			continue;
		}
		known++;
		found = 0;
		for (i = 0; i < num_header; i++) {
			found |= header[i].value == v;
		}
		CU_ASSERT(found);
	}
	CU_ASSERT_EQUAL(known, num_header);
}

static void
test_unknown(void)
{
	static const int unknown[] = {1, 42, -9, -19, -27, -39, -100, INT_MIN, INT_MAX};
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		CU_ASSERT_PTR_NULL(kms_err_name(unknown[i]));
		CU_ASSERT_PTR_NOT_NULL_FATAL(kms_strerror(unknown[i]));
		CU_ASSERT_STRING_EQUAL(kms_strerror(unknown[i]), "unknown error");
	}
}

/* docs/errors.md lists exactly the codes of err.h, each once, with its number. */
static void
test_docs_match_header(void)
{
	const struct code *c;
	size_t i, j;

	CU_ASSERT_EQUAL(num_doc, num_header);
	for (i = 0; i < num_header; i++) {
		c = find(doc, num_doc, header[i].name);
		if (c == NULL) {
			fprintf(stderr, "\n%s is missing from docs/errors.md\n", header[i].name);
		}
		CU_ASSERT_PTR_NOT_NULL(c);
		if (c != NULL) {
			CU_ASSERT_EQUAL(c->value, header[i].value);
		}
	}
	for (i = 0; i < num_doc; i++) {
		if (find(header, num_header, doc[i].name) == NULL) {
			fprintf(stderr, "\ndocs/errors.md lists %s, unknown to err.h\n",
				doc[i].name);
			CU_FAIL("docs/errors.md lists a code that err.h does not declare");
		}
		for (j = 0; j < i; j++) {
			CU_ASSERT_STRING_NOT_EQUAL(doc[i].name, doc[j].name);
			CU_ASSERT_NOT_EQUAL(doc[i].value, doc[j].value);
		}
	}
}

static CU_TestInfo err_tests[] = {
	{"err.h parsed", test_header_parsed},
	{"every code has its name and a message", test_names_and_messages},
	{"no codes beyond err.h", test_no_extra_codes},
	{"unknown codes", test_unknown},
	{"docs/errors.md matches err.h", test_docs_match_header},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"err", suite_init, NULL, NULL, NULL, err_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
