/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_P11URI_H
#define KMS_HSM_P11URI_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "common/err.h"

/*
 * PKCS#11 URIs (RFC 7512) that name a token and, optionally, an object in it:
 *
 *     pkcs11:token=kms-prod;serial=8a3f01c2;object=domain-kek;type=secret-key
 *
 * The parser is strict. It takes the path attributes token, manufacturer, serial, model,
 * library-manufacturer, library-description, library-version, slot-id, slot-description,
 * slot-manufacturer, object, type and id, and the query attributes module-path, module-name
 * and pin-source. It refuses:
 *   - pin-value: the adapter never takes a PIN from a URI (KMS_ERR_UNSUPPORTED);
 *   - vendor-specific attributes (RFC 7512 allows any well-formed name, customarily "x-..."),
 *     and any other name it does not know (KMS_ERR_UNSUPPORTED);
 *   - an attribute given twice, a path attribute in the query or a query attribute in the path,
 *     an empty component (";;", a trailing ';' or '&'), whitespace (KMS_ERR_PARSE);
 *   - a character the RFC's grammar does not allow there, a bad %-escape, invalid UTF-8 or
 *     %00 in a text value (KMS_ERR_PARSE / KMS_ERR_ENCODING);
 *   - a value longer than the field it is compared with (the KMS_P11URI_MAX_* below), or a
 *     URI longer than KMS_P11URI_MAX_LEN (KMS_ERR_TOO_LARGE);
 *   - a library-version part above 255 or a slot-id above CK_SLOT_ID's range (KMS_ERR_RANGE);
 *   - a relative module-path, or a module-name with a '/' (KMS_ERR_PARSE).
 * The scheme "pkcs11:" is matched case-insensitively (RFC 3986 3.1); attribute names and type
 * values are lower case, as the RFC writes them. An empty value ("serial=") is allowed and
 * matches a blank field. Whitespace used to wrap long URIs in documents is not accepted: a
 * configuration value is one line, and spaces in labels are written %20.
 *
 * A URI is configuration, not a secret, but it is never logged whole (a mistaken pin-value
 * would end up in the log): the parser reports a byte offset and a constant reason instead.
 */

/* Limits: the whole URI, and each decoded value (the CK_*_INFO field sizes for the rest). */
#define KMS_P11URI_MAX_LEN          4096
#define KMS_P11URI_MAX_TOKEN        32   /* CK_TOKEN_INFO.label */
#define KMS_P11URI_MAX_MANUFACTURER 32   /* CK_TOKEN_INFO.manufacturerID */
#define KMS_P11URI_MAX_SERIAL       16   /* CK_TOKEN_INFO.serialNumber */
#define KMS_P11URI_MAX_MODEL        16   /* CK_TOKEN_INFO.model */
#define KMS_P11URI_MAX_LIB_MANUF    32   /* CK_INFO.manufacturerID */
#define KMS_P11URI_MAX_LIB_DESC     32   /* CK_INFO.libraryDescription */
#define KMS_P11URI_MAX_SLOT_DESC    64   /* CK_SLOT_INFO.slotDescription */
#define KMS_P11URI_MAX_SLOT_MANUF   32   /* CK_SLOT_INFO.manufacturerID */
#define KMS_P11URI_MAX_OBJECT       255  /* CKA_LABEL */
#define KMS_P11URI_MAX_ID           255  /* CKA_ID, bytes */
#define KMS_P11URI_MAX_PATH         4095 /* module-path, pin-source (a NUL follows) */
#define KMS_P11URI_MAX_MODULE_NAME  255
#define KMS_P11URI_MAX_TEMPLATE     3 /* CKA_LABEL, CKA_ID, CKA_CLASS */

/* Which attributes a parsed URI holds (struct kms_p11uri.has). */
enum kms_p11uri_attr {
	KMS_P11URI_TOKEN = 1u << 0,
	KMS_P11URI_MANUFACTURER = 1u << 1,
	KMS_P11URI_SERIAL = 1u << 2,
	KMS_P11URI_MODEL = 1u << 3,
	KMS_P11URI_LIB_MANUF = 1u << 4,
	KMS_P11URI_LIB_DESC = 1u << 5,
	KMS_P11URI_LIB_VERSION = 1u << 6,
	KMS_P11URI_SLOT_ID = 1u << 7,
	KMS_P11URI_SLOT_DESC = 1u << 8,
	KMS_P11URI_SLOT_MANUF = 1u << 9,
	KMS_P11URI_OBJECT = 1u << 10,
	KMS_P11URI_TYPE = 1u << 11,
	KMS_P11URI_ID = 1u << 12,
	KMS_P11URI_MODULE_PATH = 1u << 13,
	KMS_P11URI_MODULE_NAME = 1u << 14,
	KMS_P11URI_PIN_SOURCE = 1u << 15,
};

/*
 * A decoded URI. Text values are the %-decoded UTF-8 bytes (no NUL inside, not terminated);
 * id is raw bytes. A field is meaningful only when its bit is set in has. The three query
 * values are NUL-terminated C strings.
 */
