/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/ceremony-file.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbs.h"
#include "common/conf.h"
#include "common/secmem.h"

#include "common/banned.h"

/*
 * Attacker model: the ceremony file and the identities list are written by people (a
 * custodian, an operator's script) and checked by the ceremony's witnesses; a mistake in them
 * must stop the run before the token is touched, with the line at fault. common/conf.c does the
 * syntax and the byte checks (UTF-8, no control characters, bounded lines and values); this
 * file adds the rules of each value and the rules that tie keys together. Messages name keys
 * and lines, and quote no value (there is no secret in these files, but a value may be long).
 */

/* ---- shared helpers ---- */

static const char *const step_words[] = {"init-token", "generate", "certificate", "backup",
					 "enrol",      "premint",  NULL};

const char *
kms_cer_step_name(enum kms_cer_step s)
{
	if ((unsigned)s >= (unsigned)KMS_CER_NUM_STEPS) {
		return "?";
	}
	return step_words[s];
}

/*
 * The length of the valid UTF-8 character at s[0..len) that is not a control character (C0,
 * DEL, C1); 0 if there is none (invalid, overlong, surrogate, above U+10FFFF, or control).
 */
static size_t
utf8_char(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80) {
		return s[0] >= 0x20 && s[0] != 0x7f ? 1 : 0;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (n > len) {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f)) {
		return 0;
	}
	return n;
}

/* 1 if s[0..len) is 1..max octets of UTF-8 without control characters (nor spaces if !sp). */
static int
check_utf8(const char *s, size_t len, size_t max, int sp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;

	if (s == NULL || len == 0 || len > max) {
		return 0;
	}
	while (i < len) {
		if ((n = utf8_char(u + i, len - i)) == 0 || (!sp && u[i] == ' ')) {
			return 0;
		}
		i += n;
	}
	return 1;
}

int
kms_cer_check_text(const char *s, size_t len, size_t max)
{
	return check_utf8(s, len, max, 1) && s[0] != ' ' && s[len - 1] != ' ';
}

int
kms_cer_check_uri(const char *s, size_t len, size_t max)
{
	return check_utf8(s, len, max, 0);
}

