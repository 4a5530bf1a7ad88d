/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key ceremony file and the identities list (tools/ceremony-file.c): a golden file with
 * every key, the defaults, every value rule and cross-key rule with its line, the order of the
 * steps, deploy/ceremony.example, the timestamps, and malformed input (truncation at every
 * offset, bit flips, limits).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/conf.h"
#include "tests/unit/kms_test.h"
#include "tools/ceremony-file.h"

#include "common/banned.h"

static char err[KMS_CONF_ERR_LEN];

/* A file with every key (line numbers in the comments are the file's). */
static const char *const base[] = {
	"# test ceremony",                                       /* 1 */
	"ceremony = dom-2026.1",                                 /* 2 */
	"operator = Ana M\xc3\xbcller",                          /* 3 */
	"witness = W One",                                       /* 4 */
	"witness = W Two",                                       /* 5 */
	"step = init-token",                                     /* 6 */
	"step = generate",                                       /* 7 */
	"step = certificate",                                    /* 8 */
	"step = backup",                                         /* 9 */
	"step = enrol",                                          /* 10 */
	"step = premint",                                        /* 11 */
	"module = /usr/lib/softhsm/libsofthsm2.so",              /* 12 */
	"token_label = kms-prod",                                /* 13 */
	"slot = 0x10",                                           /* 14 */
	"store = /var/lib/kms/kms.db",                           /* 15 */
	"kek_label = kms.kek.2026",                              /* 16 */
	"signing_key_label = kms.ceremony.2026",                 /* 17 */
	"kwp_mechanism = 0x210b",                                /* 18 */
	"allow_host_ecb_wrap = yes",                             /* 19 */
	"kms_uri = kms.example.org",                             /* 20 */
	"cert_uri = kms.example.org/cert/2026",                  /* 21 */
	"issuer = Example Mission Critical Operator",            /* 22 */
	"valid_from = 2026-01-01T00:00:00Z",                     /* 23 */
	"valid_to = 2028-02-29T12:34:56Z",                       /* 24 */
	"user_key_period = 2592000",                             /* 25 */
	"user_key_offset = 3600",                                /* 26 */
	"domain = example.org",                                  /* 27 */
	"domain = mc.example.org",                               /* 28 */
	"custodian = Custodian A",                               /* 29 */
	"custodian = Custodian B",                               /* 30 */
	"custodian = Custodian C",                               /* 31 */
	"threshold = 2",                                         /* 32 */
	"backup_file = /media/backup/kms.backup",                /* 33 */
	"share_output = files",                                  /* 34 */
	"share_dir = /media/shares",                             /* 35 */
	"transcript = /var/lib/kms/ceremony.transcript",         /* 36 */
	"enrol = mcptt-server-1 server /etc/kms/clients/s1.pem", /* 37 */
	"enrol =  ue-7\tue   /etc/kms/clients/ue7.kek",          /* 38 */
	"enrol_dir = /media/enrol",                              /* 39 */
	"oaep_hash = sha1",                                      /* 40 */
	"premint_identities = /etc/kms/ids.txt",                 /* 41 */
	"premint_from = 2026-02-01T00:00:00Z",                   /* 42 */
	"premint_periods = 12",                                  /* 43 */
	NULL,
};

/* One change to base: the first line (all lines if all) of key becomes line (NULL: gone). */
struct ed {
	const char *key; /* NULL: append line at the end */
	const char *line;
	int all;
};

static char text[1 << 20];
static size_t text_len;

static int
is_key(const char *line, const char *key)
{
	size_t n = strlen(key);

	return strncmp(line, key, n) == 0 && line[n] == ' ' && line[n + 1] == '=';
}

static void
append(const char *s)
{
	size_t n = strlen(s);

	CU_ASSERT_FATAL(text_len + n + 2 < sizeof(text));
	memcpy(text + text_len, s, n);
	text_len += n;
	text[text_len++] = '\n';
	text[text_len] = '\0';
}

/* Build text from base with the edits; returns the line of the first edit's result. */
static unsigned
build(const struct ed *e, size_t n)
{
	int used[24] = {0};
	unsigned line = 0, at = 0;
	size_t i, j;

	CU_ASSERT_FATAL(n <= 24);
	text_len = 0;
	text[0] = '\0';
	for (i = 0; base[i] != NULL; i++) {
		const char *out = base[i];

		for (j = 0; j < n; j++) {
			if (e[j].key != NULL && is_key(base[i], e[j].key) &&
			    (e[j].all || !used[j])) {
				used[j] = 1;
				out = e[j].line;
				if (j == 0 && at == 0) {
					at = out != NULL ? line + 1 : line;
				}
				break;
			}
		}
		if (out != NULL) {
			append(out);
			line++;
		}
	}
	for (j = 0; j < n; j++) {
		if (e[j].key == NULL) {
			append(e[j].line);
			line++;
			if (j == 0) {
				at = line;
			}
		}
	}
	return at;
}

static int
parse(struct kms_cer_file **f)
{
	return kms_cer_file_parse(f, "t.conf", (const uint8_t *)text, text_len, err, sizeof(err));
}

/* text is refused at line with a message containing why (line 0: no line). */
static void
refused_at(unsigned line, const char *why)
{
	struct kms_cer_file *f = (struct kms_cer_file *)1;
	char prefix[64];
	int r = parse(&f);

	CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
	CU_ASSERT_PTR_NULL(f);
	if (line > 0) {
		(void)snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	} else {
		(void)snprintf(prefix, sizeof(prefix), "t.conf: ");
	}
	CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	if (r != KMS_ERR_PARSE || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, why) == NULL) {
		fprintf(stderr, "\nwanted %s...%s, got '%s'\n", prefix, why, err);
	}
	kms_cer_file_free(r == KMS_OK ? f : NULL);
}

