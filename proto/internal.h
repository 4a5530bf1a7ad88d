/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/internal.h - private to kms_xml: the guarded libxml2 parse and the tree helpers
 * that the KmsRequest parser (xml-request.c) and the KmsCertificate parser (xml-cert.c) share
 * (proto/xml-parse.c). Not installed, not for other libraries.
 *
 * The helpers that return bool return false only after kms_xml_fail() recorded why; the first
 * refusal wins, later ones are its consequences and are dropped.
 */
#ifndef KMS_PROTO_INTERNAL_H
#define KMS_PROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "proto/xml.h"

#define KMS_XML_LEAF_SCALAR_MAX 64   /* bytes of a KMS_XML_LEAF_SCALAR leaf */
#define KMS_XML_LEAF_HEX_MAX    1024 /* bytes (hex digits) of a KMS_XML_LEAF_HEX leaf */

/* The state of one parse: set up by kms_xml_pstate_init(), ended by kms_xml_pstate_finish(). */
struct kms_xml_pstate {
	/* The SAX2 tree builder's callbacks that the guards wrap. */
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
	/*
	 * How a document that is not well-formed is reported: true, libxml2's code, line and
	 * column, and a namespace error apart; false, one message with its code and line.
	 */
	bool detail;
	/* Scratch for a leaf's text: text_cap bytes (owned), allocated by the parse. */
	char *text;
	size_t text_cap;
};

/*
 * kms_xml_pstate_init - clear *st for one parse: no refusal yet, the scratch for a leaf's text
 * to hold up to text_cap bytes (a leaf holding more is refused), detail as the field says.
 */
void kms_xml_pstate_init(struct kms_xml_pstate *st, size_t text_cap, bool detail);

/*
 * kms_xml_pstate_finish - end a parse: its message into err (err_cap bytes, "" on success; err
 * may be NULL), and free what *st owns (st may be one that was never parsed with). Returns the
 * code kept in st, KMS_OK when there was no refusal.
 */
int kms_xml_pstate_finish(struct kms_xml_pstate *st, char *err, size_t err_cap) KMS_WUR;

/* kms_xml_fail - record code and the message (our text only, never input) unless one is kept. */
void kms_xml_fail(struct kms_xml_pstate *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * kms_xml_guarded_parse - parse in[0..in_len) (in_len at most KMS_XML_MAX_BODY, checked by the
 * caller) as UTF-8 with a parser context of its own: no network, no DTD, no entity
 * substitution, CDATA as text, comments dropped, libxml2's errors only to st. SAX callbacks
 * refuse a DOCTYPE, an entity declaration or reference, a processing instruction, nesting
 * deeper than KMS_XML_MAX_DEPTH and more than KMS_XML_MAX_ELEMENTS elements while parsing;
 * then the tree is checked again for any DTD, entity or PI node and for a root element.
 * Returns KMS_OK with *out_doc (owned: xmlFreeDoc) and *out_root (borrowed from it);
 * otherwise the code kept in st (KMS_ERR_PARSE, KMS_ERR_TOO_LARGE, KMS_ERR_NOMEM,
 * KMS_ERR_INTERNAL), with *out_doc and *out_root NULL.
 */
int kms_xml_guarded_parse(struct kms_xml_pstate *st, xmlDocPtr *out_doc, const xmlNode **out_root,
			  const uint8_t *in, size_t in_len) KMS_WUR;

/* kms_xml_is_space - c is XML whitespace (space, tab, LF, CR). */
bool kms_xml_is_space(char c);

/* kms_xml_in_ns - n (an element, or an attribute cast to one) is in the namespace ns. */
bool kms_xml_in_ns(const xmlNode *n, const char *ns);

/* kms_xml_is_el - n is the element name in the namespace ns. */
bool kms_xml_is_el(const xmlNode *n, const char *ns, const char *name);

/*
 * kms_xml_between_ok - n may sit between the elements of a sequence in parent (an element,
 * a comment, whitespace text); otherwise false.
 */
bool kms_xml_between_ok(struct kms_xml_pstate *st, const xmlNode *n, const char *parent) KMS_WUR;

/*
 * kms_xml_attrs_ok - the attributes of n (named name in messages): in no namespace only those
 * of allowed (NULL-terminated; NULL for none), others only of namespaces but the interface's.
 */
bool kms_xml_attrs_ok(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
		      const char *const *allowed) KMS_WUR;

/*
 * kms_xml_attr_value - the value (borrowed) of the attribute name in no namespace of n, "" for
 * an empty one, NULL if absent; NULL with *bad true when its value is not a single text node.
 */
const xmlChar *kms_xml_attr_value(const xmlNode *n, const char *name, bool *bad);

enum kms_xml_leaf_kind {
	KMS_XML_LEAF_URI,    /* anyURI: trimmed, 1..KMS_XML_MAX_URI, no space or control */
	KMS_XML_LEAF_ID,     /* an id (xsd:string): 1..KMS_XML_MAX_ID, no control character */
	KMS_XML_LEAF_TEXT,   /* xsd:string: 0..KMS_XML_MAX_TEXT, as is */
	KMS_XML_LEAF_SCALAR, /* trimmed, 1..KMS_XML_LEAF_SCALAR_MAX, parsed by the caller */
	KMS_XML_LEAF_HEX, /* hexBinary: trimmed, 1..KMS_XML_LEAF_HEX_MAX, decoded by the caller */
};

/*
 * kms_xml_leaf - the text of the leaf element n (named name in messages) into out (cap bytes,
 * NUL-terminated), checked by kind. A leaf holds text only (comments are skipped) and
 * attributes only of other namespaces. KMS_ERR_RANGE when too long, else KMS_ERR_PARSE.
 */
bool kms_xml_leaf(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
		  enum kms_xml_leaf_kind kind, char *out, size_t cap) KMS_WUR;

/* kms_xml_leaf_time - the xsd:dateTime leaf n into *out (seconds since the epoch, UTC). */
bool kms_xml_leaf_time(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
		       int64_t *out) KMS_WUR;

/*
 * kms_xml_c14n - inclusive C14N 1.0 without comments (proto/xml-c14n.c, libxml2's
 * xmlC14NExecute) of the node-set of a same-document reference to the element apex: its
 * subtree with its attributes and, on each element, the namespace nodes in scope; minus exclude
 * and its subtree (NULL: none; the enveloped-signature transform). The output goes into the
 * digest context md, or, md NULL, into buf[0..cap) with its length in *len.
 * Returns KMS_OK; KMS_ERR_TOO_LARGE (buf too small); KMS_ERR_CRYPTO (the digest failed);
 * KMS_ERR_PARSE (libxml2 refused the document: a relative namespace URI in scope, which C14N
 * 1.0 leaves undefined; or out of memory inside libxml2, which it does not tell apart);
 * KMS_ERR_NOMEM; KMS_ERR_INVALID_ARG.
 */
int kms_xml_c14n(const xmlNode *apex, const xmlNode *exclude, EVP_MD_CTX *md, uint8_t *buf,
		 size_t cap, size_t *len) KMS_WUR;

/* kms_xml_c14n_sha256 - SHA-256 of kms_xml_c14n(apex, exclude) into out (zeroed on failure).
 * Errors as kms_xml_c14n. */
int kms_xml_c14n_sha256(const xmlNode *apex, const xmlNode *exclude,
			uint8_t out[static KMS_XML_HMAC_LEN]) KMS_WUR;

#endif /* KMS_PROTO_INTERNAL_H */