int
kms_cer_check_ascii(const char *s, size_t len, size_t max, int blanks)
{
	size_t i;

	if (s == NULL || len == 0 || len > max || s[0] == ' ' || s[len - 1] == ' ') {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < (blanks ? 0x20 : 0x21) || s[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* digits s[0..n) as a number, or -1 if one is not a digit. */
static int64_t
digits(const char *s, size_t n)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
kms_cer_time_parse(int64_t *out, const char *s)
{
	static const int64_t mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y, mo, d, h, mi, se, dim;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if (s == NULL || strnlen(s, KMS_CER_TIME_LEN + 1) != KMS_CER_TIME_LEN || s[4] != '-' ||
	    s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') {
		return KMS_ERR_PARSE;
	}
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 59) {
		return KMS_ERR_PARSE;
	}
	dim = mdays[mo - 1];
	if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
		dim = 29;
	}
	if (d > dim) {
		return KMS_ERR_PARSE;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return KMS_OK;
}

int
kms_cer_time_format(char out[static KMS_CER_TIME_LEN + 1], int64_t t)
{
	int64_t z, era, doe, yoe, y, doy, mp, d, m, secs;
	int n;

	out[0] = '\0';
	if (t < KMS_CER_TIME_MIN || t > KMS_CER_TIME_MAX) {
		return KMS_ERR_RANGE;
	}
	/* H. Hinnant's civil_from_days; t >= 0 here, so the divisions do not round down. */
	z = t / 86400 + 719468;
	secs = t % 86400;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	n = snprintf(out, KMS_CER_TIME_LEN + 1, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
		     (long long)y, (long long)m, (long long)d, (long long)(secs / 3600),
		     (long long)(secs / 60 % 60), (long long)(secs % 60));
	if (n != (int)KMS_CER_TIME_LEN) {
		out[0] = '\0';
		return KMS_ERR_INTERNAL;
	}
	return KMS_OK;
}

/* ---- messages ---- */

/* ---- the ceremony file ---- */

static const char *const share_words[] = {"terminal", "files", NULL};
static const char *const oaep_words[] = {"sha1", "sha256", NULL};
static const char *const id_format_words[] = {"raw", "hex-lower", "hex-upper", NULL};

static const struct kms_conf_key cer_keys[] = {
	{.name = "ceremony", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "operator", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "witness", .type = KMS_CONF_STRING, .flags = KMS_CONF_REPEATABLE},
	{.name = "step",
	 .type = KMS_CONF_ENUM,
	 .flags = KMS_CONF_REPEATABLE, /* none: a restore file without init-token */
	 .words = step_words},
	{.name = "module", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
	{.name = "module_params", .type = KMS_CONF_STRING},
	{.name = "token_label", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "slot", .type = KMS_CONF_U64, .flags = KMS_CONF_HEX, .max = UINT64_MAX},
	{.name = "store", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
	{.name = "kek_label", .type = KMS_CONF_STRING, .def = "kms.kek"},
	{.name = "signing_key_label", .type = KMS_CONF_STRING, .def = "kms.ceremony"},
	{.name = "audit_key_label", .type = KMS_CONF_STRING, .def = "kms.audit"},
	{.name = "kwp_mechanism",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_HEX,
	 .def = "0x210A",
	 .min = 1,
	 .max = UINT32_MAX},
	{.name = "allow_host_ecb_wrap", .type = KMS_CONF_BOOL, .def = "no"},
	{.name = "kms_uri", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "cert_uri", .type = KMS_CONF_STRING},
	{.name = "issuer", .type = KMS_CONF_STRING},
	{.name = "valid_from", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "valid_to", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "user_key_period",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REQUIRED,
	 .min = KMS_CER_MIN_PERIOD,
	 .max = KMS_CER_MAX_PERIOD},
	{.name = "user_key_offset",
	 .type = KMS_CONF_U64,
	 .def = "0",
	 .min = 0,
	 .max = KMS_CER_MAX_PERIOD - 1},
	{.name = "domain",
	 .type = KMS_CONF_STRING,
	 .flags = KMS_CONF_REQUIRED | KMS_CONF_REPEATABLE},
	{.name = "custodian",
	 .type = KMS_CONF_STRING,
	 .flags = KMS_CONF_REQUIRED | KMS_CONF_REPEATABLE},
	{.name = "threshold",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REQUIRED,
	 .min = 2,
	 .max = KMS_CER_MAX_CUSTODIANS},
	{.name = "backup_file", .type = KMS_CONF_PATH},
	{.name = "share_output", .type = KMS_CONF_ENUM, .def = "terminal", .words = share_words},
	{.name = "share_dir", .type = KMS_CONF_PATH},
	{.name = "transcript", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
	{.name = "enrol", .type = KMS_CONF_STRING, .flags = KMS_CONF_REPEATABLE},
	{.name = "enrol_dir", .type = KMS_CONF_PATH},
	{.name = "oaep_hash", .type = KMS_CONF_ENUM, .def = "sha256", .words = oaep_words},
	{.name = "id_format", .type = KMS_CONF_ENUM, .def = "raw", .words = id_format_words},
	{.name = "premint_identities", .type = KMS_CONF_PATH},
	{.name = "premint_from", .type = KMS_CONF_STRING},
	{.name = "premint_periods", .type = KMS_CONF_U64, .min = 1, .max = KMS_CER_MAX_PREMINT},
};

#define NUM_CER_KEYS (sizeof(cer_keys) / sizeof(cer_keys[0]))

/* What the semantic checks work on. */
struct ctx {
	const struct kms_conf *c; /* borrowed */
	const char *name;         /* borrowed */
	char *err;                /* borrowed, err_len octets */
	size_t err_len;
	struct kms_cer_file *f; /* borrowed: being filled */
};

static int bad(const struct ctx *x, const char *key, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report fmt at the line of value i of key (the file's name only, for a default); PARSE. */
static int
bad(const struct ctx *x, const char *key, size_t i, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)kms_conf_verrf(x->err, x->err_len, x->name, kms_conf_line(x->c, key, i), fmt, ap);
	va_end(ap);
	return KMS_ERR_PARSE;
}

static int
nomem(const struct ctx *x)
{
	kms_conf_errf(x->err, x->err_len, x->name, 0, "out of memory");
	return KMS_ERR_NOMEM;
}

/* The text of value i of key, borrowed from the conf; "" when the key has no value i. */
static const char *
str(const struct ctx *x, const char *key, size_t i)
{
	const char *s = NULL;

	if (kms_conf_str(x->c, key, i, &s) != KMS_OK || s == NULL) {
		return "";
	}
	return s;
}

static uint64_t
num(const struct ctx *x, const char *key)
{
	uint64_t v = 0;

	if (kms_conf_u64(x->c, key, 0, &v) != KMS_OK) {
		return 0;
	}
	return v;
}

/* A copy of value i of key into *out (owned); NULL stays NULL when the key has no value. */
static int
dup_value(const struct ctx *x, const char *key, size_t i, char **out)
{
	const char *s = NULL;

	if (kms_conf_str(x->c, key, i, &s) != KMS_OK || s == NULL) {
		return KMS_OK;
	}
	if ((*out = strdup(s)) == NULL) {
		return nomem(x);
	}
	return KMS_OK;
}

/* Copies of the values of a repeatable key into *out (owned, *num_out of them). */
static int
dup_list(const struct ctx *x, const char *key, char ***out, size_t *num_out)
{
	size_t n = kms_conf_count(x->c, key), i;

	*out = NULL;
	*num_out = 0;
	if (n == 0) {
		return KMS_OK;
	}
	if ((*out = calloc(n, sizeof(**out))) == NULL) {
		return nomem(x);
	}
	for (i = 0; i < n; i++) {
		(*out)[i] = strdup(str(x, key, i));
		*num_out = i + 1;
		if ((*out)[i] == NULL) {
			return nomem(x);
		}
	}
	return KMS_OK;
}

/* Value i of key is a timestamp into *out. */
static int
get_time(const struct ctx *x, const char *key, size_t i, int64_t *out)
{
	if (kms_cer_time_parse(out, str(x, key, i)) != KMS_OK) {
		return bad(x, key, i,
			   "'%s' must be a UTC time \"YYYY-MM-DDTHH:MM:SSZ\" between 1970 and 9999 "
			   "(for example 2026-01-01T00:00:00Z)",
			   key);
	}
	return KMS_OK;
}

/* The values of key are distinct; the first repeat is refused at its line. */
static int
distinct(const struct ctx *x, const char *key, char *const *v, size_t n, const char *what)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(v[i], v[j]) == 0) {
				return bad(x, key, i, "%s repeated (first on line %u)", what,
					   kms_conf_line(x->c, key, j));
			}
		}
	}
	return KMS_OK;
}

static int
check_identity(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	size_t i, len;
	int r;

	if ((r = dup_value(x, "ceremony", 0, &f->ceremony)) != KMS_OK ||
	    (r = dup_value(x, "operator", 0, &f->operator_name)) != KMS_OK ||
	    (r = dup_list(x, "witness", &f->witnesses, &f->num_witnesses)) != KMS_OK) {
		return r;
	}
	len = strlen(f->ceremony);
	if (len == 0 || len > KMS_CER_MAX_NAME ||
	    strspn(f->ceremony,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
		return bad(x, "ceremony", 0,
			   "'ceremony' must be 1 to %u characters among A-Z, a-z, 0-9, '.', '_' "
			   "and '-'",
			   KMS_CER_MAX_NAME);
	}
	if (!kms_cer_check_text(f->operator_name, strlen(f->operator_name), KMS_CER_MAX_TEXT)) {
		return bad(x, "operator", 0,
			   "'operator' must be 1 to %u octets of text without tabs and without "
			   "leading or trailing spaces",
			   KMS_CER_MAX_TEXT);
	}
	for (i = 0; i < f->num_witnesses; i++) {
		if (!kms_cer_check_text(f->witnesses[i], strlen(f->witnesses[i]),
					KMS_CER_MAX_TEXT)) {
			return bad(x, "witness", i,
				   "'witness' must be 1 to %u octets of text without tabs and "
				   "without leading or trailing spaces",
				   KMS_CER_MAX_TEXT);
		}
	}
	return KMS_OK;
}

/* The index of the "step" value that listed step s (for messages at its line). */
static size_t
step_index(const struct ctx *x, enum kms_cer_step s)
{
	size_t n = kms_conf_count(x->c, "step"), i;

	for (i = 0; i < n; i++) {
		if (kms_conf_line(x->c, "step", i) == x->f->step_lines[s]) {
			return i;
		}
	}
	return 0;
}

static int
check_steps(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	size_t n = kms_conf_count(x->c, "step"), i, s = 0;
	unsigned line;
	int last = -1;

	for (i = 0; i < n; i++) {
		if (kms_conf_enum(x->c, "step", i, &s) != KMS_OK ||
		    s >= (size_t)KMS_CER_NUM_STEPS) {
			return bad(x, "step", i, "internal error reading 'step'");
		}
		line = kms_conf_line(x->c, "step", i);
		if (f->steps[s]) {
			return bad(x, "step", i, "step '%s' listed twice (first on line %u)",
				   step_words[s], f->step_lines[s]);
		}
		if ((int)s < last) {
			return bad(
				x, "step", i,
				"step '%s' must come before step '%s' (line %u): the steps run in "
				"the order init-token, generate, certificate, backup, enrol, "
				"premint",
				step_words[s], step_words[last], f->step_lines[last]);
		}
		f->steps[s] = 1;
		f->step_lines[s] = line;
		last = (int)s;
	}
	for (s = KMS_CER_CERTIFICATE; s <= KMS_CER_BACKUP; s++) {
		if (f->steps[s] && !f->steps[KMS_CER_GENERATE]) {
			return bad(x, "step", step_index(x, (enum kms_cer_step)s),
				   "step '%s' needs step 'generate' in the same file (the keys it "
				   "%s exist only in the run that generates them)",
				   step_words[s], s == KMS_CER_BACKUP ? "saves" : "certifies");
		}
	}
	return KMS_OK;
}

static int
check_token(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	bool b = false;
	size_t e = 0;
	int r;

	if ((r = dup_value(x, "module", 0, &f->module)) != KMS_OK ||
	    (r = dup_value(x, "module_params", 0, &f->module_params)) != KMS_OK ||
	    (r = dup_value(x, "token_label", 0, &f->token_label)) != KMS_OK ||
	    (r = dup_value(x, "store", 0, &f->store)) != KMS_OK ||
	    (r = dup_value(x, "kek_label", 0, &f->kek_label)) != KMS_OK ||
	    (r = dup_value(x, "signing_key_label", 0, &f->signing_key_label)) != KMS_OK ||
	    (r = dup_value(x, "audit_key_label", 0, &f->audit_key_label)) != KMS_OK ||
	    (r = dup_value(x, "transcript", 0, &f->transcript)) != KMS_OK) {
		return r;
	}
	if (f->module_params != NULL && strlen(f->module_params) > KMS_CER_MAX_MODULE_PARAMS) {
		return bad(x, "module_params", 0, "'module_params' must be at most %u octets",
			   KMS_CER_MAX_MODULE_PARAMS);
	}
	if (!kms_cer_check_ascii(f->token_label, strlen(f->token_label), KMS_CER_MAX_TOKEN_LABEL,
				 1)) {
		return bad(x, "token_label", 0,
			   "'token_label' must be 1 to %u printable ASCII characters without "
			   "leading or trailing spaces",
			   KMS_CER_MAX_TOKEN_LABEL);
	}
	if (!kms_cer_check_ascii(f->kek_label, strlen(f->kek_label), KMS_CER_MAX_KEY_LABEL, 1)) {
		return bad(x, "kek_label", 0,
			   "'kek_label' must be 1 to %u printable ASCII characters without "
			   "leading or trailing spaces",
			   KMS_CER_MAX_KEY_LABEL);
	}
	if (!kms_cer_check_ascii(f->signing_key_label, strlen(f->signing_key_label),
				 KMS_CER_MAX_KEY_LABEL, 1)) {
		return bad(x, "signing_key_label", 0,
			   "'signing_key_label' must be 1 to %u printable ASCII characters "
			   "without leading or trailing spaces",
			   KMS_CER_MAX_KEY_LABEL);
	}
	if (strcmp(f->kek_label, f->signing_key_label) == 0) {
		return bad(x, "signing_key_label", 0,
			   "'signing_key_label' must differ from 'kek_label'");
	}
	if (!kms_cer_check_ascii(f->audit_key_label, strlen(f->audit_key_label),
				 KMS_CER_MAX_KEY_LABEL, 1)) {
		return bad(x, "audit_key_label", 0,
			   "'audit_key_label' must be 1 to %u printable ASCII characters "
			   "without leading or trailing spaces",
			   KMS_CER_MAX_KEY_LABEL);
	}
	if (strcmp(f->audit_key_label, f->signing_key_label) == 0 ||
	    strcmp(f->audit_key_label, f->kek_label) == 0) {
		return bad(x, "audit_key_label", 0,
			   "'audit_key_label' must differ from 'kek_label' and "
			   "'signing_key_label'");
	}
	if (kms_conf_count(x->c, "slot") > 0) {
		if (!f->steps[KMS_CER_INIT_TOKEN]) {
			return bad(x, "slot", 0,
				   "'slot' is used only by step 'init-token', which this file does "
				   "not list (later steps find the token by its label)");
		}
		f->has_slot = 1;
		f->slot = num(x, "slot");
	}
	f->kwp_mechanism = num(x, "kwp_mechanism");
	if (kms_conf_bool(x->c, "allow_host_ecb_wrap", 0, &b) != KMS_OK) {
		return bad(x, "allow_host_ecb_wrap", 0, "internal error");
	}
	f->allow_host_ecb_wrap = b ? 1 : 0;
	if (kms_conf_enum(x->c, "oaep_hash", 0, &e) != KMS_OK) {
		return bad(x, "oaep_hash", 0, "internal error");
	}
	f->oaep_hash = e == 0 ? KMS_CER_OAEP_SHA1 : KMS_CER_OAEP_SHA256;
	if (kms_conf_enum(x->c, "id_format", 0, &e) != KMS_OK) {
		return bad(x, "id_format", 0, "internal error");
	}
	f->id_format = (unsigned)e;
	return KMS_OK;
}

static int
check_certificate(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	size_t i, total = 0;
	int r;

	if ((r = dup_value(x, "kms_uri", 0, &f->kms_uri)) != KMS_OK) {
		return r;
	}
	f->cert_uri = strdup(str(x, "cert_uri", 0));
	f->issuer = strdup(str(x, "issuer", 0));
	if (f->cert_uri == NULL || f->issuer == NULL) {
		return nomem(x);
	}
	if (!kms_cer_check_uri(f->kms_uri, strlen(f->kms_uri), KMS_CER_MAX_URI)) {
		return bad(x, "kms_uri", 0, "'kms_uri' must be 1 to %u octets without spaces",
			   KMS_CER_MAX_URI);
	}
	if (f->cert_uri[0] != '\0' &&
	    !kms_cer_check_uri(f->cert_uri, strlen(f->cert_uri), KMS_CER_MAX_URI)) {
		return bad(x, "cert_uri", 0, "'cert_uri' must be 1 to %u octets without spaces",
			   KMS_CER_MAX_URI);
	}
	if (f->issuer[0] != '\0' &&
	    !kms_cer_check_text(f->issuer, strlen(f->issuer), KMS_CER_MAX_ISSUER)) {
		return bad(x, "issuer", 0,
			   "'issuer' must be 1 to %u octets of text without tabs and without "
			   "leading or trailing spaces",
			   KMS_CER_MAX_ISSUER);
	}
	if ((r = get_time(x, "valid_from", 0, &f->valid_from)) != KMS_OK ||
	    (r = get_time(x, "valid_to", 0, &f->valid_to)) != KMS_OK) {
		return r;
	}
	if (f->valid_to <= f->valid_from) {
		return bad(x, "valid_to", 0, "'valid_to' must be later than 'valid_from' (line %u)",
			   kms_conf_line(x->c, "valid_from", 0));
	}
	f->user_key_period = num(x, "user_key_period");
	f->user_key_offset = num(x, "user_key_offset");
	if (f->user_key_offset >= f->user_key_period) {
		return bad(x, "user_key_offset", 0,
			   "'user_key_offset' must be less than 'user_key_period' (%llu)",
			   (unsigned long long)f->user_key_period);
	}
	if ((r = dup_list(x, "domain", &f->domains, &f->num_domains)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < f->num_domains; i++) {
		size_t len = strlen(f->domains[i]);

		if (i == KMS_CER_MAX_DOMAINS) {
			return bad(x, "domain", i, "more than %u 'domain' lines",
				   KMS_CER_MAX_DOMAINS);
		}
		if (!kms_cer_check_uri(f->domains[i], len, KMS_CER_MAX_URI)) {
			return bad(x, "domain", i, "'domain' must be 1 to %u octets without spaces",
				   KMS_CER_MAX_URI);
		}
		total += len + (i > 0 ? 1 : 0);
		if (total > KMS_CER_MAX_DOMAIN_LIST) {
			return bad(x, "domain", i,
				   "the domains take more than %u octets together (with one space "
				   "between two)",
				   KMS_CER_MAX_DOMAIN_LIST);
		}
	}
	return distinct(x, "domain", f->domains, f->num_domains, "domain");
}

static int
check_backup(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	size_t i, e = 0;
	uint64_t t;
	int r;

	if ((r = dup_list(x, "custodian", &f->custodians, &f->num_custodians)) != KMS_OK) {
		return r;
	}
	for (i = 0; i < f->num_custodians; i++) {
		if (i == KMS_CER_MAX_CUSTODIANS) {
			return bad(x, "custodian", i, "more than %u 'custodian' lines",
				   KMS_CER_MAX_CUSTODIANS);
		}
		if (!kms_cer_check_text(f->custodians[i], strlen(f->custodians[i]),
					KMS_CER_MAX_TEXT)) {
			return bad(x, "custodian", i,
				   "'custodian' must be 1 to %u octets of text without tabs and "
				   "without leading or trailing spaces",
				   KMS_CER_MAX_TEXT);
		}
	}
	if ((r = distinct(x, "custodian", f->custodians, f->num_custodians, "custodian")) !=
	    KMS_OK) {
		return r;
	}
	if (f->num_custodians < 2) {
		return bad(x, "custodian", 0,
			   "at least 2 custodians are needed (one 'custodian' line each)");
	}
	t = num(x, "threshold");
	if (t > f->num_custodians) {
		return bad(x, "threshold", 0, "'threshold' (%llu) is more than the %zu custodians",
			   (unsigned long long)t, f->num_custodians);
	}
	f->threshold = (unsigned)t;

	if ((r = dup_value(x, "backup_file", 0, &f->backup_file)) != KMS_OK ||
	    (r = dup_value(x, "share_dir", 0, &f->share_dir)) != KMS_OK) {
		return r;
	}
	if (f->backup_file != NULL && !f->steps[KMS_CER_BACKUP]) {
		return bad(x, "backup_file", 0,
			   "'backup_file' is set but the file lists no 'step = backup'");
	}
	if (f->backup_file == NULL && f->steps[KMS_CER_BACKUP]) {
		return bad(x, "step", step_index(x, KMS_CER_BACKUP),
			   "step 'backup' needs 'backup_file'");
	}
	if (kms_conf_enum(x->c, "share_output", 0, &e) != KMS_OK) {
		return bad(x, "share_output", 0, "internal error");
	}
	f->share_output = e == 1 ? KMS_CER_SHARES_FILES : KMS_CER_SHARES_TERMINAL;
	if (f->share_output == KMS_CER_SHARES_FILES && f->share_dir == NULL) {
		return bad(x, "share_output", 0, "'share_output = files' needs 'share_dir'");
	}
	if (f->share_output != KMS_CER_SHARES_FILES && f->share_dir != NULL) {
		return bad(x, "share_dir", 0,
			   "'share_dir' is only for 'share_output = files' (the shares go to the "
			   "terminal)");
	}
	return KMS_OK;
}

/* Split "ID CLASS KEYFILE" (value i of enrol) into e. */
static int
parse_enrol(const struct ctx *x, size_t i, struct kms_cer_enrol *e)
{
	const char *s = str(x, "enrol", i), *w[3];
	size_t wl[3], n = 0, p = 0, len = strlen(s);

	e->line = kms_conf_line(x->c, "enrol", i);
	while (p < len) {
		while (p < len && (s[p] == ' ' || s[p] == '\t')) {
			p++;
		}
		if (p == len) {
			break;
		}
		if (n == 3) {
			return bad(x, "enrol", i,
				   "'enrol' must be 'CLIENT-ID CLASS KEY-FILE' (three words; the "
				   "key file's path without blanks)");
		}
		w[n] = s + p;
		while (p < len && s[p] != ' ' && s[p] != '\t') {
			p++;
		}
		wl[n] = (size_t)(s + p - w[n]);
		n++;
	}
	if (n != 3) {
		return bad(x, "enrol", i,
			   "'enrol' must be 'CLIENT-ID CLASS KEY-FILE' (three words; the key "
			   "file's path without blanks)");
	}
	if (!kms_cer_check_ascii(w[0], wl[0], KMS_CER_MAX_CLIENT_ID, 0)) {
		return bad(x, "enrol", i,
			   "the client id of 'enrol' must be 1 to %u printable ASCII characters "
			   "without blanks",
			   KMS_CER_MAX_CLIENT_ID);
	}
	if (wl[1] == 2 && memcmp(w[1], "ue", 2) == 0) {
		e->server = 0;
	} else if (wl[1] == 6 && memcmp(w[1], "server", 6) == 0) {
		e->server = 1;
	} else {
		return bad(x, "enrol", i, "the class of 'enrol' must be 'ue' or 'server'");
	}
	if (w[2][0] != '/' || wl[2] > KMS_CONF_MAX_PATH) {
		return bad(x, "enrol", i,
			   "the key file of 'enrol' must be an absolute path (at most %u octets)",
			   KMS_CONF_MAX_PATH);
	}
	if ((e->client_id = strndup(w[0], wl[0])) == NULL ||
	    (e->key_file = strndup(w[2], wl[2])) == NULL) {
		return nomem(x);
	}
	return KMS_OK;
}

static int
check_enrol(const struct ctx *x)
{
	struct kms_cer_file *f = x->f;
	size_t n = kms_conf_count(x->c, "enrol"), i, j;
	int r;

	if ((r = dup_value(x, "enrol_dir", 0, &f->enrol_dir)) != KMS_OK) {
		return r;
	}
	if (n > 0) {
		if ((f->enrols = calloc(n, sizeof(*f->enrols))) == NULL) {
			return nomem(x);
		}
		f->num_enrols = n;
	}
	for (i = 0; i < n; i++) {
		if ((r = parse_enrol(x, i, &f->enrols[i])) != KMS_OK) {
			return r;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(f->enrols[i].client_id, f->enrols[j].client_id) == 0) {
				return bad(x, "enrol", i,
					   "client id enrolled twice (first on line %u)",
					   f->enrols[j].line);
			}
		}
	}
	if (n > 0 && !f->steps[KMS_CER_ENROL]) {
		return bad(x, "enrol", 0, "'enrol' lines but the file lists no 'step = enrol'");
	}
	if (n == 0 && f->steps[KMS_CER_ENROL]) {
		return bad(x, "step", step_index(x, KMS_CER_ENROL),
			   "step 'enrol' needs at least one 'enrol' line");
	}
	if (n > 0 && f->enrol_dir == NULL) {
		return bad(x, "enrol", 0, "'enrol' lines need 'enrol_dir'");
	}
	if (n == 0 && f->enrol_dir != NULL) {
		return bad(x, "enrol_dir", 0, "'enrol_dir' is set but there is no 'enrol' line");
	}
	return KMS_OK;
}

static int
check_premint(const struct ctx *x)
{
	static const char *const pkeys[] = {"premint_identities", "premint_from",
					    "premint_periods"};
	struct kms_cer_file *f = x->f;
	size_t k;
	int r;

	for (k = 0; k < 3; k++) {
		int set = kms_conf_count(x->c, pkeys[k]) > 0;

		if (set && !f->steps[KMS_CER_PREMINT]) {
			return bad(x, pkeys[k], 0,
				   "'%s' is set but the file lists no 'step = premint'", pkeys[k]);
		}
		if (!set && f->steps[KMS_CER_PREMINT]) {
			return bad(x, "step", step_index(x, KMS_CER_PREMINT),
				   "step 'premint' needs '%s'", pkeys[k]);
		}
	}
	if (!f->steps[KMS_CER_PREMINT]) {
		return KMS_OK;
	}
	if ((r = dup_value(x, "premint_identities", 0, &f->premint_identities)) != KMS_OK ||
	    (r = get_time(x, "premint_from", 0, &f->premint_from)) != KMS_OK) {
		return r;
	}
	f->premint_periods = num(x, "premint_periods");
	return KMS_OK;
}

/* The semantic checks of a parsed conf, into a new struct. */
static int
from_conf(struct kms_cer_file **out, const char *name, const struct kms_conf *c, char *err,
	  size_t err_len)
{
	struct kms_cer_file *f = NULL;
	struct ctx x = {c, name, err, err_len, NULL};
	int r = KMS_ERR_INTERNAL;

	if ((f = calloc(1, sizeof(*f))) == NULL || (f->path = strdup(name)) == NULL) {
		r = nomem(&x);
		goto out;
	}
	x.f = f;
	/* In the order of the keys in a file (docs/ceremony-file.md), mostly. */
	if ((r = check_identity(&x)) != KMS_OK || (r = check_steps(&x)) != KMS_OK ||
	    (r = check_token(&x)) != KMS_OK || (r = check_certificate(&x)) != KMS_OK ||
	    (r = check_backup(&x)) != KMS_OK || (r = check_enrol(&x)) != KMS_OK ||
	    (r = check_premint(&x)) != KMS_OK) {
		goto out;
	}
	*out = f;
	f = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_cer_file_free(f);
	return r;
}

int
kms_cer_file_parse(struct kms_cer_file **out, const char *name, const uint8_t *data, size_t len,
		   char *err, size_t err_len)
{
	struct kms_conf *c = NULL;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || name == NULL || (data == NULL && len > 0) ||
	    (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_conf_parse(&c, err, err_len, cer_keys, NUM_CER_KEYS, name, data, len)) !=
	    KMS_OK) {
		goto out;
	}
	r = from_conf(out, name, c, err, err_len);
out:
	kms_conf_free(c);
	return r;
}

int
kms_cer_file_load(struct kms_cer_file **out, const char *path, char *err, size_t err_len)
{
	struct kms_conf *c = NULL;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || path == NULL || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_conf_load(&c, err, err_len, cer_keys, NUM_CER_KEYS, path)) != KMS_OK) {
		goto out;
	}
	r = from_conf(out, path, c, err, err_len);
out:
	kms_conf_free(c);
	return r;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	if (v == NULL) {
		return;
	}
	for (i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
}

void
kms_cer_file_free(struct kms_cer_file *f)
{
	size_t i;

	if (f == NULL) {
		return;
	}
	free(f->path);
	free(f->ceremony);
	free(f->operator_name);
	free_list(f->witnesses, f->num_witnesses);
	free(f->module);
	free(f->module_params);
	free(f->token_label);
	free(f->store);
	free(f->kek_label);
	free(f->signing_key_label);
	free(f->audit_key_label);
	free(f->kms_uri);
	free(f->cert_uri);
	free(f->issuer);
	free_list(f->domains, f->num_domains);
	free_list(f->custodians, f->num_custodians);
	free(f->backup_file);
	free(f->share_dir);
	free(f->transcript);
	if (f->enrols != NULL) {
		for (i = 0; i < f->num_enrols; i++) {
			free(f->enrols[i].client_id);
			free(f->enrols[i].key_file);
		}
		free(f->enrols);
	}
	free(f->enrol_dir);
	free(f->premint_identities);
	free(f);
}

/* ---- the identities list ---- */

/* An identity and its place in the file, for the duplicate check. */
struct ident {
	const char *s; /* borrowed */
	size_t i;      /* index in file order */
};

static int
ident_cmp(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c != 0) {
		return c;
	}
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * The first duplicate in file order: the smallest index that has an earlier equal; *first is
 * that earlier one's index. Sorting (O(n log n), no hash an input could make collide).
 */
static int
find_duplicate(char *const *ids, size_t n, size_t *dup, size_t *first)
{
	struct ident *v = NULL;
	size_t i, g = 0;
	*dup = SIZE_MAX;
	*first = 0;
	if (n < 2) {
		return KMS_OK;
	}
	if ((v = calloc(n, sizeof(*v))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		v[i].s = ids[i];
		v[i].i = i;
	}
	qsort(v, n, sizeof(*v), ident_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i].s, v[g].s) != 0) {
			g = i;
			continue;
		}
		/* v[i] is a repeat of the group's first; the second of a group is its earliest. */
		if (i == g + 1 && v[i].i < *dup) {
			*dup = v[i].i;
			*first = v[g].i;
		}
	}
	free(v);
	return KMS_OK;
}

