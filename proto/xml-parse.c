/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-parse.c - the guarded libxml2 parse and the tree helpers shared by the parsers of
 * hostile XML (xml-request.c: the KmsRequest; xml-cert.c: the KmsCertificate of another KMS).
 *
 * Attacker model: any bytes, up to KMS_XML_MAX_BODY. libxml2 parses with a parser context of
 * its own per call, never loads anything (XML_PARSE_NONET, no DTD loading or validation, no
 * entity substitution) and reports errors only to our structured handler. Its SAX callbacks are
 * wrapped so that the refusals that matter for resources happen while parsing, before a tree
 * grows: a DOCTYPE (which ends billion-laughs and XXE before any declaration is read), any entity
 * lookup, a processing instruction, nesting deeper than KMS_XML_MAX_DEPTH, more than
 * KMS_XML_MAX_ELEMENTS elements. Error messages are our own text, never text from the input.
 */
#include "proto/internal.h"

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

void
kms_xml_pstate_init(struct kms_xml_pstate *st, size_t text_cap, bool detail)
{
	memset(st, 0, sizeof(*st));
	st->r = KMS_OK;
	st->text_cap = text_cap;
	st->detail = detail;
}

int
kms_xml_pstate_finish(struct kms_xml_pstate *st, char *err, size_t err_cap)
{
	if (err != NULL && err_cap > 0) {
		(void)snprintf(err, err_cap, "%s", st->r == KMS_OK ? "" : st->msg);
	}
	free(st->text);
	st->text = NULL;
	return st->r;
}

void
kms_xml_fail(struct kms_xml_pstate *st, int code, const char *fmt, ...)
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

static struct kms_xml_pstate *
state_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

static void
refuse(void *ctx, int code, const char *what)
{
	kms_xml_fail(state_of(ctx), code, "%s", what);
	xmlStopParser(ctx);
}

static void
on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
	 int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
	 const xmlChar **attributes)
{
	struct kms_xml_pstate *st = state_of(ctx);

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
	struct kms_xml_pstate *st = state_of(ctx);

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

/* libxml2's errors: keep the first one's code and position, never its text (it quotes input). */
static void
on_error(void *ctx, xmlErrorPtr e)
{
	struct kms_xml_pstate *st = state_of(ctx);

	if (e == NULL || st->have_xml_error || e->level < XML_ERR_ERROR) {
		return;
	}
	st->have_xml_error = true;
	st->xml_code = e->code;
	st->xml_line = e->line;
	st->xml_col = e->int2;
}

/* ------------------------------------------------------------------------------------------ */
/* The parse. */

/* A document libxml2 did not accept (or accepted with namespace errors): say why. */
static void
fail_malformed(struct kms_xml_pstate *st, const xmlParserCtxt *ctxt, const xmlDoc *doc)
{
	if (st->have_xml_error && st->xml_code == XML_ERR_NO_MEMORY) {
		kms_xml_fail(st, KMS_ERR_NOMEM, "out of memory");
	} else if (!st->detail) {
		kms_xml_fail(st, KMS_ERR_PARSE, "not well-formed XML (error %d, line %d)",
			     st->have_xml_error ? st->xml_code : 0,
			     st->have_xml_error ? st->xml_line : 0);
	} else if (doc != NULL && ctxt->wellFormed) {
		/* libxml2 reports namespace errors (an unbound prefix) without clearing wellFormed.
		 */
		kms_xml_fail(st, KMS_ERR_PARSE, "namespace error (line %d)",
			     st->have_xml_error ? st->xml_line : 0);
	} else if (st->have_xml_error) {
		kms_xml_fail(st, KMS_ERR_PARSE,
			     "not well-formed XML (error %d, line %d, column %d)", st->xml_code,
			     st->xml_line, st->xml_col);
	} else {
		kms_xml_fail(st, KMS_ERR_PARSE, "not well-formed XML");
	}
}

/* Belt and braces behind the SAX refusals: no DTD, entity or PI node anywhere. */
static bool
tree_clean(struct kms_xml_pstate *st, const xmlNode *n)
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
			kms_xml_fail(st, KMS_ERR_PARSE,
				     "DOCTYPE, entity or processing instruction found");
			return false;
		}
	}
	return true;
}

