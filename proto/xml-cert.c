/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-cert.c - the KmsCertificate of another KMS (TS 33.180 D.3.2.2), from a file an
 * operator imports (kms-admin certcache import): hostile input all the same, since the file
 * came from elsewhere.
 *
 * Attacker model and defences as for the KmsRequest (xml-request.c): a parser context per
 * call, XML_PARSE_NONET, no DTD loading, no entity substitution, SAX callbacks wrapped so that
 * a DOCTYPE, an entity, a processing instruction, excess depth or element count stop the parse
 * before a tree grows; then the tree is walked by hand against the schema's sequence and copied
 * into fixed-size fields. Messages name our elements, never input text. (The SAX guard is the
 * same idea as xml-request.c's; its helpers there are static and tied to the request's state,
 * so this file has its own small copy rather than a shared header: XXX(lead): share them.)
 */
#include "proto/xml.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "common/hex.h"
#include "proto/signedinfo.h"

#include "common/banned.h"

#define X(s) ((const xmlChar *)(s))

#define NS_KMS KMS_SIGNEDINFO_NS_KMS

struct cstate {
	startElementNsSAX2Func start;
	endElementNsSAX2Func end;
	unsigned int depth;
	unsigned int elements;
	int r; /* the first refusal, KMS_OK while there is none */
	char msg[KMS_XML_ERR_LEN];
	bool have_xml_error;
	int xml_code;
	int xml_line;
	char *text; /* scratch for a leaf's text (KMS_XML_MAX_CERT_FILE + 1 bytes) */
};

static void fail(struct cstate *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct cstate *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (st->r != KMS_OK) {
		return;
	}
	st->r = code;
	va_start(ap, fmt);
	(void)vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------------------------ */
/* SAX wrappers */

static struct cstate *
state_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void
refuse(void *ctx, int code, const char *what)
{
	fail(state_of(ctx), code, "%s", what);
	xmlStopParser(ctx);
}

static void
on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
	 int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
	 const xmlChar **attributes)
{
	struct cstate *st = state_of(ctx);

	if (st->r != KMS_OK) {
		return;
	}
	if (++st->depth > KMS_XML_MAX_DEPTH) {
		refuse(ctx, KMS_ERR_TOO_LARGE, "elements nested more than 16 levels deep");
		return;
	}
	if (++st->elements > KMS_XML_MAX_ELEMENTS) {
		refuse(ctx, KMS_ERR_TOO_LARGE, "more than 256 elements");
		return;
	}
	st->start(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
		  nb_defaulted, attributes);
}

static void
on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	struct cstate *st = state_of(ctx);

	if (st->r != KMS_OK) {
		return;
	}
	st->depth--;
	st->end(ctx, localname, prefix, uri);
}

static void
on_subset(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
	(void)name;
	(void)external_id;
	(void)system_id;
	refuse(ctx, KMS_ERR_PARSE, "DOCTYPE not allowed");
}

static void
on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
	       const xmlChar *system_id, xmlChar *content)
{
	(void)name;
	(void)type;
	(void)public_id;
	(void)system_id;
	(void)content;
	refuse(ctx, KMS_ERR_PARSE, "entity declaration not allowed");
}

static xmlEntityPtr
on_get_entity(void *ctx, const xmlChar *name)
{
	(void)name;
	refuse(ctx, KMS_ERR_PARSE, "entity reference not allowed");
	return NULL;
}

static xmlParserInputPtr
on_resolve_entity(void *ctx, const xmlChar *public_id, const xmlChar *system_id)
{
	(void)public_id;
	(void)system_id;
	refuse(ctx, KMS_ERR_PARSE, "external entity not allowed");
	return NULL;
}

static void
on_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	refuse(ctx, KMS_ERR_PARSE, "entity reference not allowed");
}

static void
on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target;
	(void)data;
	refuse(ctx, KMS_ERR_PARSE, "processing instruction not allowed");
}

/* libxml2's errors: the first one's code and line, never its text (it quotes input). */
static void
on_error(void *ctx, xmlErrorPtr e)
{
	struct cstate *st = state_of(ctx);

	if (e == NULL || st->have_xml_error || e->level < XML_ERR_ERROR) {
		return;
	}
	st->have_xml_error = true;
	st->xml_code = e->code;
	st->xml_line = e->line;
}

/* ------------------------------------------------------------------------------------------ */
/* The tree */

static bool
in_ns(const xmlNode *n, const char *ns)
{
	return n->ns != NULL && n->ns->href != NULL && xmlStrEqual(n->ns->href, X(ns));
}

