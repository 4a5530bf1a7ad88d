/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/xml-render.c - the KmsResponse of TS 33.180 Annex D (docs/xml.md): a typed description
 * becomes a libxml2 tree; the enveloped signature's digest is computed on that tree with
 * libxml2's C14N; ds:Signature is added; the tree is serialized.
 *
 * Every element is created with the namespace pointers of the root's own declarations, so the
 * serializer never declares a namespace below the root: that is what keeps the canonical
 * SignedInfo of proto/signedinfo.h valid for the response (inclusive C14N renders on SignedInfo
 * every namespace in scope there, i.e. exactly the root's four).
 */
#include "proto/internal.h"
#include "proto/xml.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "proto/signedinfo.h"

#include "common/banned.h"

/* libxml2 takes const xmlChar * (unsigned char); our strings are char. */
#define X(s) ((const xmlChar *)(s))

struct kms_xml_doc {
	xmlDocPtr doc;   /* owned */
	xmlNodePtr root; /* KmsResponse, in doc */
	xmlNsPtr ns_kms; /* the root's declarations, in doc */
	xmlNsPtr ns_ds;
	xmlNsPtr ns_xenc;
	xmlNsPtr ns_xsi;
	bool is_signed;
};

/* ------------------------------------------------------------------------------------------ */
/* Checks of the caller's strings. */

enum text_kind {
	TEXT_URI,  /* 1..KMS_XML_MAX_URI, no whitespace or control character */
	TEXT_ID,   /* 1..KMS_XML_MAX_ID, no whitespace or control character */
	TEXT_FREE, /* 0..KMS_XML_MAX_TEXT, any character XML 1.0 can carry */
};

/*
 * utf8_next - decode one UTF-8 scalar value from s[*pos..len) (shortest form, no surrogates,
 * at most U+10FFFF). Returns false on a malformed sequence.
 */
static bool
utf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *out)
{
	uint32_t c = s[*pos], min;
	size_t n, i;

	if (c < 0x80) {
		*out = c;
		*pos += 1;
		return true;
	} else if ((c & 0xe0) == 0xc0) {
		n = 1;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		c &= 0x07;
		min = 0x10000;
	} else {
		return false;
	}
	if (n > len - *pos - 1) {
		return false;
	}
	for (i = 1; i <= n; i++) {
		uint8_t b = s[*pos + i];

		if ((b & 0xc0) != 0x80) {
			return false;
		}
		c = (c << 6) | (b & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		return false;
	}
	*out = c;
	*pos += n + 1;
	return true;
}

/* XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
static bool
is_xml_char(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

static bool
text_ok(const char *s, enum text_kind kind)
{
	size_t len, max, pos = 0;

	if (s == NULL) {
		return false;
	}
	max = kind == TEXT_URI  ? KMS_XML_MAX_URI
	      : kind == TEXT_ID ? KMS_XML_MAX_ID
				: KMS_XML_MAX_TEXT;
	len = strnlen(s, max + 1);
	if (len > max || (len == 0 && kind != TEXT_FREE)) {
		return false;
	}
	while (pos < len) {
		uint32_t c;

		if (!utf8_next((const uint8_t *)s, len, &pos, &c) || !is_xml_char(c)) {
			return false;
		}
		/* URIs and ids: no whitespace, no C0/C1 control (anyURI collapses whitespace). */
		if (kind != TEXT_FREE && (c <= 0x20 || (c >= 0x7f && c <= 0x9f))) {
			return false;
		}
	}
	return true;
}

static bool
opt_text_ok(const char *s, enum text_kind kind)
{
	return s == NULL || text_ok(s, kind);
}

/* A key name (a TrK or InK id): 1..KMS_XML_MAX_ID visible ASCII, as in proto/msg.h. */
static bool
key_name_ok(const char *s)
{
	size_t len, i;

	if (s == NULL) {
		return false;
	}
	len = strnlen(s, KMS_XML_MAX_ID + 1);
	if (len == 0 || len > KMS_XML_MAX_ID) {
		return false;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e) {
			return false;
		}
	}
	return true;
}

