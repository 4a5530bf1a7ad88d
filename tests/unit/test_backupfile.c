/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backup file of the key ceremony (tools/backup-file.c): the HKDF known answer (computed
 * with `openssl kdf`), format/parse round trip, the MAC against a change of every field (in
 * the struct and in the text), every malformed line, truncation at every offset, bit flips.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/conf.h"
#include "tests/unit/kms_test.h"
#include "tools/backup-file.h"

#include "common/banned.h"

static char err[KMS_CONF_ERR_LEN];
static uint8_t mac_key[32];

/*
 * B = 00 01 .. 1f. Computed with OpenSSL 3.0's command line:
 * openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:000102..1f -kdfopt salt:
 *   -kdfopt "info:kms-backup-1 kek-wrap" HKDF   (and "info:kms-backup-1 mac")
 */
static const char kat_wrap[] = "4628C4FDC8F5C5D3C9F02D029A00242560E0CFF9204F937AD67C1C1A21921641";
static const char kat_mac[] = "FF163405735E9DA6540449A2B44184CBF1B7EB5085477B54E9F5A8E8AB020FD0";

static void
test_derive_kat(void)
{
	uint8_t b[32], w[32], m[32], want[32];
	size_t i;

	for (i = 0; i < 32; i++) {
		b[i] = (uint8_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(kms_backup_derive(b, w, m), KMS_OK);
	kms_test_hex(want, sizeof(want), kat_wrap);
	CU_ASSERT_EQUAL(memcmp(w, want, 32), 0);
	kms_test_hex(want, sizeof(want), kat_mac);
	CU_ASSERT_EQUAL(memcmp(m, want, 32), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(w, m, 32), 0);
	/* Another B, other keys. */
	b[31] ^= 1;
	CU_ASSERT_EQUAL(kms_backup_derive(b, want, m), KMS_OK);
	CU_ASSERT_NOT_EQUAL(memcmp(w, want, 32), 0);
	CU_ASSERT_EQUAL(kms_backup_derive(NULL, w, m), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_backup_derive(b, NULL, m), KMS_ERR_INVALID_ARG);
}

/* A complete, valid backup. */
static void
sample(struct kms_backup *b)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	memcpy(b->ceremony, "dom-2026.1", 11);
	for (i = 0; i < 8; i++) {
		b->backup_id[i] = (uint8_t)(0xa0 + i);
	}
	b->created = 1767225600;
	b->threshold = 2;
	b->shares = 3;
	memcpy(b->custodians[0], "Ana M\xc3\xbcller", 12);
	memcpy(b->custodians[1], "Bo \"the key\" \\ #2", 18);
	memcpy(b->custodians[2], "C", 2);
	memcpy(b->kms_uri, "kms.example.org", 16);
	memcpy(b->cert_uri, "", 1);
	memcpy(b->issuer, "", 1);
	b->valid_from = 1767225600;
	b->valid_to = 1835440496;
	b->user_key_period = 2592000;
	b->user_key_offset = 3600;
	memcpy(b->domains, "example.org mc.example.org", 27);
	b->kpak[0] = 0x04;
	for (i = 1; i < sizeof(b->kpak); i++) {
		b->kpak[i] = (uint8_t)(i * 7);
	}
	b->z_t[0] = 0x04;
	for (i = 1; i < sizeof(b->z_t); i++) {
		b->z_t[i] = (uint8_t)(i * 13);
	}
	memcpy(b->kek_label, "kms.kek", 8);
	b->kek_len = 40;
	b->ksak_len = 40;
	b->z_t_secret_len = 48;
	for (i = 0; i < KMS_BACKUP_MAX_BLOB; i++) {
		b->kek[i] = i < b->kek_len ? (uint8_t)(0x11 * i) : 0;
		b->ksak[i] = i < b->ksak_len ? (uint8_t)(0x23 + i) : 0;
		b->z_t_secret[i] = i < b->z_t_secret_len ? (uint8_t)(0x5b ^ i) : 0;
	}
	for (i = 0; i < 32; i++) {
		mac_key[i] = (uint8_t)(0xc0 + i);
	}
}

/* Field by field (the struct has padding). */
static int
same(const struct kms_backup *a, const struct kms_backup *b)
{
	size_t i;

	if (strcmp(a->ceremony, b->ceremony) != 0 || memcmp(a->backup_id, b->backup_id, 8) != 0 ||
	    a->created != b->created || a->threshold != b->threshold || a->shares != b->shares ||
	    strcmp(a->kms_uri, b->kms_uri) != 0 || strcmp(a->cert_uri, b->cert_uri) != 0 ||
	    strcmp(a->issuer, b->issuer) != 0 || a->valid_from != b->valid_from ||
	    a->valid_to != b->valid_to || a->user_key_period != b->user_key_period ||
	    a->user_key_offset != b->user_key_offset || strcmp(a->domains, b->domains) != 0 ||
	    memcmp(a->kpak, b->kpak, sizeof(a->kpak)) != 0 ||
	    memcmp(a->z_t, b->z_t, sizeof(a->z_t)) != 0 ||
	    strcmp(a->kek_label, b->kek_label) != 0 || a->kek_len != b->kek_len ||
	    memcmp(a->kek, b->kek, a->kek_len) != 0 || a->ksak_len != b->ksak_len ||
	    memcmp(a->ksak, b->ksak, a->ksak_len) != 0 || a->z_t_secret_len != b->z_t_secret_len ||
	    memcmp(a->z_t_secret, b->z_t_secret, a->z_t_secret_len) != 0 ||
	    memcmp(a->mac, b->mac, 32) != 0) {
		return 0;
	}
	for (i = 0; i < a->shares && i < 255; i++) {
		if (strcmp(a->custodians[i], b->custodians[i]) != 0) {
			return 0;
		}
	}
	return 1;
}

static struct kms_backup orig, got;
static char *text;
static size_t text_len;

static void
make_text(void)
{
	free(text);
	text = NULL;
	sample(&orig);
	CU_ASSERT_EQUAL_FATAL(kms_backup_format(&orig, mac_key, &text, &text_len), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(strlen(text), text_len);
}

static void
test_round_trip(void)
{
	uint8_t zero[32] = {0};

	make_text();
	CU_ASSERT_FALSE(kms_test_all_zero(orig.mac, 32));
	CU_ASSERT_EQUAL_FATAL(kms_backup_parse(&got, "t.backup", (const uint8_t *)text, text_len,
					       err, sizeof(err)),
			      KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT(same(&orig, &got));
	CU_ASSERT_STRING_EQUAL(got.custodians[1], "Bo \"the key\" \\ #2");
	CU_ASSERT_EQUAL(kms_backup_check_mac(&got, mac_key), KMS_OK);
	CU_ASSERT_EQUAL(kms_backup_check_mac(&got, zero), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_backup_check_mac(NULL, zero), KMS_ERR_INVALID_ARG);
	/* The text says what it is, and its values as written. */
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nformat = kms-backup-1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ncert_uri = \"\"\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ncreated = 2026-01-01T00:00:00Z\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nbackup_id = A0A1A2A3A4A5A6A7\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ndomain = example.org\ndomain = mc.example.org\n"));
	/* Formatting is deterministic. */
	{
		char *again = NULL;
		size_t again_len = 0;

		CU_ASSERT_EQUAL(kms_backup_format(&got, mac_key, &again, &again_len), KMS_OK);
		CU_ASSERT(again != NULL && again_len == text_len &&
			  memcmp(again, text, text_len) == 0);
		free(again);
	}
	/* Lower-case hex parses to the same values. */
	{
		char *lower = strdup(text);
		size_t i;

		CU_ASSERT_PTR_NOT_NULL_FATAL(lower);
		for (i = 0; lower[i] != '\0'; i++) {
			if (lower[i] >= 'A' && lower[i] <= 'F' && i > 0 &&
			    ((lower[i - 1] >= '0' && lower[i - 1] <= '9') ||
			     (lower[i - 1] >= 'A' && lower[i - 1] <= 'F') || lower[i - 1] == ' ')) {
				lower[i] = (char)(lower[i] + 32);
			}
		}
		/* (the "= kms-backup-1", names and labels have lower-case letters already) */
		if (kms_backup_parse(&got, "t", (const uint8_t *)lower, strlen(lower), err,
				     sizeof(err)) == KMS_OK) {
			CU_ASSERT_EQUAL(kms_backup_check_mac(&got, mac_key), KMS_OK);
		}
		free(lower);
	}
}

/* A change of any field breaks the MAC. */
static void
test_mac_fields(void)
{
	struct kms_backup b;
	size_t f, i;

	free(text);
	sample(&orig);
	CU_ASSERT_EQUAL_FATAL(kms_backup_format(&orig, mac_key, &text, &text_len), KMS_OK);
	free(text);
	text = NULL;
	CU_ASSERT_EQUAL_FATAL(kms_backup_check_mac(&orig, mac_key), KMS_OK);
	for (f = 0;; f++) {
		b = orig;
		switch (f) {
		case 0:
			b.ceremony[0] = 'e';
			break;
		case 1:
			b.backup_id[7] ^= 1;
			break;
		case 2:
			b.created++;
			break;
		case 3:
			b.threshold = 3;
			break;
		case 4:
			b.shares = 4;
			memcpy(b.custodians[3], "D", 2);
			break;
		case 5:
			b.custodians[0][0] = 'a';
			break;
		case 6:
			b.custodians[1][3] = 'X';
			break;
		case 7:
			b.custodians[2][0] = 'D';
			break;
		case 8:
			b.kms_uri[0] = 'K';
			break;
		case 9:
			memcpy(b.cert_uri, "c", 2);
			break;
		case 10:
			memcpy(b.issuer, "I", 2);
			break;
		case 11:
			b.valid_from--;
			break;
		case 12:
			b.valid_to++;
			break;
		case 13:
			b.user_key_period++;
			break;
		case 14:
			b.user_key_offset = 0;
			break;
		case 15:
			b.domains[0] = 'E';
			break;
		case 16:
			memcpy(b.domains, "example.org", 12);
			break;
		case 17:
			b.kpak[64] ^= 0x80;
			break;
		case 18:
			b.z_t[1] ^= 1;
			break;
		case 19:
			b.kek_label[0] = 'K';
			break;
		case 20:
			b.kek[0] ^= 1;
			break;
		case 21:
			b.kek_len = 48;
			break;
		case 22:
			b.ksak[39] ^= 1;
			break;
		case 23:
			b.ksak_len = 32;
			break;
		case 24:
			b.z_t_secret[20] ^= 4;
			break;
		case 25:
			b.z_t_secret_len = 40;
			break;
		case 26:
			b.mac[31] ^= 1;
			break;
		/* Moving a boundary: a custodian's name into the next one is still a change. */
		case 27:
			memcpy(b.custodians[1], "Bo", 3);
			memcpy(b.custodians[2], "\"the key\" \\ #2C", 16);
			break;
		default:
			goto done;
		}
		CU_ASSERT_EQUAL(kms_backup_check_mac(&b, mac_key), KMS_ERR_AUTH);
		if (kms_backup_check_mac(&b, mac_key) != KMS_ERR_AUTH) {
			fprintf(stderr, "\nfield change %zu not caught\n", f);
		}
	}
done:
	CU_ASSERT_EQUAL(f, 28);
	/* A different key. */
	for (i = 0; i < 32; i++) {
		uint8_t k[32];

		memcpy(k, mac_key, 32);
		k[i] ^= 0x40;
		CU_ASSERT_EQUAL(kms_backup_check_mac(&orig, k), KMS_ERR_AUTH);
	}
}

/*
 * Every character of every value in the text replaced by another of its kind: either the
 * parse refuses it, or the MAC does.
 */
static void
test_mac_text(void)
{
	size_t i, tried = 0;
	char *copy;
	int in_value = 0, comment = 0, line_start = 1;

	make_text();
	copy = malloc(text_len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	for (i = 0; i < text_len; i++) {
		char c = text[i], n;

		if (line_start) {
			comment = c == '#';
			in_value = 0;
		}
		line_start = c == '\n';
		if (c == '\n' || comment) {
			continue;
		}
		if (!in_value) {
			in_value = i >= 2 && text[i - 1] == ' ' && text[i - 2] == '=';
			if (!in_value) {
				continue;
			}
		}
		if (c >= '0' && c <= '9') {
			n = c == '0' ? '1' : '0';
		} else if ((c >= 'A' && c <= 'F')) {
			n = c == 'A' ? 'B' : 'A';
		} else if (c >= 'a' && c <= 'z') {
			n = c == 'a' ? 'b' : 'a';
		} else {
			continue;
		}
		memcpy(copy, text, text_len + 1);
		copy[i] = n;
		tried++;
		if (kms_backup_parse(&got, "t", (const uint8_t *)copy, text_len, err,
				     sizeof(err)) == KMS_OK) {
			CU_ASSERT_EQUAL(kms_backup_check_mac(&got, mac_key), KMS_ERR_AUTH);
		}
	}
	CU_ASSERT(tried > 900);
	free(copy);
}

/* Replace the line of key (its first) in the text by line (NULL: remove). */
static char *
edit(const char *key, const char *line, unsigned *at)
{
	size_t kl = strlen(key), cap = text_len + (line != NULL ? strlen(line) : 0) + 2;
	char *out = malloc(cap), *p = text, *nl;
	size_t len = 0;
	unsigned n = 0;
	int done = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	*at = 0;
	while (*p != '\0') {
		nl = strchr(p, '\n');
		size_t ll = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);

		n++;
		if (!done && strncmp(p, key, kl) == 0 && p[kl] == ' ' && p[kl + 1] == '=') {
			done = 1;
			*at = n;
			if (line != NULL) {
				len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
			}
		} else {
			memcpy(out + len, p, ll);
			len += ll;
		}
		p += ll;
	}
	out[len] = '\0';
	CU_ASSERT(done);
	return out;
}

/* The edited text is refused at the edited line plus delta (no line if line is NULL). */
static void
bad_line_at(const char *key, const char *line, int delta, const char *why)
{
	unsigned at;
	char *t = edit(key, line, &at), prefix[64];
	int r;

	r = kms_backup_parse(&got, "t.backup", (const uint8_t *)t, strlen(t), err, sizeof(err));
	CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
	if (line != NULL) {
		(void)snprintf(prefix, sizeof(prefix), "t.backup:%d: ", (int)at + delta);
	} else {
		(void)snprintf(prefix, sizeof(prefix), "t.backup: ");
	}
	CU_ASSERT_EQUAL(strncmp(err, prefix, strlen(prefix)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	if (r != KMS_ERR_PARSE || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, why) == NULL) {
		fprintf(stderr, "\nwanted %s...%s, got '%s'\n", prefix, why, err);
	}
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&got, sizeof(got)));
	free(t);
}

