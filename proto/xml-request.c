/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-request.c - the KmsRequest body (TS 33.180 D.2.2), hostile network input.
 *
 * Attacker model: any bytes, up to KMS_XML_MAX_BODY. The parse itself, under the guards that
 * refuse a DOCTYPE, entities, processing instructions, excess depth and element count before a
 * tree grows, is kms_xml_guarded_parse() (xml-parse.c, shared with xml-cert.c). The tree that is
 * left is then checked against the schema's sequence by hand and copied into fixed-size fields.
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

/* SignedKmsRequest: KmsRequest, then ds:Signature (not verified here). */
static bool
parse_signed(struct kms_xml_pstate *st, const xmlNode *n, struct kms_xml_request *req)
{
	const xmlNode *c, *inner = NULL;
	bool have_sig = false;

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
		} else if (inner != NULL && !have_sig && kms_xml_is_el(c, NS_DS, "Signature")) {
			have_sig = true;
		} else {
			kms_xml_fail(st, KMS_ERR_PARSE,
				     "SignedKmsRequest: unexpected element after %s",
				     inner == NULL ? "its start"
				     : have_sig    ? "ds:Signature"
						   : "KmsRequest");
			return false;
		}
	}
	if (inner == NULL) {
		kms_xml_fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing KmsRequest");
		return false;
	}
	if (!have_sig) {
		kms_xml_fail(st, KMS_ERR_PARSE, "SignedKmsRequest: missing ds:Signature");
		return false;
	}
	if (!parse_kms_request(st, inner, req)) {
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
