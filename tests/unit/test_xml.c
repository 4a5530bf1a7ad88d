/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_xml - proto/xml.h: rendering KmsResponse (validated against the TS 33.180 schema in
 * docs/schema/ with libxml2's validator), the enveloped signature (checked independently of
 * proto/xml-render.c: XPath node-sets and libxml2's whole-document C14N, OpenSSL's HMAC), the
 * KmsRequest parser on golden and hostile input, the signature of a SignedKmsRequest (signed by
 * the test itself and by xmlsec1, /usr/bin/xmlsec1 being a test dependency), and xsd:dateTime.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/err.h"
#include "common/hex.h"
#include "proto/signedinfo.h"
#include "proto/xml.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#ifndef KMS_SOURCE_DIR
#error "KMS_SOURCE_DIR must name the source tree (tests/unit/CMakeLists.txt)"
#endif

#define SCHEMA_DIR KMS_SOURCE_DIR "/docs/schema"
#define NUM(a)     (sizeof(a) / sizeof((a)[0]))
#define X(s)       ((const xmlChar *)(s))

static xmlSchemaPtr schema;

/* ---------------------------------------------------------------------------------------- */
/* Fixtures                                                                                  */

static uint8_t w_rsk[264], w_ssk[40], w_pvt[72], w_trk[40], w_ink[40];
static const uint8_t hmac_key[32] = {0x4b, 0x4d, 0x53, 0x2d, 0x74, 0x65, 0x73, 0x74,
				     0x2d, 0x69, 0x6e, 0x6b, 0x00, 0x01, 0x02, 0x03,
				     0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
				     0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13};
static const char *const domains[] = {"kms.example.org", "kms.other.example.net"};

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 3));
	}
}

static void
make_cert(struct kms_xml_cert *c, enum kms_xml_role role, bool full)
{
	memset(c, 0, sizeof(*c));
	c->role = role;
	c->kms_uri = role == KMS_XML_ROLE_ROOT ? "kms.example.org" : "kms.other.example.net";
	c->user_key_period = 2592000;
	c->user_key_offset = 0;
	fill(c->pub_enc_key, sizeof(c->pub_enc_key), 1);
	c->pub_enc_key[0] = 0x04;
	fill(c->pub_auth_key, sizeof(c->pub_auth_key), 2);
	c->pub_auth_key[0] = 0x04;
	if (full) {
		c->cert_uri = "cert1.kms.example.org";
		c->issuer = "www.example.org & <Operator \"A\">";
		c->has_valid_from = true;
		c->valid_from = 1388534400; /* 2014-01-01 */
		c->has_valid_to = true;
		c->valid_to = 2524608000; /* 2050-01-01 */
		c->has_revoked = true;
		c->revoked = false;
		c->domains = domains;
		c->num_domains = NUM(domains);
	}
}

static void
make_key_set(struct kms_xml_key_set *k, unsigned int n, bool full)
{
	memset(k, 0, sizeof(*k));
	k->kms_uri = "kms.example.org";
	k->user_uri = "sip:alice@example.org";
	fill(k->user_id, sizeof(k->user_id), 10 + n);
	k->valid_from = 1393113600 + (int64_t)n * 2592000;
	k->valid_to = k->valid_from + 2592000;
	k->key_period_no = 537 + n;
	k->rsk = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					  .wrapped = w_rsk,
					  .wrapped_len = sizeof(w_rsk)};
	k->ssk = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					  .wrapped = w_ssk,
					  .wrapped_len = sizeof(w_ssk)};
	k->pvt = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					  .wrapped = w_pvt,
					  .wrapped_len = sizeof(w_pvt)};
	if (full) {
		k->cert_uri = "cert1.kms.example.org";
		k->issuer = "www.example.org";
		k->has_revoked = true;
		k->revoked = true;
	}
}

static struct kms_xml_cert root_cert, root_min, ext_certs[KMS_XML_MAX_CERTS];
static struct kms_xml_key_set key_sets[KMS_XML_MAX_KEY_SETS];
static struct kms_xml_enc_key new_trks[2], new_inks[1];

static void
fixtures(void)
{
	size_t i;

	fill(w_rsk, sizeof(w_rsk), 3);
	fill(w_ssk, sizeof(w_ssk), 4);
	fill(w_pvt, sizeof(w_pvt), 5);
	fill(w_trk, sizeof(w_trk), 6);
	fill(w_ink, sizeof(w_ink), 7);
	make_cert(&root_cert, KMS_XML_ROLE_ROOT, true);
	make_cert(&root_min, KMS_XML_ROLE_ROOT, false);
	for (i = 0; i < NUM(ext_certs); i++) {
		make_cert(&ext_certs[i], KMS_XML_ROLE_EXTERNAL, i % 2 == 0);
	}
	for (i = 0; i < NUM(key_sets); i++) {
		make_key_set(&key_sets[i], (unsigned int)i, i % 2 == 0);
	}
	/* Rotation: wrapped under the current TrK (tk.12), naming the carried key (the second
	 * new TrK without CarriedKeyName: it is optional). */
	new_trks[0] = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					       .wrapped = w_trk,
					       .wrapped_len = sizeof(w_trk),
					       .carried_key_name = "tk.13.alice@example.org"};
	new_trks[1] = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					       .wrapped = w_trk,
					       .wrapped_len = sizeof(w_trk)};
	new_inks[0] = (struct kms_xml_enc_key){.key_name = "tk.12.alice@example.org",
					       .wrapped = w_ink,
					       .wrapped_len = sizeof(w_ink),
					       .carried_key_name = "ik.13.alice@example.org"};
}

static void
base_response(struct kms_xml_response *r)
{
	memset(r, 0, sizeof(*r));
	r->user_uri = "sip:alice@example.org";
	r->kms_uri = "kms.example.org";
	r->time = 1795895427; /* 2026-11-28T19:50:27Z */
	r->client_req_url = "https://kms.example.org/keymanagement/identity/v1/keyprov";
	r->msg = KMS_XML_MSG_KEYPROV;
	r->key_sets = key_sets;
	r->num_key_sets = 1;
}

/* The messages every rendering test goes through. */
enum sample_id {
	S_INIT,
	S_INIT_MIN,
	S_INIT_TKIK,
	S_KEYPROV_EMPTY,
	S_KEYPROV_ONE,
	S_KEYPROV_MAX_TKIK,
	S_CERTCACHE_EMPTY,
	S_CERTCACHE_THREE,
	S_CERTCACHE_MAX,
	S_ERROR_ONLY,
	S_KEYPROV_ERROR,
	S_OPTIONS,
	S_ERROR_ANONYMOUS,
	S_NUM,
};

static const char *const sample_names[S_NUM] = {
	"init",
	"init-minimal",
	"init-tkik",
	"keyprov-empty",
	"keyprov-one",
	"keyprov-16-tkik",
	"certcache-empty",
	"certcache-3",
	"certcache-64",
	"error-only",
	"keyprov-error",
	"options",
	"error-anonymous",
};

static void
sample(struct kms_xml_response *r, enum sample_id id)
{
	base_response(r);
	switch (id) {
	case S_INIT:
		r->msg = KMS_XML_MSG_INIT;
		r->init_cert = &root_cert;
		r->kms_id = "KMS-1";
		r->client_req_url = "https://kms.example.org/keymanagement/identity/v1/init";
		break;
	case S_INIT_MIN:
		r->msg = KMS_XML_MSG_INIT;
		r->init_cert = &root_min;
		break;
	case S_INIT_TKIK:
		r->msg = KMS_XML_MSG_INIT;
		r->init_cert = &root_cert;
		r->new_transport_keys = new_trks;
		r->num_new_transport_keys = 1;
		r->new_integrity_keys = new_inks;
		r->num_new_integrity_keys = 1;
		break;
	case S_KEYPROV_EMPTY:
		r->num_key_sets = 0;
		r->key_sets = NULL;
		break;
	case S_KEYPROV_ONE:
		break;
	case S_KEYPROV_MAX_TKIK:
		r->num_key_sets = KMS_XML_MAX_KEY_SETS;
		r->new_transport_keys = new_trks;
		r->num_new_transport_keys = 2;
		r->new_integrity_keys = new_inks;
		r->num_new_integrity_keys = 1;
		break;
	case S_CERTCACHE_EMPTY:
		r->msg = KMS_XML_MSG_CERTCACHE;
		r->cache_num = 0;
		break;
	case S_CERTCACHE_THREE:
		r->msg = KMS_XML_MSG_CERTCACHE;
		r->cache_num = 42;
		r->certs = ext_certs;
		r->num_certs = 3;
		break;
	case S_CERTCACHE_MAX:
		r->msg = KMS_XML_MSG_CERTCACHE;
		r->cache_num = UINT64_MAX;
		r->certs = ext_certs;
		r->num_certs = KMS_XML_MAX_CERTS;
		break;
	case S_ERROR_ONLY:
		r->msg = KMS_XML_MSG_NONE;
		r->has_error = true;
		r->error_code = 403;
		r->error_msg = "not entitled to <that> identity & \"more\"";
		break;
	case S_KEYPROV_ERROR:
		r->num_key_sets = 2;
		r->has_error = true;
		r->error_code = INT64_MIN;
		r->error_msg = NULL;
		break;
	case S_ERROR_ANONYMOUS:
		/* refused before the client was known: no user to name */
		r->msg = KMS_XML_MSG_NONE;
		r->user_uri = "";
		r->has_error = true;
		r->error_code = 401;
		r->error_msg = "client authentication failed";
		break;
	case S_OPTIONS:
		r->num_key_sets = 2;
		r->opts.wrap_alg_compat = true;
		r->opts.cipher_value_hex = true;
		r->opts.user_id_base64 = true;
		break;
	case S_NUM:
	default:
		break;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Independent checks                                                                        */

static void
schema_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	fprintf(stderr, "schema: line %d: %s", e->line, e->message != NULL ? e->message : "?\n");
}

static xmlDocPtr
parse_bytes(const uint8_t *buf, size_t len)
{
	return xmlReadMemory((const char *)buf, (int)len, NULL, NULL, XML_PARSE_NONET);
}

/* 0 if the document is valid against the TS 33.180 schema. */
static int
validate(xmlDocPtr doc)
{
	xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
	int rc;

	if (v == NULL) {
		return -1;
	}
	xmlSchemaSetValidStructuredErrors(v, schema_error, NULL);
	rc = xmlSchemaValidateDoc(v, doc);
	xmlSchemaFreeValidCtxt(v);
	return rc;
}

/* 0 if valid, without printing the expected errors. */
static int
validate_quiet(xmlDocPtr doc)
{
	xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
	int rc;

	if (v == NULL) {
		return -1;
	}
	rc = xmlSchemaValidateDoc(v, doc);
	xmlSchemaFreeValidCtxt(v);
	return rc;
}

/* The root declares exactly the namespaces of KMS_SIGNEDINFO_NS, in order; nothing else does. */
static int
count_ns_below(const xmlNode *n)
{
	int count = 0;

	for (; n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE) {
			count += n->nsDef != NULL ? 1 : 0;
			count += count_ns_below(n->children);
		}
	}
	return count;
}

static void
check_namespaces(xmlDocPtr doc)
{
	static const char *const want[4][2] = {
		{NULL, KMS_SIGNEDINFO_NS_KMS},
		{"ds", KMS_SIGNEDINFO_NS_DS},
		{"xenc", KMS_SIGNEDINFO_NS_XENC},
		{"xsi", KMS_SIGNEDINFO_NS_XSI},
	};
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlNsPtr ns;
	size_t i = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	for (ns = root->nsDef; ns != NULL; ns = ns->next, i++) {
		CU_ASSERT_FATAL(i < 4);
		CU_ASSERT(want[i][0] == NULL
				  ? ns->prefix == NULL
				  : ns->prefix != NULL && xmlStrEqual(ns->prefix, X(want[i][0])));
		CU_ASSERT(xmlStrEqual(ns->href, X(want[i][1])));
	}
	CU_ASSERT_EQUAL(i, 4);
	CU_ASSERT_EQUAL(count_ns_below(root->children), 0);
}

static xmlXPathObjectPtr
xpath(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr obj = NULL;

	if (ctx == NULL) {
		return NULL;
	}
	if (xmlXPathRegisterNs(ctx, X("ds"), X(KMS_SIGNEDINFO_NS_DS)) == 0 &&
	    xmlXPathRegisterNs(ctx, X("k"), X(KMS_SIGNEDINFO_NS_KMS)) == 0 &&
	    xmlXPathRegisterNs(ctx, X("xenc"), X(KMS_SIGNEDINFO_NS_XENC)) == 0 &&
	    xmlXPathRegisterNs(ctx, X("xsi"), X(KMS_SIGNEDINFO_NS_XSI)) == 0) {
		obj = xmlXPathEvalExpression(X(expr), ctx);
	}
	xmlXPathFreeContext(ctx);
	return obj;
}

/* The string value of the first node expr selects, into out (cap bytes); its length or -1. */
static int
xpath_text(xmlDocPtr doc, const char *expr, char *out, size_t cap)
{
	xmlXPathObjectPtr o = xpath(doc, expr);
	xmlChar *s;
	int n = -1;

	if (o != NULL && o->nodesetval != NULL && o->nodesetval->nodeNr > 0) {
		s = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
		if (s != NULL && strlen((const char *)s) < cap) {
			n = (int)strlen((const char *)s);
			memcpy(out, s, (size_t)n + 1);
		}
		xmlFree(s);
	}
	xmlXPathFreeObject(o);
	return n;
}

static int
xpath_count(xmlDocPtr doc, const char *expr)
{
	xmlXPathObjectPtr o = xpath(doc, expr);
	int n = -1;

	if (o != NULL && o->nodesetval != NULL) {
		n = o->nodesetval->nodeNr;
	} else if (o != NULL) {
		n = 0;
	}
	xmlXPathFreeObject(o);
	return n;
}

/* 0 if text is the upper-case hex of b[0..len). */
static int
hex_check(const char *text, const uint8_t *b, size_t len)
{
	char want[2 * 512 + 1];

	if (len > 512 || kms_hex_encode(want, sizeof(want), b, len) != KMS_OK) {
		return -1;
	}
	return strcmp(text, want) == 0 ? 0 : 1;
}

/* base64 decode of exactly want bytes; 0 on success. */
static int
unbase64(uint8_t *out, size_t want, const char *b64)
{
	uint8_t tmp[1024];
	size_t len = strlen(b64), pad = 0;
	int n;

	if (len == 0 || len > 4 * (sizeof(tmp) / 3) || len % 4 != 0) {
		return -1;
	}
	pad = (b64[len - 1] == '=' ? 1u : 0u) + (b64[len - 2] == '=' ? 1u : 0u);
	n = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n - pad != want) {
		return -1;
	}
	memcpy(out, tmp, want);
	return 0;
}

/* (a): inclusive C14N of the ds:SignedInfo node-set, the XPath way of XMLDSig. */
static int
c14n_signedinfo(xmlDocPtr doc, xmlChar **out)
{
	xmlXPathObjectPtr o =
		xpath(doc, "(//. | //@* | //namespace::*)[ancestor-or-self::ds:SignedInfo]");
	int n = -1;

	*out = NULL;
	if (o != NULL && o->nodesetval != NULL && o->nodesetval->nodeNr > 0) {
		n = xmlC14NDocDumpMemory(doc, o->nodesetval, XML_C14N_1_0, NULL, 0, out);
	}
	xmlXPathFreeObject(o);
	return n;
}

/* (b): the digest of the document with its ds:Signature removed: whole-document C14N. */
static int
digest_without_signature(xmlDocPtr doc, uint8_t out[32])
{
	xmlDocPtr copy = xmlCopyDoc(doc, 1);
	xmlNodePtr n, next;
	xmlChar *c14n = NULL;
	int len, rc = -1;

	if (copy == NULL) {
		return -1;
	}
	for (n = xmlDocGetRootElement(copy)->children; n != NULL; n = next) {
		next = n->next;
		if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, X("Signature")) &&
		    n->ns != NULL && xmlStrEqual(n->ns->href, X(KMS_SIGNEDINFO_NS_DS))) {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
		}
	}
	len = xmlC14NDocDumpMemory(copy, NULL, XML_C14N_1_0, NULL, 0, &c14n);
	if (len > 0 && SHA256(c14n, (size_t)len, out) != NULL) {
		rc = 0;
	}
	xmlFree(c14n);
	xmlFreeDoc(copy);
	return rc;
}

/*
 * A signed response, checked without proto/xml-render.c: (a) the canonical SignedInfo is
 * kms_signedinfo_build()'s, (b) DigestValue is the digest of the rest, (c) the HMAC verifies.
 * Returns 1 when all hold.
 */
static int
signature_holds(const uint8_t *buf, size_t len, const char *key_name)
{
	xmlDocPtr doc = parse_bytes(buf, len);
	char text[256];
	char si[KMS_SIGNEDINFO_LEN];
	size_t si_len = 0;
	uint8_t digest[32], want_digest[32], sigval[32], mac[32];
	unsigned int mac_len = 0;
	xmlChar *c14n = NULL;
	int c14n_len, ok = 0;

	if (doc == NULL) {
		return 0;
	}
	/* The signature is the last child of the root. */
	if (xpath_count(doc, "/k:KmsResponse/*[last()][self::ds:Signature]") != 1 ||
	    xpath_count(doc, "//ds:Signature") != 1) {
		goto out;
	}
	if (xpath_text(doc, "//ds:Signature/ds:KeyInfo/ds:KeyName", text, sizeof(text)) < 0 ||
	    strcmp(text, key_name) != 0) {
		goto out;
	}
	if (xpath_text(doc, "//ds:DigestValue", text, sizeof(text)) != 44 ||
	    unbase64(want_digest, 32, text) != 0) {
		goto out;
	}
	if (digest_without_signature(doc, digest) != 0 || memcmp(digest, want_digest, 32) != 0) {
		goto out; /* (b) */
	}
	if (kms_signedinfo_build(si, sizeof(si), &si_len, digest) != KMS_OK) {
		goto out;
	}
	c14n_len = c14n_signedinfo(doc, &c14n);
	if (c14n_len < 0 || (size_t)c14n_len != si_len || memcmp(c14n, si, si_len) != 0) {
		goto out; /* (a) */
	}
	if (xpath_text(doc, "//ds:SignatureValue", text, sizeof(text)) != 44 ||
	    unbase64(sigval, 32, text) != 0) {
		goto out;
	}
	if (HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), c14n, (size_t)c14n_len, mac, &mac_len) ==
		    NULL ||
	    mac_len != 32 || memcmp(mac, sigval, 32) != 0) {
		goto out; /* (c) */
	}
	ok = 1;
out:
	xmlFree(c14n);
	xmlFreeDoc(doc);
	return ok;
}

/* What kms-hsmd does: HMAC-SHA256 over the canonical SignedInfo of the digest. */
static void
token_hmac(uint8_t mac[32], const uint8_t digest[32])
{
	char si[KMS_SIGNEDINFO_LEN];
	size_t si_len = 0;
	unsigned int mac_len = 0;

	CU_ASSERT_EQUAL_FATAL(kms_signedinfo_build(si, sizeof(si), &si_len, digest), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key),
					  (const uint8_t *)si, si_len, mac, &mac_len));
	CU_ASSERT_EQUAL(mac_len, 32);
}

