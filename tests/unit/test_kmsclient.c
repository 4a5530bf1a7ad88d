/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkms_kmsclient (tools/kmsclient.h): the HTTP response parser, the KmsResponse reader, the
 * signature check, unwrap and validation, times, URLs and the request body. No network.
 *
 * The responses are built here the way a KMS builds them, by other code than the client's: a
 * KMS from kms_eccsi_kms_generate / kms_sakke_kms_generate issues a key set for a UID, OpenSSL
 * wraps it under a TrK (RFC 5649), the XML is printed from templates, its digest is SHA-256 of
 * libxml2's C14N of the whole unsigned document, SignedInfo is the server's canonical one
 * (kms_signedinfo_build, proto/signedinfo.h) and the HMAC is OpenSSL's. With
 * KMS_TEST_WRITE_CORPUS=DIR set, the responses built here are also written to DIR (the seeds of
 * tests/fuzz/corpus/fuzz_kms_response were made that way).
 *
 * Signed requests are checked by another implementation: xmlsec1 (/usr/bin/xmlsec1, the Debian
 * package deploy/install-deps installs) verifies them; without it those tests fail.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"
#include "proto/signedinfo.h"
#include "tests/unit/kms_test.h"
#include "tools/kmsclient.h"

#include "common/banned.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers */

#define KMS_URI    "kms.example.org"
#define USER_URI   "sip:alice@example.org"
#define PERIOD     2592000ULL
#define OFFSET     0ULL
#define TRK_ID     "tk.1.alice@example.org"
#define INK_ID     "ik.1.alice@example.org"
/* a key rotation's new keys and their ids (CarriedKeyName) */
#define NEW_TRK_ID "tk.0123456789abcdef.sip:alice@example.org"
#define NEW_INK_ID "ik.fedcba9876543210.sip:alice@example.org"
#define XMLSEC1    "/usr/bin/xmlsec1"

static const uint8_t trk[32] = {0x54, 0x72, 0x4b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
				0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};
static const uint8_t ink[32] = {0x49, 0x6e, 0x4b, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
				0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0xe0, 0xe1, 0xe2, 0xe3,
				0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed};
static const uint8_t new_trk[33] = {
	0x4e, 0x54, 0x72, 0x4b, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34,
	0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d}; /* 32, and one for a test */
static const uint8_t new_ink[32] = {0x4e, 0x49, 0x6e, 0x4b, 0xc1, 0xc2, 0xc3, 0xc4,
				    0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc,
				    0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4,
				    0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc};

/*
 * Fixed master secrets, used instead of fresh ones only when KMS_TEST_WRITE_CORPUS is set: the
 * fuzz target tests/fuzz/fuzz_kms_response.c holds the same values (and the TrK and InK above).
 */
static const uint8_t fixed_ksak[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t fixed_z[32] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};

static struct kms_eccsi_kms *eccsi;
static struct kms_sakke_kms *sakke;
static uint8_t kpak[KMS_ECCSI_POINT_LEN];
static uint8_t zpub[KMS_SAKKE_POINT_LEN];
static uint64_t now_ntp;
static uint64_t now_period;
static char err[KMS_CLIENT_ERR_LEN];

/* A growable string; the tests stop (abort) on out of memory. */
struct str {
	char *p;
	size_t len, cap;
};

static void
str_add_n(struct str *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *q = realloc(s->p, cap);

		if (q == NULL) {
			abort();
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
str_add(struct str *s, const char *p)
{
	str_add_n(s, p, strlen(p));
}

static void __attribute__((format(printf, 2, 3))) str_addf(struct str *s, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		abort();
	}
	str_add_n(s, buf, (size_t)n);
}

/* s with the first occurrence of from replaced by to (owned); NULL if from is not in s. */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	struct str out = {0};

	if (at == NULL) {
		return NULL;
	}
	str_add_n(&out, s, (size_t)(at - s));
	str_add(&out, to);
	str_add(&out, at + strlen(from));
	return out.p;
}

static bool
contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static void
b64(char *out, const uint8_t *p, size_t len)
{
	(void)EVP_EncodeBlock((unsigned char *)out, p, (int)len);
}

static void
hexs(char *out, size_t cap, const uint8_t *p, size_t len)
{
	if (kms_hex_encode(out, cap, p, len) != KMS_OK) {
		abort();
	}
}

static size_t
wrap(uint8_t *out, const uint8_t key[32], const uint8_t *in, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) != 1 ||
	    EVP_EncryptUpdate(c, out, &l1, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, out + l1, &l2) != 1) {
		abort();
	}
	EVP_CIPHER_CTX_free(c);
	return (size_t)l1 + (size_t)l2;
}

static void
ntp_text(char out[KMS_CLIENT_DATETIME_LEN], uint64_t t)
{
	if (kms_client_datetime_format(out, KMS_CLIENT_DATETIME_LEN, t) != KMS_OK) {
		abort();
	}
}

static void
write_seed(const char *name, const char *data, size_t len)
{
	const char *dir = getenv("KMS_TEST_WRITE_CORPUS");
	char path[512];
	FILE *f;

	if (dir == NULL) {
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) != NULL) {
		(void)fwrite(data, 1, len, f);
		(void)fclose(f);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Building responses the way a KMS does */

struct build {
	bool plain;        /* KeyContentType (hex) instead of xenc:EncryptedKey */
	bool cipher_hex;   /* CipherValue in hex */
	bool legacy_label; /* xmlenc#kw-aes256 */
	const char *alg;   /* another EncryptionMethod */
	bool uid_base64;   /* UserID in base64 */
	bool next_period;  /* a second key set, for the next period */
	enum kms_id_format fmt;
	const char *user_uri;        /* default USER_URI */
	const uint8_t *wrap_key;     /* default trk */
	const char *extension;       /* text put before the end of KmsResponse */
	const uint8_t *ssk_override; /* plain: this SSK instead of the issued one */
	const char *rotation; /* NewTransportKey/NewIntegrityKey text after the key sets: with it,
			       * KmsKeyProv is xsi:type KmsKeyProvTkIkType */
};

/* How the new keys of a rotation are built (rotation_keys). */
struct rot {
	bool hex;                /* CipherValue in hex */
	const char *alg;         /* EncryptionMethod, default kw-aes-256-pad */
	size_t trk_len;          /* octets of the new TrK that are wrapped (default 32) */
	bool no_key_info;        /* no ds:KeyInfo/ds:KeyName */
	bool no_carried;         /* no xenc:CarriedKeyName */
	const uint8_t *wrap_key; /* default trk */
};

static void
add_key(struct str *s, const struct build *b, const char *name, const uint8_t *key, size_t len)
{
	uint8_t w[600];
	char text[1200];
	size_t wl;

	if (b->plain) {
		hexs(text, sizeof(text), key, len);
		str_addf(s, "<%s xsi:type=\"KeyContentType\">%s</%s>\n", name, text, name);
		return;
	}
	wl = wrap(w, b->wrap_key != NULL ? b->wrap_key : trk, key, len);
	if (b->cipher_hex) {
		hexs(text, sizeof(text), w, wl);
	} else {
		b64(text, w, wl);
	}
	str_addf(s,
		 "<%s xsi:type=\"EncKeyContentType\"><xenc:EncryptedKey>"
		 "<xenc:EncryptionMethod Algorithm=\"%s\"/>"
		 "<ds:KeyInfo><ds:KeyName>" TRK_ID "</ds:KeyName></ds:KeyInfo>"
		 "<xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData>"
		 "</xenc:EncryptedKey></%s>\n",
		 name,
		 b->alg != NULL    ? b->alg
		 : b->legacy_label ? "http://www.w3.org/2001/04/xmlenc#kw-aes256"
				   : "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad",
		 text, name);
}

/* One new key (name is NewTransportKey or NewIntegrityKey) as a KMS sends it. */
static void
add_new_key(struct str *s, const struct rot *o, const char *name, const uint8_t *key, size_t len,
	    const char *id)
{
	uint8_t w[64];
	char text[160];
	size_t wl = wrap(w, o->wrap_key != NULL ? o->wrap_key : trk, key, len);

	if (o->hex) {
		hexs(text, sizeof(text), w, wl);
	} else {
		b64(text, w, wl);
	}
	str_addf(s,
		 "<%s xsi:type=\"EncKeyContentType\"><xenc:EncryptedKey>"
		 "<xenc:EncryptionMethod Algorithm=\"%s\"/>%s"
		 "<xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData>",
		 name, o->alg != NULL ? o->alg : "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad",
		 o->no_key_info ? ""
				: "<ds:KeyInfo><ds:KeyName>" TRK_ID "</ds:KeyName></ds:KeyInfo>",
		 text);
	if (!o->no_carried) {
		str_addf(s, "<xenc:CarriedKeyName>%s</xenc:CarriedKeyName>", id);
	}
	str_addf(s, "</xenc:EncryptedKey></%s>\n", name);
}

/* A NewTransportKey (new_trk) then a NewIntegrityKey (new_ink), wrapped under the TrK (owned). */
static char *
rotation_keys(const struct rot *o)
{
	struct str s = {0};

	add_new_key(&s, o, "NewTransportKey", new_trk, o->trk_len != 0 ? o->trk_len : 32,
		    NEW_TRK_ID);
	add_new_key(&s, o, "NewIntegrityKey", new_ink, sizeof(new_ink), NEW_INK_ID);
	return s.p;
}

static void
add_keyset(struct str *s, const struct build *b, uint64_t no)
{
	const char *uri = b->user_uri != NULL ? b->user_uri : USER_URI;
	uint8_t uid[KMS_UID_LEN], id[KMS_ID_MAX_LEN];
	uint8_t ssk[KMS_ECCSI_SCALAR_LEN], pvt[KMS_ECCSI_POINT_LEN], rsk[KMS_SAKKE_POINT_LEN];
	char uid_text[80], from[KMS_CLIENT_DATETIME_LEN], to[KMS_CLIENT_DATETIME_LEN];
	uint64_t start, end;
	size_t id_len = 0;

	if (kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, OFFSET, no) !=
		    KMS_OK ||
	    kms_uid_identifier(id, &id_len, uid, b->fmt) != KMS_OK ||
	    kms_eccsi_issue(eccsi, id, id_len, ssk, pvt) != KMS_OK ||
	    kms_sakke_issue(sakke, id, id_len, rsk) != KMS_OK ||
	    kms_key_period_bounds(&start, &end, no, PERIOD, OFFSET) != KMS_OK) {
		abort();
	}
	if (b->ssk_override != NULL) {
		memcpy(ssk, b->ssk_override, sizeof(ssk));
	}
	if (b->uid_base64) {
		b64(uid_text, uid, sizeof(uid));
	} else {
		hexs(uid_text, sizeof(uid_text), uid, sizeof(uid));
	}
	ntp_text(from, start);
	ntp_text(to, end);
	str_addf(s,
		 "<KmsKeySet Version=\"1.1.0\">\n<KmsUri>" KMS_URI "</KmsUri>\n"
		 "<CertUri>cert1." KMS_URI "</CertUri>\n<Issuer>www.example.org</Issuer>\n"
		 "<UserUri>%s</UserUri>\n<UserID>%s</UserID>\n<ValidFrom>%s</ValidFrom>\n"
		 "<ValidTo>%s</ValidTo>\n<KeyPeriodNo>%llu</KeyPeriodNo>\n<Revoked>false</"
		 "Revoked>\n",
		 uri, uid_text, from, to, (unsigned long long)no);
	add_key(s, b, "UserDecryptKey", rsk, sizeof(rsk));
	add_key(s, b, "UserSigningKeySSK", ssk, sizeof(ssk));
	add_key(s, b, "UserPubTokenPVT", pvt, sizeof(pvt));
	str_add(s, "</KmsKeySet>\n");
	kms_memzero(ssk, sizeof(ssk));
	kms_memzero(rsk, sizeof(rsk));
}

static void
add_head(struct str *s, const char *resource)
{
	char now[KMS_CLIENT_DATETIME_LEN];

	ntp_text(now, now_ntp);
	str_addf(s,
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<KmsResponse " KMS_SIGNEDINFO_NS " Id=\"xmldoc\" Version=\"1.0.0\">\n"
		 "<UserUri>" USER_URI "</UserUri>\n<KmsUri>" KMS_URI "</KmsUri>\n"
		 "<Time>%s</Time>\n<KmsId>kms-1</KmsId>\n"
		 "<ClientReqUrl>https://127.0.0.1:8443/keymanagement/identity/v1/%s</"
		 "ClientReqUrl>\n",
		 now, resource);
}

static void
add_cert(struct str *s, const char *role)
{
	char z[2 * KMS_SAKKE_POINT_LEN + 1], k[2 * KMS_ECCSI_POINT_LEN + 1];

	hexs(z, sizeof(z), zpub, sizeof(zpub));
	hexs(k, sizeof(k), kpak, sizeof(kpak));
	str_addf(s,
		 "<KmsCertificate Version=\"1.1.0\" Role=\"%s\">\n"
		 "<CertUri>cert1." KMS_URI "</CertUri>\n<KmsUri>" KMS_URI "</KmsUri>\n"
		 "<Issuer>www.example.org</Issuer>\n<ValidFrom>2020-01-01T00:00:00Z</ValidFrom>\n"
		 "<ValidTo>2035-12-31T23:59:59Z</ValidTo>\n<Revoked>false</Revoked>\n"
		 "<UserIdFormat>2</UserIdFormat>\n<UserKeyPeriod>%llu</UserKeyPeriod>\n"
		 "<UserKeyOffset>%llu</UserKeyOffset>\n<PubEncKey>%s</PubEncKey>\n"
		 "<PubAuthKey>%s</PubAuthKey>\n<ParameterSet>1</ParameterSet>\n"
		 "<KmsDomainList><KmsDomain>example.org</KmsDomain></KmsDomainList>\n"
		 "</KmsCertificate>\n",
		 role, (unsigned long long)PERIOD, (unsigned long long)OFFSET, z, k);
}

/* An unsigned KmsResponse with a KmsKeyProv (owned). */
static char *
build_keyprov(const struct build *b)
{
	struct str s = {0};

	add_head(&s, "keyprov/" USER_URI);
	str_add(&s, b->rotation != NULL ? "<KmsMessage>\n<KmsKeyProv Version=\"1.0.0\" "
					  "xsi:type=\"KmsKeyProvTkIkType\">\n"
					: "<KmsMessage>\n<KmsKeyProv Version=\"1.0.0\">\n");
	add_keyset(&s, b, now_period);
	if (b->next_period) {
		add_keyset(&s, b, now_period + 1);
	}
	if (b->rotation != NULL) {
		str_add(&s, b->rotation);
	}
	str_add(&s, "</KmsKeyProv>\n</KmsMessage>\n");
	if (b->extension != NULL) {
		str_add(&s, b->extension);
	}
	str_add(&s, "</KmsResponse>");
	return s.p;
}

/* An unsigned KmsResponse with a KmsInit, with the new keys rotation after the certificate. */
static char *
build_init_rot(const char *rotation)
{
	struct str s = {0};

	add_head(&s, "init");
	str_add(&s, rotation != NULL ? "<KmsMessage>\n<KmsInit Version=\"1.0.0\" "
				       "xsi:type=\"KmsInitTkIkType\">\n"
				     : "<KmsMessage>\n<KmsInit Version=\"1.0.0\">\n");
	add_cert(&s, "Root");
	if (rotation != NULL) {
		str_add(&s, rotation);
	}
	str_add(&s, "</KmsInit>\n</KmsMessage>\n</KmsResponse>");
	return s.p;
}

