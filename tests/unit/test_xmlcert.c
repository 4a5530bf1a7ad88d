/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xmlcert - the KmsCertificate parser of proto/xml-cert.c (kms_xml_parse_cert): a full
 * and a minimal certificate, the init response of a KMS rendered by proto/xml-render.c (round
 * trip), the checks of UserIdFormat, ParameterSet, points, numbers, order and attributes, and
 * malformed input: truncation at every offset, bit flips, oversize, trailing bytes, DOCTYPE,
 * entities, depth.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "common/err.h"
#include "proto/xml.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define NS "urn:3gpp:ns:mcsecKMSInterface:1.0"

static char z_hex[2 * KMS_XML_Z_T_LEN + 1];
static char k_hex[2 * KMS_XML_KPAK_LEN + 1];

static int
suite_init(void)
{
	size_t i;

	if (kms_xml_init() != KMS_OK) {
		return -1;
	}
	memcpy(z_hex, "04", 2);
	for (i = 1; i < KMS_XML_Z_T_LEN; i++) {
		memcpy(z_hex + 2 * i, "AB", 2);
	}
	memcpy(k_hex, "04", 2);
	for (i = 1; i < KMS_XML_KPAK_LEN; i++) {
		memcpy(k_hex + 2 * i, "cd", 2);
	}
	return 0;
}

/* A certificate: head (attributes), then the children between KmsUri and PubEncKey. */
static char *
cert_xml(const char *attrs, const char *before, const char *middle, const char *after)
{
	static char buf[16384];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "<KmsCertificate xmlns=\"" NS "\"%s>%s<KmsUri>kms.other.example</KmsUri>%s"
		     "<PubEncKey>%s</PubEncKey><PubAuthKey>%s</PubAuthKey>%s</KmsCertificate>",
		     attrs, before, middle, z_hex, k_hex, after);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(buf));
	return buf;
}

#define STD_MIDDLE                                                                                 \
	"<UserIdFormat>2</UserIdFormat><UserKeyPeriod>2592000</UserKeyPeriod>"                     \
	"<UserKeyOffset>3600</UserKeyOffset>"

static int
parse(const char *xml, struct kms_xml_cert_in *c, char *err, size_t err_cap)
{
	return kms_xml_parse_cert(c, err, err_cap, (const uint8_t *)xml, strlen(xml));
}

static void
test_full(void)
{
	static struct kms_xml_cert_in c;
	char err[KMS_XML_ERR_LEN];
	const char *xml;

	xml = cert_xml(
		" Version=\"1.1.0\" Role=\"Root\" Id=\"c1\"",
		"<CertUri> cert1.other.example </CertUri>",
		"<Issuer>Other KMS \xc3\xa9</Issuer><ValidFrom>2024-01-01T00:00:00Z</ValidFrom>"
		"<ValidTo>2030-01-01T00:00:00Z</ValidTo><Revoked>true</Revoked>" STD_MIDDLE,
		"<ParameterSet>1</ParameterSet><KmsDomainList><KmsDomain>a.example"
		"</KmsDomain><!-- c --><KmsDomain> b.example </KmsDomain></KmsDomainList>"
		"<x:ext xmlns:x=\"urn:other\"/>");
	CU_ASSERT_FATAL(parse(xml, &c, err, sizeof(err)) == KMS_OK);
	CU_ASSERT(err[0] == '\0');
	CU_ASSERT(c.has_role && c.role == KMS_XML_ROLE_ROOT);
	CU_ASSERT_STRING_EQUAL(c.cert_uri, "cert1.other.example");
	CU_ASSERT_STRING_EQUAL(c.kms_uri, "kms.other.example");
	CU_ASSERT(c.has_issuer);
	CU_ASSERT_STRING_EQUAL(c.issuer, "Other KMS \xc3\xa9");
	CU_ASSERT(c.has_valid_from && c.valid_from == 1704067200);
	CU_ASSERT(c.has_valid_to && c.valid_to == 1893456000);
	CU_ASSERT(c.has_revoked && c.revoked);
	CU_ASSERT(c.user_key_period == 2592000 && c.user_key_offset == 3600);
	CU_ASSERT(c.pub_enc_key[0] == 0x04 && c.pub_enc_key[1] == 0xab &&
		  c.pub_enc_key[KMS_XML_Z_T_LEN - 1] == 0xab);
	CU_ASSERT(c.pub_auth_key[0] == 0x04 && c.pub_auth_key[KMS_XML_KPAK_LEN - 1] == 0xcd);
	CU_ASSERT(c.num_domains == 2);
	CU_ASSERT_STRING_EQUAL(c.domains, "a.example b.example");
}