/* Render, optionally sign, serialize. */
static void
produce(const struct kms_xml_response *r, bool sign, uint8_t **out, size_t *out_len)
{
	struct kms_xml_doc *doc = NULL;
	uint8_t digest[32], mac[32];

	*out = NULL;
	*out_len = 0;
	CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, r), KMS_OK);
	if (sign) {
		CU_ASSERT_EQUAL_FATAL(kms_xml_digest(doc, digest), KMS_OK);
		token_hmac(mac, digest);
		CU_ASSERT_EQUAL_FATAL(
			kms_xml_attach_signature(doc, digest, mac, "ik.12.alice@example.org"),
			KMS_OK);
	}
	CU_ASSERT_EQUAL_FATAL(kms_xml_serialize(doc, out, out_len), KMS_OK);
	kms_xml_doc_free(doc);
}

/* ---------------------------------------------------------------------------------------- */
/* Rendering                                                                                 */

static const char decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

static void
test_render_validates(void)
{
	struct kms_xml_response r;
	size_t i, len;
	uint8_t *buf;
	xmlDocPtr doc;
	int s;

	for (i = 0; i < S_NUM; i++) {
		for (s = 0; s < 2; s++) {
			sample(&r, (enum sample_id)i);
			produce(&r, s == 1, &buf, &len);
			CU_ASSERT_FATAL(buf != NULL && len > sizeof(decl));
			CU_ASSERT_EQUAL(memcmp(buf, decl, sizeof(decl) - 1), 0);
			CU_ASSERT_EQUAL(buf[len], '\0');
			doc = parse_bytes(buf, len);
			CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
			if (validate(doc) != 0) {
				fprintf(stderr, "%s (%s) is not valid\n", sample_names[i],
					s ? "signed" : "unsigned");
				CU_FAIL("schema validation");
			}
			check_namespaces(doc);
			CU_ASSERT_EQUAL(xpath_count(doc, "//ds:Signature"), s);
			if (s == 1) {
				CU_ASSERT(signature_holds(buf, len, "ik.12.alice@example.org"));
			}
			xmlFreeDoc(doc);
			free(buf);
		}
	}
}

/* The validator is not vacuous: a renamed element, a bad attribute value, a misplaced element. */
static void
test_render_validator_rejects(void)
{
	static const char *const edits[][2] = {
		{"<KmsUri>", "<KmsUrl>"},
		{"Role=\"Root\"", "Role=\"Leaf\""},
		{"<UserIdFormat>2</UserIdFormat>", ""},
		{"<PubAuthKey>04", "<PubAuthKey>0G"},
		{"<Time>2026", "<Time>X026"},
		{"Version=\"1.0.0\">", "Version=\"1.0.1\">"},
	};
	struct kms_xml_response r;
	uint8_t *buf;
	size_t len, i;
	char *p, *q, *edited;
	xmlDocPtr doc;

	sample(&r, S_INIT);
	produce(&r, false, &buf, &len);
	for (i = 0; i < NUM(edits); i++) {
		p = strstr((char *)buf, edits[i][0]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		edited = malloc(len + 64);
		CU_ASSERT_PTR_NOT_NULL_FATAL(edited);
		memcpy(edited, buf, (size_t)(p - (char *)buf));
		q = edited + (p - (char *)buf);
		memcpy(q, edits[i][1], strlen(edits[i][1]));
		q += strlen(edits[i][1]);
		memcpy(q, p + strlen(edits[i][0]), strlen(p + strlen(edits[i][0])) + 1);
		if (i == 0) {
			/* The end tag too, so that it stays well-formed. */
			p = strstr(edited, "</KmsUri>");
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, "</KmsUrl>", 9);
		}
		doc = parse_bytes((const uint8_t *)edited, strlen(edited));
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		CU_ASSERT_NOT_EQUAL(validate_quiet(doc), 0);
		xmlFreeDoc(doc);
		free(edited);
	}
	free(buf);
}

/* The tree, element by element, of a full key provisioning response. */
static void
test_render_content(void)
{
	struct kms_xml_response r;
	char text[2048], want[1024];
	uint8_t *buf, bin[512];
	size_t len;
	xmlDocPtr doc;

	sample(&r, S_KEYPROV_MAX_TKIK);
	r.kms_id = "KMS-1";
	r.has_error = true;
	r.error_code = -7;
	r.error_msg = "partial";
	produce(&r, true, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	/* The root's attributes and children, in schema order. */
	CU_ASSERT_EQUAL(xpath_count(doc, "/k:KmsResponse[@Id='xmldoc'][@Version='1.0.0']"), 1);
	CU_ASSERT_EQUAL(xpath_count(doc, "/k:KmsResponse/*"), 8);
	CU_ASSERT_EQUAL(xpath_count(doc, "/k:KmsResponse/*[1][self::k:UserUri]"
					 "[following-sibling::*[1][self::k:KmsUri]]"
					 "[following-sibling::*[2][self::k:Time]]"
					 "[following-sibling::*[3][self::k:KmsId]]"
					 "[following-sibling::*[4][self::k:ClientReqUrl]]"
					 "[following-sibling::*[5][self::k:KmsMessage]]"
					 "[following-sibling::*[6][self::k:KmsError]]"
					 "[following-sibling::*[7][self::ds:Signature]]"),
			1);
	CU_ASSERT(xpath_text(doc, "/k:KmsResponse/k:Time", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "2026-11-28T19:50:27Z");
	CU_ASSERT(xpath_text(doc, "//k:KmsError/k:ErrorCode", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "-7");
	/* KmsKeyProv with its 16 key sets and then the rotated keys. */
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeyProv[@Version='1.0.0']"
					 "[@xsi:type='KmsKeyProvTkIkType']"),
			1);
	CU_ASSERT_EQUAL(xpath_count(doc, "//*[@xsi:type='EncKeyContentType']"), 16 * 3 + 3);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeyProv/k:KmsKeySet[@Version='1.1.0']"), 16);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeyProv/*[17][self::k:NewTransportKey]"
					 "/following-sibling::*[1][self::k:NewTransportKey]"
					 "/following-sibling::*[1][self::k:NewIntegrityKey]"),
			1);
	/* The first key set, field by field. */
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeySet[1]/*"), 12);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[1]/k:UserID", text, sizeof(text)) == 64);
	CU_ASSERT_EQUAL(hex_check(text, key_sets[0].user_id, 32), 0);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[2]/k:ValidFrom", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "2014-03-25T00:00:00Z");
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[2]/k:KeyPeriodNo", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "538");
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[1]/k:Revoked", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "true");
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeySet[2]/k:Revoked"), 0);
	CU_ASSERT(xpath_text(doc,
			     "//k:KmsKeySet[1]/k:UserDecryptKey/xenc:EncryptedKey/"
			     "xenc:EncryptionMethod/@Algorithm",
			     text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, KMS_XML_ALG_KW_AES256_PAD);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[1]/k:UserDecryptKey//ds:KeyName", text,
			     sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.12.alice@example.org");
	/* EncryptedKey: EncryptionMethod, ds:KeyInfo, CipherData, nothing else. */
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeySet[1]/k:UserSigningKeySSK/xenc:EncryptedKey"
					 "[*[1][self::xenc:EncryptionMethod]]"
					 "[*[2][self::ds:KeyInfo]][*[3][self::xenc:CipherData]]"
					 "[count(*)=3]"),
			1);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[1]/k:UserDecryptKey//xenc:CipherValue", text,
			     sizeof(text)) > 0);
	CU_ASSERT_EQUAL(unbase64(bin, sizeof(w_rsk), text), 0);
	CU_ASSERT_EQUAL(memcmp(bin, w_rsk, sizeof(w_rsk)), 0);
	CU_ASSERT(xpath_text(doc, "//k:NewIntegrityKey//xenc:CipherValue", text, sizeof(text)) > 0);
	CU_ASSERT_EQUAL(unbase64(bin, sizeof(w_ink), text), 0);
	CU_ASSERT_EQUAL(memcmp(bin, w_ink, sizeof(w_ink)), 0);
	CU_ASSERT(xpath_text(doc, "//k:NewIntegrityKey//ds:KeyName", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.12.alice@example.org");
	/* CarriedKeyName: last in xenc:EncryptedKey (after CipherData), only where given. */
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:NewIntegrityKey/xenc:EncryptedKey"
					 "[*[1][self::xenc:EncryptionMethod]]"
					 "[*[2][self::ds:KeyInfo]][*[3][self::xenc:CipherData]]"
					 "[*[4][self::xenc:CarriedKeyName]][count(*)=4]"),
			1);
	CU_ASSERT(xpath_text(doc, "//k:NewIntegrityKey/xenc:EncryptedKey/xenc:CarriedKeyName", text,
			     sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "ik.13.alice@example.org");
	CU_ASSERT(xpath_text(doc, "//k:NewTransportKey[1]/xenc:EncryptedKey/xenc:CarriedKeyName",
			     text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "tk.13.alice@example.org");
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:NewTransportKey[2]/xenc:EncryptedKey[count(*)=3]"),
			1);
	CU_ASSERT_EQUAL(xpath_count(doc, "//xenc:CarriedKeyName"), 2);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeySet//xenc:CarriedKeyName"), 0);
	/* xsi:type on every key element, spelled with the root's xsi prefix. */
	xmlFreeDoc(doc);
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)buf, "<KmsKeyProv Version=\"1.0.0\" "
							 "xsi:type=\"KmsKeyProvTkIkType\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)buf, "<UserPubTokenPVT "
							 "xsi:type=\"EncKeyContentType\">"));
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)buf, "<NewTransportKey "
							 "xsi:type=\"EncKeyContentType\">"));
	snprintf(want, sizeof(want), "<KmsResponse %s Id=\"xmldoc\" Version=\"1.0.0\">",
		 KMS_SIGNEDINFO_NS);
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)buf, want));
	free(buf);
}

static void
test_render_certificate(void)
{
	struct kms_xml_response r;
	char text[1024], hex[2 * KMS_XML_Z_T_LEN + 1];
	uint8_t *buf;
	size_t len;
	xmlDocPtr doc;

	sample(&r, S_INIT);
	produce(&r, false, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsInit[@Version='1.0.0']/k:KmsCertificate"
					 "[@Version='1.1.0'][@Role='Root']"),
			1);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsCertificate/*"), 13);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsCertificate/*[1][self::k:CertUri]"
					 "/following-sibling::*[1][self::k:KmsUri]"
					 "/following-sibling::*[1][self::k:Issuer]"
					 "/following-sibling::*[1][self::k:ValidFrom]"
					 "/following-sibling::*[1][self::k:ValidTo]"
					 "/following-sibling::*[1][self::k:Revoked]"
					 "/following-sibling::*[1][self::k:UserIdFormat]"
					 "/following-sibling::*[1][self::k:UserKeyPeriod]"
					 "/following-sibling::*[1][self::k:UserKeyOffset]"
					 "/following-sibling::*[1][self::k:PubEncKey]"
					 "/following-sibling::*[1][self::k:PubAuthKey]"
					 "/following-sibling::*[1][self::k:ParameterSet]"
					 "/following-sibling::*[1][self::k:KmsDomainList]"),
			1);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsDomainList/k:KmsDomain"), 2);
	CU_ASSERT(xpath_text(doc, "//k:Issuer", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, root_cert.issuer); /* escaped and back */
	CU_ASSERT(xpath_text(doc, "//k:UserIdFormat", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "2");
	CU_ASSERT(xpath_text(doc, "//k:ParameterSet", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "1");
	CU_ASSERT(xpath_text(doc, "//k:UserKeyPeriod", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "2592000");
	CU_ASSERT(xpath_text(doc, "//k:ValidTo", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, "2050-01-01T00:00:00Z");
	CU_ASSERT(xpath_text(doc, "//k:PubEncKey", text, sizeof(text)) == 2 * KMS_XML_Z_T_LEN);
	CU_ASSERT_EQUAL(hex_check(text, root_cert.pub_enc_key, KMS_XML_Z_T_LEN), 0);
	CU_ASSERT(xpath_text(doc, "//k:PubAuthKey", hex, sizeof(hex)) == 2 * KMS_XML_KPAK_LEN);
	CU_ASSERT_EQUAL(hex_check(hex, root_cert.pub_auth_key, KMS_XML_KPAK_LEN), 0);
	xmlFreeDoc(doc);
	free(buf);

	/* The minimal certificate has only the required elements (and ParameterSet). */
	sample(&r, S_INIT_MIN);
	produce(&r, false, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsCertificate/*"), 7);
	CU_ASSERT_EQUAL(xpath_count(doc, "/k:KmsResponse/k:KmsId"), 0);
	xmlFreeDoc(doc);
	free(buf);

	/* CertCache: CacheNum, External certificates. */
	sample(&r, S_CERTCACHE_MAX);
	produce(&r, false, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsCertCache[@Version='1.0.0']"
					 "[@CacheNum='18446744073709551615']"
					 "/k:KmsCertificate[@Role='External']"),
			KMS_XML_MAX_CERTS);
	xmlFreeDoc(doc);
	free(buf);
}

static void
test_render_options(void)
{
	struct kms_xml_response r;
	char text[2048];
	uint8_t *buf, bin[512];
	size_t len;
	xmlDocPtr doc;

	sample(&r, S_OPTIONS);
	produce(&r, true, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT(xpath_text(doc,
			     "//k:KmsKeySet[1]/k:UserDecryptKey//xenc:EncryptionMethod/"
			     "@Algorithm",
			     text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, KMS_XML_ALG_KW_AES256);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[1]/k:UserDecryptKey//xenc:CipherValue", text,
			     sizeof(text)) == 2 * (int)sizeof(w_rsk));
	CU_ASSERT_EQUAL(hex_check(text, w_rsk, sizeof(w_rsk)), 0);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet[2]/k:UserID", text, sizeof(text)) == 44);
	CU_ASSERT_EQUAL(unbase64(bin, 32, text), 0);
	CU_ASSERT_EQUAL(memcmp(bin, key_sets[1].user_id, 32), 0);
	xmlFreeDoc(doc);
	free(buf);
}

static void
expect_invalid(const struct kms_xml_response *r, const char *what)
{
	struct kms_xml_doc *doc = (struct kms_xml_doc *)(uintptr_t)1;
	int rc = kms_xml_render(&doc, r);

	if (rc != KMS_ERR_INVALID_ARG || doc != NULL) {
		fprintf(stderr, "render accepted: %s (%d)\n", what, rc);
		CU_FAIL("invalid response accepted");
	}
	kms_xml_doc_free(rc == KMS_OK ? doc : NULL);
}

/*
 * A plaintext client's key set: each key a KeyContentType (xsi:type, upper-case hex, no
 * EncryptedKey, no KeyName), schema-valid and signable. A plain key that names a key, a plain
 * new TrK or InK, are refused.
 */
static void
test_render_plain(void)
{
	static uint8_t rsk[257], ssk[32], pvt[65];
	struct kms_xml_response r;
	struct kms_xml_key_set ks[1];
	struct kms_xml_enc_key keys[1];
	char text[1024];
	uint8_t *buf;
	size_t len;
	xmlDocPtr doc;

	fill(rsk, sizeof(rsk), 201);
	fill(ssk, sizeof(ssk), 202);
	fill(pvt, sizeof(pvt), 203);
	sample(&r, S_KEYPROV_ONE);
	ks[0] = r.key_sets[0];
	ks[0].rsk =
		(struct kms_xml_enc_key){.wrapped = rsk, .wrapped_len = sizeof(rsk), .plain = true};
	ks[0].ssk =
		(struct kms_xml_enc_key){.wrapped = ssk, .wrapped_len = sizeof(ssk), .plain = true};
	ks[0].pvt =
		(struct kms_xml_enc_key){.wrapped = pvt, .wrapped_len = sizeof(pvt), .plain = true};
	r.key_sets = ks;
	produce(&r, true, &buf, &len);
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(validate(doc), 0);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet/k:UserDecryptKey/@xsi:type", text, sizeof(text)) >
		  0);
	CU_ASSERT_STRING_EQUAL(text, "KeyContentType");
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet/k:UserDecryptKey", text, sizeof(text)) ==
		  2 * (int)sizeof(rsk));
	CU_ASSERT_EQUAL(hex_check(text, rsk, sizeof(rsk)), 0);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet/k:UserSigningKeySSK", text, sizeof(text)) ==
		  2 * (int)sizeof(ssk));
	CU_ASSERT_EQUAL(hex_check(text, ssk, sizeof(ssk)), 0);
	CU_ASSERT(xpath_text(doc, "//k:KmsKeySet/k:UserPubTokenPVT", text, sizeof(text)) ==
		  2 * (int)sizeof(pvt));
	CU_ASSERT_EQUAL(hex_check(text, pvt, sizeof(pvt)), 0);
	CU_ASSERT_EQUAL(xpath_count(doc, "//k:KmsKeySet//xenc:EncryptedKey"), 0);
	xmlFreeDoc(doc);
	free(buf);

	/* a plain key names no TrK */
	ks[0].ssk.key_name = "tk.12.alice@example.org";
	expect_invalid(&r, "a plain key with a KeyName");
	ks[0].ssk.key_name = NULL;
	ks[0].ssk.wrapped_len = 0;
	expect_invalid(&r, "an empty plain key");
	ks[0].ssk.wrapped_len = sizeof(ssk);
	/* a new TrK or InK is never plain */
	sample(&r, S_INIT_TKIK);
	keys[0] = new_trks[0];
	keys[0].plain = true;
	r.new_transport_keys = keys;
	expect_invalid(&r, "a plain new TrK");
	keys[0].key_name = NULL;
	expect_invalid(&r, "a plain new TrK without KeyName");
}

