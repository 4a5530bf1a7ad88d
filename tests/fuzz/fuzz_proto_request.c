/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_proto_request - kms_proto_decode_request() on arbitrary bytes, as kms-hsmd decodes
 * what a possibly compromised kmsd sends. A refusal must leave the output untouched. What is
 * accepted must re-encode, to exactly as many bytes (the decoder reads canonical encodings
 * only, so only the order of the keys may differ), and decode again to an equal message that
 * encodes to the same bytes. Strings come out NUL-terminated. Seeds: the samples of
 * tests/unit/test_proto.c (`test_proto --write-seeds tests/fuzz/corpus`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

static struct kms_proto_request a, b, before;
static uint8_t enc1[KMS_MAX_IPC], enc2[KMS_MAX_IPC];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n1 = 0, n2 = 0;

	memset(&a, 0x5a, sizeof(a));
	before = a;
	if (kms_proto_decode_request(&a, data, size) != KMS_OK) {
		CHECK(memcmp(&a, &before, sizeof(a)) == 0);
		return 0;
	}
	if (a.op == KMS_PROTO_PROVISION) {
		CHECK(a.u.provision.client_id[a.u.provision.client_id_len] == '\0');
		CHECK(a.u.provision.identity[a.u.provision.identity_len] == '\0');
	} else if (a.op == KMS_PROTO_ROTATE_KEYS) {
		CHECK(a.u.rotate_keys.client_id[a.u.rotate_keys.client_id_len] == '\0');
	} else if (a.op == KMS_PROTO_SIGN) {
		CHECK(a.u.sign.client_id[a.u.sign.client_id_len] == '\0');
	}
	CHECK(kms_proto_encode_request(enc1, sizeof(enc1), &n1, &a) == KMS_OK);
	CHECK(n1 == size);
	CHECK(kms_proto_decode_request(&b, enc1, n1) == KMS_OK);
	CHECK(kms_proto_request_equal(&a, &b));
	CHECK(kms_proto_encode_request(enc2, sizeof(enc2), &n2, &b) == KMS_OK);
	CHECK(n2 == n1 && memcmp(enc1, enc2, n1) == 0);
	return 0;
}
