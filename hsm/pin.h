/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_PIN_H
#define KMS_HSM_PIN_H

#include "common/err.h"
#include "common/secmem.h"

/*
 * The token's user PIN, read from a file that only its owner can read: a path from the
 * configuration, or a systemd credential ($CREDENTIALS_DIRECTORY/<name>, LoadCredential= or
 * LoadCredentialEncrypted= in the unit). The PIN lives only in a struct kms_secret (locked,
 * not dumped, wiped on free) for as long as a login takes; it is never logged, nor is its
 * length, and neither is anything read from a refused file.
 */

#define KMS_MAX_PIN 256 /* bytes in the file, newline included */

/*
 * kms_pin_read_file - read the PIN at path (absolute) into a new secret, *out (owned by the
 * caller: kms_secret_free() it as soon as the login is done). The file is opened with
 * O_NOFOLLOW, and the checks are made on the open descriptor (fstat), so what is checked is
 * what is read: it must be a regular file, owned by the effective user or root, with no
 * permission bits for group or others (mode & 077 == 0), at most KMS_MAX_PIN bytes. One
 * trailing "\n" is removed; what remains must not be empty.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (path NULL or relative); KMS_ERR_PIN_FILE (a symbolic
 * link, not a regular file, another owner, mode & 077, or empty); KMS_ERR_TOO_LARGE; KMS_ERR_IO
 * (cannot open or read: missing file, permission denied, short read); KMS_ERR_NOMEM.
 * *out is NULL on failure. Failures are logged with the path and the reason, never the content.
 */
int kms_pin_read_file(struct kms_secret **out, const char *path) KMS_WUR;

/*
 * kms_pin_read_credential - kms_pin_read_file() on $CREDENTIALS_DIRECTORY/name. name is a
 * file name (letters, digits, '.', '_', '-', not starting with '.', at most 255 bytes). Returns
 * what kms_pin_read_file() returns, or KMS_ERR_INVALID_ARG for a bad name or an unset or
 * relative $CREDENTIALS_DIRECTORY.
 * XXX(hsm): systemd puts credentials on ramfs, chowned to the service user with mode 0400,
 * which passes; where it falls back to tmpfs and grants access with an ACL, the group bits
 * show the ACL mask and the file is refused. Checking the ACL itself would need libacl.
 */
int kms_pin_read_credential(struct kms_secret **out, const char *name) KMS_WUR;

/*
 * kms_pin_credential_path - the path of credential name, $CREDENTIALS_DIRECTORY/name, into
 * path (cap bytes). Errors as kms_pin_read_credential's, which uses it.
 */
int kms_pin_credential_path(char *path, size_t cap, const char *name) KMS_WUR;

#endif /* KMS_HSM_PIN_H */