static bool
time_ok(int64_t t)
{
	return t >= KMS_XML_DATETIME_MIN && t <= KMS_XML_DATETIME_MAX;
}

static bool
enc_key_ok(const struct kms_xml_enc_key *k)
{
	return !k->plain && key_name_ok(k->key_name) && k->wrapped != NULL && k->wrapped_len >= 1 &&
	       k->wrapped_len <= KMS_XML_MAX_WRAPPED &&
	       (k->carried_key_name == NULL || key_name_ok(k->carried_key_name));
}

/*
 * A key of a key set: CarriedKeyName names the key of a rotation, never a user key. Only a user
 * key may be plain (a new TrK or InK never goes out in the clear), and then names no key.
 */
static bool
user_key_ok(const struct kms_xml_enc_key *k)
{
	if (k->plain) {
		return k->key_name == NULL && k->carried_key_name == NULL && k->wrapped != NULL &&
		       k->wrapped_len >= 1 && k->wrapped_len <= KMS_XML_MAX_WRAPPED;
	}
	return enc_key_ok(k) && k->carried_key_name == NULL;
}

static bool
enc_keys_ok(const struct kms_xml_enc_key *keys, size_t num)
{
	size_t i;

	if (num > KMS_XML_MAX_NEW_KEYS || (num > 0 && keys == NULL)) {
		return false;
	}
	for (i = 0; i < num; i++) {
		if (!enc_key_ok(&keys[i])) {
			return false;
		}
	}
	return true;
}

static bool
cert_ok(const struct kms_xml_cert *c)
{
	size_t i;

	if (c == NULL || (c->role != KMS_XML_ROLE_ROOT && c->role != KMS_XML_ROLE_EXTERNAL)) {
		return false;
	}
	if (!opt_text_ok(c->cert_uri, TEXT_URI) || !text_ok(c->kms_uri, TEXT_URI) ||
	    (c->issuer != NULL && (!text_ok(c->issuer, TEXT_FREE) || c->issuer[0] == '\0'))) {
		return false;
	}
	if ((c->has_valid_from && !time_ok(c->valid_from)) ||
	    (c->has_valid_to && !time_ok(c->valid_to)) || c->user_key_period == 0) {
		return false;
	}
	if (c->num_domains > KMS_XML_MAX_DOMAINS || (c->num_domains > 0 && c->domains == NULL)) {
		return false;
	}
	for (i = 0; i < c->num_domains; i++) {
		if (!text_ok(c->domains[i], TEXT_URI)) {
			return false;
		}
	}
	return true;
}

static bool
key_set_ok(const struct kms_xml_key_set *k)
{
	return text_ok(k->kms_uri, TEXT_URI) && opt_text_ok(k->cert_uri, TEXT_URI) &&
	       (k->issuer == NULL || (text_ok(k->issuer, TEXT_FREE) && k->issuer[0] != '\0')) &&
	       text_ok(k->user_uri, TEXT_URI) && time_ok(k->valid_from) && time_ok(k->valid_to) &&
	       k->valid_from <= k->valid_to && user_key_ok(&k->rsk) && user_key_ok(&k->ssk) &&
	       user_key_ok(&k->pvt);
}