static char *
build_init(void)
{
	return build_init_rot(NULL);
}

static char *
build_error(void)
{
	struct str s = {0};

	add_head(&s, "keyprov/sip:bob@example.org");
	str_add(&s, "<KmsError><ErrorCode>403</ErrorCode><ErrorMsg>not entitled</ErrorMsg>"
		    "</KmsError>\n</KmsResponse>");
	return s.p;
}

/*
 * sign - the enveloped signature a KMS adds: digest of the C14N of the unsigned document, the
 * canonical SignedInfo of proto/signedinfo.c, HMAC-SHA256 under key. With inline_ns, SignedInfo
 * is copied as kms_signedinfo_build() prints it (its namespace declarations repeated); without,
 * it is written as "<ds:SignedInfo>", inheriting them from the root (the same canonical form).
 */
static char *
sign_with(const char *xml, const uint8_t key[32], bool inline_ns)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	xmlChar *c14n = NULL;
	uint8_t digest[32], mac[32];
	char si[KMS_SIGNEDINFO_LEN + 1], mac_b64[64];
	char *si_text, *end_tag;
	struct str out = {0};
	size_t si_len = 0;
	unsigned int mac_len = 0;
	int n;

	if (doc == NULL ||
	    (n = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &c14n)) < 0 ||
	    SHA256(c14n, (size_t)n, digest) == NULL ||
	    kms_signedinfo_build(si, sizeof(si), &si_len, digest) != KMS_OK ||
	    HMAC(EVP_sha256(), key, 32, (const uint8_t *)si, si_len, mac, &mac_len) == NULL) {
		abort();
	}
	si[si_len] = '\0';
	xmlFree(c14n);
	xmlFreeDoc(doc);
	b64(mac_b64, mac, sizeof(mac));
	si_text = inline_ns
			  ? strdup(si)
			  : replace(si, "<ds:SignedInfo " KMS_SIGNEDINFO_NS ">", "<ds:SignedInfo>");
	end_tag = strstr(xml, "</KmsResponse>");
	if (si_text == NULL || end_tag == NULL) {
		abort();
	}
	str_add_n(&out, xml, (size_t)(end_tag - xml));
	str_addf(&out,
		 "<ds:Signature>%s<ds:SignatureValue>%s</ds:SignatureValue>"
		 "<ds:KeyInfo><ds:KeyName>" INK_ID "</ds:KeyName></ds:KeyInfo></ds:Signature>",
		 si_text, mac_b64);
	str_add(&out, end_tag);
	free(si_text);
	return out.p;
}

static char *
sign(const char *xml)
{
	return sign_with(xml, ink, false);
}

static char *
signed_keyprov(const struct build *b)
{
	char *x = build_keyprov(b);
	char *s = sign(x);

	free(x);
	return s;
}

static int
parse(struct kms_client_response **out, const char *xml)
{
	return kms_client_response_parse(out, err, sizeof(err), (const uint8_t *)xml, strlen(xml));
}

/* Parse and verify under key: the first failure's code. */
static int
parse_verify(const char *xml, const uint8_t *key)
{
	struct kms_client_response *r = NULL;
	int rc = parse(&r, xml);

	if (rc == KMS_OK) {
		rc = kms_client_verify(err, sizeof(err), r, key);
	}
	kms_client_response_free(r);
	return rc;
}

/* The certificate of a freshly built init response (owned response in *out_r). */
static const struct kms_client_cert *
test_cert(struct kms_client_response **out_r)
{
	char *x = build_init();

	*out_r = NULL;
	if (parse(out_r, x) != KMS_OK || (*out_r)->num_certs != 1) {
		abort();
	}
	free(x);
	return &(*out_r)->certs[0];
}

/* Parse, check and open key set i of xml with cert; the first failure's code. */
static int
check_open(const char *xml, size_t i, const uint8_t *key, enum kms_id_format fmt,
	   const char *expected_uri, uint64_t at)
{
	struct kms_client_response *r = NULL, *ir = NULL;
	const struct kms_client_cert *cert = test_cert(&ir);
	struct kms_client_keys *keys = NULL;
	int rc = parse(&r, xml);

	if (rc == KMS_OK && i >= r->num_keysets) {
		rc = KMS_ERR_RANGE;
	}
	if (rc == KMS_OK) {
		rc = kms_client_keyset_check(err, sizeof(err), &r->keysets[i], cert, expected_uri,
					     at);
	}
	if (rc == KMS_OK) {
		rc = kms_client_keyset_open(&keys, err, sizeof(err), &r->keysets[i], cert, key,
					    fmt);
		if (rc == KMS_OK && keys == NULL) {
			rc = KMS_ERR_INTERNAL;
		}
	}
	kms_client_keys_free(keys);
	kms_client_response_free(r);
	kms_client_response_free(ir);
	return rc;
}

/* libxml2's generic error channel (the canonicaliser reports there): quiet in the tests */
static void
xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int
suite_init(void)
{
	time_t t = time(NULL);

	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	if (getenv("KMS_TEST_WRITE_CORPUS") != NULL) {
		if (kms_eccsi_kms_new(&eccsi, fixed_ksak) != KMS_OK ||
		    kms_sakke_kms_new(&sakke, fixed_z, sizeof(fixed_z)) != KMS_OK) {
			return -1;
		}
	} else if (kms_eccsi_kms_generate(&eccsi) != KMS_OK ||
		   kms_sakke_kms_generate(&sakke) != KMS_OK) {
		return -1;
	}
	kms_eccsi_kms_kpak(eccsi, kpak);
	kms_sakke_kms_public(sakke, zpub);
	now_ntp = kms_ntp_from_unix((uint64_t)t);
	if (kms_key_period_no(&now_period, now_ntp, PERIOD, OFFSET) != KMS_OK) {
		return -1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	kms_eccsi_kms_free(eccsi);
	kms_sakke_kms_free(sakke);
	eccsi = NULL;
	sakke = NULL;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

static const char http_cl[] = "HTTP/1.1 200 OK\r\n"
			      "Content-Type: application/xml; charset=utf-8\r\n"
			      "Content-Length: 11\r\n"
			      "Retry-After: 5\r\n"
			      "\r\n"
			      "<a>body</a>";
static const char http_chunked[] = "HTTP/1.1 200 OK\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "Content-Type: text/xml\r\n"
				   "\r\n"
				   "4;name=value\r\n"
				   "<a>b\r\n"
				   "7\r\n"
				   "ody</a>\r\n"
				   "0\r\n"
				   "X-Trailer: yes\r\n"
				   "\r\n";
static const char http_nobody[] = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
static const char http_interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
				   "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
				   "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!";
static const char http_eof[] = "HTTP/1.0 200 OK\r\nContent-Type: application/xml\r\n\r\n<a/>";

static int
http_parse(struct kms_http_response *r, const char *s, size_t len, bool eof)
{
	return kms_http_response_parse(r, (const uint8_t *)s, len, eof);
}

static void
test_http_golden(void)
{
	struct kms_http_response r;

	CU_ASSERT_EQUAL(http_parse(&r, http_cl, strlen(http_cl), false), KMS_OK);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.reason, "OK");
	CU_ASSERT_STRING_EQUAL(r.content_type, "application/xml; charset=utf-8");
	CU_ASSERT_STRING_EQUAL(r.retry_after, "5");
	CU_ASSERT_EQUAL(r.body_len, 11);
	CU_ASSERT_STRING_EQUAL((const char *)r.body, "<a>body</a>");
	kms_http_response_cleanup(&r);
	CU_ASSERT_PTR_NULL(r.body);

	CU_ASSERT_EQUAL(http_parse(&r, http_chunked, strlen(http_chunked), false), KMS_OK);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.content_type, "text/xml");
	CU_ASSERT_EQUAL(r.body_len, 11);
	CU_ASSERT_STRING_EQUAL((const char *)r.body, "<a>body</a>");
	kms_http_response_cleanup(&r);

	CU_ASSERT_EQUAL(http_parse(&r, http_nobody, strlen(http_nobody), false), KMS_OK);
	CU_ASSERT_EQUAL(r.status, 204);
	CU_ASSERT_EQUAL(r.body_len, 0);
	CU_ASSERT_PTR_NOT_NULL(r.body);
	kms_http_response_cleanup(&r);

	CU_ASSERT_EQUAL(http_parse(&r, http_interim, strlen(http_interim), false), KMS_OK);
	CU_ASSERT_EQUAL(r.status, 403);
	CU_ASSERT_STRING_EQUAL(r.reason, "Forbidden");
	CU_ASSERT_STRING_EQUAL((const char *)r.body, "no!");
	kms_http_response_cleanup(&r);

	/* a body delimited by the end of the connection is complete only at the end */
	CU_ASSERT_EQUAL(http_parse(&r, http_eof, strlen(http_eof), false), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(http_parse(&r, http_eof, strlen(http_eof), true), KMS_OK);
	CU_ASSERT_STRING_EQUAL((const char *)r.body, "<a/>");
	kms_http_response_cleanup(&r);

	/* "HTTP/1.1 200" without a reason phrase, and an empty one */
	CU_ASSERT_EQUAL(http_parse(&r, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 35, false),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(r.reason, "");
	kms_http_response_cleanup(&r);
	CU_ASSERT_EQUAL(http_parse(&r, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 36, false),
			KMS_OK);
	kms_http_response_cleanup(&r);
	/* case-insensitive names, OWS around values, leading zeros in sizes */
	{
		static const char s[] = "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:\t 003 \t\r\n\r\nabc";

		CU_ASSERT_EQUAL(http_parse(&r, s, strlen(s), false), KMS_OK);
		CU_ASSERT_EQUAL(r.body_len, 3);
		kms_http_response_cleanup(&r);
	}
	{
		static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
					"0003\r\nabc\r\n000\r\n\r\n";

		CU_ASSERT_EQUAL(http_parse(&r, s, strlen(s), false), KMS_OK);
		CU_ASSERT_EQUAL(r.body_len, 3);
		kms_http_response_cleanup(&r);
	}
	kms_http_response_cleanup(NULL);
}

/* Every strict prefix of a framed response is incomplete, at the end of input or not. */
static void
test_http_truncation(void)
{
	const char *const framed[] = {http_cl, http_chunked, http_nobody, http_interim};
	struct kms_http_response r;
	unsigned int wrong = 0;
	size_t i, k, n, head_len;

	for (i = 0; i < sizeof(framed) / sizeof(framed[0]); i++) {
		n = strlen(framed[i]);
		for (k = 0; k < n; k++) {
			if (http_parse(&r, framed[i], k, false) != KMS_ERR_TRUNCATED ||
			    http_parse(&r, framed[i], k, true) != KMS_ERR_TRUNCATED ||
			    r.body != NULL) {
				wrong++;
			}
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	/* delimited by close: before the end of the head it is incomplete; after, the body is
	 * what came */
	n = strlen(http_eof);
	head_len = (size_t)(strstr(http_eof, "\r\n\r\n") - http_eof) + 4;
	for (k = 0; k < n; k++) {
		int rc = http_parse(&r, http_eof, k, true);

		if (k < head_len) {
			wrong += rc != KMS_ERR_TRUNCATED;
		} else {
			wrong += rc != KMS_OK || r.body_len != k - head_len;
			kms_http_response_cleanup(&r);
		}
		wrong += http_parse(&r, http_eof, k, false) != KMS_ERR_TRUNCATED;
	}
	CU_ASSERT_EQUAL(wrong, 0);
}

static void
test_http_trailing(void)
{
	struct kms_http_response r;
	const char *const framed[] = {http_cl, http_chunked, http_nobody, http_interim};
	char buf[512];
	size_t i;

	for (i = 0; i < sizeof(framed) / sizeof(framed[0]); i++) {
		(void)snprintf(buf, sizeof(buf), "%sX", framed[i]);
		CU_ASSERT_EQUAL(http_parse(&r, buf, strlen(buf), false), KMS_ERR_TRAILING);
		CU_ASSERT_EQUAL(http_parse(&r, buf, strlen(buf), true), KMS_ERR_TRAILING);
		CU_ASSERT_PTR_NULL(r.body);
	}
}

static void
test_http_malformed(void)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 101 Switching\r\n\r\n", KMS_ERR_PARSE},
		/* bare LF, bare CR */
		{"HTTP/1.1 200 OK\nContent-Length: 0\n\n", KMS_ERR_TRUNCATED},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		/* obs-fold, space before the colon, no colon, empty name, control characters */
		{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\n: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nX: a\x7f\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nX\x80: a\r\nContent-Length: 0\r\n\r\n", KMS_ERR_PARSE},
		/* Content-Length */
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\na", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\na", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0x1\r\n\r\na", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n", KMS_ERR_TOO_LARGE},
		{"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551617\r\n\r\n",
		 KMS_ERR_TOO_LARGE},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999999999\r\n\r\n",
		 KMS_ERR_TOO_LARGE},
		/* Transfer-Encoding */
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "1\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
		 "1\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n"
		 "0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		 KMS_ERR_UNSUPPORTED},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", KMS_ERR_UNSUPPORTED},
		{"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", KMS_ERR_PARSE},
		/* chunk sizes */
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
		 KMS_ERR_TOO_LARGE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
		 KMS_ERR_TOO_LARGE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\na\r\n0\r\n\r\n",
		 KMS_ERR_PARSE},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad trailer\r\n\r\n",
		 KMS_ERR_PARSE},
		/* repeated fields the client reports */
		{"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Type: a/b\r\nContent-Length: "
		 "0\r\n"
		 "\r\n",
		 KMS_ERR_PARSE},
	};
	struct kms_http_response r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = http_parse(&r, cases[i].in, strlen(cases[i].in), true);

		if (rc != cases[i].want) {
			fprintf(stderr, "case %zu: got %d, want %d\n", i, rc, cases[i].want);
		}
		CU_ASSERT_EQUAL(rc, cases[i].want);
		CU_ASSERT_PTR_NULL(r.body);
		CU_ASSERT_EQUAL(r.status, 0);
	}
	CU_ASSERT_EQUAL(kms_http_response_parse(NULL, (const uint8_t *)"x", 1, true),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_http_response_parse(&r, NULL, 1, true), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_http_response_parse(&r, NULL, 0, true), KMS_ERR_TRUNCATED);
}

