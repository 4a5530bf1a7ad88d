/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/conf.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/*
 * common/conf: every rule of the format with its exact message (and line), every type's good
 * and bad values, the limits at and one past each bound, secrets kept out of messages, the key
 * table's own rules, the getters' contract and the file checks of kms_conf_load().
 */

#define NAME         "t.conf"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A kms-hsmd-like table: one key of each type, required, repeatable, secret and hex keys. */
static const char *const issuers[] = {"online", "pre-minted", NULL};
static const struct kms_conf_key keys[] = {
	{.name = "module", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
	{.name = "token", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "issuer", .type = KMS_CONF_ENUM, .words = issuers, .def = "online"},
	{.name = "workers", .type = KMS_CONF_U64, .min = 1, .max = 64, .def = "4"},
	{.name = "verbose", .type = KMS_CONF_BOOL, .def = "no"},
	{.name = "socket-mode", .type = KMS_CONF_MODE, .def = "0660"},
	{.name = "mechanism",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REPEATABLE | KMS_CONF_HEX,
	 .max = UINT64_MAX},
	{.name = "allow", .type = KMS_CONF_STRING, .flags = KMS_CONF_REPEATABLE},
	{.name = "listen",
	 .type = KMS_CONF_STRING,
	 .flags = KMS_CONF_REPEATABLE,
	 .def = "\"[::1]:8443\""},
	{.name = "passphrase", .type = KMS_CONF_STRING, .flags = KMS_CONF_SECRET},
	{.name = "banner", .type = KMS_CONF_STRING},
	{.name = "slot", .type = KMS_CONF_U64, .max = UINT64_MAX},
};

/* The two required keys: value tests append their line as line 3. */
#define BASE "module = /usr/lib/softhsm/libsofthsm2.so\ntoken = kms-dev\n"

static char err[KMS_CONF_ERR_LEN];

/* malloc, or abort: the test cannot go on without its buffers. */
static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "test_conf: out of memory\n");
		abort();
	}
	return p;
}

static int
parse_with(const struct kms_conf_key *table, size_t num, const char *text, size_t len,
	   struct kms_conf **out)
{
	return kms_conf_parse(out, err, sizeof(err), table, num, NAME, (const uint8_t *)text, len);
}

/* Parse text (len bytes) with table: it must fail with want_r and exactly the message want. */
static void
expect_fail_at(int at, const struct kms_conf_key *table, size_t num, const char *text, size_t len,
	       int want_r, const char *want)
{
	struct kms_conf *conf = NULL;
	int r = parse_with(table, num, text, len, &conf);

	CU_ASSERT_EQUAL(r, want_r);
	CU_ASSERT_PTR_NULL(conf);
	CU_ASSERT_STRING_EQUAL(err, want);
	if (r != want_r || strcmp(err, want) != 0) {
		fprintf(stderr, "\ntest_conf.c:%d: got %d \"%s\"\n  want %d \"%s\"\n", at, r, err,
			want_r, want);
	}
	kms_conf_free(conf);
}

#define EXPECT_FAIL(text, want)                                                                    \
	expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), text, sizeof(text) - 1, KMS_ERR_PARSE, want)
#define EXPECT_FAIL_N(text, len, want)                                                             \
	expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), text, len, KMS_ERR_PARSE, want)

/* Parse text (NUL-terminated) with the main table: it must succeed. */
static struct kms_conf *
parse_ok_at(int at, const char *text)
{
	struct kms_conf *conf = NULL;
	int r = parse_with(keys, ARRAY_LEN(keys), text, strlen(text), &conf);

	CU_ASSERT_EQUAL(r, KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(conf);
	CU_ASSERT_STRING_EQUAL(err, "");
	if (r != KMS_OK) {
		fprintf(stderr, "\ntest_conf.c:%d: unexpected failure %d \"%s\"\n", at, r, err);
	}
	return conf;
}

#define PARSE_OK(text) parse_ok_at(__LINE__, text)

/* The string value i of key, or "" (with a failed assertion) when there is none. */
static const char *
str_of(const struct kms_conf *conf, const char *key, size_t i)
{
	const char *s = NULL;

	CU_ASSERT_EQUAL(kms_conf_str(conf, key, i, &s), KMS_OK);
	return s != NULL ? s : "";
}

static uint64_t
u64_of(const struct kms_conf *conf, const char *key, size_t i)
{
	uint64_t v = 12345;

	CU_ASSERT_EQUAL(kms_conf_u64(conf, key, i, &v), KMS_OK);
	return v;
}

/* One value line after BASE: it parses, and key's string value is want. */
static void
expect_str_at(int at, const char *line, const char *key, const char *want)
{
	char text[512];
	struct kms_conf *conf;

	(void)snprintf(text, sizeof(text), BASE "%s\n", line);
	conf = parse_ok_at(at, text);
	if (conf != NULL) {
		const char *s = str_of(conf, key, 0);

		CU_ASSERT_STRING_EQUAL(s, want);
		if (strcmp(s, want) != 0) {
			fprintf(stderr, "\ntest_conf.c:%d: got \"%s\", want \"%s\"\n", at, s, want);
		}
	}
	kms_conf_free(conf);
}

#define EXPECT_STR(line, key, want) expect_str_at(__LINE__, line, key, want)

/* ---- a whole file ---- */

static void
test_golden(void)
{
	static const char text[] = "# kms-hsmd.conf\n"
				   "\n"
				   "module = /usr/lib/softhsm/libsofthsm2.so\n"
				   "  token=kms-dev  \n"
				   "\tissuer\t=\tpre-minted\n"
				   "workers = 64\n"
				   "verbose = yes\n"
				   "socket-mode = 0640\n"
				   "   # indented comment\n"
				   "mechanism = 0x80000001\n"
				   "mechanism = 4242\n"
				   "allow = CN=kmsd # not a comment\n"
				   "banner = \"  hello \\\"world\\\" \\\\ \"\n"
				   "slot = 18446744073709551615"; /* no final newline */
	struct kms_conf *conf = PARSE_OK(text);
	size_t idx = 99;
	bool b = false;
	mode_t m = 0;

	if (conf == NULL) {
		return;
	}
	CU_ASSERT_STRING_EQUAL(str_of(conf, "module", 0), "/usr/lib/softhsm/libsofthsm2.so");
	CU_ASSERT_EQUAL(kms_conf_line(conf, "module", 0), 3);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "token", 0), "kms-dev");
	CU_ASSERT_EQUAL(kms_conf_line(conf, "token", 0), 4);
	CU_ASSERT_EQUAL(kms_conf_enum(conf, "issuer", 0, &idx), KMS_OK);
	CU_ASSERT_EQUAL(idx, 1);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "issuer", 0), "pre-minted");
	CU_ASSERT_EQUAL(u64_of(conf, "workers", 0), 64);
	CU_ASSERT_EQUAL(kms_conf_bool(conf, "verbose", 0, &b), KMS_OK);
	CU_ASSERT(b);
	CU_ASSERT_EQUAL(kms_conf_mode(conf, "socket-mode", 0, &m), KMS_OK);
	CU_ASSERT_EQUAL(m, 0640);
	CU_ASSERT_EQUAL(kms_conf_count(conf, "mechanism"), 2);
	CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 0), 0x80000001u);
	CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 1), 4242);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "mechanism", 0), 10);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "mechanism", 1), 11);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "allow", 0), "CN=kmsd # not a comment");
	CU_ASSERT_STRING_EQUAL(str_of(conf, "banner", 0), "  hello \"world\" \\ ");
	CU_ASSERT_EQUAL(kms_conf_line(conf, "banner", 0), 13);
	CU_ASSERT_EQUAL(u64_of(conf, "slot", 0), UINT64_MAX);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "slot", 0), 14);
	/* listen was not set: its default. passphrase has no default: no value. */
	CU_ASSERT_STRING_EQUAL(str_of(conf, "listen", 0), "[::1]:8443");
	CU_ASSERT_EQUAL(kms_conf_count(conf, "passphrase"), 0);
	kms_conf_free(conf);
}

static void
test_defaults(void)
{
	struct kms_conf *conf = PARSE_OK(BASE);
	const char *s = "x";
	size_t idx = 99;
	bool b = true;
	mode_t m = 0;
	uint64_t v = 7;

	if (conf == NULL) {
		return;
	}
	CU_ASSERT_EQUAL(kms_conf_enum(conf, "issuer", 0, &idx), KMS_OK);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(u64_of(conf, "workers", 0), 4);
	CU_ASSERT_EQUAL(kms_conf_bool(conf, "verbose", 0, &b), KMS_OK);
	CU_ASSERT(!b);
	CU_ASSERT_EQUAL(kms_conf_mode(conf, "socket-mode", 0, &m), KMS_OK);
	CU_ASSERT_EQUAL(m, 0660);
	/* A default counts as one value, from line 0. */
	CU_ASSERT_EQUAL(kms_conf_count(conf, "workers"), 1);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "workers", 0), 0);
	CU_ASSERT_EQUAL(kms_conf_count(conf, "listen"), 1);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "listen", 0), "[::1]:8443");
	/* Optional keys without a default and not in the file have no value. */
	CU_ASSERT_EQUAL(kms_conf_count(conf, "slot"), 0);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "slot", 0), 0);
	CU_ASSERT_EQUAL(kms_conf_u64(conf, "slot", 0, &v), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "banner", 0, &s), KMS_ERR_RANGE);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(kms_conf_count(conf, "mechanism"), 0);
	kms_conf_free(conf);
}

