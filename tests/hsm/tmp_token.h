/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TESTS_HSM_TMP_TOKEN_H
#define KMS_TESTS_HSM_TMP_TOKEN_H

#include "hsm/p11.h"

/*
 * A throw-away SoftHSM token for one test program: a temporary directory with its own
 * softhsm2.conf (SOFTHSM2_CONF is set to it), a token initialised with softhsm2-util, the user
 * PIN in a 0600 file, and a logged-in struct kms_p11 on it. The module is KMS_TEST_HSM_MODULE
 * (set by tests/hsm/CMakeLists.txt), or Debian's path.
 */
struct kms_tmp_token {
	char dir[64];
	char pin_path[128];
	char store_path[128]; /* dir/kms.db, for tests that need a store */
	struct kms_p11 *p11;
};

/* kms_tmp_token_new - set up t with a token labelled label; 0 on success. */
int kms_tmp_token_new(struct kms_tmp_token *t, const char *label);
/* kms_tmp_token_free - free t->p11 and remove the directory; 0 on success. */
int kms_tmp_token_free(struct kms_tmp_token *t);
/* kms_tmp_token_module - the module path the tests use. */
const char *kms_tmp_token_module(void);

#endif /* KMS_TESTS_HSM_TMP_TOKEN_H */
