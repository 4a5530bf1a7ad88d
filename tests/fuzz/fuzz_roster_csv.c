/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_roster_csv - the roster import file parser (tools/roster-csv.c) on arbitrary bytes. On
 * success every op must satisfy what the parser promises (a known kind, a client id of visible
 * ASCII where the kind has one, a URI of 1..KMS_STORE_MAX_URI bytes of UTF-8 without spaces or
 * control characters, ascending line numbers within the file); on failure nothing is held
 * and the reason is a NUL-terminated text within the buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mp.h"
#include "tests/fuzz/fuzz.h"
#include "tools/roster-csv.h"

#include "common/banned.h"

#define MAX_INPUT 65536

static void
check_op(const struct kms_roster_op *op)
{
	size_t i, len;

	CHECK(op->kind == KMS_ROSTER_ADD_IDENTITY || op->kind == KMS_ROSTER_ENTITLE ||
	      op->kind == KMS_ROSTER_REVOKE_IDENTITY || op->kind == KMS_ROSTER_WITHDRAW);
	if (op->kind == KMS_ROSTER_ENTITLE || op->kind == KMS_ROSTER_WITHDRAW) {
		CHECK(op->client_id != NULL);
		len = strlen(op->client_id);
		CHECK(len >= 1 && len <= KMS_STORE_MAX_ID);
		for (i = 0; i < len; i++) {
			CHECK(op->client_id[i] >= 0x21 && op->client_id[i] <= 0x7e);
		}
	} else {
		CHECK(op->client_id == NULL);
	}
	CHECK(op->uri != NULL);
	len = strlen(op->uri);
	CHECK(len >= 1 && len <= KMS_STORE_MAX_URI);
	CHECK(kms_mp_utf8_check((const uint8_t *)op->uri, len) == KMS_OK);
	for (i = 0; i < len; i++) {
		CHECK((unsigned char)op->uri[i] > 0x20 && op->uri[i] != 0x7f);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_roster_csv csv;
	char err[KMS_ROSTER_CSV_ERR_LEN];
	size_t i, line = 0, lines = 1;
	int r;

	if (size > MAX_INPUT) {
		return 0;
	}
	for (i = 0; i < size; i++) {
		lines += data[i] == '\n';
	}
	memset(err, 'x', sizeof(err));
	r = kms_roster_csv_parse(&csv, &line, err, sizeof(err), data, size);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r == KMS_OK) {
		CHECK(line == 0);
		CHECK(csv.num_ops <= lines);
		for (i = 0; i < csv.num_ops; i++) {
			check_op(&csv.ops[i]);
			CHECK(csv.lines[i] >= 1 && csv.lines[i] <= lines);
			CHECK(i == 0 || csv.lines[i] > csv.lines[i - 1]);
		}
	} else {
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_TOO_LARGE || r == KMS_ERR_NOMEM);
		CHECK(csv.ops == NULL && csv.lines == NULL && csv.arena == NULL &&
		      csv.num_ops == 0);
		CHECK(line <= lines);
		CHECK(err[0] != '\0');
	}
	kms_roster_csv_cleanup(&csv);
	return 0;
}