static void
bad_line(const char *key, const char *line, const char *why)
{
	bad_line_at(key, line, 0, why);
}

static void
test_malformed_lines(void)
{
	static const char *const keys[] = {
		"format",
		"ceremony",
		"backup_id",
		"created",
		"threshold",
		"shares",
		"custodian",
		"kms_uri",
		"cert_uri",
		"issuer",
		"valid_from",
		"valid_to",
		"user_key_period",
		"user_key_offset",
		"domain",
		"kpak",
		"z_t",
		"kek_label",
		"kek",
		"ksak",
		"z_t_secret",
		"mac",
	};
	char line[2200], why[80];
	size_t i;

	make_text();
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i], "custodian") == 0 || strcmp(keys[i], "domain") == 0) {
			continue; /* repeated: below */
		}
		(void)snprintf(why, sizeof(why), "missing required key '%s'", keys[i]);
		bad_line(keys[i], NULL, why);
	}
	bad_line("format", "format = kms-backup-2", "not a backup of this version");
	bad_line("ceremony", "ceremony = a b", "'ceremony' must be 1 to 64");
	bad_line("ceremony",
		 "ceremony = 12345678901234567890123456789012345678901234567890123456789012345",
		 "'ceremony' is longer than 64 octets");
	bad_line("backup_id", "backup_id = A0A1A2A3A4A5A6", "'backup_id' must be 16 hex digits");
	bad_line("backup_id", "backup_id = A0A1A2A3A4A5A6AG", "'backup_id' must be 16 hex");
	bad_line("created", "created = 2026-01-01T00:00:00+00:00", "'created' must be a UTC time");
	bad_line("threshold", "threshold = 1", "'threshold'");
	bad_line("threshold", "threshold = 4", "'threshold' must be between 2 and 'shares' (3)");
	bad_line("shares", "shares = 4", "4 shares but 3 'custodian' lines");
	bad_line_at("shares", "shares = 2", 6, "more 'custodian' lines than 'shares' (2)");
	bad_line("shares", "shares = 256", "'shares'");
	bad_line("custodian", "custodian = \"\"", "'custodian' must be 1 to 64 octets");
	bad_line_at("custodian", "custodian = C", 4,
		    "custodian repeated (share 1 has the same name)");
	bad_line("custodian", "custodian = \"A\tB\"", "'custodian' must be");
	bad_line("kms_uri", "kms_uri = \"a b\"", "'kms_uri' must be 1 to 2048 octets");
	memset(line, 0, sizeof(line));
	memcpy(line, "kms_uri = ", 10);
	memset(line + 10, 'u', 2049);
	bad_line("kms_uri", line, "'kms_uri' is longer than 2048 octets");
	bad_line("cert_uri", "cert_uri = \"a b\"", "'cert_uri' must be \"\" or");
	bad_line("issuer", "issuer = \" x\"", "'issuer' must be \"\" or");
	bad_line("valid_from", "valid_from = 2026-02-30T00:00:00Z", "'valid_from' must be a UTC");
	bad_line("valid_to", "valid_to = 2026-01-01T00:00:00Z",
		 "'valid_to' must be later than 'valid_from'");
	bad_line("user_key_period", "user_key_period = 100", "'user_key_period'");
	bad_line_at("user_key_period", "user_key_period = 3600", 1,
		    "'user_key_offset' must be less than"); /* at the offset's line */
	bad_line("user_key_offset", "user_key_offset = x", "'user_key_offset'");
	bad_line_at("domain", "domain = mc.example.org", 1, "domain repeated (domain 1)");
	bad_line("domain", "domain = \"a b\"", "'domain' must be 1 to 2048 octets");
	bad_line("kpak", "kpak = 04", "'kpak' must be 130 hex digits");
	{
		char k[200];

		(void)snprintf(k, sizeof(k), "kpak = 05%0128d", 0);
		bad_line("kpak", k, "'kpak' must be an uncompressed point");
	}
	bad_line("z_t", "z_t = 0400", "'z_t' must be 514 hex digits");
	bad_line("kek_label", "kek_label = \"\"", "'kek_label' must be 1 to 128");
	bad_line("kek_label", "kek_label = k\xc3\xa9k", "'kek_label' must be");
	bad_line("kek", "kek = 00112233445566", "'kek' must be 8 to 528 octets in hex");
	bad_line("kek", "kek = 001122334455667", "'kek' must be 8 to 528");
	bad_line("kek", "kek = 00112233445566zz", "'kek' must be 8 to 528");
	memset(line, 0, sizeof(line));
	memcpy(line, "ksak = ", 7);
	memset(line + 7, 'a', 2 * 529);
	bad_line("ksak", line, "'ksak' must be 8 to 528 octets in hex");
	line[7 + 2 * 528] = '\0';
	{
		unsigned at;
		char *t = edit("ksak", line, &at);

		CU_ASSERT_EQUAL(kms_backup_parse(&got, "t", (const uint8_t *)t, strlen(t), err,
						 sizeof(err)),
				KMS_OK);
		CU_ASSERT_EQUAL(got.ksak_len, 528);
		CU_ASSERT_EQUAL(kms_backup_check_mac(&got, mac_key), KMS_ERR_AUTH);
		free(t);
	}
	bad_line("z_t_secret", "z_t_secret = \"\"", "'z_t_secret' must be 8 to 528");
	bad_line("mac", "mac = 00", "'mac' must be 64 hex digits");
	bad_line("format", "formt = kms-backup-1", "unknown key 'formt' (did you mean 'format'?)");
	bad_line_at("ceremony", "ceremony = x\nceremony = y", 1, "duplicate key 'ceremony'");
	/* No custodian, no domain. */
	for (i = 0; i < 2; i++) {
		const char *k = i == 0 ? "\ncustodian = " : "\ndomain = ";
		char *t = strdup(text), *p;

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		while ((p = strstr(t, k)) != NULL) {
			p[1] = '#';
		}
		CU_ASSERT_EQUAL(kms_backup_parse(&got, "t", (const uint8_t *)t, strlen(t), err,
						 sizeof(err)),
				KMS_ERR_PARSE);
		(void)snprintf(why, sizeof(why), "t: missing required key '%s'",
			       i == 0 ? "custodian" : "domain");
		CU_ASSERT_STRING_EQUAL(err, why);
		free(t);
	}
	/* A CRLF file (common/conf.h refuses it with its own message). */
	{
		char *t = malloc(2 * text_len + 1);
		size_t i2, j = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		for (i2 = 0; i2 < text_len; i2++) {
			if (text[i2] == '\n') {
				t[j++] = '\r';
			}
			t[j++] = text[i2];
		}
		CU_ASSERT_EQUAL(
			kms_backup_parse(&got, "t", (const uint8_t *)t, j, err, sizeof(err)),
			KMS_ERR_PARSE);
		free(t);
	}
}