static void
test_http_limits(void)
{
	struct kms_http_response r;
	struct str s = {0};
	size_t i;

	/* heads: 16 KiB in all; too much is refused before the head ends */
	str_add(&s, "HTTP/1.1 200 OK\r\n");
	while (s.len < KMS_CLIENT_MAX_HEAD) {
		str_add(&s, "X-Filler: 0123456789abcdef0123456789abcdef\r\n");
	}
	CU_ASSERT_EQUAL(http_parse(&r, s.p, s.len, false), KMS_ERR_TOO_LARGE);
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* just under the limit is fine */
	str_add(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ");
	while (s.len < KMS_CLIENT_MAX_HEAD - 4) {
		str_add(&s, "a");
	}
	str_add(&s, "\r\n\r\n");
	CU_ASSERT_EQUAL(s.len, KMS_CLIENT_MAX_HEAD);
	CU_ASSERT_EQUAL(http_parse(&r, s.p, s.len, false), KMS_OK);
	kms_http_response_cleanup(&r);
	/* one more byte is not */
	{
		char *t = replace(s.p, "X: ", "X: a");

		CU_ASSERT_EQUAL(http_parse(&r, t, strlen(t), false), KMS_ERR_TOO_LARGE);
		free(t);
	}
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* interim responses count against the same budget, and at most 8 of them */
	for (i = 0; i < 9; i++) {
		str_add(&s, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	str_add(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CU_ASSERT_EQUAL(http_parse(&r, s.p, s.len, false), KMS_ERR_PARSE);
	free(s.p);
	memset(&s, 0, sizeof(s));

	/* bodies: 1 MiB exactly is fine, one more octet is not (each framing) */
	for (i = 0; i < 3; i++) {
		size_t body = KMS_CLIENT_MAX_BODY + (i == 0 ? 0 : 1);
		char *big = malloc(body + 256);
		int n;

		if (big == NULL) {
			abort();
		}
		n = snprintf(big, 256, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
		memset(big + n, 'x', body);
		if (i == 0) {
			CU_ASSERT_EQUAL(http_parse(&r, big, (size_t)n + body, false), KMS_OK);
			CU_ASSERT_EQUAL(r.body_len, body);
			kms_http_response_cleanup(&r);
		} else if (i == 1) {
			CU_ASSERT_EQUAL(http_parse(&r, big, (size_t)n + body, false),
					KMS_ERR_TOO_LARGE);
		} else {
			n = snprintf(big, 256, "HTTP/1.1 200 OK\r\n\r\n");
			memset(big + n, 'x', body);
			CU_ASSERT_EQUAL(http_parse(&r, big, (size_t)n + body, true),
					KMS_ERR_TOO_LARGE);
			/* refused before the end: the reader can stop */
			CU_ASSERT_EQUAL(http_parse(&r, big, (size_t)n + body, false),
					KMS_ERR_TOO_LARGE);
		}
		free(big);
	}
	/* chunked: the sum of chunks is bounded too */
	str_add(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	str_addf(&s, "%x\r\n", KMS_CLIENT_MAX_BODY);
	{
		size_t at = s.len;
		char *big;

		str_add(&s, "\r\n1\r\n");
		big = malloc(s.len + KMS_CLIENT_MAX_BODY + 16);
		if (big == NULL) {
			abort();
		}
		memcpy(big, s.p, at);
		memset(big + at, 'y', KMS_CLIENT_MAX_BODY);
		memcpy(big + at + KMS_CLIENT_MAX_BODY, s.p + at, s.len - at);
		CU_ASSERT_EQUAL(http_parse(&r, big, s.len + KMS_CLIENT_MAX_BODY, false),
				KMS_ERR_TOO_LARGE);
		free(big);
	}
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* framing: many one-octet chunks exceed 64 KiB of framing */
	str_add(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < KMS_CLIENT_MAX_FRAMING / 4; i++) {
		str_add(&s, "1\r\nz\r\n");
	}
	str_add(&s, "0\r\n\r\n");
	CU_ASSERT_EQUAL(http_parse(&r, s.p, s.len, false), KMS_ERR_TOO_LARGE);
	free(s.p);
}

/* Bit flips of the golden responses: every result is a clean verdict with sane outputs. */
static void
test_http_bitflips(void)
{
	const char *const golden[] = {http_cl, http_chunked, http_nobody, http_interim, http_eof};
	struct kms_http_response r;
	unsigned int bad = 0, ok = 0;
	char buf[512];
	size_t g, i, n;
	int bit;

	for (g = 0; g < sizeof(golden) / sizeof(golden[0]); g++) {
		n = strlen(golden[g]);
		for (i = 0; i < n; i++) {
			for (bit = 0; bit < 8; bit++) {
				int rc;

				memcpy(buf, golden[g], n);
				buf[i] = (char)(buf[i] ^ (1 << bit));
				rc = http_parse(&r, buf, n, true);
				if (rc == KMS_OK) {
					ok++;
					bad += r.status < 200 || r.status > 599 || r.body == NULL ||
					       r.body_len > n || r.body[r.body_len] != '\0';
					kms_http_response_cleanup(&r);
				} else {
					bad += r.body != NULL || r.status != 0;
					bad += rc != KMS_ERR_PARSE && rc != KMS_ERR_TRUNCATED &&
					       rc != KMS_ERR_TRAILING && rc != KMS_ERR_TOO_LARGE &&
					       rc != KMS_ERR_UNSUPPORTED && rc != KMS_ERR_RANGE;
				}
			}
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* some flips keep a valid response (the reason phrase, a body octet) */
	CU_ASSERT(ok > 0);
}

static void
test_http_media(void)
{
	CU_ASSERT_EQUAL(kms_http_media_is_xml("application/xml"), 1);
	CU_ASSERT_EQUAL(kms_http_media_is_xml("Application/XML; charset=UTF-8"), 1);
	CU_ASSERT_EQUAL(kms_http_media_is_xml(" text/xml"), 1);
	CU_ASSERT_EQUAL(kms_http_media_is_xml("application/vnd.3gpp.kms+xml"), 1);
	CU_ASSERT_EQUAL(kms_http_media_is_xml("application/json"), 0);
	CU_ASSERT_EQUAL(kms_http_media_is_xml("+xml"), 0);
	CU_ASSERT_EQUAL(kms_http_media_is_xml("application/xmlx"), 0);
	CU_ASSERT_EQUAL(kms_http_media_is_xml(""), 0);
	CU_ASSERT_EQUAL(kms_http_media_is_xml(NULL), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Times, URLs, the request */

static void
test_datetime(void)
{
	static const struct {
		const char *s;
		uint64_t want;
	} good[] = {
		{"1900-01-01T00:00:00Z", 0},
		{"1900-01-01T00:00:00", 0},
		{"1970-01-01T00:00:00Z", KMS_NTP_UNIX_OFFSET},
		{"2014-02-23T08:39:14Z", 0xD6B43232ULL}, /* kms-interface.md's example */
		{"2014-02-23T09:39:14+01:00", 0xD6B43232ULL},
		{"2014-02-23T07:09:14-01:30", 0xD6B43232ULL},
		{"2014-02-23T08:39:14.999Z", 0xD6B43232ULL},
		{"2014-02-23T08:39:14.5", 0xD6B43232ULL},
		{"2000-02-29T00:00:00Z", 3160771200ULL},
		{"2036-02-07T06:28:15Z", 0xFFFFFFFFULL},
		{"2036-02-07T06:28:16Z", 0x100000000ULL},
	};
	static const char *const bad[] = {
		"",
		"2014-02-23",
		"2014-02-23T08:39",
		"2014-02-23 08:39:14Z",
		"2014-2-23T08:39:14Z",
		"14-02-23T08:39:14Z",
		"+2014-02-23T08:39:14Z",
		"2014-13-01T00:00:00Z",
		"2014-00-01T00:00:00Z",
		"2014-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z",
		"2014-04-31T00:00:00Z",
		"2014-01-01T24:00:00Z",
		"2014-01-01T00:60:00Z",
		"2014-01-01T00:00:60Z",
		"2014-01-01T00:00:00.Z",
		"2014-01-01T00:00:00ZZ",
		"2014-01-01T00:00:00+1:00",
		"2014-01-01T00:00:00+15:00",
		"2014-01-01T00:00:00+14:30",
		"2014-01-01T00:00:00+01:60",
		"2014-01-01T00:00:00 ",
		"2014-01-01t00:00:00Z",
		"2014-01-01T00:00:00z",
		"10000-01-01T00:00:00Z",
	};
	char out[KMS_CLIENT_DATETIME_LEN];
	uint64_t t = 1;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, good[i].s, strlen(good[i].s)),
				KMS_OK);
		CU_ASSERT_EQUAL(t, good[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 1;
		CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, bad[i], strlen(bad[i])),
				KMS_ERR_PARSE);
		CU_ASSERT_EQUAL(t, 0);
	}
	CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, "1899-12-31T23:59:59Z", 20), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, "1900-01-01T00:30:00+01:00", 25),
			KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, "0999-01-01T00:00:00Z", 20), KMS_ERR_RANGE);
	/* the length is the caller's: a longer string is not read past len */
	CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, "2014-02-23T08:39:14Zjunk", 20), KMS_OK);
	CU_ASSERT_EQUAL(kms_client_datetime_parse(NULL, "x", 1), KMS_ERR_INVALID_ARG);

	CU_ASSERT_EQUAL(kms_client_datetime_format(out, sizeof(out), 0xD6B43232ULL), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "2014-02-23T08:39:14Z");
	CU_ASSERT_EQUAL(kms_client_datetime_format(out, sizeof(out), 0), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "1900-01-01T00:00:00Z");
	CU_ASSERT_EQUAL(kms_client_datetime_parse(&t, "9999-12-31T23:59:59Z", 20), KMS_OK);
	CU_ASSERT_EQUAL(kms_client_datetime_format(out, sizeof(out), t), KMS_OK);
	CU_ASSERT_STRING_EQUAL(out, "9999-12-31T23:59:59Z");
	CU_ASSERT_EQUAL(kms_client_datetime_format(out, sizeof(out), t + 1), KMS_ERR_RANGE);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(kms_client_datetime_format(out, KMS_CLIENT_DATETIME_LEN - 1, 0),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_STRING_EQUAL(out, "");
}

/* format and parse agree, and agree with gmtime_r, over 1970..9999 in uneven steps */
static void
test_datetime_roundtrip(void)
{
	char out[KMS_CLIENT_DATETIME_LEN], ref[KMS_CLIENT_DATETIME_LEN];
	unsigned int wrong = 0;
	uint64_t t, back;

	for (t = 0; t < 253402300800ULL; t += 86399ULL * 37 + 7919) {
		if (kms_client_datetime_format(out, sizeof(out), t) != KMS_OK ||
		    kms_client_datetime_parse(&back, out, strlen(out)) != KMS_OK || back != t) {
			wrong++;
			continue;
		}
		if (t >= KMS_NTP_UNIX_OFFSET) {
			time_t u = (time_t)(t - KMS_NTP_UNIX_OFFSET);
			struct tm tm;

			if (gmtime_r(&u, &tm) == NULL ||
			    strftime(ref, sizeof(ref), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ||
			    strcmp(ref, out) != 0) {
				wrong++;
			}
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
}

static void
test_url(void)
{
	struct kms_client_url u;
	static const char *const bad[] = {
		"https://",         "https:///x",      "https://x:0/",
		"https://x:65536/", "https://x:/",     "https://x:08443/",
		"https://x:84a3/",  "https://u@x/",    "https://x/a b",
		"https://x/a?b",    "https://x/a#b",   "https://[zz]/",
		"https://[::1/",    "https://[::1]x/", "https://x y/",
		"https://x/\x7f",   "https//x/",       "",
	};
	size_t i;

	CU_ASSERT_EQUAL(
		kms_client_url_parse(&u, "https://127.0.0.1:8443/keymanagement/identity/v1"),
		KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.host, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(u.port, "8443");
	CU_ASSERT_STRING_EQUAL(u.authority, "127.0.0.1:8443");
	CU_ASSERT_STRING_EQUAL(u.path, "/keymanagement/identity/v1");
	CU_ASSERT(u.host_is_ip);
	CU_ASSERT_EQUAL(kms_client_url_parse(&u, "HTTPS://kms.example.org"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.port, "443");
	CU_ASSERT_STRING_EQUAL(u.authority, "kms.example.org");
	CU_ASSERT_STRING_EQUAL(u.path, "");
	CU_ASSERT(!u.host_is_ip);
	CU_ASSERT_EQUAL(kms_client_url_parse(&u, "https://[::1]:8443/a/b//"), KMS_OK);
	CU_ASSERT_STRING_EQUAL(u.host, "::1");
	CU_ASSERT_STRING_EQUAL(u.authority, "[::1]:8443");
	CU_ASSERT_STRING_EQUAL(u.path, "/a/b");
	CU_ASSERT(u.host_is_ip);
	CU_ASSERT_EQUAL(kms_client_url_parse(&u, "http://kms.example.org/"), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_STRING_EQUAL(u.host, "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(kms_client_url_parse(&u, bad[i]), KMS_ERR_PARSE);
		CU_ASSERT_STRING_EQUAL(u.host, "");
	}
	CU_ASSERT_EQUAL(kms_client_url_parse(&u, NULL), KMS_ERR_INVALID_ARG);
}

static void
test_request_target(void)
{
	struct kms_client_url u;
	char t[512];

	CU_ASSERT_EQUAL_FATAL(kms_client_url_parse(&u, "https://h/keymanagement/identity/v1/"),
			      KMS_OK);
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "init", NULL, NULL), KMS_OK);
	CU_ASSERT_STRING_EQUAL(t, "/keymanagement/identity/v1/init");
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "keyprov", NULL, NULL), KMS_OK);
	CU_ASSERT_STRING_EQUAL(t, "/keymanagement/identity/v1/keyprov");
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "keyprov", USER_URI, NULL),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(t, "/keymanagement/identity/v1/keyprov/sip:alice@example.org");
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "keyprov", "tel:+1/2%3?x#y",
						  "D6B4323200000000"),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(
		t, "/keymanagement/identity/v1/keyprov/tel:%2B1%2F2%253%3Fx%23y/D6B4323200000000");
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "certcache", NULL, "12"),
			KMS_OK);
	CU_ASSERT_STRING_EQUAL(t, "/keymanagement/identity/v1/certcache/12");
	/* refused combinations */
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "init", USER_URI, NULL),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_STRING_EQUAL(t, "");
	CU_ASSERT_EQUAL(
		kms_client_request_target(t, sizeof(t), &u, "keyprov", NULL, "D6B4323200000000"),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "keyprov", USER_URI, "D6B4"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "certcache", NULL, "x"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "keyprov", "a b", NULL),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_target(t, sizeof(t), &u, "other", NULL, NULL),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_target(t, 20, &u, "keyprov", USER_URI, NULL),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_STRING_EQUAL(t, "");
}

#ifdef KMS_SCHEMA_FILE
/* Validate xml against the TS 33.180 schema (../shared/spec); 0 if it validates. */
static int
schema_validate(const char *xml)
{
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(KMS_SCHEMA_FILE);
	xmlSchemaPtr schema = pc != NULL ? xmlSchemaParse(pc) : NULL;
	xmlSchemaValidCtxtPtr vc = schema != NULL ? xmlSchemaNewValidCtxt(schema) : NULL;
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	int rc = -1;

	if (vc != NULL && doc != NULL) {
		rc = xmlSchemaValidateDoc(vc, doc);
	}
	xmlFreeDoc(doc);
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	return rc;
}
#endif

