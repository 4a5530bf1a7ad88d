/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_P11ATTR_H
#define KMS_HSM_P11ATTR_H

#include <stdint.h>

#include <p11-kit/pkcs11.h>

/*
 * What PKCS#11 templates are written with, shared by the key hierarchy (hsm/keys.c) and the key
 * ceremony (tools/ceremony-p11.c), so that both say the same thing the same way.
 *
 * KMS_P11_ATTR(type, ptr, len) - a CK_ATTRIBUTE initialiser: attribute type, a pointer to its
 * value and the value's length in octets. CK_ATTRIBUTE.pValue is not const, although
 * C_CreateObject, C_GenerateKey, C_UnwrapKey, C_FindObjectsInit and C_SetAttributeValue only read
 * it: the macro drops the const of ptr (through uintptr_t, which -Wcast-qual accepts). Use it only
 * in templates that are passed to such read-only calls, never for C_GetAttributeValue.
 */
#define KMS_P11_ATTR(type, ptr, len)                                                               \
	{                                                                                          \
		(type), (void *)(uintptr_t)(ptr), (CK_ULONG)(len)                                  \
	}

/*
 * The values templates point to (with KMS_P11_ATTR(CKA_..., &kms_p11_true, sizeof(...))): read
 * only, one copy per translation unit that uses them (static: nothing to link).
 */
static const CK_OBJECT_CLASS kms_p11_class_secret = CKO_SECRET_KEY;
static const CK_KEY_TYPE kms_p11_type_aes = CKK_AES;
static const CK_BBOOL kms_p11_true = CK_TRUE;
static const CK_BBOOL kms_p11_false = CK_FALSE;

#endif /* KMS_HSM_P11ATTR_H */
