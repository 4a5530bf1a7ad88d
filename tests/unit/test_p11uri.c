/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "hsm/p11uri.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* parse a NUL-terminated URI; diag is filled on failure */
static int
parse(struct kms_p11uri *u, struct kms_p11uri_diag *diag, const char *s)
{
	return kms_p11uri_parse(u, diag, s, strlen(s));
}

static int
parse_err(const char *s)
{
	struct kms_p11uri u;
	struct kms_p11uri_diag diag;
	int r;

	r = parse(&u, &diag, s);
	if (r != KMS_OK) {
		CU_ASSERT_PTR_NOT_NULL(diag.reason);
		CU_ASSERT(diag.offset <= strlen(s));
	}
	return r;
}

static int
bytes_eq(const uint8_t *a, size_t a_len, const char *b)
{
	return a_len == strlen(b) && memcmp(a, b, a_len) == 0;
}

/* ---- RFC 7512, section 3: the examples, joined on one line ---- */

static void
test_rfc_examples(void)
{
	static const uint8_t id1[] = {0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91};
	static const uint8_t id2[] = {0x01, 0x02, 0x03, 0xba, 0xdd, 0xca, 0xfe, 0x04, 0x05, 0x06};
	struct kms_p11uri u;

	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:"), KMS_OK);
	CU_ASSERT_EQUAL(u.has, 0);

	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:object=my-pubkey;type=public"), KMS_OK);
	CU_ASSERT_EQUAL(u.has, KMS_P11URI_OBJECT | KMS_P11URI_TYPE);
	CU_ASSERT(bytes_eq(u.object, u.object_len, "my-pubkey"));
	CU_ASSERT_EQUAL(u.type, CKO_PUBLIC_KEY);

	CU_ASSERT_EQUAL(
		parse(&u, NULL, "pkcs11:object=my-key;type=private?pin-source=file:/etc/token"),
		KMS_OK);
	CU_ASSERT_EQUAL(u.type, CKO_PRIVATE_KEY);
	CU_ASSERT_STRING_EQUAL(u.pin_source, "file:/etc/token");

	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
			      "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
			      "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
			      "?pin-source=file:/etc/token_pin"),
			KMS_OK);
	CU_ASSERT(bytes_eq(u.token, u.token_len, "The Software PKCS#11 Softtoken"));
	CU_ASSERT(bytes_eq(u.manufacturer, u.manufacturer_len, "Snake Oil, Inc."));
	CU_ASSERT(bytes_eq(u.model, u.model_len, "1.0"));
	CU_ASSERT(bytes_eq(u.object, u.object_len, "my-certificate"));
	CU_ASSERT_EQUAL(u.type, CKO_CERTIFICATE);
	CU_ASSERT_EQUAL(u.id_len, sizeof(id1));
	CU_ASSERT(memcmp(u.id, id1, sizeof(id1)) == 0);
	CU_ASSERT((u.has & KMS_P11URI_SERIAL) != 0);
	CU_ASSERT_EQUAL(u.serial_len, 0);
	CU_ASSERT_STRING_EQUAL(u.pin_source, "file:/etc/token_pin");

	CU_ASSERT_EQUAL(
		parse(&u, NULL, "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11"),
		KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.module_name, "mypkcs11");

	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:object=my-sign-key;type=private"
			      "?module-path=/mnt/libmypkcs11.so.1"),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.module_path, "/mnt/libmypkcs11.so.1");
	CU_ASSERT_EQUAL(u.has, KMS_P11URI_OBJECT | KMS_P11URI_TYPE | KMS_P11URI_MODULE_PATH);

	/* the RFC's pin-value example: refused here, on purpose */
	CU_ASSERT_EQUAL(parse_err("pkcs11:token=Software%20PKCS%2311%20softtoken;"
				  "manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin"),
			KMS_ERR_UNSUPPORTED);

	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:slot-description=Sun%20Metaslot"), KMS_OK);
	CU_ASSERT(bytes_eq(u.slot_description, u.slot_description_len, "Sun Metaslot"));

	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
			      "library-description=Soft%20Token%20Library;library-version=1.23"),
			KMS_OK);
	CU_ASSERT(bytes_eq(u.lib_manufacturer, u.lib_manufacturer_len, "Snake Oil, Inc."));
	CU_ASSERT(bytes_eq(u.lib_description, u.lib_description_len, "Soft Token Library"));
	CU_ASSERT_EQUAL(u.lib_version.major, 1);
	CU_ASSERT_EQUAL(u.lib_version.minor, 23);

	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
			      "id=%01%02%03%Ba%dd%Ca%fe%04%05%06"),
			KMS_OK);
	CU_ASSERT(bytes_eq(u.token, u.token_len, "My token% created by Joe"));
	CU_ASSERT_EQUAL(u.lib_version.major, 3);
	CU_ASSERT_EQUAL(u.lib_version.minor, 0);
	CU_ASSERT_EQUAL(u.id_len, sizeof(id2));
	CU_ASSERT(memcmp(u.id, id2, sizeof(id2)) == 0);

	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
			      "object=my-certificate;type=cert"),
			KMS_OK);
	CU_ASSERT(bytes_eq(u.token, u.token_len, "A name with a substring %;"));

	/*
	 * This one's label decodes to 34 bytes: no token can carry it (CK_TOKEN_INFO.label has
	 * 32), so it is refused rather than left to match nothing. The same text fits as an
	 * object label.
	 */
	CU_ASSERT_EQUAL(
		parse_err("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
			  "object=my-certificate;type=cert"),
		KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse(&u, NULL,
			      "pkcs11:object=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
			      "type=cert"),
			KMS_OK);
	CU_ASSERT(bytes_eq(u.object, u.object_len, "Name with a small A with acute: \xc3\xa1"));

	/* vendor-specific attributes are refused, in the path and in the query */
	CU_ASSERT_EQUAL(parse_err("pkcs11:token=my-token;object=my-certificate;type=cert;"
				  "vendor-aaa=value-a?pin-source=file:/etc/token_pin"
				  "&vendor-bbb=value-b"),
			KMS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(parse_err("pkcs11:token=my-token?pin-source=file:/etc/token_pin"
				  "&vendor-bbb=value-b"),
			KMS_ERR_UNSUPPORTED);
}

