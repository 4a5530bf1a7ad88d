/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_KMSCLIENT_H
#define KMS_TOOLS_KMSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/secmem.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"

/*
 * libkms_kmsclient: the client side of the KMS interface (TS 33.180 Annex D, as
 * ../shared/spec/kms-interface.md describes it), written independently of the server's code so
 * that each checks the other. Everything here works on bytes already received, without a
 * network, so that it can be tested and fuzzed; tools/kms-client.c adds TLS and the command line.
 *
 *   1. kms_http_response_parse: one HTTP/1.x response, bounded (outside input).
 *   2. kms_client_response_parse: a KmsResponse document (libxml2, no DTD, no network, bounded)
 *      into typed values.
 *   3. kms_client_verify: its enveloped XML signature, HMAC-SHA256 under the InK (or TrK).
 *   4. kms_client_cert_check, kms_client_keyset_check, kms_client_keyset_open: the KMS
 *      certificate, the public parts of a key set (UID, period), and the keys themselves
 *      (RFC 5649 unwrap under the TrK, RFC 6507 and RFC 6508 client checks).
 *   5. kms_client_new_key_open: a new TrK or InK of a key rotation (RFC 5649 under the TrK).
 *
 * Requests: kms_client_request_build makes the KmsRequest body, kms_client_request_sign the
 * SignedKmsRequest around it (HMAC-SHA256 under the InK: how a client proves a new InK).
 *
 * Messages go to a caller's buffer (err, err_len: at least KMS_CLIENT_ERR_LEN is never cut; NULL
 * with err_len 0 is allowed) and never contain key material. Strings copied out of a response
 * may hold any Unicode character the document had (C1 controls included): a caller that prints
 * them escapes them first.
 */

#define KMS_CLIENT_MAX_HEAD     (16u * 1024u)   /* status lines and header fields, all together */
#define KMS_CLIENT_MAX_BODY     (1024u * 1024u) /* the decoded body */
#define KMS_CLIENT_MAX_FRAMING  (64u * 1024u)   /* chunk-size lines, chunk CRLFs and trailers */
#define KMS_CLIENT_MAX_RESPONSE (KMS_CLIENT_MAX_HEAD + KMS_CLIENT_MAX_BODY + KMS_CLIENT_MAX_FRAMING)
#define KMS_CLIENT_MAX_STR      4096u /* an XML text value (ErrorMsg, Issuer, ...) */
#define KMS_CLIENT_MAX_KEYSETS  16u   /* KmsKeySet elements in one KmsKeyProv */
#define KMS_CLIENT_MAX_CERTS    64u   /* KmsCertificate elements in one KmsCertCache */
#define KMS_CLIENT_MAX_WRAPPED  1024u /* octets of one CipherValue */
#define KMS_CLIENT_MAX_NEW_KEYS 4u    /* NewTransportKey (or NewIntegrityKey) in a message */
#define KMS_CLIENT_MAX_KEY_NAME 255u  /* a CarriedKeyName kept, a KeyName sent: visible ASCII */
#define KMS_CLIENT_MAX_REQUEST  (64u * 1024u) /* a KmsRequest body (a KMS refuses more) */
#define KMS_CLIENT_NEW_KEY_LEN  32u           /* a new TrK (AES-256) or InK (HMAC-SHA256 key) */
#define KMS_CLIENT_ERR_LEN      512u
#define KMS_CLIENT_DATETIME_LEN 21u /* "YYYY-MM-DDThh:mm:ssZ" and its NUL */

#define KMS_CLIENT_NS      "urn:3gpp:ns:mcsecKMSInterface:1.0"
#define KMS_CLIENT_NS_DS   "http://www.w3.org/2000/09/xmldsig#"
#define KMS_CLIENT_NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define KMS_CLIENT_NS_XSI  "http://www.w3.org/2001/XMLSchema-instance"

/* ------------------------------------------------------------------------------------------ */
/* HTTP */

struct kms_http_response {
	int status;             /* 200..599 (interim 1xx responses are skipped) */
	char reason[64];        /* the reason phrase, cut to 63 bytes; may be "" */
	char content_type[128]; /* the Content-Type value, or "" */
	char retry_after[64];   /* the Retry-After value, or "" */
	uint8_t *body; /* owned; body_len bytes and a NUL after them; never NULL on success */
	size_t body_len;
};

