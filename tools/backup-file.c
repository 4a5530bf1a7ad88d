/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/backup-file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "common/conf.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "tools/ceremony-file.h"

#include "common/banned.h"

/*
 * Attacker model: the backup file sits on removable media or in a safe for years; whoever
 * reaches it may change any byte. Parsing is strict and bounded (common/conf.h and the rules
 * below) but proves nothing: only the MAC under a key derived from B, checked once threshold
 * custodians have given their shares back, does. Restore must call kms_backup_check_mac()
 * before it uses any value, and then still checks KSAK and z_T against KPAK and Z_T.
 */

/* ---- the rules, shared by parse (with lines) and format (without) ---- */

/* Where the rules report to: a parsed conf gives lines; a struct to format has none. */
struct rep {
	const struct kms_conf *c; /* borrowed; NULL when formatting */
	const char *name;         /* borrowed */
	char *err;                /* borrowed, err_len octets */
	size_t err_len;
};

static int bad(const struct rep *p, const char *key, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "NAME:LINE: message" at the line of value i of key; KMS_ERR_PARSE. */
static int
bad(const struct rep *p, const char *key, size_t i, const char *fmt, ...)
{
	unsigned line = p->c != NULL ? kms_conf_line(p->c, key, i) : 0;
	va_list ap;

	va_start(ap, fmt);
	(void)kms_conf_verrf(p->err, p->err_len, p->name, line, fmt, ap);
	va_end(ap);
	return KMS_ERR_PARSE;
}

/* s is NUL-terminated within cap octets; its length in *len. */
static int
terminated(const char *s, size_t cap, size_t *len)
{
	*len = strnlen(s, cap);
	return *len < cap;
}

/* The rules of every field of b (after the syntax); p->c gives the lines if set. */
static int
check_fields(const struct rep *p, const struct kms_backup *b)
{
	size_t len, i, j, n, start;
	char tbuf[KMS_CER_TIME_LEN + 1];

	if (!terminated(b->ceremony, sizeof(b->ceremony), &len) || len == 0 ||
	    strspn(b->ceremony,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
		return bad(p, "ceremony", 0,
			   "'ceremony' must be 1 to 64 characters among A-Z, a-z, 0-9, '.', '_' "
			   "and '-'");
	}
	if (kms_cer_time_format(tbuf, b->created) != KMS_OK) {
		return bad(p, "created", 0, "'created' is out of range");
	}
	if (b->shares < 2 || b->shares > 255) {
		return bad(p, "shares", 0, "'shares' must be between 2 and 255");
	}
	if (b->threshold < 2 || b->threshold > b->shares) {
		return bad(p, "threshold", 0, "'threshold' must be between 2 and 'shares' (%u)",
			   b->shares);
	}
	for (i = 0; i < b->shares; i++) {
		if (!terminated(b->custodians[i], sizeof(b->custodians[i]), &len) ||
		    !kms_cer_check_text(b->custodians[i], len, KMS_CER_MAX_TEXT)) {
			return bad(p, "custodian", i,
				   "'custodian' must be 1 to %u octets of text without tabs and "
				   "without leading or trailing spaces",
				   KMS_CER_MAX_TEXT);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(b->custodians[i], b->custodians[j]) == 0) {
				return bad(p, "custodian", i,
					   "custodian repeated (share %zu has the same name)",
					   j + 1);
			}
		}
	}
	if (!terminated(b->kms_uri, sizeof(b->kms_uri), &len) ||
	    !kms_cer_check_uri(b->kms_uri, len, KMS_CER_MAX_URI)) {
		return bad(p, "kms_uri", 0, "'kms_uri' must be 1 to %u octets without spaces",
			   KMS_CER_MAX_URI);
	}
	if (!terminated(b->cert_uri, sizeof(b->cert_uri), &len) ||
	    (len > 0 && !kms_cer_check_uri(b->cert_uri, len, KMS_CER_MAX_URI))) {
		return bad(p, "cert_uri", 0,
			   "'cert_uri' must be \"\" or 1 to %u octets without spaces",
			   KMS_CER_MAX_URI);
	}
	if (!terminated(b->issuer, sizeof(b->issuer), &len) ||
	    (len > 0 && !kms_cer_check_text(b->issuer, len, KMS_CER_MAX_ISSUER))) {
		return bad(p, "issuer", 0,
			   "'issuer' must be \"\" or 1 to %u octets of text without tabs and "
			   "without leading or trailing spaces",
			   KMS_CER_MAX_ISSUER);
	}
	if (kms_cer_time_format(tbuf, b->valid_from) != KMS_OK) {
		return bad(p, "valid_from", 0, "'valid_from' is out of range");
	}
	if (kms_cer_time_format(tbuf, b->valid_to) != KMS_OK || b->valid_to <= b->valid_from) {
		return bad(p, "valid_to", 0, "'valid_to' must be later than 'valid_from'");
	}
	if (b->user_key_period < KMS_CER_MIN_PERIOD || b->user_key_period > KMS_CER_MAX_PERIOD) {
		return bad(p, "user_key_period", 0, "'user_key_period' must be between %u and %u",
			   KMS_CER_MIN_PERIOD, KMS_CER_MAX_PERIOD);
	}
	if (b->user_key_offset >= b->user_key_period) {
		return bad(p, "user_key_offset", 0,
			   "'user_key_offset' must be less than 'user_key_period'");
	}
	/* The domains: "a b c", each a URI, distinct. */
	if (!terminated(b->domains, sizeof(b->domains), &len) || len == 0) {
		return bad(p, "domain", 0, "no domain");
	}
	for (start = 0, n = 0; start <= len; n++) {
		size_t dl = strcspn(b->domains + start, " ");

		if (n == KMS_CER_MAX_DOMAINS) {
			return bad(p, "domain", n, "more than %u domains", KMS_CER_MAX_DOMAINS);
		}
		if (!kms_cer_check_uri(b->domains + start, dl, KMS_CER_MAX_URI)) {
			return bad(p, "domain", n, "'domain' must be 1 to %u octets without spaces",
				   KMS_CER_MAX_URI);
		}
		for (i = 0, j = 0; j < start; i++) {
			size_t ol = strcspn(b->domains + j, " ");

			if (ol == dl && memcmp(b->domains + j, b->domains + start, dl) == 0) {
				return bad(p, "domain", n, "domain repeated (domain %zu)", i + 1);
			}
			j += ol + 1;
		}
		start += dl + 1;
	}
	if (b->kpak[0] != 0x04) {
		return bad(p, "kpak", 0, "'kpak' must be an uncompressed point (04 || x || y)");
	}
	if (b->z_t[0] != 0x04) {
		return bad(p, "z_t", 0, "'z_t' must be an uncompressed point (04 || x || y)");
	}
	if (!terminated(b->kek_label, sizeof(b->kek_label), &len) ||
	    !kms_cer_check_ascii(b->kek_label, len, KMS_CER_MAX_KEY_LABEL, 1)) {
		return bad(p, "kek_label", 0,
			   "'kek_label' must be 1 to %u printable ASCII characters without leading "
			   "or trailing spaces",
			   KMS_CER_MAX_KEY_LABEL);
	}
	if (b->kek_len < KMS_BACKUP_MIN_BLOB || b->kek_len > KMS_BACKUP_MAX_BLOB) {
		return bad(p, "kek", 0, "'kek' must be %u to %u octets (hex)", KMS_BACKUP_MIN_BLOB,
			   KMS_BACKUP_MAX_BLOB);
	}
	if (b->ksak_len < KMS_BACKUP_MIN_BLOB || b->ksak_len > KMS_BACKUP_MAX_BLOB) {
		return bad(p, "ksak", 0, "'ksak' must be %u to %u octets (hex)",
			   KMS_BACKUP_MIN_BLOB, KMS_BACKUP_MAX_BLOB);
	}
	if (b->z_t_secret_len < KMS_BACKUP_MIN_BLOB || b->z_t_secret_len > KMS_BACKUP_MAX_BLOB) {
		return bad(p, "z_t_secret", 0, "'z_t_secret' must be %u to %u octets (hex)",
			   KMS_BACKUP_MIN_BLOB, KMS_BACKUP_MAX_BLOB);
	}
	return KMS_OK;
}

/* ---- the MAC ---- */

/* Feed u32be(len) || data to the MAC. */
static int
put_bytes(EVP_MAC_CTX *m, const void *data, size_t len)
{
	uint8_t l[4];

	if (len > UINT32_MAX) {
		return KMS_ERR_INTERNAL;
	}
	l[0] = (uint8_t)(len >> 24);
	l[1] = (uint8_t)(len >> 16);
	l[2] = (uint8_t)(len >> 8);
	l[3] = (uint8_t)len;
	if (EVP_MAC_update(m, l, sizeof(l)) != 1 ||
	    (len > 0 && EVP_MAC_update(m, data, len) != 1)) {
		return KMS_ERR_CRYPTO;
	}
	return KMS_OK;
}

/* One field: its name, then its value, each length-prefixed. */
static int
put_field(EVP_MAC_CTX *m, const char *name, const void *data, size_t len)
{
	int r;

	if ((r = put_bytes(m, name, strlen(name))) != KMS_OK) {
		return r;
	}
	return put_bytes(m, data, len);
}

static int
put_str(EVP_MAC_CTX *m, const char *name, const char *s, size_t cap)
{
	return put_field(m, name, s, strnlen(s, cap));
}

static int
put_u64(EVP_MAC_CTX *m, const char *name, uint64_t v)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < 8; i++) {
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	}
	return put_field(m, name, b, sizeof(b));
}

