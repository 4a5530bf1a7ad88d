/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-cert.c - the KmsCertificate of another KMS (TS 33.180 D.3.2.2), from a file an
 * operator imports (kms-admin certcache import): hostile input all the same, since the file
 * came from elsewhere.
 *
 * Attacker model and defences as for the KmsRequest (xml-request.c), with the same guarded
 * parse (kms_xml_guarded_parse() of xml-parse.c: a parser context per call, XML_PARSE_NONET, no
 * DTD loading, no entity substitution, SAX callbacks that stop the parse at a DOCTYPE, an
 * entity, a processing instruction, excess depth or element count before a tree grows); then
 * the tree is walked by hand against the schema's sequence and copied into fixed-size fields.
 * Messages name our elements, never input text.
 */
#include "proto/internal.h"
#include "proto/xml.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/hex.h"
#include "proto/signedinfo.h"

#include "common/banned.h"

#define X(s) ((const xmlChar *)(s))

#define NS_KMS KMS_SIGNEDINFO_NS_KMS

/* A non-negative xsd:integer (a '+' allowed) in 0..INT64_MAX. */
static bool
leaf_u63(struct kms_xml_pstate *st, const xmlNode *n, const char *name, uint64_t *out)
{
	char buf[KMS_XML_LEAF_SCALAR_MAX + 1];
	const char *p = buf;
	uint64_t v = 0;

	if (!kms_xml_leaf(st, n, name, KMS_XML_LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (*p == '+') {
		p++;
	} else if (*p == '-') {
		/* -0 is 0 in xsd:integer; anything else is out of range */
		p++;
		while (*p == '0') {
			p++;
		}
		if (*p != '\0' || p == buf + 1) {
			kms_xml_fail(st, KMS_ERR_RANGE, "%s out of range", name);
			return false;
		}
		*out = 0;
		return true;
	}
	if (*p == '\0') {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
		return false;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
			return false;
		}
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10) {
			kms_xml_fail(st, KMS_ERR_RANGE, "%s out of range", name);
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static bool
leaf_bool(struct kms_xml_pstate *st, const xmlNode *n, const char *name, bool *out)
{
	char buf[KMS_XML_LEAF_SCALAR_MAX + 1];

	if (!kms_xml_leaf(st, n, name, KMS_XML_LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0) {
		*out = true;
	} else if (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0) {
		*out = false;
	} else {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is not a boolean", name);
		return false;
	}
	return true;
}

/* hexBinary of exactly len bytes, the first 0x04 (an uncompressed point). */
static bool
leaf_point(struct kms_xml_pstate *st, const xmlNode *n, const char *name, uint8_t *out, size_t len)
{
	char buf[KMS_XML_LEAF_HEX_MAX + 1];

	if (!kms_xml_leaf(st, n, name, KMS_XML_LEAF_HEX, buf, sizeof(buf))) {
		return false;
	}
	if (kms_hex_decode(out, len, buf, strlen(buf)) != KMS_OK) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is not %zu bytes of hex", name, len);
		return false;
	}
	if (out[0] != 0x04) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is not an uncompressed point", name);
		return false;
	}
	return true;
}

/* KmsDomainList: 1..KMS_XML_MAX_DOMAINS KmsDomain URIs. */
static bool
parse_domains(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_cert_in *c)
{
	char uri[KMS_XML_MAX_URI + 1];
	const xmlNode *k;
	size_t len = 0, ulen;

	if (!kms_xml_attrs_ok(st, n, "KmsDomainList", NULL)) {
		return false;
	}
	for (k = n->children; k != NULL; k = k->next) {
		if (!kms_xml_between_ok(st, k, "KmsDomainList")) {
			return false;
		}
		if (k->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (!kms_xml_is_el(k, NS_KMS, "KmsDomain")) {
			kms_xml_fail(st, KMS_ERR_PARSE, "KmsDomainList: unexpected element");
			return false;
		}
		if (c->num_domains >= KMS_XML_MAX_DOMAINS) {
			kms_xml_fail(st, KMS_ERR_RANGE, "KmsDomainList: more than 64 domains");
			return false;
		}
		if (!kms_xml_leaf(st, k, "KmsDomain", KMS_XML_LEAF_URI, uri, sizeof(uri))) {
			return false;
		}
		ulen = strlen(uri);
		if (ulen + (len > 0 ? 1 : 0) > KMS_XML_DOMAINS_LEN - len) {
			kms_xml_fail(st, KMS_ERR_RANGE, "KmsDomainList: more than 8192 bytes");
			return false;
		}
		if (len > 0) {
			c->domains[len++] = ' ';
		}
		memcpy(c->domains + len, uri, ulen);
		len += ulen;
		c->domains[len] = '\0';
		c->num_domains++;
	}
	if (c->num_domains == 0) {
		kms_xml_fail(st, KMS_ERR_PARSE, "KmsDomainList: no KmsDomain");
		return false;
	}
	return true;
}

enum {
	C_CERT_URI,
	C_KMS_URI,
	C_ISSUER,
	C_VALID_FROM,
	C_VALID_TO,
	C_REVOKED,
	C_USER_ID_FORMAT,
	C_USER_KEY_PERIOD,
	C_USER_KEY_OFFSET,
	C_PUB_ENC_KEY,
	C_PUB_AUTH_KEY,
	C_PARAMETER_SET,
	C_DOMAIN_LIST,
	C_NUM,
};

static const struct {
	const char *name;
	bool required;
} cert_els[C_NUM] = {
	[C_CERT_URI] = {"CertUri", false},
	[C_KMS_URI] = {"KmsUri", true},
	[C_ISSUER] = {"Issuer", false},
	[C_VALID_FROM] = {"ValidFrom", false},
	[C_VALID_TO] = {"ValidTo", false},
	[C_REVOKED] = {"Revoked", false},
	[C_USER_ID_FORMAT] = {"UserIdFormat", true},
	[C_USER_KEY_PERIOD] = {"UserKeyPeriod", true},
	[C_USER_KEY_OFFSET] = {"UserKeyOffset", true},
	[C_PUB_ENC_KEY] = {"PubEncKey", true},
	[C_PUB_AUTH_KEY] = {"PubAuthKey", true},
	[C_PARAMETER_SET] = {"ParameterSet", false},
	[C_DOMAIN_LIST] = {"KmsDomainList", false},
};

/* One child of KmsCertificate, idx its index in cert_els. */
static bool
cert_child(struct kms_xml_pstate *st, const xmlNode *n, size_t idx, struct kms_xml_cert_in *c)
{
	char buf[KMS_XML_LEAF_SCALAR_MAX + 1];
	uint64_t v;

	switch (idx) {
	case C_CERT_URI:
		return kms_xml_leaf(st, n, "CertUri", KMS_XML_LEAF_URI, c->cert_uri,
				    sizeof(c->cert_uri));
	case C_KMS_URI:
		return kms_xml_leaf(st, n, "KmsUri", KMS_XML_LEAF_URI, c->kms_uri,
				    sizeof(c->kms_uri));
	case C_ISSUER:
		c->has_issuer = true;
		return kms_xml_leaf(st, n, "Issuer", KMS_XML_LEAF_TEXT, c->issuer,
				    sizeof(c->issuer));
	case C_VALID_FROM:
		c->has_valid_from = true;
		return kms_xml_leaf_time(st, n, "ValidFrom", &c->valid_from);
	case C_VALID_TO:
		c->has_valid_to = true;
		return kms_xml_leaf_time(st, n, "ValidTo", &c->valid_to);
	case C_REVOKED:
		c->has_revoked = true;
		return leaf_bool(st, n, "Revoked", &c->revoked);
	case C_USER_ID_FORMAT:
		if (!kms_xml_leaf(st, n, "UserIdFormat", KMS_XML_LEAF_SCALAR, buf, sizeof(buf))) {
			return false;
		}
		if (strcmp(buf, "2") != 0) {
			kms_xml_fail(st, KMS_ERR_PARSE,
				     "UserIdFormat is not 2 (the TS 33.180 UID)");
			return false;
		}
		return true;
	case C_USER_KEY_PERIOD:
		if (!leaf_u63(st, n, "UserKeyPeriod", &c->user_key_period)) {
			return false;
		}
		if (c->user_key_period == 0) {
			kms_xml_fail(st, KMS_ERR_RANGE, "UserKeyPeriod is 0");
			return false;
		}
		return true;
	case C_USER_KEY_OFFSET:
		return leaf_u63(st, n, "UserKeyOffset", &c->user_key_offset);
	case C_PUB_ENC_KEY:
		return leaf_point(st, n, "PubEncKey", c->pub_enc_key, sizeof(c->pub_enc_key));
	case C_PUB_AUTH_KEY:
		return leaf_point(st, n, "PubAuthKey", c->pub_auth_key, sizeof(c->pub_auth_key));
	case C_PARAMETER_SET:
		if (!leaf_u63(st, n, "ParameterSet", &v)) {
			return false;
		}
		if (v != 1) {
			kms_xml_fail(st, KMS_ERR_PARSE, "ParameterSet is not 1 (RFC 6509)");
			return false;
		}
		return true;
	case C_DOMAIN_LIST:
		return parse_domains(st, n, c);
	default:
		kms_xml_fail(st, KMS_ERR_INTERNAL, "KmsCertificate: internal error");
		return false;
	}
}

static bool
parse_cert(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_cert_in *c)
{
	static const char *const attrs[] = {"Id", "Version", "Role", NULL};
	const xmlNode *k;
	const xmlChar *v;
	size_t pos = 0, i, j;
	bool bad, in_ext = false;

	if (!kms_xml_attrs_ok(st, n, "KmsCertificate", attrs)) {
		return false;
	}
	v = kms_xml_attr_value(n, "Version", &bad);
	if (bad || (v != NULL && !xmlStrEqual(v, X("1.0.0")) && !xmlStrEqual(v, X("1.1.0")))) {
		kms_xml_fail(st, KMS_ERR_PARSE, "KmsCertificate: unsupported Version");
		return false;
	}
	v = kms_xml_attr_value(n, "Role", &bad);
	if (bad || (v != NULL && !xmlStrEqual(v, X("Root")) && !xmlStrEqual(v, X("External")))) {
		kms_xml_fail(st, KMS_ERR_PARSE, "KmsCertificate: Role is not Root or External");
		return false;
	}
	if (v != NULL) {
		c->has_role = true;
		c->role = xmlStrEqual(v, X("Root")) ? KMS_XML_ROLE_ROOT : KMS_XML_ROLE_EXTERNAL;
	}
	for (k = n->children; k != NULL; k = k->next) {
		if (!kms_xml_between_ok(st, k, "KmsCertificate")) {
			return false;
		}
		if (k->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (k->ns == NULL) {
			kms_xml_fail(st, KMS_ERR_PARSE,
				     "KmsCertificate: element without namespace");
			return false;
		}
		if (!kms_xml_in_ns(k, NS_KMS)) {
			in_ext = true; /* ##other, lax: ignored; only at the end */
			continue;
		}
		for (i = 0; i < C_NUM; i++) {
			if (xmlStrEqual(k->name, X(cert_els[i].name))) {
				break;
			}
		}
		if (i == C_NUM || in_ext || i < pos) {
			kms_xml_fail(st, KMS_ERR_PARSE, "KmsCertificate: %s element after %s",
				     i == C_NUM ? "an unknown" : "a misplaced or duplicate",
				     pos == 0 ? "its start" : cert_els[pos - 1].name);
			return false;
		}
		for (j = pos; j < i; j++) {
			if (cert_els[j].required) {
				kms_xml_fail(st, KMS_ERR_PARSE, "KmsCertificate: missing %s",
					     cert_els[j].name);
				return false;
			}
		}
		if (!cert_child(st, k, i, c)) {
			return false;
		}
		pos = i + 1;
	}
	for (j = pos; j < C_NUM; j++) {
		if (cert_els[j].required) {
			kms_xml_fail(st, KMS_ERR_PARSE, "KmsCertificate: missing %s",
				     cert_els[j].name);
			return false;
		}
	}
	return true;
}

/* The only child element of n named name in our namespace, or NULL (after kms_xml_fail()). */
static const xmlNode *
only_child(struct kms_xml_pstate *st, const xmlNode *n, const char *parent, const char *name)
{
	const xmlNode *k, *found = NULL;

	for (k = n->children; k != NULL; k = k->next) {
		if (kms_xml_is_el(k, NS_KMS, name)) {
			if (found != NULL) {
				kms_xml_fail(st, KMS_ERR_PARSE, "%s: more than one %s", parent,
					     name);
				return NULL;
			}
			found = k;
		}
	}
	if (found == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: no %s", parent, name);
	}
	return found;
}

int
kms_xml_parse_cert(struct kms_xml_cert_in *out, char *err, size_t err_cap, const uint8_t *in,
		   size_t in_len)
{
	struct kms_xml_pstate st;
	struct kms_xml_cert_in *c = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root, *n;

	kms_xml_pstate_init(&st, KMS_XML_MAX_CERT_FILE, false);
	if (out == NULL || (in == NULL && in_len > 0)) {
		kms_xml_fail(&st, KMS_ERR_INVALID_ARG, "invalid arguments");
		goto out;
	}
	if (in_len > KMS_XML_MAX_CERT_FILE) {
		kms_xml_fail(&st, KMS_ERR_TOO_LARGE, "larger than 65536 bytes");
		goto out;
	}
	if (in_len == 0) {
		kms_xml_fail(&st, KMS_ERR_PARSE, "empty");
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		kms_xml_fail(&st, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (kms_xml_guarded_parse(&st, &doc, &root, in, in_len) != KMS_OK) {
		goto out;
	}
	if (kms_xml_is_el(root, NS_KMS, "KmsCertificate")) {
		n = root;
	} else if (kms_xml_is_el(root, NS_KMS, "KmsResponse")) {
		/* The init response of that KMS: KmsResponse/KmsMessage/KmsInit/KmsCertificate. */
		if ((n = only_child(&st, root, "KmsResponse", "KmsMessage")) == NULL ||
		    (n = only_child(&st, n, "KmsMessage", "KmsInit")) == NULL ||
		    (n = only_child(&st, n, "KmsInit", "KmsCertificate")) == NULL) {
			goto out;
		}
	} else {
		kms_xml_fail(&st, KMS_ERR_PARSE,
			     "root is not KmsCertificate or KmsResponse in " NS_KMS);
		goto out;
	}
	if (!parse_cert(&st, n, c)) {
		goto out;
	}
	memcpy(out, c, sizeof(*out));
out:
	xmlFreeDoc(doc);
	free(c);
	return kms_xml_pstate_finish(&st, err, err_cap);
}