/* CarriedKeyName on the new keys: the checks of a key name. */
static void
test_render_carried_invalid(void)
{
	static char name255[KMS_XML_MAX_ID + 1], name256[KMS_XML_MAX_ID + 2];
	static const char *const bad[] = {
		"",            /* empty */
		"tk 13",       /* space */
		"tk.\xc3\xa9", /* not ASCII */
		"tk.\x7f",     /* DEL */
		"tk.13\n",     /* control */
		name256,       /* 256 characters */
	};
	struct kms_xml_response r;
	struct kms_xml_enc_key keys[1];
	char text[KMS_XML_MAX_ID + 2];
	xmlDocPtr xdoc;
	uint8_t *buf;
	size_t i, len;
	int kind;

	memset(name255, 'n', KMS_XML_MAX_ID);
	memset(name256, 'n', KMS_XML_MAX_ID + 1);
	for (kind = 0; kind < 2; kind++) {
		sample(&r, S_INIT_TKIK);
		keys[0] = kind == 0 ? new_trks[0] : new_inks[0];
		if (kind == 0) {
			r.new_transport_keys = keys;
		} else {
			r.new_integrity_keys = keys;
		}
		for (i = 0; i < NUM(bad); i++) {
			keys[0].carried_key_name = bad[i];
			expect_invalid(&r, "bad CarriedKeyName");
		}
		/* 255 visible ASCII characters are fine, and the document is schema-valid. */
		keys[0].carried_key_name = name255;
		produce(&r, true, &buf, &len);
		xdoc = parse_bytes(buf, len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(xdoc);
		CU_ASSERT_EQUAL(validate(xdoc), 0);
		CU_ASSERT(xpath_text(xdoc,
				     kind == 0 ? "//k:NewTransportKey//xenc:CarriedKeyName"
					       : "//k:NewIntegrityKey//xenc:CarriedKeyName",
				     text, sizeof(text)) == KMS_XML_MAX_ID);
		xmlFreeDoc(xdoc);
		free(buf);
	}
}

static void
test_render_invalid(void)
{
	static const char *const bad_strings[] = {
		"sip:\xc0\xaf@example.org",         /* overlong '/' */
		"sip:\xed\xa0\x80@example.org",     /* a surrogate */
		"sip:\xf4\x90\x80\x80@example.org", /* above U+10FFFF */
		"sip:\xe2\x82@example.org",         /* truncated sequence */
		"sip:\x80@example.org",             /* a continuation byte alone */
		"sip:\xef\xbf\xbe@example.org",     /* U+FFFE, not an XML Char */
		"sip:a\x01@example.org",            /* control character */
		"sip:a b@example.org",              /* space in a URI */
		"sip:a\tb@example.org",             /* tab in a URI */
		"sip:a\xc2\x85@example.org",        /* C1 control (NEL) */
		"",                                 /* empty */
	};
	static char long_uri[KMS_XML_MAX_URI + 2];
	static char long_text[KMS_XML_MAX_TEXT + 2];
	struct kms_xml_response r;
	struct kms_xml_cert c;
	struct kms_xml_key_set k, many[KMS_XML_MAX_KEY_SETS + 1];
	struct kms_xml_enc_key e;
	struct kms_xml_doc *doc = NULL;
	size_t i;

	memset(long_uri, 'a', sizeof(long_uri) - 1);
	memset(long_text, 'b', sizeof(long_text) - 1);
	for (i = 0; i < NUM(bad_strings); i++) {
		base_response(&r);
		r.user_uri = bad_strings[i];
		expect_invalid(&r, "bad UserUri");
		base_response(&r);
		k = key_sets[0];
		k.user_uri = bad_strings[i];
		r.key_sets = &k;
		expect_invalid(&r, "bad KmsKeySet UserUri");
	}
	/* Free text takes tabs and newlines, but not the rest. */
	base_response(&r);
	r.has_error = true;
	r.error_msg = "line 1\nline 2\ttab";
	CU_ASSERT_EQUAL(kms_xml_render(&doc, &r), KMS_OK);
	kms_xml_doc_free(doc);
	r.error_msg = "bell \x07";
	expect_invalid(&r, "control character in ErrorMsg");
	r.error_msg = "\xff";
	expect_invalid(&r, "bad UTF-8 in ErrorMsg");
	r.error_msg = long_text;
	expect_invalid(&r, "ErrorMsg too long");
	long_text[KMS_XML_MAX_TEXT] = '\0';
	CU_ASSERT_EQUAL(kms_xml_render(&doc, &r), KMS_OK);
	kms_xml_doc_free(doc);

	/* Lengths. */
	base_response(&r);
	r.client_req_url = long_uri;
	expect_invalid(&r, "URI too long");
	long_uri[KMS_XML_MAX_URI] = '\0';
	CU_ASSERT_EQUAL(kms_xml_render(&doc, &r), KMS_OK);
	kms_xml_doc_free(doc);
	long_uri[KMS_XML_MAX_URI] = 'a';

	/* Required fields. */
	base_response(&r);
	r.kms_uri = NULL;
	expect_invalid(&r, "no KmsUri");
	base_response(&r);
	r.client_req_url = NULL;
	expect_invalid(&r, "no ClientReqUrl");
	base_response(&r);
	r.msg = KMS_XML_MSG_INIT;
	expect_invalid(&r, "KmsInit without certificate");
	base_response(&r);
	r.msg = (enum kms_xml_msg)7;
	expect_invalid(&r, "unknown message");

	/* Times. */
	base_response(&r);
	r.time = KMS_XML_DATETIME_MAX + 1;
	expect_invalid(&r, "time after 9999");
	r.time = KMS_XML_DATETIME_MIN - 1;
	expect_invalid(&r, "time before 0001");
	base_response(&r);
	k = key_sets[0];
	k.valid_to = k.valid_from - 1;
	r.key_sets = &k;
	expect_invalid(&r, "ValidTo before ValidFrom");

	/* Counts. */
	for (i = 0; i < NUM(many); i++) {
		many[i] = key_sets[0];
	}
	base_response(&r);
	r.key_sets = many;
	r.num_key_sets = KMS_XML_MAX_KEY_SETS + 1;
	expect_invalid(&r, "17 key sets");
	base_response(&r);
	r.msg = KMS_XML_MSG_CERTCACHE;
	r.certs = ext_certs;
	r.num_certs = KMS_XML_MAX_CERTS + 1;
	expect_invalid(&r, "65 certificates");
	r.num_certs = 1;
	r.certs = &root_cert;
	expect_invalid(&r, "a Root certificate in the cache");
	base_response(&r);
	r.new_transport_keys = new_trks;
	r.num_new_transport_keys = KMS_XML_MAX_NEW_KEYS + 1;
	expect_invalid(&r, "too many new keys");
	base_response(&r);
	r.msg = KMS_XML_MSG_CERTCACHE;
	r.new_integrity_keys = new_inks;
	r.num_new_integrity_keys = 1;
	expect_invalid(&r, "new keys in a cert cache");

	/* Certificates. */
	base_response(&r);
	r.msg = KMS_XML_MSG_INIT;
	c = root_cert;
	r.init_cert = &c;
	c.user_key_period = 0;
	expect_invalid(&r, "key period 0");
	c = root_cert;
	c.role = (enum kms_xml_role)5;
	expect_invalid(&r, "unknown role");
	c = root_cert;
	c.num_domains = KMS_XML_MAX_DOMAINS + 1;
	expect_invalid(&r, "too many domains");
	c = root_cert;
	c.issuer = "";
	expect_invalid(&r, "empty Issuer");

	/* Wrapped keys. */
	base_response(&r);
	k = key_sets[0];
	r.key_sets = &k;
	e = k.ssk;
	k.ssk.wrapped_len = 0;
	expect_invalid(&r, "empty wrapped key");
	k.ssk = e;
	k.ssk.wrapped_len = KMS_XML_MAX_WRAPPED + 1;
	expect_invalid(&r, "wrapped key too long");
	k.ssk = e;
	k.ssk.key_name = "tk 12";
	expect_invalid(&r, "space in a key name");
	k.ssk.key_name = "tk.\xc3\xa9";
	expect_invalid(&r, "non-ASCII key name");
	k.ssk.key_name = NULL;
	expect_invalid(&r, "no key name");
	k.ssk = e;
	k.ssk.wrapped = NULL;
	expect_invalid(&r, "no wrapped bytes");
	/* CarriedKeyName: never on a key set's key (it names no rotated key). */
	k.ssk = e;
	k.ssk.carried_key_name = "tk.13.alice@example.org";
	expect_invalid(&r, "CarriedKeyName on a key set's key");
	k.ssk = e;
	k.rsk.carried_key_name = "tk.13.alice@example.org";
	expect_invalid(&r, "CarriedKeyName on the RSK");
	k.rsk = key_sets[0].rsk;
	CU_ASSERT_EQUAL(kms_xml_render(&doc, &r), KMS_OK);
	kms_xml_doc_free(doc);
	CU_ASSERT_EQUAL(kms_xml_render(&doc, NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(doc);
}

/* A URI with every character XML escapes round-trips through a validating parser. */
static void
test_render_escaping(void)
{
	struct kms_xml_response r;
	char text[256];
	uint8_t *buf;
	size_t len;
	xmlDocPtr doc;

	base_response(&r);
	r.client_req_url = "https://kms.example.org/k?a=1&b=<2>&c=\"3\"&d='4'";
	r.kms_id = "id-\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91"; /* e-acute, euro, key emoji */
	r.has_error = true;
	r.error_msg = "]]> & </KmsResponse> <!-- -->\r\n";
	produce(&r, true, &buf, &len);
	CU_ASSERT_PTR_NULL(strstr((const char *)buf, "</KmsResponse> <"));
	doc = parse_bytes(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(validate(doc), 0);
	CU_ASSERT(xpath_text(doc, "//k:ClientReqUrl", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, r.client_req_url);
	CU_ASSERT(xpath_text(doc, "//k:KmsId", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, r.kms_id);
	CU_ASSERT(xpath_text(doc, "//k:ErrorMsg", text, sizeof(text)) > 0);
	CU_ASSERT_STRING_EQUAL(text, r.error_msg); /* \r is written as &#13; */
	CU_ASSERT(signature_holds(buf, len, "ik.12.alice@example.org"));
	xmlFreeDoc(doc);
	free(buf);
}

/* ---------------------------------------------------------------------------------------- */
/* Signature                                                                                 */

static void
test_sign_flow(void)
{
	struct kms_xml_response r;
	struct kms_xml_doc *doc = NULL;
	uint8_t d1[32], d2[32], mac[32], other[32];
	uint8_t *a = NULL, *b = NULL;
	size_t a_len = 0, b_len = 0;

	sample(&r, S_KEYPROV_ONE);
	CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
	CU_ASSERT_EQUAL(kms_xml_digest(doc, d1), KMS_OK);
	CU_ASSERT_EQUAL(kms_xml_digest(doc, d2), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(d1, d2, 32), 0); /* deterministic */
	CU_ASSERT_EQUAL(kms_xml_serialize(doc, &a, &a_len), KMS_OK);
	token_hmac(mac, d1);

	/* A digest other than the document's, a bad key name: refused, document unchanged. */
	memcpy(other, d1, 32);
	other[31] ^= 1;
	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, other, mac, "ik.1"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, d1, mac, "ik 1"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, d1, mac, ""), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_xml_serialize(doc, &b, &b_len), KMS_OK);
	CU_ASSERT(a_len == b_len && memcmp(a, b, a_len) == 0);
	free(b);
	b = NULL;

	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, d1, mac, "ik.12.alice@example.org"), KMS_OK);
	/* The enveloped-signature transform: the digest ignores the signature. */
	CU_ASSERT_EQUAL(kms_xml_digest(doc, d2), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(d1, d2, 32), 0);
	/* One signature only. */
	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, d1, mac, "ik.12.alice@example.org"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_xml_serialize(doc, &b, &b_len), KMS_OK);
	CU_ASSERT(signature_holds(b, b_len, "ik.12.alice@example.org"));
	/* The signed document is the unsigned one plus the signature at the end. */
	CU_ASSERT_FATAL(b_len > a_len);
	CU_ASSERT_EQUAL(memcmp(a, b, a_len - strlen("</KmsResponse>\n")), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)b, "<ds:Signature><ds:SignedInfo>"));
	CU_ASSERT_PTR_NOT_NULL(strstr((const char *)b, "</ds:Signature></KmsResponse>"));
	free(a);
	free(b);
	kms_xml_doc_free(doc);
	kms_xml_doc_free(NULL);
}

/* A wrong key fails (c); the check is not vacuous. */
static void
test_sign_wrong_key(void)
{
	struct kms_xml_response r;
	struct kms_xml_doc *doc = NULL;
	uint8_t d[32], mac[32];
	uint8_t *buf = NULL;
	size_t len = 0;

	sample(&r, S_INIT);
	CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
	CU_ASSERT_EQUAL(kms_xml_digest(doc, d), KMS_OK);
	token_hmac(mac, d);
	mac[0] ^= 0x80;
	CU_ASSERT_EQUAL(kms_xml_attach_signature(doc, d, mac, "ik.1"), KMS_OK);
	CU_ASSERT_EQUAL(kms_xml_serialize(doc, &buf, &len), KMS_OK);
	CU_ASSERT_FALSE(signature_holds(buf, len, "ik.1"));
	free(buf);
	kms_xml_doc_free(doc);
}

/* Replace the first character of the text of the first element opened by tag in buf. */
static bool
mutate_after(uint8_t *buf, const char *tag)
{
	char *p = strstr((char *)buf, tag);

	if (p == NULL) {
		return false;
	}
	p += strlen(tag);
	/* Keep the value of its type: a digit stays a digit, a letter a letter. */
	if (*p >= '0' && *p <= '8') {
		*p = (char)(*p + 1);
	} else if (*p == '9') {
		*p = '0';
	} else if ((*p >= 'A' && *p < 'Z') || (*p >= 'a' && *p < 'z')) {
		*p = (char)(*p + 1);
	} else {
		*p = 'A';
	}
	return true;
}

