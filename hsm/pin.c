/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/pin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cbs.h"
#include "common/conf.h"
#include "common/log.h"

#include "common/banned.h"

/*
 * Attacker model: someone who can write somewhere on the PIN file's path, or read files of
 * other users on the host, but not the service's own files. The descriptor is opened first and
 * everything is checked on it (fstat, fgetxattr), so a file swapped in after the checks is
 * never read; O_NOFOLLOW refuses a symbolic link as the last component, O_NONBLOCK keeps a
 * FIFO from blocking the open before S_ISREG refuses it. Nothing read from the file reaches
 * the log, and no message depends on its length beyond "empty" or "over the limit".
 */

/* The POSIX ACL extended attribute (Linux's xattr format, <linux/posix_acl_xattr.h>). */
#define ACL_XATTR         "system.posix_acl_access"
#define ACL_XATTR_VERSION 2u
#define ACL_XATTR_MAX     1024u /* a header and 127 entries: far more than any sane file */
#define ACL_USER_OBJ      0x01u
#define ACL_USER          0x02u
#define ACL_GROUP_OBJ     0x04u
#define ACL_GROUP         0x08u
#define ACL_MASK          0x10u
#define ACL_OTHER         0x20u

#define CRED_NAME_MAX 255

/* A little-endian integer of n <= 4 bytes (the xattr's byte order on every Linux host). */
static int
get_le(struct kms_cbs *c, size_t n, uint32_t *out)
{
	uint8_t b[4];
	uint32_t v = 0;
	size_t i;
	int r;

	if ((r = kms_cbs_copy(c, b, n)) != KMS_OK) {
		return r;
	}
	for (i = n; i > 0; i--) {
		v = v << 8 | b[i - 1];
	}
	*out = v;
	return KMS_OK;
}

/*
 * With an access ACL, the group bits of st_mode are the ACL's mask, not the owning group's
 * permissions: systemd grants a service its credential with an ACL entry for the service's
 * user on a root-owned 0400 file, which then shows mode 0440. The rule stays "nobody but the
 * owner and us": named users other than the effective uid, the owning group, named groups and
 * others must have no permission at all. Returns KMS_OK, KMS_ERR_PIN_FILE or KMS_ERR_IO.
 */
static int
check_acl(const char *path, const uint8_t *acl, size_t len)
{
	struct kms_cbs c;
	uint32_t version, tag, perm, id;

	kms_cbs_init(&c, acl, len);
	if (get_le(&c, 4, &version) != KMS_OK || version != ACL_XATTR_VERSION ||
	    kms_cbs_len(&c) % 8 != 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: unreadable access ACL", path);
		return KMS_ERR_PIN_FILE;
	}
	while (kms_cbs_len(&c) > 0) {
		if (get_le(&c, 2, &tag) != KMS_OK || get_le(&c, 2, &perm) != KMS_OK ||
		    get_le(&c, 4, &id) != KMS_OK) {
			return KMS_ERR_PIN_FILE; /* unreachable: the length is a multiple of 8 */
		}
		switch (tag) {
		case ACL_USER_OBJ:
		case ACL_MASK:
			break;
		case ACL_USER:
			if (perm != 0 && id != (uint32_t)geteuid()) {
				kms_log(KMS_LOG_ERR,
					"pin: %s: refused: its ACL grants access to user %u", path,
					(unsigned int)id);
				return KMS_ERR_PIN_FILE;
			}
			break;
		case ACL_GROUP_OBJ:
		case ACL_GROUP:
		case ACL_OTHER:
			if (perm != 0) {
				kms_log(KMS_LOG_ERR,
					"pin: %s: refused: its ACL grants access to a group or to "
					"others",
					path);
				return KMS_ERR_PIN_FILE;
			}
			break;
		default:
			kms_log(KMS_LOG_ERR, "pin: %s: refused: unknown ACL entry type 0x%x", path,
				(unsigned int)tag);
			return KMS_ERR_PIN_FILE;
		}
	}
	return KMS_OK;
}