static void
test_request_build(void)
{
	struct kms_client_url u;
	char *body = NULL;
	size_t len = 0;
	xmlDocPtr doc;
	xmlNodePtr root, n;
	xmlChar *v;

	CU_ASSERT_EQUAL_FATAL(kms_client_url_parse(&u, "https://h/"), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_client_request_build(&body, &len, "sip:a&b<c>@example.org",
						       KMS_URI, 0xD6B43232ULL,
						       "https://h/keyprov/sip:a%26b"),
			      KMS_OK);
	CU_ASSERT_EQUAL(strlen(body), len);
	CU_ASSERT(contains(body, "sip:a&amp;b&lt;c&gt;@example.org"));
	CU_ASSERT(contains(body, "<Time>2014-02-23T08:39:14Z</Time>"));
	doc = xmlReadMemory(body, (int)len, NULL, NULL, XML_PARSE_NONET);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	root = xmlDocGetRootElement(doc);
	CU_ASSERT_STRING_EQUAL((const char *)root->name, "KmsRequest");
	CU_ASSERT_STRING_EQUAL((const char *)root->ns->href, KMS_CLIENT_NS);
	for (n = root->children; n != NULL && n->type != XML_ELEMENT_NODE; n = n->next) {
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(n);
	v = xmlNodeGetContent(n);
	CU_ASSERT_STRING_EQUAL((const char *)v, "sip:a&b<c>@example.org");
	xmlFree(v);
	xmlFreeDoc(doc);
	free(body);
	body = NULL;
	CU_ASSERT_EQUAL_FATAL(kms_client_request_build(&body, &len, USER_URI, KMS_URI,
						       0xD6B43232ULL,
						       "https://h/keyprov/" USER_URI),
			      KMS_OK);
#ifdef KMS_SCHEMA_FILE
	CU_ASSERT_EQUAL(schema_validate(body), 0);
#endif
	free(body);
	body = NULL;
	CU_ASSERT_EQUAL(kms_client_request_build(&body, &len, "a b", KMS_URI, 1, "https://h/"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(body);
	CU_ASSERT_EQUAL(kms_client_request_build(&body, &len, "", KMS_URI, 1, "https://h/"),
			KMS_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------------------------------ */
/* Signed requests, checked by xmlsec1 */

/* Write len bytes of p to dir/name, its path into path (cap bytes); false on failure. */
static bool
put_file(char *path, size_t cap, const char *dir, const char *name, const void *p, size_t len)
{
	FILE *f;
	bool ok;

	(void)snprintf(path, cap, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		return false;
	}
	ok = fwrite(p, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/*
 * xmlsec1_verify - 1 if xmlsec1 verifies the signature of the SignedKmsRequest xml under the
 * 32-octet HMAC key (its KmsRequest is named by Id, not a DTD ID, hence --id-attr), 0 if it
 * refuses it, -1 if it cannot be run. Its output is printed when the result is not expect.
 */
static int
xmlsec1_verify(const char *xml, const uint8_t key[32], int expect)
{
	char dir[256], key_file[320], xml_file[320], log_file[320];
	char a0[] = "xmlsec1", a1[] = "--verify", a2[] = "--hmackey", a4[] = "--id-attr:Id",
	     a5[] = KMS_CLIENT_NS ":KmsRequest";
	char *argv[] = {a0, a1, a2, key_file, a4, a5, xml_file, NULL};
	char *envp[] = {NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, rc = -1;

	if (kms_test_tmpdir(dir, sizeof(dir), "kmsclient-xmlsec") != 0) {
		return -1;
	}
	(void)snprintf(log_file, sizeof(log_file), "%s/log", dir);
	if (put_file(key_file, sizeof(key_file), dir, "key", key, 32) &&
	    put_file(xml_file, sizeof(xml_file), dir, "req.xml", xml, strlen(xml)) &&
	    posix_spawn_file_actions_init(&fa) == 0) {
		if (posix_spawn_file_actions_addopen(&fa, 1, log_file, O_WRONLY | O_CREAT | O_TRUNC,
						     0600) == 0 &&
		    posix_spawn_file_actions_adddup2(&fa, 1, 2) == 0 &&
		    posix_spawn(&pid, XMLSEC1, &fa, NULL, argv, envp) == 0 &&
		    waitpid(pid, &st, 0) == pid && WIFEXITED(st)) {
			rc = WEXITSTATUS(st) == 0 ? 1 : 0;
		}
		posix_spawn_file_actions_destroy(&fa);
	}
	if (rc != expect) {
		char out[4096];
		int fd = open(log_file, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			(void)kms_test_read_fd(fd, out, sizeof(out));
			fprintf(stderr, "xmlsec1 (status %d, expected %d):\n%s\n", rc, expect, out);
			close(fd);
		}
	}
	kms_test_rmdir(dir);
	return rc;
}

/* The text of the first element named name (any namespace) below the root of xml (owned). */
static char *
text_at(const char *xml, const char *name)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
	xmlNodePtr n = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	char *out = NULL;

	while (n != NULL) {
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
			xmlChar *v = xmlNodeGetContent(n);

			out = v != NULL ? strdup((const char *)v) : NULL;
			xmlFree(v);
			break;
		}
		if (n->children != NULL) {
			n = n->children;
			continue;
		}
		while (n != NULL && n->next == NULL) {
			n = n->parent;
			if (n != NULL && n->type == XML_DOCUMENT_NODE) {
				n = NULL;
			}
		}
		if (n != NULL) {
			n = n->next;
		}
	}
	xmlFreeDoc(doc);
	return out;
}

static void
test_request_sign(void)
{
	static const char head[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<SignedKmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><KmsRequest Id=\"kmsreq\" "
		"Version=\"1.1.0\"><UserUri>sip:a&amp;b@example.org</UserUri>";
	static const char sig[] =
		"</KmsRequest><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod "
		"Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/"
		"><ds:SignatureMethod "
		"Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\"/><ds:Reference "
		"URI=\"#kmsreq\"><ds:DigestMethod "
		"Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>";
	static const char tail[] = "</ds:SignatureValue><ds:KeyInfo><ds:KeyName>" NEW_INK_ID
				   "</ds:KeyName></ds:KeyInfo></ds:Signature></SignedKmsRequest>\n";
	char *body = NULL, *out = NULL, *t, *v;
	size_t len = 0, out_len = 0;
	uint8_t other[32];

	CU_ASSERT_EQUAL_FATAL(access(XMLSEC1, X_OK), 0); /* deploy/install-deps: xmlsec1 */
	CU_ASSERT_EQUAL_FATAL(kms_client_request_build(&body, &len, "sip:a&b@example.org", KMS_URI,
						       0xD6B43232ULL,
						       "https://h/keyprov/sip:a%26b@example.org"),
			      KMS_OK);
	CU_ASSERT_EQUAL_FATAL(
		kms_client_request_sign(&out, &out_len, body, len, new_ink, NEW_INK_ID), KMS_OK);
	CU_ASSERT_EQUAL(strlen(out), out_len);
	/* the shape: the same KmsRequest, named, and the signature after it */
	CU_ASSERT_EQUAL(strncmp(out, head, strlen(head)), 0);
	CU_ASSERT(contains(out, "<Time>2014-02-23T08:39:14Z</Time>"));
	CU_ASSERT(contains(out, "<ClientReqUrl>https://h/keyprov/sip:a%26b@example.org</"
				"ClientReqUrl>"
				"</KmsRequest><ds:Signature>"));
	CU_ASSERT(contains(out, sig));
	CU_ASSERT(contains(out,
			   "</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>"));
	CU_ASSERT(out_len > strlen(tail) && strcmp(out + out_len - strlen(tail), tail) == 0);
	t = text_at(out, "UserUri");
	CU_ASSERT_STRING_EQUAL(t, "sip:a&b@example.org");
	free(t);
#ifdef KMS_SCHEMA_FILE
	CU_ASSERT_EQUAL(schema_validate(out), 0);
#endif
	/* xmlsec1 verifies it under the key, and under no other */
	CU_ASSERT_EQUAL(xmlsec1_verify(out, new_ink, 1), 1);
	memcpy(other, new_ink, sizeof(other));
	other[31] ^= 0x01;
	CU_ASSERT_EQUAL(xmlsec1_verify(out, other, 0), 0);
	CU_ASSERT_EQUAL(xmlsec1_verify(out, ink, 0), 0);
	/* a changed character of the signed request or of SignedInfo is refused */
	t = replace(out, "<Time>2014", "<Time>2015");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(xmlsec1_verify(t, new_ink, 0), 0);
	free(t);
	t = replace(out, "Id=\"kmsreq\" Version=\"1.1.0\"", "Id=\"kmsreq\" Version=\"1.0.0\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(xmlsec1_verify(t, new_ink, 0), 0);
	free(t);
	/* a changed DigestValue (SignedInfo no longer signed, nor the reference right) */
	v = text_at(out, "DigestValue");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	{
		struct str from = {0}, to = {0};

		str_addf(&from, "<ds:DigestValue>%s<", v);
		v[0] = v[0] == 'A' ? 'B' : 'A';
		str_addf(&to, "<ds:DigestValue>%s<", v);
		t = replace(out, from.p, to.p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(xmlsec1_verify(t, new_ink, 0), 0);
		free(t);
		free(from.p);
		free(to.p);
	}
	free(v);
	free(out);
	out = NULL;
	free(body);
	body = NULL;

	/* another shape of the same request: prefixes, whitespace, a comment; still verifiable */
	{
		static const char odd[] =
			"<k:KmsRequest xmlns:k=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
			"Version=\"1.1.0\">\n  <k:UserUri>" USER_URI "</k:UserUri><!-- c -->\n"
			"  <k:KmsUri>" KMS_URI "</k:KmsUri><k:Time>2014-02-23T08:39:14Z</k:Time>"
			"<k:ClientReqUrl xmlns:k=\"urn:3gpp:ns:mcsecKMSInterface:1.0\">https://h/"
			"</k:ClientReqUrl>\n</k:KmsRequest>";

		CU_ASSERT_EQUAL_FATAL(
			kms_client_request_sign(&out, &out_len, odd, strlen(odd), ink, INK_ID),
			KMS_OK);
		CU_ASSERT(contains(out, "<KmsRequest Id=\"kmsreq\" Version=\"1.1.0\">\n  "
					"<UserUri>" USER_URI "</UserUri><!-- c -->"));
		CU_ASSERT(contains(out, "<ClientReqUrl>https://h/</ClientReqUrl>"));
		CU_ASSERT(!contains(out, "xmlns:k"));
		CU_ASSERT_EQUAL(xmlsec1_verify(out, ink, 1), 1);
#ifdef KMS_SCHEMA_FILE
		CU_ASSERT_EQUAL(schema_validate(out), 0);
#endif
		free(out);
		out = NULL;
	}
}

/* What kms_client_request_sign refuses; *out stays NULL. */
static void
test_request_sign_refuses(void)
{
	static const struct {
		const char *body;
		int want;
	} cases[] = {
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\" Id=\"kmsreq\"><UserUri>a</UserUri>"
		 "</KmsRequest>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\" xmlns:o=\"urn:o\" o:a=\"1\"/>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsResponse xmlns=\"" KMS_CLIENT_NS "\"/>", KMS_ERR_INVALID_ARG},
		{"<KmsRequest/>", KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\"><o:x xmlns:o=\"urn:o\"/></KmsRequest>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS
		 "\"><UserUri xmlns=\"\">a</UserUri></KmsRequest>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\"><UserUri o:a=\"1\" xmlns:o=\"urn:o\"/>"
		 "</KmsRequest>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\"><?pi x?></KmsRequest>",
		 KMS_ERR_INVALID_ARG},
		{"<KmsRequest xmlns=\"" KMS_CLIENT_NS "\">", KMS_ERR_PARSE},
		{"<!DOCTYPE KmsRequest [<!ENTITY a \"b\">]><KmsRequest xmlns=\"" KMS_CLIENT_NS
		 "\">&a;</KmsRequest>",
		 KMS_ERR_PARSE},
	};
	char *body = NULL, *out = NULL, *big;
	char id[KMS_CLIENT_MAX_KEY_NAME + 2];
	size_t len = 0, out_len = 1, i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = kms_client_request_sign(&out, &out_len, cases[i].body,
						 strlen(cases[i].body), ink, INK_ID);

		if (rc != cases[i].want) {
			fprintf(stderr, "case %zu: %d\n", i, rc);
		}
		CU_ASSERT_EQUAL(rc, cases[i].want);
		CU_ASSERT_PTR_NULL(out);
		CU_ASSERT_EQUAL(out_len, 0);
	}
	CU_ASSERT_EQUAL_FATAL(kms_client_request_build(&body, &len, USER_URI, KMS_URI, 1,
						       "https://h/keyprov/" USER_URI),
			      KMS_OK);
	/* the key id: 1..255 visible ASCII */
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, ink, ""),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, ink, "ik 1"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, ink, "ik\x7f"),
			KMS_ERR_INVALID_ARG);
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, ink, id),
			KMS_ERR_INVALID_ARG);
	id[sizeof(id) - 2] = '\0'; /* 255 */
	CU_ASSERT_EQUAL_FATAL(kms_client_request_sign(&out, &out_len, body, len, ink, id), KMS_OK);
	CU_ASSERT(contains(out, id));
	free(out);
	out = NULL;
	/* NULL arguments, an empty or oversized body */
	CU_ASSERT_EQUAL(kms_client_request_sign(NULL, &out_len, body, len, ink, INK_ID),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, NULL, body, len, ink, INK_ID),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, NULL, len, ink, INK_ID),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, NULL, INK_ID),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, len, ink, NULL),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, body, 0, ink, INK_ID),
			KMS_ERR_INVALID_ARG);
	big = calloc(1, KMS_CLIENT_MAX_REQUEST + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', KMS_CLIENT_MAX_REQUEST + 1);
	CU_ASSERT_EQUAL(kms_client_request_sign(&out, &out_len, big, KMS_CLIENT_MAX_REQUEST + 1,
						ink, INK_ID),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(out);
	free(big);
	/* every strict prefix of a good body (up to its end tag) is refused */
	CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(body, "</KmsRequest>"));
	len = (size_t)(strstr(body, "</KmsRequest>") - body) + strlen("</KmsRequest>");
	for (i = 0; i < len; i++) {
		CU_ASSERT_NOT_EQUAL(kms_client_request_sign(&out, &out_len, body, i, ink, INK_ID),
				    KMS_OK);
		CU_ASSERT_PTR_NULL(out);
	}
	free(body);
}

/* ------------------------------------------------------------------------------------------ */
/* The KmsResponse reader */

static void
test_reader_keyprov(void)
{
	struct build b = {.next_period = true};
	char *x = build_keyprov(&b);
	struct kms_client_response *r = NULL;
	const struct kms_client_keyset *k;
	uint8_t uid[KMS_UID_LEN];

	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(r->version, "1.0.0");
	CU_ASSERT_STRING_EQUAL(r->user_uri, USER_URI);
	CU_ASSERT_STRING_EQUAL(r->kms_uri, KMS_URI);
	CU_ASSERT_STRING_EQUAL(r->kms_id, "kms-1");
	CU_ASSERT(contains(r->client_req_url, "/keyprov/"));
	CU_ASSERT_EQUAL(r->time, now_ntp);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_KEYPROV);
	CU_ASSERT_EQUAL(r->num_keysets, 2);
	CU_ASSERT(!r->has_error);
	CU_ASSERT(!r->has_signature);
	k = &r->keysets[0];
	CU_ASSERT_STRING_EQUAL(k->kms_uri, KMS_URI);
	CU_ASSERT_STRING_EQUAL(k->cert_uri, "cert1." KMS_URI);
	CU_ASSERT_STRING_EQUAL(k->user_uri, USER_URI);
	CU_ASSERT_EQUAL(k->key_period_no, now_period);
	CU_ASSERT_EQUAL(r->keysets[1].key_period_no, now_period + 1);
	CU_ASSERT(kms_uid_compute(uid, USER_URI, strlen(USER_URI), KMS_URI, strlen(KMS_URI), PERIOD,
				  OFFSET, now_period) == KMS_OK);
	CU_ASSERT_EQUAL(memcmp(uid, k->user_id, sizeof(uid)), 0);
	CU_ASSERT(!k->user_id_base64);
	CU_ASSERT(k->has_valid_from && k->has_valid_to);
	CU_ASSERT_EQUAL(k->valid_to - k->valid_from, PERIOD);
	CU_ASSERT(!k->revoked);
	CU_ASSERT_EQUAL(k->rsk.wrap, KMS_CLIENT_KEY_KW_AES256_PAD);
	CU_ASSERT_STRING_EQUAL(k->rsk.key_name, TRK_ID);
	CU_ASSERT_EQUAL(k->rsk.wrapped_len, 272);
	CU_ASSERT_EQUAL(k->ssk.wrapped_len, 40);
	CU_ASSERT_EQUAL(k->pvt.wrapped_len, 80);
	CU_ASSERT(!k->ssk.cipher_hex);
	CU_ASSERT_PTR_NULL(k->ssk.plain);
	kms_client_response_free(r);
	kms_client_response_free(NULL);
	write_seed("keyprov-unsigned", x, strlen(x));
	free(x);
}