static void
test_each_attribute(void)
{
	struct kms_p11uri u;

	CU_ASSERT_EQUAL(
		parse(&u, NULL,
		      "pkcs11:token=t;manufacturer=m;serial=s;model=mo;"
		      "library-manufacturer=lm;library-description=ld;library-version=2.40;"
		      "slot-id=7;slot-description=sd;slot-manufacturer=sm;object=o;"
		      "type=secret-key;id=%00?module-path=/m.so&module-name=mn&pin-source=/p"),
		KMS_OK);
	CU_ASSERT_EQUAL(u.has, 0xffffu);
	CU_ASSERT(bytes_eq(u.serial, u.serial_len, "s"));
	CU_ASSERT(bytes_eq(u.slot_manufacturer, u.slot_manufacturer_len, "sm"));
	CU_ASSERT_EQUAL(u.slot_id, 7);
	CU_ASSERT_EQUAL(u.type, CKO_SECRET_KEY);
	CU_ASSERT_EQUAL(u.id_len, 1);
	CU_ASSERT_EQUAL(u.id[0], 0);
	CU_ASSERT_EQUAL(u.lib_version.major, 2);
	CU_ASSERT_EQUAL(u.lib_version.minor, 40);
	CU_ASSERT_STRING_EQUAL(u.pin_source, "/p");

	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:type=data"), KMS_OK);
	CU_ASSERT_EQUAL(u.type, CKO_DATA);
	/* the scheme is case-insensitive, the names are not */
	CU_ASSERT_EQUAL(parse(&u, NULL, "PKCS11:token=a"), KMS_OK);
	CU_ASSERT_EQUAL(parse_err("pkcs11:Token=a"), KMS_ERR_UNSUPPORTED);
	/* an empty query, '=' and '&' inside path values, '/', '?' and '|' in query values */
	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:object=a=b&c?"), KMS_OK);
	CU_ASSERT(bytes_eq(u.object, u.object_len, "a=b&c"));
	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:?pin-source=file:/a?b|c"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.pin_source, "file:/a?b|c");
	/* the largest slot id */
	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:slot-id=18446744073709551615"),
			sizeof(CK_SLOT_ID) == 8 ? KMS_OK : KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:slot-id=0007"), KMS_OK);
	CU_ASSERT_EQUAL(u.slot_id, 7);
	CU_ASSERT_EQUAL(parse(&u, NULL, "pkcs11:library-version=255.255"), KMS_OK);
}