static bool
response_ok(const struct kms_xml_response *r)
{
	size_t i;
	/* An error answered before the client is known (no authentication) names no user: an
	 * empty UserUri, which xsd:anyURI allows. Anything else names one. */
	bool anonymous_error = r->has_error && r->msg == KMS_XML_MSG_NONE && r->user_uri != NULL &&
			       r->user_uri[0] == '\0';

	if ((!anonymous_error && !text_ok(r->user_uri, TEXT_URI)) ||
	    !text_ok(r->kms_uri, TEXT_URI) || !time_ok(r->time) ||
	    !opt_text_ok(r->kms_id, TEXT_ID) || !text_ok(r->client_req_url, TEXT_URI)) {
		return false;
	}
	if (r->has_error && !opt_text_ok(r->error_msg, TEXT_FREE)) {
		return false;
	}
	if (!enc_keys_ok(r->new_transport_keys, r->num_new_transport_keys) ||
	    !enc_keys_ok(r->new_integrity_keys, r->num_new_integrity_keys)) {
		return false;
	}
	switch (r->msg) {
	case KMS_XML_MSG_NONE:
	case KMS_XML_MSG_CERTCACHE:
		/* Key rotation exists only in KmsInit and KmsKeyProv. */
		if (r->num_new_transport_keys > 0 || r->num_new_integrity_keys > 0) {
			return false;
		}
		if (r->msg == KMS_XML_MSG_NONE) {
			return true;
		}
		if (r->num_certs > KMS_XML_MAX_CERTS || (r->num_certs > 0 && r->certs == NULL)) {
			return false;
		}
		for (i = 0; i < r->num_certs; i++) {
			if (!cert_ok(&r->certs[i]) || r->certs[i].role != KMS_XML_ROLE_EXTERNAL) {
				return false;
			}
		}
		return true;
	case KMS_XML_MSG_INIT:
		return cert_ok(r->init_cert);
	case KMS_XML_MSG_KEYPROV:
		if (r->num_key_sets > KMS_XML_MAX_KEY_SETS ||
		    (r->num_key_sets > 0 && r->key_sets == NULL)) {
			return false;
		}
		for (i = 0; i < r->num_key_sets; i++) {
			if (!key_set_ok(&r->key_sets[i])) {
				return false;
			}
		}
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Building the tree. The input is checked before; the only failure left is out of memory, which
 * the builder remembers (b->r) so that the code reads as the element order of the schema. */

struct builder {
	struct kms_xml_doc *d;
	const struct kms_xml_options *opts;
	int r;
};

/* add - a child element name (in ns) of parent with the text content text (NULL: none). */
static xmlNodePtr
add(struct builder *b, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	xmlNodePtr n;

	if (b->r != KMS_OK || parent == NULL) {
		return NULL;
	}
	n = xmlNewTextChild(parent, ns, X(name), X(text));
	if (n == NULL) {
		b->r = KMS_ERR_NOMEM;
	}
	return n;
}

static void
attr(struct builder *b, xmlNodePtr node, xmlNsPtr ns, const char *name, const char *value)
{
	if (b->r != KMS_OK || node == NULL) {
		return;
	}
	if (xmlNewNsProp(node, ns, X(name), X(value)) == NULL) {
		b->r = KMS_ERR_NOMEM;
	}
}

static void
add_u64(struct builder *b, xmlNodePtr parent, const char *name, uint64_t v)
{
	char buf[24];

	(void)snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	add(b, parent, b->d->ns_kms, name, buf);
}

static void
add_time(struct builder *b, xmlNodePtr parent, const char *name, int64_t t)
{
	char buf[KMS_XML_DATETIME_LEN + 1];

	if (kms_xml_datetime_format(buf, t) != KMS_OK) {
		b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL; /* checked before */
		return;
	}
	add(b, parent, b->d->ns_kms, name, buf);
}

static void
add_hex(struct builder *b, xmlNodePtr parent, const char *name, const uint8_t *v, size_t len)
{
	char buf[2 * KMS_XML_MAX_WRAPPED + 1];

	if (kms_hex_encode(buf, sizeof(buf), v, len) != KMS_OK) {
		b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL;
		return;
	}
	add(b, parent, b->d->ns_kms, name, buf);
}

/* base64 (RFC 4648, no line breaks) of in[0..len) and a NUL into out (out_cap bytes). */
static bool
base64(char *out, size_t out_cap, const uint8_t *in, size_t len)
{
	int n;

	if (len > KMS_XML_MAX_WRAPPED || out_cap < 4 * ((len + 2) / 3) + 1) {
		return false;
	}
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return n >= 0 && (size_t)n == 4 * ((len + 2) / 3);
}

/* An EncKeyContentType element: name[xsi:type]/xenc:EncryptedKey. */
static void
add_enc_key(struct builder *b, xmlNodePtr parent, const char *name, const struct kms_xml_enc_key *k)
{
	struct kms_xml_doc *d = b->d;
	char value[2 * KMS_XML_MAX_WRAPPED + 1];
	xmlNodePtr el, ek, em, ki, cd;

	if (k->plain) {
		/* KeyContentType: xsi:type names it, as the schema's abstract element type asks */
		if (kms_hex_encode(value, sizeof(value), k->wrapped, k->wrapped_len) != KMS_OK) {
			b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL;
			return;
		}
		el = add(b, parent, d->ns_kms, name, value);
		kms_memzero(value, sizeof(value));
		attr(b, el, d->ns_xsi, "type", "KeyContentType");
		return;
	}
	el = add(b, parent, d->ns_kms, name, NULL);
	attr(b, el, d->ns_xsi, "type", "EncKeyContentType");
	/* xenc:EncryptedKey: EncryptionMethod, ds:KeyInfo, CipherData (EncryptedType's order),
	 * then of EncryptedKeyType's own only CarriedKeyName (no ReferenceList). */
	ek = add(b, el, d->ns_xenc, "EncryptedKey", NULL);
	em = add(b, ek, d->ns_xenc, "EncryptionMethod", NULL);
	attr(b, em, NULL, "Algorithm",
	     b->opts->wrap_alg_compat ? KMS_XML_ALG_KW_AES256 : KMS_XML_ALG_KW_AES256_PAD);
	ki = add(b, ek, d->ns_ds, "KeyInfo", NULL);
	add(b, ki, d->ns_ds, "KeyName", k->key_name);
	cd = add(b, ek, d->ns_xenc, "CipherData", NULL);
	if (b->opts->cipher_value_hex) {
		if (kms_hex_encode(value, sizeof(value), k->wrapped, k->wrapped_len) != KMS_OK) {
			b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL;
			return;
		}
	} else if (!base64(value, sizeof(value), k->wrapped, k->wrapped_len)) {
		b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL;
		return;
	}
	add(b, cd, d->ns_xenc, "CipherValue", value);
	if (k->carried_key_name != NULL) {
		add(b, ek, d->ns_xenc, "CarriedKeyName", k->carried_key_name);
	}
}

static void
add_cert(struct builder *b, xmlNodePtr parent, const struct kms_xml_cert *c)
{
	xmlNsPtr ns = b->d->ns_kms;
	xmlNodePtr el, dl;
	size_t i;

	el = add(b, parent, ns, "KmsCertificate", NULL);
	attr(b, el, NULL, "Version", "1.1.0");
	attr(b, el, NULL, "Role", c->role == KMS_XML_ROLE_ROOT ? "Root" : "External");
	if (c->cert_uri != NULL) {
		add(b, el, ns, "CertUri", c->cert_uri);
	}
	add(b, el, ns, "KmsUri", c->kms_uri);
	if (c->issuer != NULL) {
		add(b, el, ns, "Issuer", c->issuer);
	}
	if (c->has_valid_from) {
		add_time(b, el, "ValidFrom", c->valid_from);
	}
	if (c->has_valid_to) {
		add_time(b, el, "ValidTo", c->valid_to);
	}
	if (c->has_revoked) {
		add(b, el, ns, "Revoked", c->revoked ? "true" : "false");
	}
	add(b, el, ns, "UserIdFormat", "2");
	add_u64(b, el, "UserKeyPeriod", c->user_key_period);
	add_u64(b, el, "UserKeyOffset", c->user_key_offset);
	add_hex(b, el, "PubEncKey", c->pub_enc_key, sizeof(c->pub_enc_key));
	add_hex(b, el, "PubAuthKey", c->pub_auth_key, sizeof(c->pub_auth_key));
	add(b, el, ns, "ParameterSet", "1");
	if (c->num_domains > 0) {
		dl = add(b, el, ns, "KmsDomainList", NULL);
		for (i = 0; i < c->num_domains; i++) {
			add(b, dl, ns, "KmsDomain", c->domains[i]);
		}
	}
}

static void
add_key_set(struct builder *b, xmlNodePtr parent, const struct kms_xml_key_set *k)
{
	xmlNsPtr ns = b->d->ns_kms;
	char b64[4 * ((KMS_XML_MAX_WRAPPED + 2) / 3) + 1];
	xmlNodePtr el;

	el = add(b, parent, ns, "KmsKeySet", NULL);
	attr(b, el, NULL, "Version", "1.1.0");
	add(b, el, ns, "KmsUri", k->kms_uri);
	if (k->cert_uri != NULL) {
		add(b, el, ns, "CertUri", k->cert_uri);
	}
	if (k->issuer != NULL) {
		add(b, el, ns, "Issuer", k->issuer);
	}
	add(b, el, ns, "UserUri", k->user_uri);
	if (b->opts->user_id_base64) {
		if (!base64(b64, sizeof(b64), k->user_id, sizeof(k->user_id))) {
			b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL;
			return;
		}
		add(b, el, ns, "UserID", b64);
	} else {
		add_hex(b, el, "UserID", k->user_id, sizeof(k->user_id));
	}
	add_time(b, el, "ValidFrom", k->valid_from);
	add_time(b, el, "ValidTo", k->valid_to);
	add_u64(b, el, "KeyPeriodNo", k->key_period_no);
	if (k->has_revoked) {
		add(b, el, ns, "Revoked", k->revoked ? "true" : "false");
	}
	add_enc_key(b, el, "UserDecryptKey", &k->rsk);
	add_enc_key(b, el, "UserSigningKeySSK", &k->ssk);
	add_enc_key(b, el, "UserPubTokenPVT", &k->pvt);
}

static void
add_new_keys(struct builder *b, xmlNodePtr parent, const struct kms_xml_response *r)
{
	size_t i;

	for (i = 0; i < r->num_new_transport_keys; i++) {
		add_enc_key(b, parent, "NewTransportKey", &r->new_transport_keys[i]);
	}
	for (i = 0; i < r->num_new_integrity_keys; i++) {
		add_enc_key(b, parent, "NewIntegrityKey", &r->new_integrity_keys[i]);
	}
}

static void
add_message(struct builder *b, xmlNodePtr root, const struct kms_xml_response *r)
{
	xmlNsPtr ns = b->d->ns_kms;
	bool tkik = r->num_new_transport_keys > 0 || r->num_new_integrity_keys > 0;
	char num[24];
	xmlNodePtr msg, el;
	size_t i;

	msg = add(b, root, ns, "KmsMessage", NULL);
	switch (r->msg) {
	case KMS_XML_MSG_INIT:
		el = add(b, msg, ns, "KmsInit", NULL);
		attr(b, el, NULL, "Version", "1.0.0");
		if (tkik) {
			attr(b, el, b->d->ns_xsi, "type", "KmsInitTkIkType");
		}
		add_cert(b, el, r->init_cert);
		add_new_keys(b, el, r);
		break;
	case KMS_XML_MSG_KEYPROV:
		el = add(b, msg, ns, "KmsKeyProv", NULL);
		attr(b, el, NULL, "Version", "1.0.0");
		if (tkik) {
			attr(b, el, b->d->ns_xsi, "type", "KmsKeyProvTkIkType");
		}
		for (i = 0; i < r->num_key_sets; i++) {
			add_key_set(b, el, &r->key_sets[i]);
		}
		add_new_keys(b, el, r);
		break;
	case KMS_XML_MSG_CERTCACHE:
		el = add(b, msg, ns, "KmsCertCache", NULL);
		attr(b, el, NULL, "Version", "1.0.0");
		(void)snprintf(num, sizeof(num), "%llu", (unsigned long long)r->cache_num);
		attr(b, el, NULL, "CacheNum", num);
		for (i = 0; i < r->num_certs; i++) {
			add_cert(b, el, &r->certs[i]);
		}
		break;
	case KMS_XML_MSG_NONE:
	default:
		b->r = b->r != KMS_OK ? b->r : KMS_ERR_INTERNAL; /* checked before */
		break;
	}
}

int
kms_xml_render(struct kms_xml_doc **out, const struct kms_xml_response *resp)
{
	struct kms_xml_doc *d = NULL;
	struct builder b;
	char code[24];
	xmlNodePtr err;
	int r = KMS_ERR_INTERNAL;

	*out = NULL;
	if (resp == NULL || !response_ok(resp)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((d->doc = xmlNewDoc(X("1.0"))) == NULL ||
	    (d->root = xmlNewDocNode(d->doc, NULL, X("KmsResponse"), NULL)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	(void)xmlDocSetRootElement(d->doc, d->root);
	/* Exactly the declarations of KMS_SIGNEDINFO_NS, in its order. */
	if ((d->ns_kms = xmlNewNs(d->root, X(KMS_SIGNEDINFO_NS_KMS), NULL)) == NULL ||
	    (d->ns_ds = xmlNewNs(d->root, X(KMS_SIGNEDINFO_NS_DS), X("ds"))) == NULL ||
	    (d->ns_xenc = xmlNewNs(d->root, X(KMS_SIGNEDINFO_NS_XENC), X("xenc"))) == NULL ||
	    (d->ns_xsi = xmlNewNs(d->root, X(KMS_SIGNEDINFO_NS_XSI), X("xsi"))) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	xmlSetNs(d->root, d->ns_kms);

	b.d = d;
	b.opts = &resp->opts;
	b.r = KMS_OK;
	attr(&b, d->root, NULL, "Id", "xmldoc");
	attr(&b, d->root, NULL, "Version", "1.0.0");
	add(&b, d->root, d->ns_kms, "UserUri", resp->user_uri);
	add(&b, d->root, d->ns_kms, "KmsUri", resp->kms_uri);
	add_time(&b, d->root, "Time", resp->time);
	if (resp->kms_id != NULL) {
		add(&b, d->root, d->ns_kms, "KmsId", resp->kms_id);
	}
	add(&b, d->root, d->ns_kms, "ClientReqUrl", resp->client_req_url);
	if (resp->msg != KMS_XML_MSG_NONE) {
		add_message(&b, d->root, resp);
	}
	if (resp->has_error) {
		err = add(&b, d->root, d->ns_kms, "KmsError", NULL);
		(void)snprintf(code, sizeof(code), "%lld", (long long)resp->error_code);
		add(&b, err, d->ns_kms, "ErrorCode", code);
		add(&b, err, d->ns_kms, "ErrorMsg", resp->error_msg != NULL ? resp->error_msg : "");
	}
	if ((r = b.r) != KMS_OK) {
		goto out;
	}
	*out = d;
	d = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_xml_doc_free(d);
	return r;
}

void
kms_xml_doc_free(struct kms_xml_doc *doc)
{
	if (doc == NULL) {
		return;
	}
	xmlFreeDoc(doc->doc);
	free(doc);
}

static bool
is_ds(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, X(KMS_SIGNEDINFO_NS_DS)) && xmlStrEqual(n->name, X(name));
}

int
kms_xml_digest(const struct kms_xml_doc *doc, uint8_t out[static KMS_XML_HMAC_LEN])
{
	const xmlNode *n, *sig = NULL;
	int r;

	memset(out, 0, KMS_XML_HMAC_LEN);
	if (doc == NULL || doc->root == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	for (n = doc->root->children; n != NULL; n = n->next) {
		if (is_ds(n, "Signature")) {
			sig = n; /* the enveloped-signature transform */
		}
	}
	r = kms_xml_c14n_sha256(doc->root, sig, out);
	/* our own document: libxml2 refusing it is an internal error */
	return r == KMS_ERR_PARSE ? KMS_ERR_INTERNAL : r;
}

/* ------------------------------------------------------------------------------------------ */
/* The signature. */

/* ds:Signature with the SignedInfo of proto/signedinfo.h for digest (an unlinked subtree). */
static xmlNodePtr
build_signature(struct kms_xml_doc *d, const uint8_t digest[static KMS_XML_HMAC_LEN],
		const uint8_t hmac[static KMS_XML_HMAC_LEN], const char *key_name)
{
	struct kms_xml_options opts = {.wrap_alg_compat = false};
	struct builder b = {.d = d, .opts = &opts, .r = KMS_OK};
	char b64[4 * ((KMS_XML_HMAC_LEN + 2) / 3) + 1];
	xmlNsPtr ds = d->ns_ds;
	xmlNodePtr sig, si, ref, tr, ki, n;

	if ((sig = xmlNewDocNode(d->doc, ds, X("Signature"), NULL)) == NULL) {
		return NULL;
	}
	si = add(&b, sig, ds, "SignedInfo", NULL);
	n = add(&b, si, ds, "CanonicalizationMethod", NULL);
	attr(&b, n, NULL, "Algorithm", KMS_SIGNEDINFO_C14N);
	n = add(&b, si, ds, "SignatureMethod", NULL);
	attr(&b, n, NULL, "Algorithm", KMS_SIGNEDINFO_HMAC);
	ref = add(&b, si, ds, "Reference", NULL);
	attr(&b, ref, NULL, "URI", KMS_SIGNEDINFO_REF);
	tr = add(&b, ref, ds, "Transforms", NULL);
	n = add(&b, tr, ds, "Transform", NULL);
	attr(&b, n, NULL, "Algorithm", KMS_SIGNEDINFO_ENVELOPED);
	n = add(&b, ref, ds, "DigestMethod", NULL);
	attr(&b, n, NULL, "Algorithm", KMS_SIGNEDINFO_DIGEST);
	if (!base64(b64, sizeof(b64), digest, KMS_XML_HMAC_LEN)) {
		b.r = KMS_ERR_INTERNAL;
	}
	add(&b, ref, ds, "DigestValue", b64);
	if (!base64(b64, sizeof(b64), hmac, KMS_XML_HMAC_LEN)) {
		b.r = KMS_ERR_INTERNAL;
	}
	add(&b, sig, ds, "SignatureValue", b64);
	ki = add(&b, sig, ds, "KeyInfo", NULL);
	add(&b, ki, ds, "KeyName", key_name);
	if (b.r != KMS_OK) {
		xmlFreeNode(sig);
		return NULL;
	}
	return sig;
}

int
kms_xml_attach_signature(struct kms_xml_doc *doc, const uint8_t digest[static KMS_XML_HMAC_LEN],
			 const uint8_t hmac[static KMS_XML_HMAC_LEN], const char *key_name)
{
	char want[KMS_SIGNEDINFO_LEN];
	uint8_t got[KMS_SIGNEDINFO_LEN + 1];
	uint8_t now[KMS_XML_HMAC_LEN];
	size_t want_len = 0;
	size_t got_len = 0;
	xmlNodePtr sig = NULL;
	int r = KMS_ERR_INTERNAL;

	if (doc == NULL || doc->is_signed || !key_name_ok(key_name)) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = kms_xml_digest(doc, now)) != KMS_OK) {
		goto out;
	}
	/* Public values: the digest the token signed must be that of this document. */
	if (memcmp(now, digest, sizeof(now)) != 0) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = kms_signedinfo_build(want, sizeof(want), &want_len, digest)) != KMS_OK) {
		goto out;
	}
	if ((sig = build_signature(doc, digest, hmac, key_name)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (xmlAddChild(doc->root, sig) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	/* The SignedInfo in the document must canonicalise to what the token signed. */
	if (kms_xml_c14n(sig->children, NULL, NULL, got, sizeof(got), &got_len) != KMS_OK ||
	    got_len != want_len || memcmp(got, want, want_len) != 0) {
		xmlUnlinkNode(sig);
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	sig = NULL; /* now part of the document */
	doc->is_signed = true;
	r = KMS_OK;
out:
	xmlFreeNode(sig);
	return r;
}

int
kms_xml_serialize(const struct kms_xml_doc *doc, uint8_t **out, size_t *out_len)
{
	xmlChar *mem = NULL;
	int size = 0;
	uint8_t *copy = NULL;
	int r = KMS_ERR_INTERNAL;

	*out = NULL;
	*out_len = 0;
	if (doc == NULL) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	/* No formatting: whitespace would be content (and is not in the digest's node-set). */
	xmlDocDumpFormatMemoryEnc(doc->doc, &mem, &size, "UTF-8", 0);
	if (mem == NULL || size <= 0) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((copy = malloc((size_t)size + 1)) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, mem, (size_t)size);
	copy[size] = '\0';
	*out = copy;
	*out_len = (size_t)size;
	r = KMS_OK;
out:
	xmlFree(mem);
	return r;
}