static void
test_reader_init_error_cache(void)
{
	struct kms_client_response *r = NULL;
	char *x = build_init();
	const struct kms_client_cert *c;
	struct str s = {0};

	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_INIT);
	CU_ASSERT_EQUAL_FATAL(r->num_certs, 1);
	c = &r->certs[0];
	CU_ASSERT_STRING_EQUAL(c->kms_uri, KMS_URI);
	CU_ASSERT_STRING_EQUAL(c->role, "Root");
	CU_ASSERT_STRING_EQUAL(c->user_id_format, "2");
	CU_ASSERT_EQUAL(c->period, PERIOD);
	CU_ASSERT_EQUAL(c->offset, OFFSET);
	CU_ASSERT(c->has_parameter_set && c->parameter_set == 1);
	CU_ASSERT_EQUAL(c->num_domains, 1);
	CU_ASSERT_EQUAL(memcmp(c->kpak, kpak, sizeof(kpak)), 0);
	CU_ASSERT_EQUAL(memcmp(c->z_pub, zpub, sizeof(zpub)), 0);
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), c), KMS_OK);
	kms_client_response_free(r);
	write_seed("init", x, strlen(x));
	{
		char *sx = sign(x);

		write_seed("init-signed", sx, strlen(sx));
		CU_ASSERT_EQUAL(parse_verify(sx, ink), KMS_OK);
		free(sx);
	}
	free(x);

	x = build_error();
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_NONE);
	CU_ASSERT(r->has_error);
	CU_ASSERT_EQUAL(r->error_code, 403);
	CU_ASSERT_STRING_EQUAL(r->error_msg, "not entitled");
	kms_client_response_free(r);
	write_seed("error", x, strlen(x));
	free(x);

	add_head(&s, "certcache");
	str_add(&s, "<KmsMessage><KmsCertCache Version=\"1.0.0\" CacheNum=\"7\">\n");
	add_cert(&s, "External");
	add_cert(&s, "External");
	str_add(&s, "</KmsCertCache></KmsMessage>\n</KmsResponse>");
	CU_ASSERT_EQUAL_FATAL(parse(&r, s.p), KMS_OK);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_CERTCACHE);
	CU_ASSERT(r->has_cache_num);
	CU_ASSERT_EQUAL(r->cache_num, 7);
	CU_ASSERT_EQUAL(r->num_certs, 2);
	CU_ASSERT_STRING_EQUAL(r->certs[1].role, "External");
	kms_client_response_free(r);
	write_seed("certcache", s.p, s.len);
#ifdef KMS_SCHEMA_FILE
	CU_ASSERT_EQUAL(schema_validate(s.p), 0);
#endif
	free(s.p);
}

/* The built responses follow the schema: the tests exercise the real shape. */
static void
test_reader_schema(void)
{
#ifdef KMS_SCHEMA_FILE
	struct build b = {.next_period = true};
	struct build p = {.plain = true};
	char *x = signed_keyprov(&b);
	char *y = signed_keyprov(&p);
	char *i = build_init();
	char *e = build_error();

	CU_ASSERT_EQUAL(schema_validate(x), 0);
	CU_ASSERT_EQUAL(schema_validate(y), 0);
	CU_ASSERT_EQUAL(schema_validate(i), 0);
	CU_ASSERT_EQUAL(schema_validate(e), 0);
	free(x);
	free(y);
	free(i);
	free(e);
#else
	CU_PASS("../shared/spec is not there: the schema check is not built");
#endif
}

static void
test_reader_refuses(void)
{
	static const struct {
		const char *from, *to, *msg;
		int want;
	} cases[] = {
		/* order matters */
		{"<UserUri>" USER_URI "</UserUri>\n<KmsUri>" KMS_URI "</KmsUri>",
		 "<KmsUri>" KMS_URI "</KmsUri>\n<UserUri>" USER_URI "</UserUri>",
		 "expected UserUri, found KmsUri", KMS_ERR_PARSE},
		{"<KmsId>kms-1</KmsId>\n", "", NULL, KMS_OK},
		{"<Time>", "<KmsId>x</KmsId><Time>", "expected Time, found KmsId", KMS_ERR_PARSE},
		{"<KeyPeriodNo>", "<Bogus/><KeyPeriodNo>", "expected KeyPeriodNo, found Bogus",
		 KMS_ERR_PARSE},
		{"</KmsKeySet>", "<Extra/></KmsKeySet>", "unexpected element Extra", KMS_ERR_PARSE},
		{"<KmsMessage>", "<KmsMessage>text", "text where elements belong", KMS_ERR_PARSE},
		{"<Revoked>false</Revoked>", "<Revoked>maybe</Revoked>", "xsd:boolean",
		 KMS_ERR_PARSE},
		{"<KmsUri>" KMS_URI "</KmsUri>\n<CertUri>",
		 "<KmsUri>kms example</KmsUri>\n<CertUri>", "whitespace", KMS_ERR_PARSE},
		{"<KmsUri>" KMS_URI "</KmsUri>\n<CertUri>", "<KmsUri></KmsUri>\n<CertUri>", "empty",
		 KMS_ERR_PARSE},
		{"<KmsUri>" KMS_URI "</KmsUri>\n<CertUri>", "<KmsUri>a<b/></KmsUri>\n<CertUri>",
		 "where text belongs", KMS_ERR_PARSE},
		{"<KeyPeriodNo>", "<KeyPeriodNo>-", "non-negative integer", KMS_ERR_PARSE},
		{"<KeyPeriodNo>", "<KeyPeriodNo>99999999999999999999", "below 2^64", KMS_ERR_RANGE},
		{"<ValidFrom>", "<ValidFrom>x", "xsd:dateTime", KMS_ERR_PARSE},
		{"xsi:type=\"EncKeyContentType\"", "xsi:type=\"Other\"", "not supported",
		 KMS_ERR_UNSUPPORTED},
		{"xsi:type=\"EncKeyContentType\"", "xsi:type=\"q:EncKeyContentType\"",
		 "not a type of", KMS_ERR_PARSE},
		{"<xenc:CipherData>", "<xenc:CipherData><xenc:CipherReference URI=\"x\"/>",
		 "expected CipherValue, found CipherReference", KMS_ERR_PARSE},
		{"<xenc:CipherValue>", "<xenc:CipherValue>!", "CipherValue is not base64",
		 KMS_ERR_ENCODING},
		{"<xenc:EncryptionMethod Algorithm", "<xenc:EncryptionMethod Other",
		 "EncryptionMethod without Algorithm", KMS_ERR_PARSE},
		{"</xenc:CipherData>", "</xenc:CipherData><xenc:EncryptionProperties/>",
		 "unexpected element EncryptionProperties", KMS_ERR_PARSE},
		{"<KmsResponse xmlns=\"" KMS_CLIENT_NS "\"", "<KmsResponse xmlns=\"urn:other\"",
		 "not KmsResponse", KMS_ERR_PARSE},
		{"</KmsMessage>\n", "</KmsMessage>\n<KmsMessage/>", "unexpected element KmsMessage",
		 KMS_ERR_PARSE},
		{"</KmsMessage>\n", "</KmsMessage>\n<unqualified xmlns=\"\"/>",
		 "unexpected element unqualified", KMS_ERR_PARSE},
		/* extension elements of other namespaces are allowed where the schema says */
		{"</KmsMessage>\n", "</KmsMessage>\n<x:ext xmlns:x=\"urn:x\"><x:y/></x:ext>", NULL,
		 KMS_OK},
		{"<KmsKeyProv Version=\"1.0.0\">",
		 "<KmsKeyProv Version=\"1.0.0\"><!-- c --><?pi x?>", NULL, KMS_OK},
		/* well-formedness and the DTD */
		{"</KmsResponse>", "</KmsResponse><x/>", "not well-formed", KMS_ERR_PARSE},
		{"</KmsResponse>", "", "not well-formed", KMS_ERR_PARSE},
		{"<UserUri>", "<UserUri>&undefined;", "not well-formed", KMS_ERR_PARSE},
		{"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
		 "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
		 "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>",
		 "DOCTYPE", KMS_ERR_PARSE},
		{"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
		 "<!DOCTYPE KmsResponse SYSTEM \"http://127.0.0.1:9/x.dtd\">", "DOCTYPE",
		 KMS_ERR_PARSE},
	};
	struct build b = {0};
	char *base = build_keyprov(&b);
	struct kms_client_response *r = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *x = replace(base, cases[i].from, cases[i].to);
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
		rc = parse(&r, x);
		if (rc != cases[i].want || (cases[i].msg != NULL && !contains(err, cases[i].msg))) {
			fprintf(stderr, "case %zu: %d '%s'\n", i, rc, err);
		}
		CU_ASSERT_EQUAL(rc, cases[i].want);
		if (cases[i].msg != NULL) {
			CU_ASSERT(contains(err, cases[i].msg));
		}
		if (rc != KMS_OK) {
			CU_ASSERT_PTR_NULL(r);
		}
		kms_client_response_free(r);
		r = NULL;
		free(x);
	}
	CU_ASSERT_EQUAL(kms_client_response_parse(&r, err, sizeof(err), NULL, 0), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(
		kms_client_response_parse(NULL, err, sizeof(err), (const uint8_t *)"<a/>", 4),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_client_response_parse(&r, NULL, 0, (const uint8_t *)"<a/>", 4),
			KMS_ERR_PARSE);
	free(base);
}

/* UserID: 64 hex digits or base64 of 32 octets, nothing else */
static void
test_reader_user_id(void)
{
	struct build b = {0};
	struct build b64b = {.uid_base64 = true};
	char *x = build_keyprov(&b);
	char *y = build_keyprov(&b64b);
	const char *v = strstr(x, "<UserID>") + strlen("<UserID>");
	const char *w = strstr(y, "<UserID>") + strlen("<UserID>");
	char hex[65], b64t[45], from[80], to[80];
	struct kms_client_response *r = NULL;
	const struct {
		const char *text;
		int want;
	} cases[] = {
		{"ZZ", KMS_ERR_ENCODING},
		{"AAAA", KMS_ERR_RANGE},
		{"", KMS_ERR_PARSE},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", KMS_ERR_RANGE},
	};
	size_t i;

	memcpy(hex, v, 64);
	hex[64] = '\0';
	memcpy(b64t, w, 44);
	b64t[44] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t;

		(void)snprintf(from, sizeof(from), "<UserID>%s<", hex);
		(void)snprintf(to, sizeof(to), "<UserID>%s<", cases[i].text);
		t = replace(x, from, to);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		CU_ASSERT_EQUAL(parse(&r, t), cases[i].want);
		CU_ASSERT(contains(err, "UserID"));
		free(t);
	}
	/* 64 characters, one not hex */
	(void)snprintf(from, sizeof(from), "<UserID>%s<", hex);
	hex[10] = 'g';
	(void)snprintf(to, sizeof(to), "<UserID>%s<", hex);
	{
		char *t = replace(x, from, to);

		CU_ASSERT_EQUAL(parse(&r, t), KMS_ERR_ENCODING);
		free(t);
	}
	/* base64 with non-zero pad bits is not canonical */
	(void)snprintf(from, sizeof(from), "<UserID>%s<", b64t);
	b64t[42] = b64t[42] == 'B' ? 'C' : 'B';
	(void)snprintf(to, sizeof(to), "<UserID>%s<", b64t);
	{
		char *t = replace(y, from, to);

		CU_ASSERT_EQUAL(parse(&r, t), KMS_ERR_ENCODING);
		free(t);
	}
	free(x);
	free(y);
}

static void
test_reader_limits(void)
{
	struct kms_client_response *r = NULL;
	struct build b = {0};
	char *base = build_keyprov(&b);
	struct str s = {0};
	char *x;
	size_t i;

	/* more than 16 key sets */
	add_head(&s, "keyprov");
	str_add(&s, "<KmsMessage><KmsKeyProv>");
	for (i = 0; i <= KMS_CLIENT_MAX_KEYSETS; i++) {
		const char *a = strstr(base, "<KmsKeySet");
		const char *e = strstr(base, "</KmsKeySet>");

		str_add_n(&s, a, (size_t)(e - a) + strlen("</KmsKeySet>"));
	}
	str_add(&s, "</KmsKeyProv></KmsMessage></KmsResponse>");
	CU_ASSERT_EQUAL(parse(&r, s.p), KMS_ERR_TOO_LARGE);
	CU_ASSERT(contains(err, "more than 16 key sets"));
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* a value over its limit */
	str_add(&s, "<KmsError><ErrorCode>1</ErrorCode><ErrorMsg>");
	for (i = 0; i <= KMS_CLIENT_MAX_STR; i++) {
		str_add(&s, "m");
	}
	str_add(&s, "</ErrorMsg></KmsError></KmsResponse>");
	x = replace(base, "</KmsResponse>", s.p);
	CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_TOO_LARGE);
	CU_ASSERT(contains(err, "ErrorMsg"));
	free(x);
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* a body over 1 MiB, refused before parsing */
	{
		uint8_t *big = calloc(1, KMS_CLIENT_MAX_BODY + 1);

		CU_ASSERT_PTR_NOT_NULL_FATAL(big);
		CU_ASSERT_EQUAL(kms_client_response_parse(&r, err, sizeof(err), big,
							  KMS_CLIENT_MAX_BODY + 1),
				KMS_ERR_TOO_LARGE);
		free(big);
	}
	/* nesting deeper than libxml2's limit (256) is refused by the parser */
	str_add(&s, "<KmsResponse xmlns=\"" KMS_CLIENT_NS "\">");
	for (i = 0; i < 300; i++) {
		str_add(&s, "<a>");
	}
	CU_ASSERT_EQUAL(parse(&r, s.p), KMS_ERR_PARSE);
	free(s.p);
	free(base);
}