/* ---- malformed input ---- */

static void
test_malformed(void)
{
	static const struct {
		const char *uri;
		int err;
	} cases[] = {
		{"", KMS_ERR_PARSE},
		{"pkcs11", KMS_ERR_PARSE},
		{"pkcs12:token=a", KMS_ERR_PARSE},
		{"pkcs11 :token=a", KMS_ERR_PARSE},
		{" pkcs11:token=a", KMS_ERR_PARSE},
		/* %-escapes */
		{"pkcs11:token=%", KMS_ERR_ENCODING},
		{"pkcs11:token=%2", KMS_ERR_ENCODING},
		{"pkcs11:token=%zz", KMS_ERR_ENCODING},
		{"pkcs11:token=%G0", KMS_ERR_ENCODING},
		{"pkcs11:token=%0g", KMS_ERR_ENCODING},
		{"pkcs11:token=%%41", KMS_ERR_ENCODING},
		{"pkcs11:id=%-1", KMS_ERR_ENCODING},
		/* characters the grammar does not allow unescaped */
		{"pkcs11:token=a b", KMS_ERR_PARSE},
		{"pkcs11:token=a\tb", KMS_ERR_PARSE},
		{"pkcs11:token=a\"b", KMS_ERR_PARSE},
		{"pkcs11:token=a<b", KMS_ERR_PARSE},
		{"pkcs11:token=a#b", KMS_ERR_PARSE},
		{"pkcs11:token=a/b", KMS_ERR_PARSE},
		{"pkcs11:token=a\\b", KMS_ERR_PARSE},
		{"pkcs11:token=\xc3\xa1", KMS_ERR_PARSE},
		{"pkcs11:token=a|b", KMS_ERR_PARSE},
		{"pkcs11:?pin-source=a;b", KMS_ERR_PARSE},
		{"pkcs11:token=a\n", KMS_ERR_PARSE},
		{"pkcs11:token=a;\nobject=b", KMS_ERR_PARSE},
		/* invalid UTF-8 or NUL in text values */
		{"pkcs11:token=%00", KMS_ERR_ENCODING},
		{"pkcs11:token=a%00b", KMS_ERR_ENCODING},
		{"pkcs11:token=%C3", KMS_ERR_ENCODING},
		{"pkcs11:token=%C0%80", KMS_ERR_ENCODING},
		{"pkcs11:token=%ED%A0%80", KMS_ERR_ENCODING},
		{"pkcs11:token=%F4%90%80%80", KMS_ERR_ENCODING},
		{"pkcs11:token=%FF", KMS_ERR_ENCODING},
		{"pkcs11:object=%E2%82", KMS_ERR_ENCODING},
		{"pkcs11:?module-path=/a%00b", KMS_ERR_ENCODING},
		{"pkcs11:?pin-source=%80", KMS_ERR_ENCODING},
		/* structure */
		{"pkcs11:;", KMS_ERR_PARSE},
		{"pkcs11:token=a;", KMS_ERR_PARSE},
		{"pkcs11:token=a;;object=b", KMS_ERR_PARSE},
		{"pkcs11:;token=a", KMS_ERR_PARSE},
		{"pkcs11:?&", KMS_ERR_PARSE},
		{"pkcs11:?module-name=a&", KMS_ERR_PARSE},
		{"pkcs11:token", KMS_ERR_PARSE},
		{"pkcs11:=a", KMS_ERR_PARSE},
		{"pkcs11:to ken=a", KMS_ERR_PARSE},
		{"pkcs11:tok%65n=a", KMS_ERR_PARSE},
		{"pkcs11:token=a?token=b", KMS_ERR_PARSE},
		{"pkcs11:module-path=/a", KMS_ERR_PARSE},
		{"pkcs11:pin-source=/a", KMS_ERR_PARSE},
		/* duplicates */
		{"pkcs11:token=a;token=a", KMS_ERR_PARSE},
		{"pkcs11:token=a;object=b;token=c", KMS_ERR_PARSE},
		{"pkcs11:id=%01;id=%01", KMS_ERR_PARSE},
		{"pkcs11:?module-path=/a&module-path=/a", KMS_ERR_PARSE},
		{"pkcs11:?pin-source=a&pin-source=b", KMS_ERR_PARSE},
		/* unknown and vendor-specific names */
		{"pkcs11:foo=bar", KMS_ERR_UNSUPPORTED},
		{"pkcs11:x-vendor=1", KMS_ERR_UNSUPPORTED},
		{"pkcs11:?x-vendor=1", KMS_ERR_UNSUPPORTED},
		{"pkcs11:objecttype=cert", KMS_ERR_UNSUPPORTED},
		{"pkcs11:pinfile=/x", KMS_ERR_UNSUPPORTED},
		/* the PIN never comes from a URI, wherever and however it is given */
		{"pkcs11:?pin-value=1234", KMS_ERR_UNSUPPORTED},
		{"pkcs11:?pin-value=", KMS_ERR_UNSUPPORTED},
		{"pkcs11:pin-value=1234", KMS_ERR_UNSUPPORTED},
		{"pkcs11:token=a?pin-source=/p&pin-value=%31", KMS_ERR_UNSUPPORTED},
		/* typed values */
		{"pkcs11:type=", KMS_ERR_PARSE},
		{"pkcs11:type=secret", KMS_ERR_PARSE},
		{"pkcs11:type=Public", KMS_ERR_PARSE},
		{"pkcs11:type=secretkey", KMS_ERR_PARSE},
		{"pkcs11:type=%64ata", KMS_ERR_PARSE},
		{"pkcs11:library-version=", KMS_ERR_PARSE},
		{"pkcs11:library-version=1.", KMS_ERR_PARSE},
		{"pkcs11:library-version=.1", KMS_ERR_PARSE},
		{"pkcs11:library-version=1.2.3", KMS_ERR_PARSE},
		{"pkcs11:library-version=1a", KMS_ERR_PARSE},
		{"pkcs11:library-version=+1", KMS_ERR_PARSE},
		{"pkcs11:library-version=256", KMS_ERR_RANGE},
		{"pkcs11:library-version=1.256", KMS_ERR_RANGE},
		{"pkcs11:library-version=0001", KMS_ERR_RANGE},
		{"pkcs11:slot-id=", KMS_ERR_PARSE},
		{"pkcs11:slot-id=-1", KMS_ERR_PARSE},
		{"pkcs11:slot-id=0x10", KMS_ERR_PARSE},
		{"pkcs11:slot-id=18446744073709551616", KMS_ERR_RANGE},
		{"pkcs11:slot-id=99999999999999999999999999", KMS_ERR_RANGE},
		{"pkcs11:?module-path=lib.so", KMS_ERR_PARSE},
		{"pkcs11:?module-path=", KMS_ERR_PARSE},
		{"pkcs11:?module-name=/usr/lib/a.so", KMS_ERR_PARSE},
		{"pkcs11:?module-name=", KMS_ERR_PARSE},
	};
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = parse_err(cases[i].uri);
		if (r != cases[i].err) {
			fprintf(stderr, "\n%s: %s, expected %s\n", cases[i].uri, kms_err_name(r),
				kms_err_name(cases[i].err));
		}
		CU_ASSERT_EQUAL(r, cases[i].err);
	}
}