static void
test_minimal(void)
{
	static struct kms_xml_cert_in c;
	char err[KMS_XML_ERR_LEN];

	CU_ASSERT_FATAL(parse(cert_xml("", "", STD_MIDDLE, ""), &c, err, sizeof(err)) == KMS_OK);
	CU_ASSERT(!c.has_role && !c.has_issuer && !c.has_valid_from && !c.has_valid_to &&
		  !c.has_revoked);
	CU_ASSERT(c.cert_uri[0] == '\0' && c.num_domains == 0 && c.domains[0] == '\0');
}

/* The init response of a KMS (rendered here), as the other KMS would publish it. */
static void
test_init_response(void)
{
	static struct kms_xml_cert_in c;
	static const char *const domains[] = {"d1.example", "d2.example"};
	struct kms_xml_response resp;
	struct kms_xml_cert cert;
	struct kms_xml_doc *doc = NULL;
	char err[KMS_XML_ERR_LEN];
	uint8_t *xml = NULL;
	size_t len = 0;

	memset(&cert, 0, sizeof(cert));
	cert.role = KMS_XML_ROLE_ROOT;
	cert.cert_uri = "cert.kms.example";
	cert.kms_uri = "kms.example";
	cert.issuer = "issuer";
	cert.user_key_period = 2592000;
	cert.user_key_offset = 0;
	memset(cert.pub_enc_key, 0x11, sizeof(cert.pub_enc_key));
	cert.pub_enc_key[0] = 0x04;
	memset(cert.pub_auth_key, 0x22, sizeof(cert.pub_auth_key));
	cert.pub_auth_key[0] = 0x04;
	cert.domains = domains;
	cert.num_domains = 2;
	memset(&resp, 0, sizeof(resp));
	resp.user_uri = "sip:alice@example.org";
	resp.kms_uri = "kms.example";
	resp.time = 1714564800;
	resp.client_req_url = "https://kms.example/keymanagement/identity/v1/init";
	resp.msg = KMS_XML_MSG_INIT;
	resp.init_cert = &cert;
	CU_ASSERT_FATAL(kms_xml_render(&doc, &resp) == KMS_OK);
	CU_ASSERT_FATAL(kms_xml_serialize(doc, &xml, &len) == KMS_OK);
	CU_ASSERT_FATAL(kms_xml_parse_cert(&c, err, sizeof(err), xml, len) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(c.kms_uri, "kms.example");
	CU_ASSERT_STRING_EQUAL(c.cert_uri, "cert.kms.example");
	CU_ASSERT_STRING_EQUAL(c.issuer, "issuer");
	CU_ASSERT(c.user_key_period == 2592000);
	CU_ASSERT(memcmp(c.pub_enc_key, cert.pub_enc_key, sizeof(c.pub_enc_key)) == 0);
	CU_ASSERT(memcmp(c.pub_auth_key, cert.pub_auth_key, sizeof(c.pub_auth_key)) == 0);
	CU_ASSERT_STRING_EQUAL(c.domains, "d1.example d2.example");
	free(xml);
	kms_xml_doc_free(doc);
}

static void
test_refused(void)
{
	static struct kms_xml_cert_in c, pattern;
	static const struct {
		const char *attrs, *before, *middle, *after;
		int want;
	} cases[] = {
		{"", "",
		 "<UserIdFormat>1</UserIdFormat><UserKeyPeriod>1</UserKeyPeriod>"
		 "<UserKeyOffset>0</UserKeyOffset>",
		 "", KMS_ERR_PARSE},
		{"", "", STD_MIDDLE, "<ParameterSet>2</ParameterSet>", KMS_ERR_PARSE},
		{"", "",
		 "<UserIdFormat>2</UserIdFormat><UserKeyPeriod>0</UserKeyPeriod>"
		 "<UserKeyOffset>0</UserKeyOffset>",
		 "", KMS_ERR_RANGE},
		{"", "",
		 "<UserIdFormat>2</UserIdFormat><UserKeyPeriod>1</UserKeyPeriod>"
		 "<UserKeyOffset>-1</UserKeyOffset>",
		 "", KMS_ERR_RANGE},
		{"", "",
		 "<UserIdFormat>2</UserIdFormat><UserKeyPeriod>9223372036854775808"
		 "</UserKeyPeriod><UserKeyOffset>0</UserKeyOffset>",
		 "", KMS_ERR_RANGE},
		{"", "",
		 "<UserIdFormat>2</UserIdFormat><UserKeyPeriod>1x</UserKeyPeriod>"
		 "<UserKeyOffset>0</UserKeyOffset>",
		 "", KMS_ERR_PARSE},
		/* missing UserKeyOffset */
		{"", "", "<UserIdFormat>2</UserIdFormat><UserKeyPeriod>1</UserKeyPeriod>", "",
		 KMS_ERR_PARSE},
		/* out of order: Issuer after UserIdFormat */
		{"", "", STD_MIDDLE "<Issuer>x</Issuer>", "", KMS_ERR_PARSE},
		/* duplicate */
		{"", "", STD_MIDDLE, "<ParameterSet>1</ParameterSet><ParameterSet>1</ParameterSet>",
		 KMS_ERR_PARSE},
		{"", "", "<Unknown/>" STD_MIDDLE, "", KMS_ERR_PARSE},
		{" Role=\"Other\"", "", STD_MIDDLE, "", KMS_ERR_PARSE},
		{" Version=\"2.0.0\"", "", STD_MIDDLE, "", KMS_ERR_PARSE},
		{" Foo=\"1\"", "", STD_MIDDLE, "", KMS_ERR_PARSE},
		{"", "<CertUri>a b</CertUri>", STD_MIDDLE, "", KMS_ERR_PARSE},
		{"", "", "<Revoked>maybe</Revoked>" STD_MIDDLE, "", KMS_ERR_PARSE},
		{"", "", "<ValidFrom>2024-13-01T00:00:00Z</ValidFrom>" STD_MIDDLE, "",
		 KMS_ERR_RANGE},
		{"", "", STD_MIDDLE, "<KmsDomainList/>", KMS_ERR_PARSE},
		{"", "", STD_MIDDLE, "<KmsDomainList><Other/></KmsDomainList>", KMS_ERR_PARSE},
		{"", "text", STD_MIDDLE, "", KMS_ERR_PARSE},
		/* an extension, then one of ours */
		{"", "", STD_MIDDLE, "<x:e xmlns:x=\"urn:o\"/><ParameterSet>1</ParameterSet>",
		 KMS_ERR_PARSE},
	};
	char err[KMS_XML_ERR_LEN];
	char buf[16384];
	size_t i;
	int r;

	memset(&pattern, 0x5a, sizeof(pattern));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		r = parse(
			cert_xml(cases[i].attrs, cases[i].before, cases[i].middle, cases[i].after),
			&c, err, sizeof(err));
		if (r != cases[i].want) {
			fprintf(stderr, "case %zu: %d (%s)\n", i, r, err);
		}
		CU_ASSERT(r == cases[i].want);
		CU_ASSERT(err[0] != '\0');
		CU_ASSERT(memcmp(&c, &pattern, sizeof(c)) == 0); /* untouched */
	}
	/* A point that is not 0x04..., or of the wrong length. */
	snprintf(buf, sizeof(buf), "%s", cert_xml("", "", STD_MIDDLE, ""));
	{
		char *p = strstr(buf, "<PubEncKey>04");
		CU_ASSERT_FATAL(p != NULL);
		p[strlen("<PubEncKey>") + 1] = '2';
		CU_ASSERT(parse(buf, &c, err, sizeof(err)) == KMS_ERR_PARSE);
		p[strlen("<PubEncKey>") + 1] = '4';
		p = strstr(buf, "</PubAuthKey>");
		CU_ASSERT_FATAL(p != NULL);
		memmove(p - 2, p, strlen(p) + 1); /* one byte short */
		CU_ASSERT(parse(buf, &c, err, sizeof(err)) == KMS_ERR_PARSE);
	}
	/* Other roots; the wrapped form without a KmsInit. */
	CU_ASSERT(parse("<KmsRequest xmlns=\"" NS "\"/>", &c, err, sizeof(err)) == KMS_ERR_PARSE);
	CU_ASSERT(parse("<KmsResponse xmlns=\"" NS "\"><KmsMessage><KmsKeyProv/></KmsMessage>"
			"</KmsResponse>",
			&c, err, sizeof(err)) == KMS_ERR_PARSE);
	CU_ASSERT(parse("<KmsCertificate/>", &c, err, sizeof(err)) == KMS_ERR_PARSE);
}

