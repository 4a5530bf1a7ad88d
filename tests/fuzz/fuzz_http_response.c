/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_http_response - kms_http_response_parse() (tools/kmsclient.c), the parser of what an HTTPS
 * server sends kms-client, on arbitrary bytes, read as a connection that is still open and as one
 * that has ended. Invariants:
 * - a failure leaves the output zeroed; a success has a final status, a NUL-terminated body
 *   within KMS_CLIENT_MAX_BODY and within the input, and printable fields;
 * - a response complete while the connection is open is the same response at its end, and one
 *   byte less of it is incomplete (KMS_ERR_TRUNCATED): a reader can stop as soon as it is whole;
 * - an error other than KMS_ERR_TRUNCATED does not depend on the end of the connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "tests/fuzz/fuzz.h"
#include "tools/kmsclient.h"

#include "common/banned.h"

static void
check_ok(const struct kms_http_response *r, size_t size)
{
	CHECK(r->status >= 200 && r->status <= 599);
	CHECK(r->body != NULL && r->body_len <= KMS_CLIENT_MAX_BODY && r->body_len <= size);
	CHECK(r->body[r->body_len] == '\0');
	CHECK(memchr(r->reason, '\0', sizeof(r->reason)) != NULL);
	CHECK(memchr(r->content_type, '\0', sizeof(r->content_type)) != NULL);
	CHECK(memchr(r->retry_after, '\0', sizeof(r->retry_after)) != NULL);
	CHECK(strchr(r->content_type, '\r') == NULL && strchr(r->content_type, '\n') == NULL);
}

static bool
is_zero(const struct kms_http_response *r)
{
	return r->status == 0 && r->body == NULL && r->body_len == 0 && r->reason[0] == '\0' &&
	       r->content_type[0] == '\0' && r->retry_after[0] == '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kms_http_response open_r, eof_r, shorter;
	int ro = kms_http_response_parse(&open_r, data, size, false);
	int re = kms_http_response_parse(&eof_r, data, size, true);

	if (ro == KMS_OK) {
		check_ok(&open_r, size);
		CHECK(re == KMS_OK);
		CHECK(open_r.status == eof_r.status && open_r.body_len == eof_r.body_len);
		CHECK(memcmp(open_r.body, eof_r.body, open_r.body_len) == 0);
		CHECK(strcmp(open_r.reason, eof_r.reason) == 0);
		CHECK(size > 0);
		CHECK(kms_http_response_parse(&shorter, data, size - 1, false) ==
		      KMS_ERR_TRUNCATED);
		CHECK(is_zero(&shorter));
	} else {
		CHECK(is_zero(&open_r));
		if (ro != KMS_ERR_TRUNCATED) {
			CHECK(re == ro);
		}
	}
	if (re == KMS_OK) {
		check_ok(&eof_r, size);
	} else {
		CHECK(is_zero(&eof_r));
		CHECK(re != KMS_ERR_INVALID_ARG && re != KMS_ERR_INTERNAL);
	}
	kms_http_response_cleanup(&open_r);
	kms_http_response_cleanup(&eof_r);
	return 0;
}