/* Only the owner (and, through an ACL, the effective user) may read or write the file. */
static int
check_access(int fd, const char *path, const struct stat *st)
{
	uint8_t acl[ACL_XATTR_MAX];
	ssize_t n;

	if (st->st_uid != geteuid() && st->st_uid != 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: owned by uid %u, neither us nor root", path,
			(unsigned int)st->st_uid);
		return KMS_ERR_PIN_FILE;
	}
	if ((st->st_mode & 077) == 0) {
		return KMS_OK;
	}
	n = fgetxattr(fd, ACL_XATTR, acl, sizeof(acl));
	if (n < 0 && (errno == ENODATA || errno == ENOTSUP)) {
		kms_log(KMS_LOG_ERR,
			"pin: %s: refused: mode %04o gives group or others access (chmod 600)",
			path, (unsigned int)(st->st_mode & 07777));
		return KMS_ERR_PIN_FILE;
	}
	if (n < 0 && errno == ERANGE) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: access ACL too long", path);
		return KMS_ERR_PIN_FILE;
	}
	if (n < 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: cannot read its ACL: %s", path, strerror(errno));
		return KMS_ERR_IO;
	}
	return check_acl(path, acl, (size_t)n);
}

int
kms_pin_read_file(struct kms_secret **out, const char *path)
{
	struct kms_secret *raw = NULL, *pin = NULL;
	struct stat st;
	char err[KMS_CONF_ERR_LEN];
	size_t len;
	int fd = -1;
	int r = KMS_ERR_INTERNAL;

	*out = NULL;
	if (path == NULL || path[0] != '/') {
		kms_log(KMS_LOG_ERR, "pin: the PIN file must be given as an absolute path");
		return KMS_ERR_INVALID_ARG;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			kms_log(KMS_LOG_ERR, "pin: %s: refused: a symbolic link", path);
			r = KMS_ERR_PIN_FILE;
		} else {
			kms_log(KMS_LOG_ERR, "pin: %s: cannot open: %s", path, strerror(errno));
			r = KMS_ERR_IO;
		}
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: cannot stat: %s", path, strerror(errno));
		r = KMS_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: not a regular file", path);
		r = KMS_ERR_PIN_FILE;
		goto out;
	}
	if ((r = check_access(fd, path, &st)) != KMS_OK) {
		goto out;
	}
	if (st.st_size > KMS_MAX_PIN) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: larger than %u bytes", path,
			(unsigned int)KMS_MAX_PIN);
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	if (st.st_size <= 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: empty", path);
		r = KMS_ERR_PIN_FILE;
		goto out;
	}
	len = (size_t)st.st_size;
	if ((raw = kms_secret_new(len)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	/* Into locked memory straight away; on failure the reader wipes what it read. */
	if ((r = kms_conf_read_fd(fd, path, raw->data, len, err, sizeof(err))) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "pin: %s", err);
		goto out;
	}
	/* One trailing newline, as echo and most editors leave it, is not part of the PIN. */
	if (raw->data[len - 1] == '\n') {
		len--;
	}
	if (len == 0) {
		kms_log(KMS_LOG_ERR, "pin: %s: refused: holds no PIN", path);
		r = KMS_ERR_PIN_FILE;
		goto out;
	}
	if ((pin = kms_secret_new(len)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	memcpy(pin->data, raw->data, len);
	*out = pin;
	pin = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_secret_free(pin);
	kms_secret_free(raw);
	if (fd >= 0) {
		(void)close(fd);
	}
	return r;
}

static int
cred_name_ok(const char *name)
{
	size_t i, n;

	if (name == NULL || name[0] == '\0' || name[0] == '.') {
		return 0;
	}
	n = strnlen(name, CRED_NAME_MAX + 1);
	if (n > CRED_NAME_MAX) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			return 0;
		}
	}
	return 1;
}

int
kms_pin_credential_path(char *path, size_t cap, const char *name)
{
	const char *dir;
	int n;

	if (!cred_name_ok(name)) {
		kms_log(KMS_LOG_ERR, "pin: bad credential name (letters, digits, '.', '_', '-')");
		return KMS_ERR_INVALID_ARG;
	}
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || dir[0] != '/') {
		kms_log(KMS_LOG_ERR,
			"pin: credential %s: $CREDENTIALS_DIRECTORY is not set to an "
			"absolute path (LoadCredential= in the unit)",
			name);
		return KMS_ERR_INVALID_ARG;
	}
	n = snprintf(path, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap) {
		kms_log(KMS_LOG_ERR, "pin: credential %s: path too long", name);
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

int
kms_pin_read_credential(struct kms_secret **out, const char *name)
{
	char path[PATH_MAX];
	int r;

	*out = NULL;
	if ((r = kms_pin_credential_path(path, sizeof(path), name)) != KMS_OK) {
		return r;
	}
	return kms_pin_read_file(out, path);
}
