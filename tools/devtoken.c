/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/devtoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/banned.h"

static int
run(const char *cmd)
{
	int st = system(cmd);

	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

const char *
kms_devtoken_module(void)
{
	const char *m = getenv("KMS_TEST_HSM_MODULE");

	return m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

int
kms_devtoken_new(struct kms_devtoken *t, const char *label)
{
	char path[128];
	char cmd[512];
	struct kms_p11_config cfg;
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/kms-test-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		return -1;
	}
	snprintf(path, sizeof(path), "%s/tokens", t->dir);
	if (mkdir(path, 0700) != 0) {
		return -1;
	}
	snprintf(path, sizeof(path), "%s/softhsm2.conf", t->dir);
	f = fopen(path, "w");
	if (f == NULL) {
		return -1;
	}
	fprintf(f,
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
		t->dir);
	fclose(f);
	if (setenv("SOFTHSM2_CONF", path, 1) != 0) {
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label '%s' --so-pin 12345678 --pin 87654321 "
		 ">/dev/null",
		 label);
	if (run(cmd) != 0) {
		return -1;
	}
	snprintf(t->pin_path, sizeof(t->pin_path), "%s/user.pin", t->dir);
	snprintf(t->store_path, sizeof(t->store_path), "%s/kms.db", t->dir);
	f = fopen(t->pin_path, "w");
	if (f == NULL || chmod(t->pin_path, 0600) != 0) {
		if (f != NULL) {
			fclose(f);
		}
		return -1;
	}
	fputs("87654321\n", f);
	fclose(f);
	memset(&cfg, 0, sizeof(cfg));
	cfg.module_path = kms_devtoken_module();
	snprintf(path, sizeof(path), "pkcs11:token=%s", label);
	cfg.token_uri = path;
	cfg.pin_file = t->pin_path;
	return kms_p11_new(&t->p11, &cfg) == KMS_OK ? 0 : -1;
}

int
kms_devtoken_free(struct kms_devtoken *t)
{
	char cmd[128];

	kms_p11_free(t->p11);
	t->p11 = NULL;
	if (t->dir[0] == '\0') {
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	return run(cmd);
}
