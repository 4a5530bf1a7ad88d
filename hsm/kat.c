/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/kat.h"

#include <string.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"

#include "common/banned.h"

/* RFC 6507 Appendix A. */
static const char ECCSI_KSAK[] = "0000000000000000000000000000000000000000000000000000000000012345";
static const char ECCSI_V[] = "0000000000000000000000000000000000000000000000000000000000023456";
static const char ECCSI_KPAK[] =
	"0450D4670BDE75244F28D2838A0D25558A7A72686D4522D4C8273FB6442AEBFA93"
	"DBDD37551AFD263B5DFD617F3960C65A8C298850FF99F20366DCE7D4367217F4";
static const char ECCSI_PVT[] = "04758A142779BE89E829E71984CB40EF758CC4AD775FC5B9A3E1C8ED52F6FA36D9"
				"A79D247692F4EDA3A6BDAB77D6AA6474A464AE4934663C5265BA7018BA091F79";
static const char ECCSI_SSK[] = "23F374AE1F4033F3E9DBDDAAEF20F4CF0B86BBD5A138A5AE9E7E006B34489A0D";
/* "2011-02\0tel:+447700900123\0", the identifier of both RFC vectors. */
static const char RFC_ID[] = "323031312D30320074656C3A2B34343737303039303031323300";

/* RFC 6508 Appendix A. */
static const char SAKKE_Z[] = "AFF429D35F84B110D094803B3595A6E2998BC99F";
static const char SAKKE_ZPUB[] =
	"045958EF1B1679BF099B3A030DF255AA6A23C1D8F143D4D23F753E69BD27A832F3"
	"8CB4AD53DDEF4260B0FE8BB45C4C1FF510EFFE300367A37B61F701D914AEF097"
	"24825FA0707D61A6DFF4FBD7273566CDDE352A0B04B7C16A78309BE640697DE7"
	"47613A5FC195E8B9F328852A579DB8F99B1D0034479EA9C5595F47C4B2F54FF2"
	"1508D37514DCF7A8E143A6058C09A6BF2C9858CA37C258065AE6BF7532BC8B5B"
	"63383866E0753C5AC0E72709F8445F2E6178E065857E0EDA10F68206B63505ED"
	"87E534FB2831FF957FB7DC619DAE61301EEACC2FDA3680EA4999258A833CEA8F"
	"C67C6D19487FB449059F26CC8AAB655AB58B7CC796E24E9A394095754F5F8BAE";
static const char SAKKE_RSK[] = "0493AF67E5007BA6E6A80DA793DA300FA4B52D0A74E25E6E7B2B3D6EE9D18A9B5C"
				"5023597BD82D8062D34019563BA1D25C0DC56B7B979D74AA50F29FBF11CC2C93"
				"F5DFCA615E609279F6175CEADB00B58C6BEE1E7A2A47C4F0C456F05259A6FA94"
				"A634A40DAE1DF593D4FECF688D5FC678BE7EFC6DF3D6835325B83B2C6E69036B"
				"155F0A27241094B04BFB0BDFAC6C670A65C325D39A069F03659D44CA27D3BE8D"
				"F311172B554160181CBE94A2A783320CED590BC42644702CF371271E496BF20F"
				"588B78A1BC01ECBB6559934BDD2FB65D2884318A33D1A42ADF5E33CC5800280B"
				"28356497F87135BAB9612A17260424409AC15FEE996B744C332151235DECB0F5";

/* TS 33.180 Annex F.2.1, Streamwide vector 1. */
static const char UID_1[] = "74E2AF803AB5D72841BBCED0CE319FFE64F6FE23C88A2D258AABCF6AC5658EF4";

static int
unhex(uint8_t *out, size_t len, const char *hex)
{
	return kms_hex_decode(out, len, hex, strlen(hex));
}

