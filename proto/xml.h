/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_XML_H
#define KMS_PROTO_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The TS 33.180 Annex D XML of kmsd (docs/xml.md): rendering a KmsResponse, the enveloped
 * HMAC-SHA256 signature of a response (with proto/signedinfo.h), and parsing the optional
 * KmsRequest body of a request. libxml2 does the XML; its types stay out of this header.
 *
 * kms_xml_init() is called once, from main, before any thread starts. After that every function
 * here may be called from any thread; a struct kms_xml_doc is used by one thread at a time.
 */

/* Bounds (bytes, or counts). */
#define KMS_XML_MAX_URI      2048 /* URIs: UserUri, KmsUri, ClientReqUrl, CertUri, ... */
#define KMS_XML_MAX_ID       255  /* ids: KmsId, ClientId, DeviceId, key names */
#define KMS_XML_MAX_TEXT     1024 /* free text: Issuer, ErrorMsg */
#define KMS_XML_MAX_WRAPPED  512  /* a wrapped key (CipherValue), 1..512 bytes */
#define KMS_XML_MAX_KEY_SETS 16   /* KmsKeySet elements of one KmsKeyProv */
#define KMS_XML_MAX_CERTS    64   /* KmsCertificate elements of one KmsCertCache */
#define KMS_XML_MAX_DOMAINS  64   /* KmsDomain elements of one KmsDomainList */
#define KMS_XML_MAX_NEW_KEYS 4    /* NewTransportKey, and NewIntegrityKey, elements */
#define KMS_XML_MAX_BODY     ((size_t)64 * 1024) /* a KmsRequest body */
#define KMS_XML_MAX_DEPTH    16                  /* element nesting of a request (the root is 1) */
#define KMS_XML_MAX_ELEMENTS 256                 /* elements of a request */
#define KMS_XML_ERR_LEN      128                 /* a parse error message, with its NUL */

#define KMS_XML_MAX_SIGNED_INFO 2048 /* canonical ds:SignedInfo of a signed request, bytes */

#define KMS_XML_UID_LEN      32               /* UserID: the TS 33.180 UID */
#define KMS_XML_Z_T_LEN      257              /* PubEncKey: SAKKE Z_T */
#define KMS_XML_KPAK_LEN     65               /* PubAuthKey: ECCSI KPAK */
#define KMS_XML_HMAC_LEN     32               /* HMAC-SHA256, SHA-256 */
#define KMS_XML_DATETIME_LEN 20               /* "2026-11-28T19:50:27Z" */
#define KMS_XML_DATETIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z in Unix seconds */
#define KMS_XML_DATETIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */

/* The EncryptionMethod Algorithm of wrapped keys (both are RFC 5649 AES-256 key wrap with padding).
 */
#define KMS_XML_ALG_KW_AES256_PAD "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad"
#define KMS_XML_ALG_KW_AES256     "http://www.w3.org/2001/04/xmlenc#kw-aes256" /* compat label */

/*
 * kms_xml_init - initialise libxml2 (xmlInitParser) and make it silent: its generic and
 * structured error handlers, for this thread and as the defaults of threads created later,
 * discard everything (errors are reported through return codes only). Call once from main
 * before any thread starts; later calls are no-ops. Returns KMS_OK, or KMS_ERR_UNSUPPORTED
 * when the libxml2 library is older than the headers it was built with or lacks C14N.
 */
int kms_xml_init(void) KMS_WUR;

/* ------------------------------------------------------------------------------------------ */
/* Rendering a KmsResponse. Every pointer in these structs is borrowed, for the duration of the
 * kms_xml_render() call only; strings are NUL-terminated UTF-8. An optional string is absent
 * when NULL. */

/* Options of a deployment (kms-interface.md; all false: the defaults). */
struct kms_xml_options {
	bool wrap_alg_compat;  /* EncryptionMethod kw-aes256 instead of kw-aes-256-pad */
	bool cipher_value_hex; /* CipherValue in upper-case hex instead of base64 */
	bool user_id_base64;   /* UserID in base64 instead of upper-case hex */
};

/*
 * A key wrapped under a TrK: an EncKeyContentType element holding an xenc:EncryptedKey. With
 * plain (a key of a key set only, for a client configured for plaintext), the key itself: a
 * KeyContentType element of upper-case hex, key_name NULL. The renderer wipes its own copies of
 * a plain key; libxml2's are wiped when kms_xml_wipe_freed() is in force.
 */
