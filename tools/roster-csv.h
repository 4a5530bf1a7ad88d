/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_ROSTER_CSV_H
#define KMS_TOOLS_ROSTER_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/store.h"

/*
 * The roster import file of `kms-admin roster import` (docs/kms-admin.md, "The import file"):
 * CSV after RFC 4180, one change per line:
 *
 *   identity,URI              add the identity URI (unless it is there)
 *   entitle,CLIENT,URI        entitle client CLIENT to URI
 *   revoke-identity,URI       revoke the identity URI
 *   withdraw,CLIENT,URI       withdraw the entitlement of CLIENT to URI
 *
 * UTF-8 (a leading byte order mark is skipped), lines ended by LF or CRLF (the last one may have
 * none); empty lines and lines starting with '#' are skipped; a first record whose first field
 * is "op" is a header and skipped. A field may be quoted ("..." with "" for a quote); a quoted
 * field may hold commas, not line ends. No control characters anywhere (C0 but the line ends,
 * DEL, C1), no bytes that are not UTF-8. CLIENT: 1..KMS_STORE_MAX_ID visible ASCII characters;
 * URI: 1..KMS_STORE_MAX_URI bytes without spaces. Nothing is trimmed.
 */

#define KMS_ROSTER_CSV_MAX_FILE   (16u * 1024 * 1024) /* bytes of a file */
#define KMS_ROSTER_CSV_MAX_LINE   8192                /* bytes of a line, without its end */
#define KMS_ROSTER_CSV_MAX_FIELDS 3                   /* fields of a record */
#define KMS_ROSTER_CSV_ERR_LEN    128                 /* the reason buffer, with its NUL */

/* A parsed file: ops[i] came from line lines[i] (1-based). */
struct kms_roster_csv {
	struct kms_roster_op *ops; /* owned; texts point into arena */
	size_t *lines;             /* owned */
	size_t num_ops;
	char *arena; /* owned: the decoded fields, NUL-terminated */
};

/*
 * kms_roster_csv_parse - parse data[0..len) into out (initialised here; release with
 * kms_roster_csv_cleanup, also after a failure). At most KMS_ROSTER_CSV_MAX_FILE bytes,
 * KMS_ROSTER_CSV_MAX_LINE bytes a line, KMS_ROSTER_CSV_MAX_FIELDS fields a record and
 * KMS_STORE_MAX_ROSTER_OPS changes. data is borrowed (out does not point into it).
 * Returns KMS_OK; KMS_ERR_PARSE (a malformed line: *out_line is its number, err a reason of at
 * most err_cap - 1 bytes, without any byte of the input); KMS_ERR_TOO_LARGE (the file, a line
 * (*out_line set) or the number of changes over its limit; err says which); KMS_ERR_NOMEM;
 * KMS_ERR_INVALID_ARG (NULL pointers but data with len 0, err_cap 0). On error out holds no
 * op and *out_line is 0 unless a line is to blame.
 */
int kms_roster_csv_parse(struct kms_roster_csv *out, size_t *out_line, char *err, size_t err_cap,
			 const uint8_t *data, size_t len) KMS_WUR;

/* kms_roster_csv_cleanup - free what csv holds and zero it; NULL is a no-op. */
void kms_roster_csv_cleanup(struct kms_roster_csv *csv);

#endif /* KMS_TOOLS_ROSTER_CSV_H */
