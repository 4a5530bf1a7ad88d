/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-request.c - the KmsRequest body (TS 33.180 D.2.2), hostile network input.
 *
 * Attacker model: any bytes, up to KMS_XML_MAX_BODY. libxml2 parses with a parser context of
 * its own per call, never loads anything (XML_PARSE_NONET, no DTD loading or validation, no
 * entity substitution) and reports errors only to our structured handler. Its SAX callbacks are
 * wrapped so that the refusals that matter for resources happen while parsing, before a tree
 * grows: a DOCTYPE (which ends billion-laughs and XXE before any declaration is read), any entity
 * lookup, a processing instruction, nesting deeper than KMS_XML_MAX_DEPTH, more than
 * KMS_XML_MAX_ELEMENTS elements. The tree that is left is then checked against the schema's
 * sequence by hand and copied into fixed-size fields. Error messages name elements from our own
 * tables, never text from the input.
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

#include "proto/signedinfo.h"

#include "common/banned.h"

#define X(s) ((const xmlChar *)(s))

#define NS_KMS KMS_SIGNEDINFO_NS_KMS
#define NS_DS  KMS_SIGNEDINFO_NS_DS

struct pstate {
	/* The SAX2 tree builder's callbacks that ours wrap. */
	startElementNsSAX2Func start;
	endElementNsSAX2Func end;
	unsigned int depth;
	unsigned int elements;
	/* The first refusal (ours, or libxml2's error), KMS_OK while there is none. */
	int r;
	char msg[KMS_XML_ERR_LEN];
	bool have_xml_error;
	int xml_code;
	int xml_line;
	int xml_col;
	/* Scratch for an element's text (the text of a body cannot be longer than the body). */
	char *text;
};

static void fail(struct pstate *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fail - record the first refusal; later ones are consequences of it. */
static void
fail(struct pstate *st, int code, const char *fmt, ...)
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
/* SAX wrappers: libxml2 passes the parser context as ctx; ours is its _private. */

static struct pstate *
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
	struct pstate *st = state_of(ctx);

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
	struct pstate *st = state_of(ctx);

	if (st->r != KMS_OK) {
		return;
	}
	st->depth--;
	st->end(ctx, localname, prefix, uri);
}

static void
on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
		   const xmlChar *system_id)
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

/* libxml2's errors: keep the first one's code and position, never its text (it quotes input). */
static void
on_error(void *ctx, xmlErrorPtr e)
{
	struct pstate *st = state_of(ctx);

	if (e == NULL || st->have_xml_error || e->level < XML_ERR_ERROR) {
		return;
	}
	st->have_xml_error = true;
	st->xml_code = e->code;
	st->xml_line = e->line;
	st->xml_col = e->int2;
}

/* ------------------------------------------------------------------------------------------ */
/* The tree. */

static bool
in_ns(const xmlNode *n, const char *ns)
{
	return n->ns != NULL && n->ns->href != NULL && xmlStrEqual(n->ns->href, X(ns));
}

static bool
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && in_ns(n, ns) && xmlStrEqual(n->name, X(name));
}

static bool
is_xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
all_space(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (!is_xml_space((char)*s)) {
			return false;
		}
	}
	return true;
}

/* Nodes that may sit between elements of a sequence: whitespace text and comments. */
static bool
between_ok(struct pstate *st, const xmlNode *n, const char *parent)
{
	switch (n->type) {
	case XML_ELEMENT_NODE:
	case XML_COMMENT_NODE:
		return true;
	case XML_TEXT_NODE:
	case XML_CDATA_SECTION_NODE:
		if (!all_space(n->content)) {
			fail(st, KMS_ERR_PARSE, "%s: text between elements", parent);
			return false;
		}
		return true;
	default:
		fail(st, KMS_ERR_PARSE, "%s: unexpected node", parent);
		return false;
	}
}

enum attrs_allowed {
	ATTRS_NONE,       /* no attribute in no namespace */
	ATTRS_ID_VERSION, /* Id and Version */
	ATTRS_ID,         /* Id */
};

/*
 * Attributes in no namespace must be those the schema lists (anyAttribute ##other admits
 * those of other namespaces); none may be in the interface namespace.
 */