/*
 * kms_http_response_parse - parse in[0..in_len) as exactly one HTTP/1.0 or HTTP/1.1 response to
 * a POST, after any number (up to 8) of interim 1xx responses. Strict: CRLF line ends; no
 * obs-fold; header names are tokens with no space before ':'; no control characters in values;
 * at most KMS_CLIENT_MAX_HEAD bytes of heads; a body framed by one Content-Length (digits only,
 * at most KMS_CLIENT_MAX_BODY), by Transfer-Encoding "chunked" (HTTP/1.1 only; chunk extensions
 * and trailers are read and ignored; at most KMS_CLIENT_MAX_FRAMING bytes of framing), or, with
 * neither, by the end of the connection (at_eof). 204 and 304 have no body.
 *
 * at_eof says whether the connection has ended after in_len bytes. Returns:
 *   KMS_OK            a complete response that ends exactly at in_len; *out is filled (owned:
 *                     kms_http_response_cleanup() it).
 *   KMS_ERR_TRUNCATED the response is not complete yet: read more (or, at_eof, it was cut).
 *   KMS_ERR_TRAILING  bytes follow a complete response.
 *   KMS_ERR_TOO_LARGE a head, body or framing limit is exceeded (also a Content-Length or chunk
 *                     size too large to represent), as soon as that can be known.
 *   KMS_ERR_PARSE     malformed (including two Content-Length or Transfer-Encoding fields, both
 *                     of them, a 101 or an unexpected status line).
 *   KMS_ERR_UNSUPPORTED a transfer coding other than chunked.
 *   KMS_ERR_NOMEM, KMS_ERR_INVALID_ARG (out NULL, or in NULL with in_len > 0).
 * *out is zeroed on entry and stays zeroed on failure. in is borrowed.
 */
int kms_http_response_parse(struct kms_http_response *out, const uint8_t *in, size_t in_len,
			    bool at_eof) KMS_WUR;

/* kms_http_response_cleanup - wipe and free the body, zero r. NULL is a no-op. */
void kms_http_response_cleanup(struct kms_http_response *r);

/*
 * kms_http_media_is_xml - 1 if the Content-Type value ct names XML (application/xml, text/xml
 * or a type ending in "+xml", parameters allowed, case-insensitive), else 0.
 */
int kms_http_media_is_xml(const char *ct);

/* ------------------------------------------------------------------------------------------ */
/* Times, URLs, the request body */

/*
 * kms_client_datetime_parse - an xsd:dateTime "YYYY-MM-DDThh:mm:ss[.fraction][Z|(+|-)hh:mm]"
 * (year 1900..9999, a four-digit year; no time zone means UTC; the fraction is dropped) of
 * exactly len bytes, to NTP seconds (seconds since 1900-01-01T00:00:00Z). KMS_ERR_PARSE for
 * anything else, KMS_ERR_RANGE for a time before 1900 (after its zone offset); *out is 0 then.
 */
int kms_client_datetime_parse(uint64_t *out, const char *s, size_t len) KMS_WUR;

/*
 * kms_client_datetime_format - NTP seconds as "YYYY-MM-DDThh:mm:ssZ" into out (out_cap >=
 * KMS_CLIENT_DATETIME_LEN). KMS_ERR_TOO_LARGE if out_cap is smaller, KMS_ERR_RANGE after year
 * 9999; out is "" on failure (when out_cap > 0).
 */
int kms_client_datetime_format(char *out, size_t out_cap, uint64_t ntp_seconds) KMS_WUR;

struct kms_client_url {
	char host[256];      /* the host name or IP address, without IPv6 brackets */
	char port[6];        /* decimal, "443" by default */
	char authority[272]; /* what a Host header carries: host, [v6], and ":port" unless 443 */
	char path[1024];     /* the base path: "" or "/..." without a trailing '/' */
	bool host_is_ip; /* an IPv4 or IPv6 literal (then it is checked against iPAddress SANs) */
};

/*
 * kms_client_url_parse - parse "https://HOST[:PORT][/PATH]" (an IPv6 HOST in brackets; no user
 * information, query or fragment; the path of printable ASCII without spaces). KMS_OK, or
 * KMS_ERR_PARSE / KMS_ERR_UNSUPPORTED (another scheme) / KMS_ERR_TOO_LARGE, and *out zeroed.
 */