/* The reasons say what went wrong, and where. */
static void
test_diagnostics(void)
{
	struct kms_p11uri u;
	struct kms_p11uri_diag diag;

	CU_ASSERT_EQUAL(parse(&u, &diag, "pkcs11:token=a;token=b"), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(diag.offset, 15);
	CU_ASSERT_PTR_NOT_NULL_FATAL(diag.reason);
	CU_ASSERT_PTR_NOT_NULL(strstr(diag.reason, "twice"));

	CU_ASSERT_EQUAL(parse(&u, &diag, "pkcs11:token=ab%zz"), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(diag.offset, 15);

	CU_ASSERT_EQUAL(parse(&u, &diag, "pkcs11:token=a?pin-value=secret"), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(diag.offset, 15);
	CU_ASSERT_PTR_NOT_NULL(strstr(diag.reason, "pin-value"));

	CU_ASSERT_EQUAL(parse(&u, &diag, "pkcs11:x-acme=1"), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(diag.reason, "vendor"));

	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, &diag, NULL, 0), KMS_ERR_INVALID_ARG);
	/* a NUL byte inside the given length is just a bad character */
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, &diag, "pkcs11:token=a\0b", 16), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(diag.offset, 14);
}

/* "pkcs11:" + name + "=" + n copies of unit (each decoding to one byte) */
static int
parse_repeated(const char *prefix, const char *unit, size_t n, struct kms_p11uri *u)
{
	char buf[KMS_P11URI_MAX_LEN * 2];
	size_t len = strlen(prefix), ulen = strlen(unit), i;

	memcpy(buf, prefix, len);
	for (i = 0; i < n; i++) {
		memcpy(buf + len, unit, ulen);
		len += ulen;
	}
	return kms_p11uri_parse(u, NULL, buf, len);
}