static void
test_hostile(void)
{
	static struct kms_xml_cert_in c;
	char err[KMS_XML_ERR_LEN];
	char *big, *p;
	size_t i, len;
	const char *good;
	char copy[16384];

	/* DOCTYPE, entities, PIs. */
	CU_ASSERT(parse("<!DOCTYPE KmsCertificate [<!ENTITY a \"b\">]><KmsCertificate xmlns=\"" NS
			"\">&a;</KmsCertificate>",
			&c, err, sizeof(err)) == KMS_ERR_PARSE);
	CU_ASSERT(parse("<?pi x?><KmsCertificate xmlns=\"" NS "\"/>", &c, err, sizeof(err)) ==
		  KMS_ERR_PARSE);
	CU_ASSERT(parse("<KmsCertificate xmlns=\"" NS "\"><KmsUri>&amp;</KmsUri></KmsCertificate>",
			&c, err, sizeof(err)) == KMS_ERR_PARSE); /* then missing elements */
	/* Oversize: refused before parsing. */
	len = KMS_XML_MAX_CERT_FILE + 1;
	big = malloc(len);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, ' ', len);
	CU_ASSERT(kms_xml_parse_cert(&c, err, sizeof(err), (const uint8_t *)big, len) ==
		  KMS_ERR_TOO_LARGE);
	/* Too deep. */
	p = big;
	p += snprintf(p, 64, "<KmsCertificate xmlns=\"%s\">", NS);
	for (i = 0; i < 20; i++) {
		p += snprintf(p, 8, "<a>");
	}
	CU_ASSERT(kms_xml_parse_cert(&c, err, sizeof(err), (const uint8_t *)big,
				     (size_t)(p - big)) == KMS_ERR_TOO_LARGE);
	free(big);
	CU_ASSERT(kms_xml_parse_cert(&c, err, sizeof(err), NULL, 0) == KMS_ERR_PARSE);
	CU_ASSERT(kms_xml_parse_cert(NULL, err, sizeof(err), (const uint8_t *)"<a/>", 4) ==
		  KMS_ERR_INVALID_ARG);

	good = cert_xml("", "", STD_MIDDLE, "");
	len = strlen(good);
	CU_ASSERT_FATAL(len < sizeof(copy));
	memcpy(copy, good, len + 1);
	/* Truncation at every offset: never accepted. */
	for (i = 0; i < len; i++) {
		CU_ASSERT(kms_xml_parse_cert(&c, err, sizeof(err), (const uint8_t *)copy, i) !=
			  KMS_OK);
	}
	/* Trailing bytes. */
	{
		char trail[16400];
		snprintf(trail, sizeof(trail), "%s<x/>", good);
		CU_ASSERT(parse(trail, &c, err, sizeof(err)) == KMS_ERR_PARSE);
		snprintf(trail, sizeof(trail), "%sjunk", good);
		CU_ASSERT(parse(trail, &c, err, sizeof(err)) == KMS_ERR_PARSE);
		snprintf(trail, sizeof(trail), "%s\n", good);
		CU_ASSERT(parse(trail, &c, err, sizeof(err)) == KMS_OK); /* whitespace is fine */
	}
	/* Bit flips: whatever the result, no crash, and an accepted one is still well formed. */
	for (i = 0; i < len; i++) {
		int r;

		copy[i] = (char)(copy[i] ^ (1 << (i % 8)));
		r = kms_xml_parse_cert(&c, err, sizeof(err), (const uint8_t *)copy, len);
		CU_ASSERT(r == KMS_OK || err[0] != '\0');
		if (r == KMS_OK) {
			CU_ASSERT(c.kms_uri[0] != '\0' && c.pub_enc_key[0] == 0x04 &&
				  c.pub_auth_key[0] == 0x04 && c.user_key_period >= 1);
		}
		copy[i] = good[i];
	}
}

static CU_TestInfo xmlcert_tests[] = {
	{"a full KmsCertificate", test_full},
	{"a minimal KmsCertificate", test_minimal},
	{"the init response of a KMS (rendered)", test_init_response},
	{"wrong values, order, attributes: refused, output untouched", test_refused},
	{"hostile input: DOCTYPE, size, depth, truncation, trailing bytes, bit flips",
	 test_hostile},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"xmlcert", suite_init, NULL, NULL, NULL, xmlcert_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