/* (d): one character changed in any key element, UserUri or Time breaks the digest. */
static void
test_sign_tamper(void)
{
	static const char *const tags[] = {
		"<UserUri>",     "<Time>",          "<xenc:CipherValue>",
		"<ds:KeyName>",  "<PubEncKey>",     "<PubAuthKey>",
		"<UserID>",      "<KmsUri>",        "<ValidFrom>",
		"<KeyPeriodNo>", "<UserKeyPeriod>", "<ClientReqUrl>",
		"<ErrorMsg>",    "<ErrorCode>",     "<KmsDomain>",
		"<Issuer>",      "KmsUri>kms",      "Algorithm=\"http",
		"Role=\"",       "Version=\"",      "Id=\"",
		"xsi:type=\"",   "CacheNum=\"",
	};
	struct kms_xml_response r;
	uint8_t *buf, *copy;
	size_t len, i;
	enum sample_id ids[] = {S_INIT_TKIK, S_KEYPROV_ERROR, S_CERTCACHE_THREE};
	size_t s, mutated = 0;

	for (s = 0; s < NUM(ids); s++) {
		sample(&r, ids[s]);
		if (ids[s] == S_KEYPROV_ERROR) {
			r.error_code = 404;
			r.error_msg = "partial";
		}
		produce(&r, true, &buf, &len);
		CU_ASSERT_FATAL(signature_holds(buf, len, "ik.12.alice@example.org"));
		for (i = 0; i < NUM(tags); i++) {
			copy = malloc(len + 1);
			CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
			memcpy(copy, buf, len + 1);
			if (mutate_after(copy, tags[i])) {
				mutated++;
				if (signature_holds(copy, len, "ik.12.alice@example.org")) {
					fprintf(stderr, "tamper not detected: %s in %s\n", tags[i],
						sample_names[ids[s]]);
					CU_FAIL("tampering not detected");
				}
			}
			free(copy);
		}
		free(buf);
	}
	CU_ASSERT(mutated >= 40);

	/* And through the API: a changed key byte, UserUri or Time gives another digest. */
	{
		struct kms_xml_doc *doc = NULL;
		struct kms_xml_key_set k = key_sets[0];
		uint8_t d0[32], d1[32];
		uint8_t rsk[sizeof(w_rsk)];

		base_response(&r);
		r.key_sets = &k;
		CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
		CU_ASSERT_EQUAL(kms_xml_digest(doc, d0), KMS_OK);
		kms_xml_doc_free(doc);

		memcpy(rsk, w_rsk, sizeof(rsk));
		rsk[100] ^= 0x01;
		k.rsk.wrapped = rsk;
		CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
		CU_ASSERT_EQUAL(kms_xml_digest(doc, d1), KMS_OK);
		CU_ASSERT_NOT_EQUAL(memcmp(d0, d1, 32), 0);
		kms_xml_doc_free(doc);
		k = key_sets[0];

		r.user_uri = "sip:alicf@example.org";
		CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
		CU_ASSERT_EQUAL(kms_xml_digest(doc, d1), KMS_OK);
		CU_ASSERT_NOT_EQUAL(memcmp(d0, d1, 32), 0);
		kms_xml_doc_free(doc);
		base_response(&r);
		r.key_sets = &k;

		r.time += 1;
		CU_ASSERT_EQUAL_FATAL(kms_xml_render(&doc, &r), KMS_OK);
		CU_ASSERT_EQUAL(kms_xml_digest(doc, d1), KMS_OK);
		CU_ASSERT_NOT_EQUAL(memcmp(d0, d1, 32), 0);
		kms_xml_doc_free(doc);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* xsd:dateTime                                                                              */

static void
test_datetime_golden(void)
{
	static const struct {
		const char *s;
		int64_t t;
	} good[] = {
		{"2014-02-23T08:39:14Z", 1393144754}, /* NTP D6B4323200000000 (kms-interface.md) */
		{"2014-02-23T08:39:14", 1393144754},  /* no zone: UTC */
		{"2014-02-23T09:39:14+01:00", 1393144754},
		{"2014-02-23T03:39:14-05:00", 1393144754},
		{"2014-02-23T08:39:14.999999999999Z", 1393144754},
		{"  2014-02-23T08:39:14.5Z\n", 1393144754},
		{"1970-01-01T00:00:00Z", 0},
		{"1969-12-31T23:59:59Z", -1},
		{"2026-11-28T19:50:27Z", 1795895427},
		{"2000-02-29T00:00:00Z", 951782400},
		{"2024-02-29T12:00:00Z", 1709208000},
		{"2014-02-23T24:00:00Z", 1393200000}, /* end of day = next midnight */
		{"2014-02-23T24:00:00.000Z", 1393200000},
		{"0001-01-01T00:00:00Z", KMS_XML_DATETIME_MIN},
		{"9999-12-31T23:59:59Z", KMS_XML_DATETIME_MAX},
		{"2014-02-23T08:39:14+14:00", 1393144754 - 14 * 3600},
		{"2014-02-23T08:39:14-14:00", 1393144754 + 14 * 3600},
		{"2014-02-23T08:39:14+00:00", 1393144754},
	};
	static const char *const bad[] = {
		"2014-13-01T00:00:00Z", /* month 13 */
		"2014-00-01T00:00:00Z", /* month 0 */
		"2014-02-30T00:00:00Z", /* Feb 30 */
		"2023-02-29T00:00:00Z", /* not a leap year */
		"1900-02-29T00:00:00Z", /* not a leap year */
		"2014-04-31T00:00:00Z", /* April 31 */
		"2014-01-00T00:00:00Z", /* day 0 */
		"2014-01-32T00:00:00Z",
		"2014-02-23T24:00:01Z", /* 24:00:01 */
		"2014-02-23T24:01:00Z",
		"2014-02-23T24:00:00.1Z",
		"2014-02-23T25:00:00Z",
		"2014-02-23T23:60:00Z",
		"2014-02-23T23:59:60Z", /* no leap seconds in xsd:dateTime */
		"0000-01-01T00:00:00Z", /* year 0 */
		"10000-01-01T00:00:00Z",
		"-2014-01-01T00:00:00Z",
		"0001-01-01T00:00:00+00:01", /* before year 1 in UTC */
		"9999-12-31T23:59:59-00:01", /* after 9999 in UTC */
		"2014-02-23 08:39:14Z",
		"2014-02-23t08:39:14Z",
		"2014-02-23T08:39:14z",
		"2014-02-23T08:39Z",
		"2014-2-23T08:39:14Z",
		"2014-02-23T08:39:14.Z",
		"2014-02-23T08:39:14.1234567890123Z", /* 13 fraction digits */
		"2014-02-23T08:39:14+15:00",
		"2014-02-23T08:39:14+14:30",
		"2014-02-23T08:39:14+01:60",
		"2014-02-23T08:39:14+0100",
		"2014-02-23T08:39:14+01",
		"2014-02-23T08:39:14ZZ",
		"2014-02-23T08:39:14Z trailing",
		"2014-02-23T08:39:1",
		"２０１４-02-23T08:39:14Z",
		"",
		"   ",
	};
	int64_t t;
	size_t i;

	for (i = 0; i < NUM(good); i++) {
		t = 12345;
		if (kms_xml_datetime_parse(&t, good[i].s, strlen(good[i].s)) != KMS_OK ||
		    t != good[i].t) {
			fprintf(stderr, "dateTime %s: %lld\n", good[i].s, (long long)t);
			CU_FAIL("good dateTime");
		}
	}
	for (i = 0; i < NUM(bad); i++) {
		t = 12345;
		if (kms_xml_datetime_parse(&t, bad[i], strlen(bad[i])) != KMS_ERR_RANGE || t != 0) {
			fprintf(stderr, "dateTime %s accepted\n", bad[i]);
			CU_FAIL("bad dateTime");
		}
	}
	/* The length bounds the text: no reading past it, no NUL needed. */
	CU_ASSERT_EQUAL(kms_xml_datetime_parse(&t, "2014-02-23T08:39:14Z", 19), KMS_OK);
	CU_ASSERT_EQUAL(t, 1393144754);
	CU_ASSERT_EQUAL(kms_xml_datetime_parse(&t, "2014-02-23T08:39:14Z", 18), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_xml_datetime_parse(&t, NULL, 0), KMS_ERR_RANGE);
}

/* Formatting agrees with gmtime_r, and parsing inverts it. */
static void
test_datetime_format(void)
{
	char buf[KMS_XML_DATETIME_LEN + 1], ref[64];
	int64_t t, back;
	struct tm tm;
	time_t tt;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;
	int bad = 0;

	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, 1795895427), KMS_OK);
	CU_ASSERT_STRING_EQUAL(buf, "2026-11-28T19:50:27Z");
	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, KMS_XML_DATETIME_MIN), KMS_OK);
	CU_ASSERT_STRING_EQUAL(buf, "0001-01-01T00:00:00Z");
	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, KMS_XML_DATETIME_MAX), KMS_OK);
	CU_ASSERT_STRING_EQUAL(buf, "9999-12-31T23:59:59Z");
	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, -1), KMS_OK);
	CU_ASSERT_STRING_EQUAL(buf, "1969-12-31T23:59:59Z");
	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, KMS_XML_DATETIME_MAX + 1), KMS_ERR_RANGE);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(kms_xml_datetime_format(buf, KMS_XML_DATETIME_MIN - 1), KMS_ERR_RANGE);
	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = KMS_XML_DATETIME_MIN +
		    (int64_t)(x % (uint64_t)(KMS_XML_DATETIME_MAX - KMS_XML_DATETIME_MIN + 1));
		if (i < 1000) {
			t = (int64_t)i * 86399 - 43200000; /* around 1970 */
		}
		tt = (time_t)t;
		if (kms_xml_datetime_format(buf, t) != KMS_OK || gmtime_r(&tt, &tm) == NULL ||
		    strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
			bad++;
			continue;
		}
		/* strftime does not pad years below 1000 to four digits everywhere. */
		if (tm.tm_year + 1900 >= 1000 && strcmp(buf, ref) != 0) {
			bad++;
		}
		if (kms_xml_datetime_parse(&back, buf, strlen(buf)) != KMS_OK || back != t) {
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                  */

#define NS_ATTR "xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\""

static const char req_minimal[] =
	"<KmsRequest " NS_ATTR ">"
	"<UserUri>sip:alice@example.org</UserUri>"
	"<KmsUri>kms.example.org</KmsUri>"
	"<Time>2014-02-23T08:39:14Z</Time>"
	"<ClientReqUrl>https://kms.example.org/keymanagement/identity/v1/keyprov</ClientReqUrl>"
	"</KmsRequest>";

static const char req_full[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!-- a client's request -->\n"
	"<KmsRequest " NS_ATTR " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
	"    xmlns:krr=\"urn:3gpp:ns:mcsecKMSKRR:1.0\" xmlns:x=\"urn:example:ext\"\n"
	"    Id=\"req-1\" Version=\"1.1.0\" x:note=\"other-namespace attribute\">\n"
	"  <UserUri>\n    sip:alice@example.org\n  </UserUri>\n"
	"  <KmsUri x:a=\"1\">kms.example.org</KmsUri>\n"
	"  <!-- Time in another zone -->\n"
	"  <Time>2014-02-23T09:39:14.250+01:00</Time>\n"
	"  <ClientId>tel:+441234567890</ClientId>\n"
	"  <DeviceId>imei:35-209900-176148-1</DeviceId>\n"
	"  <ClientReqUrl><![CDATA[https://kms.example.org/keymanagement/identity/v1/init?a=1&b=2]]>"
	"</ClientReqUrl>\n"
	"  <KrrList><krr:Redirect><krr:KmsUri>kms2.example.org</krr:KmsUri></krr:Redirect>"
	"</KrrList>\n"
	"  <ClientError Version=\"1.0.0\"><ErrorCode>-17</ErrorCode>"
	"<ErrorMsg> key &lt;unwrap&gt; &amp; check failed &#x263A; </ErrorMsg>"
	"<x:detail>ignored</x:detail></ClientError>\n"
	"  <x:Extension><x:Inner>ignored</x:Inner></x:Extension>\n"
	"  <x:More/>\n"
	"</KmsRequest>\n";

/* In the style of the examples of TS 33.180 Annex D: no zone on Time, Version 1.0.0. */
static const char req_spec[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<KmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\"\n"
	"    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" Version=\"1.0.0\">\n"
	"  <UserUri>sip:user@example.org</UserUri>\n"
	"  <KmsUri>kms.example.org</KmsUri>\n"
	"  <Time>2014-01-26T10:05:52</Time>\n"
	"  <ClientId>tel:+441234567890</ClientId>\n"
	"  <DeviceId>tel:+441234567890</DeviceId>\n"
	"  <ClientReqUrl>http://kms.example.org/keymanagement/identity/v1/init</ClientReqUrl>\n"
	"</KmsRequest>\n";

/*
 * A SignedKmsRequest signed by xmlsec1 1.2.37 (--sign --hmackey with hmac_key, --id-attr:Id
 * urn:3gpp:ns:mcsecKMSInterface:1.0:KmsRequest): a golden vector, cut into the parts the refusal
 * tests edit.
 */
#define SIG_NS_ATTR  "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""
#define SIG_ALG_C14N "Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\""
#define SIG_ALG_HMAC "Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\""
#define SIG_ALG_SHA  "Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\""
#define SIG_REQ_OPEN "<KmsRequest Id=\"req1\" Version=\"1.1.0\">"
#define SIG_REQ                                                                                    \
	SIG_REQ_OPEN "<UserUri>sip:bob@example.org</UserUri>"                                      \
		     "<KmsUri>kms.example.org</KmsUri>"                                            \
		     "<Time>2026-11-28T19:50:27Z</Time>"                                           \
		     "<ClientReqUrl>https://kms.example.org/keymanagement/identity/v1/keyprov"     \
		     "</ClientReqUrl></KmsRequest>"
#define SIG_C14N      "<ds:CanonicalizationMethod " SIG_ALG_C14N "/>"
#define SIG_METHOD    "<ds:SignatureMethod " SIG_ALG_HMAC "/>"
#define SIG_TRANSFORM "<ds:Transform " SIG_ALG_C14N "/>"
#define SIG_DMETHOD   "<ds:DigestMethod " SIG_ALG_SHA "/>"
#define SIG_DIGEST    "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYOA="
#define SIG_VALUE     "F5lMM3gZhwMq7UIp4Kv3XdlVxHS8kU3hDclKMPXHa+w="
#define SIG_REF_OPEN  "<ds:Reference URI=\"#req1\">"
#define SIG_REFERENCE                                                                              \
	SIG_REF_OPEN "<ds:Transforms>" SIG_TRANSFORM "</ds:Transforms>" SIG_DMETHOD                \
		     "<ds:DigestValue>" SIG_DIGEST "</ds:DigestValue></ds:Reference>"
#define SIG_SIGNED_INFO "<ds:SignedInfo>" SIG_C14N SIG_METHOD SIG_REFERENCE "</ds:SignedInfo>"
#define SIG_KEY_NAME    "ik.12.bob@example.org"
#define SIG_KEYINFO     "<ds:KeyInfo><ds:KeyName>" SIG_KEY_NAME "</ds:KeyName></ds:KeyInfo>"
#define SIG_SIGVALUE    "<ds:SignatureValue>" SIG_VALUE "</ds:SignatureValue>"

static const char req_signed[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<SignedKmsRequest " NS_ATTR " " SIG_NS_ATTR " Id=\"s\">" SIG_REQ
	"<ds:Signature>" SIG_SIGNED_INFO SIG_SIGVALUE SIG_KEYINFO "</ds:Signature>"
	"</SignedKmsRequest>";

/* Replace the first occurrence of from in base by to. */
static char *
subst(const char *base, const char *from, const char *to)
{
	const char *p = strstr(base, from);
	size_t len;
	char *s;

	if (p == NULL) {
		fprintf(stderr, "subst: '%s' not in the sample\n", from);
		abort();
	}
	len = strlen(base) - strlen(from) + strlen(to);
	s = malloc(len + 1);
	if (s == NULL) {
		abort();
	}
	memcpy(s, base, (size_t)(p - base));
	memcpy(s + (p - base), to, strlen(to));
	memcpy(s + (p - base) + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
	return s;
}

static int
parse_str(struct kms_xml_request *out, char *err, size_t err_cap, const char *s)
{
	return kms_xml_parse_request(out, err, err_cap, (const uint8_t *)s, strlen(s));
}

static struct kms_xml_request req; /* large: static */

static void
test_request_golden(void)
{
	char err[KMS_XML_ERR_LEN];

	memset(&req, 0xa5, sizeof(req));
	CU_ASSERT_EQUAL_FATAL(parse_str(&req, err, sizeof(err), req_minimal), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(req.version, KMS_XML_REQ_VERSION_ABSENT);
	CU_ASSERT_FALSE(req.is_signed);
	CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:alice@example.org");
	CU_ASSERT_STRING_EQUAL(req.kms_uri, "kms.example.org");
	CU_ASSERT_EQUAL(req.time, 1393144754);
	CU_ASSERT_FALSE(req.has_client_id);
	CU_ASSERT_STRING_EQUAL(req.client_id, "");
	CU_ASSERT_FALSE(req.has_device_id);
	CU_ASSERT_STRING_EQUAL(req.client_req_url,
			       "https://kms.example.org/keymanagement/identity/v1/keyprov");
	CU_ASSERT_FALSE(req.has_krr_list);
	CU_ASSERT_FALSE(req.has_client_error);
	CU_ASSERT_EQUAL(req.num_extensions, 0);

	memset(&req, 0xa5, sizeof(req));
	CU_ASSERT_EQUAL_FATAL(parse_str(&req, err, sizeof(err), req_full), KMS_OK);
	CU_ASSERT_EQUAL(req.version, KMS_XML_REQ_VERSION_1_1_0);
	CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:alice@example.org"); /* trimmed */
	CU_ASSERT_EQUAL(req.time, 1393144754);
	CU_ASSERT(req.has_client_id);
	CU_ASSERT_STRING_EQUAL(req.client_id, "tel:+441234567890");
	CU_ASSERT(req.has_device_id);
	CU_ASSERT_STRING_EQUAL(req.device_id, "imei:35-209900-176148-1");
	CU_ASSERT_STRING_EQUAL(req.client_req_url,
			       "https://kms.example.org/keymanagement/identity/v1/init?a=1&b=2");
	CU_ASSERT(req.has_krr_list);
	CU_ASSERT(req.has_client_error);
	CU_ASSERT_EQUAL(req.client_error_code, -17);
	CU_ASSERT_FALSE(req.is_signed);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&req.sig, sizeof(req.sig)));
	CU_ASSERT_STRING_EQUAL(req.client_error_msg,
			       " key <unwrap> & check failed \xe2\x98\xba "); /* as is */
	CU_ASSERT_EQUAL(req.num_extensions, 2);

	memset(&req, 0xa5, sizeof(req));
	CU_ASSERT_EQUAL_FATAL(parse_str(&req, err, sizeof(err), req_spec), KMS_OK);
	CU_ASSERT_EQUAL(req.version, KMS_XML_REQ_VERSION_1_0_0);
	CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:user@example.org");
	CU_ASSERT_EQUAL(req.time, 1390730752); /* 2014-01-26T10:05:52Z */
	CU_ASSERT_STRING_EQUAL(req.client_id, "tel:+441234567890");

	memset(&req, 0xa5, sizeof(req));
	CU_ASSERT_EQUAL_FATAL(parse_str(&req, err, sizeof(err), req_signed), KMS_OK);
	CU_ASSERT(req.is_signed);
	CU_ASSERT_EQUAL(req.version, KMS_XML_REQ_VERSION_1_1_0);
	CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:bob@example.org");
	CU_ASSERT_EQUAL(req.time, 1795895427);
	CU_ASSERT_STRING_EQUAL(req.sig.key_name, SIG_KEY_NAME);
	/* (the signature itself: test_signed_golden) */

	/* A NULL error buffer is fine. */
	CU_ASSERT_EQUAL(parse_str(&req, NULL, 0, req_minimal), KMS_OK);

	/* Comments anywhere, even inside a value, are dropped; thousands of them cost nothing. */
	{
		char *doc = subst(req_minimal, "sip:alice@example.org",
				  "sip:alice<!-- c -->@example<![CDATA[.]]>org");
		char *many = malloc(KMS_XML_MAX_BODY);
		size_t off, head;

		CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_OK);
		CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:alice@example.org");
		CU_ASSERT_PTR_NOT_NULL_FATAL(many);
		head = (size_t)(strstr(req_minimal, "</KmsRequest>") - req_minimal);
		memcpy(many, req_minimal, head);
		for (off = head; off + 7 + 14 < KMS_XML_MAX_BODY; off += 7) {
			memcpy(many + off, "<!---->", 7);
		}
		memcpy(many + off, "</KmsRequest>", 14);
		CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), many), KMS_OK);
		free(many);
		free(doc);
	}
}

struct bad_req {
	const char *name;
	const char *from; /* replaced in req_minimal (NULL: text is the whole document) */
	const char *to;
	int code;
	const char *msg; /* a part of the error message */
};

#define MIN_HEAD "<KmsRequest " NS_ATTR ">"
#define MIN_USER "<UserUri>sip:alice@example.org</UserUri>"
#define MIN_KMS  "<KmsUri>kms.example.org</KmsUri>"
#define MIN_TIME "<Time>2014-02-23T08:39:14Z</Time>"
#define MIN_URL                                                                                    \
	"<ClientReqUrl>https://kms.example.org/keymanagement/identity/v1/keyprov</ClientReqUrl>"

