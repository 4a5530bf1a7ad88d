/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-c14n.c - inclusive C14N 1.0 (without comments) of a same-document reference to an
 * element, for the response signature (xml-render.c) and the request signature
 * (xml-request.c). libxml2's C14N writes into an output buffer whose write callback feeds a
 * SHA-256 context or a bounded memory buffer; the node-set is given by a visibility callback,
 * never by re-serializing anything by hand.
 */
#include "proto/internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/xmlIO.h>

#include "common/banned.h"

struct sink {
	EVP_MD_CTX *md; /* digest the output, or */
	uint8_t *buf;   /* collect it in buf[0..cap) */
	size_t cap;
	size_t len;
	bool failed;
	bool overflow; /* buf was too small */
};

static int
sink_write(void *ctx, const char *data, int len)
{
	struct sink *s = ctx;
	size_t n;

	if (len < 0 || s->failed) {
		return -1;
	}
	n = (size_t)len;
	if (s->md != NULL) {
		if (EVP_DigestUpdate(s->md, data, n) != 1) {
			s->failed = true;
			return -1;
		}
	} else {
		if (n > s->cap - s->len) {
			s->failed = true;
			s->overflow = true;
			return -1;
		}
		memcpy(s->buf + s->len, data, n);
		s->len += n;
	}
	return len;
}

static int
sink_close(void *ctx)
{
	(void)ctx;
	return 0;
}

struct subtree {
	const xmlNode *apex;    /* visible: apex and its descendants ... */
	const xmlNode *exclude; /* ... except exclude and its descendants (NULL: none) */
};

/*
 * The node-set of a same-document reference to an element: the element's subtree (its
 * attributes and, per element, the namespace nodes in scope). libxml2 asks about a namespace
 * node with the element it would be rendered on as parent; about any other node with itself.
 */
static int
subtree_visible(void *user, xmlNodePtr node, xmlNodePtr parent)
{
	const struct subtree *st = user;
	const xmlNode *n = node;

	if (node == NULL) {
		return 0;
	}
	if (node->type == XML_NAMESPACE_DECL) {
		n = parent;
	}
	for (; n != NULL; n = n->parent) {
		if (n == st->exclude) {
			return 0;
		}
		if (n == st->apex) {
			return 1;
		}
	}
	return 0;
}

int
kms_xml_c14n(const xmlNode *apex, const xmlNode *exclude, EVP_MD_CTX *md, uint8_t *buf, size_t cap,
	     size_t *len)
{
	struct sink s = {.md = md, .buf = buf, .cap = cap, .len = 0};
	struct subtree st = {.apex = apex, .exclude = exclude};
	xmlOutputBufferPtr out;
	int rc, rc_close;

	if (len != NULL) {
		*len = 0;
	}
	if (apex == NULL || apex->doc == NULL || (md == NULL && (buf == NULL || len == NULL))) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((out = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL)) == NULL) {
		return KMS_ERR_NOMEM;
	}
	/* libxml2 writes to neither; its prototypes lack the const. */
	rc = xmlC14NExecute(apex->doc, subtree_visible, (void *)(uintptr_t)&st, XML_C14N_1_0, NULL,
			    0, out);
	rc_close = xmlOutputBufferClose(out);
	if (s.overflow) {
		return KMS_ERR_TOO_LARGE;
	}
	if (s.failed) {
		return md != NULL ? KMS_ERR_CRYPTO : KMS_ERR_INTERNAL;
	}
	if (rc < 0 || rc_close < 0) {
		return KMS_ERR_PARSE;
	}
	if (len != NULL && md == NULL) {
		*len = s.len;
	}
	return KMS_OK;
}

int
kms_xml_c14n_sha256(const xmlNode *apex, const xmlNode *exclude,
		    uint8_t out[static KMS_XML_HMAC_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int md_len = 0;
	int r;

	memset(out, 0, KMS_XML_HMAC_LEN);
	if (md == NULL) {
		return KMS_ERR_NOMEM;
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		r = KMS_ERR_CRYPTO;
	} else if ((r = kms_xml_c14n(apex, exclude, md, NULL, 0, NULL)) == KMS_OK &&
		   (EVP_DigestFinal_ex(md, out, &md_len) != 1 || md_len != KMS_XML_HMAC_LEN)) {
		r = KMS_ERR_CRYPTO;
	}
	if (r != KMS_OK) {
		memset(out, 0, KMS_XML_HMAC_LEN);
	}
	EVP_MD_CTX_free(md);
	return r;
}