static void
test_limits(void)
{
	struct kms_p11uri u;
	char buf[KMS_P11URI_MAX_LEN + 2];
	size_t n;

	CU_ASSERT_EQUAL(parse_repeated("pkcs11:token=", "a", 32, &u), KMS_OK);
	CU_ASSERT_EQUAL(u.token_len, 32);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:token=", "a", 33, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:token=", "%C3%A1", 16, &u), KMS_OK);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:token=", "%C3%A1", 17, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:serial=", "1", 16, &u), KMS_OK);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:serial=", "1", 17, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:model=", "1", 17, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:manufacturer=", "1", 33, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:slot-description=", "1", 64, &u), KMS_OK);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:slot-description=", "1", 65, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:slot-manufacturer=", "1", 33, &u),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:library-manufacturer=", "1", 33, &u),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:library-description=", "1", 33, &u),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:object=", "o", 255, &u), KMS_OK);
	CU_ASSERT_EQUAL(u.object_len, 255);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:object=", "o", 256, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:id=", "%ff", 255, &u), KMS_OK);
	CU_ASSERT_EQUAL(u.id_len, 255);
	CU_ASSERT_EQUAL(u.id[254], 0xff);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:id=", "%ff", 256, &u), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:?module-name=", "m", 255, &u), KMS_OK);
	CU_ASSERT_EQUAL(parse_repeated("pkcs11:?module-name=", "m", 256, &u), KMS_ERR_TOO_LARGE);

	/* the whole URI: exactly 4096 bytes is fine, one more is not, before any parsing */
	n = strlen("pkcs11:?pin-source=");
	memcpy(buf, "pkcs11:?pin-source=", n);
	memset(buf + n, 'p', sizeof(buf) - n);
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, NULL, buf, KMS_P11URI_MAX_LEN), KMS_OK);
	CU_ASSERT_EQUAL(strlen(u.pin_source), KMS_P11URI_MAX_LEN - n);
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, NULL, buf, KMS_P11URI_MAX_LEN + 1), KMS_ERR_TOO_LARGE);
	memset(buf, ';', sizeof(buf));
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, NULL, buf, KMS_P11URI_MAX_LEN + 1), KMS_ERR_TOO_LARGE);
}