static void
test_required(void)
{
	static const struct kms_conf_key optional[] = {
		{.name = "a", .type = KMS_CONF_STRING},
		{.name = "b", .type = KMS_CONF_U64, .max = 9, .def = "9"},
	};
	struct kms_conf *conf = NULL;

	EXPECT_FAIL("", NAME ": missing required key 'module'");
	EXPECT_FAIL("# only a comment\n\n", NAME ": missing required key 'module'");
	EXPECT_FAIL("token = x\n", NAME ": missing required key 'module'");
	EXPECT_FAIL("module = /x\n", NAME ": missing required key 'token'");
	/* An empty file is fine when nothing is required. */
	CU_ASSERT_EQUAL(parse_with(optional, ARRAY_LEN(optional), "", 0, &conf), KMS_OK);
	CU_ASSERT_EQUAL(kms_conf_count(conf, "a"), 0);
	CU_ASSERT_EQUAL(u64_of(conf, "b", 0), 9);
	kms_conf_free(conf);
	conf = NULL;
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), optional, ARRAY_LEN(optional), NAME,
				       NULL, 0),
			KMS_OK);
	kms_conf_free(conf);
	conf = NULL;
	/* And so is an empty table. */
	CU_ASSERT_EQUAL(parse_with(NULL, 0, "", 0, &conf), KMS_OK);
	kms_conf_free(conf);
}

/* The line of an error counts comment and blank lines, and the lines of a last unended line. */
static void
test_line_numbers(void)
{
	EXPECT_FAIL("# a\n\n   \n\t\n" BASE "# b\n\nworkers = 0\n",
		    NAME ":9: 'workers' must be between 1 and 64 (got '0')");
	EXPECT_FAIL(BASE "\n\nworkers = 0",
		    NAME ":5: 'workers' must be between 1 and 64 (got '0')");
	EXPECT_FAIL("\n\n\n\nmodul = /x\n",
		    NAME ":5: unknown key 'modul' (did you mean 'module'?)");
	/* The first error in file order wins, before any missing key. */
	EXPECT_FAIL("workers = 0\nverbose = maybe\n",
		    NAME ":1: 'workers' must be between 1 and 64 (got '0')");
}

static void
test_duplicates(void)
{
	EXPECT_FAIL(BASE "workers = 2\ntoken = other\n",
		    NAME ":4: duplicate key 'token' (first set on line 2)");
	/* Even with the same value; and a duplicate of a key that has a default. */
	EXPECT_FAIL(BASE "\nworkers = 2\n# x\nworkers = 2\n",
		    NAME ":6: duplicate key 'workers' (first set on line 4)");
}

static void
test_repeatable(void)
{
	struct kms_conf *conf =
		PARSE_OK("allow = a\n" BASE "allow = b\n# c\nallow = a\nlisten = 0.0.0.0:443\n");
	const char *s = "x";

	if (conf == NULL) {
		return;
	}
	CU_ASSERT_EQUAL(kms_conf_count(conf, "allow"), 3);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "allow", 0), "a");
	CU_ASSERT_STRING_EQUAL(str_of(conf, "allow", 1), "b");
	CU_ASSERT_STRING_EQUAL(str_of(conf, "allow", 2), "a");
	CU_ASSERT_EQUAL(kms_conf_line(conf, "allow", 0), 1);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "allow", 1), 4);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "allow", 2), 6);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "allow", 3), 0);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "allow", 3, &s), KMS_ERR_RANGE);
	CU_ASSERT_PTR_NULL(s);
	/* Lines in the file replace a repeatable key's default. */
	CU_ASSERT_EQUAL(kms_conf_count(conf, "listen"), 1);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "listen", 0), "0.0.0.0:443");
	kms_conf_free(conf);

	/* Each value of a repeatable key is checked like any other. */
	EXPECT_FAIL(BASE "mechanism = 1\nmechanism = 0xz\n",
		    NAME ":4: 'mechanism' must be a decimal or 0x hexadecimal number (got '0xz')");
}

/* ---- keys ---- */

static void
test_unknown_keys(void)
{
	static const struct kms_conf_key twins[] = {
		{.name = "abc", .type = KMS_CONF_STRING},
		{.name = "abd", .type = KMS_CONF_STRING},
		{.name = "id", .type = KMS_CONF_STRING},
	};

	EXPECT_FAIL(BASE "modul = /x\n", NAME ":3: unknown key 'modul' (did you mean 'module'?)");
	EXPECT_FAIL(BASE "tokne = x\n", NAME ":3: unknown key 'tokne' (did you mean 'token'?)");
	EXPECT_FAIL(BASE "wrokerz = 1\n",
		    NAME ":3: unknown key 'wrokerz' (did you mean 'workers'?)");
	EXPECT_FAIL(BASE "sockets-mod = 1\n",
		    NAME ":3: unknown key 'sockets-mod' (did you mean 'socket-mode'?)");
	EXPECT_FAIL(BASE "pin = 1234\n",
		    NAME ":3: unknown key 'pin' (known: module, token, issuer, workers, verbose, "
			 "socket-mode, mechanism, allow, listen, passphrase, banner, slot)");
	/* Two keys equally close: no guess. */
	expect_fail_at(__LINE__, twins, ARRAY_LEN(twins), "ab = 1\n", 7, KMS_ERR_PARSE,
		       NAME ":1: unknown key 'ab' (known: abc, abd, id)");
	expect_fail_at(__LINE__, twins, ARRAY_LEN(twins), "abx = 1\n", 8, KMS_ERR_PARSE,
		       NAME ":1: unknown key 'abx' (known: abc, abd, id)");
	expect_fail_at(__LINE__, twins, ARRAY_LEN(twins), "abce = 1\n", 9, KMS_ERR_PARSE,
		       NAME ":1: unknown key 'abce' (did you mean 'abc'?)");
	/* A one-letter key is within 2 of every short key: no guess. */
	expect_fail_at(__LINE__, twins, ARRAY_LEN(twins), "i = 1\n", 6, KMS_ERR_PARSE,
		       NAME ":1: unknown key 'i' (known: abc, abd, id)");
	expect_fail_at(__LINE__, NULL, 0, "a = 1\n", 6, KMS_ERR_PARSE,
		       NAME ":1: unknown key 'a' (no keys are known)");
	/* Keys are case-sensitive (and lower case). */
	EXPECT_FAIL(BASE "Workers = 1\n",
		    NAME ":3: invalid key 'Workers' (a key is 1 to 64 characters among a-z, 0-9, "
			 "'_', '.' and '-')");
}

static void
test_bad_keys(void)
{
	char text[256];
	int n;

	EXPECT_FAIL(BASE "work ers = 1\n",
		    NAME ":3: invalid key 'work ers' (a key is 1 to 64 characters among a-z, 0-9, "
			 "'_', '.' and '-')");
	EXPECT_FAIL(BASE "wörkers = 1\n",
		    NAME ":3: invalid key 'wörkers' (a key is 1 to 64 characters among a-z, 0-9, "
			 "'_', '.' and '-')");
	EXPECT_FAIL(BASE "= 1\n", NAME ":3: missing key before '='");
	EXPECT_FAIL(BASE "  \t= 1\n", NAME ":3: missing key before '='");
	/* A line without '=' is not quoted back: it may be a secret pasted in the wrong place. */
	EXPECT_FAIL(BASE "hunter2\n", NAME ":3: expected 'key = value' (this line has no '=')");
	EXPECT_FAIL(BASE "workers 4\n", NAME ":3: expected 'key = value' (this line has no '=')");
	/* 64 characters are a key; 65 are not (and the quote is cut). */
	n = snprintf(text, sizeof(text), "%.64s = 1\n",
		     "k123456789012345678901234567890123456789012345678901234567890123456789");
	CU_ASSERT(n > 0);
	EXPECT_FAIL_N(text, strlen(text),
		      NAME ":1: unknown key "
			   "'k123456789012345678901234567890123456789012345678901234567890123' "
			   "(known: module, token, issuer, workers, verbose, socket-mode, "
			   "mechanism, allow, listen, passphrase, banner, slot)");
	(void)snprintf(text, sizeof(text), "%.65s = 1\n",
		       "k123456789012345678901234567890123456789012345678901234567890123456789");
	EXPECT_FAIL_N(text, strlen(text),
		      NAME ":1: invalid key "
			   "'k123456789012345678901234567890123456789012345678901234567890123...' "
			   "(a key is 1 to 64 characters among a-z, 0-9, '_', '.' and '-')");
}