static int
kat_eccsi(void)
{
	struct kms_eccsi_kms *kms = NULL;
	uint8_t ksak[KMS_ECCSI_SCALAR_LEN], v[KMS_ECCSI_SCALAR_LEN], want_ssk[KMS_ECCSI_SCALAR_LEN];
	uint8_t ssk[KMS_ECCSI_SCALAR_LEN];
	uint8_t want_kpak[KMS_ECCSI_POINT_LEN], kpak[KMS_ECCSI_POINT_LEN];
	uint8_t want_pvt[KMS_ECCSI_POINT_LEN], pvt[KMS_ECCSI_POINT_LEN];
	uint8_t id[sizeof(RFC_ID) / 2];
	int r = KMS_ERR_SELFTEST;

	if (unhex(ksak, sizeof(ksak), ECCSI_KSAK) != KMS_OK ||
	    unhex(v, sizeof(v), ECCSI_V) != KMS_OK ||
	    unhex(want_ssk, sizeof(want_ssk), ECCSI_SSK) != KMS_OK ||
	    unhex(want_kpak, sizeof(want_kpak), ECCSI_KPAK) != KMS_OK ||
	    unhex(want_pvt, sizeof(want_pvt), ECCSI_PVT) != KMS_OK ||
	    unhex(id, sizeof(id), RFC_ID) != KMS_OK || kms_eccsi_kms_new(&kms, ksak) != KMS_OK) {
		goto out;
	}
	kms_eccsi_kms_kpak(kms, kpak);
	if (memcmp(kpak, want_kpak, sizeof(kpak)) != 0 ||
	    kms_eccsi_issue_with_v(kms, id, sizeof(id), v, ssk, pvt) != KMS_OK ||
	    memcmp(pvt, want_pvt, sizeof(pvt)) != 0 || memcmp(ssk, want_ssk, sizeof(ssk)) != 0 ||
	    kms_eccsi_validate(kpak, id, sizeof(id), ssk, pvt) != KMS_OK) {
		goto out;
	}
	id[0] ^= 1;
	if (kms_eccsi_validate(kpak, id, sizeof(id), ssk, pvt) != KMS_ERR_AUTH) {
		goto out;
	}
	r = KMS_OK;
out:
	kms_memzero(ssk, sizeof(ssk));
	kms_eccsi_kms_free(kms);
	return r;
}

static int
kat_sakke(void)
{
	struct kms_sakke_kms *kms = NULL;
	uint8_t z[sizeof(SAKKE_Z) / 2];
	uint8_t want_zpub[KMS_SAKKE_POINT_LEN], zpub[KMS_SAKKE_POINT_LEN];
	uint8_t want_rsk[KMS_SAKKE_POINT_LEN], rsk[KMS_SAKKE_POINT_LEN];
	uint8_t id[sizeof(RFC_ID) / 2];
	int r = KMS_ERR_SELFTEST;

	if (unhex(z, sizeof(z), SAKKE_Z) != KMS_OK ||
	    unhex(want_zpub, sizeof(want_zpub), SAKKE_ZPUB) != KMS_OK ||
	    unhex(want_rsk, sizeof(want_rsk), SAKKE_RSK) != KMS_OK ||
	    unhex(id, sizeof(id), RFC_ID) != KMS_OK ||
	    kms_sakke_kms_new(&kms, z, sizeof(z)) != KMS_OK) {
		goto out;
	}
	kms_sakke_kms_public(kms, zpub);
	if (memcmp(zpub, want_zpub, sizeof(zpub)) != 0 ||
	    kms_sakke_issue(kms, id, sizeof(id), rsk) != KMS_OK ||
	    memcmp(rsk, want_rsk, sizeof(rsk)) != 0 ||
	    kms_sakke_validate(zpub, id, sizeof(id), rsk) != KMS_OK) {
		goto out;
	}
	id[0] ^= 1;
	if (kms_sakke_validate(zpub, id, sizeof(id), rsk) != KMS_ERR_AUTH ||
	    kms_sakke_selfcheck(kms, id, sizeof(id), rsk) != KMS_ERR_AUTH) {
		goto out;
	}
	r = KMS_OK;
out:
	kms_memzero(rsk, sizeof(rsk));
	kms_sakke_kms_free(kms);
	return r;
}

static int
kat_uid(void)
{
	static const char uri[] = "sip:user@example.org";
	static const char kms_uri[] = "kms.example.org";
	uint8_t want[KMS_UID_LEN], uid[KMS_UID_LEN];

	if (unhex(want, sizeof(want), UID_1) != KMS_OK ||
	    kms_uid_compute(uid, uri, sizeof(uri) - 1, kms_uri, sizeof(kms_uri) - 1, 2592000, 0,
			    1) != KMS_OK ||
	    memcmp(uid, want, sizeof(uid)) != 0) {
		return KMS_ERR_SELFTEST;
	}
	return KMS_OK;
}

int
kms_mikey_selftest(const char **out_name)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} kats[] = {
		{"TS 33.180 UID", kat_uid},
		{"RFC 6507 ECCSI", kat_eccsi},
		{"RFC 6508 SAKKE", kat_sakke},
	};
	size_t i;

	if (out_name != NULL) {
		*out_name = NULL;
	}
	for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		if (kats[i].fn() != KMS_OK) {
			if (out_name != NULL) {
				*out_name = kats[i].name;
			}
			return KMS_ERR_SELFTEST;
		}
	}
	return KMS_OK;
}