static bool
attrs_ok(struct pstate *st, const xmlNode *n, const char *name, enum attrs_allowed allowed)
{
	const xmlAttr *a;

	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns == NULL) {
			if (allowed != ATTRS_NONE && xmlStrEqual(a->name, X("Id"))) {
				continue;
			}
			if (allowed == ATTRS_ID_VERSION && xmlStrEqual(a->name, X("Version"))) {
				continue;
			}
			fail(st, KMS_ERR_PARSE, "%s: unknown attribute", name);
			return false;
		}
		if (in_ns((const xmlNode *)a, NS_KMS)) {
			fail(st, KMS_ERR_PARSE, "%s: attribute in the interface namespace", name);
			return false;
		}
	}
	return true;
}

/* The value of the attribute name (no namespace) of n, or NULL; only text children count. */
static const xmlChar *
attr_value(const xmlNode *n, const char *name)
{
	const xmlAttr *a;

	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns == NULL && xmlStrEqual(a->name, X(name))) {
			if (a->children == NULL) {
				return X("");
			}
			if (a->children->type != XML_TEXT_NODE || a->children->next != NULL) {
				return NULL;
			}
			return a->children->content;
		}
	}
	return NULL;
}

enum leaf_kind {
	LEAF_URI,    /* anyURI: whitespace trimmed, 1..KMS_XML_MAX_URI, no space or control */
	LEAF_ID,     /* an id (xsd:string): 1..KMS_XML_MAX_ID, no control character */
	LEAF_TEXT,   /* xsd:string: 0..KMS_XML_MAX_TEXT, as is */
	LEAF_SCALAR, /* dateTime, integer: whitespace trimmed, up to 64 bytes, parsed by the caller
		      */
};

/*
 * leaf - the text of the leaf element n (named name) into out (cap bytes, NUL-terminated).
 * A leaf holds text only (comments are skipped); attributes only of other namespaces.
 */
static bool
leaf(struct pstate *st, const xmlNode *n, const char *name, enum leaf_kind kind, char *out,
     size_t cap)
{
	const xmlNode *c;
	size_t len = 0, start = 0, max, i;
	char *t = st->text;

	if (!attrs_ok(st, n, name, ATTRS_NONE)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		size_t clen;

		if (c->type == XML_COMMENT_NODE) {
			continue;
		}
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) {
			fail(st, KMS_ERR_PARSE, "%s: mixed content", name);
			return false;
		}
		clen = c->content != NULL ? strlen((const char *)c->content) : 0;
		if (clen > KMS_XML_MAX_BODY - len) {
			fail(st, KMS_ERR_RANGE, "%s too long", name);
			return false;
		}
		if (clen > 0) {
			memcpy(t + len, c->content, clen);
			len += clen;
		}
	}
	if (kind == LEAF_URI || kind == LEAF_SCALAR) {
		while (len > 0 && is_xml_space(t[len - 1])) {
			len--;
		}
		while (start < len && is_xml_space(t[start])) {
			start++;
		}
	}
	max = kind == LEAF_URI    ? KMS_XML_MAX_URI
	      : kind == LEAF_ID   ? KMS_XML_MAX_ID
	      : kind == LEAF_TEXT ? KMS_XML_MAX_TEXT
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

		/* libxml2 delivers UTF-8 XML Chars; URIs and ids also have no control character. */
		if ((kind == LEAF_URI && b <= 0x20) || (kind == LEAF_ID && b < 0x20) ||
		    ((kind == LEAF_URI || kind == LEAF_ID) && b == 0x7f)) {
			fail(st, KMS_ERR_PARSE, "%s: invalid character", name);
			return false;
		}
	}
	memcpy(out, t + start, len - start);
	out[len - start] = '\0';
	return true;
}