/* ---- values ---- */

static void
test_whitespace(void)
{
	EXPECT_STR("banner=x", "banner", "x");
	EXPECT_STR("   banner   =   x   ", "banner", "x");
	EXPECT_STR("\tbanner\t=\tx\t", "banner", "x");
	EXPECT_STR("banner = a \t b", "banner", "a \t b");
	EXPECT_STR("banner = x = y", "banner", "x = y");
	EXPECT_STR("banner = #x", "banner", "#x");
	EXPECT_STR("banner = é € 𝄞", "banner", "é € 𝄞");
	EXPECT_FAIL(BASE "banner =\n", NAME ":3: 'banner' has no value");
	EXPECT_FAIL(BASE "banner =  \t \n", NAME ":3: 'banner' has no value");
	EXPECT_FAIL(BASE "banner", NAME ":3: expected 'key = value' (this line has no '=')");
}

static void
test_quotes(void)
{
	EXPECT_STR("banner = \"  x  \"", "banner", "  x  ");
	EXPECT_STR("banner = \"\"", "banner", "");
	EXPECT_STR("banner = \"a\\\"b\\\\c\"", "banner", "a\"b\\c");
	EXPECT_STR("banner = \"\\\\\"", "banner", "\\");
	EXPECT_STR("banner = \"#=\"   ", "banner", "#=");
	/* Quotes only count at the start: elsewhere they are text, and so are backslashes. */
	EXPECT_STR("banner = say \"hi\"", "banner", "say \"hi\"");
	EXPECT_STR("banner = a\\nb", "banner", "a\\nb");
	EXPECT_STR("banner = x\"", "banner", "x\"");
	/* Any type may be quoted. */
	EXPECT_STR("issuer = \"pre-minted\"", "issuer", "pre-minted");
	EXPECT_FAIL(BASE "workers = \" 4\"\n",
		    NAME ":3: 'workers' must be a decimal number (got ' 4')");

	EXPECT_FAIL(BASE "banner = \"abc\n",
		    NAME ":3: unterminated quoted value of 'banner' (it must end with '\"' at the "
			 "end of the line)");
	EXPECT_FAIL(BASE "banner = \"\n",
		    NAME ":3: unterminated quoted value of 'banner' (it must end with '\"' at the "
			 "end of the line)");
	EXPECT_FAIL(BASE "banner = \"abc\\\"\n",
		    NAME ":3: unterminated quoted value of 'banner' (it must end with '\"' at the "
			 "end of the line)");
	EXPECT_FAIL(BASE "banner = \"abc\\\n",
		    NAME ":3: unterminated quoted value of 'banner' (it must end with '\"' at the "
			 "end of the line)");
	EXPECT_FAIL(BASE "banner = \"a\\nb\"\n",
		    NAME ":3: bad escape in the quoted value of 'banner' at column 12 (only \\\" "
			 "and \\\\ are escapes)");
	EXPECT_FAIL(BASE "banner = \"é\\t\"\n",
		    NAME ":3: bad escape in the quoted value of 'banner' at column 12 (only \\\" "
			 "and \\\\ are escapes)");
	EXPECT_FAIL(BASE "banner = \"a\"b\n",
		    NAME ":3: text after the closing quote of 'banner' at column 13");
	EXPECT_FAIL(BASE "banner = \"a\" \"b\"\n",
		    NAME ":3: text after the closing quote of 'banner' at column 13");
}

static void
test_bool(void)
{
	static const char *const words[] = {"yes", "no", "true", "false", "on", "off"};
	struct kms_conf *conf;
	bool b;
	size_t i;

	for (i = 0; i < ARRAY_LEN(words); i++) {
		char text[128];

		(void)snprintf(text, sizeof(text), BASE "verbose = %s\n", words[i]);
		conf = PARSE_OK(text);
		b = i % 2 == 0 ? false : true;
		CU_ASSERT_EQUAL(kms_conf_bool(conf, "verbose", 0, &b), KMS_OK);
		CU_ASSERT_EQUAL(b, i % 2 == 0);
		kms_conf_free(conf);
	}
	EXPECT_FAIL(BASE "verbose = Yes\n",
		    NAME ":3: 'verbose' must be yes, no, true, false, on or off (got 'Yes')");
	EXPECT_FAIL(BASE "verbose = 1\n",
		    NAME ":3: 'verbose' must be yes, no, true, false, on or off (got '1')");
	EXPECT_FAIL(BASE "verbose = yess\n",
		    NAME ":3: 'verbose' must be yes, no, true, false, on or off (got 'yess')");
	EXPECT_FAIL(BASE "verbose = \"\"\n",
		    NAME ":3: 'verbose' must be yes, no, true, false, on or off (got '')");
}

static void
test_u64(void)
{
	struct kms_conf *conf;

	conf = PARSE_OK(BASE
			"workers = 1\nslot = 0\nmechanism = 0x0\nmechanism = 0xFFFFFFFFFFFFFFFF\n"
			"mechanism = 0x00000000000000000001\nmechanism = 0xaBcD\n"
			"mechanism = 18446744073709551615\n");
	if (conf != NULL) {
		CU_ASSERT_EQUAL(u64_of(conf, "workers", 0), 1);
		CU_ASSERT_EQUAL(u64_of(conf, "slot", 0), 0);
		CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 0), 0);
		CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 1), UINT64_MAX);
		CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 2), 1);
		CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 3), 0xabcd);
		CU_ASSERT_EQUAL(u64_of(conf, "mechanism", 4), UINT64_MAX);
	}
	kms_conf_free(conf);

	EXPECT_FAIL(BASE "workers = 0\n", NAME ":3: 'workers' must be between 1 and 64 (got '0')");
	EXPECT_FAIL(BASE "workers = 65\n",
		    NAME ":3: 'workers' must be between 1 and 64 (got '65')");
	EXPECT_FAIL(BASE "slot = 18446744073709551616\n",
		    NAME ":3: 'slot' must be between 0 and 18446744073709551615 (got "
			 "'18446744073709551616')");
	EXPECT_FAIL(BASE "slot = 99999999999999999999999999\n",
		    NAME ":3: 'slot' must be between 0 and 18446744073709551615 (got "
			 "'99999999999999999999999999')");
	EXPECT_FAIL(BASE "workers = 18446744073709551616\n",
		    NAME ":3: 'workers' must be between 1 and 64 (got '18446744073709551616')");
	EXPECT_FAIL(BASE "workers = +5\n",
		    NAME ":3: 'workers' must be a decimal number (got '+5')");
	EXPECT_FAIL(BASE "workers = -1\n",
		    NAME ":3: 'workers' must be a decimal number (got '-1')");
	EXPECT_FAIL(BASE "workers = 1 0\n",
		    NAME ":3: 'workers' must be a decimal number (got '1 0')");
	EXPECT_FAIL(BASE "workers = 1_0\n",
		    NAME ":3: 'workers' must be a decimal number (got '1_0')");
	EXPECT_FAIL(BASE "workers = 4.0\n",
		    NAME ":3: 'workers' must be a decimal number (got '4.0')");
	EXPECT_FAIL(BASE "workers = 1e3\n",
		    NAME ":3: 'workers' must be a decimal number (got '1e3')");
	EXPECT_FAIL(BASE "workers = ４\n",
		    NAME ":3: 'workers' must be a decimal number (got '４')");
	EXPECT_FAIL(BASE "workers = 007\n", NAME
		    ":3: 'workers' must be a decimal number without leading zeros (got '007')");
	EXPECT_FAIL(BASE "slot = 00\n",
		    NAME ":3: 'slot' must be a decimal number without leading zeros (got '00')");
	/* Hexadecimal only where declared. */
	EXPECT_FAIL(BASE "workers = 0x10\n",
		    NAME ":3: 'workers' must be a decimal number, not hexadecimal (got '0x10')");
	EXPECT_FAIL(BASE "workers = 0X10\n",
		    NAME ":3: 'workers' must be a decimal number, not hexadecimal (got '0X10')");
	EXPECT_FAIL(BASE "workers = a\n", NAME ":3: 'workers' must be a decimal number (got 'a')");
	EXPECT_FAIL(BASE "mechanism = 0X10\n",
		    NAME ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got '0X10')");
	EXPECT_FAIL(BASE "mechanism = 0x\n",
		    NAME ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got '0x')");
	EXPECT_FAIL(BASE "mechanism = 0x-1\n",
		    NAME ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got '0x-1')");
	EXPECT_FAIL(BASE "mechanism = 0x 1\n",
		    NAME ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got '0x 1')");
	EXPECT_FAIL(BASE "mechanism = 0x0x1\n", NAME
		    ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got '0x0x1')");
	EXPECT_FAIL(BASE "mechanism = ff\n",
		    NAME ":3: 'mechanism' must be a decimal or 0x hexadecimal number (got 'ff')");
	EXPECT_FAIL(BASE "mechanism = 0x10000000000000000\n",
		    NAME ":3: 'mechanism' must be between 0 and 18446744073709551615 (got "
			 "'0x10000000000000000')");
}