int kms_client_url_parse(struct kms_client_url *out, const char *url) KMS_WUR;

/*
 * kms_client_request_target - the path of a resource: base->path "/" resource, then "/" and
 * the user URI percent-encoded (every octet outside unreserved characters, ':' and '@') when
 * uri is not NULL, then "/" ntp_hex when that is not NULL (it must be 16 hex digits). resource
 * is "init", "keyprov" or "certcache"; for certcache, ntp_hex carries the cache number (decimal
 * digits) instead. URIs are printable ASCII. KMS_OK, KMS_ERR_INVALID_ARG, KMS_ERR_TOO_LARGE
 * (out is "" on failure).
 */
int kms_client_request_target(char *out, size_t out_cap, const struct kms_client_url *base,
			      const char *resource, const char *uri, const char *ntp_hex) KMS_WUR;

/*
 * kms_client_request_build - a KmsRequest body (Version 1.1.0) with UserUri, KmsUri, Time (the
 * NTP seconds now) and ClientReqUrl, escaped as XML. *out is owned (free()); *out_len its length.
 * URIs must be printable ASCII of 1..KMS_UID_MAX_URI_LEN octets (KMS_ERR_INVALID_ARG).
 */
int kms_client_request_build(char **out, size_t *out_len, const char *user_uri, const char *kms_uri,
			     uint64_t now_ntp_seconds, const char *client_req_url) KMS_WUR;

/*
 * kms_client_request_sign - the SignedKmsRequest of body[0..body_len), the unsigned KmsRequest
 * that kms_client_request_build() makes (at most KMS_CLIENT_MAX_REQUEST octets):
 *
 *   <SignedKmsRequest xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0" xmlns:ds="...xmldsig#">
 *     <KmsRequest Id="kmsreq" Version="1.1.0">the same children</KmsRequest>
 *     <ds:Signature><ds:SignedInfo>C14N 1.0, hmac-sha256, one Reference URI="#kmsreq" (no
 *       transforms) with DigestMethod xmlenc#sha256</ds:SignedInfo><ds:SignatureValue/>
 *       <ds:KeyInfo><ds:KeyName>ink_id</ds:KeyName></ds:KeyInfo></ds:Signature>
 *   </SignedKmsRequest>
 *
 * (one line, after the XML declaration). DigestValue is base64 of SHA-256 over the inclusive
 * C14N 1.0 without comments of the KmsRequest element with the namespaces in scope (its start
 * tag carries xmlns and xmlns:ds); SignatureValue is base64 of HMAC-SHA256 under the 32-octet ink
 * over the C14N of ds:SignedInfo, likewise. Both are made by libxml2's canonicaliser on the tree,
 * and checked again on the serialized bytes, parsed anew.
 *
 * body is parsed like a response (no DTD, no network); its root must be KmsRequest of
 * KMS_CLIENT_NS without an Id, holding only elements of that namespace, text and comments, with
 * unqualified attributes. ink_id is 1..KMS_CLIENT_MAX_KEY_NAME visible ASCII octets. Returns
 * KMS_OK with *out owned (free(); NUL-terminated) and *out_len its length; KMS_ERR_INVALID_ARG (a
 * NULL argument, ink_id, or a body of another shape), KMS_ERR_PARSE (not well-formed, or a
 * DOCTYPE), KMS_ERR_TOO_LARGE, KMS_ERR_NOMEM, KMS_ERR_CRYPTO, KMS_ERR_INTERNAL (the serialized
 * document does not canonicalise to what was signed). *out is NULL and *out_len 0 on failure.
 * body, ink and ink_id are borrowed.
 */
int kms_client_request_sign(char **out, size_t *out_len, const char *body, size_t body_len,
			    const uint8_t ink[32], const char *ink_id) KMS_WUR;

/* ------------------------------------------------------------------------------------------ */
/* The KmsResponse */

enum kms_client_msg {
	KMS_CLIENT_MSG_NONE = 0, /* no KmsMessage (an error response) */
	KMS_CLIENT_MSG_INIT,
	KMS_CLIENT_MSG_KEYPROV,
	KMS_CLIENT_MSG_CERTCACHE,
};