/* xsd:integer into int64_t. */
static bool
leaf_integer(struct pstate *st, const xmlNode *n, const char *name, int64_t *out)
{
	char buf[65];
	const char *p = buf;
	bool neg = false;
	uint64_t v = 0, limit;

	if (!leaf(st, n, name, LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (*p == '\0') {
		fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
		return false;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
			return false;
		}
		if (v > (limit - (uint64_t)(*p - '0')) / 10) {
			fail(st, KMS_ERR_RANGE, "%s out of range", name);
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (neg) {
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		*out = (int64_t)v;
	}
	return true;
}

static bool
leaf_time(struct pstate *st, const xmlNode *n, const char *name, int64_t *out)
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

/*
 * A sequence of the schema: elements of the interface namespace in table order, each at most
 * once, the required ones present, then (when ext) elements of other namespaces (##other).
 */
struct seq_el {
	const char *name;
	bool required;
};

struct seq {
	const char *parent;
	const struct seq_el *els;
	size_t num;
	size_t pos;    /* the next table index allowed */
	int last;      /* the table index of the last element seen, -1 at the start */
	uint32_t seen; /* bit i: table element i was seen */
	bool in_ext;   /* an element of another namespace was seen */
	size_t num_ext;
};

/*
 * seq_next - place the element n in the sequence: its table index into *idx, or SIZE_MAX for an
 * extension. Returns false (after fail()) when n is not allowed there.
 */
static bool
seq_next(struct pstate *st, struct seq *sq, const xmlNode *n, size_t *idx)
{
	size_t i, j;

	if (n->ns == NULL) {
		fail(st, KMS_ERR_PARSE, "%s: element without namespace", sq->parent);
		return false;
	}
	if (!in_ns(n, NS_KMS)) {
		/* ##other: only after every required element, and only at the end. */
		for (j = sq->pos; j < sq->num; j++) {
			if (sq->els[j].required) {
				fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent,
				     sq->els[j].name);
				return false;
			}
		}
		sq->in_ext = true;
		sq->pos = sq->num;
		sq->num_ext++;
		*idx = SIZE_MAX;
		return true;
	}
	for (i = 0; i < sq->num; i++) {
		if (xmlStrEqual(n->name, X(sq->els[i].name))) {
			break;
		}
	}
	if (i == sq->num) {
		fail(st, KMS_ERR_PARSE, "%s: unknown element after %s", sq->parent,
		     sq->last < 0 ? "its start" : sq->els[sq->last].name);
		return false;
	}
	if (sq->in_ext) {
		fail(st, KMS_ERR_PARSE, "%s: %s after an extension element", sq->parent,
		     sq->els[i].name);
		return false;
	}
	if ((sq->seen & (UINT32_C(1) << i)) != 0) {
		fail(st, KMS_ERR_PARSE, "%s: duplicate %s", sq->parent, sq->els[i].name);
		return false;
	}
	if (i < sq->pos) {
		fail(st, KMS_ERR_PARSE, "%s: %s out of order", sq->parent, sq->els[i].name);
		return false;
	}
	for (j = sq->pos; j < i; j++) {
		if (sq->els[j].required) {
			fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent, sq->els[j].name);
			return false;
		}
	}
	sq->pos = i + 1;
	sq->last = (int)i;
	sq->seen |= UINT32_C(1) << i;
	*idx = i;
	return true;
}

static bool
seq_end(struct pstate *st, const struct seq *sq)
{
	size_t j;

	for (j = sq->pos; j < sq->num; j++) {
		if (sq->els[j].required) {
			fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent, sq->els[j].name);
			return false;
		}
	}
	return true;
}

static const struct seq_el error_els[] = {
	{"ErrorCode", true},
	{"ErrorMsg", true},
};

static bool
parse_client_error(struct pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	struct seq sq = {.parent = "ClientError", .els = error_els, .num = 2, .last = -1};
	const xmlNode *c;
	size_t idx;

	if (!attrs_ok(st, n, "ClientError", ATTRS_ID_VERSION)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (!between_ok(st, c, "ClientError")) {
			return false;
		}
		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (!seq_next(st, &sq, c, &idx)) {
			return false;
		}
		if (idx == 0 && !leaf_integer(st, c, "ErrorCode", &req->client_error_code)) {
			return false;
		}
		if (idx == 1 && !leaf(st, c, "ErrorMsg", LEAF_TEXT, req->client_error_msg,
				      sizeof(req->client_error_msg))) {
			return false;
		}
	}
	if (!seq_end(st, &sq)) {
		return false;
	}
	req->has_client_error = true;
	return true;
}