static void
test_enum(void)
{
	EXPECT_STR("issuer = online", "issuer", "online");
	EXPECT_FAIL(BASE "issuer = onlin\n",
		    NAME ":3: 'issuer' must be one of online, pre-minted (got 'onlin')");
	EXPECT_FAIL(BASE "issuer = Online\n",
		    NAME ":3: 'issuer' must be one of online, pre-minted (got 'Online')");
	EXPECT_FAIL(BASE "issuer = online pre-minted\n",
		    NAME ":3: 'issuer' must be one of online, pre-minted (got 'online "
			 "pre-minted')");
}

static void
test_path(void)
{
	char *text = xmalloc(KMS_CONF_MAX_PATH + 64);
	struct kms_conf *conf;
	int n;

	EXPECT_FAIL("module = lib/softhsm2.so\n",
		    NAME ":1: 'module' must be an absolute path (got 'lib/softhsm2.so')");
	EXPECT_FAIL("module = ./x\n", NAME ":1: 'module' must be an absolute path (got './x')");
	EXPECT_FAIL("module = ~/x\n", NAME ":1: 'module' must be an absolute path (got '~/x')");
	EXPECT_FAIL("module = \"\"\n", NAME ":1: 'module' must be an absolute path (got '')");
	EXPECT_FAIL("module = \" /x\"\n", NAME ":1: 'module' must be an absolute path (got ' /x')");
	/* KMS_CONF_MAX_PATH bytes, then one more. */
	n = snprintf(text, KMS_CONF_MAX_PATH + 64, "token = t\nmodule = /%0*d\n",
		     (int)KMS_CONF_MAX_PATH - 1, 0);
	CU_ASSERT(n > 0);
	conf = PARSE_OK(text);
	if (conf != NULL) {
		CU_ASSERT_EQUAL(strlen(str_of(conf, "module", 0)), KMS_CONF_MAX_PATH);
	}
	kms_conf_free(conf);
	(void)snprintf(text, KMS_CONF_MAX_PATH + 64, "token = t\nmodule = /%0*d\n",
		       (int)KMS_CONF_MAX_PATH, 0);
	EXPECT_FAIL_N(text, strlen(text), NAME ":2: 'module' is a path longer than 4095 bytes");
	free(text);
}

static void
test_mode(void)
{
	static const struct {
		const char *text;
		mode_t want;
	} good[] = {{"0", 0}, {"600", 0600}, {"0640", 0640}, {"2750", 02750}, {"7777", 07777}};
	static const char *const bad[] = {"8",    "01234", "0o600",     "0x1a4", "-600",
					  "+600", "6 00",  "rw-r--r--", "\"\""};
	char text[128], want[256];
	struct kms_conf *conf;
	mode_t m;
	size_t i;

	for (i = 0; i < ARRAY_LEN(good); i++) {
		(void)snprintf(text, sizeof(text), BASE "socket-mode = %s\n", good[i].text);
		conf = PARSE_OK(text);
		m = 01;
		CU_ASSERT_EQUAL(kms_conf_mode(conf, "socket-mode", 0, &m), KMS_OK);
		CU_ASSERT_EQUAL(m, good[i].want);
		kms_conf_free(conf);
	}
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		(void)snprintf(text, sizeof(text), BASE "socket-mode = %s\n", bad[i]);
		(void)snprintf(want, sizeof(want),
			       NAME ":3: 'socket-mode' must be a file mode of 1 to 4 octal digits, "
				    "such as 0640 (got '%s')",
			       strcmp(bad[i], "\"\"") == 0 ? "" : bad[i]);
		expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), text, strlen(text), KMS_ERR_PARSE,
			       want);
	}
}

/* ---- bytes ---- */

static void
test_crlf(void)
{
	EXPECT_FAIL("module = /x\r\ntoken = t\r\n",
		    NAME ":1: carriage return at the end of the line: the file has Windows (CRLF) "
			 "line endings, which are not accepted; convert it (dos2unix)");
	EXPECT_FAIL(BASE "# comment\r\n",
		    NAME ":3: carriage return at the end of the line: the file has Windows (CRLF) "
			 "line endings, which are not accepted; convert it (dos2unix)");
	EXPECT_FAIL(BASE "\r\n",
		    NAME ":3: carriage return at the end of the line: the file has Windows (CRLF) "
			 "line endings, which are not accepted; convert it (dos2unix)");
	EXPECT_FAIL(BASE "banner = x\r",
		    NAME ":3: carriage return at the end of the line: the file has Windows (CRLF) "
			 "line endings, which are not accepted; convert it (dos2unix)");
	/* A lone "\r" inside a line is a control character. */
	EXPECT_FAIL(BASE "banner = a\rb\n",
		    NAME ":3: control character at column 11 (only tab is allowed)");
	/* Old Mac line endings: one long line with a "\r" inside. */
	EXPECT_FAIL("module = /x\rtoken = t\r",
		    NAME ":1: control character at column 12 (only tab is allowed)");
}

static void
test_nul(void)
{
	EXPECT_FAIL(BASE "banner = a\0b\n", NAME ":3: NUL byte at column 11");
	EXPECT_FAIL(BASE "# a\0b\n", NAME ":3: NUL byte at column 4");
	EXPECT_FAIL("\0", NAME ":1: NUL byte at column 1");
	EXPECT_FAIL(BASE "banner = é\0\n", NAME ":3: NUL byte at column 11");
}

static void
test_control(void)
{
	static const char ctl[] = {1, 7, 8, 11, 12, 27, 31, 127};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(ctl); i++) {
		(void)snprintf(text, sizeof(text), BASE "banner = ab%cc\n", ctl[i]);
		expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), text, strlen(text), KMS_ERR_PARSE,
			       NAME ":3: control character at column 12 (only tab is allowed)");
	}
	/* In a comment too, and C1 controls (U+0080..U+009F: CSI is U+009B). */
	EXPECT_FAIL(BASE "# \x1b[31m\n",
		    NAME ":3: control character at column 3 (only tab is allowed)");
	EXPECT_FAIL(BASE "banner = a\xc2\x9b\n",
		    NAME ":3: control character at column 11 (only tab is allowed)");
	EXPECT_FAIL(BASE "banner = a\xc2\x80\n",
		    NAME ":3: control character at column 11 (only tab is allowed)");
	EXPECT_STR("banner = a\xc2\xa0z", "banner", "a\xc2\xa0z"); /* U+00A0 is not a control */
	EXPECT_STR("banner = a\tb", "banner", "a\tb");
}

static void
test_utf8(void)
{
	/* Each of these after "banner = é": the bad byte is at column 11. */
	static const char *const bad[] = {
		"\x80",             /* lone continuation */
		"\xc0\xaf",         /* overlong '/' */
		"\xc1\xbf",         /* overlong */
		"\xe0\x80\xaf",     /* overlong */
		"\xed\xa0\x80",     /* surrogate U+D800 */
		"\xf0\x8f\xbf\xbf", /* overlong */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xf5\x80\x80\x80", /* never valid */
		"\xff",             /* never valid */
		"\xe2\x82",         /* truncated at the end of the line */
		"\xe2\x82x",        /* truncated */
		"\xc3",             /* truncated */
	};
	char text[128];
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		(void)snprintf(text, sizeof(text), BASE "banner = \xc3\xa9%s\n", bad[i]);
		expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), text, strlen(text), KMS_ERR_PARSE,
			       NAME ":3: invalid UTF-8 at column 11");
	}
	EXPECT_FAIL(BASE "# caf\xe9\n", NAME ":3: invalid UTF-8 at column 6");
	EXPECT_STR("banner = \xef\xbf\xbf \xf4\x8f\xbf\xbf \xed\x9f\xbf", "banner",
		   "\xef\xbf\xbf \xf4\x8f\xbf\xbf \xed\x9f\xbf");
	EXPECT_FAIL("\xef\xbb\xbf" BASE,
		    NAME ":1: the file starts with a UTF-8 byte order mark; save it without one");
}

/* ---- limits ---- */