/* Key rotation: the new keys are kept, with their fields, in KmsKeyProv and KmsInit. */
static void
test_reader_new_keys(void)
{
	struct rot o = {0};
	char *rot = rotation_keys(&o);
	struct build b = {.rotation = rot};
	char *x = signed_keyprov(&b);
	char *u = build_init_rot(rot);
	char *i = sign(u);
	struct kms_client_response *r = NULL;
	const struct kms_client_key *k;
	uint8_t w[48];

	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_KEYPROV);
	CU_ASSERT_EQUAL(r->num_keysets, 1);
	CU_ASSERT_EQUAL_FATAL(r->num_new_trk, 1);
	CU_ASSERT_EQUAL_FATAL(r->num_new_ink, 1);
	k = &r->new_trk[0];
	CU_ASSERT_EQUAL(k->wrap, KMS_CLIENT_KEY_KW_AES256_PAD);
	CU_ASSERT_STRING_EQUAL(k->key_name, TRK_ID);
	CU_ASSERT_STRING_EQUAL(k->carried_name, NEW_TRK_ID);
	CU_ASSERT(!k->cipher_hex);
	CU_ASSERT_PTR_NULL(k->plain);
	CU_ASSERT_EQUAL_FATAL(k->wrapped_len, 40);
	CU_ASSERT_EQUAL(wrap(w, trk, new_trk, 32), 40); /* RFC 5649 is deterministic */
	CU_ASSERT_EQUAL(memcmp(k->wrapped, w, 40), 0);
	k = &r->new_ink[0];
	CU_ASSERT_STRING_EQUAL(k->key_name, TRK_ID);
	CU_ASSERT_STRING_EQUAL(k->carried_name, NEW_INK_ID);
	CU_ASSERT_EQUAL_FATAL(k->wrapped_len, 40);
	CU_ASSERT_EQUAL(wrap(w, trk, new_ink, 32), 40);
	CU_ASSERT_EQUAL(memcmp(k->wrapped, w, 40), 0);
	/* the key sets' keys carry no CarriedKeyName */
	CU_ASSERT_PTR_NULL(r->keysets[0].ssk.carried_name);
	CU_ASSERT_EQUAL(kms_client_verify(err, sizeof(err), r, ink), KMS_OK);
	kms_client_response_free(r);
	r = NULL;
	write_seed("keyprov-rotation-signed", x, strlen(x));

	CU_ASSERT_EQUAL_FATAL(parse(&r, i), KMS_OK);
	CU_ASSERT_EQUAL(r->msg, KMS_CLIENT_MSG_INIT);
	CU_ASSERT_EQUAL(r->num_certs, 1);
	CU_ASSERT_EQUAL(r->num_new_trk, 1);
	CU_ASSERT_EQUAL(r->num_new_ink, 1);
	CU_ASSERT_STRING_EQUAL(r->new_ink[0].carried_name, NEW_INK_ID);
	CU_ASSERT_EQUAL(kms_client_verify(err, sizeof(err), r, ink), KMS_OK);
	kms_client_response_free(r);
	r = NULL;
	write_seed("init-rotation-signed", i, strlen(i));
#ifdef KMS_SCHEMA_FILE
	CU_ASSERT_EQUAL(schema_validate(x), 0);
	CU_ASSERT_EQUAL(schema_validate(i), 0);
#endif
	free(x);
	free(u);
	free(i);

	/* CarriedKeyName is optional; the element's xsi:type too (the schema fixes the type) */
	{
		struct rot no = {.no_carried = true, .hex = true};
		char *rot2 = rotation_keys(&no);
		char *rot3 = replace(rot2, " xsi:type=\"EncKeyContentType\"", "");
		struct build b2 = {.rotation = rot3};

		x = build_keyprov(&b2);
		CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
		CU_ASSERT_PTR_NULL(r->new_trk[0].carried_name);
		CU_ASSERT_PTR_NULL(r->new_ink[0].carried_name);
		CU_ASSERT(r->new_trk[0].cipher_hex);
		CU_ASSERT_EQUAL(r->new_trk[0].wrapped_len, 40);
		kms_client_response_free(r);
		r = NULL;
		free(x);
		free(rot2);
		free(rot3);
	}
	/* whitespace around the id is not part of it */
	{
		char *rot2 = replace(rot, "<xenc:CarriedKeyName>" NEW_TRK_ID "<",
				     "<xenc:CarriedKeyName>\n  " NEW_TRK_ID " \n<");
		struct build b2 = {.rotation = rot2};

		x = build_keyprov(&b2);
		CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
		CU_ASSERT_STRING_EQUAL(r->new_trk[0].carried_name, NEW_TRK_ID);
		kms_client_response_free(r);
		r = NULL;
		free(x);
		free(rot2);
	}
	free(rot);
}

/* Malformed new keys are refused, with a message that names the element. */
static void
test_reader_new_keys_refused(void)
{
	static const struct {
		const char *from, *to, *msg;
		int want;
	} cases[] = {
		/* two KeyNames */
		{"<ds:KeyName>" TRK_ID "</ds:KeyName>",
		 "<ds:KeyName>" TRK_ID "</ds:KeyName><ds:KeyName>" TRK_ID "</ds:KeyName>",
		 "NewTransportKey: unexpected element KeyName", KMS_ERR_PARSE},
		/* bad base64, and base64 with non-zero pad bits */
		{"<xenc:CipherValue>", "<xenc:CipherValue>!", "NewTransportKey: CipherValue",
		 KMS_ERR_ENCODING},
		{"=</xenc:CipherValue>", "+</xenc:CipherValue>", "NewTransportKey: CipherValue",
		 KMS_ERR_ENCODING},
		{"<xenc:CipherValue>", "<xenc:CipherValue>A", "NewTransportKey: CipherValue",
		 KMS_ERR_ENCODING},
		{"<xenc:CipherValue>", "<xenc:CipherValue></xenc:CipherValue><xenc:CipherValue>",
		 "unexpected element CipherValue", KMS_ERR_PARSE},
		/* CarriedKeyName: empty, not visible ASCII, twice, misplaced */
		{"<xenc:CarriedKeyName>" NEW_TRK_ID "<", "<xenc:CarriedKeyName> <",
		 "CarriedKeyName: empty", KMS_ERR_PARSE},
		{"<xenc:CarriedKeyName>" NEW_TRK_ID "<", "<xenc:CarriedKeyName>tk 1<",
		 "CarriedKeyName: not visible ASCII", KMS_ERR_PARSE},
		{"<xenc:CarriedKeyName>" NEW_TRK_ID "<", "<xenc:CarriedKeyName>tk&#x7f;<",
		 "CarriedKeyName: not visible ASCII", KMS_ERR_PARSE},
		{"<xenc:CarriedKeyName>" NEW_TRK_ID "<", "<xenc:CarriedKeyName>tk.\xc3\xa9<",
		 "CarriedKeyName: not visible ASCII", KMS_ERR_PARSE},
		{"<xenc:CarriedKeyName>" NEW_TRK_ID "<", "<xenc:CarriedKeyName>a<b/><",
		 "CarriedKeyName: element b", KMS_ERR_PARSE},
		{"</xenc:CarriedKeyName>",
		 "</xenc:CarriedKeyName><xenc:CarriedKeyName>x</xenc:CarriedKeyName>",
		 "unexpected element CarriedKeyName", KMS_ERR_PARSE},
		{"</xenc:CipherData><xenc:CarriedKeyName>",
		 "</xenc:CipherData><xenc:ReferenceList/><xenc:CarriedKeyName>",
		 "unexpected element ReferenceList", KMS_ERR_PARSE},
		{"<xenc:CarriedKeyName>", "<xenc:CarriedKeyName xmlns:xenc=\"urn:other\">",
		 "unexpected element CarriedKeyName", KMS_ERR_PARSE},
		/* the type and the content of the element */
		{"xsi:type=\"EncKeyContentType\"", "xsi:type=\"KeyContentType\"",
		 "NewTransportKey: a new key must be an xenc:EncryptedKey", KMS_ERR_UNSUPPORTED},
		{"xsi:type=\"EncKeyContentType\"", "xsi:type=\"Other\"", "not supported",
		 KMS_ERR_UNSUPPORTED},
		{"<xenc:EncryptedKey>", "<xenc:EncryptedKey><xenc:EncryptedKey/>",
		 "expected EncryptionMethod", KMS_ERR_PARSE},
		{"</xenc:EncryptedKey>", "</xenc:EncryptedKey><xenc:EncryptedKey/>",
		 "unexpected element EncryptedKey", KMS_ERR_PARSE},
		{"<NewTransportKey xsi:type=\"EncKeyContentType\">",
		 "<NewTransportKey xsi:type=\"EncKeyContentType\">text",
		 "text where elements belong", KMS_ERR_PARSE},
	};
	struct rot o = {0};
	char *rot = rotation_keys(&o);
	const char *ink_el = strstr(rot, "<NewIntegrityKey");
	struct kms_client_response *r = NULL;
	struct str s = {0};
	char *x;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ink_el);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* in the NewTransportKey, which comes first */
		char *mod = replace(rot, cases[i].from, cases[i].to);
		struct build b = {.rotation = mod};
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(mod);
		x = build_keyprov(&b);
		rc = parse(&r, x);
		if (rc != cases[i].want || !contains(err, cases[i].msg)) {
			fprintf(stderr, "case %zu: %d '%s'\n", i, rc, err);
		}
		CU_ASSERT_EQUAL(rc, cases[i].want);
		CU_ASSERT(contains(err, cases[i].msg));
		CU_ASSERT_PTR_NULL(r);
		free(x);
		free(mod);
	}
	/* a CarriedKeyName of 256 octets (255 is the limit) */
	for (i = 0; i < 256; i++) {
		str_add(&s, "k");
	}
	{
		struct str to = {0};
		char *mod;
		struct build b = {0};

		str_addf(&to, "<xenc:CarriedKeyName>%s<", s.p);
		mod = replace(rot, "<xenc:CarriedKeyName>" NEW_TRK_ID "<", to.p);
		b.rotation = mod;
		x = build_keyprov(&b);
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_TOO_LARGE);
		CU_ASSERT(contains(err, "CarriedKeyName: too long"));
		free(x);
		free(mod);
		/* 255 is fine */
		free(to.p);
		memset(&to, 0, sizeof(to));
		s.p[255] = '\0';
		str_addf(&to, "<xenc:CarriedKeyName>%s<", s.p);
		mod = replace(rot, "<xenc:CarriedKeyName>" NEW_TRK_ID "<", to.p);
		b.rotation = mod;
		x = build_keyprov(&b);
		CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
		CU_ASSERT_EQUAL(strlen(r->new_trk[0].carried_name), 255);
		kms_client_response_free(r);
		r = NULL;
		free(x);
		free(mod);
		free(to.p);
	}
	free(s.p);
	memset(&s, 0, sizeof(s));
	/* NewIntegrityKey before NewTransportKey: out of the schema's order */
	{
		struct build b = {0};

		str_add(&s, ink_el);
		str_add_n(&s, rot, (size_t)(ink_el - rot));
		b.rotation = s.p;
		x = build_keyprov(&b);
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "unexpected element NewTransportKey"));
		free(x);
		free(s.p);
		memset(&s, 0, sizeof(s));
	}
	/* more than KMS_CLIENT_MAX_NEW_KEYS of one kind */
	{
		struct build b = {0};

		for (i = 0; i <= KMS_CLIENT_MAX_NEW_KEYS; i++) {
			str_add_n(&s, rot, (size_t)(ink_el - rot));
		}
		b.rotation = s.p;
		x = build_keyprov(&b);
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_TOO_LARGE);
		CU_ASSERT(contains(err, "more than 4 NewTransportKey"));
		free(x);
		free(s.p);
		memset(&s, 0, sizeof(s));
		/* four of each are read */
		for (i = 0; i < KMS_CLIENT_MAX_NEW_KEYS; i++) {
			str_add_n(&s, rot, (size_t)(ink_el - rot));
		}
		for (i = 0; i < KMS_CLIENT_MAX_NEW_KEYS; i++) {
			str_add(&s, ink_el);
		}
		b.rotation = s.p;
		x = build_keyprov(&b);
		CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
		CU_ASSERT_EQUAL(r->num_new_trk, KMS_CLIENT_MAX_NEW_KEYS);
		CU_ASSERT_EQUAL(r->num_new_ink, KMS_CLIENT_MAX_NEW_KEYS);
		CU_ASSERT_STRING_EQUAL(r->new_ink[3].carried_name, NEW_INK_ID);
		kms_client_response_free(r);
		r = NULL;
		free(x);
		free(s.p);
		memset(&s, 0, sizeof(s));
	}
	/* a key set's EncryptedKey carries no CarriedKeyName */
	{
		struct build b = {0};
		char *base = build_keyprov(&b);

		x = replace(base, "</xenc:CipherData>",
			    "</xenc:CipherData><xenc:CarriedKeyName>x</xenc:CarriedKeyName>");
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "UserDecryptKey: unexpected element CarriedKeyName"));
		free(x);
		free(base);
	}
	/* new keys in a message that does not say the schema's extension type */
	{
		struct build b = {.rotation = rot};
		char *base = build_keyprov(&b);

		x = replace(base, " xsi:type=\"KmsKeyProvTkIkType\"", "");
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "KmsKeyProv: new keys, but the message is not xsi:type "
					"KmsKeyProvTkIkType"));
		free(x);
		x = replace(base, "xsi:type=\"KmsKeyProvTkIkType\"",
			    "xsi:type=\"KmsInitTkIkType\"");
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "not xsi:type KmsKeyProvTkIkType"));
		free(x);
		x = replace(base, "xsi:type=\"KmsKeyProvTkIkType\"",
			    "xmlns:o=\"urn:other\" xsi:type=\"o:KmsKeyProvTkIkType\"");
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "KmsKeyProv: xsi:type is not a type of"));
		free(x);
		free(base);
		base = build_init_rot(rot);
		x = replace(base, " xsi:type=\"KmsInitTkIkType\"", "");
		CU_ASSERT_EQUAL(parse(&r, x), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "KmsInit: new keys, but the message is not xsi:type "
					"KmsInitTkIkType"));
		free(x);
		/* with the type, the same message is read */
		CU_ASSERT_EQUAL(parse(&r, base), KMS_OK);
		kms_client_response_free(r);
		r = NULL;
		free(base);
	}
	/* never in a KmsCertCache */
	{
		struct str c = {0};

		add_head(&c, "certcache");
		str_add(&c, "<KmsMessage><KmsCertCache Version=\"1.0.0\" CacheNum=\"7\">\n");
		add_cert(&c, "External");
		str_add_n(&c, rot, (size_t)(ink_el - rot));
		str_add(&c, "</KmsCertCache></KmsMessage>\n</KmsResponse>");
		CU_ASSERT_EQUAL(parse(&r, c.p), KMS_ERR_PARSE);
		CU_ASSERT(contains(err, "unexpected element NewTransportKey"));
		free(c.p);
	}
	free(rot);
}

/* Every strict prefix of a signed response is refused (the root never closes). */
static void
test_reader_truncation(void)
{
	struct build b = {0};
	char *x = signed_keyprov(&b);
	struct kms_client_response *r = NULL;
	unsigned int accepted = 0;
	size_t k, n = strlen(x);

	for (k = 0; k < n; k++) {
		if (kms_client_response_parse(&r, err, sizeof(err), (const uint8_t *)x, k) ==
			    KMS_OK ||
		    r != NULL) {
			accepted++;
		}
		kms_client_response_free(r);
		r = NULL;
	}
	CU_ASSERT_EQUAL(accepted, 0);
	free(x);
}

/*
 * Bit flips anywhere from the root start tag to the signature's KeyInfo: the response is either
 * refused by the reader or its signature fails. (The XML declaration and ds:KeyInfo are outside
 * what XML-DSig signs.)
 */