static bool
is_el(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && in_ns(n, NS_KMS) && xmlStrEqual(n->name, X(name));
}

static bool
is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whitespace text and comments may sit between elements; nothing else. */
static bool
between_ok(struct cstate *st, const xmlNode *n, const char *parent)
{
	const xmlChar *p;

	switch (n->type) {
	case XML_ELEMENT_NODE:
	case XML_COMMENT_NODE:
		return true;
	case XML_TEXT_NODE:
	case XML_CDATA_SECTION_NODE:
		for (p = n->content; p != NULL && *p != '\0'; p++) {
			if (!is_xml_space((char)*p)) {
				fail(st, KMS_ERR_PARSE, "%s: text between elements", parent);
				return false;
			}
		}
		return true;
	default:
		fail(st, KMS_ERR_PARSE, "%s: unexpected node", parent);
		return false;
	}
}

/* Attributes: in no namespace only those listed (NULL-terminated); none in ours. */
static bool
attrs_ok(struct cstate *st, const xmlNode *n, const char *name, const char *const *allowed)
{
	const xmlAttr *a;
	size_t i;

	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns == NULL) {
			for (i = 0; allowed != NULL && allowed[i] != NULL; i++) {
				if (xmlStrEqual(a->name, X(allowed[i]))) {
					break;
				}
			}
			if (allowed == NULL || allowed[i] == NULL) {
				fail(st, KMS_ERR_PARSE, "%s: unknown attribute", name);
				return false;
			}
		} else if (in_ns((const xmlNode *)a, NS_KMS)) {
			fail(st, KMS_ERR_PARSE, "%s: attribute in the interface namespace", name);
			return false;
		}
	}
	return true;
}

/* The value of attribute name (no namespace), or NULL if absent; *bad if it is not text. */
static const xmlChar *
attr_value(const xmlNode *n, const char *name, bool *bad)
{
	const xmlAttr *a;

	*bad = false;
	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns == NULL && xmlStrEqual(a->name, X(name))) {
			if (a->children == NULL) {
				return X("");
			}
			if (a->children->type != XML_TEXT_NODE || a->children->next != NULL) {
				*bad = true;
				return NULL;
			}
			return a->children->content;
		}
	}
	return NULL;
}

enum leaf_kind {
	LEAF_URI,    /* anyURI: trimmed, 1..KMS_XML_MAX_URI, no space or control character */
	LEAF_TEXT,   /* xsd:string: 0..KMS_XML_MAX_TEXT, as is */
	LEAF_SCALAR, /* trimmed, 1..64 bytes, parsed by the caller */
	LEAF_HEX,    /* hexBinary: trimmed, 1..1024 bytes */
};

/* The text of the leaf element n into out (cap bytes, NUL-terminated), checked by kind. */
static bool
leaf(struct cstate *st, const xmlNode *n, const char *name, enum leaf_kind kind, char *out,
     size_t cap)
{
	const xmlNode *c;
	size_t len = 0, start = 0, max, i, clen;
	char *t = st->text;

	if (!attrs_ok(st, n, name, NULL)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE) {
			continue;
		}
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) {
			fail(st, KMS_ERR_PARSE, "%s: mixed content", name);
			return false;
		}
		clen = c->content != NULL ? strlen((const char *)c->content) : 0;
		if (clen > KMS_XML_MAX_CERT_FILE - len) {
			fail(st, KMS_ERR_RANGE, "%s too long", name);
			return false;
		}
		memcpy(t + len, c->content, clen);
		len += clen;
	}
	if (kind != LEAF_TEXT) {
		while (len > 0 && is_xml_space(t[len - 1])) {
			len--;
		}
		while (start < len && is_xml_space(t[start])) {
			start++;
		}
	}
	max = kind == LEAF_URI    ? KMS_XML_MAX_URI
	      : kind == LEAF_TEXT ? KMS_XML_MAX_TEXT
	      : kind == LEAF_HEX  ? 1024
				  : 64;
	if (len - start > max || len - start >= cap) {
		fail(st, KMS_ERR_RANGE, "%s too long", name);
		return false;
	}
	if (len == start && kind != LEAF_TEXT) {
		fail(st, KMS_ERR_PARSE, "%s is empty", name);
		return false;
	}
	for (i = start; i < len; i++) {
		uint8_t b = (uint8_t)t[i];

		if (kind == LEAF_URI && (b <= 0x20 || b == 0x7f)) {
			fail(st, KMS_ERR_PARSE, "%s: invalid character", name);
			return false;
		}
	}
	memcpy(out, t + start, len - start);
	out[len - start] = '\0';
	return true;
}

