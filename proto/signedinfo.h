/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_SIGNEDINFO_H
#define KMS_PROTO_SIGNEDINFO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The signature of a KmsResponse (kms-interface.md, security extension) is an enveloped XML
 * signature, HMAC-SHA256 under the client's InK (or TrK), over the Reference "#xmldoc" (the
 * KmsResponse element, whose Id is "xmldoc"), with the enveloped-signature transform, inclusive
 * C14N 1.0 without comments, and a SHA-256 digest.
 *
 * The HMAC is computed in the token by kms-hsmd, over the canonical form of ds:SignedInfo. So
 * that kms-hsmd signs only SignedInfo elements, never bytes kmsd chose, it builds them itself
 * from the digest: kmsd sends the 32-byte digest of the response (proto SIGN request), kms-hsmd
 * builds the canonical SignedInfo with kms_signedinfo_build() and returns its HMAC; kmsd puts the
 * same SignedInfo into the response.
 *
 * Inclusive C14N renders on the SignedInfo element every namespace in scope there. The KmsResponse
 * root therefore declares exactly the namespaces KMS_SIGNEDINFO_NS lists (the default namespace of
 * the interface, ds, xenc and xsi), and no element between the root and SignedInfo declares any:
 * the canonical form below is then what any conforming C14N implementation computes for the
 * SignedInfo of the response.
 */

#define KMS_SIGNEDINFO_NS_KMS  "urn:3gpp:ns:mcsecKMSInterface:1.0"
#define KMS_SIGNEDINFO_NS_DS   "http://www.w3.org/2000/09/xmldsig#"
#define KMS_SIGNEDINFO_NS_XENC "http://www.w3.org/2001/04/xmlenc#"
#define KMS_SIGNEDINFO_NS_XSI  "http://www.w3.org/2001/XMLSchema-instance"

/* The namespace declarations of the KmsResponse root, in canonical order. */
#define KMS_SIGNEDINFO_NS                                                                          \
	"xmlns=\"" KMS_SIGNEDINFO_NS_KMS "\" xmlns:ds=\"" KMS_SIGNEDINFO_NS_DS                     \
	"\" xmlns:xenc=\"" KMS_SIGNEDINFO_NS_XENC "\" xmlns:xsi=\"" KMS_SIGNEDINFO_NS_XSI "\""

#define KMS_SIGNEDINFO_C14N      "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
#define KMS_SIGNEDINFO_HMAC      "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
#define KMS_SIGNEDINFO_DIGEST    "http://www.w3.org/2001/04/xmlenc#sha256"
#define KMS_SIGNEDINFO_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define KMS_SIGNEDINFO_REF       "#xmldoc"

/* The length of a canonical SignedInfo (it is fixed: the digest is 44 base64 characters). */
#define KMS_SIGNEDINFO_LEN 772

/*
 * kms_signedinfo_build - write the canonical (inclusive C14N 1.0) ds:SignedInfo of a response
 * whose reference digest is digest into out[0..out_cap) and its length to *out_len (always
 * KMS_SIGNEDINFO_LEN); no NUL is written after it. Returns KMS_OK, or KMS_ERR_TOO_LARGE when
 * out_cap < KMS_SIGNEDINFO_LEN (out and *out_len untouched).
 */
int kms_signedinfo_build(char *out, size_t out_cap, size_t *out_len,
			 const uint8_t digest[static 32]) KMS_WUR;

#endif /* KMS_PROTO_SIGNEDINFO_H */