static void
test_reader_bitflips(void)
{
	static const uint8_t bits[] = {0x01, 0x04, 0x20};
	struct build b = {0};
	char *x = signed_keyprov(&b);
	size_t start = (size_t)(strstr(x, "<KmsResponse") - x);
	size_t end = (size_t)(strstr(x, "<ds:KeyInfo><ds:KeyName>" INK_ID) - x);
	unsigned int passed = 0;
	size_t i, j;

	CU_ASSERT_EQUAL(parse_verify(x, ink), KMS_OK);
	for (i = start; i < end; i++) {
		for (j = 0; j < sizeof(bits); j++) {
			x[i] = (char)(x[i] ^ bits[j]);
			if (parse_verify(x, ink) == KMS_OK) {
				passed++;
				fprintf(stderr, "flip at %zu (0x%02x) passed\n", i, bits[j]);
			}
			x[i] = (char)(x[i] ^ bits[j]);
		}
	}
	CU_ASSERT_EQUAL(passed, 0);
	free(x);
}

/* ------------------------------------------------------------------------------------------ */
/* Signature */

static void
test_verify_valid(void)
{
	struct build b = {.next_period = true};
	char *u = build_keyprov(&b);
	char *x = sign_with(u, ink, false);
	char *y = sign_with(u, ink, true);
	char *t = sign_with(u, trk, false);
	struct kms_client_response *r = NULL;

	/* SignedInfo inheriting the root's namespaces, or declaring them again: the same C14N */
	CU_ASSERT_EQUAL(parse_verify(x, ink), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(parse_verify(y, ink), KMS_OK);
	/* a client without an InK: the TrK signs */
	CU_ASSERT_EQUAL(parse_verify(t, trk), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT(r->has_signature);
	CU_ASSERT_STRING_EQUAL(r->sig_key_name, INK_ID);
	kms_client_response_free(r);
	/* whitespace and comments in the Signature do not matter (it is not digested), nor a
	 * comment in the signed content (C14N without comments) */
	{
		char *w = replace(x, "<ds:SignatureValue>", "\n  <!-- c -->\n<ds:SignatureValue>");
		char *c = replace(x, "<KmsKeySet ", "<!-- a comment --><KmsKeySet ");

		CU_ASSERT_EQUAL(parse_verify(w, ink), KMS_OK);
		CU_ASSERT_EQUAL(parse_verify(c, ink), KMS_OK);
		free(w);
		free(c);
	}
	write_seed("keyprov-signed", x, strlen(x));
	free(u);
	free(x);
	free(y);
	free(t);
}

/* Change from -> to in a signed response: verify fails with code want and message msg. */
static void
expect_verify(const char *xml, const char *from, const char *to, const uint8_t *key, int want,
	      const char *msg)
{
	char *x = from != NULL ? replace(xml, from, to) : NULL;
	int rc;

	if (from != NULL) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	}
	rc = parse_verify(x != NULL ? x : xml, key);
	if (rc != want || !contains(err, msg)) {
		fprintf(stderr, "%s -> %s: %d '%s'\n", from != NULL ? from : "-",
			to != NULL ? to : "-", rc, err);
	}
	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT(contains(err, msg));
	free(x);
}

/* The n-th (0-based) occurrence of tag's text in xml, as a string to replace with one byte
 * flipped. */
static char *
flipped(const char *xml, const char *tag, size_t skip, char **out_orig)
{
	const char *p = xml;
	const char *v, *e;
	char *orig, *mod;
	size_t i;

	for (i = 0; i <= skip; i++) {
		p = strstr(p, tag);
		if (p == NULL) {
			abort();
		}
		p += strlen(tag);
	}
	v = p;
	e = strchr(v, '<');
	orig = strndup(v - strlen(tag), (size_t)(e - v) + strlen(tag));
	mod = strdup(orig);
	if (orig == NULL || mod == NULL) {
		abort();
	}
	/* change the 6th character of the value to another of the same alphabet */
	mod[strlen(tag) + 5] = mod[strlen(tag) + 5] == 'A' ? 'B' : 'A';
	*out_orig = orig;
	return mod;
}

static void
test_verify_tampered(void)
{
	struct build b = {0};
	char *x = signed_keyprov(&b);
	char *orig, *mod;

	/* a flipped byte of a CipherValue, of UserUri, of the SignatureValue, of DigestValue */
	mod = flipped(x, "<xenc:CipherValue>", 1, &orig);
	expect_verify(x, orig, mod, ink, KMS_ERR_AUTH, "Reference digest mismatch");
	free(orig);
	free(mod);
	expect_verify(x, "<UserUri>" USER_URI "</UserUri>\n<UserID>",
		      "<UserUri>sip:alicf@example.org</UserUri>\n<UserID>", ink, KMS_ERR_AUTH,
		      "Reference digest mismatch");
	mod = flipped(x, "<ds:SignatureValue>", 0, &orig);
	expect_verify(x, orig, mod, ink, KMS_ERR_AUTH, "SignatureValue mismatch");
	free(orig);
	free(mod);
	mod = flipped(x, "<ds:DigestValue>", 0, &orig);
	expect_verify(x, orig, mod, ink, KMS_ERR_AUTH, "Reference digest mismatch");
	free(orig);
	free(mod);
	/* a changed KeyPeriodNo */
	{
		char from[64], to[64];

		(void)snprintf(from, sizeof(from), "<KeyPeriodNo>%llu<",
			       (unsigned long long)now_period);
		(void)snprintf(to, sizeof(to), "<KeyPeriodNo>%llu<",
			       (unsigned long long)now_period + 1);
		expect_verify(x, from, to, ink, KMS_ERR_AUTH, "Reference digest mismatch");
	}
	/* the wrong key: another InK, or the TrK where the InK signed */
	{
		uint8_t other[32];

		memcpy(other, ink, sizeof(other));
		other[31] ^= 1;
		expect_verify(x, NULL, NULL, other, KMS_ERR_AUTH, "SignatureValue mismatch");
		expect_verify(x, NULL, NULL, trk, KMS_ERR_AUTH, "SignatureValue mismatch");
	}
	/* a removed Signature when a key is given */
	{
		const char *s = strstr(x, "<ds:Signature>");
		const char *e = strstr(x, "</ds:Signature>");
		char *sig = strndup(s, (size_t)(e - s) + strlen("</ds:Signature>"));

		CU_ASSERT_PTR_NOT_NULL_FATAL(sig);
		expect_verify(x, sig, "", ink, KMS_ERR_AUTH, "not signed");
		free(sig);
	}
	free(x);
}

static void
test_verify_structure(void)
{
	struct build b = {0};
	char *x = signed_keyprov(&b);

	/* a second Reference */
	expect_verify(
		x, "</ds:Reference>",
		"</ds:Reference><ds:Reference URI=\"#other\"><ds:DigestMethod "
		"Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</ds:DigestValue></ds:Reference>",
		ink, KMS_ERR_PARSE, "more than one Reference");
	/* other algorithms */
	expect_verify(
		x, "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
		"http://www.w3.org/2000/09/xmldsig#hmac-sha1", ink, KMS_ERR_UNSUPPORTED,
		"SignatureMethod http://www.w3.org/2000/09/xmldsig#hmac-sha1 is not supported");
	expect_verify(x, "xmldsig-more#hmac-sha256", "xmldsig-more#rsa-sha256", ink,
		      KMS_ERR_UNSUPPORTED, "SignatureMethod");
	expect_verify(x, "REC-xml-c14n-20010315\"></ds:CanonicalizationMethod>",
		      "REC-xml-c14n-20010315#WithComments\"></ds:CanonicalizationMethod>", ink,
		      KMS_ERR_UNSUPPORTED, "CanonicalizationMethod");
	expect_verify(x, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"></ds:Canonical",
		      "http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Canonical", ink,
		      KMS_ERR_UNSUPPORTED, "CanonicalizationMethod");
	expect_verify(x, "xmlenc#sha256", "xmldsig#sha1", ink, KMS_ERR_UNSUPPORTED, "DigestMethod");
	expect_verify(x, "#enveloped-signature", "#base64", ink, KMS_ERR_UNSUPPORTED, "Transform");
	expect_verify(x, "<ds:Transforms>", "<ds:Transforms><ds:Transform Algorithm=\"x\"/>", ink,
		      KMS_ERR_UNSUPPORTED, "Transform x is not supported");
	expect_verify(
		x, "</ds:Transforms>",
		"<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"
		"<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"
		"</ds:Transforms>",
		ink, KMS_ERR_PARSE, "unexpected element Transform");
	/* a truncated HMAC */
	expect_verify(x, "</ds:SignatureMethod>",
		      "<ds:HMACOutputLength>128</ds:HMACOutputLength></ds:SignatureMethod>", ink,
		      KMS_ERR_UNSUPPORTED, "HMACOutputLength 128 refused");
	/* references to anything but the root */
	expect_verify(x, "URI=\"#xmldoc\"", "URI=\"\"", ink, KMS_ERR_PARSE, "is not \"#xmldoc\"");
	expect_verify(x, "URI=\"#xmldoc\"", "URI=\"#other\"", ink, KMS_ERR_PARSE,
		      "is not \"#xmldoc\"");
	expect_verify(x, " Id=\"xmldoc\"", " Id=\"other\"", ink, KMS_ERR_PARSE,
		      "does not have Id=\"xmldoc\"");
	expect_verify(x, "<KmsKeySet ", "<KmsKeySet Id=\"xmldoc\" ", ink, KMS_ERR_PARSE,
		      "another element also has Id");
	/* the Signature in the wrong place, twice, or malformed */
	expect_verify(x, "</KmsMessage>\n", "</KmsMessage>\n<ds:Signature/>", ink, KMS_ERR_PARSE,
		      "must be the last child");
	expect_verify(x, "</ds:Signature>", "</ds:Signature><x:e xmlns:x=\"urn:x\"/>", ink,
		      KMS_ERR_PARSE, "must be the last child");
	expect_verify(x, "</ds:SignatureValue><ds:KeyInfo>",
		      "</ds:SignatureValue><ds:Object/><ds:KeyInfo>", ink, KMS_ERR_PARSE,
		      "unexpected element Object");
	expect_verify(x, "</ds:SignatureValue>", "=</ds:SignatureValue>", ink, KMS_ERR_ENCODING,
		      "SignatureValue: expected 32 octets in base64");
	expect_verify(x, "</ds:DigestValue>", "AAAA</ds:DigestValue>", ink, KMS_ERR_ENCODING,
		      "DigestValue: expected 32 octets");
	free(x);
}

/* ------------------------------------------------------------------------------------------ */
/* Key sets */

static void
test_keyset_valid(void)
{
	struct build b = {.next_period = true};
	char *x = signed_keyprov(&b);

	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(check_open(x, 1, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, NULL, 0), KMS_OK);
	free(x);
}

static void
test_keyset_variants(void)
{
	struct build hex = {.cipher_hex = true};
	struct build legacy = {.legacy_label = true};
	struct build uid64 = {.uid_base64 = true};
	struct build plain = {.plain = true};
	struct build idhex = {.fmt = KMS_ID_HEX_LOWER};
	struct build alg = {.alg = "http://www.w3.org/2001/04/xmlenc#kw-aes128"};
	char *x;
	struct kms_client_response *r = NULL;

	x = signed_keyprov(&hex);
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT(r->keysets[0].rsk.cipher_hex);
	kms_client_response_free(r);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	write_seed("keyprov-hex", x, strlen(x));
	free(x);

	x = signed_keyprov(&legacy);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	free(x);

	x = signed_keyprov(&uid64);
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT(r->keysets[0].user_id_base64);
	kms_client_response_free(r);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	free(x);

	/* plain keys need no TrK */
	x = signed_keyprov(&plain);
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_EQUAL(r->keysets[0].ssk.wrap, KMS_CLIENT_KEY_PLAIN);
	CU_ASSERT_PTR_NOT_NULL(r->keysets[0].ssk.plain);
	kms_client_response_free(r);
	CU_ASSERT_EQUAL(check_open(x, 0, NULL, KMS_ID_RAW, USER_URI, now_ntp), KMS_OK);
	write_seed("keyprov-plain", x, strlen(x));
	free(x);

	/* the identifier format must be the KMS's */
	x = signed_keyprov(&idhex);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_HEX_LOWER, USER_URI, now_ntp), KMS_OK);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "ECCSI pair invalid"));
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_HEX_UPPER, USER_URI, now_ntp), KMS_ERR_AUTH);
	free(x);

	/* another EncryptionMethod is read, and refused when opened */
	x = signed_keyprov(&alg);
	CU_ASSERT_EQUAL_FATAL(parse(&r, x), KMS_OK);
	CU_ASSERT_EQUAL(r->keysets[0].rsk.wrap, KMS_CLIENT_KEY_UNKNOWN);
	kms_client_response_free(r);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_UNSUPPORTED);
	CU_ASSERT(contains(err, "EncryptionMethod is not supported"));
	free(x);
}

static void
test_keyset_failures(void)
{
	struct build b = {0};
	struct build other_trk = {.wrap_key = ink};
	struct build bob = {.user_uri = "sip:bob@example.org"};
	char *x = signed_keyprov(&b);
	char *y, *orig, *mod;
	char from[64], to[64];

	/* a wrong TrK */
	{
		uint8_t wrong[32];

		memcpy(wrong, trk, sizeof(wrong));
		wrong[0] ^= 0x80;
		CU_ASSERT_EQUAL(check_open(x, 0, wrong, KMS_ID_RAW, USER_URI, now_ntp),
				KMS_ERR_AUTH);
		CU_ASSERT(contains(err, "UserDecryptKey: unwrap failed"));
		CU_ASSERT(contains(err, "wrong TrK"));
	}
	/* wrapped, but no TrK */
	CU_ASSERT_EQUAL(check_open(x, 0, NULL, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_INVALID_ARG);
	CU_ASSERT(contains(err, "none was given"));
	/* material wrapped under another key than ours */
	y = signed_keyprov(&other_trk);
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "unwrap failed"));
	free(y);
	/* a flipped CipherValue (the check without a signature) */
	mod = flipped(x, "<xenc:CipherValue>", 1, &orig);
	y = replace(x, orig, mod);
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "UserSigningKeySSK: unwrap failed"));
	free(y);
	free(orig);
	free(mod);
	/* a changed KeyPeriodNo or UserUri: the UID no longer matches */
	(void)snprintf(from, sizeof(from), "<KeyPeriodNo>%llu<", (unsigned long long)now_period);
	(void)snprintf(to, sizeof(to), "<KeyPeriodNo>%llu<", (unsigned long long)now_period + 1);
	y = replace(x, from, to);
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, 0), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "UserID is not the UID"));
	free(y);
	y = replace(x, "<UserUri>" USER_URI "</UserUri>\n<UserID>",
		    "<UserUri>sip:alicf@example.org</UserUri>\n<UserID>");
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, NULL, 0), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "UserID is not the UID"));
	free(y);
	/* another identity than the one asked for */
	y = signed_keyprov(&bob);
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "not the identity that was asked for"));
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, "sip:bob@example.org", now_ntp), KMS_OK);
	free(y);
	/* another KMS */
	y = replace(x, "<KmsKeySet Version=\"1.1.0\">\n<KmsUri>" KMS_URI,
		    "<KmsKeySet Version=\"1.1.0\">\n<KmsUri>kms.example.net");
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "KmsUri"));
	free(y);
	/* revoked */
	y = replace(x, "<Revoked>false</Revoked>", "<Revoked>true</Revoked>");
	CU_ASSERT_EQUAL(check_open(y, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "revoked"));
	free(y);
	/* validity outside the period */
	{
		char vf[KMS_CLIENT_DATETIME_LEN], vt[KMS_CLIENT_DATETIME_LEN];
		uint64_t s = 0, e = 0;
		char *t;

		CU_ASSERT_FATAL(kms_key_period_bounds(&s, &e, now_period, PERIOD, OFFSET) ==
				KMS_OK);
		ntp_text(vf, s);
		ntp_text(vt, e);
		(void)snprintf(from, sizeof(from), "<ValidFrom>%s", vf);
		(void)snprintf(to, sizeof(to), "<ValidFrom>%s", "1999-01-01T00:00:00Z");
		t = replace(x, from, to);
		CU_ASSERT_EQUAL(check_open(t, 0, trk, KMS_ID_RAW, USER_URI, 0), KMS_ERR_AUTH);
		CU_ASSERT(contains(err, "ValidFrom is outside"));
		free(t);
		ntp_text(vt, e + 1);
		(void)snprintf(to, sizeof(to), "<ValidTo>%s", vt);
		ntp_text(vt, e);
		(void)snprintf(from, sizeof(from), "<ValidTo>%s", vt);
		t = replace(x, from, to);
		CU_ASSERT_EQUAL(check_open(t, 0, trk, KMS_ID_RAW, USER_URI, 0), KMS_ERR_AUTH);
		CU_ASSERT(contains(err, "ValidTo is outside"));
		free(t);
	}
	/* a key set for another period than the one asked for */
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp + 2 * PERIOD),
			KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "neither the requested period"));
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp - PERIOD), KMS_OK);
	free(x);
}