/* A buffer of n bytes of c (owned by the caller). */
static char *
filled(size_t n, char c)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_value_length(void)
{
	size_t cap = KMS_CONF_MAX_LINE + 256;
	char *text = xmalloc(cap), *v = filled(KMS_CONF_MAX_VALUE, 'v');
	char *q = filled(KMS_CONF_MAX_VALUE, '"');
	struct kms_conf *conf;
	size_t i;

	(void)snprintf(text, cap, BASE "banner = %s\n", v);
	conf = PARSE_OK(text);
	if (conf != NULL) {
		CU_ASSERT_EQUAL(strlen(str_of(conf, "banner", 0)), KMS_CONF_MAX_VALUE);
	}
	kms_conf_free(conf);
	(void)snprintf(text, cap, BASE "banner = %sv\n", v);
	EXPECT_FAIL_N(text, strlen(text),
		      NAME ":3: the value of 'banner' is longer than 4096 bytes");
	/* The limit is on the decoded value: 4096 escaped quotes fit, with their quotes. */
	(void)snprintf(text, cap, BASE "banner = \"");
	for (i = 0; i < KMS_CONF_MAX_VALUE; i++) {
		strncat(text, "\\\"", cap - strlen(text) - 1);
	}
	strncat(text, "\"\n", cap - strlen(text) - 1);
	conf = PARSE_OK(text);
	if (conf != NULL) {
		CU_ASSERT_STRING_EQUAL(str_of(conf, "banner", 0), q);
	}
	kms_conf_free(conf);
	(void)snprintf(text, cap, BASE "banner = \" %s\"\n", v);
	EXPECT_FAIL_N(text, strlen(text),
		      NAME ":3: the value of 'banner' is longer than 4096 bytes");
	free(q);
	free(v);
	free(text);
}

static void
test_line_length(void)
{
	char *pad = filled(KMS_CONF_MAX_LINE - 1, ' ');
	size_t cap = KMS_CONF_MAX_LINE + 256;
	char *text = xmalloc(cap);
	struct kms_conf *conf;

	/* "#" and KMS_CONF_MAX_LINE - 1 spaces: a line of the maximum length. */
	(void)snprintf(text, cap, BASE "#%s\n", pad);
	conf = PARSE_OK(text);
	kms_conf_free(conf);
	(void)snprintf(text, cap, BASE "#%s \n", pad);
	EXPECT_FAIL_N(text, strlen(text), NAME ":3: line longer than 16384 bytes");
	/* Also the last line, without a newline, and a blank line. */
	(void)snprintf(text, cap, BASE "#%s ", pad);
	EXPECT_FAIL_N(text, strlen(text), NAME ":3: line longer than 16384 bytes");
	(void)snprintf(text, cap, BASE " %s \n", pad);
	EXPECT_FAIL_N(text, strlen(text), NAME ":3: line longer than 16384 bytes");
	free(text);
	free(pad);
}

static void
test_file_limits(void)
{
	size_t cap = KMS_CONF_MAX_FILE + 64;
	char *text = xmalloc(cap);
	struct kms_conf *conf;
	size_t n;

	/* KMS_CONF_MAX_LINES lines, some of them empty; then one more. */
	n = (size_t)snprintf(text, cap, BASE);
	memset(text + n, '\n', KMS_CONF_MAX_LINES - 2);
	n += KMS_CONF_MAX_LINES - 2;
	text[n] = '\0';
	conf = PARSE_OK(text);
	kms_conf_free(conf);
	text[n] = '#';
	EXPECT_FAIL_N(text, n + 1, NAME ":10001: more than 10000 lines");
	text[n] = '\n';
	EXPECT_FAIL_N(text, n + 1, NAME ":10001: more than 10000 lines");

	/* KMS_CONF_MAX_FILE bytes: comments of 1023 bytes and a newline; then one byte more. */
	n = (size_t)snprintf(text, cap, BASE);
	while (n + 1024 <= KMS_CONF_MAX_FILE) {
		text[n] = '#';
		memset(text + n + 1, 'x', 1022);
		text[n + 1023] = '\n';
		n += 1024;
	}
	memset(text + n, ' ', KMS_CONF_MAX_FILE - n);
	n = KMS_CONF_MAX_FILE;
	text[n] = '\0';
	conf = PARSE_OK(text);
	kms_conf_free(conf);
	text[n] = '\n';
	EXPECT_FAIL_N(text, n + 1, NAME ": larger than 1048576 bytes");
	free(text);
}

/* ---- secrets ---- */

#define SENTINEL "S3NT1NEL"

/*
 * A bad value for each type of secret key, carrying the sentinel in each way a value can be
 * wrong: the message names the key and the line, and holds no part of the sentinel.
 */
static void
test_secret_never_echoed(void)
{
	static const char *const words[] = {"a", "b", NULL};
	static const struct kms_conf_key secret_keys[] = {
		{.name = "s-str", .type = KMS_CONF_STRING, .flags = KMS_CONF_SECRET},
		{.name = "s-bool", .type = KMS_CONF_BOOL, .flags = KMS_CONF_SECRET},
		{.name = "s-u64",
		 .type = KMS_CONF_U64,
		 .flags = KMS_CONF_SECRET,
		 .min = 1,
		 .max = 9},
		{.name = "s-hex",
		 .type = KMS_CONF_U64,
		 .flags = KMS_CONF_SECRET | KMS_CONF_HEX,
		 .max = UINT64_MAX},
		{.name = "s-enum", .type = KMS_CONF_ENUM, .flags = KMS_CONF_SECRET, .words = words},
		{.name = "s-path", .type = KMS_CONF_PATH, .flags = KMS_CONF_SECRET},
		{.name = "s-mode", .type = KMS_CONF_MODE, .flags = KMS_CONF_SECRET},
	};
	static const char *const lines[] = {
		"s-bool = " SENTINEL,
		"s-u64 = " SENTINEL,
		"s-u64 = 10" SENTINEL,
		"s-u64 = 18446744073709551616",
		"s-u64 = 0x" SENTINEL,
		"s-u64 = 00",
		"s-hex = 0x" SENTINEL,
		"s-hex = 0x1" SENTINEL "0000000000000000",
		"s-enum = " SENTINEL,
		"s-path = " SENTINEL,
		"s-path = /" SENTINEL "/%4096d",
		"s-mode = " SENTINEL,
		"s-str = \"" SENTINEL,
		"s-str = \"" SENTINEL "\\n\"",
		"s-str = \"" SENTINEL "\"" SENTINEL,
		"s-str = " SENTINEL "%4097d",
		"s-str = " SENTINEL "\x01",
		"s-str = " SENTINEL "\xff",
		"s-str = " SENTINEL "\r",
		"s-str = " SENTINEL "\n"
		"s-str = " SENTINEL,
	};
	char text[8192];
	struct kms_conf *conf;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_LEN(lines); i++) {
		/* The "%4096d" cases pad the value past the path or value limit. */
		if (strstr(lines[i], "%") != NULL) {
			const char *pct = strchr(lines[i], '%');
			int width = (int)strtol(pct + 1, NULL, 10);

			(void)snprintf(text, sizeof(text), "# x\n%.*s%0*d\n", (int)(pct - lines[i]),
				       lines[i], width, 0);
		} else {
			(void)snprintf(text, sizeof(text), "# x\n%s\n", lines[i]);
		}
		conf = NULL;
		r = parse_with(secret_keys, ARRAY_LEN(secret_keys), text, strlen(text), &conf);
		CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
		CU_ASSERT_PTR_NULL(conf);
		CU_ASSERT(strncmp(err, NAME ":2: ", sizeof(NAME ":2: ") - 1) == 0 ||
			  strncmp(err, NAME ":3: ", sizeof(NAME ":3: ") - 1) == 0);
		CU_ASSERT_PTR_NULL(strstr(err, "S3NT"));
		CU_ASSERT_PTR_NULL(strstr(err, "NT1N"));
		CU_ASSERT_PTR_NULL(strstr(err, "1NEL"));
		CU_ASSERT_PTR_NULL(strstr(err, "1844674407370955161"));
		if (strstr(err, "S3NT") != NULL || strstr(err, "1NEL") != NULL) {
			fprintf(stderr, "\nleaked: %s\n", err);
		}
		kms_conf_free(conf);
	}
	/* The exact wording of one of them. */
	expect_fail_at(__LINE__, secret_keys, ARRAY_LEN(secret_keys), "s-u64 = 10" SENTINEL "\n",
		       sizeof("s-u64 = 10" SENTINEL "\n") - 1, KMS_ERR_PARSE,
		       NAME ":1: 's-u64' must be a decimal number (secret value not shown)");
	expect_fail_at(__LINE__, secret_keys, ARRAY_LEN(secret_keys), "s-enum = c\n", 11,
		       KMS_ERR_PARSE,
		       NAME ":1: 's-enum' must be one of a, b (secret value not shown)");
	/* A good secret value is returned like any other. */
	conf = NULL;
	CU_ASSERT_EQUAL(parse_with(secret_keys, ARRAY_LEN(secret_keys), "s-str = " SENTINEL "\n",
				   sizeof("s-str = " SENTINEL "\n") - 1, &conf),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(str_of(conf, "s-str", 0), SENTINEL);
	kms_conf_free(conf);
	/* passphrase in the main table too. */
	EXPECT_FAIL(BASE "passphrase = \"" SENTINEL "\\x\"\n",
		    NAME ":3: bad escape in the quoted value of 'passphrase' at column 23 (only "
			 "\\\" and \\\\ are escapes)");
}

/* ---- messages ---- */