struct kms_xml_enc_key {
	const char *key_name;   /* the wrapping TrK's id (ds:KeyName), 1..KMS_XML_MAX_ID */
	const uint8_t *wrapped; /* the RFC 5649 output (plain: the key) */
	size_t wrapped_len;     /* 1..KMS_XML_MAX_WRAPPED */
	bool plain;             /* a KeyContentType: the key in hex, not wrapped */
	/* optional: xenc:CarriedKeyName, the id of the key that is carried (rotation: the new
	 * TrK's or InK's id), 1..KMS_XML_MAX_ID visible ASCII. Only in new_transport_keys and
	 * new_integrity_keys of struct kms_xml_response; a key set's key must have none. */
	const char *carried_key_name;
};

enum kms_xml_role {
	KMS_XML_ROLE_ROOT = 0,
	KMS_XML_ROLE_EXTERNAL = 1,
};

/* A KmsCertificate (Version 1.1.0; UserIdFormat "2", ParameterSet 1). */
struct kms_xml_cert {
	enum kms_xml_role role;
	const char *cert_uri; /* optional */
	const char *kms_uri;
	const char *issuer; /* optional, 1..KMS_XML_MAX_TEXT */
	bool has_valid_from;
	int64_t valid_from; /* Unix seconds */
	bool has_valid_to;
	int64_t valid_to;
	bool has_revoked;
	bool revoked;
	uint64_t user_key_period; /* seconds, >= 1 */
	uint64_t user_key_offset; /* seconds */
	uint8_t pub_enc_key[KMS_XML_Z_T_LEN];
	uint8_t pub_auth_key[KMS_XML_KPAK_LEN];
	const char *const *domains; /* KmsDomainList when num_domains > 0: URIs */
	size_t num_domains;         /* 0..KMS_XML_MAX_DOMAINS */
};

/* A KmsKeySet (Version 1.1.0). */
struct kms_xml_key_set {
	const char *kms_uri;
	const char *cert_uri; /* optional */
	const char *issuer;   /* optional */
	const char *user_uri;
	uint8_t user_id[KMS_XML_UID_LEN];
	int64_t valid_from; /* Unix seconds: the key period's bounds */
	int64_t valid_to;
	uint64_t key_period_no;
	bool has_revoked;
	bool revoked;
	struct kms_xml_enc_key rsk; /* UserDecryptKey */
	struct kms_xml_enc_key ssk; /* UserSigningKeySSK */
	struct kms_xml_enc_key pvt; /* UserPubTokenPVT */
};

enum kms_xml_msg {
	KMS_XML_MSG_NONE = 0, /* no KmsMessage (an error response) */
	KMS_XML_MSG_INIT = 1,
	KMS_XML_MSG_KEYPROV = 2,
	KMS_XML_MSG_CERTCACHE = 3,
};

struct kms_xml_response {
	const char *user_uri;
	const char *kms_uri;
	int64_t time;       /* Unix seconds, KMS_XML_DATETIME_MIN..KMS_XML_DATETIME_MAX */
	const char *kms_id; /* optional */
	const char *client_req_url;
	enum kms_xml_msg msg;
	/* KMS_XML_MSG_INIT: the root certificate. */
	const struct kms_xml_cert *init_cert;
	/* KMS_XML_MSG_KEYPROV: 0..KMS_XML_MAX_KEY_SETS key sets. */
	const struct kms_xml_key_set *key_sets;
	size_t num_key_sets;
	/* KMS_XML_MSG_CERTCACHE: CacheNum and 0..KMS_XML_MAX_CERTS certificates (Role External). */
	uint64_t cache_num;
	const struct kms_xml_cert *certs;
	size_t num_certs;
	/* KMS_XML_MSG_INIT, KMS_XML_MSG_KEYPROV: the security extension's key rotation. When any is
	 * given the message gets xsi:type KmsInitTkIkType / KmsKeyProvTkIkType. */
	const struct kms_xml_enc_key *new_transport_keys;
	size_t num_new_transport_keys; /* 0..KMS_XML_MAX_NEW_KEYS */
	const struct kms_xml_enc_key *new_integrity_keys;
	size_t num_new_integrity_keys; /* 0..KMS_XML_MAX_NEW_KEYS */
	/* KmsError. */
	bool has_error;
	int64_t error_code;
	const char *error_msg; /* 0..KMS_XML_MAX_TEXT (NULL: empty) */
	struct kms_xml_options opts;
};