/*
 * The HMAC-SHA256 of the canonical encoding of b (docs/ceremony-file.md): the domain separator
 * "kms-backup-1", then each field as (name, value) in file order, every part
 * u32be-length-prefixed, numbers as u64be (two's complement for the times), text without its
 * NUL, each custodian as one "custodian" field in share order, the domains as one field.
 */
static int
compute_mac(const struct kms_backup *b, const uint8_t mac_key[32], uint8_t out[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *m = NULL;
	size_t i, out_len = 0;
	int r = KMS_ERR_CRYPTO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (m = EVP_MAC_CTX_new(mac)) == NULL || EVP_MAC_init(m, mac_key, 32, params) != 1) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	if (b->shares > 255) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = put_bytes(m, KMS_BACKUP_FORMAT, strlen(KMS_BACKUP_FORMAT))) != KMS_OK ||
	    (r = put_str(m, "ceremony", b->ceremony, sizeof(b->ceremony))) != KMS_OK ||
	    (r = put_field(m, "backup_id", b->backup_id, sizeof(b->backup_id))) != KMS_OK ||
	    (r = put_u64(m, "created", (uint64_t)b->created)) != KMS_OK ||
	    (r = put_u64(m, "threshold", b->threshold)) != KMS_OK ||
	    (r = put_u64(m, "shares", b->shares)) != KMS_OK) {
		goto out;
	}
	for (i = 0; i < b->shares; i++) {
		if ((r = put_str(m, "custodian", b->custodians[i], sizeof(b->custodians[i]))) !=
		    KMS_OK) {
			goto out;
		}
	}
	if ((r = put_str(m, "kms_uri", b->kms_uri, sizeof(b->kms_uri))) != KMS_OK ||
	    (r = put_str(m, "cert_uri", b->cert_uri, sizeof(b->cert_uri))) != KMS_OK ||
	    (r = put_str(m, "issuer", b->issuer, sizeof(b->issuer))) != KMS_OK ||
	    (r = put_u64(m, "valid_from", (uint64_t)b->valid_from)) != KMS_OK ||
	    (r = put_u64(m, "valid_to", (uint64_t)b->valid_to)) != KMS_OK ||
	    (r = put_u64(m, "user_key_period", b->user_key_period)) != KMS_OK ||
	    (r = put_u64(m, "user_key_offset", b->user_key_offset)) != KMS_OK ||
	    (r = put_str(m, "domain", b->domains, sizeof(b->domains))) != KMS_OK ||
	    (r = put_field(m, "kpak", b->kpak, sizeof(b->kpak))) != KMS_OK ||
	    (r = put_field(m, "z_t", b->z_t, sizeof(b->z_t))) != KMS_OK ||
	    (r = put_str(m, "kek_label", b->kek_label, sizeof(b->kek_label))) != KMS_OK ||
	    (r = put_field(m, "kek", b->kek, b->kek_len)) != KMS_OK ||
	    (r = put_field(m, "ksak", b->ksak, b->ksak_len)) != KMS_OK ||
	    (r = put_field(m, "z_t_secret", b->z_t_secret, b->z_t_secret_len)) != KMS_OK) {
		goto out;
	}
	if (EVP_MAC_final(m, out, &out_len, 32) != 1 || out_len != 32) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = KMS_OK;
