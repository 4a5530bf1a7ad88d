/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_SHARE_H
#define KMS_TOOLS_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * One custodian's share of the backup key, as printed on paper and typed back at a restore
 * (docs/backup-shares.md is the format):
 *
 *   KMS BACKUP SHARE 1
 *   ceremony: prod-2025-01
 *   backup: 0123456789ABCDEF
 *   custodian: Alice Example
 *   share 2 of 5, any 3 restore
 *   1: 7ZQ4 K1M9 ... (4 groups of 4 share characters)  2 check characters
 *   2: ...
 *   3: ...
 *   4: (1 group)  2 check characters
 *   check: XXXX XXXX
 *
 * The share value y in Crockford base32; each data line carries a 2-character Reed-Solomon
 * check over GF(32) of its line number and characters (any one or two wrong characters on a
 * line are caught, and one is located); the check line is 40 bits of SHA-256 over every field.
 */

#define KMS_SHARE_MAX_LABEL    64   /* custodian label: UTF-8 printable, no control chars */
#define KMS_SHARE_MAX_CEREMONY 64   /* ceremony id: [A-Za-z0-9._-]{1,64} */
#define KMS_SHARE_Y_LEN        32   /* the share value (the backup key is 32 octets) */
#define KMS_SHARE_MAX_TEXT     2048 /* the text of one share */
#define KMS_SHARE_ERR_LEN      256  /* an err buffer that no message of kms_share_parse fills */

struct kms_share {
	char ceremony[KMS_SHARE_MAX_CEREMONY + 1];
	uint8_t backup_id[8]; /* binds the share to one backup file (public) */
	char label[KMS_SHARE_MAX_LABEL + 1];
	unsigned x, m, n;           /* share x of n; any m restore; 2<=m<=n<=255, 1<=x<=n */
	uint8_t y[KMS_SHARE_Y_LEN]; /* secret: callers keep struct kms_share in secmem or wipe it */
};

/*
 * kms_share_format - the text of sh into out (cap octets, NUL-terminated; *out_len without
 * the NUL). The text is secret (it holds y). The label must be 1..KMS_SHARE_MAX_LABEL octets
 * of UTF-8 without control characters and without leading or trailing blanks (the parser trims
 * them); the ceremony id [A-Za-z0-9._-]{1,64}; 2 <= m <= n <= 255, 1 <= x <= n.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (a NULL pointer, a field out of range); KMS_ERR_TOO_LARGE
 * (cap too small). On failure out is wiped (out[0] is NUL when cap > 0) and *out_len is 0.
 * The text is at most KMS_SHARE_MAX_TEXT octets.
 */
int kms_share_format(const struct kms_share *sh, char *out, size_t cap, size_t *out_len) KMS_WUR;

/*
 * kms_share_parse - parse one share's text (len octets, typed by a human: see below) into
 * *out. On failure *out is wiped and err (err_len octets) says precisely what is wrong and
 * WHERE (line number, group number), e.g. "line 7 (data line 2): check characters do not
 * match: a character of this line is mistyped (probably in group 3)", "line 6 (data line 1),
 * group 2: 'U' is not a share character". Forgiving: case-insensitive base32 with O read as 0
 * and I, L as 1; blanks and '-' between characters of data, check and backup id lines ignored;
 * blanks around lines, blank lines, CRLF or LF, a leading UTF-8 byte order mark. Strict on
 * everything else: unknown, missing or duplicate lines, values out of range (x > n, m > n),
 * trailing garbage, text over KMS_SHARE_MAX_TEXT octets.
 * Returns KMS_OK (err is ""), KMS_ERR_PARSE (malformed), KMS_ERR_AUTH (a checksum does not
 * match), KMS_ERR_INVALID_ARG (out NULL, text NULL with len > 0, err NULL with err_len > 0).
 * Returns KMS_ERR_CRYPTO if SHA-256 fails. err is always NUL-terminated when err_len > 0 and
 * never quotes a valid share character (it may name an invalid one: "'U' is not a share
 * character"); KMS_SHARE_ERR_LEN octets hold every message. text is borrowed.
 */
int kms_share_parse(const char *text, size_t len, struct kms_share *out, char *err,
		    size_t err_len) KMS_WUR;

#endif /* KMS_TOOLS_SHARE_H */