static void
test_truncation_flips(void)
{
	uint8_t *copy;
	size_t i;
	int b, r;

	make_text();
	copy = malloc(text_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, text, text_len);
	for (i = 0; i < text_len; i++) {
		r = kms_backup_parse(&got, "t", copy, i, err, sizeof(err));
		/* Only the text without its final newline is whole. */
		CU_ASSERT_EQUAL(r, i == text_len - 1 ? KMS_OK : KMS_ERR_PARSE);
		CU_ASSERT(r == KMS_OK || err[0] != '\0');
	}
	for (i = 0; i < text_len; i++) {
		for (b = 0; b < 8; b++) {
			copy[i] ^= (uint8_t)(1u << b);
			r = kms_backup_parse(&got, "t", copy, text_len, err, sizeof(err));
			CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE);
			/* Accepted: a comment, a hex digit's case, or a change the MAC finds. */
			if (r == KMS_OK && kms_backup_check_mac(&got, mac_key) == KMS_OK) {
				CU_ASSERT(same(&got, &orig));
			}
			copy[i] ^= (uint8_t)(1u << b);
		}
	}
	free(copy);
}

static void
test_format_refuses(void)
{
	struct kms_backup b;
	char *out = (char *)1;
	size_t len = 9, f;

	for (f = 0;; f++) {
		sample(&b);
		switch (f) {
		case 0:
			b.threshold = 4;
			break;
		case 1:
			b.shares = 1;
			break;
		case 2:
			b.shares = 256;
			break;
		case 3:
			b.custodians[1][0] = '\t';
			break;
		case 4:
			memcpy(b.custodians[2], "Ana M\xc3\xbcller", 12);
			break;
		case 5:
			memset(b.ceremony, 'c', sizeof(b.ceremony));
			break;
		case 6:
			memcpy(b.domains, "a  b", 5);
			break;
		case 7:
			memcpy(b.domains, "a b ", 5);
			break;
		case 8:
			memcpy(b.domains, "", 1);
			break;
		case 9:
			memcpy(b.domains, "a b a", 6);
			break;
		case 10:
			b.kek_len = 7;
			break;
		case 11:
			b.ksak_len = KMS_BACKUP_MAX_BLOB + 1;
			break;
		case 12:
			b.z_t_secret_len = 0;
			break;
		case 13:
			b.valid_to = b.valid_from;
			break;
		case 14:
			b.created = -1;
			break;
		case 15:
			b.user_key_offset = b.user_key_period;
			break;
		case 16:
			b.kpak[0] = 0x02;
			break;
		case 17:
			memcpy(b.issuer, "a\nb", 4);
			break;
		case 18:
			memcpy(b.kms_uri, "a\xff", 3);
			break;
		case 19:
			b.kek_label[0] = '\0';
			break;
		default:
			goto done;
		}
		memset(b.mac, 0x5a, sizeof(b.mac));
		CU_ASSERT_EQUAL(kms_backup_format(&b, mac_key, &out, &len), KMS_ERR_INVALID_ARG);
		CU_ASSERT_PTR_NULL(out);
		CU_ASSERT_EQUAL(len, 0);
		CU_ASSERT_EQUAL(b.mac[0], 0x5a);
	}
done:
	CU_ASSERT_EQUAL(f, 20);
	/* 64 domains that fill 8192 octets exactly are fine, and round trip. */
	sample(&b);
	memset(b.domains, 'd', 8192);
	for (f = 1; f < 64; f++) {
		b.domains[f * 128 - 1] = ' ';
		b.domains[f * 128] = (char)('0' + f % 10);
		b.domains[f * 128 + 1] = (char)('A' + f / 10);
	}
	b.domains[8192] = '\0';
	CU_ASSERT_EQUAL_FATAL(kms_backup_format(&b, mac_key, &out, &len), KMS_OK);
	CU_ASSERT_EQUAL(kms_backup_parse(&got, "t", (const uint8_t *)out, len, err, sizeof(err)),
			KMS_OK);
	CU_ASSERT(same(&b, &got));
	free(out);
	CU_ASSERT_EQUAL(kms_backup_format(NULL, mac_key, &out, &len), KMS_ERR_INVALID_ARG);
}