out:
	EVP_MAC_CTX_free(m); /* cleanses the keyed state */
	EVP_MAC_free(mac);
	return r;
}

int
kms_backup_check_mac(const struct kms_backup *b, const uint8_t mac_key[32])
{
	uint8_t want[32];
	int r = KMS_ERR_INTERNAL;

	if (b == NULL || mac_key == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (b->kek_len > KMS_BACKUP_MAX_BLOB || b->ksak_len > KMS_BACKUP_MAX_BLOB ||
	    b->z_t_secret_len > KMS_BACKUP_MAX_BLOB) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = compute_mac(b, mac_key, want)) != KMS_OK) {
		goto out;
	}
	r = CRYPTO_memcmp(want, b->mac, sizeof(want)) == 0 ? KMS_OK : KMS_ERR_AUTH;
out:
	kms_memzero(want, sizeof(want));
	return r;
}

/* ---- derivation ---- */

static int
hkdf(const uint8_t b[32], const char *info, uint8_t out[32])
{
	char digest[] = "SHA256";
	uint8_t key[32], salt[1] = {0};
	char info_buf[32];
	OSSL_PARAM params[5];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *k = NULL;
	size_t info_len = strlen(info);
	int r = KMS_ERR_CRYPTO;

	/* OSSL_PARAM wants non-const pointers: local copies, wiped below. */
	memcpy(key, b, sizeof(key));
	if (info_len >= sizeof(info_buf)) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	memcpy(info_buf, info, info_len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key, sizeof(key));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 0);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_buf, info_len);
	params[4] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (k = EVP_KDF_CTX_new(kdf)) == NULL || EVP_KDF_derive(k, out, 32, params) != 1) {
		r = KMS_ERR_CRYPTO;
		goto out;
	}
	r = KMS_OK;