/* Replace the first line of key by line and expect a refusal there. */
static void
bad_value(const char *key, const char *line, const char *why)
{
	struct ed e = {key, line, 0};
	unsigned at = build(&e, 1);

	CU_ASSERT(at > 0);
	refused_at(at, why);
}

static void
test_golden(void)
{
	struct kms_cer_file *f = NULL;

	build(NULL, 0);
	CU_ASSERT_EQUAL_FATAL(parse(&f), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(f->path, "t.conf");
	CU_ASSERT_STRING_EQUAL(f->ceremony, "dom-2026.1");
	CU_ASSERT_STRING_EQUAL(f->operator_name, "Ana M\xc3\xbcller");
	CU_ASSERT_EQUAL_FATAL(f->num_witnesses, 2);
	CU_ASSERT_STRING_EQUAL(f->witnesses[0], "W One");
	CU_ASSERT_STRING_EQUAL(f->witnesses[1], "W Two");
	CU_ASSERT_STRING_EQUAL(f->module, "/usr/lib/softhsm/libsofthsm2.so");
	CU_ASSERT_STRING_EQUAL(f->token_label, "kms-prod");
	CU_ASSERT_EQUAL(f->has_slot, 1);
	CU_ASSERT_EQUAL(f->slot, 16);
	CU_ASSERT_STRING_EQUAL(f->store, "/var/lib/kms/kms.db");
	CU_ASSERT_STRING_EQUAL(f->kek_label, "kms.kek.2026");
	CU_ASSERT_STRING_EQUAL(f->signing_key_label, "kms.ceremony.2026");
	CU_ASSERT_EQUAL(f->kwp_mechanism, 0x210b);
	CU_ASSERT_EQUAL(f->allow_host_ecb_wrap, 1);
	CU_ASSERT_STRING_EQUAL(f->kms_uri, "kms.example.org");
	CU_ASSERT_STRING_EQUAL(f->cert_uri, "kms.example.org/cert/2026");
	CU_ASSERT_STRING_EQUAL(f->issuer, "Example Mission Critical Operator");
	CU_ASSERT_EQUAL(f->valid_from, 1767225600);
	CU_ASSERT_EQUAL(f->valid_to, 1835440496);
	CU_ASSERT_EQUAL(f->user_key_period, 2592000);
	CU_ASSERT_EQUAL(f->user_key_offset, 3600);
	CU_ASSERT_EQUAL_FATAL(f->num_domains, 2);
	CU_ASSERT_STRING_EQUAL(f->domains[0], "example.org");
	CU_ASSERT_STRING_EQUAL(f->domains[1], "mc.example.org");
	CU_ASSERT_EQUAL_FATAL(f->num_custodians, 3);
	CU_ASSERT_STRING_EQUAL(f->custodians[0], "Custodian A");
	CU_ASSERT_STRING_EQUAL(f->custodians[2], "Custodian C");
	CU_ASSERT_EQUAL(f->threshold, 2);
	CU_ASSERT_STRING_EQUAL(f->backup_file, "/media/backup/kms.backup");
	CU_ASSERT_EQUAL(f->share_output, KMS_CER_SHARES_FILES);
	CU_ASSERT_STRING_EQUAL(f->share_dir, "/media/shares");
	CU_ASSERT_STRING_EQUAL(f->transcript, "/var/lib/kms/ceremony.transcript");
	CU_ASSERT_EQUAL_FATAL(f->num_enrols, 2);
	CU_ASSERT_STRING_EQUAL(f->enrols[0].client_id, "mcptt-server-1");
	CU_ASSERT_EQUAL(f->enrols[0].server, 1);
	CU_ASSERT_STRING_EQUAL(f->enrols[0].key_file, "/etc/kms/clients/s1.pem");
	CU_ASSERT_EQUAL(f->enrols[0].line, 37);
	CU_ASSERT_STRING_EQUAL(f->enrols[1].client_id, "ue-7");
	CU_ASSERT_EQUAL(f->enrols[1].server, 0);
	CU_ASSERT_STRING_EQUAL(f->enrols[1].key_file, "/etc/kms/clients/ue7.kek");
	CU_ASSERT_EQUAL(f->enrols[1].line, 38);
	CU_ASSERT_STRING_EQUAL(f->enrol_dir, "/media/enrol");
	CU_ASSERT_EQUAL(f->oaep_hash, KMS_CER_OAEP_SHA1);
	CU_ASSERT_STRING_EQUAL(f->premint_identities, "/etc/kms/ids.txt");
	CU_ASSERT_EQUAL(f->premint_from, 1767225600 + 31 * 86400);
	CU_ASSERT_EQUAL(f->premint_periods, 12);
	for (int s = 0; s < KMS_CER_NUM_STEPS; s++) {
		CU_ASSERT_EQUAL(f->steps[s], 1);
		CU_ASSERT_EQUAL(f->step_lines[s], 6 + (unsigned)s);
	}
	kms_cer_file_free(f);
}

/* The smallest run: no backup, enrol or premint; every default. */
static void
test_defaults(void)
{
	const struct ed e[] = {
		{"witness", NULL, 1},
		{"slot", NULL, 0},
		{"kek_label", NULL, 0},
		{"signing_key_label", NULL, 0},
		{"kwp_mechanism", NULL, 0},
		{"cert_uri", NULL, 0},
		{"issuer", NULL, 0},
		{"user_key_offset", NULL, 0},
		{"step", NULL, 1},
		{"backup_file", NULL, 0},
		{"share_output", NULL, 0},
		{"share_dir", NULL, 0},
		{"enrol", NULL, 1},
		{"enrol_dir", NULL, 0},
		{"oaep_hash", NULL, 0},
		{"allow_host_ecb_wrap", NULL, 0},
		{"premint_identities", NULL, 0},
		{"premint_from", NULL, 0},
		{"premint_periods", NULL, 0},
	};
	struct kms_cer_file *f = NULL;

	build(e, sizeof(e) / sizeof(e[0]));
	append("step = init-token");
	append("step = generate");
	append("step = certificate");
	CU_ASSERT_EQUAL_FATAL(parse(&f), KMS_OK);
	if (f == NULL) {
		fprintf(stderr, "\n%s\n", err);
		return;
	}
	CU_ASSERT_EQUAL(f->num_witnesses, 0);
	CU_ASSERT_PTR_NULL(f->witnesses);
	CU_ASSERT_EQUAL(f->has_slot, 0);
	CU_ASSERT_STRING_EQUAL(f->kek_label, "kms.kek");
	CU_ASSERT_STRING_EQUAL(f->signing_key_label, "kms.ceremony");
	CU_ASSERT_STRING_EQUAL(f->audit_key_label, "kms.audit");
	CU_ASSERT_EQUAL(f->kwp_mechanism, 0x210a);
	CU_ASSERT_EQUAL(f->allow_host_ecb_wrap, 0);
	CU_ASSERT_PTR_NULL(f->module_params);
	CU_ASSERT_STRING_EQUAL(f->cert_uri, "");
	CU_ASSERT_STRING_EQUAL(f->issuer, "");
	CU_ASSERT_EQUAL(f->user_key_offset, 0);
	CU_ASSERT_PTR_NULL(f->backup_file);
	CU_ASSERT_EQUAL(f->share_output, KMS_CER_SHARES_TERMINAL);
	CU_ASSERT_PTR_NULL(f->share_dir);
	CU_ASSERT_EQUAL(f->num_enrols, 0);
	CU_ASSERT_PTR_NULL(f->enrols);
	CU_ASSERT_PTR_NULL(f->enrol_dir);
	CU_ASSERT_EQUAL(f->oaep_hash, KMS_CER_OAEP_SHA256);
	CU_ASSERT_EQUAL(f->id_format, 0);
	CU_ASSERT_PTR_NULL(f->premint_identities);
	CU_ASSERT_EQUAL(f->premint_periods, 0);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_INIT_TOKEN], 1);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_GENERATE], 1);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_CERTIFICATE], 1);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_BACKUP], 0);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_ENROL], 0);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_PREMINT], 0);
	kms_cer_file_free(f);
}