/* A rendered response (a libxml2 document), owned by its creator. */
struct kms_xml_doc;

/*
 * kms_xml_render - build the KmsResponse resp describes into a new document *out (owned; free
 * with kms_xml_doc_free). The root declares exactly the namespaces of KMS_SIGNEDINFO_NS, in that
 * order, and no other element declares any. user_uri may be "" only in an error response
 * without a message (KMS_XML_MSG_NONE with has_error: refused before the client was known).
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (a required
 * field missing, a string that is not UTF-8 or holds a character XML cannot carry (URIs and ids
 * also no whitespace or control character), a length or count out of its bound, a time out of
 * range, an unknown enum value, a carried_key_name on a key set's key); KMS_ERR_NOMEM. *out is
 * NULL on failure.
 */
int kms_xml_render(struct kms_xml_doc **out, const struct kms_xml_response *resp) KMS_WUR;

/*
 * kms_xml_digest - the SHA-256 digest of the Reference "#xmldoc" of doc: inclusive C14N 1.0
 * without comments of the KmsResponse element, any ds:Signature child of it left out (the
 * enveloped-signature transform). This digest goes to kms-hsmd, which signs the canonical
 * SignedInfo kms_signedinfo_build() makes of it. Returns KMS_OK; KMS_ERR_NOMEM, KMS_ERR_CRYPTO,
 * KMS_ERR_INTERNAL. out is zeroed on failure.
 */
int kms_xml_digest(const struct kms_xml_doc *doc, uint8_t out[static KMS_XML_HMAC_LEN]) KMS_WUR;

/*
 * kms_xml_attach_signature - append ds:Signature as the last child of the KmsResponse of doc:
 * ds:SignedInfo (that of kms_signedinfo_build() for digest), ds:SignatureValue (base64 of hmac),
 * ds:KeyInfo/ds:KeyName (key_name, the InK's or TrK's id, 1..KMS_XML_MAX_ID visible ASCII).
 * digest is the one the HMAC was computed for: it must equal kms_xml_digest() of doc now.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (already signed, a bad key_name, or digest is not that of
 * doc); KMS_ERR_NOMEM; KMS_ERR_INTERNAL (the canonical form of the inserted SignedInfo is not
 * kms_signedinfo_build()'s: checked each time). doc is unchanged on failure.
 */
int kms_xml_attach_signature(struct kms_xml_doc *doc, const uint8_t digest[static KMS_XML_HMAC_LEN],
			     const uint8_t hmac[static KMS_XML_HMAC_LEN],
			     const char *key_name) KMS_WUR;

/*
 * kms_xml_serialize - the document as bytes: the declaration <?xml version="1.0"
 * encoding="UTF-8"?>, a newline, the KmsResponse element (no indentation). *out is malloc'ed and
 * owned by the caller (free()); *out_len is its length (no NUL after it is counted, but one is
 * written). Returns KMS_OK or KMS_ERR_NOMEM (then *out is NULL and *out_len 0).
 */
int kms_xml_serialize(const struct kms_xml_doc *doc, uint8_t **out, size_t *out_len) KMS_WUR;

/* kms_xml_doc_free - free doc. NULL is a no-op. */
void kms_xml_doc_free(struct kms_xml_doc *doc);

/* ------------------------------------------------------------------------------------------ */
/* Parsing a KmsRequest body (hostile input). */

enum kms_xml_req_version {
	KMS_XML_REQ_VERSION_ABSENT = 0,
	KMS_XML_REQ_VERSION_1_0_0 = 1,
	KMS_XML_REQ_VERSION_1_1_0 = 2,
};

/* The signature of a SignedKmsRequest, checked but for its HMAC (kms-hsmd checks that). */
struct kms_xml_req_signature {
	char key_name[KMS_XML_MAX_ID + 1]; /* ds:KeyInfo/ds:KeyName: 1..255 visible ASCII */
	uint8_t value[KMS_XML_HMAC_LEN];   /* ds:SignatureValue: HMAC-SHA256, 32 bytes */
	/* inclusive C14N 1.0 (no comments) of ds:SignedInfo: what the HMAC is over */
	uint8_t signed_info[KMS_XML_MAX_SIGNED_INFO];
	size_t signed_info_len; /* 1..KMS_XML_MAX_SIGNED_INFO */
};