out:
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
	kms_memzero(key, sizeof(key));
	return r;
}

int
kms_backup_derive(const uint8_t b[32], uint8_t wrap_key[32], uint8_t mac_key[32])
{
	int r = KMS_ERR_INTERNAL;

	if (b == NULL || wrap_key == NULL || mac_key == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = hkdf(b, "kms-backup-1 kek-wrap", wrap_key)) != KMS_OK ||
	    (r = hkdf(b, "kms-backup-1 mac", mac_key)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	if (r != KMS_OK) {
		kms_memzero(wrap_key, 32);
		kms_memzero(mac_key, 32);
	}
	return r;
}

/* ---- the text ---- */

/* An output buffer of fixed capacity (a formatted file is bounded by the struct). */
struct text {
	char *p; /* owned */
	size_t len;
	size_t cap;
	int overflow;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->overflow = 1;
		return;
	}
	t->len += (size_t)n;
}

/* key = "s" with '"' and '\' escaped (common/conf.h quoting). */
static void
add_quoted(struct text *t, const char *key, const char *s)
{
	size_t i;

	add(t, "%s = \"", key);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			add(t, "\\%c", s[i]);
		} else {
			add(t, "%c", s[i]);
		}
	}
	add(t, "\"\n");
}

static void
add_hex(struct text *t, const char *key, const uint8_t *data, size_t len)
{
	char hex[2 * KMS_BACKUP_MAX_BLOB + 1];

	if (kms_hex_encode(hex, sizeof(hex), data, len) != KMS_OK) {
		t->overflow = 1;
		return;
	}
	add(t, "%s = %s\n", key, hex);
}

static void
add_time(struct text *t, const char *key, int64_t v)
{
	char s[KMS_CER_TIME_LEN + 1];

	if (kms_cer_time_format(s, v) != KMS_OK) {
		t->overflow = 1;
		return;
	}
	add(t, "%s = %s\n", key, s);
}