static void
test_message_cut(void)
{
	static const char text[] = BASE "issuer = onlin\n";
	static const char full[] =
		NAME ":3: 'issuer' must be one of online, pre-minted (got 'onlin')";
	static const size_t lens[] = {
		1, 2, 3, 4, 5, 10, 20, sizeof(full) - 1, sizeof(full), sizeof(full) + 1};
	char small[sizeof(full) + 8];
	struct kms_conf *conf = NULL;
	char *long_name, *long_value, *t;
	size_t i, n;

	for (i = 0; i < ARRAY_LEN(lens); i++) {
		memset(small, 'Z', sizeof(small));
		CU_ASSERT_EQUAL(kms_conf_parse(&conf, small, lens[i], keys, ARRAY_LEN(keys), NAME,
					       (const uint8_t *)text, sizeof(text) - 1),
				KMS_ERR_PARSE);
		n = strnlen(small, lens[i]);
		CU_ASSERT(n < lens[i]);
		if (lens[i] < sizeof(small)) {
			CU_ASSERT_EQUAL(small[lens[i]], 'Z'); /* nothing written past the buffer */
		}
		if (lens[i] >= sizeof(full)) {
			CU_ASSERT_STRING_EQUAL(small, full);
		} else if (lens[i] >= 4) {
			/* Cut: a prefix of the message, then "...". */
			CU_ASSERT_EQUAL(n, lens[i] - 1);
			CU_ASSERT_STRING_EQUAL(small + n - 3, "...");
			CU_ASSERT_EQUAL(strncmp(small, full, n - 3), 0);
		} else {
			CU_ASSERT_EQUAL(strspn(small, "."), n);
		}
	}
	/* No buffer at all. */
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, NULL, 0, keys, ARRAY_LEN(keys), NAME,
				       (const uint8_t *)text, sizeof(text) - 1),
			KMS_ERR_PARSE);
	CU_ASSERT_PTR_NULL(conf);

	/* A cut never splits a character. */
	memset(small, 'Z', sizeof(small));
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, small, 21, keys, ARRAY_LEN(keys), "ééééééééé",
				       (const uint8_t *)text, sizeof(text) - 1),
			KMS_ERR_PARSE);
	CU_ASSERT_STRING_EQUAL(small, "éééééééé...");

	/* A quoted value is cut at ECHO_MAX bytes, on a character boundary. */
	long_value = filled(200, 'x');
	memcpy(long_value + 62, "é", 2);
	t = xmalloc(512);
	(void)snprintf(t, 512, BASE "issuer = %s\n", long_value);
	long_value[62] = '\0';
	{
		char want[512];

		(void)snprintf(want, sizeof(want),
			       NAME ":3: 'issuer' must be one of online, pre-minted (got '%sé...')",
			       long_value);
		expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), t, strlen(t), KMS_ERR_PARSE, want);
		long_value[62] = 'x';
		long_value[63] = 'x';
		memcpy(long_value + 63, "é", 2);
		(void)snprintf(t, 512, BASE "issuer = %s\n", long_value);
		long_value[63] = '\0';
		(void)snprintf(want, sizeof(want),
			       NAME ":3: 'issuer' must be one of online, pre-minted (got '%s...')",
			       long_value);
		expect_fail_at(__LINE__, keys, ARRAY_LEN(keys), t, strlen(t), KMS_ERR_PARSE, want);
	}
	free(t);
	free(long_value);

	/* KMS_CONF_ERR_LEN holds the longest messages about a 256-byte name uncut. */
	long_name = filled(256, 'n');
	{
		static struct kms_conf_key many[KMS_CONF_MAX_KEYS];
		static char names[KMS_CONF_MAX_KEYS][KMS_CONF_MAX_KEY + 1];
		static const char *words[KMS_CONF_MAX_KEYS + 1];
		char line[256];

		for (i = 0; i < KMS_CONF_MAX_KEYS; i++) {
			(void)snprintf(names[i], sizeof(names[i]), "%03zu%061zu", i, i);
			many[i].name = names[i];
			many[i].type = KMS_CONF_STRING;
			words[i] = names[i];
		}
		words[KMS_CONF_MAX_KEYS] = NULL;
		many[0].type = KMS_CONF_ENUM;
		many[0].words = words;
		(void)snprintf(line, sizeof(line), "%.64s = 1\n", long_value = filled(64, 'q'));
		free(long_value);
		CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), many, KMS_CONF_MAX_KEYS,
					       long_name, (const uint8_t *)line, strlen(line)),
				KMS_ERR_PARSE);
		CU_ASSERT(strlen(err) < sizeof(err) - 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, ", ...)"));
		(void)snprintf(line, sizeof(line), "%s = %s\n", names[0],
			       long_value = filled(100, 'w'));
		free(long_value);
		CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), many, KMS_CONF_MAX_KEYS,
					       long_name, (const uint8_t *)line, strlen(line)),
				KMS_ERR_PARSE);
		CU_ASSERT(strlen(err) < sizeof(err) - 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "...')"));
	}
	free(long_name);
}

/* ---- the key table ---- */

