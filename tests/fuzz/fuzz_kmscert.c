/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for proto/xml-cert.c: kms_xml_parse_cert() on arbitrary bytes. On failure
 * the output is untouched and the error message is a non-empty NUL-terminated string of
 * printable ASCII; on success it is empty, every string is NUL-terminated within its bound,
 * URIs and the domain list hold no control byte (the list: no space at either end, none
 * doubled, num_domains URIs), the numbers and times are in range, the points start with 0x04,
 * and parsing is deterministic. Any violated invariant abort()s.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/xml.h"
#include "tests/fuzz/fuzz.h"

#include "common/banned.h"

static struct kms_xml_cert_in a, b;

static size_t
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
	return len;
}

static void
check_domains(const struct kms_xml_cert_in *c)
{
	const char *end = memchr(c->domains, '\0', sizeof(c->domains));
	size_t len, i, n = 0;

	CHECK(end != NULL);
	len = (size_t)(end - c->domains);
	CHECK(len <= KMS_XML_DOMAINS_LEN);
	CHECK((len == 0) == (c->num_domains == 0));
	CHECK(c->num_domains <= KMS_XML_MAX_DOMAINS);
	for (i = 0; i < len; i++) {
		uint8_t ch = (uint8_t)c->domains[i];

		CHECK(ch >= 0x20 && ch != 0x7f);
		if (ch == ' ') {
			CHECK(i > 0 && i + 1 < len && c->domains[i + 1] != ' ');
			n++;
		}
	}
	CHECK(len == 0 || n + 1 == c->num_domains);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	static struct kms_xml_cert_in pattern;
	char err[KMS_XML_ERR_LEN], err2[KMS_XML_ERR_LEN];
	size_t i;
	int r, r2;

	if (!initialised) {
		CHECK(kms_xml_init() == KMS_OK);
		memset(&pattern, 0x5a, sizeof(pattern));
		initialised = 1;
	}
	memset(&a, 0x5a, sizeof(a));
	memset(err, 0x5a, sizeof(err));
	r = kms_xml_parse_cert(&a, err, sizeof(err), data, size);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != KMS_OK) {
		CHECK(memcmp(&a, &pattern, sizeof(a)) == 0);
		CHECK(err[0] != '\0');
		for (i = 0; err[i] != '\0'; i++) {
			CHECK(err[i] >= 0x20 && err[i] < 0x7f);
		}
		CHECK(r == KMS_ERR_PARSE || r == KMS_ERR_RANGE || r == KMS_ERR_TOO_LARGE ||
		      r == KMS_ERR_NOMEM);
	} else {
		CHECK(err[0] == '\0');
		CHECK(size <= KMS_XML_MAX_CERT_FILE);
		CHECK(check_str(a.kms_uri, sizeof(a.kms_uri), KMS_XML_MAX_URI, 1) > 0);
		(void)check_str(a.cert_uri, sizeof(a.cert_uri), KMS_XML_MAX_URI, 1);
		(void)check_str(a.issuer, sizeof(a.issuer), KMS_XML_MAX_TEXT, 0);
		CHECK(a.has_issuer || a.issuer[0] == '\0');
		check_domains(&a);
		CHECK(a.user_key_period >= 1 && a.user_key_period <= INT64_MAX);
		CHECK(a.user_key_offset <= INT64_MAX);
		CHECK(!a.has_valid_from || (a.valid_from >= KMS_XML_DATETIME_MIN &&
					    a.valid_from <= KMS_XML_DATETIME_MAX));
		CHECK(!a.has_valid_to ||
		      (a.valid_to >= KMS_XML_DATETIME_MIN && a.valid_to <= KMS_XML_DATETIME_MAX));
		CHECK(a.pub_enc_key[0] == 0x04 && a.pub_auth_key[0] == 0x04);
	}
	memset(&b, 0x5a, sizeof(b));
	r2 = kms_xml_parse_cert(&b, err2, sizeof(err2), data, size);
	CHECK(r2 == r);
	CHECK(strcmp(err, err2) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	return 0;
}