int
kms_backup_format(struct kms_backup *b, const uint8_t mac_key[32], char **out, size_t *out_len)
{
	struct text t = {NULL, 0, KMS_BACKUP_MAX_FILE, 0};
	struct rep p = {NULL, "backup", NULL, 0};
	char *shrunk;
	uint8_t mac[32];
	size_t i, start, dl, len;
	int r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		*out = NULL;
	}
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (b == NULL || mac_key == NULL || out == NULL || out_len == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (check_fields(&p, b) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = compute_mac(b, mac_key, mac)) != KMS_OK) {
		goto out;
	}
	if ((t.p = malloc(t.cap)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	memcpy(b->mac, mac, sizeof(mac));
	add(&t,
	    "# A key ceremony's backup (docs/ceremony-file.md). It holds no key in clear: the KEK\n"
	    "# is wrapped under a key derived from the backup key, which threshold custodians\n"
	    "# rebuild from their shares. Keep it with the certificate; do not edit it (the mac\n"
	    "# covers every value).\n");
	add(&t, "format = %s\n", KMS_BACKUP_FORMAT);
	add(&t, "ceremony = %s\n", b->ceremony);
	add_hex(&t, "backup_id", b->backup_id, sizeof(b->backup_id));
	add_time(&t, "created", b->created);
	add(&t, "threshold = %u\n", b->threshold);
	add(&t, "shares = %u\n", b->shares);
	for (i = 0; i < b->shares; i++) {
		add(&t, "# share %zu\n", i + 1);
		add_quoted(&t, "custodian", b->custodians[i]);
	}
	add(&t, "kms_uri = %s\n", b->kms_uri);
	add_quoted(&t, "cert_uri", b->cert_uri);
	add_quoted(&t, "issuer", b->issuer);
	add_time(&t, "valid_from", b->valid_from);
	add_time(&t, "valid_to", b->valid_to);
	add(&t, "user_key_period = %llu\n", (unsigned long long)b->user_key_period);
	add(&t, "user_key_offset = %llu\n", (unsigned long long)b->user_key_offset);
	len = strlen(b->domains);
	for (start = 0; start < len; start += dl + 1) {
		dl = strcspn(b->domains + start, " ");
		add(&t, "domain = %.*s\n", (int)dl, b->domains + start);
	}
	add_hex(&t, "kpak", b->kpak, sizeof(b->kpak));
	add_hex(&t, "z_t", b->z_t, sizeof(b->z_t));
	add_quoted(&t, "kek_label", b->kek_label);
	add_hex(&t, "kek", b->kek, b->kek_len);
	add_hex(&t, "ksak", b->ksak, b->ksak_len);
	add_hex(&t, "z_t_secret", b->z_t_secret, b->z_t_secret_len);
	add_hex(&t, "mac", b->mac, sizeof(b->mac));
	if (t.overflow) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	/* Give back the unused capacity (a typical file is a few KiB). */
	if ((shrunk = realloc(t.p, t.len + 1)) != NULL) {
		t.p = shrunk;
	}
	*out = t.p;
	*out_len = t.len;
	t.p = NULL; /* transferred */
	r = KMS_OK;
out:
	free(t.p);
	kms_memzero(mac, sizeof(mac));
	return r;
}

/* ---- parsing ---- */

static const struct kms_conf_key backup_keys[] = {
	{.name = "format", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "ceremony", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "backup_id", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "created", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "threshold",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REQUIRED,
	 .min = 2,
	 .max = 255},
	{.name = "shares", .type = KMS_CONF_U64, .flags = KMS_CONF_REQUIRED, .min = 2, .max = 255},
	{.name = "custodian",
	 .type = KMS_CONF_STRING,
	 .flags = KMS_CONF_REQUIRED | KMS_CONF_REPEATABLE},
	{.name = "kms_uri", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "cert_uri", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "issuer", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "valid_from", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "valid_to", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "user_key_period",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REQUIRED,
	 .min = KMS_CER_MIN_PERIOD,
	 .max = KMS_CER_MAX_PERIOD},
	{.name = "user_key_offset",
	 .type = KMS_CONF_U64,
	 .flags = KMS_CONF_REQUIRED,
	 .min = 0,
	 .max = KMS_CER_MAX_PERIOD - 1},
	{.name = "domain",
	 .type = KMS_CONF_STRING,
	 .flags = KMS_CONF_REQUIRED | KMS_CONF_REPEATABLE},
	{.name = "kpak", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "z_t", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "kek_label", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "kek", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "ksak", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "z_t_secret", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
	{.name = "mac", .type = KMS_CONF_STRING, .flags = KMS_CONF_REQUIRED},
};

#define NUM_BACKUP_KEYS (sizeof(backup_keys) / sizeof(backup_keys[0]))

/* The text of value i of key ("" if none: required keys always have one). */
static const char *
val(const struct rep *p, const char *key, size_t i)
{
	const char *s = NULL;

	if (kms_conf_str(p->c, key, i, &s) != KMS_OK || s == NULL) {
		return "";
	}
	return s;
}

/* Copy value i of key into dst (cap octets with the NUL), refusing a longer one. */
static int
get_text(const struct rep *p, const char *key, size_t i, char *dst, size_t cap)
{
	const char *s = val(p, key, i);
	size_t len = strlen(s);

	if (len >= cap) {
		return bad(p, key, i, "'%s' is longer than %zu octets", key, cap - 1);
	}
	memcpy(dst, s, len + 1);
	return KMS_OK;
}

/* Exactly len octets of hex. */
static int
get_hex(const struct rep *p, const char *key, uint8_t *dst, size_t len)
{
	const char *s = val(p, key, 0);

	if (kms_hex_decode(dst, len, s, strlen(s)) != KMS_OK) {
		return bad(p, key, 0, "'%s' must be %zu hex digits", key, 2 * len);
	}
	return KMS_OK;
}

/* min..max octets of hex into dst (max octets), the count into *len. */
static int
get_blob(const struct rep *p, const char *key, uint8_t *dst, size_t *len)
{
	const char *s = val(p, key, 0);
	size_t n = strlen(s);

	*len = 0;
	if (n % 2 != 0 || n < 2 * KMS_BACKUP_MIN_BLOB || n > 2 * KMS_BACKUP_MAX_BLOB ||
	    kms_hex_decode(dst, n / 2, s, n) != KMS_OK) {
		return bad(p, key, 0,
			   "'%s' must be %u to %u octets in hex (an even number of hex "
			   "digits)",
			   key, KMS_BACKUP_MIN_BLOB, KMS_BACKUP_MAX_BLOB);
	}
	*len = n / 2;
	return KMS_OK;
}

static int
get_time(const struct rep *p, const char *key, int64_t *out)
{
	if (kms_cer_time_parse(out, val(p, key, 0)) != KMS_OK) {
		return bad(p, key, 0, "'%s' must be a UTC time \"YYYY-MM-DDTHH:MM:SSZ\"", key);
	}
	return KMS_OK;
}

static uint64_t
get_num(const struct rep *p, const char *key)
{
	uint64_t v = 0;

	if (kms_conf_u64(p->c, key, 0, &v) != KMS_OK) {
		return 0;
	}
	return v;
}

/* The struct from a parsed conf, then its rules. */
static int
from_conf(struct kms_backup *b, const struct rep *p)
{
	size_t n, i, len, off = 0;
	int r;

	if (strcmp(val(p, "format", 0), KMS_BACKUP_FORMAT) != 0) {
		return bad(p, "format", 0, "not a backup of this version ('format' must be '%s')",
			   KMS_BACKUP_FORMAT);
	}
	if ((r = get_text(p, "ceremony", 0, b->ceremony, sizeof(b->ceremony))) != KMS_OK ||
	    (r = get_hex(p, "backup_id", b->backup_id, sizeof(b->backup_id))) != KMS_OK ||
	    (r = get_time(p, "created", &b->created)) != KMS_OK) {
		return r;
	}
	b->threshold = (unsigned)get_num(p, "threshold");
	b->shares = (unsigned)get_num(p, "shares");
	n = kms_conf_count(p->c, "custodian");
	if (n > b->shares) {
		return bad(p, "custodian", b->shares,
			   "more 'custodian' lines than 'shares' (%u): one per share, in share "
			   "order",
			   b->shares);
	}
	if (n < b->shares) {
		return bad(p, "shares", 0,
			   "%u shares but %zu 'custodian' lines (one per share, in share order)",
			   b->shares, n);
	}
	for (i = 0; i < n; i++) {
		if ((r = get_text(p, "custodian", i, b->custodians[i], sizeof(b->custodians[i]))) !=
		    KMS_OK) {
			return r;
		}
	}
	if ((r = get_text(p, "kms_uri", 0, b->kms_uri, sizeof(b->kms_uri))) != KMS_OK ||
	    (r = get_text(p, "cert_uri", 0, b->cert_uri, sizeof(b->cert_uri))) != KMS_OK ||
	    (r = get_text(p, "issuer", 0, b->issuer, sizeof(b->issuer))) != KMS_OK ||
	    (r = get_time(p, "valid_from", &b->valid_from)) != KMS_OK ||
	    (r = get_time(p, "valid_to", &b->valid_to)) != KMS_OK) {
		return r;
	}
	b->user_key_period = get_num(p, "user_key_period");
	b->user_key_offset = get_num(p, "user_key_offset");
	n = kms_conf_count(p->c, "domain");
	for (i = 0; i < n; i++) {
		const char *d = val(p, "domain", i);

		if (i == KMS_CER_MAX_DOMAINS) {
			return bad(p, "domain", i, "more than %u domains", KMS_CER_MAX_DOMAINS);
		}
		len = strlen(d);
		if (!kms_cer_check_uri(d, len, KMS_CER_MAX_URI)) {
			return bad(p, "domain", i, "'domain' must be 1 to %u octets without spaces",
				   KMS_CER_MAX_URI);
		}
		if (len + (i > 0 ? 1 : 0) >= sizeof(b->domains) - off) {
			return bad(p, "domain", i,
				   "the domains take more than %u octets together (with one space "
				   "between two)",
				   KMS_CER_MAX_DOMAIN_LIST);
		}
		if (i > 0) {
			b->domains[off++] = ' ';
		}
		memcpy(b->domains + off, d, len);
		off += len;
		b->domains[off] = '\0';
	}
	if ((r = get_hex(p, "kpak", b->kpak, sizeof(b->kpak))) != KMS_OK ||
	    (r = get_hex(p, "z_t", b->z_t, sizeof(b->z_t))) != KMS_OK ||
	    (r = get_text(p, "kek_label", 0, b->kek_label, sizeof(b->kek_label))) != KMS_OK ||
	    (r = get_blob(p, "kek", b->kek, &b->kek_len)) != KMS_OK ||
	    (r = get_blob(p, "ksak", b->ksak, &b->ksak_len)) != KMS_OK ||
	    (r = get_blob(p, "z_t_secret", b->z_t_secret, &b->z_t_secret_len)) != KMS_OK ||
	    (r = get_hex(p, "mac", b->mac, sizeof(b->mac))) != KMS_OK) {
		return r;
	}
	return check_fields(p, b);
}

/* Parse a conf (already loaded or parsed) into a temporary, then out. */
static int
finish(struct kms_backup *out, const char *name, const struct kms_conf *c, char *err,
       size_t err_len)
{
	struct rep p = {c, name, err, err_len};
	struct kms_backup *b = NULL;
	int r = KMS_ERR_INTERNAL;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		(void)bad(&p, "format", 0, "out of memory");
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = from_conf(b, &p)) != KMS_OK) {
		goto out;
	}
	memcpy(out, b, sizeof(*out));
	r = KMS_OK;
out:
	free(b);
	return r;
}

int
kms_backup_parse(struct kms_backup *out, const char *name, const uint8_t *data, size_t len,
		 char *err, size_t err_len)
{
	struct kms_conf *c = NULL;
	int r = KMS_ERR_INTERNAL;

	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || name == NULL || (data == NULL && len > 0) ||
	    (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if ((r = kms_conf_parse(&c, err, err_len, backup_keys, NUM_BACKUP_KEYS, name, data, len)) !=
	    KMS_OK) {
		goto out;
	}
	r = finish(out, name, c, err, err_len);
out:
	kms_conf_free(c);
	return r;
}

int
kms_backup_load(struct kms_backup *out, const char *path, char *err, size_t err_len)
{
	struct kms_conf *c = NULL;
	int r = KMS_ERR_INTERNAL;

	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out == NULL || path == NULL || (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if ((r = kms_conf_load(&c, err, err_len, backup_keys, NUM_BACKUP_KEYS, path)) != KMS_OK) {
		goto out;
	}
	r = finish(out, path, c, err, err_len);
out:
	kms_conf_free(c);
	return r;
}