int
kms_cer_identities_parse(char ***out, size_t *num, const char *name, const uint8_t *data,
			 size_t len, char *err, size_t err_len)
{
	char **ids = NULL, **grown;
	unsigned *lines = NULL, *grown_lines, lineno = 0;
	size_t n = 0, cap = 0, ln, s, j, dup, first;
	struct kms_cbs cbs, line;
	const uint8_t *nl;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (num != NULL) {
		*num = 0;
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || num == NULL || name == NULL || (data == NULL && len > 0) ||
	    (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (len > KMS_CER_MAX_IDS_FILE) {
		kms_conf_errf(err, err_len, name, 0, "larger than %u octets", KMS_CER_MAX_IDS_FILE);
		return KMS_ERR_TOO_LARGE;
	}
	kms_cbs_init(&cbs, data, len);
	while (kms_cbs_len(&cbs) > 0) {
		lineno++;
		nl = memchr(cbs.data, '\n', kms_cbs_len(&cbs));
		ln = nl != NULL ? (size_t)(nl - cbs.data) : kms_cbs_len(&cbs);
		if (kms_cbs_get_bytes(&cbs, &line, ln) != KMS_OK ||
		    (nl != NULL && kms_cbs_skip(&cbs, 1) != KMS_OK)) {
			kms_conf_errf(err, err_len, name, lineno, "internal error splitting lines");
			r = KMS_ERR_INTERNAL;
			goto out;
		}
		if (nl != NULL && ln > 0 && line.data[ln - 1] == '\r') {
			ln--; /* CRLF */
		}
		if (memchr(line.data, '\r', ln) != NULL) {
			kms_conf_errf(err, err_len, name, lineno,
				      "a carriage return that does not end the line");
			r = KMS_ERR_PARSE;
			goto out;
		}
		for (s = 0; s < ln && (line.data[s] == ' ' || line.data[s] == '\t'); s++) {
		}
		if (s == ln || line.data[s] == '#') {
			continue; /* blank or comment: any text */
		}
		if (ln > KMS_CER_MAX_URI) {
			kms_conf_errf(err, err_len, name, lineno, "identity longer than %u octets",
				      KMS_CER_MAX_URI);
			r = KMS_ERR_PARSE;
			goto out;
		}
		for (j = 0; j < ln; j++) {
			if (line.data[j] < 0x21 || line.data[j] > 0x7e) {
				kms_conf_errf(err, err_len, name, lineno,
					      "octet 0x%02x at column %zu: an identity is "
					      "printable ASCII "
					      "without blanks, one per line",
					      line.data[j], j + 1);
				r = KMS_ERR_PARSE;
				goto out;
			}
		}
		if (n == KMS_CER_MAX_IDENTITIES) {
			kms_conf_errf(err, err_len, name, lineno, "more than %u identities",
				      KMS_CER_MAX_IDENTITIES);
			r = KMS_ERR_TOO_LARGE;
			goto out;
		}
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if (cap > KMS_CER_MAX_IDENTITIES) {
				cap = KMS_CER_MAX_IDENTITIES;
			}
			if ((grown = realloc(ids, cap * sizeof(*ids))) == NULL) {
				goto nomem;
			}
			ids = grown;
			if ((grown_lines = realloc(lines, cap * sizeof(*lines))) == NULL) {
				goto nomem;
			}
			lines = grown_lines;
		}
		if ((ids[n] = strndup((const char *)line.data, ln)) == NULL) {
			goto nomem;
		}
		lines[n] = lineno;
		n++;
	}
	if ((r = find_duplicate(ids, n, &dup, &first)) != KMS_OK) {
		goto nomem;
	}
	if (dup != SIZE_MAX) {
		kms_conf_errf(err, err_len, name, lines[dup], "duplicate of line %u", lines[first]);
		r = KMS_ERR_PARSE;
		goto out;
	}
	*out = ids;
	*num = n;
	ids = NULL; /* transferred */
	n = 0;
	r = KMS_OK;
	goto out;
nomem:
	kms_conf_errf(err, err_len, name, 0, "out of memory");
	r = KMS_ERR_NOMEM;
out:
	kms_cer_identities_free(ids, n);
	free(lines);
	return r;
}

int
kms_cer_identities_load(char ***out, size_t *num, const char *path, char *err, size_t err_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (num != NULL) {
		*num = 0;
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || num == NULL || path == NULL || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_conf_read_file(path, KMS_CER_MAX_IDS_FILE, &buf, &len, err, err_len)) !=
	    KMS_OK) {
		goto out;
	}
	r = kms_cer_identities_parse(out, num, path, buf, len, err, err_len);
out:
	free(buf);
	return r;
}

void
kms_cer_identities_free(char **ids, size_t num)
{
	free_list(ids, num);
}