static const char long_uri[] =
	"pkcs11:token=kms%20prod;manufacturer=SoftHSM%20project;serial=8a3f01c2;model=SoftHSM%20v2;"
	"library-manufacturer=SoftHSM;library-description=Soft;library-version=2.6;slot-id=12;"
	"slot-description=s;slot-manufacturer=m;object=domain-kek;type=secret-key;id=%01%ab"
	"?module-path=/usr/lib/softhsm/libsofthsm2.so&module-name=softhsm2&pin-source=file:/p";

/* A failed parse leaves the output as it was. */
static void
check_untouched(const char *s, size_t len)
{
	struct kms_p11uri u, before;
	struct kms_p11uri_diag diag;
	int r;

	memset(&u, 0x5a, sizeof(u));
	before = u;
	r = kms_p11uri_parse(&u, &diag, s, len);
	if (r != KMS_OK) {
		CU_ASSERT(memcmp(&u, &before, sizeof(u)) == 0);
		CU_ASSERT_PTR_NOT_NULL(diag.reason);
		CU_ASSERT(diag.offset <= len);
	}
}

static void
test_truncation(void)
{
	struct kms_p11uri u;
	size_t len = strlen(long_uri), i;
	int r;

	CU_ASSERT_EQUAL_FATAL(kms_p11uri_parse(&u, NULL, long_uri, len), KMS_OK);
	CU_ASSERT_EQUAL(u.has, 0xffffu);
	for (i = 0; i <= len; i++) {
		check_untouched(long_uri, i);
		r = kms_p11uri_parse(&u, NULL, long_uri, i);
		/* no prefix shorter than the scheme is a URI; every prefix is decided */
		if (i < 7) {
			CU_ASSERT_EQUAL(r, KMS_ERR_PARSE);
		}
		CU_ASSERT(r == KMS_OK || r == KMS_ERR_PARSE || r == KMS_ERR_ENCODING ||
			  r == KMS_ERR_UNSUPPORTED);
	}
	/* cut inside an escape */
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, NULL, "pkcs11:token=kms%2", 18), KMS_ERR_ENCODING);
	/* cut inside a typed value */
	CU_ASSERT_EQUAL(kms_p11uri_parse(&u, NULL, "pkcs11:type=secret-key", 18), KMS_ERR_PARSE);
}

static void
test_bit_flips(void)
{
	char buf[sizeof(long_uri)];
	size_t len = strlen(long_uri), i;
	unsigned int bit;

	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(buf, long_uri, len);
			buf[i] = (char)(buf[i] ^ (1 << bit));
			check_untouched(buf, len);
		}
	}
}

/* ---- matching ---- */

static void
pad(unsigned char *field, size_t cap, const char *s)
{
	memset(field, ' ', cap);
	memcpy(field, s, strlen(s));
}

static void
token_info(CK_TOKEN_INFO *ti, const char *label, const char *serial)
{
	memset(ti, 0, sizeof(*ti));
	pad(ti->label, sizeof(ti->label), label);
	pad(ti->manufacturerID, sizeof(ti->manufacturerID), "SoftHSM project");
	pad(ti->model, sizeof(ti->model), "SoftHSM v2");
	pad(ti->serialNumber, sizeof(ti->serialNumber), serial);
	ti->flags = CKF_TOKEN_INITIALIZED;
}

static int
match_token(const char *s, const CK_TOKEN_INFO *ti)
{
	struct kms_p11uri u;

	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, s), KMS_OK);
	return kms_p11uri_match_token(&u, ti);
}