enum kms_client_wrap {
	KMS_CLIENT_KEY_PLAIN = 0,     /* KeyContentType: the key in hex, in the clear */
	KMS_CLIENT_KEY_KW_AES256_PAD, /* http://www.w3.org/2009/xmlenc11#kw-aes-256-pad */
	KMS_CLIENT_KEY_KW_AES256, /* the older label http://www.w3.org/2001/04/xmlenc#kw-aes256 */
	KMS_CLIENT_KEY_UNKNOWN,   /* another EncryptionMethod: refused by kms_client_keyset_open */
};

struct kms_client_key {
	enum kms_client_wrap wrap;
	char *key_name;     /* owned: ds:KeyInfo/ds:KeyName (the TrK id), or NULL */
	uint8_t *wrapped;   /* owned: the CipherValue octets (ciphertext), or NULL when plain */
	size_t wrapped_len; /* 1..KMS_CLIENT_MAX_WRAPPED */
	bool cipher_hex;    /* the CipherValue was hex (else base64) */
	struct kms_secret *plain; /* owned: the key of a KeyContentType element, or NULL */
	/* owned: xenc:CarriedKeyName, the id of the key carried (1..255 visible ASCII), or NULL;
	 * only NewTransportKey and NewIntegrityKey have one */
	char *carried_name;
};

struct kms_client_cert {
	char *cert_uri;       /* owned; NULL if absent */
	char *kms_uri;        /* owned */
	char *issuer;         /* owned; NULL if absent */
	char *role;           /* owned: the Role attribute ("Root", "External"), or NULL */
	char *user_id_format; /* owned: UserIdFormat as written ("2" is the one supported) */
	bool has_valid_from, has_valid_to, has_parameter_set;
	uint64_t valid_from, valid_to; /* NTP seconds */
	bool revoked;
	bool signed_cert; /* it came inside a SignedKmsCertificate (whose signature is not checked)
			   */
	uint64_t period, offset, parameter_set;
	size_t num_domains;                 /* KmsDomainList/KmsDomain elements */
	uint8_t z_pub[KMS_SAKKE_POINT_LEN]; /* PubEncKey, Z_T */
	uint8_t kpak[KMS_ECCSI_POINT_LEN];  /* PubAuthKey, KPAK */
};

struct kms_client_keyset {
	char *kms_uri, *user_uri; /* owned */
	char *cert_uri, *issuer;  /* owned; NULL if absent */
	uint8_t user_id[KMS_UID_LEN];
	bool user_id_base64; /* UserID was base64 (else hex) */
	bool has_valid_from, has_valid_to;
	uint64_t valid_from, valid_to; /* NTP seconds */
	uint64_t key_period_no;
	bool revoked;
	struct kms_client_key rsk, ssk,
		pvt; /* UserDecryptKey, UserSigningKeySSK, UserPubTokenPVT */
};

struct kms_client_response {
	char *version;            /* owned: the Version attribute, or NULL */
	char *user_uri, *kms_uri; /* owned */
	char *kms_id;             /* owned; NULL if absent */
	char *client_req_url;     /* owned */
	uint64_t time;            /* Time, NTP seconds */
	enum kms_client_msg msg;
	struct kms_client_cert *certs; /* owned array: KmsInit's certificate, or KmsCertCache's */
	size_t num_certs;
	bool has_cache_num;
	uint64_t cache_num;                /* KmsCertCache/@CacheNum */
	struct kms_client_keyset *keysets; /* owned array */
	size_t num_keysets;
	/* key rotation: NewTransportKey and NewIntegrityKey of a KmsInit or KmsKeyProv, in order;
	 * always xenc:EncryptedKey (wrap is never KMS_CLIENT_KEY_PLAIN) */
	struct kms_client_key new_trk[KMS_CLIENT_MAX_NEW_KEYS];
	struct kms_client_key new_ink[KMS_CLIENT_MAX_NEW_KEYS];
	size_t num_new_trk, num_new_ink;
	bool has_error;
	int64_t error_code; /* KmsError/ErrorCode */
	char *error_msg;    /* owned; KmsError/ErrorMsg */
	bool has_signature;
	char *sig_key_name; /* owned: the Signature's ds:KeyInfo/ds:KeyName (the InK id), or NULL */
	/* private */
	struct _xmlDoc *doc_;
	struct _xmlNode *sig_;
};

