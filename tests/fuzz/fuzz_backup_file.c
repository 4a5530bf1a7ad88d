/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_backup_file - the backup file parser (tools/backup-file.c) on arbitrary bytes. What it
 * accepts must format again (every rule holds) and parse back to the same values; the MAC
 * computed by format under a fixed key must then verify, and the original (random) MAC must
 * not unless it is that one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"
#include "tools/backup-file.h"

#include "common/banned.h"

static struct kms_backup b, again;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = {1, 2, 3};
	char err[KMS_CONF_ERR_LEN], *text = NULL;
	size_t text_len = 0;
	uint8_t mac[32];
	int r;

	if (size > 65536) {
		return 0;
	}
	memset(err, 'x', sizeof(err));
	r = kms_backup_parse(&b, "b", data, size, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != KMS_OK) {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_NOMEM);
		CHECK(strncmp(err, "b:", 2) == 0);
		return 0;
	}
	CHECK(err[0] == '\0');
	memcpy(mac, b.mac, sizeof(mac));
	r = kms_backup_check_mac(&b, key);
	CHECK(r == KMS_OK || r == KMS_ERR_AUTH);
	CHECK(kms_backup_format(&b, key, &text, &text_len) == KMS_OK);
	CHECK(kms_backup_check_mac(&b, key) == KMS_OK);
	CHECK((r == KMS_OK) == (memcmp(mac, b.mac, sizeof(mac)) == 0));
	CHECK(kms_backup_parse(&again, "b", (const uint8_t *)text, text_len, err, sizeof(err)) ==
	      KMS_OK);
	CHECK(memcmp(again.mac, b.mac, sizeof(b.mac)) == 0);
	CHECK(strcmp(again.domains, b.domains) == 0 && again.kek_len == b.kek_len &&
	      again.shares == b.shares && strcmp(again.issuer, b.issuer) == 0);
	CHECK(kms_backup_check_mac(&again, key) == KMS_OK);
	free(text);
	return 0;
}