/* A later run against an existing domain: enrol and premint alone. */
static void
test_later_run(void)
{
	const struct ed e[] = {
		{"step", NULL, 1},         {"slot", NULL, 0},           {"backup_file", NULL, 0},
		{NULL, "step = enrol", 0}, {NULL, "step = premint", 0},
	};
	struct kms_cer_file *f = NULL;

	build(e, 5);
	CU_ASSERT_EQUAL_FATAL(parse(&f), KMS_OK);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_GENERATE], 0);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_ENROL], 1);
	CU_ASSERT_EQUAL(f->steps[KMS_CER_PREMINT], 1);
	CU_ASSERT_EQUAL(f->num_enrols, 2);
	kms_cer_file_free(f);
}

static void
test_steps(void)
{
	struct ed e[3] = {{0}};

	/* Out of order: generate after certificate (the later line is at fault). */
	e[0] = (struct ed){"step", NULL, 1};
	e[1] = (struct ed){NULL, "step = init-token", 0};
	e[2] = (struct ed){NULL, "step = certificate", 0};
	build(e, 3);
	append("step = generate");
	refused_at(40, "step 'generate' must come before step 'certificate' (line 39)");

	/* Listed twice. */
	e[0] = (struct ed){"step", "step = generate", 0};
	e[1] = (struct ed){NULL, "step = generate", 0};
	build(e, 2);
	refused_at(7, "step 'generate' listed twice (first on line 6)");

	/* certificate and backup need generate. */
	e[0] = (struct ed){"step", NULL, 1};
	e[1] = (struct ed){NULL, "step = certificate", 0};
	build(e, 2);
	refused_at(38, "step 'certificate' needs step 'generate' in the same file");
	e[1] = (struct ed){NULL, "step = backup", 0};
	build(e, 2);
	refused_at(38, "step 'backup' needs step 'generate' in the same file");

	/* An unknown step (common/conf.h's message). */
	bad_value("step", "step = fly", "'step'");
	/* No step at all: a restore file (kms-ceremony run refuses it). */
	{
		const struct ed none[] = {
			{"slot", NULL, 0},         {"step", NULL, 1},
			{"backup_file", NULL, 0},  {"share_output", NULL, 0},
			{"share_dir", NULL, 0},    {"enrol", NULL, 1},
			{"enrol_dir", NULL, 0},    {"premint_identities", NULL, 0},
			{"premint_from", NULL, 0}, {"premint_periods", NULL, 0},
		};
		struct kms_cer_file *f = NULL;
		size_t i;

		build(none, sizeof(none) / sizeof(none[0]));
		CU_ASSERT_EQUAL_FATAL(parse(&f), KMS_OK);
		for (i = 0; i < KMS_CER_NUM_STEPS; i++) {
			CU_ASSERT_EQUAL(f->steps[i], 0);
		}
		kms_cer_file_free(f);
	}
}