static void
expect_bad_table_at(int at, const struct kms_conf_key *table, size_t num, const char *want)
{
	struct kms_conf *conf = NULL;
	int r = kms_conf_parse(&conf, err, sizeof(err), table, num, NAME, (const uint8_t *)"", 0);

	CU_ASSERT_EQUAL(r, KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(conf);
	CU_ASSERT_STRING_EQUAL(err, want);
	if (r != KMS_ERR_INVALID_ARG || strcmp(err, want) != 0) {
		fprintf(stderr, "\ntest_conf.c:%d: got %d \"%s\"\n  want \"%s\"\n", at, r, err,
			want);
	}
}

#define EXPECT_BAD_TABLE(want, ...)                                                                \
	do {                                                                                       \
		static const struct kms_conf_key t_[] = {__VA_ARGS__};                             \
		expect_bad_table_at(__LINE__, t_, ARRAY_LEN(t_), want);                            \
	} while (0)

static void
test_table(void)
{
	static const char *const w_ok[] = {"a", "b", NULL};
	static const char *const w_empty[] = {NULL};
	static const char *const w_dup[] = {"a", "a", NULL};
	static const char *const w_bad[] = {"a", "B", NULL};
	static const char *const bad_defaults[] = {
		"", " 1", "1 ", "\"1", "0", "65", "x", "1\x01", "\"\\n\"",
	};
	struct kms_conf_key k = {.name = "n", .type = KMS_CONF_U64, .min = 1, .max = 64};
	struct kms_conf *conf = NULL;
	char want[128];
	size_t i;

	EXPECT_BAD_TABLE(NAME ": key table: entry 0: not a valid key name",
			 {.name = NULL, .type = KMS_CONF_STRING});
	EXPECT_BAD_TABLE(NAME ": key table: entry 1: not a valid key name",
			 {.name = "a", .type = KMS_CONF_STRING},
			 {.name = "", .type = KMS_CONF_STRING});
	EXPECT_BAD_TABLE(NAME ": key table: entry 0: not a valid key name",
			 {.name = "A", .type = KMS_CONF_STRING});
	EXPECT_BAD_TABLE(
		NAME ": key table: entry 0: not a valid key name",
		{.name = "k1234567890123456789012345678901234567890123456789012345678901234",
		 .type = KMS_CONF_STRING});
	EXPECT_BAD_TABLE(NAME ": key table: 'a' declared twice",
			 {.name = "a", .type = KMS_CONF_STRING},
			 {.name = "a", .type = KMS_CONF_BOOL});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a"});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = (enum kms_conf_type)99});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_STRING, .flags = 1u << 9});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_STRING, .flags = KMS_CONF_HEX});
	EXPECT_BAD_TABLE(
		NAME ": key table: 'a': bad type, flags, bounds, words or default",
		{.name = "a", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED, .def = "x"});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_ENUM});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_STRING, .words = w_ok});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_U64});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_U64, .min = 5, .max = 4});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': bad type, flags, bounds, words or default",
			 {.name = "a", .type = KMS_CONF_MODE, .max = 0777});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': no words",
			 {.name = "a", .type = KMS_CONF_ENUM, .words = w_empty});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': word 'a' listed twice",
			 {.name = "a", .type = KMS_CONF_ENUM, .words = w_dup});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': word 1 is not a valid word",
			 {.name = "a", .type = KMS_CONF_ENUM, .words = w_bad});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': the default is not a valid value",
			 {.name = "a", .type = KMS_CONF_ENUM, .words = w_ok, .def = "c"});
	EXPECT_BAD_TABLE(NAME ": key table: 'a': the default is not a valid value",
			 {.name = "a", .type = KMS_CONF_PATH, .def = "rel"});
	for (i = 0; i < ARRAY_LEN(bad_defaults); i++) {
		k.def = bad_defaults[i];
		(void)snprintf(want, sizeof(want),
			       NAME ": key table: 'n': the default is not a valid value");
		expect_bad_table_at(__LINE__, &k, 1, want);
	}
	/* Too many keys. */
	{
		static struct kms_conf_key many[KMS_CONF_MAX_KEYS + 1];

		for (i = 0; i < ARRAY_LEN(many); i++) {
			many[i] = (struct kms_conf_key){.name = "x", .type = KMS_CONF_STRING};
		}
		expect_bad_table_at(__LINE__, many, ARRAY_LEN(many),
				    NAME ": key table: more than 256 keys");
	}
	/* A bad table fails whatever the file holds. */
	k.def = "0";
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), &k, 1, NAME,
				       (const uint8_t *)"junk\x01", 5),
			KMS_ERR_INVALID_ARG);
	/* Good defaults: quoted, and a table with every type. */
	k.def = "\"64\"";
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), &k, 1, NAME, NULL, 0), KMS_OK);
	CU_ASSERT_EQUAL(u64_of(conf, "n", 0), 64);
	kms_conf_free(conf);
	conf = NULL;
	/* Bad arguments. */
	CU_ASSERT_EQUAL(
		kms_conf_parse(NULL, err, sizeof(err), keys, ARRAY_LEN(keys), NAME, NULL, 0),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, NULL, 5, keys, ARRAY_LEN(keys), NAME, NULL, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_parse(&conf, err, sizeof(err), NULL, 1, NAME, NULL, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(
		kms_conf_parse(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), NULL, NULL, 0),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(
		kms_conf_parse(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), NAME, NULL, 1),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(conf);
}

/* ---- kms_conf_decimal: numbers from argv and the environment ---- */

static int
dec(const char *s, uint64_t max, uint64_t *out)
{
	*out = 77; /* untouched on failure */
	return kms_conf_decimal(s, strlen(s), max, out);
}

static void
test_decimal(void)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0", "007", "00", "１", "1\n", NULL,
	};
	uint64_t v = 0;
	size_t i;

	CU_ASSERT_EQUAL(dec("0", 10, &v), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(dec("3", 1023, &v), KMS_OK);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(dec("65535", 65535, &v), KMS_OK);
	CU_ASSERT_EQUAL(v, 65535);
	CU_ASSERT_EQUAL(dec("18446744073709551615", UINT64_MAX, &v), KMS_OK);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	/* above the bound, above 2^64 - 1, far above: a range error, *out untouched */
	CU_ASSERT_EQUAL(dec("65536", 65535, &v), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(v, 77);
	CU_ASSERT_EQUAL(dec("18446744073709551616", UINT64_MAX, &v), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(v, 77);
	CU_ASSERT_EQUAL(dec("99999999999999999999999999999999", UINT64_MAX, &v), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(dec("1", 0, &v), KMS_ERR_RANGE);
	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_EQUAL(dec(bad[i], UINT64_MAX, &v), KMS_ERR_PARSE);
		CU_ASSERT_EQUAL(v, 77);
	}
	/* the length bounds the text: a digit past it is not read, a NUL inside it is refused */
	CU_ASSERT_EQUAL(kms_conf_decimal("129", 2, 100, &v), KMS_OK);
	CU_ASSERT_EQUAL(v, 12);
	CU_ASSERT_EQUAL(kms_conf_decimal("1\0"
					 "2",
					 3, 100, &v),
			KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(kms_conf_decimal(NULL, 0, 100, &v), KMS_ERR_PARSE);
}

/* ---- getters ---- */

static void
test_getters(void)
{
	struct kms_conf *conf = PARSE_OK(BASE);
	const char *s = "x";
	bool b = true;
	uint64_t v = 1;
	size_t idx = 1;
	mode_t m = 1;

	if (conf == NULL) {
		return;
	}
	/* A name the table does not declare, or of another type: a bug in the caller. */
	CU_ASSERT_EQUAL(kms_conf_str(conf, "nope", 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "workers", 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "verbose", 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "socket-mode", 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_bool(conf, "workers", 0, &b), KMS_ERR_INVALID_ARG);
	CU_ASSERT(!b);
	CU_ASSERT_EQUAL(kms_conf_u64(conf, "verbose", 0, &v), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_conf_u64(conf, "socket-mode", 0, &v), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_enum(conf, "token", 0, &idx), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(kms_conf_mode(conf, "workers", 0, &m), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(m, 0);
	/* Index past the values. */
	CU_ASSERT_EQUAL(kms_conf_u64(conf, "workers", 1, &v), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "token", 1, &s), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "token", 1), 0);
	CU_ASSERT_EQUAL(kms_conf_count(conf, "nope"), 0);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "nope", 0), 0);
	/* NULL arguments. */
	CU_ASSERT_EQUAL(kms_conf_str(NULL, "token", 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_str(conf, NULL, 0, &s), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_str(conf, "token", 0, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_bool(conf, "verbose", 0, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_u64(conf, "workers", 0, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_enum(conf, "issuer", 0, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_mode(conf, "socket-mode", 0, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_count(NULL, "token"), 0);
	CU_ASSERT_EQUAL(kms_conf_line(NULL, "token", 0), 0);
	kms_conf_free(conf);
	kms_conf_free(NULL);
}

/* ---- files ---- */

static char dir[256];

static int
suite_init(void)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir, sizeof(dir), "%s/kms-test-conf.XXXXXX", tmp != NULL ? tmp : "/tmp");

	if (n < 0 || (size_t)n >= sizeof(dir) || mkdtemp(dir) == NULL) {
		return 1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	static const char *const names[] = {"good.conf", "big.conf", "fifo", "link.conf",
					    "grow.conf", "read.fd",  "d"};
	char path[512];
	size_t i;

	for (i = 0; i < ARRAY_LEN(names); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
		(void)rmdir(path);
	}
	return rmdir(dir) == 0 ? 0 : 1;
}

static void
path_of(char *out, size_t out_len, const char *name)
{
	int n = snprintf(out, out_len, "%s/%s", dir, name);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < out_len);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	CU_ASSERT_FATAL(close(fd) == 0);
}

static void
expect_load_fail_at(int at, const char *path, int want_r, const char *want_suffix)
{
	struct kms_conf *conf = NULL;
	size_t lp = strlen(path);
	int r = kms_conf_load(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), path);

	CU_ASSERT_EQUAL(r, want_r);
	CU_ASSERT_PTR_NULL(conf);
	CU_ASSERT(strncmp(err, path, lp) == 0 && strcmp(err + lp, want_suffix) == 0);
	if (r != want_r || strncmp(err, path, lp) != 0 || strcmp(err + lp, want_suffix) != 0) {
		fprintf(stderr, "\ntest_conf.c:%d: got %d \"%s\"\n  want %d \"%s%s\"\n", at, r, err,
			want_r, path, want_suffix);
	}
}

static void
test_load(void)
{
	char good[512], big[512], fifo[512], link[512], d[512], missing[512];
	struct kms_conf *conf = NULL;
	int fd;

	path_of(good, sizeof(good), "good.conf");
	path_of(big, sizeof(big), "big.conf");
	path_of(fifo, sizeof(fifo), "fifo");
	path_of(link, sizeof(link), "link.conf");
	path_of(d, sizeof(d), "d");
	path_of(missing, sizeof(missing), "missing.conf");

	write_file(good, BASE "workers = 8\n", sizeof(BASE "workers = 8\n") - 1);
	CU_ASSERT_EQUAL(kms_conf_load(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), good),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(u64_of(conf, "workers", 0), 8);
	CU_ASSERT_EQUAL(kms_conf_line(conf, "workers", 0), 3);
	kms_conf_free(conf);
	conf = NULL;

	/* Symbolic links are followed (a configuration may live in /etc/alternatives). */
	CU_ASSERT_FATAL(symlink(good, link) == 0);
	CU_ASSERT_EQUAL(kms_conf_load(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), link),
			KMS_OK);
	kms_conf_free(conf);
	conf = NULL;

	/* The parse errors carry the path as the name. */
	write_file(good, BASE "workers = 80\n", sizeof(BASE "workers = 80\n") - 1);
	expect_load_fail_at(__LINE__, good, KMS_ERR_PARSE,
			    ":3: 'workers' must be between 1 and 64 (got '80')");
	write_file(good, "", 0);
	expect_load_fail_at(__LINE__, good, KMS_ERR_PARSE, ": missing required key 'module'");

	expect_load_fail_at(__LINE__, missing, KMS_ERR_IO,
			    ": cannot open: No such file or directory");
	CU_ASSERT_FATAL(mkdir(d, 0700) == 0);
	expect_load_fail_at(__LINE__, d, KMS_ERR_IO, ": not a regular file (a directory)");
	CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
	expect_load_fail_at(__LINE__, fifo, KMS_ERR_IO, ": not a regular file");
	expect_load_fail_at(__LINE__, "/dev/null", KMS_ERR_IO, ": not a regular file");

	/* Size is checked before reading: a sparse file one byte over the limit, then at it. */
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)KMS_CONF_MAX_FILE + 1) == 0);
	CU_ASSERT_FATAL(close(fd) == 0);
	expect_load_fail_at(__LINE__, big, KMS_ERR_PARSE, ": larger than 1048576 bytes");
	CU_ASSERT_FATAL(truncate(big, (off_t)KMS_CONF_MAX_FILE) == 0);
	expect_load_fail_at(__LINE__, big, KMS_ERR_PARSE, ":1: line longer than 16384 bytes");
	{
		/* the reader itself: its own bound (TOO_LARGE), the exact bytes, NUL after them */
		uint8_t *data = NULL;
		size_t n = 1;

		write_file(good, "abc", 3);
		CU_ASSERT_EQUAL(kms_conf_read_file(good, 2, &data, &n, err, sizeof(err)),
				KMS_ERR_TOO_LARGE);
		CU_ASSERT_PTR_NULL(data);
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, ": larger than 2 bytes"));
		CU_ASSERT_EQUAL_FATAL(kms_conf_read_file(good, 3, &data, &n, err, sizeof(err)),
				      KMS_OK);
		CU_ASSERT_EQUAL(n, 3);
		CU_ASSERT_EQUAL(memcmp(data, "abc", 4), 0);
		free(data);
		CU_ASSERT_EQUAL(kms_conf_read_file(d, 10, &data, &n, err, sizeof(err)), KMS_ERR_IO);
		CU_ASSERT_EQUAL(kms_conf_read_file(NULL, 10, &data, &n, err, sizeof(err)),
				KMS_ERR_INVALID_ARG);
	}

	/* Bad arguments. */
	CU_ASSERT_EQUAL(kms_conf_load(&conf, err, sizeof(err), keys, ARRAY_LEN(keys), NULL),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_load(NULL, err, sizeof(err), keys, ARRAY_LEN(keys), good),
			KMS_ERR_INVALID_ARG);
}

