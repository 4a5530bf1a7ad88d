/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-request.c - the KmsRequest body (TS 33.180 D.2.2), hostile network input.
 *
 * Attacker model: any bytes, up to KMS_XML_MAX_BODY. The parse itself, under the guards that
 * refuse a DOCTYPE, entities, processing instructions, excess depth and element count before a
 * tree grows, is kms_xml_guarded_parse() (xml-parse.c, shared with xml-cert.c). The tree that is
 * left is then checked against the schema's sequence by hand and copied into fixed-size fields.
 * A SignedKmsRequest's ds:Signature is checked too, all but its HMAC (below, "The signature").
 * Error messages name elements from our own tables, never text from the input.
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
#include <openssl/crypto.h>

#include "common/base64.h"
#include "proto/signedinfo.h"

#include "common/banned.h"

#define X(s) ((const xmlChar *)(s))

#define NS_KMS KMS_SIGNEDINFO_NS_KMS
#define NS_DS  KMS_SIGNEDINFO_NS_DS

/* The attributes in no namespace that an element may have (kms_xml_attrs_ok). */
static const char *const attrs_id_version[] = {"Id", "Version", NULL};
static const char *const attrs_id[] = {"Id", NULL};

/* xsd:integer into int64_t. */
static bool
leaf_integer(struct kms_xml_pstate *st, const xmlNode *n, const char *name, int64_t *out)
{
	char buf[KMS_XML_LEAF_SCALAR_MAX + 1];
	const char *p = buf;
	bool neg = false;
	uint64_t v = 0, limit;

	if (!kms_xml_leaf(st, n, name, KMS_XML_LEAF_SCALAR, buf, sizeof(buf))) {
		return false;
	}
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
	}
	if (*p == '\0') {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
		return false;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s is not an integer", name);
			return false;
		}
		if (v > (limit - (uint64_t)(*p - '0')) / 10) {
			kms_xml_fail(st, KMS_ERR_RANGE, "%s out of range", name);
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
 * extension. Returns false (after kms_xml_fail()) when n is not allowed there.
 */
static bool
seq_next(struct kms_xml_pstate *st, struct seq *sq, const xmlNode *n, size_t *idx)
{
	size_t i, j;

	if (n->ns == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: element without namespace", sq->parent);
		return false;
	}
	if (!kms_xml_in_ns(n, NS_KMS)) {
		/* ##other: only after every required element, and only at the end. */
		for (j = sq->pos; j < sq->num; j++) {
			if (sq->els[j].required) {
				kms_xml_fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent,
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
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: unknown element after %s", sq->parent,
			     sq->last < 0 ? "its start" : sq->els[sq->last].name);
		return false;
	}
	if (sq->in_ext) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: %s after an extension element", sq->parent,
			     sq->els[i].name);
		return false;
	}
	if ((sq->seen & (UINT32_C(1) << i)) != 0) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: duplicate %s", sq->parent, sq->els[i].name);
		return false;
	}
	if (i < sq->pos) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: %s out of order", sq->parent, sq->els[i].name);
		return false;
	}
	for (j = sq->pos; j < i; j++) {
		if (sq->els[j].required) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent,
				     sq->els[j].name);
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
seq_end(struct kms_xml_pstate *st, const struct seq *sq)
{
	size_t j;

	for (j = sq->pos; j < sq->num; j++) {
		if (sq->els[j].required) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: missing %s", sq->parent,
				     sq->els[j].name);
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
parse_client_error(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	struct seq sq = {.parent = "ClientError", .els = error_els, .num = 2, .last = -1};
	const xmlNode *c;
	size_t idx;

	if (!kms_xml_attrs_ok(st, n, "ClientError", attrs_id_version)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (!kms_xml_between_ok(st, c, "ClientError")) {
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
		if (idx == 1 &&
		    !kms_xml_leaf(st, c, "ErrorMsg", KMS_XML_LEAF_TEXT, req->client_error_msg,
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
parse_kms_request(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	struct seq sq = {.parent = "KmsRequest", .els = request_els, .num = R_NUM, .last = -1};
	const xmlChar *version;
	const xmlNode *c;
	size_t idx;
	bool ok = true, bad;

	if (!kms_xml_attrs_ok(st, n, "KmsRequest", attrs_id_version)) {
		return false;
	}
	/* Also refused: a Version whose value is not text, or one in another namespace only. */
	version = kms_xml_attr_value(n, "Version", &bad);
	if (bad || (version == NULL && xmlHasProp(n, X("Version")) != NULL)) {
		kms_xml_fail(st, KMS_ERR_PARSE, "KmsRequest: unsupported Version");
		return false;
	}
	if (version == NULL) {
		req->version = KMS_XML_REQ_VERSION_ABSENT;
	} else if (xmlStrEqual(version, X("1.0.0"))) {
		req->version = KMS_XML_REQ_VERSION_1_0_0;
	} else if (xmlStrEqual(version, X("1.1.0"))) {
		req->version = KMS_XML_REQ_VERSION_1_1_0;
	} else {
		kms_xml_fail(st, KMS_ERR_PARSE, "KmsRequest: unsupported Version");
		return false;
	}
	for (c = n->children; ok && c != NULL; c = c->next) {
		if (!kms_xml_between_ok(st, c, "KmsRequest")) {
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
			ok = kms_xml_leaf(st, c, "UserUri", KMS_XML_LEAF_URI, req->user_uri,
					  sizeof(req->user_uri));
			break;
		case R_KMS_URI:
			ok = kms_xml_leaf(st, c, "KmsUri", KMS_XML_LEAF_URI, req->kms_uri,
					  sizeof(req->kms_uri));
			break;
		case R_TIME:
			ok = kms_xml_leaf_time(st, c, "Time", &req->time);
			break;
		case R_CLIENT_ID:
			ok = kms_xml_leaf(st, c, "ClientId", KMS_XML_LEAF_ID, req->client_id,
					  sizeof(req->client_id));
			req->has_client_id = ok;
			break;
		case R_DEVICE_ID:
			ok = kms_xml_leaf(st, c, "DeviceId", KMS_XML_LEAF_ID, req->device_id,
					  sizeof(req->device_id));
			req->has_device_id = ok;
			break;
		case R_CLIENT_REQ_URL:
			ok = kms_xml_leaf(st, c, "ClientReqUrl", KMS_XML_LEAF_URI,
					  req->client_req_url, sizeof(req->client_req_url));
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

/* ------------------------------------------------------------------------------------------ */
/*
 * The signature of a SignedKmsRequest (docs/xml.md, "Signed requests").
 *
 * Attacker model: all of ds:Signature is input, and its HMAC key is one kmsd never holds. One
 * profile is accepted and everything about it is compared with fixed strings, so that the bytes
 * kms-hsmd checks the HMAC of (the canonical ds:SignedInfo) can mean one thing only: inclusive
 * C14N 1.0, HMAC-SHA256 at full length, and exactly one Reference, to the KmsRequest that was
 * parsed above, whose digest is recomputed here. Hence no Reference to anything else (no "",
 * no XPointer, no external URI, no Id shared with another element), no transform but C14N
 * (identity here: no XPath, XSLT or enveloped-signature), no ds:Object (where a signed copy
 * could hide), no HMACOutputLength (truncation), and no attribute the schema does not list.
 */

#define DS_MAX_KIDS       8 /* element children of one ds element (more: refused) */
#define DS_MAX_TRANSFORMS 2
#define C14N_REFUSED      "cannot be canonicalised (a relative namespace URI?)"

static const char *const attrs_algorithm[] = {"Algorithm", NULL};
static const char *const attrs_uri[] = {"URI", NULL};

static bool
is_ds(const xmlNode *n, const char *name)
{
	return kms_xml_is_el(n, NS_DS, name);
}

/*
 * ds_attrs_ok - the attributes of the ds element n (name in messages): in no namespace only those
 * of allowed (NULL-terminated, NULL for none), none in a namespace (xmldsig allows none).
 */
static bool
ds_attrs_ok(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
	    const char *const *allowed)
{
	const xmlAttr *a;

	for (a = n->properties; a != NULL; a = a->next) {
		if (a->ns != NULL) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: attribute in a namespace", name);
			return false;
		}
	}
	return kms_xml_attrs_ok(st, n, name, allowed);
}

/* The element children of a ds element, taken in order. */
struct ds_kids {
	const char *parent; /* "ds:Signature", ... (messages) */
	const xmlNode *el[DS_MAX_KIDS];
	size_t num;
	size_t pos;       /* the next one to take */
	const char *last; /* the name of the last one taken, NULL at the start */
};

static bool
ds_kids_init(struct kms_xml_pstate *st, struct ds_kids *k, const xmlNode *n, const char *parent)
{
	const xmlNode *c;

	memset(k, 0, sizeof(*k));
	k->parent = parent;
	for (c = n->children; c != NULL; c = c->next) {
		if (!kms_xml_between_ok(st, c, parent)) {
			return false;
		}
		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (k->num == DS_MAX_KIDS) {
			kms_xml_fail(st, KMS_ERR_PARSE, "%s: too many elements", parent);
			return false;
		}
		k->el[k->num++] = c;
	}
	return true;
}

/* ds_peek - the next child is ds:name. */
static bool
ds_peek(const struct ds_kids *k, const char *name)
{
	return k->pos < k->num && is_ds(k->el[k->pos], name);
}

/* ds_take - the next child, which must be ds:name; NULL (refused) when it is not. */
static const xmlNode *
ds_take(struct kms_xml_pstate *st, struct ds_kids *k, const char *name)
{
	if (!ds_peek(k, name)) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: missing ds:%s", k->parent, name);
		return NULL;
	}
	k->last = name;
	return k->el[k->pos++];
}

/*
 * ds_end - no child is left. Otherwise refused: "extra" names the message for a left ds:extra
 * (NULL: none), any other is an unexpected element.
 */
static bool
ds_end(struct kms_xml_pstate *st, const struct ds_kids *k, const char *extra, const char *msg)
{
	if (k->pos == k->num) {
		return true;
	}
	if (extra != NULL && is_ds(k->el[k->pos], extra)) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: %s", k->parent, msg);
	} else if (k->last == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: unexpected element", k->parent);
	} else {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: unexpected element after ds:%s", k->parent,
			     k->last);
	}
	return false;
}

/*
 * ds_algorithm - n (name in messages) is an algorithm element whose Algorithm is exactly want,
 * holding nothing but whitespace (comments never reach the tree).
 */
static bool
ds_algorithm(struct kms_xml_pstate *st, const xmlNode *n, const char *name, const char *want)
{
	struct ds_kids k;
	const xmlChar *alg;
	bool bad;

	if (!ds_attrs_ok(st, n, name, attrs_algorithm)) {
		return false;
	}
	alg = kms_xml_attr_value(n, "Algorithm", &bad);
	if (alg == NULL && !bad) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: missing Algorithm", name);
		return false;
	}
	if (bad || !xmlStrEqual(alg, X(want))) {
		kms_xml_fail(st, KMS_ERR_PARSE, "%s: unsupported Algorithm", name);
		return false;
	}
	if (!ds_kids_init(st, &k, n, name)) {
		return false;
	}
	return ds_end(st, &k, "HMACOutputLength", "HMACOutputLength not allowed");
}

/*
 * ds_base64_32 - the leaf n (name in messages; no attribute) holds xsd:base64Binary of exactly
 * 32 bytes: 43 characters of the alphabet, the last with its two low bits clear, then one '=',
 * XML whitespace anywhere (base64Binary collapses it), the text at most KMS_XML_MAX_TEXT bytes
 * (kms_xml_leaf, the leaf reader of every other element). Into out[0..32) (public values:
 * a digest, a MAC).
 */
static bool
ds_base64_32(struct kms_xml_pstate *st, const xmlNode *n, const char *name,
	     uint8_t out[static KMS_XML_HMAC_LEN])
{
	char b64[KMS_XML_MAX_TEXT + 1];
	size_t got = 0;

	/* as text (empty allowed): an empty value is not base64 of 32 bytes either */
	if (!ds_attrs_ok(st, n, name, NULL) ||
	    !kms_xml_leaf(st, n, name, KMS_XML_LEAF_TEXT, b64, sizeof(b64))) {
		return false;
	}
	/* canonical base64 that carries 32 bytes: 43 characters and one "=", spaces aside */
	if (kms_b64_decode(out, KMS_XML_HMAC_LEN, &got, b64, strlen(b64),
			   KMS_B64_STD | KMS_B64_XML_SPACE) != KMS_OK ||
	    got != KMS_XML_HMAC_LEN) {
		kms_xml_fail(st, KMS_ERR_ENCODING, "%s is not the base64 of 32 bytes", name);
		return false;
	}
	return true;
}

/* ds:KeyName: 1..KMS_XML_MAX_ID visible ASCII characters, as the key ids of proto/msg.h. */
static bool
ds_key_name(struct kms_xml_pstate *st, const xmlNode *n, char out[static KMS_XML_MAX_ID + 1])
{
	size_t i;

	if (!ds_attrs_ok(st, n, "ds:KeyName", NULL) ||
	    !kms_xml_leaf(st, n, "ds:KeyName", KMS_XML_LEAF_ID, out, KMS_XML_MAX_ID + 1)) {
		return false;
	}
	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] < 0x21 || out[i] > 0x7e) {
			kms_xml_fail(st, KMS_ERR_PARSE, "ds:KeyName: invalid character");
			return false;
		}
	}
	return true;
}

/*
 * id_attr_is - a is an identifier attribute (Id in no namespace, as the schema has it, or xml:id,
 * which libxml2 and other verifiers resolve "#..." to) whose value is id, or whose value is not
 * plain text (then it might be).
 */
static bool
id_attr_is(const xmlAttr *a, const xmlChar *id)
{
	bool is_id;

	if (a->ns == NULL) {
		is_id = xmlStrEqual(a->name, X("Id"));
	} else {
		is_id = xmlStrEqual(a->ns->href, XML_XML_NAMESPACE) &&
			xmlStrEqual(a->name, X("id"));
	}
	if (!is_id) {
		return false;
	}
	if (a->children == NULL) {
		return id[0] == '\0';
	}
	if (a->children->type != XML_TEXT_NODE || a->children->next != NULL) {
		return true;
	}
	return xmlStrEqual(a->children->content, id);
}

/* The number of identifier attributes (id_attr_is) with the value id on n, its siblings after
 * it, and their descendants. The tree is at most KMS_XML_MAX_DEPTH deep. */
static size_t
count_id(const xmlNode *n, const xmlChar *id)
{
	const xmlAttr *a;
	size_t count = 0;

	for (; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE) {
			continue;
		}
		for (a = n->properties; a != NULL; a = a->next) {
			count += id_attr_is(a, id) ? 1 : 0;
		}
		count += count_id(n->children, id);
	}
	return count;
}