static void
test_load(void)
{
	char dir[256], path[300];

	make_text();
	CU_ASSERT_EQUAL_FATAL(kms_test_tmpdir(dir, sizeof(dir), "backupfile"), 0);
	(void)snprintf(path, sizeof(path), "%s/kms.backup", dir);
	{
		FILE *fp = fopen(path, "w");

		CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
		CU_ASSERT_EQUAL(fwrite(text, 1, text_len, fp), text_len);
		CU_ASSERT_EQUAL(fclose(fp), 0);
	}
	CU_ASSERT_EQUAL(kms_backup_load(&got, path, err, sizeof(err)), KMS_OK);
	CU_ASSERT(same(&got, &orig));
	CU_ASSERT_EQUAL(kms_backup_load(&got, dir, err, sizeof(err)), KMS_ERR_IO);
	(void)unlink(path);
	CU_ASSERT_EQUAL(kms_backup_load(&got, path, err, sizeof(err)), KMS_ERR_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
	CU_ASSERT_EQUAL(kms_backup_parse(NULL, "t", NULL, 0, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	kms_test_rmdir(dir);
	free(text);
	text = NULL;
}

static CU_TestInfo backup_tests[] = {
	{"HKDF known answer", test_derive_kat},
	{"format / parse round trip", test_round_trip},
	{"the MAC covers every field", test_mac_fields},
	{"the MAC covers every value of the text", test_mac_text},
	{"every malformed line", test_malformed_lines},
	{"truncation at every offset, bit flips", test_truncation_flips},
	{"format refuses a bad struct", test_format_refuses},
	{"load", test_load},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"backup-file", NULL, NULL, NULL, NULL, backup_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