static void
test_match_token(void)
{
	CK_TOKEN_INFO ti;

	token_info(&ti, "kms-test", "85a176966ff36e41");
	CU_ASSERT(match_token("pkcs11:", &ti));
	CU_ASSERT(match_token("pkcs11:token=kms-test", &ti));
	CU_ASSERT(match_token("pkcs11:token=kms-test;object=whatever;type=cert", &ti));
	CU_ASSERT(match_token("pkcs11:token=kms-test%20%20", &ti));
	CU_ASSERT(!match_token("pkcs11:token=kms-tes", &ti));
	CU_ASSERT(!match_token("pkcs11:token=kms-test2", &ti));
	CU_ASSERT(!match_token("pkcs11:token=KMS-test", &ti));
	CU_ASSERT(!match_token("pkcs11:token=", &ti));
	CU_ASSERT(match_token("pkcs11:token=kms-test;serial=85a176966ff36e41", &ti));
	CU_ASSERT(!match_token("pkcs11:token=kms-test;serial=85a176966ff36e42", &ti));
	CU_ASSERT(match_token("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2", &ti));
	CU_ASSERT(!match_token("pkcs11:model=SoftHSM", &ti));
	CU_ASSERT(!match_token("pkcs11:manufacturer=SoftHSM", &ti));
	CU_ASSERT(!match_token("pkcs11:serial=", &ti));

	/* a label that fills all 32 bytes; NUL padding; an empty serial */
	token_info(&ti, "0123456789abcdef0123456789abcdef", "");
	CU_ASSERT(match_token("pkcs11:token=0123456789abcdef0123456789abcdef", &ti));
	CU_ASSERT(!match_token("pkcs11:token=0123456789abcdef0123456789abcde", &ti));
	CU_ASSERT(match_token("pkcs11:serial=", &ti));
	memset(ti.label, 0, sizeof(ti.label));
	memcpy(ti.label, "nul-padded", 10);
	CU_ASSERT(match_token("pkcs11:token=nul-padded", &ti));
	/* UTF-8 labels compare as bytes */
	token_info(&ti, "\xc3\xa1", "1");
	CU_ASSERT(match_token("pkcs11:token=%C3%A1", &ti));
	CU_ASSERT(!match_token("pkcs11:token=a", &ti));
}

static void
test_match_slot_library(void)
{
	struct kms_p11uri u;
	CK_SLOT_INFO si;
	CK_INFO info;

	memset(&si, 0, sizeof(si));
	pad(si.slotDescription, sizeof(si.slotDescription), "SoftHSM slot ID 0x7");
	pad(si.manufacturerID, sizeof(si.manufacturerID), "SoftHSM project");
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:slot-id=7"), KMS_OK);
	CU_ASSERT(kms_p11uri_match_slot(&u, 7, &si));
	CU_ASSERT(!kms_p11uri_match_slot(&u, 8, &si));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL,
				    "pkcs11:slot-description=SoftHSM%20slot%20ID%200x7;"
				    "slot-manufacturer=SoftHSM%20project"),
			      KMS_OK);
	CU_ASSERT(kms_p11uri_match_slot(&u, 99, &si));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:slot-manufacturer=SoftHSM"), KMS_OK);
	CU_ASSERT(!kms_p11uri_match_slot(&u, 99, &si));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:token=x"), KMS_OK);
	CU_ASSERT(kms_p11uri_match_slot(&u, 99, &si));

	memset(&info, 0, sizeof(info));
	pad(info.manufacturerID, sizeof(info.manufacturerID), "SoftHSM");
	pad(info.libraryDescription, sizeof(info.libraryDescription), "Implementation of PKCS11");
	info.libraryVersion.major = 2;
	info.libraryVersion.minor = 6;
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL,
				    "pkcs11:library-manufacturer=SoftHSM;library-description="
				    "Implementation%20of%20PKCS11;library-version=2.6"),
			      KMS_OK);
	CU_ASSERT(kms_p11uri_match_library(&u, &info));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:library-version=2"), KMS_OK);
	CU_ASSERT(!kms_p11uri_match_library(&u, &info));
	info.libraryVersion.minor = 0;
	CU_ASSERT(kms_p11uri_match_library(&u, &info));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:library-manufacturer=OpenSC"), KMS_OK);
	CU_ASSERT(!kms_p11uri_match_library(&u, &info));
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:"), KMS_OK);
	CU_ASSERT(kms_p11uri_match_library(&u, &info));
}