/* ------------------------------------------------------------------------------------------ */

/* ds:Reference: URI "#" + the Id of inner, [ds:Transforms], ds:DigestMethod, ds:DigestValue. */
static bool
parse_reference(struct kms_xml_pstate *st, const xmlNode *n, const xmlNode *inner,
		uint8_t digest[static KMS_XML_HMAC_LEN])
{
	struct ds_kids k, kt;
	const xmlChar *uri, *id;
	const xmlNode *c;
	size_t i;
	bool bad;

	if (!ds_attrs_ok(st, n, "ds:Reference", attrs_uri)) {
		return false;
	}
	uri = kms_xml_attr_value(n, "URI", &bad);
	if (uri == NULL && !bad) {
		kms_xml_fail(st, KMS_ERR_PARSE, "ds:Reference: missing URI");
		return false;
	}
	id = kms_xml_attr_value(inner, "Id", &bad);
	if (bad || id == NULL || id[0] == '\0') {
		kms_xml_fail(st, KMS_ERR_PARSE, "ds:Reference: KmsRequest has no Id");
		return false;
	}
	/* A bare-name XPointer "#" + Id, compared as strings: nothing else is resolved. */
	if (uri == NULL || uri[0] != '#' || !xmlStrEqual(uri + 1, id)) {
		kms_xml_fail(st, KMS_ERR_PARSE, "ds:Reference: URI does not name KmsRequest");
		return false;
	}
	/* Another element with that Id (or xml:id) would make the reference ambiguous to other
	 * verifiers, which resolve "#id" themselves. */
	if (count_id(xmlDocGetRootElement(inner->doc), id) != 1) {
		kms_xml_fail(st, KMS_ERR_PARSE, "ds:Reference: the Id of KmsRequest is not unique");
		return false;
	}
	if (!ds_kids_init(st, &k, n, "ds:Reference")) {
		return false;
	}
	if (ds_peek(&k, "Transforms")) {
		if ((c = ds_take(st, &k, "Transforms")) == NULL ||
		    !ds_attrs_ok(st, c, "ds:Transforms", NULL) ||
		    !ds_kids_init(st, &kt, c, "ds:Transforms")) {
			return false;
		}
		for (i = 0; i < DS_MAX_TRANSFORMS && ds_peek(&kt, "Transform"); i++) {
			/* Inclusive C14N of an element node-set that is already one: identity. */
			if ((c = ds_take(st, &kt, "Transform")) == NULL ||
			    !ds_algorithm(st, c, "ds:Transform", KMS_SIGNEDINFO_C14N)) {
				return false;
			}
		}
		if (i == 0) {
			kms_xml_fail(st, KMS_ERR_PARSE, "ds:Transforms: missing ds:Transform");
			return false;
		}
		if (!ds_end(st, &kt, "Transform", "more than 2 ds:Transform")) {
			return false;
		}
	}
	if ((c = ds_take(st, &k, "DigestMethod")) == NULL ||
	    !ds_algorithm(st, c, "ds:DigestMethod", KMS_SIGNEDINFO_DIGEST) ||
	    (c = ds_take(st, &k, "DigestValue")) == NULL ||
	    !ds_base64_32(st, c, "ds:DigestValue", digest)) {
		return false;
	}
	return ds_end(st, &k, NULL, NULL);
}