/*
 * kms_client_response_parse - read the KmsResponse document xml[0..len) (len <=
 * KMS_CLIENT_MAX_BODY). libxml2 parses it without network access, with no DTD (a DOCTYPE is
 * refused as soon as it is seen, so no entity is ever declared), within its default depth and
 * size limits; the reader then walks the schema's sequences in order (element order matters),
 * ignores comments, processing instructions and elements of other namespaces where the schema
 * allows extensions, and refuses anything else. Values are checked as they are read: URIs at
 * most KMS_UID_MAX_URI_LEN octets, other text at most KMS_CLIENT_MAX_STR, integers, times,
 * hex and base64 and their lengths (PubEncKey 257 octets, PubAuthKey 65, UserID 32 in hex or
 * base64, plain keys 257/32/65). ds:Signature, if present, must be the last child of the root;
 * its content is checked by kms_client_verify().
 *
 * Key rotation: after the content of KmsInit or KmsKeyProv, up to KMS_CLIENT_MAX_NEW_KEYS
 * NewTransportKey then as many NewIntegrityKey (more: KMS_ERR_TOO_LARGE) are kept in new_trk and
 * new_ink. Each is EncKeyContentType (xsi:type absent or EncKeyContentType; KeyContentType is
 * refused with KMS_ERR_UNSUPPORTED): one xenc:EncryptedKey read like a key set's key, which may
 * end with an xenc:CarriedKeyName of 1..255 visible ASCII octets (carried_name; absent: NULL).
 * A key set's EncryptedKey may not carry one.
 *
 * Returns KMS_OK with *out a new response (owned: kms_client_response_free() it); or
 * KMS_ERR_PARSE (malformed: err says where), KMS_ERR_TOO_LARGE, KMS_ERR_RANGE, KMS_ERR_ENCODING,
 * KMS_ERR_UNSUPPORTED, KMS_ERR_NOMEM, KMS_ERR_INVALID_ARG; *out is NULL then. xml is borrowed.
 */
int kms_client_response_parse(struct kms_client_response **out, char *err, size_t err_len,
			      const uint8_t *xml, size_t len) KMS_WUR;

/* kms_client_response_free - wipe the plain keys and free r. NULL is a no-op. */
void kms_client_response_free(struct kms_client_response *r);

/*
 * kms_client_verify - check the enveloped signature of r under the 32-octet key (the client's
 * InK, or its TrK when it has none), as XML-DSig core validation: SignedInfo has exactly
 * CanonicalizationMethod REC-xml-c14n-20010315, SignatureMethod xmldsig-more#hmac-sha256 (an
 * HMACOutputLength other than 256 is refused) and one Reference with URI "#xmldoc", which must
 * name the root (its Id; no other element may carry Id="xmldoc"), the enveloped-signature
 * transform (optionally followed by C14N 1.0) and DigestMethod xmlenc#sha256. The digest is
 * SHA-256 over the inclusive C14N 1.0 (no comments) of the root without the Signature element;
 * the HMAC is over the C14N of SignedInfo as it stands in the document. Both are compared with
 * CRYPTO_memcmp.
 *
 * Returns KMS_OK; KMS_ERR_AUTH when the response is not signed, the digest differs (the signed
 * content was changed) or the SignatureValue differs (another key, or SignedInfo changed);
 * KMS_ERR_UNSUPPORTED for another algorithm; KMS_ERR_PARSE for a malformed Signature or a
 * reference to anything but the root; KMS_ERR_CRYPTO, KMS_ERR_NOMEM, KMS_ERR_INVALID_ARG.
 */
int kms_client_verify(char *err, size_t err_len, const struct kms_client_response *r,
		      const uint8_t key[32]) KMS_WUR;

/*
 * kms_client_cert_check - the KMS certificate is usable: not revoked, UserIdFormat "2",
 * ParameterSet 1 (if given), UserKeyPeriod > 0, PubEncKey a point of the SAKKE curve and
 * PubAuthKey a point of P-256. KMS_OK, KMS_ERR_AUTH (revoked), KMS_ERR_UNSUPPORTED,
 * KMS_ERR_POINT, KMS_ERR_RANGE, KMS_ERR_INVALID_ARG.
 */
int kms_client_cert_check(char *err, size_t err_len, const struct kms_client_cert *cert) KMS_WUR;

