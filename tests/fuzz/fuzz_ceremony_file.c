/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ceremony_file - the ceremony file parser and the identities list parser
 * (tools/ceremony-file.c) on the same arbitrary bytes. On success the struct must keep every
 * promise of tools/ceremony-file.h (the step order and the keys that go together, the value
 * rules); on failure nothing is returned and the message is "NAME:..." within the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"
#include "tools/ceremony-file.h"

#include "common/banned.h"

static void
check_file(const struct kms_cer_file *f)
{
	size_t i, j;
	int s, last = -1;

	CHECK(strcmp(f->path, "f") == 0);
	CHECK(strlen(f->ceremony) >= 1 && strlen(f->ceremony) <= KMS_CER_MAX_NAME);
	CHECK(kms_cer_check_text(f->operator_name, strlen(f->operator_name), KMS_CER_MAX_TEXT));
	CHECK(f->module[0] == '/' && f->store[0] == '/' && f->transcript[0] == '/');
	CHECK(kms_cer_check_ascii(f->token_label, strlen(f->token_label), 32, 1));
	CHECK(kms_cer_check_uri(f->kms_uri, strlen(f->kms_uri), KMS_CER_MAX_URI));
	CHECK(f->cert_uri != NULL && f->issuer != NULL);
	CHECK(f->valid_from < f->valid_to);
	CHECK(f->user_key_period >= KMS_CER_MIN_PERIOD && f->user_key_period <= KMS_CER_MAX_PERIOD);
	CHECK(f->user_key_offset < f->user_key_period);
	CHECK(f->num_domains >= 1 && f->num_domains <= KMS_CER_MAX_DOMAINS);
	CHECK(f->num_custodians >= 2 && f->num_custodians <= KMS_CER_MAX_CUSTODIANS);
	CHECK(f->threshold >= 2 && f->threshold <= f->num_custodians);
	for (i = 0; i < f->num_custodians; i++) {
		for (j = 0; j < i; j++) {
			CHECK(strcmp(f->custodians[i], f->custodians[j]) != 0);
		}
	}
	for (s = 0; s < KMS_CER_NUM_STEPS; s++) {
		if (f->steps[s]) {
			CHECK(s > last);
			CHECK(f->step_lines[s] > 0);
			last = s;
		}
	}
	/* A file may list no step: a restore file (kms-ceremony run refuses it, not the parser). */
	CHECK(!(f->steps[KMS_CER_CERTIFICATE] || f->steps[KMS_CER_BACKUP]) ||
	      f->steps[KMS_CER_GENERATE]);
	CHECK((f->backup_file != NULL) == (f->steps[KMS_CER_BACKUP] != 0));
	CHECK((f->share_dir != NULL) == (f->share_output == KMS_CER_SHARES_FILES));
	CHECK((f->num_enrols > 0) == (f->enrol_dir != NULL));
	CHECK((f->num_enrols > 0) == (f->steps[KMS_CER_ENROL] != 0));
	CHECK((f->premint_identities != NULL) == (f->steps[KMS_CER_PREMINT] != 0));
	CHECK(!f->steps[KMS_CER_PREMINT] ||
	      (f->premint_periods >= 1 && f->premint_periods <= KMS_CER_MAX_PREMINT));
	CHECK(!f->has_slot || f->steps[KMS_CER_INIT_TOKEN]);
	for (i = 0; i < f->num_enrols; i++) {
		CHECK(kms_cer_check_ascii(f->enrols[i].client_id, strlen(f->enrols[i].client_id),
					  KMS_CER_MAX_CLIENT_ID, 0));
		CHECK(f->enrols[i].key_file[0] == '/');
		CHECK(f->enrols[i].server == 0 || f->enrols[i].server == 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_cer_file *f = NULL;
	char err[KMS_CONF_ERR_LEN], **ids = NULL;
	size_t n = 0, i, j;
	int r;

	if (size > 65536) {
		return 0;
	}
	memset(err, 'x', sizeof(err));
	r = kms_cer_file_parse(&f, "f", data, size, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r == KMS_OK) {
		CHECK(f != NULL && err[0] == '\0');
		check_file(f);
	} else {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_NOMEM);
		CHECK(f == NULL && strncmp(err, "f:", 2) == 0);
	}
	kms_cer_file_free(f);

	memset(err, 'x', sizeof(err));
	r = kms_cer_identities_parse(&ids, &n, "i", data, size, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r == KMS_OK) {
		CHECK((n == 0) == (ids == NULL));
		for (i = 0; i < n; i++) {
			size_t len = strlen(ids[i]);

			CHECK(len >= 1 && len <= KMS_CER_MAX_URI);
			for (j = 0; j < len; j++) {
				CHECK(ids[i][j] > 0x20 && ids[i][j] < 0x7f);
			}
			CHECK(i == 0 || strcmp(ids[i], ids[i - 1]) != 0);
		}
	} else {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_TOO_LARGE || r == KMS_ERR_NOMEM);
		CHECK(ids == NULL && n == 0 && strncmp(err, "i:", 2) == 0);
	}
	kms_cer_identities_free(ids, n);
	return 0;
}