/*
 * ds:Signature of the SignedKmsRequest whose KmsRequest is inner: the structure, then the
 * canonical SignedInfo into out, then the digest of inner against DigestValue.
 */
static bool
parse_signature(struct kms_xml_pstate *st, const xmlNode *n, const xmlNode *inner,
		struct kms_xml_req_signature *out)
{
	struct ds_kids k, ks, kk;
	const xmlNode *si, *sv, *ki, *c;
	uint8_t want[KMS_XML_HMAC_LEN], got[KMS_XML_HMAC_LEN];
	int r;

	if (!ds_attrs_ok(st, n, "ds:Signature", attrs_id) ||
	    !ds_kids_init(st, &k, n, "ds:Signature")) {
		return false;
	}
	if ((si = ds_take(st, &k, "SignedInfo")) == NULL ||
	    (sv = ds_take(st, &k, "SignatureValue")) == NULL ||
	    (ki = ds_take(st, &k, "KeyInfo")) == NULL ||
	    !ds_end(st, &k, "Object", "ds:Object not allowed")) {
		return false;
	}

	if (!ds_attrs_ok(st, si, "ds:SignedInfo", attrs_id) ||
	    !ds_kids_init(st, &ks, si, "ds:SignedInfo")) {
		return false;
	}
	if ((c = ds_take(st, &ks, "CanonicalizationMethod")) == NULL ||
	    !ds_algorithm(st, c, "ds:CanonicalizationMethod", KMS_SIGNEDINFO_C14N) ||
	    (c = ds_take(st, &ks, "SignatureMethod")) == NULL ||
	    !ds_algorithm(st, c, "ds:SignatureMethod", KMS_SIGNEDINFO_HMAC) ||
	    (c = ds_take(st, &ks, "Reference")) == NULL ||
	    !ds_end(st, &ks, "Reference", "more than one ds:Reference") ||
	    !parse_reference(st, c, inner, want)) {
		return false;
	}