int
kms_xml_guarded_parse(struct kms_xml_pstate *st, xmlDocPtr *out_doc, const xmlNode **out_root,
		      const uint8_t *in, size_t in_len)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root;

	*out_doc = NULL;
	*out_root = NULL;
	if (st->r != KMS_OK) {
		goto out;
	}
	if (in_len > KMS_XML_MAX_BODY) {
		kms_xml_fail(st, KMS_ERR_INTERNAL, "input larger than the caller allows");
		goto out;
	}
	if ((st->text = malloc(st->text_cap > 0 ? st->text_cap : 1)) == NULL ||
	    (ctxt = xmlNewParserCtxt()) == NULL || ctxt->sax == NULL) {
		kms_xml_fail(st, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	ctxt->_private = st;
	st->start = ctxt->sax->startElementNs;
	st->end = ctxt->sax->endElementNs;
	if (st->start == NULL || st->end == NULL) {
		kms_xml_fail(st, KMS_ERR_INTERNAL, "libxml2 without SAX2");
		goto out;
	}
	/* Elements: depth and count. */
	ctxt->sax->startElementNs = on_start;
	ctxt->sax->endElementNs = on_end;
	/* A DOCTYPE, entities and processing instructions: refused where libxml2 meets them. */
	ctxt->sax->internalSubset = on_subset;
	ctxt->sax->externalSubset = on_subset;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->getEntity = on_get_entity;
	ctxt->sax->getParameterEntity = on_get_entity;
	ctxt->sax->resolveEntity = on_resolve_entity;
	ctxt->sax->reference = on_reference;
	ctxt->sax->processingInstruction = on_pi;
	/* libxml2's errors: code and position only. */
	ctxt->sax->serror = on_error;
	/* Comments are checked for well-formedness but not kept: they never reach the tree. */
	ctxt->sax->comment = NULL;
	/* Forced UTF-8; no network, no DTD, no entity substitution; CDATA as text. in_len is at
	 * most KMS_XML_MAX_BODY: the int conversion is exact. */
	doc = xmlCtxtReadMemory(ctxt, (const char *)in, (int)in_len, NULL, "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	if (st->r != KMS_OK) {
		goto out;
	}
	if (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		fail_malformed(st, ctxt, doc);
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "DOCTYPE not allowed");
		goto out;
	}
	if (!tree_clean(st, doc->children)) {
		goto out;
	}
	if ((root = xmlDocGetRootElement(doc)) == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "no root element");
		goto out;
	}
	*out_doc = doc;
	*out_root = root;
	doc = NULL; /* transferred */
out:
	xmlFreeDoc(doc);
	if (ctxt != NULL) {
		ctxt->_private = NULL;
		xmlFreeParserCtxt(ctxt);
	}
	return st->r;
}

/* ------------------------------------------------------------------------------------------ */
/* The tree. */

bool
kms_xml_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool
kms_xml_in_ns(const xmlNode *n, const char *ns)
{
	return n->ns != NULL && n->ns->href != NULL && xmlStrEqual(n->ns->href, X(ns));
}

bool
kms_xml_is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && kms_xml_in_ns(n, ns) && xmlStrEqual(n->name, X(name));
}

bool
kms_xml_between_ok(struct kms_xml_pstate *st, const xmlNode *n, const char *parent)
{
	const xmlChar *p;

	switch (n->type) {
	case XML_ELEMENT_NODE:
	case XML_COMMENT_NODE:
		return true;
	case XML_TEXT_NODE:
	case XML_CDATA_SECTION_NODE:
		for (p = n->content; p != NULL && *p != '\0'; p++) {
			if (!kms_xml_is_space((char)*p)) {
				kms_xml_fail(st, KMS_ERR_PARSE, "%s: text between elements",
					     parent);
				return false;
			}
		}
		return true;
	default:
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: unexpected node", parent);
		return false;
	}
}

