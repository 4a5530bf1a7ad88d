/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_DEVTOKEN_H
#define KMS_TOOLS_DEVTOKEN_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "hsm/p11.h"

/*
 * SoftHSM tokens for development: the building blocks (a softhsm2.conf of its own, a token
 * initialised with softhsm2-util, the module path, opening the token through hsm/p11.h, private
 * files, removing a directory tree), used by kms-devsetup for the development domain in var/dev,
 * and a throw-away token for one program (a test, a benchmark): struct kms_devtoken, which can
 * also be an NSS softoken database (docs/tokens.md). Development only: softhsm2-util takes the
 * PINs on its command line, and the throw-away tokens' PINs are fixed.
 */

/* kms_devtoken_module - the SoftHSM module: $KMS_TEST_HSM_MODULE when set (the tests set it from
 * CMake), else the first of Debian's paths that exists (/usr/lib/softhsm/libsofthsm2.so, then the
 * multiarch directory), else the first of them. Never NULL; the string is static or from getenv. */
const char *kms_devtoken_module(void);

/*
 * kms_devtoken_write_conf - write the SoftHSM configuration conf_path (created, never replaced:
 * O_EXCL | O_NOFOLLOW, mode 0600) naming tokens_dir as the token directory, with the file object
 * store and log level ERROR. Both paths absolute, without control characters and without
 * leading or trailing blanks (SoftHSM's own configuration syntax has no quoting).
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (a path that breaks those rules); KMS_ERR_IO (errno says
 * why). On failure nothing is left at conf_path.
 */
int kms_devtoken_write_conf(const char *conf_path, const char *tokens_dir) KMS_WUR;

/*
 * kms_devtoken_init_token - set SOFTHSM2_CONF to conf_path in this process's environment (it
 * stays set: the module reads it when it is initialised) and initialise a new token labelled
 * label (1..32 printable ASCII octets) in the first free slot, with so_pin and user_pin (each
 * 4..255 printable ASCII octets; borrowed), by running softhsm2-util from PATH without a shell.
 * Its standard output goes to /dev/null, its errors to our standard error. The PINs appear on
 * softhsm2-util's command line: development tokens only.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG; KMS_ERR_HSM (softhsm2-util missing or failed);
 * KMS_ERR_NOMEM.
 */
int kms_devtoken_init_token(const char *conf_path, const char *label, const char *so_pin,
			    const char *user_pin) KMS_WUR;

/*
 * kms_devtoken_open - open the token labelled label (module: an absolute path, e.g.
 * kms_devtoken_module()) and log in with the PIN in the file pin_path (absolute, mode 0600),
 * through kms_p11_new: *out is owned (kms_p11_free). SOFTHSM2_CONF must name the token's
 * configuration. Returns what kms_p11_new returns, KMS_ERR_INVALID_ARG for a label over 32
 * octets.
 */
int kms_devtoken_open(struct kms_p11 **out, const char *module, const char *label,
		      const char *pin_path) KMS_WUR;

/*
 * kms_devtoken_open_params - kms_devtoken_open with the module's initialisation string params
 * (NULL: none; kms_p11_config.module_params).
 */
int kms_devtoken_open_params(struct kms_p11 **out, const char *module, const char *params,
			     const char *label, const char *pin_path) KMS_WUR;

/*
 * NSS's softoken (libsoftokn3) as a second token (docs/tokens.md):
 * kms_devtoken_nss_module - $KMS_TEST_NSS_MODULE when set, else the first of Debian's paths that
 * exists, else NULL (not installed).
 * kms_devtoken_nss_params - its initialisation string for a database in the directory dir
 * (absolute) whose token is labelled label (1..32 printable octets; neither with a quote).
 * kms_devtoken_nss_init - set the user PIN of that new database's token (an empty SO password,
 * then C_InitPIN), loading the module on its own and finalising it again.
 * Both return KMS_OK, KMS_ERR_INVALID_ARG, or (init) KMS_ERR_HSM.
 */
const char *kms_devtoken_nss_module(void);
int kms_devtoken_nss_params(char *out, size_t cap, const char *dir, const char *label) KMS_WUR;
int kms_devtoken_nss_init(const char *module, const char *params, const char *label,
			  const char *user_pin) KMS_WUR;

/*
 * kms_devtoken_write_file - create path (O_EXCL | O_NOFOLLOW: never replaces a file nor follows
 * a link) with exactly the given mode (whatever the umask), write len octets of data (borrowed),
 * fsync and close it. Returns KMS_OK or KMS_ERR_IO (errno says why); on failure the file is
 * removed again (if this call created it). Secrets may be written: nothing is copied.
 */
int kms_devtoken_write_file(const char *path, const void *data, size_t len, mode_t mode) KMS_WUR;

/*
 * kms_devtoken_rmtree - remove path and everything below it, never following a symbolic link
 * (a link is removed, not what it points to); at most 32 directory levels. A path that does not
 * exist is KMS_OK. Returns KMS_OK or KMS_ERR_IO (something could not be removed; the rest is).
 */
int kms_devtoken_rmtree(const char *path) KMS_WUR;

/*
 * A throw-away SoftHSM token for one program (a test, a benchmark): a temporary directory with its
 * own softhsm2.conf (SOFTHSM2_CONF is set to it), a token initialised with softhsm2-util, the user
 * PIN in a 0600 file, and a logged-in struct kms_p11 on it (module: kms_devtoken_module()).
 */
enum kms_devtoken_kind {
	KMS_DEVTOKEN_SOFTHSM, /* a SoftHSM token (softhsm2-util), host-ECB wrap */
	KMS_DEVTOKEN_NSS,     /* an NSS softoken database: RFC 5649 by the token (0x210b) */
};

struct kms_devtoken {
	enum kms_devtoken_kind kind;
	char dir[64];
	char pin_path[128];
	char store_path[128]; /* dir/kms.db, for tests that need a store */
	char params[256]; /* NSS: the module's initialisation string (module_params); SoftHSM: "" */
	struct kms_p11 *p11;
};

/* kms_devtoken_new - set up t with a SoftHSM token labelled label; 0 on success, -1 otherwise
 * (what is made of it then is removed by kms_devtoken_free, which is safe to call).
 * kms_devtoken_new_kind - the same with a token of the given kind. */
int kms_devtoken_new(struct kms_devtoken *t, const char *label);
int kms_devtoken_new_kind(struct kms_devtoken *t, const char *label, enum kms_devtoken_kind kind);
/* kms_devtoken_free - free t->p11 and remove the directory; 0 on success. */
int kms_devtoken_free(struct kms_devtoken *t);

#endif /* KMS_TOOLS_DEVTOKEN_H */