/* A parsed KmsRequest. Strings are NUL-terminated and hold no NUL; an absent one is "". */
struct kms_xml_request {
	enum kms_xml_req_version version;
	/* It came as SignedKmsRequest: the signature's structure and Reference digest are
	 * checked here; its HMAC is not (sig.value over sig.signed_info under the key
	 * sig.key_name: kms-hsmd checks it in the token). */
	bool is_signed;
	struct kms_xml_req_signature sig; /* valid when is_signed, zeroed otherwise */
	char user_uri[KMS_XML_MAX_URI + 1];
	char kms_uri[KMS_XML_MAX_URI + 1];
	int64_t time; /* Unix seconds (kms_xml_datetime_parse) */
	bool has_client_id;
	char client_id[KMS_XML_MAX_ID + 1];
	bool has_device_id;
	char device_id[KMS_XML_MAX_ID + 1];
	char client_req_url[KMS_XML_MAX_URI + 1];
	bool has_krr_list; /* KrrList was there (its content is not interpreted) */
	bool has_client_error;
	int64_t client_error_code;
	char client_error_msg[KMS_XML_MAX_TEXT + 1];
	size_t num_extensions; /* elements of other namespaces at the end (ignored) */
};

/*
 * kms_xml_parse_request - parse the request body in[0..in_len) (at most KMS_XML_MAX_BODY bytes,
 * UTF-8) into *out. The root is KmsRequest, or SignedKmsRequest holding KmsRequest and
 * ds:Signature, in the interface namespace; the children are checked in schema order
 * (docs/xml.md). Refused: a DOCTYPE, an entity reference, a processing instruction, more than
 * KMS_XML_MAX_DEPTH levels or KMS_XML_MAX_ELEMENTS elements; nothing is ever loaded from a file
 * or the network, and libxml2 prints nothing.
 * A SignedKmsRequest's ds:Signature must be the one profile of docs/xml.md (inclusive C14N 1.0,
 * HMAC-SHA256, one ds:Reference "#" + the Id of KmsRequest, SHA-256, ds:KeyInfo with one
 * ds:KeyName); the Reference digest is recomputed over KmsRequest and compared. out->sig then
 * holds the KeyName, the SignatureValue and the canonical ds:SignedInfo: the HMAC is NOT checked
 * here (kms-hsmd checks it, in the token).
 * Returns KMS_OK; KMS_ERR_TOO_LARGE (in_len over KMS_XML_MAX_BODY, checked before parsing; too
 * deep; too many elements; a canonical ds:SignedInfo over KMS_XML_MAX_SIGNED_INFO bytes);
 * KMS_ERR_PARSE (not well-formed, DOCTYPE, entity, PI, wrong root or namespace, unknown,
 * duplicate, missing or misplaced element or attribute, mixed content, an unsupported Version,
 * an unsupported signature algorithm or Reference URI, a signed request libxml2 will not
 * canonicalise: a relative namespace URI); KMS_ERR_RANGE (a text too long, a number out of
 * range, a bad dateTime); KMS_ERR_ENCODING (a DigestValue or SignatureValue that is not the
 * base64 of 32 bytes); KMS_ERR_AUTH (the DigestValue is not the digest of KmsRequest);
 * KMS_ERR_NOMEM; KMS_ERR_CRYPTO (SHA-256 failed); KMS_ERR_INVALID_ARG (NULL out, or NULL in with
 * in_len > 0); KMS_ERR_INTERNAL (libxml2 without its SAX2 tree builder: not seen in practice).
 * On failure *out is untouched and, when err_cap > 0, err receives a short NUL-terminated
 * message naming the element (never a value from the input); on success err is "".
 */
int kms_xml_parse_request(struct kms_xml_request *out, char *err, size_t err_cap, const uint8_t *in,
			  size_t in_len) KMS_WUR;