static const struct bad_req bad_reqs[] = {
	{"billion laughs", NULL,
	 "<?xml version=\"1.0\"?>\n<!DOCTYPE KmsRequest [\n"
	 "<!ENTITY lol \"lol\">\n"
	 "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	 "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	 "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	 "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
	 "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
	 "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
	 "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
	 "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
	 "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
	 "]>\n" MIN_HEAD "<UserUri>&lol9;</UserUri>" MIN_KMS MIN_TIME MIN_URL "</KmsRequest>",
	 KMS_ERR_PARSE, "DOCTYPE"},
	{"XXE /etc/passwd", NULL,
	 "<?xml version=\"1.0\"?>\n<!DOCTYPE KmsRequest [\n"
	 "<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n" MIN_HEAD
	 "<UserUri>sip:alice@example.org</UserUri>" MIN_KMS MIN_TIME
	 "<ClientReqUrl>&xxe;</ClientReqUrl></KmsRequest>",
	 KMS_ERR_PARSE, "DOCTYPE"},
	{"external DTD", NULL,
	 "<!DOCTYPE KmsRequest SYSTEM \"file:///etc/passwd\">" MIN_HEAD MIN_USER MIN_KMS MIN_TIME
		 MIN_URL "</KmsRequest>",
	 KMS_ERR_PARSE, "DOCTYPE"},
	{"parameter entity", NULL,
	 "<!DOCTYPE KmsRequest [<!ENTITY % p SYSTEM \"http://127.0.0.1:1/x.dtd\"> %p;]>" MIN_HEAD
		 MIN_USER MIN_KMS MIN_TIME MIN_URL "</KmsRequest>",
	 KMS_ERR_PARSE, "DOCTYPE"},
	{"undeclared entity", "sip:alice@example.org", "&alice;", KMS_ERR_PARSE, "entity"},
	{"unbound prefix", MIN_URL, MIN_URL "<p:e/>", KMS_ERR_PARSE, "namespace"},
	{"processing instruction", "<UserUri>", "<?php echo 1 ?><UserUri>", KMS_ERR_PARSE,
	 "processing instruction"},
	{"processing instruction before the root", NULL,
	 "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a.xsl\"?>" MIN_HEAD MIN_USER MIN_KMS
		 MIN_TIME MIN_URL "</KmsRequest>",
	 KMS_ERR_PARSE, "processing instruction"},
	{"wrong namespace", "urn:3gpp:ns:mcsecKMSInterface:1.0",
	 "urn:3gpp:ns:mcsecKMSInterface:2.0", KMS_ERR_PARSE, "root"},
	{"no namespace", NS_ATTR, "Version=\"1.0.0\"", KMS_ERR_PARSE, "root"},
	{"wrong root", NULL,
	 "<KmsResponse " NS_ATTR ">" MIN_USER MIN_KMS MIN_TIME MIN_URL "</KmsResponse>",
	 KMS_ERR_PARSE, "root"},
	{"children in the wrong namespace", "<UserUri>sip:alice@example.org</UserUri>",
	 "<UserUri xmlns=\"urn:x\">sip:alice@example.org</UserUri>", KMS_ERR_PARSE,
	 "missing UserUri"},
	{"child without namespace", "<UserUri>sip:alice@example.org</UserUri>",
	 "<UserUri xmlns=\"\">sip:alice@example.org</UserUri>", KMS_ERR_PARSE, "without namespace"},
	{"wrong order", MIN_USER MIN_KMS, MIN_KMS MIN_USER, KMS_ERR_PARSE, "missing UserUri"},
	{"wrong order later", MIN_TIME MIN_URL,
	 "<ClientId>c</ClientId>" MIN_TIME "<DeviceId>d</DeviceId>" MIN_URL, KMS_ERR_PARSE,
	 "missing Time"},
	{"optional out of order", MIN_URL, "<DeviceId>d</DeviceId><ClientId>c</ClientId>" MIN_URL,
	 KMS_ERR_PARSE, "ClientId out of order"},
	{"duplicate", MIN_KMS, MIN_KMS MIN_KMS, KMS_ERR_PARSE, "duplicate KmsUri"},
	{"duplicate later", MIN_URL,
	 MIN_URL "<ClientError><ErrorCode>1</ErrorCode>"
		 "<ErrorMsg/></ClientError>" MIN_URL,
	 KMS_ERR_PARSE, "duplicate ClientReqUrl"},
	{"missing UserUri", MIN_USER, "", KMS_ERR_PARSE, "missing UserUri"},
	{"missing KmsUri", MIN_KMS, "", KMS_ERR_PARSE, "missing KmsUri"},
	{"missing Time", MIN_TIME, "", KMS_ERR_PARSE, "missing Time"},
	{"missing ClientReqUrl", MIN_URL, "", KMS_ERR_PARSE, "missing ClientReqUrl"},
	{"missing ClientReqUrl before an extension", MIN_URL, "<x:e xmlns:x=\"urn:x\"/>",
	 KMS_ERR_PARSE, "missing ClientReqUrl"},
	{"interface element after an extension", MIN_URL,
	 MIN_URL "<x:e xmlns:x=\"urn:x\"/><ClientId>c</ClientId>", KMS_ERR_PARSE,
	 "after an extension"},
	{"unknown element", MIN_URL, MIN_URL "<Unknown/>", KMS_ERR_PARSE,
	 "unknown element after ClientReqUrl"},
	{"unknown element first", MIN_USER, "<Foo/>" MIN_USER, KMS_ERR_PARSE,
	 "unknown element after its start"},
	{"mixed content", "sip:alice@example.org", "sip:alice@<b>example</b>.org", KMS_ERR_PARSE,
	 "UserUri: mixed content"},
	{"text between elements", MIN_KMS, MIN_KMS "text", KMS_ERR_PARSE, "text between elements"},
	{"text in the root", MIN_USER, "x" MIN_USER, KMS_ERR_PARSE, "text between elements"},
	{"empty UserUri", MIN_USER, "<UserUri>  </UserUri>", KMS_ERR_PARSE, "UserUri is empty"},
	{"space in a URI", "sip:alice@example.org", "sip:alice @example.org", KMS_ERR_PARSE,
	 "UserUri: invalid character"},
	{"control character in a ClientId", MIN_URL, "<ClientId>a&#x9;b</ClientId>" MIN_URL,
	 KMS_ERR_PARSE, "ClientId: invalid character"},
	{"empty ClientId", MIN_URL, "<ClientId/>" MIN_URL, KMS_ERR_PARSE, "ClientId is empty"},
	{"Version 2", MIN_HEAD, "<KmsRequest " NS_ATTR " Version=\"2.0.0\">", KMS_ERR_PARSE,
	 "unsupported Version"},
	{"Version empty", MIN_HEAD, "<KmsRequest " NS_ATTR " Version=\"\">", KMS_ERR_PARSE,
	 "unsupported Version"},
	{"Version with spaces", MIN_HEAD, "<KmsRequest " NS_ATTR " Version=\" 1.0.0\">",
	 KMS_ERR_PARSE, "unsupported Version"},
	{"unknown attribute", MIN_HEAD, "<KmsRequest " NS_ATTR " Foo=\"1\">", KMS_ERR_PARSE,
	 "KmsRequest: unknown attribute"},
	{"attribute in the interface namespace", MIN_HEAD,
	 "<KmsRequest " NS_ATTR " xmlns:k=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" k:Id=\"1\">",
	 KMS_ERR_PARSE, "attribute in the interface namespace"},
	{"attribute on a leaf", "<UserUri>", "<UserUri a=\"1\">", KMS_ERR_PARSE,
	 "UserUri: unknown attribute"},
	{"month 13", "2014-02-23T08:39:14Z", "2014-13-23T08:39:14Z", KMS_ERR_RANGE,
	 "Time is not a valid dateTime"},
	{"24:00:01", "2014-02-23T08:39:14Z", "2014-02-23T24:00:01Z", KMS_ERR_RANGE,
	 "Time is not a valid dateTime"},
	{"Feb 30", "2014-02-23T08:39:14Z", "2014-02-30T08:39:14Z", KMS_ERR_RANGE,
	 "Time is not a valid dateTime"},
	{"year 0", "2014-02-23T08:39:14Z", "0000-02-23T08:39:14Z", KMS_ERR_RANGE,
	 "Time is not a valid dateTime"},
	{"Time too long", "2014-02-23T08:39:14Z",
	 "2014-02-23T08:39:14.00000000000000000000000000000000000000000000000000Z", KMS_ERR_RANGE,
	 "Time too long"},
	{"mixed Time", "2014-02-23T08:39:14Z", "2014-02-23<x/>T08:39:14Z", KMS_ERR_PARSE,
	 "Time: mixed content"},
	{"ErrorCode overflow", MIN_URL,
	 MIN_URL "<ClientError><ErrorCode>9223372036854775808</ErrorCode><ErrorMsg/></ClientError>",
	 KMS_ERR_RANGE, "ErrorCode out of range"},
	{"ErrorCode not a number", MIN_URL,
	 MIN_URL "<ClientError><ErrorCode>12a</ErrorCode><ErrorMsg/></ClientError>", KMS_ERR_PARSE,
	 "ErrorCode is not an integer"},
	{"ErrorCode sign only", MIN_URL,
	 MIN_URL "<ClientError><ErrorCode>-</ErrorCode><ErrorMsg/></ClientError>", KMS_ERR_PARSE,
	 "ErrorCode is not an integer"},
	{"ClientError without ErrorMsg", MIN_URL,
	 MIN_URL "<ClientError><ErrorCode>1</ErrorCode></ClientError>", KMS_ERR_PARSE,
	 "ClientError: missing ErrorMsg"},
	{"ClientError wrong order", MIN_URL,
	 MIN_URL "<ClientError><ErrorMsg/><ErrorCode>1</ErrorCode></ClientError>", KMS_ERR_PARSE,
	 "ClientError: missing ErrorCode"},
	{"signed without signature", NULL,
	 "<SignedKmsRequest " NS_ATTR ">" MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL
	 "</KmsRequest></SignedKmsRequest>",
	 KMS_ERR_PARSE, "missing ds:Signature"},
	{"signed without request", NULL,
	 "<SignedKmsRequest " NS_ATTR " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"
	 "<ds:Signature/></SignedKmsRequest>",
	 KMS_ERR_PARSE, "unexpected element after its start"},
	{"signed with two requests", NULL,
	 "<SignedKmsRequest " NS_ATTR ">" MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL
	 "</KmsRequest>" MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL
	 "</KmsRequest></SignedKmsRequest>",
	 KMS_ERR_PARSE, "unexpected element after KmsRequest"},
	{"signed, bad inner request", NULL,
	 "<SignedKmsRequest " NS_ATTR
	 " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">" MIN_HEAD MIN_USER MIN_TIME MIN_URL
	 "</KmsRequest><ds:Signature/></SignedKmsRequest>",
	 KMS_ERR_PARSE, "missing KmsUri"},
	{"trailing element", NULL,
	 MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL "</KmsRequest><KmsRequest/>", KMS_ERR_PARSE,
	 "well-formed"},
	{"trailing text", NULL, MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL "</KmsRequest>x",
	 KMS_ERR_PARSE, "well-formed"},
	{"unclosed", "</KmsRequest>", "", KMS_ERR_PARSE, "well-formed"},
	{"mismatched tags", "</KmsUri>", "</KmsUrl>", KMS_ERR_PARSE, "well-formed"},
	{"bad UTF-8", "alice", "al\xc3\x28ice", KMS_ERR_PARSE, "well-formed"},
	{"control byte", NULL, "<KmsRequest " NS_ATTR ">\x01</KmsRequest>", KMS_ERR_PARSE,
	 "well-formed"},
	{"UTF-16 byte order mark", NULL, "\xff\xfe<\0K\0/\0>\0", KMS_ERR_PARSE, "well-formed"},
	{"not XML", NULL, "{\"UserUri\": \"sip:alice@example.org\"}", KMS_ERR_PARSE, "well-formed"},
};

static void
test_request_malformed(void)
{
	struct kms_xml_request before;
	char err[KMS_XML_ERR_LEN];
	size_t i;
	char *doc;
	int rc;

	memset(&before, 0x5a, sizeof(before));
	for (i = 0; i < NUM(bad_reqs); i++) {
		doc = bad_reqs[i].from == NULL
			      ? strdup(bad_reqs[i].to)
			      : subst(req_minimal, bad_reqs[i].from, bad_reqs[i].to);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		memcpy(&req, &before, sizeof(req));
		memset(err, 'Z', sizeof(err));
		rc = parse_str(&req, err, sizeof(err), doc);
		if (rc != bad_reqs[i].code || memchr(err, '\0', sizeof(err)) == NULL ||
		    strstr(err, bad_reqs[i].msg) == NULL) {
			fprintf(stderr, "%s: %d (%s) \"%.*s\"\n", bad_reqs[i].name, rc,
				kms_err_name(rc), (int)sizeof(err), err);
			CU_FAIL("malformed request");
		}
		CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
		free(doc);
	}
	/* A small error buffer gets a truncated, terminated message. */
	rc = parse_str(&req, err, 8, "<x/>");
	CU_ASSERT_EQUAL(rc, KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(strlen(err), 7);
	CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err), NULL, 0), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err), NULL, 5),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_xml_parse_request(NULL, err, sizeof(err), (const uint8_t *)"<a/>", 4),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
}

/* An external entity must never be read: a file with a sentinel, referenced every way. */
static void
test_request_xxe(void)
{
	static const char secret[] = "XXE-SENTINEL-7f3a";
	char dir[256], path[300], doc[2048], err[KMS_XML_ERR_LEN];
	struct kms_xml_request before;
	const char *forms[] = {
		"<!DOCTYPE KmsRequest [<!ENTITY x SYSTEM \"file://%s\">]>" MIN_HEAD
		"<UserUri>&x;</UserUri>" MIN_KMS MIN_TIME MIN_URL "</KmsRequest>",
		"<!DOCTYPE KmsRequest SYSTEM \"file://%s\">" MIN_HEAD MIN_USER MIN_KMS MIN_TIME
			MIN_URL "</KmsRequest>",
		"<!DOCTYPE KmsRequest [<!ENTITY %% p SYSTEM \"file://%s\"> %%p;]>" MIN_HEAD MIN_USER
			MIN_KMS MIN_TIME MIN_URL "</KmsRequest>",
		MIN_HEAD
		"<UserUri xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
		"<xi:include href=\"file://%s\" parse=\"text\"/></UserUri>" MIN_KMS MIN_TIME MIN_URL
		"</KmsRequest>",
	};
	size_t i;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(kms_test_tmpdir(dir, sizeof(dir), "xml"), 0);
	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(secret, f);
	fclose(f);
	memset(&before, 0x3c, sizeof(before));
	for (i = 0; i < NUM(forms); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(doc, sizeof(doc), forms[i], path);
#pragma GCC diagnostic pop
		memcpy(&req, &before, sizeof(req));
		CU_ASSERT_NOT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_OK);
		CU_ASSERT_PTR_NULL(strstr(err, secret));
		CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
	}
	kms_test_rmdir(dir);
}

/* Depth and element count: the limits are exact. */
static void
test_request_limits(void)
{
	char err[KMS_XML_ERR_LEN];
	char *doc, *ext;
	size_t i, off;
	int rc;

	/* Nesting: the root is level 1, so 15 nested extension elements make 16 levels. */
	for (i = 15; i <= 17; i++) {
		size_t k;

		ext = calloc(1, 64 * i + 64);
		CU_ASSERT_PTR_NOT_NULL_FATAL(ext);
		off = 0;
		for (k = 0; k < i; k++) {
			off += (size_t)snprintf(ext + off, 64, "<x:e%s>",
						k == 0 ? " xmlns:x=\"urn:x\"" : "");
		}
		for (k = 0; k < i; k++) {
			off += (size_t)snprintf(ext + off, 64, "</x:e>");
		}
		doc = subst(req_minimal, "</KmsRequest>", ext);
		free(ext);
		ext = doc;
		doc = malloc(strlen(ext) + 32);
		CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
		snprintf(doc, strlen(ext) + 32, "%s</KmsRequest>", ext);
		free(ext);
		rc = parse_str(&req, err, sizeof(err), doc);
		if (i == 15) {
			CU_ASSERT_EQUAL(rc, KMS_OK);
			CU_ASSERT_EQUAL(req.num_extensions, 1);
		} else {
			CU_ASSERT_EQUAL(rc, KMS_ERR_TOO_LARGE);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "16 levels"));
		}
		free(doc);
	}
	/* Elements: the root and the four required ones are 5; 251 extensions make 256. */
	for (i = 251; i <= 252; i++) {
		size_t k;

		ext = calloc(1, 32 * i + 64);
		CU_ASSERT_PTR_NOT_NULL_FATAL(ext);
		off = 0;
		for (k = 0; k < i; k++) {
			off += (size_t)snprintf(ext + off, 32, "<x:e xmlns:x=\"urn:x\"/>");
		}
		off += (size_t)snprintf(ext + off, 32, "</KmsRequest>");
		doc = subst(req_minimal, "</KmsRequest>", ext);
		free(ext);
		rc = parse_str(&req, err, sizeof(err), doc);
		if (i == 251) {
			CU_ASSERT_EQUAL(rc, KMS_OK);
			CU_ASSERT_EQUAL(req.num_extensions, 251);
		} else {
			CU_ASSERT_EQUAL(rc, KMS_ERR_TOO_LARGE);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "256 elements"));
		}
		free(doc);
	}
	/* Size: exactly KMS_XML_MAX_BODY bytes parse; one more is refused before parsing. */
	doc = malloc(KMS_XML_MAX_BODY + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	off = strlen(req_minimal) - strlen("</KmsRequest>");
	memcpy(doc, req_minimal, off);
	memset(doc + off, ' ', KMS_XML_MAX_BODY + 1 - off);
	memcpy(doc + KMS_XML_MAX_BODY - strlen("</KmsRequest>"), "</KmsRequest>",
	       strlen("</KmsRequest>"));
	doc[KMS_XML_MAX_BODY] = ' ';
	CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err), (const uint8_t *)doc,
					      KMS_XML_MAX_BODY),
			KMS_OK);
	CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err), (const uint8_t *)doc,
					      KMS_XML_MAX_BODY + 1),
			KMS_ERR_TOO_LARGE);
	/* Even when it is no XML at all: the size is checked first. */
	memset(doc, 0, KMS_XML_MAX_BODY + 1);
	CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err), (const uint8_t *)doc,
					      KMS_XML_MAX_BODY + 1),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "larger than"));
	free(doc);
}

/* Text lengths: URIs 2048, ids 255, ErrorMsg 1024 bytes (after trimming, for URIs). */
static void
test_request_lengths(void)
{
	static const char *const fields[] = {"UserUri",  "KmsUri",   "ClientReqUrl",
					     "ClientId", "DeviceId", "ErrorMsg"};
	static const size_t max[] = {KMS_XML_MAX_URI, KMS_XML_MAX_URI, KMS_XML_MAX_URI,
				     KMS_XML_MAX_ID,  KMS_XML_MAX_ID,  KMS_XML_MAX_TEXT};
	char err[KMS_XML_ERR_LEN];
	const char *v[6];
	char *value, *doc;
	size_t i, j, len, cap;
	int extra;

	for (i = 0; i < NUM(fields); i++) {
		for (extra = 0; extra <= 1; extra++) {
			len = max[i] + (size_t)extra;
			value = malloc(len + 1);
			CU_ASSERT_PTR_NOT_NULL_FATAL(value);
			memset(value, 'u', len);
			value[len] = '\0';
			for (j = 0; j < NUM(fields); j++) {
				v[j] = j == i ? value : "x";
			}
			cap = len + 1024;
			doc = malloc(cap);
			CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
			/* URIs get whitespace around them, which does not count. */
			snprintf(doc, cap,
				 MIN_HEAD
				 "<UserUri> %s </UserUri><KmsUri>\n%s\n</KmsUri>" MIN_TIME
				 "<ClientId>%s</ClientId><DeviceId>%s</DeviceId>"
				 "<ClientReqUrl>\t%s</ClientReqUrl><ClientError><ErrorCode>0"
				 "</ErrorCode><ErrorMsg>%s</ErrorMsg></ClientError>"
				 "</KmsRequest>",
				 v[0], v[1], v[3], v[4], v[2], v[5]);
			memset(&req, 0, sizeof(req));
			if (extra == 0) {
				CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_OK);
				CU_ASSERT_EQUAL(strlen(req.user_uri) + strlen(req.kms_uri) +
							strlen(req.client_req_url) +
							strlen(req.client_id) +
							strlen(req.device_id) +
							strlen(req.client_error_msg),
						max[i] + 5);
			} else {
				CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc),
						KMS_ERR_RANGE);
				CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
				CU_ASSERT_PTR_NOT_NULL(strstr(err, fields[i]));
			}
			free(doc);
			free(value);
		}
	}
}

/* The offending value never appears in the error message. */
static void
test_request_no_echo(void)
{
	static const char *const docs[] = {
		MIN_HEAD "<ECHOSENTINEL/>" MIN_USER MIN_KMS MIN_TIME MIN_URL "</KmsRequest>",
		MIN_HEAD MIN_USER MIN_KMS MIN_TIME MIN_URL "<ECHOSENTINEL/></KmsRequest>",
		"<ECHOSENTINEL " NS_ATTR "/>",
		"<KmsRequest xmlns=\"urn:ECHOSENTINEL\"/>",
		MIN_HEAD "<UserUri>sip:ECHO SENTINEL</UserUri>" MIN_KMS MIN_TIME MIN_URL
			 "</KmsRequest>",
		MIN_HEAD MIN_USER MIN_KMS "<Time>ECHOSENTINEL</Time>" MIN_URL "</KmsRequest>",
		"<KmsRequest " NS_ATTR " ECHOSENTINEL=\"1\"/>",
		"<KmsRequest " NS_ATTR " Version=\"ECHOSENTINEL\"/>",
		MIN_HEAD "<ECHOSENTINEL></Other></KmsRequest>",
		MIN_HEAD "<UserUri>ECHOSENTINEL<ECHOSENTINEL/></UserUri></KmsRequest>",
		"<KmsRequest " NS_ATTR " a=\"ECHOSENTINEL\" a=\"ECHOSENTINEL\"/>",
		"<!DOCTYPE ECHOSENTINEL>" MIN_HEAD "</KmsRequest>",
		MIN_HEAD "&ECHOSENTINEL;</KmsRequest>",
		MIN_HEAD "<?ECHOSENTINEL?></KmsRequest>",
		"<KmsRequest " NS_ATTR " xmlns:p=\"\"><p:ECHOSENTINEL/></KmsRequest>",
	};
	char err[KMS_XML_ERR_LEN];
	size_t i;

	for (i = 0; i < NUM(docs); i++) {
		err[0] = '\0';
		CU_ASSERT_NOT_EQUAL(parse_str(&req, err, sizeof(err), docs[i]), KMS_OK);
		CU_ASSERT(err[0] != '\0');
		if (strstr(err, "ECHO") != NULL || strstr(err, "SENTINEL") != NULL) {
			fprintf(stderr, "echoed: %s\n", err);
			CU_FAIL("error message echoes the input");
		}
	}
}