static void
test_cross_keys(void)
{
	struct ed e[3] = {{0}};

	/* backup_file iff step backup */
	e[0] = (struct ed){"backup_file", NULL, 0};
	build(e, 1);
	refused_at(9, "step 'backup' needs 'backup_file'");
	{
		/* Steps rewritten: generate alone. */
		const struct ed e2[] = {
			{"backup_file", "backup_file = /b", 0},
			{"step", NULL, 1},
			{"slot", NULL, 0},
			{NULL, "step = generate", 0},
		};

		build(e2, 4);
		refused_at(26, "'backup_file' is set but the file lists no 'step = backup'");
	}

	/* share_dir iff share_output = files */
	e[0] = (struct ed){"share_dir", NULL, 0};
	build(e, 1);
	refused_at(34, "'share_output = files' needs 'share_dir'");
	e[0] = (struct ed){"share_output", "share_output = terminal", 0};
	build(e, 1);
	refused_at(35, "'share_dir' is only for 'share_output = files'");
	e[0] = (struct ed){"share_output", NULL, 0};
	build(e, 1);
	refused_at(34, "'share_dir' is only for 'share_output = files'");

	/* enrol_dir iff enrol lines; enrol lines iff step enrol */
	e[0] = (struct ed){"enrol_dir", NULL, 0};
	build(e, 1);
	refused_at(37, "'enrol' lines need 'enrol_dir'");
	e[0] = (struct ed){"enrol", NULL, 1};
	build(e, 1);
	refused_at(10, "step 'enrol' needs at least one 'enrol' line");
	{
		const struct ed e2[] = {
			{"enrol", NULL, 1},
			{"step", NULL, 1},
			{"slot", NULL, 0},
			{"backup_file", NULL, 0},
			{NULL, "step = generate", 0},
		};

		build(e2, 5);
		refused_at(29, "'enrol_dir' is set but there is no 'enrol' line");
	}
	{
		const struct ed e2[] = {
			{"step", NULL, 1},
			{NULL, "step = premint", 0},
			{"backup_file", NULL, 0},
			{"slot", NULL, 0},
		};

		build(e2, 4);
		refused_at(29, "'enrol' lines but the file lists no 'step = enrol'");
	}

	/* the premint keys iff step premint */
	e[0] = (struct ed){"premint_identities", NULL, 0};
	build(e, 1);
	refused_at(11, "step 'premint' needs 'premint_identities'");
	e[0] = (struct ed){"premint_from", NULL, 0};
	build(e, 1);
	refused_at(11, "step 'premint' needs 'premint_from'");
	e[0] = (struct ed){"premint_periods", NULL, 0};
	build(e, 1);
	refused_at(11, "step 'premint' needs 'premint_periods'");
	{
		const struct ed e2[] = {
			{"step", NULL, 1},
			{NULL, "step = enrol", 0},
			{"backup_file", NULL, 0},
			{"slot", NULL, 0},
		};

		build(e2, 4);
		refused_at(33, "'premint_identities' is set but the file lists no 'step = "
			       "premint'");
	}
	{
		const struct ed e2[] = {
			{"step", NULL, 1},         {NULL, "step = enrol", 0},
			{"backup_file", NULL, 0},  {"premint_identities", NULL, 0},
			{"premint_from", NULL, 0}, {"slot", NULL, 0},
		};

		build(e2, 6);
		refused_at(33, "'premint_periods' is set but the file lists no 'step = premint'");
	}

	/* slot only with init-token */
	{
		const struct ed e2[] = {
			{"step", NULL, 1},
			{NULL, "step = enrol", 0},
			{"backup_file", NULL, 0},
		};
		build(e2, 3);
		/* (enrol alone would be fine, but slot is set) */
		refused_at(8, "'slot' is used only by step 'init-token'");
	}

	/* threshold <= custodians */
	bad_value("threshold", "threshold = 4", "'threshold' (4) is more than the 3 custodians");
	e[0] = (struct ed){"custodian", NULL, 0};
	e[1] = (struct ed){"custodian", NULL, 0};
	build(e, 2);
	refused_at(29, "at least 2 custodians are needed");
	{
		struct ed d = {"custodian", "custodian = Custodian B", 0};

		build(&d, 1);
		refused_at(30, "custodian repeated (first on line 29)");
	}

	/* valid_to after valid_from; offset below period */
	bad_value("valid_to", "valid_to = 2026-01-01T00:00:00Z",
		  "'valid_to' must be later than 'valid_from' (line 23)");
	bad_value("valid_to", "valid_to = 2025-12-31T23:59:59Z", "must be later");
	e[0] = (struct ed){"user_key_period", "user_key_period = 3600", 0};
	e[1] = (struct ed){"user_key_offset", "user_key_offset = 3600", 0};
	build(e, 2);
	refused_at(26, "'user_key_offset' must be less than 'user_key_period' (3600)");
	bad_value("signing_key_label", "signing_key_label = kms.kek.2026",
		  "must differ from 'kek_label'");
}