struct kms_p11uri {
	unsigned int has; /* enum kms_p11uri_attr bits */
	/* token (CK_TOKEN_INFO) */
	uint8_t token[KMS_P11URI_MAX_TOKEN];
	size_t token_len;
	uint8_t manufacturer[KMS_P11URI_MAX_MANUFACTURER];
	size_t manufacturer_len;
	uint8_t serial[KMS_P11URI_MAX_SERIAL];
	size_t serial_len;
	uint8_t model[KMS_P11URI_MAX_MODEL];
	size_t model_len;
	/* library (CK_INFO) */
	uint8_t lib_manufacturer[KMS_P11URI_MAX_LIB_MANUF];
	size_t lib_manufacturer_len;
	uint8_t lib_description[KMS_P11URI_MAX_LIB_DESC];
	size_t lib_description_len;
	CK_VERSION lib_version; /* "3" means 3.0 */
	/* slot (CK_SLOT_INFO) */
	CK_SLOT_ID slot_id;
	uint8_t slot_description[KMS_P11URI_MAX_SLOT_DESC];
	size_t slot_description_len;
	uint8_t slot_manufacturer[KMS_P11URI_MAX_SLOT_MANUF];
	size_t slot_manufacturer_len;
	/* object */
	uint8_t object[KMS_P11URI_MAX_OBJECT];
	size_t object_len;
	CK_OBJECT_CLASS type; /* CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_CERTIFICATE, ... */
	uint8_t id[KMS_P11URI_MAX_ID];
	size_t id_len;
	/* query */
	char module_path[KMS_P11URI_MAX_PATH + 1];
	char module_name[KMS_P11URI_MAX_MODULE_NAME + 1];
	char pin_source[KMS_P11URI_MAX_PATH + 1];
};

/* Where and why a parse failed: a byte offset into the URI and a constant, value-free reason. */
struct kms_p11uri_diag {
	size_t offset;
	const char *reason; /* static string; never NULL after a failed parse */
};

/*
 * kms_p11uri_parse - decode the uri_len bytes at uri (no NUL needed; a NUL byte is an
 * invalid character) into out. On success returns KMS_OK and fills out; on failure returns
 * KMS_ERR_PARSE, KMS_ERR_ENCODING, KMS_ERR_TOO_LARGE, KMS_ERR_RANGE or KMS_ERR_UNSUPPORTED
 * (see above), leaves out untouched and, if diag is not NULL, says where and why. Logs
 * nothing. Limits: KMS_P11URI_MAX_LEN bytes in all, each value its KMS_P11URI_MAX_*.
 */
int kms_p11uri_parse(struct kms_p11uri *out, struct kms_p11uri_diag *diag, const char *uri,
		     size_t uri_len) KMS_WUR;

/*
 * kms_p11uri_match_token / _match_slot / _match_library - 1 if every token (resp. slot,
 * library) attribute of uri equals the corresponding field of info, 0 if not. The fields of
 * the CK_*_INFO structures are blank-padded and not terminated: trailing blanks (and NULs,
 * which some modules pad with) are removed before comparing. Attributes of other kinds are
 * ignored, so a URI without token attributes matches every token. A library-version of "3"
 * matches 3.0 only.
 */
int kms_p11uri_match_token(const struct kms_p11uri *uri, const CK_TOKEN_INFO *info);
int kms_p11uri_match_slot(const struct kms_p11uri *uri, CK_SLOT_ID slot_id,
			  const CK_SLOT_INFO *info);
int kms_p11uri_match_library(const struct kms_p11uri *uri, const CK_INFO *info);

/*
 * kms_p11uri_object_template - the C_FindObjectsInit template of uri's object part: CKA_LABEL
 * (object), CKA_ID (id) and CKA_CLASS (type), those present, in that order. Writes up to
 * KMS_P11URI_MAX_TEMPLATE entries to out and their number to *out_num. The pValue of each
 * entry points into uri (borrowed): keep uri alive and unchanged while the template is used.
 * Returns KMS_OK, or KMS_ERR_INVALID_ARG (*out_num 0) when uri has neither object nor id: a
 * template of only a type, or of nothing, would select whatever happens to be on the token.
 */
int kms_p11uri_object_template(struct kms_p11uri *uri, CK_ATTRIBUTE out[KMS_P11URI_MAX_TEMPLATE],
			       CK_ULONG *out_num) KMS_WUR;

/*
 * kms_p11uri_for_token - the URI "pkcs11:token=LABEL" of the token labelled label (1 to
 * KMS_P11URI_MAX_TOKEN octets), every octet that is not an RFC 3986 unreserved character
 * percent-encoded, into out (cap octets, NUL-terminated; KMS_P11URI_TOKEN_URI_CAP always
 * fits). Returns KMS_OK, KMS_ERR_INVALID_ARG (no label, or too long), KMS_ERR_TOO_LARGE (cap).
 */
#define KMS_P11URI_TOKEN_URI_CAP (14 + 3 * KMS_P11URI_MAX_TOKEN)
int kms_p11uri_for_token(char *out, size_t cap, const char *label) KMS_WUR;

#endif /* KMS_HSM_P11URI_H */