/* Open path O_RDONLY (or O_WRONLY, to make reads fail). */
static int
open_at(int at, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "\ntest_conf.c:%d: cannot open %s\n", at, path);
	}
	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

/*
 * Read len bytes of path (opened with flags) with kms_conf_read_fd: it must fail with
 * KMS_ERR_IO and exactly the message "PATH" want_suffix, the len bytes of the buffer wiped and
 * none after them touched.
 */
static void
expect_read_fd_fail(int at, const char *path, int flags, size_t len, const char *want_suffix)
{
	uint8_t buf[16];
	size_t lp = strlen(path), i;
	int fd = open_at(at, path, flags), r;

	CU_ASSERT_FATAL(len < sizeof(buf));
	memset(buf, 0xa5, sizeof(buf));
	r = kms_conf_read_fd(fd, path, buf, len, err, sizeof(err));
	CU_ASSERT_EQUAL(r, KMS_ERR_IO);
	CU_ASSERT(strncmp(err, path, lp) == 0 && strcmp(err + lp, want_suffix) == 0);
	if (r != KMS_ERR_IO || strncmp(err, path, lp) != 0 || strcmp(err + lp, want_suffix) != 0) {
		fprintf(stderr, "\ntest_conf.c:%d: got %d \"%s\"\n", at, r, err);
	}
	CU_ASSERT(kms_test_all_zero(buf, len));
	for (i = len; i < sizeof(buf); i++) {
		CU_ASSERT_EQUAL(buf[i], 0xa5);
	}
	CU_ASSERT_EQUAL(close(fd), 0);
}

/*
 * kms_conf_read_fd: exactly len bytes into the caller's buffer; a file longer or shorter than
 * len (what a file that grew or shrank after its fstat looks like) and a failing read are
 * refused with their message and the buffer wiped; bad arguments leave err alone.
 */
static void
test_read_fd(void)
{
	char path[512], e[64];
	uint8_t buf[8];
	int fd;

	path_of(path, sizeof(path), "read.fd");
	write_file(path, "abcdef", 6);

	fd = open_at(__LINE__, path, O_RDONLY);
	memset(buf, 0xa5, sizeof(buf));
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, buf, 6, err, sizeof(err)), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(buf, "abcdef", 6), 0);
	CU_ASSERT(buf[6] == 0xa5 && buf[7] == 0xa5); /* nothing past len */
	CU_ASSERT_EQUAL(close(fd), 0);

	/* More bytes than len: the file grew. Fewer: it shrank. A read that fails: its errno. */
	expect_read_fd_fail(__LINE__, path, O_RDONLY, 5,
			    ": cannot read: the file grew while being read");
	expect_read_fd_fail(__LINE__, path, O_RDONLY, 7,
			    ": cannot read: the file shrank while being read");
	expect_read_fd_fail(__LINE__, path, O_WRONLY, 6, ": cannot read: Bad file descriptor");

	/* Nothing to read: an empty file with len 0 (buf may be NULL), not a longer one. */
	write_file(path, "", 0);
	fd = open_at(__LINE__, path, O_RDONLY);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, NULL, 0, err, sizeof(err)), KMS_OK);
	CU_ASSERT_EQUAL(close(fd), 0);
	write_file(path, "x", 1);
	fd = open_at(__LINE__, path, O_RDONLY);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, NULL, 0, NULL, 0), KMS_ERR_IO);
	/* A short buffer gets the message cut. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, "f", NULL, 0, e, 16), KMS_ERR_IO);
	CU_ASSERT_STRING_EQUAL(e, "f: cannot re...");

	/* Bad arguments: refused before any read, err untouched. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
	(void)snprintf(e, sizeof(e), "untouched");
	CU_ASSERT_EQUAL(kms_conf_read_fd(-1, path, buf, 1, e, sizeof(e)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, NULL, buf, 1, e, sizeof(e)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, NULL, 1, e, sizeof(e)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, buf, 1, NULL, sizeof(e)), KMS_ERR_INVALID_ARG);
	CU_ASSERT_STRING_EQUAL(e, "untouched");
	/* ... and the file is still unread. */
	CU_ASSERT_EQUAL(kms_conf_read_fd(fd, path, buf, 1, e, sizeof(e)), KMS_OK);
	CU_ASSERT_EQUAL(buf[0], 'x');
	CU_ASSERT_EQUAL(close(fd), 0);
}

/* kms_conf_errf: the form of every message, for the parsers built on this syntax. */
static void
test_errf(void)
{
	char e[24];

	CU_ASSERT_EQUAL(kms_conf_errf(e, sizeof(e), "f.conf", 7, "bad %s", "x"), KMS_ERR_PARSE);
	CU_ASSERT_STRING_EQUAL(e, "f.conf:7: bad x");
	CU_ASSERT_EQUAL(kms_conf_errf(e, sizeof(e), "f.conf", 0, "gone"), KMS_ERR_PARSE);
	CU_ASSERT_STRING_EQUAL(e, "f.conf: gone");
	/* cut on a character boundary: the two-byte u-umlaut does not fit whole */
	CU_ASSERT_EQUAL(kms_conf_errf(e, sizeof(e), "f.conf", 12, "abcdefgh\xc3\xbc%s", "zzzz"),
			KMS_ERR_PARSE);
	CU_ASSERT_STRING_EQUAL(e, "f.conf:12: abcdefgh...");
	CU_ASSERT_EQUAL(kms_conf_errf(NULL, 0, "f", 1, "x"), KMS_ERR_PARSE);
}

static CU_TestInfo format_tests[] = {
	{"messages", test_errf},
	{"a whole file, every type", test_golden},
	{"defaults and unset optional keys", test_defaults},
	{"required keys, empty files", test_required},
	{"line numbers count comments and blank lines", test_line_numbers},
	{"duplicate keys", test_duplicates},
	{"repeatable keys", test_repeatable},
	{"unknown keys and did-you-mean", test_unknown_keys},
	{"malformed keys and lines", test_bad_keys},
	{"whitespace", test_whitespace},
	{"quotes and escapes", test_quotes},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo type_tests[] = {
	{"bool", test_bool}, {"uint64, decimal and hex", test_u64},
	{"enum", test_enum}, {"path", test_path},
	{"mode", test_mode}, CU_TEST_INFO_NULL,
};

static CU_TestInfo byte_tests[] = {
	{"CRLF refused", test_crlf},
	{"NUL bytes", test_nul},
	{"control characters", test_control},
	{"UTF-8 and the byte order mark", test_utf8},
	{"value length", test_value_length},
	{"line length", test_line_length},
	{"file size and line count", test_file_limits},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo api_tests[] = {
	{"secret values never in messages", test_secret_never_echoed},
	{"messages cut to the buffer", test_message_cut},
	{"key table rules", test_table},
	{"getters", test_getters},
	{"kms_conf_decimal", test_decimal},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo file_tests[] = {
	{"kms_conf_load", test_load},
	{"kms_conf_read_fd", test_read_fd},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"conf format", NULL, NULL, NULL, NULL, format_tests},
	{"conf types", NULL, NULL, NULL, NULL, type_tests},
	{"conf bytes and limits", NULL, NULL, NULL, NULL, byte_tests},
	{"conf api", NULL, NULL, NULL, NULL, api_tests},
	{"conf files", suite_init, suite_cleanup, NULL, NULL, file_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