/* Long values for the limits. */
static char *
repeat(char c, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *s = malloc(pl + n + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	s[pl + n] = '\0';
	return s;
}

static void
test_values(void)
{
	struct kms_cer_file *f = NULL;
	char *s;

	bad_value("ceremony", "ceremony = bad name", "'ceremony' must be 1 to 64 characters");
	bad_value("ceremony", "ceremony = a/b", "'ceremony' must be");
	bad_value("ceremony", "ceremony = \"\"", "'ceremony' must be");
	s = repeat('a', 65, "ceremony = ");
	bad_value("ceremony", s, "'ceremony' must be");
	free(s);
	s = repeat('a', 64, "ceremony = ");
	{
		struct ed e = {"ceremony", s, 0};

		build(&e, 1);
		CU_ASSERT_EQUAL(parse(&f), KMS_OK);
		kms_cer_file_free(f);
	}
	free(s);

	bad_value("operator", "operator = \" Ana\"", "'operator' must be 1 to 64 octets");
	bad_value("operator", "operator = Ana\tB", "'operator' must be");
	bad_value("operator", "operator = \"\"", "'operator' must be");
	s = repeat('x', 65, "operator = ");
	bad_value("operator", s, "'operator' must be");
	free(s);
	bad_value("witness", "witness = \"W \"", "'witness' must be");
	bad_value("module", "module = lib.so", "'module'");
	bad_value("token_label", "token_label = caf\xc3\xa9", "'token_label' must be 1 to 32");
	bad_value("token_label", "token_label = \"kms \"", "'token_label' must be");
	s = repeat('t', 33, "token_label = ");
	bad_value("token_label", s, "'token_label' must be");
	free(s);
	bad_value("slot", "slot = -1", "'slot'");
	bad_value("slot", "slot = 0x", "'slot'");
	bad_value("store", "store = kms.db", "'store'");
	s = repeat('k', 129, "kek_label = ");
	bad_value("kek_label", s, "'kek_label' must be 1 to 128");
	free(s);
	bad_value("kek_label", "kek_label = k\xc3\xa9k", "'kek_label' must be");
	bad_value("signing_key_label", "signing_key_label = \"\"", "'signing_key_label' must be");
	bad_value("kwp_mechanism", "kwp_mechanism = 0", "'kwp_mechanism'");
	bad_value("kwp_mechanism", "kwp_mechanism = 0x100000000", "'kwp_mechanism'");
	bad_value("kwp_mechanism", "kwp_mechanism = kwp", "'kwp_mechanism'");
	bad_value("allow_host_ecb_wrap", "allow_host_ecb_wrap = maybe", "'allow_host_ecb_wrap'");
	/* module_params: the module's initialisation string, kept as written, 1024 octets at most
	 */
	{
		struct ed e = {NULL, "module_params = configdir='sql:/var/lib/kms/nssdb' x=1", 0};
		struct kms_cer_file *mp = NULL;

		build(&e, 1);
		CU_ASSERT_EQUAL_FATAL(parse(&mp), KMS_OK);
		CU_ASSERT_STRING_EQUAL(mp->module_params, "configdir='sql:/var/lib/kms/nssdb' x=1");
		kms_cer_file_free(mp);
		mp = NULL;
		s = repeat('p', 1024, "module_params = ");
		e.line = s;
		build(&e, 1);
		CU_ASSERT_EQUAL(parse(&mp), KMS_OK);
		kms_cer_file_free(mp);
		free(s);
		s = repeat('p', 1025, "module_params = ");
		e.line = s;
		refused_at(build(&e, 1), "'module_params' must be at most 1024 octets");
		free(s);
	}
	bad_value("kms_uri", "kms_uri = \"kms example\"", "'kms_uri' must be 1 to 2048 octets");
	s = repeat('u', 2049, "kms_uri = ");
	bad_value("kms_uri", s, "'kms_uri' must be");
	free(s);
	bad_value("cert_uri", "cert_uri = \"a b\"", "'cert_uri' must be");
	s = repeat('i', 1025, "issuer = ");
	bad_value("issuer", s, "'issuer' must be 1 to 1024 octets");
	free(s);
	bad_value("issuer", "issuer = \" Operator\"", "'issuer' must be");
	bad_value("user_key_period", "user_key_period = 3599", "'user_key_period'");
	bad_value("user_key_period", "user_key_period = 31536001", "'user_key_period'");
	bad_value("user_key_offset", "user_key_offset = 31536000", "'user_key_offset'");
	bad_value("domain", "domain = \"a b\"", "'domain' must be 1 to 2048 octets");
	{
		struct ed d = {"domain", "domain = mc.example.org", 0};

		build(&d, 1);
		refused_at(28, "domain repeated (first on line 27)");
	}
	bad_value("threshold", "threshold = 1", "'threshold'");
	bad_value("threshold", "threshold = 256", "'threshold'");
	bad_value("backup_file", "backup_file = kms.backup", "'backup_file'");
	bad_value("share_output", "share_output = printer", "'share_output'");
	bad_value("share_dir", "share_dir = shares", "'share_dir'");
	bad_value("transcript", "transcript = t.txt", "'transcript'");
	bad_value("enrol", "enrol = s1 server", "'enrol' must be 'CLIENT-ID CLASS KEY-FILE'");
	bad_value("enrol", "enrol = s1 server /a /b", "'enrol' must be 'CLIENT-ID CLASS KEY-FILE'");
	bad_value("enrol", "enrol = s1 admin /a", "the class of 'enrol' must be 'ue' or 'server'");
	bad_value("enrol", "enrol = s1 server a.pem",
		  "the key file of 'enrol' must be an absolute");
	bad_value("enrol", "enrol = s\xc3\xa9 ue /a", "the client id of 'enrol' must be");
	s = repeat('c', 256, "enrol = ");
	{
		char line[400];

		(void)snprintf(line, sizeof(line), "%s ue /a", s);
		bad_value("enrol", line, "the client id of 'enrol' must be 1 to 255");
	}
	free(s);
	{
		struct ed d = {"enrol", "enrol = ue-7 server /x", 0};

		build(&d, 1);
		refused_at(38, "client id enrolled twice (first on line 37)");
	}
	bad_value("enrol_dir", "enrol_dir = enrol", "'enrol_dir'");
	bad_value("oaep_hash", "oaep_hash = md5", "'oaep_hash'");
	bad_value("oaep_hash", "id_format = hex", "'id_format'");
	bad_value("oaep_hash", "audit_key_label = kms.ceremony.2026",
		  "'audit_key_label' must differ");
	bad_value("oaep_hash", "audit_key_label = \" x\"", "'audit_key_label' must be 1 to");
	{
		/* id_format, in the place of oaep_hash */
		struct ed d = {"oaep_hash", "id_format = hex-upper", 0};
		struct kms_cer_file *g = NULL;

		build(&d, 1);
		CU_ASSERT_EQUAL_FATAL(parse(&g), KMS_OK);
		CU_ASSERT_EQUAL(g->id_format, 2);
		kms_cer_file_free(g);
	}
	bad_value("premint_identities", "premint_identities = ids.txt", "'premint_identities'");
	bad_value("premint_from", "premint_from = 2026-02-01", "'premint_from' must be a UTC time");
	bad_value("premint_periods", "premint_periods = 0", "'premint_periods'");
	bad_value("premint_periods", "premint_periods = 1001", "'premint_periods'");

	/* Times: UTC only, real dates. */
	static const char *const bad_times[] = {
		"2026-01-01",
		"2026-01-01T00:00:00",
		"2026-01-01T00:00:00+01:00",
		"2026-01-01T00:00:00z",
		"2026-01-01t00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T00:60:00Z",
		"2026-01-01T00:00:60Z",
		"1969-12-31T23:59:59Z",
		"2026-01-01T00:00:00.5Z",
		"+2026-01-01T00:00:0Z",
		"2026-01-01 00:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		char line[80];

		(void)snprintf(line, sizeof(line), "valid_from = %s", bad_times[i]);
		bad_value("valid_from", line, "'valid_from' must be a UTC time");
	}

	/* Every required key. */
	static const char required[][16] = {
		"ceremony",  "operator",   "module",     "token_label",     "store",
		"kms_uri",   "valid_from", "valid_to",   "user_key_period", "domain",
		"custodian", "threshold",  "transcript",
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		struct ed e = {required[i], NULL, 1};
		char why[256];

		build(&e, 1);
		(void)snprintf(why, sizeof(why), "missing required key '%s'", required[i]);
		refused_at(0, why);
	}
	/* Unknown and duplicate keys (common/conf.h). */
	bad_value("store", "stroe = /x", "unknown key 'stroe' (did you mean 'store'?)");
	{
		struct ed e = {NULL, "store = /y", 0};

		build(&e, 1);
		refused_at(44, "duplicate key 'store' (first set on line 15)");
	}
}

static void
test_limits(void)
{
	struct kms_cer_file *f = NULL;
	struct ed e[2] = {{"domain", NULL, 1}, {"custodian", NULL, 1}};
	char line[3000];
	size_t i;

	/* 64 domains of 127 octets: 64 * 128 - 1 = 8191 octets joined: fine. */
	build(e, 1);
	for (i = 0; i < 64; i++) {
		(void)snprintf(line, sizeof(line), "domain = d%03zu.%0122zu", i, (size_t)0);
		append(line);
	}
	CU_ASSERT_EQUAL(parse(&f), KMS_OK);
	CU_ASSERT(f != NULL && f->num_domains == 64);
	kms_cer_file_free(f);
	/* A 65th. */
	append("domain = x");
	refused_at(41 + 64 + 1, "more than 64 'domain' lines");
	/* Longer domains: over 8192 together, at the line that passes it. */
	build(e, 1);
	for (i = 0; i < 5; i++) {
		memset(line, 0, sizeof(line));
		(void)snprintf(line, sizeof(line), "domain = %zu", i);
		memset(line + strlen(line), 'd', 2047);
		append(line);
	}
	refused_at(41 + 4, "the domains take more than 8192 octets together");
	/* 255 custodians are fine, 256 are not. */
	build(e + 1, 1);
	for (i = 0; i < 255; i++) {
		(void)snprintf(line, sizeof(line), "custodian = C%zu", i);
		append(line);
	}
	CU_ASSERT_EQUAL(parse(&f), KMS_OK);
	CU_ASSERT(f != NULL && f->num_custodians == 255);
	kms_cer_file_free(f);
	append("custodian = C255");
	refused_at(40 + 256, "more than 255 'custodian' lines");
	/* A 2048-octet kms_uri is fine. */
	memset(line, 0, sizeof(line));
	memcpy(line, "kms_uri = ", 10);
	memset(line + 10, 'u', 2048);
	{
		struct ed k = {"kms_uri", line, 0};

		build(&k, 1);
		CU_ASSERT_EQUAL(parse(&f), KMS_OK);
		kms_cer_file_free(f);
	}
}

static void
test_example(void)
{
	struct kms_cer_file *f = NULL;
	int r = kms_cer_file_load(&f, KMS_SOURCE_DIR "/deploy/ceremony.example", err, sizeof(err));

	if (r != KMS_OK) {
		fprintf(stderr, "\n%s\n", err);
	}
	CU_ASSERT_EQUAL_FATAL(r, KMS_OK);
	for (int s = 0; s < KMS_CER_NUM_STEPS; s++) {
		CU_ASSERT_EQUAL(f->steps[s], 1);
	}
	CU_ASSERT(f->num_custodians >= 3);
	CU_ASSERT(f->threshold >= 2 && f->threshold <= f->num_custodians);
	CU_ASSERT(f->num_enrols >= 1);
	CU_ASSERT_PTR_NOT_NULL(f->backup_file);
	CU_ASSERT_PTR_NOT_NULL(f->premint_identities);
	kms_cer_file_free(f);

	CU_ASSERT_EQUAL(kms_cer_file_load(&f, "/nonexistent/ceremony.conf", err, sizeof(err)),
			KMS_ERR_IO);
	CU_ASSERT_PTR_NULL(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ceremony.conf: cannot open"));
	CU_ASSERT_EQUAL(kms_cer_file_load(&f, "/", err, sizeof(err)), KMS_ERR_IO);
	CU_ASSERT_EQUAL(kms_cer_file_parse(NULL, "x", NULL, 0, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_cer_file_parse(&f, NULL, NULL, 0, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_cer_file_parse(&f, "x", NULL, 3, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	kms_cer_file_free(NULL);
}

static void
test_truncation_flips(void)
{
	struct kms_cer_file *f = NULL;
	static uint8_t copy[1 << 14];
	size_t len, i, ok = 0;
	int b, r;

	build(NULL, 0);
	len = text_len;
	CU_ASSERT_FATAL(len < sizeof(copy));
	memcpy(copy, text, len);
	/* Every prefix: parsed or refused, never anything else; a refusal is a message. */
	for (i = 0; i < len; i++) {
		r = kms_cer_file_parse(&f, "t", copy, i, err, sizeof(err));
		CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
		CU_ASSERT((r == KMS_OK) == (f != NULL));
		CU_ASSERT(r == KMS_OK || (err[0] != '\0' && strncmp(err, "t:", 2) == 0));
		ok += r == KMS_OK;
		kms_cer_file_free(f);
	}
	/* Only the prefixes that end inside or after the last line's value. */
	CU_ASSERT(ok <= 3);
	for (i = 0; i < len; i++) {
		for (b = 0; b < 8; b++) {
			copy[i] ^= (uint8_t)(1u << b);
			r = kms_cer_file_parse(&f, "t", copy, len, err, sizeof(err));
			CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
			CU_ASSERT((r == KMS_OK) == (f != NULL));
			kms_cer_file_free(f);
			copy[i] ^= (uint8_t)(1u << b);
		}
	}
}

static void
test_time(void)
{
	static const struct {
		const char *s;
		int64_t t;
	} v[] = {
		{"1970-01-01T00:00:00Z", 0},
		{"2000-02-29T23:59:59Z", 951868799},
		{"2026-01-01T00:00:00Z", 1767225600},
		{"2028-02-29T12:34:56Z", 1835440496},
		{"9999-12-31T23:59:59Z", 253402300799LL},
	};
	char s[KMS_CER_TIME_LEN + 1];
	int64_t t, x;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CU_ASSERT_EQUAL(kms_cer_time_parse(&t, v[i].s), KMS_OK);
		CU_ASSERT_EQUAL(t, v[i].t);
		CU_ASSERT_EQUAL(kms_cer_time_format(s, v[i].t), KMS_OK);
		CU_ASSERT_STRING_EQUAL(s, v[i].s);
	}
	/* Round trip over the range, every day of 2024 (leap) and large steps. */
	for (x = 0; x < KMS_CER_TIME_MAX; x += 86399 * 97 + 12345) {
		CU_ASSERT_EQUAL_FATAL(kms_cer_time_format(s, x), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(kms_cer_time_parse(&t, s), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(t, x);
	}
	for (x = 1704067200; x < 1735689600; x += 86400) {
		CU_ASSERT_EQUAL_FATAL(kms_cer_time_format(s, x), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(kms_cer_time_parse(&t, s), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(t, x);
	}
	CU_ASSERT_EQUAL(kms_cer_time_format(s, -1), KMS_ERR_RANGE);
	CU_ASSERT_STRING_EQUAL(s, "");
	CU_ASSERT_EQUAL(kms_cer_time_format(s, KMS_CER_TIME_MAX + 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_cer_time_parse(&t, "2026-01-01T00:00:00ZZ"), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(t, 0);
	CU_ASSERT_EQUAL(kms_cer_time_parse(&t, NULL), KMS_ERR_PARSE);
	CU_ASSERT_STRING_EQUAL(kms_cer_step_name(KMS_CER_INIT_TOKEN), "init-token");
	CU_ASSERT_STRING_EQUAL(kms_cer_step_name(KMS_CER_PREMINT), "premint");
	CU_ASSERT_STRING_EQUAL(kms_cer_step_name(KMS_CER_NUM_STEPS), "?");
}

/* ---- the identities list ---- */

static int
ids_parse(char ***ids, size_t *n, const char *s, size_t len)
{
	return kms_cer_identities_parse(ids, n, "t.ids", (const uint8_t *)s, len, err, sizeof(err));
}

static void
ids_refused(const char *s, size_t len, int want, const char *why)
{
	char **ids = (char **)1;
	size_t n = 7;

	CU_ASSERT_EQUAL(ids_parse(&ids, &n, s, len), want);
	CU_ASSERT_PTR_NULL(ids);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	if (strstr(err, why) == NULL) {
		fprintf(stderr, "\nwanted '%s', got '%s'\n", why, err);
	}
}

static void
test_identities(void)
{
	static const char good[] = "# identities for March\n"
				   "sip:alice@example.org\n"
				   "\n"
				   "  \t\n"
				   "   # an indented comment with UTF-8: \xc3\xa9\n"
				   "tel:+15551234567\r\n"
				   "sip:bob@example.org";
	char **ids = NULL;
	size_t n = 0;
	char *big;

	CU_ASSERT_EQUAL_FATAL(ids_parse(&ids, &n, good, sizeof(good) - 1), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(ids[0], "sip:alice@example.org");
	CU_ASSERT_STRING_EQUAL(ids[1], "tel:+15551234567");
	CU_ASSERT_STRING_EQUAL(ids[2], "sip:bob@example.org");
	CU_ASSERT_STRING_EQUAL(err, "");
	kms_cer_identities_free(ids, n);
	CU_ASSERT_EQUAL(ids_parse(&ids, &n, "", 0), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(ids);
	CU_ASSERT_EQUAL(ids_parse(&ids, &n, "# none\n\n", 8), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	kms_cer_identities_free(NULL, 0);

#define R(s, want, why) ids_refused(s, sizeof(s) - 1, want, why)
	R("a\nb\nc\nb\na\n", KMS_ERR_PARSE, "t.ids:4: duplicate of line 2");
	R("a\nb\n#\nc\r\nc", KMS_ERR_PARSE, "t.ids:5: duplicate of line 4");
	R("a\nsip:x y\n", KMS_ERR_PARSE, "t.ids:2: octet 0x20 at column 6");
	R("a\nsip:x\ty\n", KMS_ERR_PARSE, "t.ids:2: octet 0x09 at column 6");
	R(" a\n", KMS_ERR_PARSE, "t.ids:1: octet 0x20 at column 1");
	R("a \n", KMS_ERR_PARSE, "t.ids:1: octet 0x20 at column 2");
	R("a\rb\n", KMS_ERR_PARSE, "t.ids:1: a carriage return that does not end the line");
	R("a\r", KMS_ERR_PARSE, "t.ids:1: a carriage return");
	R("a\n\r\n\r\r\n", KMS_ERR_PARSE, "t.ids:3: a carriage return");
	R("sip:\xc3\xa9@x\n", KMS_ERR_PARSE, "t.ids:1: octet 0xc3 at column 5");
	R("sip:a\x7f\n", KMS_ERR_PARSE, "octet 0x7f");
	R("a\nb\0c\n", KMS_ERR_PARSE, "t.ids:2: octet 0x00 at column 2");
#undef R
	/* 2048 octets is fine, 2049 is not. */
	big = malloc(2100);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'i', 2049);
	CU_ASSERT_EQUAL(ids_parse(&ids, &n, big, 2048), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	kms_cer_identities_free(ids, n);
	ids_refused(big, 2049, KMS_ERR_PARSE, "t.ids:1: identity longer than 2048 octets");
	free(big);
}

static void
test_identities_limits(void)
{
	size_t cap = 100001 * 12 + 1, len = 0, n = 0, i;
	char *buf = malloc(cap), **ids = NULL;
	uint8_t *huge;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	for (i = 0; i < 100000; i++) {
		len += (size_t)snprintf(buf + len, cap - len, "u%08zu\n", i);
	}
	CU_ASSERT_EQUAL(ids_parse(&ids, &n, buf, len), KMS_OK);
	CU_ASSERT_EQUAL(n, 100000);
	CU_ASSERT(n == 100000 && strcmp(ids[99999], "u00099999") == 0);
	kms_cer_identities_free(ids, n);
	/* A duplicate far apart. */
	len += (size_t)snprintf(buf + len, cap - len, "u%08zu\n", (size_t)5);
	ids_refused(buf, len, KMS_ERR_TOO_LARGE, "t.ids:100001: more than 100000 identities");
	memcpy(buf + 10 * 99999, "u00000005\n", 10);
	ids_refused(buf, len - 10, KMS_ERR_PARSE, "t.ids:100000: duplicate of line 6");
	free(buf);
	/* Over 64 MiB: refused before it is read. */
	huge = calloc(1, KMS_CER_MAX_IDS_FILE + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	ids_refused((const char *)huge, KMS_CER_MAX_IDS_FILE + 1, KMS_ERR_TOO_LARGE,
		    "t.ids: larger than");
	free(huge);
}

static void
test_identities_malformed(void)
{
	static const char good[] = "# x\nsip:a@b\r\nsip:c@d\n\nsip:e@f\n";
	uint8_t copy[sizeof(good)];
	char **ids = NULL;
	size_t n = 0, i;
	int b, r;

	memcpy(copy, good, sizeof(good));
	for (i = 0; i <= sizeof(good) - 1; i++) {
		r = kms_cer_identities_parse(&ids, &n, "t", copy, i, err, sizeof(err));
		CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
		CU_ASSERT(n <= 3);
		kms_cer_identities_free(ids, n);
	}
	for (i = 0; i < sizeof(good) - 1; i++) {
		for (b = 0; b < 8; b++) {
			copy[i] ^= (uint8_t)(1u << b);
			r = kms_cer_identities_parse(&ids, &n, "t", copy, sizeof(good) - 1, err,
						     sizeof(err));
			CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
			CU_ASSERT(r == KMS_OK || (ids == NULL && n == 0 && err[0] != '\0'));
			kms_cer_identities_free(ids, n);
			copy[i] ^= (uint8_t)(1u << b);
		}
	}
}

static void
test_identities_load(void)
{
	char dir[256], path[300];
	char **ids = NULL;
	size_t n = 0;
	FILE *fp;

	CU_ASSERT_EQUAL_FATAL(kms_test_tmpdir(dir, sizeof(dir), "ceremonyfile"), 0);
	(void)snprintf(path, sizeof(path), "%s/ids.txt", dir);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fputs("sip:a@x\nsip:b@x\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(kms_cer_identities_load(&ids, &n, path, err, sizeof(err)), KMS_OK);
	CU_ASSERT_EQUAL(n, 2);
	kms_cer_identities_free(ids, n);
	CU_ASSERT_EQUAL(kms_cer_identities_load(&ids, &n, dir, err, sizeof(err)), KMS_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
	(void)unlink(path);
	CU_ASSERT_EQUAL(kms_cer_identities_load(&ids, &n, path, err, sizeof(err)), KMS_ERR_IO);
	CU_ASSERT_PTR_NULL(ids);
	CU_ASSERT_EQUAL(kms_cer_identities_parse(NULL, &n, "x", NULL, 0, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	kms_test_rmdir(dir);
}

static CU_TestInfo file_tests[] = {
	{"golden file", test_golden},
	{"defaults", test_defaults},
	{"a later run: enrol and premint alone", test_later_run},
	{"steps: order, repeats, generate", test_steps},
	{"cross-key rules", test_cross_keys},
	{"every key's bad values", test_values},
	{"limits", test_limits},
	{"deploy/ceremony.example, load", test_example},
	{"truncation at every offset, bit flips", test_truncation_flips},
	{"timestamps", test_time},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo ids_tests[] = {
	{"golden and refusals", test_identities},
	{"limits", test_identities_limits},
	{"truncation, bit flips", test_identities_malformed},
	{"load", test_identities_load},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"ceremony-file", NULL, NULL, NULL, NULL, file_tests},
	{"identities", NULL, NULL, NULL, NULL, ids_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