enum {
	R_USER_URI,
	R_KMS_URI,
	R_TIME,
	R_CLIENT_ID,
	R_DEVICE_ID,
	R_CLIENT_REQ_URL,
	R_KRR_LIST,
	R_CLIENT_ERROR,
	R_NUM,
};

static const struct seq_el request_els[R_NUM] = {
	[R_USER_URI] = {"UserUri", true},    [R_KMS_URI] = {"KmsUri", true},
	[R_TIME] = {"Time", true},           [R_CLIENT_ID] = {"ClientId", false},
	[R_DEVICE_ID] = {"DeviceId", false}, [R_CLIENT_REQ_URL] = {"ClientReqUrl", true},
	[R_KRR_LIST] = {"KrrList", false},   [R_CLIENT_ERROR] = {"ClientError", false},
};

static bool
parse_kms_request(struct pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	struct seq sq = {.parent = "KmsRequest", .els = request_els, .num = R_NUM, .last = -1};
	const xmlChar *version;
	const xmlNode *c;
	size_t idx;
	bool ok = true;

	if (!attrs_ok(st, n, "KmsRequest", ATTRS_ID_VERSION)) {
		return false;
	}
	version = attr_value(n, "Version");
	if (version == NULL && xmlHasProp(n, X("Version")) != NULL) {
		fail(st, KMS_ERR_PARSE, "KmsRequest: unsupported Version");
		return false;
	}
	if (version == NULL) {
		req->version = KMS_XML_REQ_VERSION_ABSENT;
	} else if (xmlStrEqual(version, X("1.0.0"))) {
		req->version = KMS_XML_REQ_VERSION_1_0_0;
	} else if (xmlStrEqual(version, X("1.1.0"))) {
		req->version = KMS_XML_REQ_VERSION_1_1_0;
	} else {
		fail(st, KMS_ERR_PARSE, "KmsRequest: unsupported Version");
		return false;
	}
	for (c = n->children; ok && c != NULL; c = c->next) {
		if (!between_ok(st, c, "KmsRequest")) {
			return false;
		}
		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (!seq_next(st, &sq, c, &idx)) {
			return false;
		}
		switch (idx) {
		case R_USER_URI:
			ok = leaf(st, c, "UserUri", LEAF_URI, req->user_uri, sizeof(req->user_uri));
			break;
		case R_KMS_URI:
			ok = leaf(st, c, "KmsUri", LEAF_URI, req->kms_uri, sizeof(req->kms_uri));
			break;
		case R_TIME:
			ok = leaf_time(st, c, "Time", &req->time);
			break;
		case R_CLIENT_ID:
			ok = leaf(st, c, "ClientId", LEAF_ID, req->client_id,
				  sizeof(req->client_id));
			req->has_client_id = ok;
			break;
		case R_DEVICE_ID:
			ok = leaf(st, c, "DeviceId", LEAF_ID, req->device_id,
				  sizeof(req->device_id));
			req->has_device_id = ok;
			break;
		case R_CLIENT_REQ_URL:
			ok = leaf(st, c, "ClientReqUrl", LEAF_URI, req->client_req_url,
				  sizeof(req->client_req_url));
			break;
		case R_KRR_LIST:
			/* krr:KmsRedirectResponseType: not interpreted (within the global limits).
			 */
			req->has_krr_list = true;
			break;
		case R_CLIENT_ERROR:
			ok = parse_client_error(st, c, req);
			break;
		default:
			break; /* an extension (##other, lax): ignored */
		}
	}
	if (!ok || !seq_end(st, &sq)) {
		return false;
	}
	req->num_extensions = sq.num_ext;
	return true;
}

/* SignedKmsRequest: KmsRequest, then ds:Signature (not verified here). */
static bool
parse_signed(struct pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	const xmlNode *c, *inner = NULL;
	bool have_sig = false;

	if (!attrs_ok(st, n, "SignedKmsRequest", ATTRS_ID)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (!between_ok(st, c, "SignedKmsRequest")) {
			return false;
		}
		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (inner == NULL && is_el(c, NS_KMS, "KmsRequest")) {
			inner = c;
		} else if (inner != NULL && !have_sig && is_el(c, NS_DS, "Signature")) {
			have_sig = true;
		} else {
			fail(st, KMS_ERR_PARSE, "SignedKmsRequest: unexpected element after %s",
			     inner == NULL ? "its start"
			     : have_sig    ? "ds:Signature"
					   : "KmsRequest");
			return false;
		}
	}
	if (inner == NULL) {
		fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing KmsRequest");
		return false;
	}
	if (!have_sig) {
		fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing ds:Signature");
		return false;
	}
	if (!parse_kms_request(st, inner, req)) {
		return false;
	}
	req->is_signed = true;
	return true;
}