/* Truncation at every offset, and every single-bit flip: clean failures, no crash. */
static void
test_request_truncate_and_flip(void)
{
	const char *samples[] = {req_minimal, req_full, req_signed, req_spec};
	struct kms_xml_request before;
	char err[KMS_XML_ERR_LEN];
	uint8_t *buf;
	size_t s, len, end, i, bit, ok_flips = 0;
	int rc;

	memset(&before, 0x77, sizeof(before));
	for (s = 0; s < NUM(samples); s++) {
		len = strlen(samples[s]);
		/* Past the end of the root element only whitespace may follow. */
		end = (size_t)(strrchr(samples[s], '>') - samples[s]) + 1;
		for (i = 0; i < end; i++) {
			memcpy(&req, &before, sizeof(req));
			rc = kms_xml_parse_request(&req, err, sizeof(err),
						   (const uint8_t *)samples[s], i);
			if (rc == KMS_OK) {
				fprintf(stderr, "sample %zu truncated to %zu accepted\n", s, i);
				CU_FAIL("truncated request accepted");
			}
			CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
		}
		for (i = end; i <= len; i++) {
			CU_ASSERT_EQUAL(kms_xml_parse_request(&req, err, sizeof(err),
							      (const uint8_t *)samples[s], i),
					KMS_OK);
		}
		buf = malloc(len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		for (i = 0; i < len; i++) {
			for (bit = 0; bit < 8; bit++) {
				memcpy(buf, samples[s], len);
				buf[i] ^= (uint8_t)(1u << bit);
				memcpy(&req, &before, sizeof(req));
				rc = kms_xml_parse_request(&req, err, sizeof(err), buf, len);
				if (rc != KMS_OK) {
					CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
					CU_ASSERT(err[0] != '\0');
				} else {
					ok_flips++;
					CU_ASSERT(strlen(req.user_uri) > 0);
					CU_ASSERT(memchr(req.client_req_url, '\0',
							 sizeof(req.client_req_url)) != NULL);
				}
			}
		}
		free(buf);
	}
	/* Some flips (inside values) keep the request valid; most do not. */
	CU_ASSERT(ok_flips > 0);
}

/* libxml2 never writes to stderr, in this thread or another one. */
static void *
parse_many(void *arg)
{
	char err[KMS_XML_ERR_LEN];
	size_t i;
	int *failures = arg;

	for (i = 0; i < NUM(bad_reqs); i++) {
		static struct kms_xml_request r; /* contents not checked: racy writes are fine */
		char *doc = bad_reqs[i].from == NULL
				    ? strdup(bad_reqs[i].to)
				    : subst(req_minimal, bad_reqs[i].from, bad_reqs[i].to);

		if (doc == NULL) {
			abort();
		}
		if (kms_xml_parse_request(&r, err, sizeof(err), (const uint8_t *)doc,
					  strlen(doc)) == KMS_OK) {
			(*failures)++;
		}
		free(doc);
	}
	return NULL;
}

static void
test_request_silent(void)
{
	char dir[256], path[300], text[256];
	int fd, saved, failures = 0;
	pthread_t th;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(kms_test_tmpdir(dir, sizeof(dir), "xml-stderr"), 0);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	CU_ASSERT_FATAL(saved >= 0);
	CU_ASSERT_FATAL(dup2(fd, 2) == 2);
	parse_many(&failures);
	if (pthread_create(&th, NULL, parse_many, &failures) == 0) {
		pthread_join(th, NULL);
	} else {
		failures++;
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = kms_test_read_fd(fd, text, sizeof(text));
	close(fd);
	CU_ASSERT_EQUAL(failures, 0);
	if (n != 0) {
		fprintf(stderr, "written to stderr: %s\n", text);
		CU_FAIL("libxml2 wrote to stderr");
	}
	kms_test_rmdir(dir);
}

/* ---------------------------------------------------------------------------------------- */
/* Signed requests                                                                           */

static int read_file(const char *path, uint8_t **out, size_t *out_len);

#define XMLSEC1 "/usr/bin/xmlsec1"

/*
 * The canonical form (inclusive C14N 1.0) of the XPath node-set of the element el (e.g.
 * "ds:SignedInfo") as XMLDSig defines a same-document reference to it: independent of the
 * visibility callback of proto/xml-request.c. Its length, or -1; *out is xmlFree()'d.
 */
static int
c14n_element(xmlDocPtr doc, const char *el, xmlChar **out)
{
	char expr[128];
	xmlXPathObjectPtr o;
	int n = -1;

	*out = NULL;
	snprintf(expr, sizeof(expr), "(//. | //@* | //namespace::*)[ancestor-or-self::%s]", el);
	o = xpath(doc, expr);
	if (o != NULL && o->nodesetval != NULL && o->nodesetval->nodeNr > 0) {
		n = xmlC14NDocDumpMemory(doc, o->nodesetval, XML_C14N_1_0, NULL, 0, out);
	}
	xmlXPathFreeObject(o);
	return n;
}

/* base64 of 32 bytes and a NUL into out; 0 on success (no CUnit: write_samples uses it). */
static int
base64_32(char out[45], const uint8_t in[32])
{
	return EVP_EncodeBlock((unsigned char *)out, in, 32) == 44 ? 0 : -1;
}

/*
 * An independent signer: tmpl holds "@DIGEST@" in ds:DigestValue and "@SIGVALUE@" in
 * ds:SignatureValue. The digest is SHA-256 of the node-set of k:KmsRequest, the HMAC is over the
 * node-set of ds:SignedInfo, both canonicalised by libxml2 on separately parsed documents with
 * XPath (not the parser's code), hashed by OpenSSL. split puts whitespace inside the base64 of
 * the digest (base64Binary allows it). Returns the signed text (malloc'ed), or NULL.
 */
static char *
sign_by_hand(const char *tmpl, bool split)
{
	char b64[45], digest_text[64];
	uint8_t md[32], mac[32];
	unsigned int mac_len = 0;
	xmlChar *c = NULL;
	xmlDocPtr doc;
	char *t1, *t2 = NULL;
	int n;

	if ((doc = parse_bytes((const uint8_t *)tmpl, strlen(tmpl))) == NULL) {
		return NULL;
	}
	n = c14n_element(doc, "k:KmsRequest", &c);
	xmlFreeDoc(doc);
	if (n <= 0 || SHA256(c, (size_t)n, md) == NULL || base64_32(b64, md) != 0) {
		xmlFree(c);
		return NULL;
	}
	xmlFree(c);
	if (split) {
		snprintf(digest_text, sizeof(digest_text), "%.20s\n\t %s", b64, b64 + 20);
	} else {
		snprintf(digest_text, sizeof(digest_text), "%s", b64);
	}
	t1 = subst(tmpl, "@DIGEST@", digest_text);
	if ((doc = parse_bytes((const uint8_t *)t1, strlen(t1))) != NULL) {
		n = c14n_element(doc, "ds:SignedInfo", &c);
		xmlFreeDoc(doc);
		if (n > 0 &&
		    HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), c, (size_t)n, mac, &mac_len) !=
			    NULL &&
		    mac_len == 32 && base64_32(b64, mac) == 0) {
			t2 = subst(t1, "@SIGVALUE@", b64);
		}
		xmlFree(c);
	}
	free(t1);
	return t2;
}

/*
 * xmlsec1 --sign (out != NULL: the signed document into *out, malloc'ed) or --verify (out NULL)
 * of text, with hmac_key and Id as the ID attribute of KmsRequest. Returns xmlsec1's exit
 * status (0: signed, or verified), -1 if it could not be run.
 */
static int
run_xmlsec1(const char *text, char **out)
{
	char dir[256], key[320], in[320], res[320], log_path[320];
	char a0[] = "xmlsec1", a_hmac[] = "--hmackey", a_id[] = "--id-attr:Id",
	     a_node[] = "urn:3gpp:ns:mcsecKMSInterface:1.0:KmsRequest", a_out[] = "--output";
	char a_sign[] = "--sign", a_verify[] = "--verify";
	char *argv[10];
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, status = 0, rc = -1;
	pid_t pid;
	FILE *f;

	if (out != NULL) {
		*out = NULL;
	}
	if (kms_test_tmpdir(dir, sizeof(dir), "xmlsec1") != 0) {
		return -1;
	}
	snprintf(key, sizeof(key), "%s/key", dir);
	snprintf(in, sizeof(in), "%s/in.xml", dir);
	snprintf(res, sizeof(res), "%s/out.xml", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	if ((f = fopen(key, "wb")) == NULL ||
	    fwrite(hmac_key, 1, sizeof(hmac_key), f) != sizeof(hmac_key) || fclose(f) != 0 ||
	    (f = fopen(in, "wb")) == NULL || fwrite(text, 1, strlen(text), f) != strlen(text) ||
	    fclose(f) != 0) {
		goto out;
	}
	argv[0] = a0;
	argv[1] = out != NULL ? a_sign : a_verify;
	argv[2] = a_hmac;
	argv[3] = key;
	argv[4] = a_id;
	argv[5] = a_node;
	if (out != NULL) {
		argv[6] = a_out;
		argv[7] = res;
		argv[8] = in;
		argv[9] = NULL;
	} else {
		argv[6] = in;
		argv[7] = NULL;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		goto out;
	}
	if (pid == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
			_exit(126);
		}
		execv(XMLSEC1, argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		goto out;
	}
	rc = WEXITSTATUS(status);
	if (rc == 0 && out != NULL) {
		if (read_file(res, &buf, &len) != 0) {
			rc = -1;
			goto out;
		}
		buf[len] = '\0';
		*out = (char *)buf;
	}
out:
	kms_test_rmdir(dir);
	return rc;
}

/* xmlsec1 is a declared test dependency (deploy/install-deps): its absence is a failure. */
static bool
have_xmlsec1(void)
{
	if (access(XMLSEC1, X_OK) != 0) {
		fprintf(stderr, "%s is missing: install xmlsec1 (deploy/install-deps)\n", XMLSEC1);
		CU_FAIL("xmlsec1 not installed");
		return false;
	}
	return true;
}

/*
 * Parse the signed request text and check what kms-hsmd will: HMAC-SHA256 under hmac_key of
 * sig.signed_info is sig.value; sig.signed_info is the XPath C14N of ds:SignedInfo; sig.value
 * and sig.key_name are those of the text.
 */
static void
check_signed(const char *text, const char *key_name)
{
	char err[KMS_XML_ERR_LEN], b64[128];
	uint8_t mac[32], want[32];
	unsigned int mac_len = 0;
	xmlChar *c = NULL;
	xmlDocPtr doc;
	int n;

	memset(&req, 0x6b, sizeof(req));
	if (parse_str(&req, err, sizeof(err), text) != KMS_OK) {
		fprintf(stderr, "signed request refused: %s\n", err);
		CU_FAIL_FATAL("signed request refused");
	}
	CU_ASSERT(req.is_signed);
	CU_ASSERT_STRING_EQUAL(req.sig.key_name, key_name);
	CU_ASSERT_FATAL(req.sig.signed_info_len > 0 &&
			req.sig.signed_info_len <= KMS_XML_MAX_SIGNED_INFO);
	CU_ASSERT_PTR_NOT_NULL(HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), req.sig.signed_info,
				    req.sig.signed_info_len, mac, &mac_len));
	CU_ASSERT_EQUAL(mac_len, 32);
	CU_ASSERT_EQUAL(memcmp(mac, req.sig.value, 32), 0);
	doc = parse_bytes((const uint8_t *)text, strlen(text));
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	n = c14n_element(doc, "ds:SignedInfo", &c);
	CU_ASSERT(n > 0 && (size_t)n == req.sig.signed_info_len &&
		  memcmp(c, req.sig.signed_info, (size_t)n) == 0);
	CU_ASSERT(xpath_text(doc, "//ds:SignatureValue", b64, sizeof(b64)) > 0);
	{
		/* the text with its whitespace removed */
		size_t i, j = 0;

		for (i = 0; b64[i] != '\0'; i++) {
			if (b64[i] != ' ' && b64[i] != '\n' && b64[i] != '\t' && b64[i] != '\r') {
				b64[j++] = b64[i];
			}
		}
		b64[j] = '\0';
	}
	CU_ASSERT_EQUAL(unbase64(want, 32, b64), 0);
	CU_ASSERT_EQUAL(memcmp(want, req.sig.value, 32), 0);
	xmlFree(c);
	xmlFreeDoc(doc);
}

/* The golden request of xmlsec1; an unsigned request leaves sig zeroed. */
static void
test_signed_golden(void)
{
	char err[KMS_XML_ERR_LEN];

	static const char head[] = "<ds:SignedInfo " NS_ATTR " " SIG_NS_ATTR ">";

	check_signed(req_signed, SIG_KEY_NAME);
	CU_ASSERT_EQUAL(memcmp(req.sig.signed_info, head, sizeof(head) - 1), 0);
	memset(&req, 0x6b, sizeof(req));
	CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), req_minimal), KMS_OK);
	CU_ASSERT_FALSE(req.is_signed);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&req.sig, sizeof(req.sig)));
}

/*
 * Signed by hand (sign_by_hand): other prefixes (the interface namespace with one, ds as the
 * default namespace), namespaces declared on the root that C14N must carry onto KmsRequest and
 * SignedInfo, whitespace between all elements and inside the base64, two C14N transforms, Ids on
 * Signature and SignedInfo. xmlsec1 verifies it as well.
 */