/* A non-negative xsd:integer (a '+' allowed) in 0..INT64_MAX. */
static bool
leaf_u63(struct cstate *st, const xmlNode *n, const char *name, uint64_t *out)
{
	char buf[65];
	const char *p = buf;
	uint64_t v = 0;

	if (!leaf(st, n, name, LEAF_SCALAR, buf, sizeof(buf))) {
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
			fail(st, KMS_ERR_RANGE, "%s out of range", name);
			return false;
		}
		*out = 0;
		return true;
	}
	if (*p == '\0') {
		fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
		return false;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
			return false;
		}
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10) {
			fail(st, KMS_ERR_RANGE, "%s out of range", name);
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return true;
}

static bool
leaf_time(struct cstate *st, const xmlNode *n, const char *name, int64_t *out)
{
	char buf[65];

	if (!leaf(st, n, name, LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (kms_xml_datetime_parse(out, buf, strlen(buf)) != KMS_OK) {
		fail(st, KMS_ERR_RANGE, "%s is not a valid dateTime", name);
		return false;
	}
	return true;
}

static bool
leaf_bool(struct cstate *st, const xmlNode *n, const char *name, bool *out)
{
	char buf[65];

	if (!leaf(st, n, name, LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0) {
		*out = true;
	} else if (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0) {
		*out = false;
	} else {
		fail(st, KMS_ERR_PARSE, "%s is not a boolean", name);
		return false;
	}
	return true;
}

/* hexBinary of exactly len bytes, the first 0x04 (an uncompressed point). */
static bool
leaf_point(struct cstate *st, const xmlNode *n, const char *name, uint8_t *out, size_t len)
{
	char buf[1025];

	if (!leaf(st, n, name, LEAF_HEX, buf, sizeof(buf))) {
		return false;
	}
	if (kms_hex_decode(out, len, buf, strlen(buf)) != KMS_OK) {
		fail(st, KMS_ERR_PARSE, "%s is not %zu bytes of hex", name, len);
		return false;
	}
	if (out[0] != 0x04) {
		fail(st, KMS_ERR_PARSE, "%s is not an uncompressed point", name);
		return false;
	}
	return true;
}

/* KmsDomainList: 1..KMS_XML_MAX_DOMAINS KmsDomain URIs. */
static bool
parse_domains(struct cstate *st, const xmlNode *n, struct kms_xml_cert_in *c)
{
	char uri[KMS_XML_MAX_URI + 1];
	const xmlNode *k;
	size_t len = 0, ulen;

	if (!attrs_ok(st, n, "KmsDomainList", NULL)) {
		return false;
	}
	for (k = n->children; k != NULL; k = k->next) {
		if (!between_ok(st, k, "KmsDomainList")) {
			return false;
		}
		if (k->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (!is_el(k, "KmsDomain")) {
			fail(st, KMS_ERR_PARSE, "KmsDomainList: unexpected element");
			return false;
		}
		if (c->num_domains >= KMS_XML_MAX_DOMAINS) {
			fail(st, KMS_ERR_RANGE, "KmsDomainList: more than 64 domains");
			return false;
		}
		if (!leaf(st, k, "KmsDomain", LEAF_URI, uri, sizeof(uri))) {
			return false;
		}
		ulen = strlen(uri);
		if (ulen + (len > 0 ? 1 : 0) > KMS_XML_DOMAINS_LEN - len) {
			fail(st, KMS_ERR_RANGE, "KmsDomainList: more than 8192 bytes");
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
		fail(st, KMS_ERR_PARSE, "KmsDomainList: no KmsDomain");
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
cert_child(struct cstate *st, const xmlNode *n, size_t idx, struct kms_xml_cert_in *c)
{
	char buf[65];
	uint64_t v;

	switch (idx) {
	case C_CERT_URI:
		return leaf(st, n, "CertUri", LEAF_URI, c->cert_uri, sizeof(c->cert_uri));
	case C_KMS_URI:
		return leaf(st, n, "KmsUri", LEAF_URI, c->kms_uri, sizeof(c->kms_uri));
	case C_ISSUER:
		c->has_issuer = true;
		return leaf(st, n, "Issuer", LEAF_TEXT, c->issuer, sizeof(c->issuer));
	case C_VALID_FROM:
		c->has_valid_from = true;
		return leaf_time(st, n, "ValidFrom", &c->valid_from);
	case C_VALID_TO:
		c->has_valid_to = true;
		return leaf_time(st, n, "ValidTo", &c->valid_to);
	case C_REVOKED:
		c->has_revoked = true;
		return leaf_bool(st, n, "Revoked", &c->revoked);
	case C_USER_ID_FORMAT:
		if (!leaf(st, n, "UserIdFormat", LEAF_SCALAR, buf, sizeof(buf))) {
			return false;
		}
		if (strcmp(buf, "2") != 0) {
			fail(st, KMS_ERR_PARSE, "UserIdFormat is not 2 (the TS 33.180 UID)");
			return false;
		}
		return true;
	case C_USER_KEY_PERIOD:
		if (!leaf_u63(st, n, "UserKeyPeriod", &c->user_key_period)) {
			return false;
		}
		if (c->user_key_period == 0) {
			fail(st, KMS_ERR_RANGE, "UserKeyPeriod is 0");
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
			fail(st, KMS_ERR_PARSE, "ParameterSet is not 1 (RFC 6509)");
			return false;
		}
		return true;
	case C_DOMAIN_LIST:
		return parse_domains(st, n, c);
	default:
		fail(st, KMS_ERR_INTERNAL, "KmsCertificate: internal error");
		return false;
	}
}

static bool
parse_cert(struct cstate *st, const xmlNode *n, struct kms_xml_cert_in *c)
{
	static const char *const attrs[] = {"Id", "Version", "Role", NULL};
	const xmlNode *k;
	const xmlChar *v;
	size_t pos = 0, i, j;
	bool bad, in_ext = false;

	if (!attrs_ok(st, n, "KmsCertificate", attrs)) {
		return false;
	}
	v = attr_value(n, "Version", &bad);
	if (bad || (v != NULL && !xmlStrEqual(v, X("1.0.0")) && !xmlStrEqual(v, X("1.1.0")))) {
		fail(st, KMS_ERR_PARSE, "KmsCertificate: unsupported Version");
		return false;
	}
	v = attr_value(n, "Role", &bad);
	if (bad || (v != NULL && !xmlStrEqual(v, X("Root")) && !xmlStrEqual(v, X("External")))) {
		fail(st, KMS_ERR_PARSE, "KmsCertificate: Role is not Root or External");
		return false;
	}
	if (v != NULL) {
		c->has_role = true;
		c->role = xmlStrEqual(v, X("Root")) ? KMS_XML_ROLE_ROOT : KMS_XML_ROLE_EXTERNAL;
	}
	for (k = n->children; k != NULL; k = k->next) {
		if (!between_ok(st, k, "KmsCertificate")) {
			return false;
		}
		if (k->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (k->ns == NULL) {
			fail(st, KMS_ERR_PARSE, "KmsCertificate: element without namespace");
			return false;
		}
		if (!in_ns(k, NS_KMS)) {
			in_ext = true; /* ##other, lax: ignored; only at the end */
			continue;
		}
		for (i = 0; i < C_NUM; i++) {
			if (xmlStrEqual(k->name, X(cert_els[i].name))) {
				break;
			}
		}
		if (i == C_NUM || in_ext || i < pos) {
			fail(st, KMS_ERR_PARSE, "KmsCertificate: %s element after %s",
			     i == C_NUM ? "an unknown" : "a misplaced or duplicate",
			     pos == 0 ? "its start" : cert_els[pos - 1].name);
			return false;
		}
		for (j = pos; j < i; j++) {
			if (cert_els[j].required) {
				fail(st, KMS_ERR_PARSE, "KmsCertificate: missing %s",
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
			fail(st, KMS_ERR_PARSE, "KmsCertificate: missing %s", cert_els[j].name);
			return false;
		}
	}
	return true;
}

/* The only child element of n named name in our namespace, or NULL (after fail()). */
static const xmlNode *
only_child(struct cstate *st, const xmlNode *n, const char *parent, const char *name)
{
	const xmlNode *k, *found = NULL;

	for (k = n->children; k != NULL; k = k->next) {
		if (is_el(k, name)) {
			if (found != NULL) {
				fail(st, KMS_ERR_PARSE, "%s: more than one %s", parent, name);
				return NULL;
			}
			found = k;
		}
	}
	if (found == NULL) {
		fail(st, KMS_ERR_PARSE, "%s: no %s", parent, name);
	}
	return found;
}

/* Belt and braces behind the SAX refusals: no DTD, entity or PI node anywhere. */
static bool
tree_clean(struct cstate *st, const xmlNode *n)
{
	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case XML_ELEMENT_NODE:
			if (!tree_clean(st, n->children)) {
				return false;
			}
			break;
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
		case XML_COMMENT_NODE:
			break;
		default:
			fail(st, KMS_ERR_PARSE, "DOCTYPE, entity or processing instruction found");
			return false;
		}
	}
	return true;
}

int
kms_xml_parse_cert(struct kms_xml_cert_in *out, char *err, size_t err_cap, const uint8_t *in,
		   size_t in_len)
{
	struct cstate st;
	struct kms_xml_cert_in *c = NULL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root, *n;

	memset(&st, 0, sizeof(st));
	st.r = KMS_OK;
	if (out == NULL || (in == NULL && in_len > 0)) {
		fail(&st, KMS_ERR_INVALID_ARG, "invalid arguments");
		goto out;
	}
	if (in_len > KMS_XML_MAX_CERT_FILE) {
		fail(&st, KMS_ERR_TOO_LARGE, "larger than 65536 bytes");
		goto out;
	}
	if (in_len == 0) {
		fail(&st, KMS_ERR_PARSE, "empty");
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (st.text = malloc(KMS_XML_MAX_CERT_FILE + 1)) == NULL ||
	    (ctxt = xmlNewParserCtxt()) == NULL || ctxt->sax == NULL) {
		fail(&st, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	ctxt->_private = &st;
	st.start = ctxt->sax->startElementNs;
	st.end = ctxt->sax->endElementNs;
	if (st.start == NULL || st.end == NULL) {
		fail(&st, KMS_ERR_INTERNAL, "libxml2 without SAX2");
		goto out;
	}
	ctxt->sax->startElementNs = on_start;
	ctxt->sax->endElementNs = on_end;
	ctxt->sax->internalSubset = on_subset;
	ctxt->sax->externalSubset = on_subset;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->getEntity = on_get_entity;
	ctxt->sax->getParameterEntity = on_get_entity;
	ctxt->sax->resolveEntity = on_resolve_entity;
	ctxt->sax->reference = on_reference;
	ctxt->sax->processingInstruction = on_pi;
	ctxt->sax->serror = on_error;
	ctxt->sax->comment = NULL;
	/* in_len <= 64 KiB: the int conversion is exact. */
	doc = xmlCtxtReadMemory(ctxt, (const char *)in, (int)in_len, NULL, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	if (st.r != KMS_OK) {
		goto out;
	}
	if (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		if (st.have_xml_error && st.xml_code == XML_ERR_NO_MEMORY) {
			fail(&st, KMS_ERR_NOMEM, "out of memory");
		} else {
			fail(&st, KMS_ERR_PARSE, "not well-formed XML (error %d, line %d)",
			     st.have_xml_error ? st.xml_code : 0,
			     st.have_xml_error ? st.xml_line : 0);
		}
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		fail(&st, KMS_ERR_PARSE, "DOCTYPE not allowed");
		goto out;
	}
	if (!tree_clean(&st, doc->children)) {
		goto out;
	}
	if ((root = xmlDocGetRootElement(doc)) == NULL) {
		fail(&st, KMS_ERR_PARSE, "no root element");
		goto out;
	}
	if (is_el(root, "KmsCertificate")) {
		n = root;
	} else if (is_el(root, "KmsResponse")) {
		/* The init response of that KMS: KmsResponse/KmsMessage/KmsInit/KmsCertificate. */
		if ((n = only_child(&st, root, "KmsResponse", "KmsMessage")) == NULL ||
		    (n = only_child(&st, n, "KmsMessage", "KmsInit")) == NULL ||
		    (n = only_child(&st, n, "KmsInit", "KmsCertificate")) == NULL) {
			goto out;
		}
	} else {
		fail(&st, KMS_ERR_PARSE, "root is not KmsCertificate or KmsResponse in " NS_KMS);
		goto out;
	}
	if (!parse_cert(&st, n, c)) {
		goto out;
	}
	memcpy(out, c, sizeof(*out));
out:
	if (err != NULL && err_cap > 0) {
		(void)snprintf(err, err_cap, "%s", st.r == KMS_OK ? "" : st.msg);
	}
	xmlFreeDoc(doc);
	if (ctxt != NULL) {
		ctxt->_private = NULL;
		xmlFreeParserCtxt(ctxt);
	}
	free(st.text);
	free(c);
	return st.r;
}