/* Belt and braces behind the SAX refusals: no DTD, entity or PI node anywhere. */
static bool
tree_clean(struct pstate *st, const xmlNode *n)
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
kms_xml_parse_request(struct kms_xml_request *out, char *err, size_t err_cap, const uint8_t *in,
		      size_t in_len)
{
	struct pstate st;
	struct kms_xml_request *req = NULL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root;
	int r = KMS_ERR_INTERNAL;

	memset(&st, 0, sizeof(st));
	st.r = KMS_OK;
	if (out == NULL || (in == NULL && in_len > 0)) {
		fail(&st, KMS_ERR_INVALID_ARG, "invalid arguments");
		goto out;
	}
	if (in_len > KMS_XML_MAX_BODY) {
		fail(&st, KMS_ERR_TOO_LARGE, "body larger than 65536 bytes");
		goto out;
	}
	if (in_len == 0) {
		fail(&st, KMS_ERR_PARSE, "empty body");
		goto out;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL ||
	    (st.text = malloc(KMS_XML_MAX_BODY)) == NULL || (ctxt = xmlNewParserCtxt()) == NULL ||
	    ctxt->sax == NULL) {
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
	ctxt->sax->internalSubset = on_internal_subset;
	ctxt->sax->externalSubset = on_internal_subset;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->getEntity = on_get_entity;
	ctxt->sax->getParameterEntity = on_get_entity;
	ctxt->sax->resolveEntity = on_resolve_entity;
	ctxt->sax->reference = on_reference;
	ctxt->sax->processingInstruction = on_pi;
	ctxt->sax->serror = on_error;
	/* Comments are checked for well-formedness but not kept: they never reach the tree. */
	ctxt->sax->comment = NULL;
	/* Forced UTF-8; no network, no DTD, no entity substitution; CDATA as text. */
	doc = xmlCtxtReadMemory(ctxt, (const char *)in, (int)in_len, NULL, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	if (st.r != KMS_OK) {
		goto out;
	}
	if (doc == NULL || !ctxt->wellFormed) {
		if (st.have_xml_error && st.xml_code == XML_ERR_NO_MEMORY) {
			fail(&st, KMS_ERR_NOMEM, "out of memory");
		} else if (st.have_xml_error) {
			fail(&st, KMS_ERR_PARSE,
			     "not well-formed XML (error %d, line %d, column %d)", st.xml_code,
			     st.xml_line, st.xml_col);
		} else {
			fail(&st, KMS_ERR_PARSE, "not well-formed XML");
		}
		goto out;
	}
	/* libxml2 reports namespace errors (an unbound prefix) without clearing wellFormed. */
	if (!ctxt->nsWellFormed) {
		fail(&st, KMS_ERR_PARSE, "namespace error (line %d)",
		     st.have_xml_error ? st.xml_line : 0);
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
	if (is_el(root, NS_KMS, "KmsRequest")) {
		(void)parse_kms_request(&st, root, req);
	} else if (is_el(root, NS_KMS, "SignedKmsRequest")) {
		(void)parse_signed(&st, root, req);
	} else {
		fail(&st, KMS_ERR_PARSE, "root is not KmsRequest or SignedKmsRequest in " NS_KMS);
	}
	if (st.r != KMS_OK) {
		goto out;
	}
	memcpy(out, req, sizeof(*out));
out:
	r = st.r;
	if (err != NULL && err_cap > 0) {
		(void)snprintf(err, err_cap, "%s", r == KMS_OK ? "" : st.msg);
	}
	xmlFreeDoc(doc);
	if (ctxt != NULL) {
		ctxt->_private = NULL;
		xmlFreeParserCtxt(ctxt);
	}
	free(st.text);
	free(req);
	return r;
}