static const char req_hand_tmpl[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<k:SignedKmsRequest xmlns:k=\"urn:3gpp:ns:mcsecKMSInterface:1.0\"\n"
	"    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:x=\"urn:example:ext\"\n"
	"    Id=\"outer\">\n"
	"  <k:KmsRequest Id=\"req1\" Version=\"1.0.0\" x:note=\"n\">\n"
	"    <k:UserUri>sip:alice@example.org</k:UserUri>\n"
	"    <k:KmsUri>kms.example.org</k:KmsUri>\n"
	"    <k:Time>2026-11-28T20:50:27+01:00</k:Time>\n"
	"    <k:DeviceId>imei:35-209900-176148-1</k:DeviceId>\n"
	"    <k:ClientReqUrl>https://kms.example.org/keymanagement/identity/v1/keyprov"
	"</k:ClientReqUrl>\n"
	"  </k:KmsRequest>\n"
	"  <Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"sig\">\n"
	"    <SignedInfo Id=\"si\">\n"
	"      <CanonicalizationMethod " SIG_ALG_C14N "></CanonicalizationMethod>\n"
	"      <SignatureMethod " SIG_ALG_HMAC ">\n      </SignatureMethod>\n"
	"      <Reference URI=\"#req1\">\n"
	"        <Transforms>\n"
	"          <Transform " SIG_ALG_C14N "/>\n"
	"          <Transform " SIG_ALG_C14N "> </Transform>\n"
	"        </Transforms>\n"
	"        <DigestMethod " SIG_ALG_SHA "/>\n"
	"        <DigestValue>\n          @DIGEST@\n        </DigestValue>\n"
	"      </Reference>\n"
	"    </SignedInfo>\n"
	"    <SignatureValue>\n      @SIGVALUE@\n    </SignatureValue>\n"
	"    <KeyInfo>\n      <KeyName>ik.13.alice@example.org</KeyName>\n    </KeyInfo>\n"
	"  </Signature>\n"
	"</k:SignedKmsRequest>\n";

/* The same without transforms, without whitespace, ds with a prefix of its own. */
static const char req_hand_plain_tmpl[] =
	"<SignedKmsRequest " NS_ATTR "><KmsRequest Id=\"r-2\">"
	"<UserUri>sip:carol@example.org</UserUri><KmsUri>kms.example.org</KmsUri>"
	"<Time>2026-11-28T19:50:27Z</Time><ClientReqUrl>https://kms.example.org/keymanagement/"
	"identity/v1/init</ClientReqUrl></KmsRequest>"
	"<sig:Signature xmlns:sig=\"http://www.w3.org/2000/09/xmldsig#\"><sig:SignedInfo>"
	"<sig:CanonicalizationMethod " SIG_ALG_C14N "/><sig:SignatureMethod " SIG_ALG_HMAC "/>"
	"<sig:Reference URI=\"#r-2\"><sig:DigestMethod " SIG_ALG_SHA "/>"
	"<sig:DigestValue>@DIGEST@</sig:DigestValue></sig:Reference></sig:SignedInfo>"
	"<sig:SignatureValue>@SIGVALUE@</sig:SignatureValue>"
	"<sig:KeyInfo><sig:KeyName>tk.7.carol@example.org</sig:KeyName></sig:KeyInfo>"
	"</sig:Signature></SignedKmsRequest>";

static void
test_signed_by_hand(void)
{
	static const char hand_head[] =
		"<SignedInfo xmlns=\"http://www.w3.org/2000/09/xmldsig#\" "
		"xmlns:k=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" xmlns:x=\"urn:example:ext\" "
		"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" Id=\"si\">\n";
	static const char plain_head[] =
		"<sig:SignedInfo " NS_ATTR " xmlns:sig=\"http://www.w3.org/2000/09/xmldsig#\">"
		"<sig:CanonicalizationMethod";
	char *text, *edited;
	int split;

	for (split = 0; split < 2; split++) {
		text = sign_by_hand(req_hand_tmpl, split == 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		check_signed(text, "ik.13.alice@example.org");
		CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:alice@example.org");
		CU_ASSERT_EQUAL(req.time, 1795895427);
		CU_ASSERT_EQUAL(req.version, KMS_XML_REQ_VERSION_1_0_0);
		/* Inclusive C14N: SignedInfo carries every namespace in scope. */
		CU_ASSERT_EQUAL(memcmp(req.sig.signed_info, hand_head, sizeof(hand_head) - 1), 0);
		if (have_xmlsec1()) {
			CU_ASSERT_EQUAL(run_xmlsec1(text, NULL), 0);
		}
		/* One changed character of KmsRequest: the digest no longer matches. */
		edited = subst(text, "imei:35", "imei:36");
		CU_ASSERT_EQUAL(parse_str(&req, NULL, 0, edited), KMS_ERR_AUTH);
		if (have_xmlsec1()) {
			CU_ASSERT_NOT_EQUAL(run_xmlsec1(edited, NULL), 0);
		}
		free(edited);
		free(text);
	}
	text = sign_by_hand(req_hand_plain_tmpl, false);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	check_signed(text, "tk.7.carol@example.org");
	CU_ASSERT_STRING_EQUAL(req.user_uri, "sip:carol@example.org");
	CU_ASSERT_EQUAL(memcmp(req.sig.signed_info, plain_head, sizeof(plain_head) - 1), 0);
	free(text);
}

/* A template xmlsec1 signs at test time: comments, CDATA, references, extensions, no Transforms. */
static const char req_xmlsec1_tmpl[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!-- signed by xmlsec1 at test time -->\n"
	"<SignedKmsRequest " NS_ATTR "\n"
	"    xmlns:dsig=\"http://www.w3.org/2000/09/xmldsig#\" xmlns:x=\"urn:example:ext\">\n"
	"  <KmsRequest Version=\"1.1.0\" x:note=\"a&#9;b\" Id=\"req1\">\n"
	"    <UserUri>sip:alice@example.org</UserUri>\n"
	"    <KmsUri>kms.example.org</KmsUri>\n"
	"    <!-- a comment, not in the digest -->\n"
	"    <Time>2026-11-28T19:50:27Z</Time>\n"
	"    <ClientId>tel:+441234567890</ClientId>\n"
	"    "
	"<ClientReqUrl><![CDATA[https://kms.example.org/keymanagement/identity/v1/init?a=1&b=2]]>"
	"</ClientReqUrl>\n"
	"    <ClientError><ErrorCode>0</ErrorCode>"
	"<ErrorMsg>rotate &lt;InK&gt; &amp; TrK &#x263A;\r\n</ErrorMsg></ClientError>\n"
	"    <x:Extension x:b=\"2\"><x:Inner>ignored</x:Inner></x:Extension>\n"
	"  </KmsRequest>\n"
	"  <dsig:Signature Id=\"sig\">\n"
	"    <dsig:SignedInfo>\n"
	"      <dsig:CanonicalizationMethod " SIG_ALG_C14N "/>\n"
	"      <dsig:SignatureMethod " SIG_ALG_HMAC "/>\n"
	"      <dsig:Reference URI=\"#req1\">\n"
	"        <dsig:DigestMethod " SIG_ALG_SHA "/>\n"
	"        <dsig:DigestValue></dsig:DigestValue>\n"
	"      </dsig:Reference>\n"
	"    </dsig:SignedInfo>\n"
	"    <dsig:SignatureValue/>\n"
	"    <dsig:KeyInfo>\n"
	"      <dsig:KeyName>ik.13.alice@example.org</dsig:KeyName>\n"
	"    </dsig:KeyInfo>\n"
	"  </dsig:Signature>\n"
	"</SignedKmsRequest>\n";

static void
test_signed_xmlsec1(void)
{
	char *text = NULL, *edited;

	if (!have_xmlsec1()) {
		return;
	}
	CU_ASSERT_EQUAL_FATAL(run_xmlsec1(req_xmlsec1_tmpl, &text), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	check_signed(text, "ik.13.alice@example.org");
	CU_ASSERT_STRING_EQUAL(req.client_req_url,
			       "https://kms.example.org/keymanagement/identity/v1/init?a=1&b=2");
	CU_ASSERT_EQUAL(req.num_extensions, 1);
	CU_ASSERT_EQUAL(run_xmlsec1(text, NULL), 0);
	/* A changed character, in a value or in a comment-free part of the markup. */
	edited = subst(text, "tel:+44", "tel:+45");
	CU_ASSERT_EQUAL(parse_str(&req, NULL, 0, edited), KMS_ERR_AUTH);
	CU_ASSERT_NOT_EQUAL(run_xmlsec1(edited, NULL), 0);
	free(edited);
	edited = subst(text, "x:b=\"2\"", "x:b=\"3\"");
	CU_ASSERT_EQUAL(parse_str(&req, NULL, 0, edited), KMS_ERR_AUTH);
	free(edited);
	/* The comment is not signed (C14N without comments): changing it changes nothing. */
	edited = subst(text, "not in the digest", "NOT in the digest");
	check_signed(edited, "ik.13.alice@example.org");
	free(edited);
	free(text);
}

struct sig_case {
	const char *name;
	const char *from; /* replaced in req_signed */
	const char *to;
	int code;
	const char *msg; /* a part of the error message (KMS_OK: unused) */
};

#define DIGEST_ERR "ds:DigestValue is not the base64 of 32 bytes"
#define SIGVAL_ERR "ds:SignatureValue is not the base64 of 32 bytes"
#define NOT_REQ    "ds:Reference: URI does not name KmsRequest"
#define MISMATCH   "ds:Signature: the digest does not match KmsRequest"

static const struct sig_case sig_cases[] = {
	/* What the signature covers: KmsRequest, with the namespaces in scope. */
	{"a changed character", "sip:bob@", "sip:rob@", KMS_ERR_AUTH, MISMATCH},
	{"the same time, written otherwise", "19:50:27Z", "19:50:27+00:00", KMS_ERR_AUTH, MISMATCH},
	{"whitespace between elements", "</KmsUri><Time>", "</KmsUri> <Time>", KMS_ERR_AUTH,
	 MISMATCH},
	{"an added extension", "</ClientReqUrl></KmsRequest>",
	 "</ClientReqUrl><x:e xmlns:x=\"urn:x\"/></KmsRequest>", KMS_ERR_AUTH, MISMATCH},
	{"an attribute added", SIG_REQ_OPEN, "<KmsRequest Id=\"req1\" Version=\"1.0.0\">",
	 KMS_ERR_AUTH, MISMATCH},
	{"a namespace declared on KmsRequest", SIG_REQ_OPEN,
	 "<KmsRequest xmlns:x=\"urn:x\" Id=\"req1\" Version=\"1.1.0\">", KMS_ERR_AUTH, MISMATCH},
	{"a namespace declared on the root", " Id=\"s\">", " xmlns:x=\"urn:x\" Id=\"s\">",
	 KMS_ERR_AUTH, MISMATCH},
	{"another digest", "RWqG0", "SWqG0", KMS_ERR_AUTH, MISMATCH},
	/* Algorithms. */
	{"exclusive C14N", SIG_C14N,
	 "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
	 KMS_ERR_PARSE, "ds:CanonicalizationMethod: unsupported Algorithm"},
	{"C14N with comments", SIG_C14N,
	 "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/"
	 "REC-xml-c14n-20010315#WithComments\"/>",
	 KMS_ERR_PARSE, "ds:CanonicalizationMethod: unsupported Algorithm"},
	{"C14N 1.1", SIG_C14N,
	 "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>",
	 KMS_ERR_PARSE, "ds:CanonicalizationMethod: unsupported Algorithm"},
	{"no canonicalization Algorithm", SIG_C14N, "<ds:CanonicalizationMethod/>", KMS_ERR_PARSE,
	 "ds:CanonicalizationMethod: missing Algorithm"},
	{"empty canonicalization Algorithm", SIG_C14N,
	 "<ds:CanonicalizationMethod Algorithm=\"\"/>", KMS_ERR_PARSE,
	 "ds:CanonicalizationMethod: unsupported Algorithm"},
	{"Algorithm with a space", SIG_C14N,
	 "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315 "
	 "\"/>",
	 KMS_ERR_PARSE, "ds:CanonicalizationMethod: unsupported Algorithm"},
	{"no CanonicalizationMethod", SIG_C14N, "", KMS_ERR_PARSE,
	 "ds:SignedInfo: missing ds:CanonicalizationMethod"},
	{"hmac-sha1", SIG_METHOD,
	 "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#hmac-sha1\"/>",
	 KMS_ERR_PARSE, "ds:SignatureMethod: unsupported Algorithm"},
	{"rsa-sha256", SIG_METHOD,
	 "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
	 KMS_ERR_PARSE, "ds:SignatureMethod: unsupported Algorithm"},
	{"no SignatureMethod Algorithm", SIG_METHOD, "<ds:SignatureMethod/>", KMS_ERR_PARSE,
	 "ds:SignatureMethod: missing Algorithm"},
	{"HMACOutputLength", SIG_METHOD,
	 "<ds:SignatureMethod " SIG_ALG_HMAC
	 "><ds:HMACOutputLength>128</ds:HMACOutputLength></ds:SignatureMethod>",
	 KMS_ERR_PARSE, "ds:SignatureMethod: HMACOutputLength not allowed"},
	{"text in SignatureMethod", SIG_METHOD,
	 "<ds:SignatureMethod " SIG_ALG_HMAC ">x</ds:SignatureMethod>", KMS_ERR_PARSE,
	 "ds:SignatureMethod: text between elements"},
	{"SignatureMethod first", SIG_C14N SIG_METHOD, SIG_METHOD SIG_C14N, KMS_ERR_PARSE,
	 "ds:SignedInfo: missing ds:CanonicalizationMethod"},
	{"sha1", SIG_DMETHOD,
	 "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/>", KMS_ERR_PARSE,
	 "ds:DigestMethod: unsupported Algorithm"},
	{"sha512", SIG_DMETHOD,
	 "<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha512\"/>", KMS_ERR_PARSE,
	 "ds:DigestMethod: unsupported Algorithm"},
	{"no DigestMethod", SIG_DMETHOD, "", KMS_ERR_PARSE,
	 "ds:Reference: missing ds:DigestMethod"},
	{"enveloped-signature transform", SIG_TRANSFORM,
	 "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
	 KMS_ERR_PARSE, "ds:Transform: unsupported Algorithm"},
	{"exclusive C14N transform", SIG_TRANSFORM,
	 "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>", KMS_ERR_PARSE,
	 "ds:Transform: unsupported Algorithm"},
	{"XPath transform", SIG_TRANSFORM,
	 "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
	 "<ds:XPath>self::text()</ds:XPath></ds:Transform>",
	 KMS_ERR_PARSE, "ds:Transform: unsupported Algorithm"},
	{"an element in a C14N transform", SIG_TRANSFORM,
	 "<ds:Transform " SIG_ALG_C14N "><ds:XPath>1</ds:XPath></ds:Transform>", KMS_ERR_PARSE,
	 "ds:Transform: unexpected element"},
	{"three transforms", SIG_TRANSFORM, SIG_TRANSFORM SIG_TRANSFORM SIG_TRANSFORM,
	 KMS_ERR_PARSE, "ds:Transforms: more than 2 ds:Transform"},
	{"no transform in Transforms", SIG_TRANSFORM, "", KMS_ERR_PARSE,
	 "ds:Transforms: missing ds:Transform"},
	{"Transforms after DigestMethod",
	 "<ds:Transforms>" SIG_TRANSFORM "</ds:Transforms>" SIG_DMETHOD,
	 SIG_DMETHOD "<ds:Transforms>" SIG_TRANSFORM "</ds:Transforms>", KMS_ERR_PARSE,
	 "ds:Reference: missing ds:DigestValue"},
	/* The Reference. */
	{"two References", SIG_REFERENCE, SIG_REFERENCE SIG_REFERENCE, KMS_ERR_PARSE,
	 "ds:SignedInfo: more than one ds:Reference"},
	{"no Reference", SIG_REFERENCE, "", KMS_ERR_PARSE, "ds:SignedInfo: missing ds:Reference"},
	{"URI empty (the whole document)", SIG_REF_OPEN, "<ds:Reference URI=\"\">", KMS_ERR_PARSE,
	 NOT_REQ},
	{"URI names the root", SIG_REF_OPEN, "<ds:Reference URI=\"#s\">", KMS_ERR_PARSE, NOT_REQ},
	{"URI in another case", SIG_REF_OPEN, "<ds:Reference URI=\"#REQ1\">", KMS_ERR_PARSE,
	 NOT_REQ},
	{"URI without #", SIG_REF_OPEN, "<ds:Reference URI=\"req1\">", KMS_ERR_PARSE, NOT_REQ},
	{"URI an XPointer", SIG_REF_OPEN, "<ds:Reference URI=\"#xpointer(id('req1'))\">",
	 KMS_ERR_PARSE, NOT_REQ},
	{"URI the document XPointer", SIG_REF_OPEN, "<ds:Reference URI=\"#xpointer(/)\">",
	 KMS_ERR_PARSE, NOT_REQ},
	{"URI external", SIG_REF_OPEN, "<ds:Reference URI=\"http://example.org/r.xml#req1\">",
	 KMS_ERR_PARSE, NOT_REQ},
	{"no URI", SIG_REF_OPEN, "<ds:Reference>", KMS_ERR_PARSE, "ds:Reference: missing URI"},
	{"KmsRequest without Id", SIG_REQ_OPEN, "<KmsRequest Version=\"1.1.0\">", KMS_ERR_PARSE,
	 "ds:Reference: KmsRequest has no Id"},
	{"KmsRequest with an empty Id", SIG_REQ_OPEN, "<KmsRequest Id=\"\" Version=\"1.1.0\">",
	 KMS_ERR_PARSE, "ds:Reference: KmsRequest has no Id"},
	{"the root has the same Id", " Id=\"s\">", " Id=\"req1\">", KMS_ERR_PARSE,
	 "ds:Reference: the Id of KmsRequest is not unique"},
	{"an extension has the same Id", "</ClientReqUrl></KmsRequest>",
	 "</ClientReqUrl><x:e xmlns:x=\"urn:x\" Id=\"req1\"/></KmsRequest>", KMS_ERR_PARSE,
	 "ds:Reference: the Id of KmsRequest is not unique"},
	{"an xml:id with the same value", "</ClientReqUrl></KmsRequest>",
	 "</ClientReqUrl><x:e xmlns:x=\"urn:x\" xml:id=\"req1\"/></KmsRequest>", KMS_ERR_PARSE,
	 "ds:Reference: the Id of KmsRequest is not unique"},
	{"Reference with Type", SIG_REF_OPEN,
	 "<ds:Reference URI=\"#req1\" Type=\"http://www.w3.org/2000/09/xmldsig#Object\">",
	 KMS_ERR_PARSE, "ds:Reference: unknown attribute"},
	{"Reference with Id", SIG_REF_OPEN, "<ds:Reference Id=\"r\" URI=\"#req1\">", KMS_ERR_PARSE,
	 "ds:Reference: unknown attribute"},
	/* base64. */
	{"not base64", SIG_DIGEST, "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7Xty!OA=", KMS_ERR_ENCODING,
	 DIGEST_ERR},
	{"base64url", SIG_DIGEST, "RWqG0XZ_IKdIOV0WTFdiCmTKxXe4C_qFTwGt7XtyYOA=", KMS_ERR_ENCODING,
	 DIGEST_ERR},
	{"31 bytes", SIG_DIGEST, "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYA==", KMS_ERR_ENCODING,
	 DIGEST_ERR},
	{"33 bytes", SIG_DIGEST, "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYOAA", KMS_ERR_ENCODING,
	 DIGEST_ERR},
	{"36 bytes", SIG_DIGEST, "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYOAAAAA",
	 KMS_ERR_ENCODING, DIGEST_ERR},
	{"32 bytes, no padding", SIG_DIGEST, "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYOA",
	 KMS_ERR_ENCODING, DIGEST_ERR},
	{"padding inside", SIG_DIGEST, "RWqG0XZ/IKdIOV0W=FdiCmTKxXe4C/qFTwGt7XtyYOA",
	 KMS_ERR_ENCODING, DIGEST_ERR},
	{"non-zero bits after the data", SIG_DIGEST,
	 "RWqG0XZ/IKdIOV0WTFdiCmTKxXe4C/qFTwGt7XtyYOB=", KMS_ERR_ENCODING, DIGEST_ERR},
	{"empty DigestValue", SIG_DIGEST, "", KMS_ERR_ENCODING, DIGEST_ERR},
	{"a NUL character reference", SIG_DIGEST,
	 "RWqG0XZ/IKdIOV0W&#0;TFdiCmTKxXe4C/qFTwGt7XtyYOA=", KMS_ERR_PARSE, "well-formed"},
	{"SignatureValue of 31 bytes", SIG_VALUE,
	 "F5lMM3gZhwMq7UIp4Kv3XdlVxHS8kU3hDclKMPXHaw==", KMS_ERR_ENCODING, SIGVAL_ERR},
	{"SignatureValue of 33 bytes", SIG_VALUE, "F5lMM3gZhwMq7UIp4Kv3XdlVxHS8kU3hDclKMPXHa+wA",
	 KMS_ERR_ENCODING, SIGVAL_ERR},
	{"SignatureValue of 4 bytes", SIG_VALUE, "AAAAAA==", KMS_ERR_ENCODING, SIGVAL_ERR},
	{"SignatureValue with Id", "<ds:SignatureValue>", "<ds:SignatureValue Id=\"v\">",
	 KMS_ERR_PARSE, "ds:SignatureValue: unknown attribute"},
	/* KeyInfo. */
	{"no KeyInfo", SIG_KEYINFO, "", KMS_ERR_PARSE, "ds:Signature: missing ds:KeyInfo"},
	{"empty KeyInfo", SIG_KEYINFO, "<ds:KeyInfo/>", KMS_ERR_PARSE,
	 "ds:KeyInfo: missing ds:KeyName"},
	{"two KeyNames", "</ds:KeyName>", "</ds:KeyName><ds:KeyName>ik.1</ds:KeyName>",
	 KMS_ERR_PARSE, "ds:KeyInfo: more than one ds:KeyName"},
	{"nine KeyNames", "</ds:KeyName>",
	 "</ds:KeyName><ds:KeyName>1</ds:KeyName><ds:KeyName>2</ds:KeyName><ds:KeyName>3</"
	 "ds:KeyName>"
	 "<ds:KeyName>4</ds:KeyName><ds:KeyName>5</ds:KeyName><ds:KeyName>6</ds:KeyName>"
	 "<ds:KeyName>7</ds:KeyName><ds:KeyName>8</ds:KeyName>",
	 KMS_ERR_PARSE, "ds:KeyInfo: too many elements"},
	{"X509Data before KeyName", "<ds:KeyInfo>", "<ds:KeyInfo><ds:X509Data/>", KMS_ERR_PARSE,
	 "ds:KeyInfo: missing ds:KeyName"},
	{"KeyValue after KeyName", "</ds:KeyName>", "</ds:KeyName><ds:KeyValue/>", KMS_ERR_PARSE,
	 "ds:KeyInfo: unexpected element after ds:KeyName"},
	{"KeyInfo with Id", "<ds:KeyInfo>", "<ds:KeyInfo Id=\"k\">", KMS_ERR_PARSE,
	 "ds:KeyInfo: unknown attribute"},
	{"space in KeyName", SIG_KEY_NAME, "ik.12 bob", KMS_ERR_PARSE,
	 "ds:KeyName: invalid character"},
	{"space around KeyName", SIG_KEY_NAME, " ik.12.bob ", KMS_ERR_PARSE,
	 "ds:KeyName: invalid character"},
	{"non-ASCII KeyName", SIG_KEY_NAME,
	 "ik.12.b\xc3\xb6"
	 "b",
	 KMS_ERR_PARSE, "ds:KeyName: invalid character"},
	{"control character in KeyName", SIG_KEY_NAME, "ik.12&#x1;", KMS_ERR_PARSE, "well-formed"},
	{"empty KeyName", SIG_KEY_NAME, "", KMS_ERR_PARSE, "ds:KeyName is empty"},
	/* Elements and text where none belong. */
	{"ds:Object", SIG_KEYINFO, SIG_KEYINFO "<ds:Object><KmsRequest/></ds:Object>",
	 KMS_ERR_PARSE, "ds:Signature: ds:Object not allowed"},
	{"ds:Object for KeyInfo", SIG_KEYINFO, "<ds:Object/>", KMS_ERR_PARSE,
	 "ds:Signature: missing ds:KeyInfo"},
	{"an element in DigestValue", SIG_DIGEST, "<ds:X/>" SIG_DIGEST, KMS_ERR_PARSE,
	 "ds:DigestValue: mixed content"},
	{"an element in SignatureValue", SIG_VALUE, SIG_VALUE "<b/>", KMS_ERR_PARSE,
	 "ds:SignatureValue: mixed content"},
	{"an element in KeyName", SIG_KEY_NAME, "ik.<b>12</b>", KMS_ERR_PARSE,
	 "ds:KeyName: mixed content"},
	{"an element in CanonicalizationMethod", SIG_C14N,
	 "<ds:CanonicalizationMethod " SIG_ALG_C14N "><x:y xmlns:x=\"urn:x\"/>"
	 "</ds:CanonicalizationMethod>",
	 KMS_ERR_PARSE, "ds:CanonicalizationMethod: unexpected element"},
	{"an element after the Reference", "</ds:Reference>",
	 "</ds:Reference><x:y xmlns:x=\"urn:x\"/>", KMS_ERR_PARSE,
	 "ds:SignedInfo: unexpected element after ds:Reference"},
	{"an element after the DigestValue", "</ds:DigestValue>",
	 "</ds:DigestValue><ds:DigestValue/>", KMS_ERR_PARSE,
	 "ds:Reference: unexpected element after ds:DigestValue"},
	{"an element first in Signature", "<ds:Signature>", "<ds:Signature><ds:KeyInfo/>",
	 KMS_ERR_PARSE, "ds:Signature: missing ds:SignedInfo"},
	{"text in SignedInfo", SIG_C14N, SIG_C14N "text", KMS_ERR_PARSE,
	 "ds:SignedInfo: text between elements"},
	{"text in Signature", SIG_KEYINFO, SIG_KEYINFO "text", KMS_ERR_PARSE,
	 "ds:Signature: text between elements"},
	{"no SignedInfo", SIG_SIGNED_INFO, "", KMS_ERR_PARSE,
	 "ds:Signature: missing ds:SignedInfo"},
	{"two SignedInfo", SIG_SIGNED_INFO, SIG_SIGNED_INFO SIG_SIGNED_INFO, KMS_ERR_PARSE,
	 "ds:Signature: missing ds:SignatureValue"},
	{"SignatureValue first", SIG_SIGNED_INFO SIG_SIGVALUE, SIG_SIGVALUE SIG_SIGNED_INFO,
	 KMS_ERR_PARSE, "ds:Signature: missing ds:SignedInfo"},
	{"no SignatureValue", SIG_SIGVALUE, "", KMS_ERR_PARSE,
	 "ds:Signature: missing ds:SignatureValue"},
	{"SignedInfo in another namespace", "<ds:SignedInfo>",
	 "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2009/xmldsig11#\">", KMS_ERR_PARSE,
	 "ds:Signature: missing ds:SignedInfo"},
	/* Attributes. */
	{"unknown attribute on Signature", "<ds:Signature>", "<ds:Signature Foo=\"1\">",
	 KMS_ERR_PARSE, "ds:Signature: unknown attribute"},
	{"xml:lang on Signature", "<ds:Signature>", "<ds:Signature xml:lang=\"en\">", KMS_ERR_PARSE,
	 "ds:Signature: attribute in a namespace"},
	{"a foreign attribute on SignedInfo", "<ds:SignedInfo>",
	 "<ds:SignedInfo xmlns:x=\"urn:x\" x:a=\"1\">", KMS_ERR_PARSE,
	 "ds:SignedInfo: attribute in a namespace"},
	{"an attribute on DigestValue", "<ds:DigestValue>", "<ds:DigestValue Id=\"d\">",
	 KMS_ERR_PARSE, "ds:DigestValue: unknown attribute"},
	{"an attribute on Transforms", "<ds:Transforms>", "<ds:Transforms Id=\"t\">", KMS_ERR_PARSE,
	 "ds:Transforms: unknown attribute"},
	/* C14N 1.0 leaves relative namespace URIs undefined; libxml2 refuses a document with one
	 * anywhere (so SignedInfo, canonicalised first, fails either way). */
	{"a relative namespace URI in scope of SignedInfo", " Id=\"s\">",
	 " xmlns:x=\"urn/:x\" Id=\"s\">", KMS_ERR_PARSE, "ds:SignedInfo: cannot be canonicalised"},
	{"a relative namespace URI in KmsRequest", "</ClientReqUrl></KmsRequest>",
	 "</ClientReqUrl><x:e xmlns:x=\"x\"/></KmsRequest>", KMS_ERR_PARSE,
	 "cannot be canonicalised"},
	{"a second attribute on DigestMethod", SIG_DMETHOD,
	 "<ds:DigestMethod " SIG_ALG_SHA " Id=\"m\"/>", KMS_ERR_PARSE,
	 "ds:DigestMethod: unknown attribute"},
};

/* Variations that are not refused (parsed, the HMAC left to kms-hsmd). */
static const struct sig_case sig_ok_cases[] = {
	{"no Transforms", "<ds:Transforms>" SIG_TRANSFORM "</ds:Transforms>", "", KMS_OK, NULL},
	{"two transforms", SIG_TRANSFORM, SIG_TRANSFORM SIG_TRANSFORM, KMS_OK, NULL},
	{"whitespace around the digest", SIG_DIGEST, "\n  " SIG_DIGEST " \t\r\n", KMS_OK, NULL},
	{"whitespace inside the digest", "RWqG0XZ/", "RWqG 0XZ/\n\t", KMS_OK, NULL},
	{"whitespace before '='", "YOA=", "YOA =", KMS_OK, NULL},
	{"a CDATA digest", SIG_DIGEST, "<![CDATA[" SIG_DIGEST "]]>", KMS_OK, NULL},
	{"a comment in the digest", "RWqG0XZ/", "RWqG<!-- c -->0XZ/", KMS_OK, NULL},
	{"Ids on Signature and SignedInfo", "<ds:Signature><ds:SignedInfo>",
	 "<ds:Signature Id=\"sig\"><ds:SignedInfo Id=\"si\">", KMS_OK, NULL},
	{"whitespace in an algorithm element", SIG_METHOD,
	 "<ds:SignatureMethod " SIG_ALG_HMAC ">\n  </ds:SignatureMethod>", KMS_OK, NULL},
	{"whitespace between the ds elements", "</ds:SignedInfo>", "\n</ds:SignedInfo>\n", KMS_OK,
	 NULL},
	{"the root without Id", " Id=\"s\">", ">", KMS_OK, NULL},
};

static void
test_signed_refused(void)
{
	struct kms_xml_request before;
	char err[KMS_XML_ERR_LEN];
	uint8_t value[32];
	size_t i, set;
	char *doc;
	int rc;

	CU_ASSERT_EQUAL_FATAL(unbase64(value, 32, SIG_VALUE), 0);
	memset(&before, 0x3d, sizeof(before));
	for (set = 0; set < 2; set++) {
		const struct sig_case *cases = set == 0 ? sig_cases : sig_ok_cases;
		size_t num = set == 0 ? NUM(sig_cases) : NUM(sig_ok_cases);

		for (i = 0; i < num; i++) {
			doc = subst(req_signed, cases[i].from, cases[i].to);
			memcpy(&req, &before, sizeof(req));
			memset(err, 'Z', sizeof(err));
			rc = parse_str(&req, err, sizeof(err), doc);
			if (rc != cases[i].code || memchr(err, '\0', sizeof(err)) == NULL ||
			    (rc != KMS_OK && strstr(err, cases[i].msg) == NULL)) {
				fprintf(stderr, "%s: %d (%s) \"%.*s\"\n", cases[i].name, rc,
					kms_err_name(rc), (int)sizeof(err), err);
				CU_FAIL("signed request");
			}
			if (rc != KMS_OK) {
				CU_ASSERT_EQUAL(memcmp(&req, &before, sizeof(req)), 0);
				/* Our text only: no value from the input. */
				CU_ASSERT_PTR_NULL(strstr(err, "req1"));
				CU_ASSERT_PTR_NULL(strstr(err, "bob"));
				CU_ASSERT_PTR_NULL(strstr(err, "RWqG"));
				CU_ASSERT_PTR_NULL(strstr(err, "http"));
			} else {
				CU_ASSERT(req.is_signed);
				CU_ASSERT_STRING_EQUAL(req.sig.key_name, SIG_KEY_NAME);
				CU_ASSERT_EQUAL(memcmp(req.sig.value, value, 32), 0);
			}
			free(doc);
		}
	}
}

/* libxml2 stays silent on signed requests too (C14N reports its refusals as errors). */
static void
test_signed_silent(void)
{
	char dir[256], path[300], text[256];
	int fd, saved;
	size_t i, n;
	char *doc;

	CU_ASSERT_EQUAL_FATAL(kms_test_tmpdir(dir, sizeof(dir), "xml-sig-stderr"), 0);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	CU_ASSERT_FATAL(saved >= 0);
	CU_ASSERT_FATAL(dup2(fd, 2) == 2);
	for (i = 0; i < NUM(sig_cases); i++) {
		doc = subst(req_signed, sig_cases[i].from, sig_cases[i].to);
		CU_ASSERT_NOT_EQUAL(parse_str(&req, NULL, 0, doc), KMS_OK);
		free(doc);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = kms_test_read_fd(fd, text, sizeof(text));
	close(fd);
	if (n != 0) {
		fprintf(stderr, "written to stderr: %s\n", text);
		CU_FAIL("libxml2 wrote to stderr");
	}
	kms_test_rmdir(dir);
}

/* KeyName 255 characters; SignedInfo up to KMS_XML_MAX_SIGNED_INFO canonical bytes. */
static void
test_signed_limits(void)
{
	char name[KMS_XML_MAX_ID + 2], err[KMS_XML_ERR_LEN];
	char *doc, *pad, *ns;
	size_t base_len, n, off;
	int extra;

	for (extra = 0; extra <= 1; extra++) {
		memset(name, 'k', sizeof(name));
		name[KMS_XML_MAX_ID + (size_t)extra] = '\0';
		doc = subst(req_signed, SIG_KEY_NAME, name);
		if (extra == 0) {
			CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_OK);
			CU_ASSERT_STRING_EQUAL(req.sig.key_name, name);
		} else {
			CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_ERR_RANGE);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "ds:KeyName too long"));
		}
		free(doc);
	}

	/* Spaces inside SignedInfo are canonical content: pad it to 2048 bytes, then 2049. */
	CU_ASSERT_EQUAL_FATAL(parse_str(&req, err, sizeof(err), req_signed), KMS_OK);
	base_len = req.sig.signed_info_len;
	CU_ASSERT_FATAL(base_len < KMS_XML_MAX_SIGNED_INFO);
	for (extra = 0; extra <= 1; extra++) {
		n = KMS_XML_MAX_SIGNED_INFO - base_len + (size_t)extra;
		pad = malloc(n + 32);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pad);
		memcpy(pad, "<ds:SignedInfo>", 15);
		memset(pad + 15, ' ', n);
		pad[15 + n] = '\0';
		doc = subst(req_signed, "<ds:SignedInfo>", pad);
		memset(&req, 0, sizeof(req));
		if (extra == 0) {
			CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_OK);
			CU_ASSERT_EQUAL(req.sig.signed_info_len, KMS_XML_MAX_SIGNED_INFO);
		} else {
			CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_ERR_TOO_LARGE);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "ds:SignedInfo"));
			CU_ASSERT_FALSE(req.is_signed);
		}
		free(doc);
		free(pad);
	}
	/* Namespaces declared on the root: in scope of SignedInfo, so in its canonical form
	 * (refused for its size before the digest is looked at). */
	ns = malloc(64 * 40 + 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	off = 0;
	for (n = 0; n < 40; n++) {
		off += (size_t)snprintf(ns + off, 64, " xmlns:p%zu=\"urn:example:namespace:%zu\"",
					n, n);
	}
	snprintf(ns + off, 16, " Id=\"s\">");
	doc = subst(req_signed, " Id=\"s\">", ns);
	CU_ASSERT_EQUAL(parse_str(&req, err, sizeof(err), doc), KMS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer than 2048"));
	free(doc);
	free(ns);
}

/* ---------------------------------------------------------------------------------------- */
/* The schema copies                                                                         */

static int
read_file(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long size;

	*out = NULL;
	if (f == NULL) {
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)size + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = buf;
	*out_len = (size_t)size;
	return 0;
}

/* docs/schema/ holds byte-identical copies of shared/spec/ (compared where shared/ is there). */
static void
test_schema_copies(void)
{
	static const char *const files[] = {"ts33180-kms-interface.xsd", "xenc-schema.xsd",
					    "xmldsig-core-schema.xsd", "kms-krr-placeholder.xsd"};
	char a_path[512], b_path[512];
	uint8_t *a, *b;
	size_t a_len, b_len, i;

	for (i = 0; i < NUM(files); i++) {
		snprintf(a_path, sizeof(a_path), "%s/%s", SCHEMA_DIR, files[i]);
		snprintf(b_path, sizeof(b_path), "%s/../shared/spec/%s", KMS_SOURCE_DIR, files[i]);
		CU_ASSERT_EQUAL_FATAL(read_file(a_path, &a, &a_len), 0);
		if (read_file(b_path, &b, &b_len) == 0) {
			CU_ASSERT(a_len == b_len && memcmp(a, b, a_len) == 0);
			free(b);
		}
		free(a);
	}
}

/* ---------------------------------------------------------------------------------------- */

static int
suite_init(void)
{
	xmlSchemaParserCtxtPtr pc;

	if (kms_xml_init() != KMS_OK || kms_xml_init() != KMS_OK) {
		return -1;
	}
	fixtures();
	pc = xmlSchemaNewParserCtxt(SCHEMA_DIR "/ts33180-kms-interface.xsd");
	if (pc == NULL) {
		return -1;
	}
	schema = xmlSchemaParse(pc);
	xmlSchemaFreeParserCtxt(pc);
	return schema != NULL ? 0 : -1;
}

static int
suite_cleanup(void)
{
	xmlSchemaFree(schema);
	schema = NULL;
	return 0;
}

static CU_TestInfo render_tests[] = {
	{"every message kind validates, signed and not", test_render_validates},
	{"the validator rejects edited documents", test_render_validator_rejects},
	{"keyprov content and order", test_render_content},
	{"certificates and the cert cache", test_render_certificate},
	{"options: compat algorithm, hex CipherValue, base64 UserID", test_render_options},
	{"invalid descriptions are refused", test_render_invalid},
	{"CarriedKeyName: only on new keys, checked like a key name", test_render_carried_invalid},
	{"a plaintext client's keys: KeyContentType, schema-valid", test_render_plain},
	{"escaping round-trips", test_render_escaping},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo sign_tests[] = {
	{"digest, HMAC, attach, verify independently", test_sign_flow},
	{"a wrong HMAC does not verify", test_sign_wrong_key},
	{"tampering changes the digest", test_sign_tamper},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo datetime_tests[] = {
	{"parse golden and bad values", test_datetime_golden},
	{"format agrees with gmtime_r and round-trips", test_datetime_format},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo request_tests[] = {
	{"golden requests", test_request_golden},
	{"malformed requests: precise errors, output untouched", test_request_malformed},
	{"external entities are never read", test_request_xxe},
	{"depth, element and size limits", test_request_limits},
	{"text length limits", test_request_lengths},
	{"errors never echo the input", test_request_no_echo},
	{"truncation at every offset and bit flips", test_request_truncate_and_flip},
	{"libxml2 never writes to stderr", test_request_silent},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo signed_tests[] = {
	{"the golden request of xmlsec1; unsigned requests have no signature", test_signed_golden},
	{"signed by hand: prefixes, namespaces, whitespace; xmlsec1 agrees", test_signed_by_hand},
	{"signed by xmlsec1 at test time", test_signed_xmlsec1},
	{"refusals: algorithms, Reference, base64, KeyInfo, structure, digest",
	 test_signed_refused},
	{"KeyName and SignedInfo limits", test_signed_limits},
	{"libxml2 never writes to stderr", test_signed_silent},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo schema_tests[] = {
	{"docs/schema copies are those of shared/spec", test_schema_copies},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"xml-render", suite_init, suite_cleanup, NULL, NULL, render_tests},
	{"xml-sign", suite_init, suite_cleanup, NULL, NULL, sign_tests},
	{"xml-datetime", suite_init, suite_cleanup, NULL, NULL, datetime_tests},
	{"xml-request", suite_init, suite_cleanup, NULL, NULL, request_tests},
	{"xml-signed-request", suite_init, suite_cleanup, NULL, NULL, signed_tests},
	{"xml-schema", NULL, NULL, NULL, NULL, schema_tests},
	CU_SUITE_INFO_NULL,
};

static int
write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[1024];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		return -1;
	}
	if (fwrite(buf, 1, len, f) != len) {
		rc = -1;
	}
	if (fclose(f) != 0) {
		rc = -1;
	}
	return rc;
}

/*
 * test_xml --write-samples DIR: every rendered sample response (DIR/<name>.xml and, signed with
 * the test key, DIR/<name>-signed.xml) for checks by hand with xmllint and xmlsec1, and the
 * golden requests as the seeds of tests/fuzz/corpus/fuzz_kmsrequest/ (DIR/fuzz_kmsrequest/),
 * with the signed requests of sign_by_hand() and of xmlsec1 (when it is installed).
 */
static int
write_samples(const char *dir)
{
	static const struct {
		const char *name;
		const char *text;
	} reqs[] = {{"minimal", req_minimal},
		    {"full", req_full},
		    {"spec-style", req_spec},
		    {"signed", req_signed}};
	static const struct {
		const char *name;
		const char *tmpl;
		bool split;
	} hand[] = {{"signed-hand", req_hand_tmpl, true},
		    {"signed-plain", req_hand_plain_tmpl, false}};
	struct kms_xml_response r;
	struct kms_xml_doc *doc;
	uint8_t digest[32], mac[32], *buf;
	char name[128], seeds[1024], si[KMS_SIGNEDINFO_LEN];
	size_t len, i, si_len;
	unsigned int mac_len;
	int s;

	if (kms_xml_init() != KMS_OK) {
		return 1;
	}
	fixtures();
	for (i = 0; i < S_NUM; i++) {
		for (s = 0; s < 2; s++) {
			sample(&r, (enum sample_id)i);
			if (kms_xml_render(&doc, &r) != KMS_OK) {
				return 1;
			}
			if (s == 1 &&
			    (kms_xml_digest(doc, digest) != KMS_OK ||
			     kms_signedinfo_build(si, sizeof(si), &si_len, digest) != KMS_OK ||
			     HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), (const uint8_t *)si,
				  si_len, mac, &mac_len) == NULL ||
			     kms_xml_attach_signature(doc, digest, mac,
						      "ik.12.alice@example.org") != KMS_OK)) {
				return 1;
			}
			if (kms_xml_serialize(doc, &buf, &len) != KMS_OK) {
				return 1;
			}
			kms_xml_doc_free(doc);
			snprintf(name, sizeof(name), "%s%s.xml", sample_names[i],
				 s ? "-signed" : "");
			if (write_file(dir, name, buf, len) != 0) {
				free(buf);
				return 1;
			}
			free(buf);
		}
	}
	snprintf(seeds, sizeof(seeds), "%s/fuzz_kmsrequest", dir);
	if (mkdir(seeds, 0700) != 0 && errno != EEXIST) {
		return 1;
	}
	for (i = 0; i < NUM(reqs); i++) {
		if (write_file(seeds, reqs[i].name, (const uint8_t *)reqs[i].text,
			       strlen(reqs[i].text)) != 0) {
			return 1;
		}
	}
	for (i = 0; i < NUM(hand); i++) {
		char *text = sign_by_hand(hand[i].tmpl, hand[i].split);

		if (text == NULL ||
		    write_file(seeds, hand[i].name, (const uint8_t *)text, strlen(text)) != 0) {
			free(text);
			return 1;
		}
		free(text);
	}
	/* And one xmlsec1 signs, where it is installed. */
	if (access(XMLSEC1, X_OK) == 0) {
		char *text = NULL;

		if (run_xmlsec1(req_xmlsec1_tmpl, &text) != 0 || text == NULL ||
		    write_file(seeds, "signed-xmlsec1", (const uint8_t *)text, strlen(text)) != 0) {
			free(text);
			return 1;
		}
		free(text);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-samples") == 0) {
		return write_samples(argv[2]);
	}
	return kms_test_main(suites);
}
