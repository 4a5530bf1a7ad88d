/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_BACKUP_FILE_H
#define KMS_TOOLS_BACKUP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The backup file of a key ceremony ("kms-backup-1"): the domain's public values, the KEK
 * wrapped under a key derived from the backup key B (B itself is split among the custodians
 * and never written), KSAK and z_T wrapped under the KEK, and an HMAC-SHA256 over all of it
 * under a second key derived from B. A text file in the syntax of common/conf.h; the format and
 * the MAC's input are in docs/ceremony-file.md. Nothing in it is secret in clear; whoever
 * holds threshold shares and the file can restore the domain, and a change to the file is
 * found only once B is known again (kms_backup_check_mac).
 */

#define KMS_BACKUP_FORMAT   "kms-backup-1"
#define KMS_BACKUP_MAX_BLOB 528u /* kek, ksak, z_t_secret: octets (at least 8) */
#define KMS_BACKUP_MIN_BLOB 8u
#define KMS_BACKUP_MAX_FILE (256u * 1024u) /* a formatted file is far smaller */

struct kms_backup {
	char ceremony[65];        /* [A-Za-z0-9._-]{1,64}, as in the ceremony file */
	uint8_t backup_id[8];     /* "backup_id": 16 hex digits */
	int64_t created;          /* Unix seconds, "YYYY-MM-DDTHH:MM:SSZ" in the file */
	unsigned threshold;       /* 2 .. shares */
	unsigned shares;          /* 2 .. 255 */
	char custodians[255][65]; /* shares entries: share x (1-based) is custodians[x - 1]'s */
	char kms_uri[2049];       /* 1..2048 octets without spaces */
	char cert_uri[2049];      /* "" or like kms_uri */
	char issuer[1025];        /* "" or 1..1024 octets of text */
	int64_t valid_from;       /* valid_from < valid_to */
	int64_t valid_to;
	uint64_t user_key_period;          /* 3600 .. 31536000 */
	uint64_t user_key_offset;          /* < user_key_period */
	char domains[8193];                /* 1..64 distinct URIs separated by one space */
	uint8_t kpak[65];                  /* 04 || x || y (P-256) */
	uint8_t z_t[257];                  /* 04 || x || y (SAKKE parameter set 1) */
	char kek_label[129];               /* 1..128 printable ASCII */
	uint8_t kek[KMS_BACKUP_MAX_BLOB];  /* the KEK wrapped under the wrap key (RFC 5649) */
	size_t kek_len;                    /* 8 .. KMS_BACKUP_MAX_BLOB */
	uint8_t ksak[KMS_BACKUP_MAX_BLOB]; /* KSAK wrapped under the KEK */
	size_t ksak_len;
	uint8_t z_t_secret[KMS_BACKUP_MAX_BLOB]; /* z_T wrapped under the KEK */
	size_t z_t_secret_len;
	uint8_t mac[32]; /* HMAC-SHA256 of the rest (kms_backup_format) */
};

/*
 * kms_backup_derive - from the 32-octet backup key b: wrap_key (the key the KEK is wrapped
 * under) and mac_key, by HKDF-SHA256 (RFC 5869, OpenSSL EVP_KDF) with an empty salt and the
 * infos "kms-backup-1 kek-wrap" and "kms-backup-1 mac". Returns KMS_OK, KMS_ERR_INVALID_ARG
 * (NULL), KMS_ERR_CRYPTO; both outputs are wiped on failure. Nothing is kept.
 */
int kms_backup_derive(const uint8_t b[32], uint8_t wrap_key[32], uint8_t mac_key[32]) KMS_WUR;

/*
 * kms_backup_format - check every field of b (the rules of the file, as kms_backup_parse
 * applies them), set b->mac := HMAC-SHA256(mac_key, the canonical encoding of every other
 * field; docs/ceremony-file.md), then write the text into *out (malloc'd, owned by the caller,
 * NUL-terminated, *out_len octets without the NUL). Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL,
 * or a field that breaks the rules: b is then unchanged); KMS_ERR_CRYPTO; KMS_ERR_NOMEM. On
 * failure *out is NULL and *out_len 0.
 */
int kms_backup_format(struct kms_backup *b, const uint8_t mac_key[32], char **out,
		      size_t *out_len) KMS_WUR;

/*
 * kms_backup_parse - parse the len octets at data (borrowed) as a backup file called name,
 * with every rule but the MAC (its key is not known yet: restore derives it from the shares
 * and calls kms_backup_check_mac before it trusts anything). Returns KMS_OK; KMS_ERR_PARSE
 * with "NAME:LINE: ..." (or "NAME: ...") in err; KMS_ERR_NOMEM; KMS_ERR_INVALID_ARG. On
 * failure *out is zeroed. err as in common/conf.h (KMS_CONF_ERR_LEN is never cut).
 */
int kms_backup_parse(struct kms_backup *out, const char *name, const uint8_t *data, size_t len,
		     char *err, size_t err_len) KMS_WUR;

/*
 * kms_backup_load - read the regular file path (kms_conf_load: at most 1 MiB) and parse it as
 * kms_backup_parse() does. Also KMS_ERR_IO when it cannot be opened or read.
 */
int kms_backup_load(struct kms_backup *out, const char *path, char *err, size_t err_len) KMS_WUR;

/*
 * kms_backup_check_mac - KMS_OK if b->mac is the HMAC of b under mac_key (compared with
 * CRYPTO_memcmp), KMS_ERR_AUTH if not, KMS_ERR_INVALID_ARG for NULL, KMS_ERR_CRYPTO.
 */
int kms_backup_check_mac(const struct kms_backup *b, const uint8_t mac_key[32]) KMS_WUR;

#endif /* KMS_TOOLS_BACKUP_FILE_H */