	if (!ds_base64_32(st, sv, "ds:SignatureValue", out->value)) {
		return false;
	}

	if (!ds_attrs_ok(st, ki, "ds:KeyInfo", NULL) || !ds_kids_init(st, &kk, ki, "ds:KeyInfo") ||
	    (c = ds_take(st, &kk, "KeyName")) == NULL ||
	    !ds_end(st, &kk, "KeyName", "more than one ds:KeyName") ||
	    !ds_key_name(st, c, out->key_name)) {
		return false;
	}

	/* What the HMAC is over: SignedInfo as the CanonicalizationMethod above makes it. */
	if ((r = kms_xml_c14n(si, NULL, NULL, out->signed_info, sizeof(out->signed_info),
			      &out->signed_info_len)) != KMS_OK) {
		kms_xml_fail(st, r, "ds:SignedInfo: %s",
			     r == KMS_ERR_TOO_LARGE ? "canonical form longer than 2048 bytes"
			     : r == KMS_ERR_PARSE   ? C14N_REFUSED
						    : "canonicalisation failed");
		return false;
	}

	if ((r = kms_xml_c14n_sha256(inner, NULL, got)) != KMS_OK) {
		kms_xml_fail(st, r, "KmsRequest: %s",
			     r == KMS_ERR_PARSE ? C14N_REFUSED : "canonicalisation failed");
		return false;
	}
	/* Public values; CRYPTO_memcmp all the same. */
	if (CRYPTO_memcmp(got, want, sizeof(got)) != 0) {
		kms_xml_fail(st, KMS_ERR_AUTH,
			     "ds:Signature: the digest does not match KmsRequest");
		return false;
	}
	return true;
}