bool
kms_xml_attrs_ok(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
		 const char *const *allowed)
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
				kms_xml_fail(st, KMS_ERR_PARSE, "%s: unknown attribute", name);
				return false;
			}
		} else if (kms_xml_in_ns((const xmlNode *)a, KMS_SIGNEDINFO_NS_KMS)) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: attribute in the interface namespace",
				     name);
			return false;
		}
	}
	return true;
}

const xmlChar *
kms_xml_attr_value(const xmlNode *n, const char *name, bool *bad)
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

static size_t
leaf_max(enum kms_xml_leaf_kind kind)
{
	switch (kind) {
	case KMS_XML_LEAF_URI:
		return KMS_XML_MAX_URI;
	case KMS_XML_LEAF_ID:
		return KMS_XML_MAX_ID;
	case KMS_XML_LEAF_TEXT:
		return KMS_XML_MAX_TEXT;
	case KMS_XML_LEAF_HEX:
		return KMS_XML_LEAF_HEX_MAX;
	case KMS_XML_LEAF_SCALAR:
	default:
		return KMS_XML_LEAF_SCALAR_MAX;
	}
}

bool
kms_xml_leaf(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
	     enum kms_xml_leaf_kind kind, char *out, size_t cap)
{
	const xmlNode *c;
	size_t len = 0, start = 0, max = leaf_max(kind), i, clen;
	char *t = st->text;

	if (!kms_xml_attrs_ok(st, n, name, NULL)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE) {
			continue;
		}
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: mixed content", name);
			return false;
		}
		clen = c->content != NULL ? strlen((const char *)c->content) : 0;
		if (clen > st->text_cap - len) {
			kms_xml_fail(st, KMS_ERR_RANGE, "%s too long", name);
			return false;
		}
		if (clen > 0) {
			memcpy(t + len, c->content, clen);
			len += clen;
		}
	}
	if (kind != KMS_XML_LEAF_TEXT && kind != KMS_XML_LEAF_ID) {
		while (len > 0 && kms_xml_is_space(t[len - 1])) {
			len--;
		}
		while (start < len && kms_xml_is_space(t[start])) {
			start++;
		}
	}
	if (len - start > max || len - start >= cap) {
		kms_xml_fail(st, KMS_ERR_RANGE, "%s too long", name);
		return false;
	}
	if (len == start && kind != KMS_XML_LEAF_TEXT) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is empty", name);
		return false;
	}
	for (i = start; i < len; i++) {
		uint8_t b = (uint8_t)t[i];

		/* libxml2 delivers UTF-8 XML Chars; URIs and ids also have no control character. */
		if ((kind == KMS_XML_LEAF_URI && b <= 0x20) ||
		    (kind == KMS_XML_LEAF_ID && b < 0x20) ||
		    ((kind == KMS_XML_LEAF_URI || kind == KMS_XML_LEAF_ID) && b == 0x7f)) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: invalid character", name);
			return false;
		}
	}
	memcpy(out, t + start, len - start);
	out[len - start] = '\0';
	return true;
}

bool
kms_xml_leaf_time(struct kms_xml_pstate *st, const xmlNode *n, const char *name, int64_t *out)
{
	char buf[KMS_XML_LEAF_SCALAR_MAX + 1];

	if (!kms_xml_leaf(st, n, name, KMS_XML_LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (kms_xml_datetime_parse(out, buf, strlen(buf)) != KMS_OK) {
		kms_xml_fail(st, KMS_ERR_RANGE, "%s is not a valid dateTime", name);
		return false;
	}
	return true;
}