/*
 * kms_client_keyset_check - the public parts of key set ks against the KMS certificate cert:
 * its KmsUri is the certificate's; its UserUri is expected_uri (unless that is NULL); it is not
 * revoked; UserID is the UID recomputed (TS 33.180 F.2.1) from UserUri, KmsUri, the
 * certificate's UserKeyPeriod and UserKeyOffset and KeyPeriodNo; ValidFrom and ValidTo (when
 * present) lie within the bounds of period KeyPeriodNo, ValidFrom before ValidTo; and, when
 * at_ntp_seconds is not 0, KeyPeriodNo is the period containing that time or the next one.
 * KMS_OK, KMS_ERR_AUTH (a check failed: err says which), KMS_ERR_RANGE, KMS_ERR_INVALID_ARG.
 */
int kms_client_keyset_check(char *err, size_t err_len, const struct kms_client_keyset *ks,
			    const struct kms_client_cert *cert, const char *expected_uri,
			    uint64_t at_ntp_seconds) KMS_WUR;

/* The three keys of a key set, in locked memory (kms_secmem_alloc). */
struct kms_client_keys {
	uint8_t rsk[KMS_SAKKE_POINT_LEN];  /* RSK: secret */
	uint8_t ssk[KMS_ECCSI_SCALAR_LEN]; /* SSK: secret */
	uint8_t pvt[KMS_ECCSI_POINT_LEN];  /* PVT: public */
};

/*
 * kms_client_keyset_open - unwrap the keys of ks (RFC 5649 AES key wrap with padding under the
 * 32-octet trk, which may be NULL when every key is plain), check their lengths (257, 32, 65),
 * and validate them as their client must: the ECCSI pair against KPAK (RFC 6507 5.1.2) and the
 * RSK against Z_T (RFC 6508 6.1.2), with the identifier fmt makes of the UID recomputed as in
 * kms_client_keyset_check (which should pass first). On KMS_OK *out holds the keys (owned:
 * kms_client_keys_free() it). KMS_ERR_AUTH (an unwrap failed: wrong TrK or changed ciphertext;
 * or a key failed its check), KMS_ERR_RANGE (a length), KMS_ERR_POINT, KMS_ERR_SCALAR,
 * KMS_ERR_UNSUPPORTED (another EncryptionMethod), KMS_ERR_INVALID_ARG (a wrapped key and no
 * trk), KMS_ERR_NOMEM, KMS_ERR_CRYPTO; *out is NULL then and nothing unwrapped remains.
 */
int kms_client_keyset_open(struct kms_client_keys **out, char *err, size_t err_len,
			   const struct kms_client_keyset *ks, const struct kms_client_cert *cert,
			   const uint8_t *trk, enum kms_id_format fmt) KMS_WUR;

/* kms_client_keys_free - wipe and free. NULL is a no-op. */
void kms_client_keys_free(struct kms_client_keys *keys);

/*
 * kms_client_new_key_open - unwrap a NewTransportKey or NewIntegrityKey k of a response (RFC 5649
 * under the client's current 32-octet trk, as kms_client_keyset_open unwraps key set keys) into
 * *out, the new 32-octet TrK or InK (KMS_CLIENT_NEW_KEY_LEN) in locked memory (owned:
 * kms_secret_free() it). When expected_key_name is not NULL, k's ds:KeyName (the id of the TrK
 * that wrapped it) must be there and equal it: the caller passes the id of its current TrK. what
 * names the element in messages ("NewTransportKey"). The carried name is not checked here.
 *
 * KMS_OK; KMS_ERR_AUTH (the KeyName is missing or another, or the unwrap failed: another TrK or a
 * changed CipherValue), KMS_ERR_RANGE (the CipherValue is not 40 octets, or it unwraps to another
 * length), KMS_ERR_UNSUPPORTED (a plain key, or another EncryptionMethod), KMS_ERR_INVALID_ARG,
 * KMS_ERR_NOMEM, KMS_ERR_CRYPTO. *out is NULL on failure and nothing unwrapped remains.
 */
int kms_client_new_key_open(struct kms_secret **out, char *err, size_t err_len,
			    const struct kms_client_key *k, const uint8_t trk[32],
			    const char *expected_key_name, const char *what) KMS_WUR;

#endif /* KMS_TOOLS_KMSCLIENT_H */