/* ---- C_FindObjectsInit templates ---- */

static void
test_template(void)
{
	struct kms_p11uri u;
	CK_ATTRIBUTE t[KMS_P11URI_MAX_TEMPLATE];
	CK_ULONG n = 99;

	CU_ASSERT_EQUAL_FATAL(
		parse(&u, NULL, "pkcs11:token=kms;type=secret-key;id=%01%02;object=domain-kek"),
		KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_p11uri_object_template(&u, t, &n), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(t[0].type, CKA_LABEL);
	CU_ASSERT_EQUAL(t[0].ulValueLen, 10);
	CU_ASSERT(memcmp(t[0].pValue, "domain-kek", 10) == 0);
	CU_ASSERT_PTR_EQUAL(t[0].pValue, u.object);
	CU_ASSERT_EQUAL(t[1].type, CKA_ID);
	CU_ASSERT_EQUAL(t[1].ulValueLen, 2);
	CU_ASSERT(memcmp(t[1].pValue, "\x01\x02", 2) == 0);
	CU_ASSERT_EQUAL(t[2].type, CKA_CLASS);
	CU_ASSERT_EQUAL(t[2].ulValueLen, sizeof(CK_OBJECT_CLASS));
	CU_ASSERT_EQUAL(*(CK_OBJECT_CLASS *)t[2].pValue, CKO_SECRET_KEY);

	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:id=%ff"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11uri_object_template(&u, t, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(t[0].type, CKA_ID);

	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:object=;type=data"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11uri_object_template(&u, t, &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(t[0].ulValueLen, 0);

	/* a type alone, or nothing, would pick whatever is on the token */
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:token=kms;type=secret-key"), KMS_OK);
	n = 99;
	CU_ASSERT_EQUAL(kms_p11uri_object_template(&u, t, &n), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, "pkcs11:"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11uri_object_template(&u, t, &n), KMS_ERR_INVALID_ARG);
}

/* kms_p11uri_for_token: the URI of a label parses back to exactly that label. */
static void
test_for_token(void)
{
	static const char *const labels[] = {"kms-dev", "a b;c=d%e/f?", "~._-Zz09",
					     "0123456789abcdef0123456789abcdef"};
	char uri[KMS_P11URI_TOKEN_URI_CAP];
	struct kms_p11uri u;
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(kms_p11uri_for_token(uri, sizeof(uri), labels[i]), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(parse(&u, NULL, uri), KMS_OK);
		CU_ASSERT(u.has == KMS_P11URI_TOKEN);
		CU_ASSERT_EQUAL(u.token_len, strlen(labels[i]));
		CU_ASSERT_EQUAL(memcmp(u.token, labels[i], u.token_len), 0);
	}
	CU_ASSERT_STRING_EQUAL((kms_p11uri_for_token(uri, sizeof(uri), "a b") == KMS_OK ? uri : ""),
			       "pkcs11:token=a%20b");
	CU_ASSERT_EQUAL(kms_p11uri_for_token(uri, sizeof(uri), ""), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_p11uri_for_token(uri, sizeof(uri), "0123456789abcdef0123456789abcdefX"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_p11uri_for_token(uri, 16, "a b;c"), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kms_p11uri_for_token(NULL, 16, "a"), KMS_ERR_INVALID_ARG);
}

static CU_TestInfo p11uri_tests[] = {
	{"a token's URI", test_for_token},
	{"RFC 7512 examples", test_rfc_examples},
	{"every attribute", test_each_attribute},
	{"malformed URIs", test_malformed},
	{"diagnostics", test_diagnostics},
	{"size limits", test_limits},
	{"truncation at every offset", test_truncation},
	{"bit flips", test_bit_flips},
	{"token matching", test_match_token},
	{"slot and library matching", test_match_slot_library},
	{"object templates", test_template},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"p11uri", NULL, NULL, NULL, NULL, p11uri_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
