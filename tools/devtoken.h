/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_DEVTOKEN_H
#define KMS_TOOLS_DEVTOKEN_H

#include "hsm/p11.h"

/*
 * A throw-away SoftHSM token for one program (a test, a benchmark): a temporary directory with its
 * own softhsm2.conf (SOFTHSM2_CONF is set to it), a token initialised with softhsm2-util, the user
 * PIN in a 0600 file, and a logged-in struct kms_p11 on it. The module is KMS_TEST_HSM_MODULE
 * (the tests set it from CMake), or Debian's path.
 */
struct kms_devtoken {
	char dir[64];
	char pin_path[128];
	char store_path[128]; /* dir/kms.db, for tests that need a store */
	struct kms_p11 *p11;
};

/* kms_devtoken_new - set up t with a token labelled label; 0 on success. */
int kms_devtoken_new(struct kms_devtoken *t, const char *label);
/* kms_devtoken_free - free t->p11 and remove the directory; 0 on success. */
int kms_devtoken_free(struct kms_devtoken *t);
/* kms_devtoken_module - the module path the tests use. */
const char *kms_devtoken_module(void);

#endif /* KMS_TOOLS_DEVTOKEN_H */