/*
 * kms_xml_datetime_parse - an xsd:dateTime in s[0..len) to Unix seconds: YYYY-MM-DDThh:mm:ss,
 * optional fraction (up to 12 digits, truncated), then Z, +hh:mm, -hh:mm (up to 14:00) or no
 * zone (taken as UTC). Years 0001..9999, 4 digits; 24:00:00 is the next day's midnight.
 * Leading and trailing XML whitespace is ignored. Returns KMS_OK or KMS_ERR_RANGE (*out 0).
 */
int kms_xml_datetime_parse(int64_t *out, const char *s, size_t len) KMS_WUR;

/*
 * kms_xml_datetime_format - t (KMS_XML_DATETIME_MIN..KMS_XML_DATETIME_MAX) as the UTC
 * xsd:dateTime "YYYY-MM-DDThh:mm:ssZ" and a NUL into out. Returns KMS_OK or KMS_ERR_RANGE
 * (out is "").
 */
int kms_xml_datetime_format(char out[static KMS_XML_DATETIME_LEN + 1], int64_t t) KMS_WUR;

/* ------------------------------------------------------------------------------------------ */
/* Parsing the KmsCertificate of another KMS (proto/xml-cert.c; hostile input: a file an
 * operator imports with kms-admin certcache import). */

#define KMS_XML_MAX_CERT_FILE KMS_XML_MAX_BODY /* bytes of the file */
#define KMS_XML_DOMAINS_LEN   8192             /* bytes of the domain list (below) */

/* A parsed KmsCertificate. Strings are NUL-terminated and hold no NUL; an absent one is "". */
struct kms_xml_cert_in {
	bool has_role;
	enum kms_xml_role role; /* the Role attribute as the KMS published it */
	char cert_uri[KMS_XML_MAX_URI + 1];
	char kms_uri[KMS_XML_MAX_URI + 1];
	bool has_issuer;
	char issuer[KMS_XML_MAX_TEXT + 1];
	bool has_valid_from;
	int64_t valid_from; /* Unix seconds */
	bool has_valid_to;
	int64_t valid_to;
	bool has_revoked;
	bool revoked;
	uint64_t user_key_period;               /* seconds, 1..INT64_MAX */
	uint64_t user_key_offset;               /* seconds, 0..INT64_MAX */
	uint8_t pub_enc_key[KMS_XML_Z_T_LEN];   /* 0x04 || x || y: not checked to be a point */
	uint8_t pub_auth_key[KMS_XML_KPAK_LEN]; /* likewise */
	/* KmsDomainList: num_domains (0..KMS_XML_MAX_DOMAINS) URIs without whitespace, in order,
	 * one space between each two, at most KMS_XML_DOMAINS_LEN bytes in all. */
	size_t num_domains;
	char domains[KMS_XML_DOMAINS_LEN + 1];
};

/*
 * kms_xml_parse_cert - parse the KmsCertificate in in[0..in_len) (at most
 * KMS_XML_MAX_CERT_FILE bytes, UTF-8) into *out. The root is KmsCertificate, or a KmsResponse
 * whose KmsMessage holds a KmsInit holding it (the init response of that KMS; its other
 * children and its signature are not checked), in the interface namespace. The certificate's
 * children are checked in schema order: UserIdFormat must be 2, ParameterSet 1 when present,
 * PubEncKey 257 and PubAuthKey 65 bytes of hex beginning with 0x04 (whether they are points of
 * their curves is the caller's check: hsm/sakke.h, P-256), UserKeyPeriod >= 1, UserKeyOffset
 * >= 0, Version 1.0.0 or 1.1.0 or absent, Role Root or External or absent. Refused as by
 * kms_xml_parse_request: DOCTYPE, entities, processing instructions, depth and element limits.
 * Returns KMS_OK; KMS_ERR_TOO_LARGE (in_len, depth, elements); KMS_ERR_PARSE (not well-formed,
 * wrong structure, values of the wrong form); KMS_ERR_RANGE (a text too long, a number or time
 * out of range); KMS_ERR_NOMEM; KMS_ERR_INVALID_ARG (NULL out, NULL in with in_len > 0).
 * On failure *out is untouched and, when err_cap > 0, err receives a short NUL-terminated
 * message naming the element (never a value from the input); on success err is "".
 */
int kms_xml_parse_cert(struct kms_xml_cert_in *out, char *err, size_t err_cap, const uint8_t *in,
		       size_t in_len) KMS_WUR;

#endif /* KMS_PROTO_XML_H */