/* SignedKmsRequest: KmsRequest, then ds:Signature (all but its HMAC checked here). */
static bool
parse_signed(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	const xmlNode *c, *inner = NULL, *sig = NULL;

	if (!kms_xml_attrs_ok(st, n, "SignedKmsRequest", attrs_id)) {
		return false;
	}
	for (c = n->children; c != NULL; c = c->next) {
		if (!kms_xml_between_ok(st, c, "SignedKmsRequest")) {
			return false;
		}
		if (c->type != XML_ELEMENT_NODE) {
			continue;
		}
		if (inner == NULL && kms_xml_is_el(c, NS_KMS, "KmsRequest")) {
			inner = c;
		} else if (inner != NULL && sig == NULL && kms_xml_is_el(c, NS_DS, "Signature")) {
			sig = c;
		} else {
			kms_xml_fail(st, KMS_ERR_PARSE,
				     "SignedKmsRequest: unexpected element after %s",
				     inner == NULL ? "its start"
				     : sig != NULL ? "ds:Signature"
						   : "KmsRequest");
			return false;
		}
	}
	if (inner == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing KmsRequest");
		return false;
	}
	if (sig == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing ds:Signature");
		return false;
	}
	if (!parse_kms_request(st, inner, req) || !parse_signature(st, sig, inner, &req->sig)) {
		return false;
	}
	req->is_signed = true;
	return true;
}