/* A key that does not validate, and a sentinel SSK that never appears in any message. */
static void
test_keyset_invalid_keys(void)
{
	static const uint8_t sentinel[32] = {0x5e, 0x41, 0x71, 0x7e, 0x1a, 0x11, 0x5e, 0x41,
					     0x71, 0x7e, 0x1a, 0x11, 0x5e, 0x41, 0x71, 0x7e,
					     0x1a, 0x11, 0x5e, 0x41, 0x71, 0x7e, 0x1a, 0x11,
					     0x5e, 0x41, 0x71, 0x7e, 0x1a, 0x11, 0x5e, 0x41};
	struct build wrapped = {.ssk_override = sentinel};
	struct build plain = {.plain = true, .ssk_override = sentinel};
	char hex[65], window[17];
	char *x, *y;
	size_t i;

	hexs(hex, sizeof(hex), sentinel, sizeof(sentinel));
	x = signed_keyprov(&wrapped);
	CU_ASSERT_EQUAL(parse_verify(x, ink), KMS_OK);
	CU_ASSERT_EQUAL(check_open(x, 0, trk, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "ECCSI pair invalid"));
	for (i = 0; i + 16 <= 64; i++) {
		memcpy(window, hex + i, 16);
		window[16] = '\0';
		CU_ASSERT(!contains(err, window));
	}
	free(x);

	x = signed_keyprov(&plain);
	CU_ASSERT_EQUAL(check_open(x, 0, NULL, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "ECCSI pair invalid"));
	/* a malformed plain key: the message names the element, never its content */
	y = replace(x, hex, "5E41717E1A115E41717E1A115E41717E1A115E41717E1A115E41717E1A115E4Z");
	if (y == NULL) {
		/* the key is in upper-case hex; kms_hex_encode writes that */
		CU_FAIL("sentinel not found");
	} else {
		struct kms_client_response *r = NULL;

		CU_ASSERT_EQUAL(parse(&r, y), KMS_ERR_ENCODING);
		CU_ASSERT(contains(err, "UserSigningKeySSK"));
		for (i = 0; i + 16 <= 64; i++) {
			memcpy(window, hex + i, 16);
			window[16] = '\0';
			CU_ASSERT(!contains(err, window));
		}
		CU_ASSERT(!contains(err, "5E4Z"));
		free(y);
	}
	free(x);
}

/* Parse xml and open its first NewTransportKey (or NewIntegrityKey) under key: the code. */
static int
open_new(const char *xml, bool integrity, const uint8_t *key, const char *expected,
	 struct kms_secret **out)
{
	struct kms_client_response *r = NULL;
	int rc = parse(&r, xml);

	*out = NULL;
	if (rc == KMS_OK) {
		rc = kms_client_new_key_open(
			out, err, sizeof(err), integrity ? &r->new_ink[0] : &r->new_trk[0], key,
			expected, integrity ? "NewIntegrityKey" : "NewTransportKey");
		if ((rc == KMS_OK) != (*out != NULL)) {
			rc = KMS_ERR_INTERNAL;
		}
	}
	kms_client_response_free(r);
	return rc;
}

/* A keyprov response with the rotation o built (owned). */
static char *
rotation_keyprov(const struct rot *o)
{
	char *rot = rotation_keys(o);
	struct build b = {.rotation = rot};
	char *x = build_keyprov(&b);

	free(rot);
	return x;
}

/* The new keys unwrap under the TrK, wrapped by OpenSSL's EVP_aes_256_wrap_pad in the test. */
static void
test_new_key_open(void)
{
	struct rot plain_rot = {0}, hex = {.hex = true},
		   legacy = {.alg = "http://www.w3.org/2001/04/xmlenc#kw-aes256"},
		   other_alg = {.alg = "http://www.w3.org/2001/04/xmlenc#kw-aes128"},
		   short_key = {.trk_len = 31}, long_key = {.trk_len = 33},
		   no_name = {.no_key_info = true}, other_trk = {.wrap_key = ink};
	struct kms_secret *k = NULL;
	char *x = rotation_keyprov(&plain_rot);
	char hex_key[65], window[17];
	uint8_t wrong[32];
	size_t i;

	CU_ASSERT_EQUAL_FATAL(open_new(x, false, trk, TRK_ID, &k), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(k->len, KMS_CLIENT_NEW_KEY_LEN);
	CU_ASSERT_EQUAL(memcmp(k->data, new_trk, 32), 0);
	kms_secret_free(k);
	CU_ASSERT_EQUAL_FATAL(open_new(x, true, trk, TRK_ID, &k), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(k->data, new_ink, 32), 0);
	kms_secret_free(k);
	/* without an id to compare */
	CU_ASSERT_EQUAL(open_new(x, true, trk, NULL, &k), KMS_OK);
	kms_secret_free(k);
	/* the KeyName must be the current TrK's id */
	CU_ASSERT_EQUAL(open_new(x, false, trk, "tk.2.alice@example.org", &k), KMS_ERR_AUTH);
	CU_ASSERT(
		contains(err, "NewTransportKey: its ds:KeyName is not the id of the current TrK"));
	/* a wrong TrK; the message holds no part of the key */
	memcpy(wrong, trk, sizeof(wrong));
	wrong[5] ^= 0x10;
	CU_ASSERT_EQUAL(open_new(x, true, wrong, TRK_ID, &k), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "NewIntegrityKey: unwrap failed"));
	hexs(hex_key, sizeof(hex_key), new_ink, sizeof(new_ink));
	for (i = 0; i + 16 <= 64; i++) {
		memcpy(window, hex_key + i, 16);
		window[16] = '\0';
		CU_ASSERT(!contains(err, window));
	}
	/* a flipped CipherValue */
	{
		char *orig, *mod, *y;

		mod = flipped(x, "<xenc:CipherValue>", 3, &orig); /* the 4th: NewTransportKey */
		y = replace(x, orig, mod);
		CU_ASSERT_PTR_NOT_NULL_FATAL(y);
		CU_ASSERT_EQUAL(open_new(y, false, trk, TRK_ID, &k), KMS_ERR_AUTH);
		CU_ASSERT(contains(err, "NewTransportKey: unwrap failed"));
		CU_ASSERT_EQUAL(open_new(y, true, trk, TRK_ID, &k), KMS_OK);
		kms_secret_free(k);
		free(y);
		free(orig);
		free(mod);
	}
	free(x);

	/* hex CipherValue, and the older label of the same wrap */
	x = rotation_keyprov(&hex);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_OK);
	CU_ASSERT(k != NULL && memcmp(k->data, new_trk, 32) == 0);
	kms_secret_free(k);
	free(x);
	x = rotation_keyprov(&legacy);
	CU_ASSERT_EQUAL(open_new(x, true, trk, TRK_ID, &k), KMS_OK);
	kms_secret_free(k);
	free(x);
	/* another EncryptionMethod */
	x = rotation_keyprov(&other_alg);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_ERR_UNSUPPORTED);
	CU_ASSERT(contains(err, "EncryptionMethod is not supported"));
	free(x);
	/* a new key of 31 or 33 octets */
	x = rotation_keyprov(&short_key);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_ERR_RANGE);
	CU_ASSERT(contains(err, "unwrapped to 31 octets, expected 32"));
	CU_ASSERT_EQUAL(open_new(x, true, trk, TRK_ID, &k), KMS_OK);
	kms_secret_free(k);
	free(x);
	x = rotation_keyprov(&long_key);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_ERR_RANGE);
	CU_ASSERT(contains(err, "CipherValue is 48 octets"));
	free(x);
	/* no KeyName: refused only when one is expected */
	x = rotation_keyprov(&no_name);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "missing"));
	CU_ASSERT_EQUAL(open_new(x, false, trk, NULL, &k), KMS_OK);
	kms_secret_free(k);
	free(x);
	/* wrapped under another key than the TrK */
	x = rotation_keyprov(&other_trk);
	CU_ASSERT_EQUAL(open_new(x, false, trk, TRK_ID, &k), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(open_new(x, false, ink, TRK_ID, &k), KMS_OK);
	kms_secret_free(k);
	free(x);

	/* arguments; a plain key (only a hand-made struct can hold one) */
	{
		struct kms_client_key pk = {.wrap = KMS_CLIENT_KEY_PLAIN};

		CU_ASSERT_EQUAL(kms_client_new_key_open(&k, err, sizeof(err), &pk, trk, NULL, "k"),
				KMS_ERR_UNSUPPORTED);
		CU_ASSERT_PTR_NULL(k);
		CU_ASSERT_EQUAL(
			kms_client_new_key_open(NULL, err, sizeof(err), &pk, trk, NULL, "k"),
			KMS_ERR_INVALID_ARG);
		CU_ASSERT_EQUAL(kms_client_new_key_open(&k, err, sizeof(err), NULL, trk, NULL, "k"),
				KMS_ERR_INVALID_ARG);
		CU_ASSERT_EQUAL(kms_client_new_key_open(&k, err, sizeof(err), &pk, NULL, NULL, "k"),
				KMS_ERR_INVALID_ARG);
		CU_ASSERT_EQUAL(kms_client_new_key_open(&k, NULL, 0, &pk, trk, NULL, NULL),
				KMS_ERR_INVALID_ARG);
		CU_ASSERT_PTR_NULL(k);
	}
}

/* A plain RSK changed into something that is not a point of the curve. */
static void
test_keyset_rsk_not_point(void)
{
	static const char tag[] = "<UserDecryptKey xsi:type=\"KeyContentType\">04";
	struct build plain = {.plain = true};
	char *x = signed_keyprov(&plain);
	char *p = strstr(x, tag);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p += strlen(tag) + 3;
	*p = *p == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(check_open(x, 0, NULL, KMS_ID_RAW, USER_URI, now_ntp), KMS_ERR_POINT);
	CU_ASSERT(contains(err, "SAKKE RSK is not a point"));
	free(x);
}

static void
test_cert_check(void)
{
	struct kms_client_response *r = NULL;
	const struct kms_client_cert *c = test_cert(&r);
	struct kms_client_cert bad;
	char one[] = "1";

	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), c), KMS_OK);
	bad = *c;
	bad.revoked = true;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_AUTH);
	CU_ASSERT(contains(err, "revoked"));
	bad = *c;
	bad.user_id_format = one;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_UNSUPPORTED);
	CU_ASSERT(contains(err, "UserIdFormat"));
	bad = *c;
	bad.parameter_set = 2;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_UNSUPPORTED);
	bad = *c;
	bad.period = 0;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_RANGE);
	bad = *c;
	bad.z_pub[100] ^= 1;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_POINT);
	CU_ASSERT(contains(err, "PubEncKey"));
	bad = *c;
	bad.kpak[40] ^= 1;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_POINT);
	CU_ASSERT(contains(err, "PubAuthKey"));
	bad = *c;
	bad.kpak[0] = 0x02;
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), &bad), KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_client_cert_check(err, sizeof(err), NULL), KMS_ERR_INVALID_ARG);
	kms_client_response_free(r);
}

/* ------------------------------------------------------------------------------------------ */

static CU_TestInfo http_tests[] = {
	{"golden responses", test_http_golden},
	{"truncation at every offset", test_http_truncation},
	{"trailing bytes", test_http_trailing},
	{"malformed heads, lengths and chunks", test_http_malformed},
	{"head, body and framing limits", test_http_limits},
	{"bit flips", test_http_bitflips},
	{"XML media types", test_http_media},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo misc_tests[] = {
	{"xsd:dateTime parse and format", test_datetime},
	{"dateTime round trips against gmtime_r", test_datetime_roundtrip},
	{"URLs", test_url},
	{"request targets", test_request_target},
	{"KmsRequest body", test_request_build},
	{"SignedKmsRequest: the shape, and xmlsec1 verifies it", test_request_sign},
	{"SignedKmsRequest: what is refused", test_request_sign_refuses},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo reader_tests[] = {
	{"KmsKeyProv", test_reader_keyprov},
	{"KmsInit, KmsError, KmsCertCache", test_reader_init_error_cache},
	{"the built responses follow the schema", test_reader_schema},
	{"malformed documents", test_reader_refuses},
	{"UserID encodings", test_reader_user_id},
	{"limits", test_reader_limits},
	{"key rotation: the new keys are kept", test_reader_new_keys},
	{"key rotation: malformed new keys", test_reader_new_keys_refused},
	{"truncation at every offset", test_reader_truncation},
	{"bit flips are refused or fail the signature", test_reader_bitflips},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo verify_tests[] = {
	{"valid signatures", test_verify_valid},
	{"tampered content, wrong keys, no signature", test_verify_tampered},
	{"other algorithms and structures", test_verify_structure},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo keyset_tests[] = {
	{"valid key sets", test_keyset_valid},
	{"hex, legacy label, base64 UserID, plain keys, id formats", test_keyset_variants},
	{"wrong TrK, changed fields, other identity/KMS/period", test_keyset_failures},
	{"invalid keys; no key material in messages", test_keyset_invalid_keys},
	{"an RSK off the curve", test_keyset_rsk_not_point},
	{"key rotation: the new keys unwrap and are checked", test_new_key_open},
	{"KMS certificate checks", test_cert_check},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"http", NULL, NULL, NULL, NULL, http_tests},
	{"misc", NULL, NULL, NULL, NULL, misc_tests},
	{"reader", suite_init, suite_cleanup, NULL, NULL, reader_tests},
	{"verify", suite_init, suite_cleanup, NULL, NULL, verify_tests},
	{"keyset", suite_init, suite_cleanup, NULL, NULL, keyset_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	int rc = kms_test_main(suites);

	xmlCleanupParser();
	return rc;
}
