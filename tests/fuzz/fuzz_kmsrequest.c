/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for proto/xml-request.c and the xsd:dateTime parser of proto/xml.c:
 * - kms_xml_parse_request() on arbitrary bytes: on failure the output is untouched and the
 *   error message is a non-empty NUL-terminated string of printable ASCII; on success it is
 *   empty, every string field is NUL-terminated within its array and within its bound, URIs
 *   hold no whitespace or control byte, the time is in range, and parsing is deterministic.
 *   A signed request has a key name of 1..255 visible ASCII characters and a canonical
 *   SignedInfo of 1..KMS_XML_MAX_SIGNED_INFO bytes starting with its start tag; an unsigned one
 *   has its signature zeroed.
 * - kms_xml_datetime_parse() on the same bytes: an accepted time formats (UTC) and parses back
 *   to the same value.
 * Any violated invariant abort()s. libxml2 must stay silent: stderr output would be noise here,
 * and test_xml checks it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/xml.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

static struct kms_xml_request a, b;

static void
check_str(const char *s, size_t cap, size_t max, int is_uri)
{
	const char *end = memchr(s, '\0', cap);
	size_t i, len;

	CHECK(end != NULL);
	len = (size_t)(end - s);
	CHECK(len <= max);
	for (i = 0; is_uri && i < len; i++) {
		CHECK((uint8_t)s[i] > 0x20 && (uint8_t)s[i] != 0x7f);
	}
}

static void
check_sig(const struct kms_xml_request *r)
{
	const struct kms_xml_req_signature *s = &r->sig;
	const char *end;
	size_t i;

	if (!r->is_signed) {
		for (i = 0; i < sizeof(*s); i++) {
			CHECK(((const uint8_t *)s)[i] == 0);
		}
		return;
	}
	end = memchr(s->key_name, '\0', sizeof(s->key_name));
	CHECK(end != NULL && end != s->key_name);
	for (i = 0; s->key_name[i] != '\0'; i++) {
		CHECK(s->key_name[i] > 0x20 && s->key_name[i] < 0x7f);
	}
	CHECK(s->signed_info_len > 0 && s->signed_info_len <= sizeof(s->signed_info));
	CHECK(s->signed_info[0] == '<' && s->signed_info[s->signed_info_len - 1] == '>');
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
	char err[KMS_XML_ERR_LEN];
	char err2[KMS_XML_ERR_LEN];
	size_t i;
	int r, r2;

	memset(&a, 0x5a, sizeof(a));
	memset(err, 0x5a, sizeof(err));
	r = kms_xml_parse_request(&a, err, sizeof(err), data, size);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != KMS_OK) {
		static struct kms_xml_request pattern;

		memset(&pattern, 0x5a, sizeof(pattern));
		CHECK(memcmp(&a, &pattern, sizeof(a)) == 0);
		CHECK(err[0] != '\0');
		for (i = 0; err[i] != '\0'; i++) {
			CHECK(err[i] >= 0x20 && err[i] < 0x7f);
		}
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_RANGE || r == KMS_ERR_TOO_LARGE ||
		      r == KMS_ERR_NOMEM || r == KMS_ERR_ENCODING || r == KMS_ERR_AUTH);
		CHECK(size <= KMS_XML_MAX_BODY || r == KMS_ERR_TOO_LARGE);
	} else {
		CHECK(err[0] == '\0');
		CHECK(size <= KMS_XML_MAX_BODY);
		check_str(a.user_uri, sizeof(a.user_uri), KMS_XML_MAX_URI, 1);
		check_str(a.kms_uri, sizeof(a.kms_uri), KMS_XML_MAX_URI, 1);
		check_str(a.client_req_url, sizeof(a.client_req_url), KMS_XML_MAX_URI, 1);
		check_str(a.client_id, sizeof(a.client_id), KMS_XML_MAX_ID, 0);
		check_str(a.device_id, sizeof(a.device_id), KMS_XML_MAX_ID, 0);
		check_str(a.client_error_msg, sizeof(a.client_error_msg), KMS_XML_MAX_TEXT, 0);
		CHECK(a.user_uri[0] != '\0' && a.kms_uri[0] != '\0' && a.client_req_url[0] != '\0');
		CHECK(a.has_client_id == (a.client_id[0] != '\0'));
		CHECK(a.has_device_id == (a.device_id[0] != '\0'));
		CHECK(a.time >= KMS_XML_DATETIME_MIN && a.time <= KMS_XML_DATETIME_MAX);
		CHECK(a.version == KMS_XML_REQ_VERSION_ABSENT ||
		      a.version == KMS_XML_REQ_VERSION_1_0_0 ||
		      a.version == KMS_XML_REQ_VERSION_1_1_0);
		CHECK(a.num_extensions < KMS_XML_MAX_ELEMENTS);
		check_sig(&a);
	}
	/* Deterministic. */
	memset(&b, 0x5a, sizeof(b));
	r2 = kms_xml_parse_request(&b, err2, sizeof(err2), data, size);
	CHECK(r2 == r);
	CHECK(strcmp(err, err2) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static void
fuzz_datetime(const uint8_t *data, size_t size)
{
	char buf[KMS_XML_DATETIME_LEN + 1];
	int64_t t = 1, back = 1;

	if (size > 128) {
		return;
	}
	if (kms_xml_datetime_parse(&t, (const char *)data, size) != KMS_OK) {
		CHECK(t == 0);
		return;
	}
	CHECK(t >= KMS_XML_DATETIME_MIN && t <= KMS_XML_DATETIME_MAX);
	CHECK(kms_xml_datetime_format(buf, t) == KMS_OK);
	CHECK(kms_xml_datetime_parse(&back, buf, strlen(buf)) == KMS_OK);
	CHECK(back == t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;

	if (!initialised) {
		CHECK(kms_xml_init() == KMS_OK);
		initialised = 1;
	}
	fuzz_request(data, size);
	fuzz_datetime(data, size);
	return 0;
}