int
kms_xml_parse_request(struct kms_xml_request *out, char *err, size_t err_cap, const uint8_t *in,
		      size_t in_len)
{
	struct kms_xml_pstate st;
	struct kms_xml_request *req = NULL;
	xmlDocPtr doc = NULL;
	const xmlNode *root;

	kms_xml_pstate_init(&st, KMS_XML_MAX_BODY, true);
	if (out == NULL || (in == NULL && in_len > 0)) {
		kms_xml_fail(&st, KMS_ERR_INVALID_ARG, "invalid arguments");
		goto out;
	}
	if (in_len > KMS_XML_MAX_BODY) {
		kms_xml_fail(&st, KMS_ERR_TOO_LARGE, "body larger than 65536 bytes");
		goto out;
	}
	if (in_len == 0) {
		kms_xml_fail(&st, KMS_ERR_PARSE, "empty body");
		goto out;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		kms_xml_fail(&st, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (kms_xml_guarded_parse(&st, &doc, &root, in, in_len) != KMS_OK) {
		goto out;
	}
	if (kms_xml_is_el(root, NS_KMS, "KmsRequest")) {
		(void)parse_kms_request(&st, root, req);
	} else if (kms_xml_is_el(root, NS_KMS, "SignedKmsRequest")) {
		(void)parse_signed(&st, root, req);
	} else {
		kms_xml_fail(&st, KMS_ERR_PARSE,
			     "root is not KmsRequest or SignedKmsRequest in " NS_KMS);
	}
	if (st.r != KMS_OK) {
		goto out;
	}
	memcpy(out, req, sizeof(*out));
out:
	xmlFreeDoc(doc);
	free(req);
	return kms_xml_pstate_finish(&st, err, err_cap);
}
