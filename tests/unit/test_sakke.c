/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SAKKE (RFC 6508, RFC 6509 parameter set 1): every published vector of
 * ../shared/spec/vectors.txt section 2, the Streamwide key material that validates only with the
 * raw UID, and negative cases.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "common/hex.h"
#include "hsm/internal.h"
#include "hsm/kat.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/* RFC 6508 Appendix A. */
static const char *const Z_HEX = "AFF429D3 5F84B110 D094803B 3595A6E2 998BC99F";
static const char *const ZPUB_HEX =
	"04"
	"5958EF1B 1679BF09 9B3A030D F255AA6A 23C1D8F1 43D4D23F 753E69BD 27A832F3"
	"8CB4AD53 DDEF4260 B0FE8BB4 5C4C1FF5 10EFFE30 0367A37B 61F701D9 14AEF097"
	"24825FA0 707D61A6 DFF4FBD7 273566CD DE352A0B 04B7C16A 78309BE6 40697DE7"
	"47613A5F C195E8B9 F328852A 579DB8F9 9B1D0034 479EA9C5 595F47C4 B2F54FF2"
	"1508D375 14DCF7A8 E143A605 8C09A6BF 2C9858CA 37C25806 5AE6BF75 32BC8B5B"
	"63383866 E0753C5A C0E72709 F8445F2E 6178E065 857E0EDA 10F68206 B63505ED"
	"87E534FB 2831FF95 7FB7DC61 9DAE6130 1EEACC2F DA3680EA 4999258A 833CEA8F"
	"C67C6D19 487FB449 059F26CC 8AAB655A B58B7CC7 96E24E9A 39409575 4F5F8BAE";
static const char *const ID_HEX = "32303131 2D303200 74656C3A 2B343437 37303039 30303132 3300";
static const char *const RSK_HEX =
	"04"
	"93AF67E5 007BA6E6 A80DA793 DA300FA4 B52D0A74 E25E6E7B 2B3D6EE9 D18A9B5C"
	"5023597B D82D8062 D3401956 3BA1D25C 0DC56B7B 979D74AA 50F29FBF 11CC2C93"
	"F5DFCA61 5E609279 F6175CEA DB00B58C 6BEE1E7A 2A47C4F0 C456F052 59A6FA94"
	"A634A40D AE1DF593 D4FECF68 8D5FC678 BE7EFC6D F3D68353 25B83B2C 6E69036B"
	"155F0A27 241094B0 4BFB0BDF AC6C670A 65C325D3 9A069F03 659D44CA 27D3BE8D"
	"F311172B 55416018 1CBE94A2 A783320C ED590BC4 2644702C F371271E 496BF20F"
	"588B78A1 BC01ECBB 6559934B DD2FB65D 2884318A 33D1A42A DF5E33CC 5800280B"
	"28356497 F87135BA B9612A17 26042440 9AC15FEE 996B744C 33215123 5DECB0F5";
/* RFC 6509 Appendix A: P and g = <P, P>. */
static const char *const P_HEX = "04"
				 "53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBF"
				 "B5EDB6C0F6CE2308AB10DB9030B09E1043D5F22CDB9DFA55718BD9E7406CE890"
				 "9760AF765DD5BCCB337C86548B72F2E1A702C3397A60DE74A7C1514DBA66910D"
				 "D5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895"
				 "0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178"
				 "F5EA69F4654EC2B9E7F7F5E5F0DE55F66B598CCF9A140B2E416CFF0CA9E032B9"
				 "70DAE117AD547C6CCAD696B5B7652FE0AC6F1E80164AA989492D979FC5A4D5F2"
				 "13515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7";
static const char *const G_HEX =
	"66FC2A43 2B6EA392 148F1586 7D623068 C6A87BD1 FB94C41E 27FABE65 8E015A87"
	"371E9474 4C96FEDA 449AE956 3F8BC446 CBFDA85D 5D00EF57 7072DA8F 541721BE"
	"EE0FAED1 828EAB90 B99DFB01 38C78433 55DF0460 B4A9FD74 B4F1A32B CAFA1FFA"
	"D682C033 A7942BCC E3720F20 B9B7B040 3C8CAE87 B7A0042A CDE0FAB3 6461EA46";
static const char *const Q_HEX = "265EAEC7C2958FF69971846636B4195E905B0338672D20986FA6B8D62CF8068B"
				 "BD02AAC9F8BF03C6C8A1CC354C69672C39E46CE7FDF222864D5B49FD2999A9B4"
				 "389B1921CC9AD335144AB173595A07386DABFD2A0C614AA0A9F3CF14870F026A"
				 "A7E535ABD5A5C7C7FF38FA08E2615F6C203177C42B1EB3A1D99B601EBFAA17FB";
static const char *const PMOD_HEX =
	"997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2E"
	"F40AAB27E2FC0F1B228730D531A59CB0E791B39FF7C88A19356D27F4A666A6D0"
	"E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82A7CF3C521C3C09AA"
	"9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB";

/*
 * Streamwide/sw_mikey_sakke StreamwideTestVectors.md (v5): a KMS's public key and three
 * users' RSKs for key period 236 of kms.mydev.streamwide.com (period 16777215, offset 0).
 */
static const char *const SW_ZPUB_HEX =
	"046fc2cf00fd48467abe7c02f383002fc49b6632bf0f7071d958f1f128154e6fae1f69bb91691a191a358fe6"
	"47a3e020d2365d52f81fb3af4ea271654f1a880274c1ae228ac72cc15d535394321bd2143cea2619fb3b0c6c"
	"e7a5f72714d8ef4d11cb0c991c3376ca31b168b01e66021effdbf7920bd66615e6f0d6a1e61c06e72e61b413"
	"8738c11bc249a3849e9c4cff327a7d0d2769c3d97a37f86adfb13baa257e628ce236f40360d3f7b8d95b0e3f"
	"cc19417602d7d6b8928b855eae9129be1f0b87d33e884906dd95a04a8bd61240bad60f9dfada64806726f8f0"
	"8b86343f54046416f5198116e9798c218bcf9ca07d0baa4be50062bfe54e44495b6ed59cb6";

struct sw_user {
	const char *uri;
	const char *uid_hex;
	const char *rsk_hex;
};

static const struct sw_user sw_users[] = {
	{"sip:alice@streamwide.com",
	 "b5c452309219da6a3d805615548d6c1b0f4de45a6b48fb13d9a24d857fc03dc4",
	 "0428b44cd6dffd2e7fe73521a5c514738287df177c1ae841ba6f5d72601b9c6bc5509c3fd800ac1fee833dd8"
	 "1c74ab39d2740a10fba25cd9b0debb25a3da958cf52e35e863d2db37ea22b318d23d9911d36f585eb110e430"
	 "123f3cd84d2692a4013bc7f59533e5da2083d8e6e8b96764eb8e8be599dc2361e7428460b8490200417baa5b"
	 "ac10efaa5262301b3110f6da9e8bc9c4b62827c3d4f4070a8e341346a326a23f219d2a99298036615956bb85"
	 "a60cf303d15d469c1ee837c29cba5dccb28d74e4ba0d83dac9400d72eecb1817cc60127203f1321e82b7a24f"
	 "60c07f1804a9895cbb455a94694a5ef627b1c631760295dad53f0eed1714ba52d5a932bddd"},
	{"gms@streamwide.com", "15a4d5b12856538d02d91fedbb766e6dd377b014c92e216666c8fb678608d20e",
	 "043f591611206a0913ecb68ab28e086ac1148fbd5ce4a40bf00a186653ecf6f0055f4f1b5ef8a4b527d33dd2"
	 "8c731c7b2829d6329283533d499b04c31e2d30437919f486ef76c8a6cbca2f279724539e52b3a1760077670f"
	 "c35756a9417625d57876717811bd3f1fb8fb473b547ba874a8f5d747cd63b2ebcdb150f5b454a46ec2512a86"
	 "f0672439d3121a0eddf5995f18e1c77e3423ea34427b62281977e3afb9b5c8766c5a32e1f9b29f0bb12d46a0"
	 "3f8f3ec7357e59f969473bcf4d4cdc3cdedb6e7982e6477117a3c02d86165896485323c96f53a330e5e995ce"
	 "83b23127542f2177916d5007a5aa116680093911d4bc587cd94e2bdec36d7290ed4f2d3998"},
	{"sip:bob@streamwide.com",
	 "780851cda91a9c33f941cd3a2831697e2893264754e363f8a0cef827eb201a81",
	 "04421d385f108bd51f66abbce40b899efe187dbb08085d9a535fca8766677db317812e48da407235d73399d4"
	 "d2e2ed4f5a35d7694b64595ce0599e4d3592f5b57ede83890fd798aec2cd96f333d6139d9f7ecfecbb79b769"
	 "f5fbbc6825beeb25999acdf6fb2edd369176f45db0caf5909aa81512e57064c46ae1c23df9284ffba55741cd"
	 "e0b7a8145fdbea76b4ee243d79bd70db4300c55570f342ca0df98e8f3b410e1df4ccbdd279403d3da06cad4c"
	 "5db8d4e078a191a7a0545391e8ca72e51c793448c4ba8be71fbac90a84ded3d6127c4d7438a3132f354b283d"
	 "65da75a5070ecd96f02d694c505efcb05caf2290bf15ee45c15a0e652496b88acbaf1d26a3"},
};

static struct kms_sakke_kms *rfc_kms;
static uint8_t rfc_id[64];
static size_t rfc_id_len;
static uint8_t rfc_rsk[KMS_SAKKE_POINT_LEN];
static uint8_t rfc_zpub[KMS_SAKKE_POINT_LEN];

static int
suite_init(void)
{
	uint8_t z[KMS_SAKKE_SCALAR_LEN];
	size_t z_len = kms_test_hex(z, sizeof(z), Z_HEX);

	rfc_id_len = kms_test_hex(rfc_id, sizeof(rfc_id), ID_HEX);
	if (kms_test_hex(rfc_rsk, sizeof(rfc_rsk), RSK_HEX) != KMS_SAKKE_POINT_LEN ||
	    kms_test_hex(rfc_zpub, sizeof(rfc_zpub), ZPUB_HEX) != KMS_SAKKE_POINT_LEN) {
		return 1;
	}
	return kms_sakke_kms_new(&rfc_kms, z, z_len) == KMS_OK ? 0 : 1;
}

static int
suite_cleanup(void)
{
	kms_sakke_kms_free(rfc_kms);
	rfc_kms = NULL;
	return 0;
}

static void
test_rfc6508_public_key(void)
{
	uint8_t zpub[KMS_SAKKE_POINT_LEN];

	kms_sakke_kms_public(rfc_kms, zpub);
	CU_ASSERT(memcmp(zpub, rfc_zpub, sizeof(zpub)) == 0);
}

static void
test_rfc6508_rsk(void)
{
	uint8_t rsk[KMS_SAKKE_POINT_LEN];

	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, rfc_id, rfc_id_len, rsk), KMS_OK);
	CU_ASSERT(memcmp(rsk, rfc_rsk, sizeof(rsk)) == 0);
	CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, rfc_id, rfc_id_len, rfc_rsk), KMS_OK);
}

static void
test_rfc6509_g(void)
{
	uint8_t p[KMS_SAKKE_POINT_LEN];
	uint8_t g[KMS_SAKKE_SCALAR_LEN];
	uint8_t w[KMS_SAKKE_SCALAR_LEN];

	CU_ASSERT_EQUAL(kms_test_hex(p, sizeof(p), P_HEX), KMS_SAKKE_POINT_LEN);
	CU_ASSERT_EQUAL(kms_test_hex(g, sizeof(g), G_HEX), KMS_SAKKE_SCALAR_LEN);
	CU_ASSERT_EQUAL(kms_sakke_pairing_for_test(w, p, p), KMS_OK);
	CU_ASSERT(memcmp(w, g, sizeof(g)) == 0);
	/* Bilinearity: <P, Z_T> = <Z_T, P> = g^z_T, so the two orders agree. */
	{
		uint8_t w1[KMS_SAKKE_SCALAR_LEN];
		uint8_t w2[KMS_SAKKE_SCALAR_LEN];

		CU_ASSERT_EQUAL(kms_sakke_pairing_for_test(w1, p, rfc_zpub), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_pairing_for_test(w2, rfc_zpub, p), KMS_OK);
		CU_ASSERT(memcmp(w1, w2, sizeof(w1)) == 0);
		CU_ASSERT(memcmp(w1, g, sizeof(g)) != 0);
	}
}

static void
test_rfc6508_client_check(void)
{
	uint8_t id[64];

	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, rfc_rsk), KMS_OK);
	/* a wrong identity, one bit off, and a prefix of the right one */
	memcpy(id, rfc_id, rfc_id_len);
	id[10] ^= 0x01;
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, id, rfc_id_len, rfc_rsk), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len - 1, rfc_rsk),
			KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, id, rfc_id_len, rfc_rsk), KMS_ERR_AUTH);
}

static void
test_streamwide_raw_uid(void)
{
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	size_t i;

	CU_ASSERT_EQUAL(kms_test_hex(zpub, sizeof(zpub), SW_ZPUB_HEX), KMS_SAKKE_POINT_LEN);
	CU_ASSERT_EQUAL(kms_sakke_point_check(zpub, sizeof(zpub)), KMS_OK);
	for (i = 0; i < sizeof(sw_users) / sizeof(sw_users[0]); i++) {
		uint8_t uid[KMS_UID_LEN];
		uint8_t computed[KMS_UID_LEN];
		uint8_t rsk[KMS_SAKKE_POINT_LEN];
		uint8_t hex_id[KMS_ID_MAX_LEN];
		size_t hex_len = 0;
		const char *uri = sw_users[i].uri;

		CU_ASSERT_EQUAL(kms_test_hex(uid, sizeof(uid), sw_users[i].uid_hex), KMS_UID_LEN);
		CU_ASSERT_EQUAL(kms_test_hex(rsk, sizeof(rsk), sw_users[i].rsk_hex),
				KMS_SAKKE_POINT_LEN);
		/* The published UserID is the TS 33.180 UID of that user for period 236. */
		CU_ASSERT_EQUAL(
			kms_uid_compute(computed, uri, strlen(uri), "kms.mydev.streamwide.com",
					strlen("kms.mydev.streamwide.com"), 16777215, 0, 236),
			KMS_OK);
		CU_ASSERT(memcmp(computed, uid, sizeof(uid)) == 0);
		/* Valid with the raw UID as the identifier ... */
		CU_ASSERT_EQUAL(kms_sakke_validate(zpub, uid, sizeof(uid), rsk), KMS_OK);
		/* ... and not with its ASCII hex, in either case. */
		CU_ASSERT_EQUAL(kms_uid_identifier(hex_id, &hex_len, uid, KMS_ID_HEX_LOWER),
				KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_validate(zpub, hex_id, hex_len, rsk), KMS_ERR_AUTH);
		CU_ASSERT_EQUAL(kms_uid_identifier(hex_id, &hex_len, uid, KMS_ID_HEX_UPPER),
				KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_validate(zpub, hex_id, hex_len, rsk), KMS_ERR_AUTH);
		/* Not with the RFC KMS's public key either. */
		CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, uid, sizeof(uid), rsk), KMS_ERR_AUTH);
	}
}

static void
test_tampered_rsk(void)
{
	uint8_t rsk[KMS_SAKKE_POINT_LEN];
	uint8_t p_bytes[KMS_SAKKE_POINT_LEN];
	size_t pos;

	/* A flipped bit anywhere in x or y leaves the curve (or, in y, lands off it too). */
	for (pos = 1; pos < KMS_SAKKE_POINT_LEN; pos += 37) {
		memcpy(rsk, rfc_rsk, sizeof(rsk));
		rsk[pos] ^= 0x10;
		CU_ASSERT_EQUAL(kms_sakke_point_check(rsk, sizeof(rsk)), KMS_ERR_POINT);
		CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, rsk),
				KMS_ERR_POINT);
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, rfc_id, rfc_id_len, rsk),
				KMS_ERR_POINT);
	}
	/* Another point of the curve: -RSK (y -> p - y) and P itself. */
	{
		uint8_t pm[KMS_SAKKE_SCALAR_LEN];
		unsigned int borrow = 0;
		int i;

		CU_ASSERT_EQUAL(kms_test_hex(pm, sizeof(pm), PMOD_HEX), KMS_SAKKE_SCALAR_LEN);
		memcpy(rsk, rfc_rsk, sizeof(rsk));
		for (i = KMS_SAKKE_SCALAR_LEN - 1; i >= 0; i--) {
			unsigned int d = (unsigned int)pm[i] - rfc_rsk[1 + 128 + i] - borrow;

			rsk[1 + 128 + i] = (uint8_t)d;
			borrow = (d >> 8) & 1;
		}
		CU_ASSERT_EQUAL(kms_sakke_point_check(rsk, sizeof(rsk)), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, rsk),
				KMS_ERR_AUTH);
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, rfc_id, rfc_id_len, rsk),
				KMS_ERR_AUTH);
	}
	CU_ASSERT_EQUAL(kms_test_hex(p_bytes, sizeof(p_bytes), P_HEX), KMS_SAKKE_POINT_LEN);
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, p_bytes), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, rfc_id, rfc_id_len, p_bytes), KMS_ERR_AUTH);
	/* (0, 0) is on the curve (a point of order 2), never a valid RSK. */
	memset(rsk, 0, sizeof(rsk));
	rsk[0] = 0x04;
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, rsk), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, rfc_id, rfc_id_len, rsk), KMS_ERR_AUTH);
	/* A tampered public key. */
	memcpy(rsk, rfc_zpub, sizeof(rsk));
	rsk[200] ^= 0x01;
	CU_ASSERT_EQUAL(kms_sakke_validate(rsk, rfc_id, rfc_id_len, rfc_rsk), KMS_ERR_POINT);
}

static void
test_point_encoding(void)
{
	uint8_t pt[KMS_SAKKE_POINT_LEN + 1];
	uint8_t pm[KMS_SAKKE_SCALAR_LEN];
	size_t len;

	memcpy(pt, rfc_rsk, KMS_SAKKE_POINT_LEN);
	pt[KMS_SAKKE_POINT_LEN] = 0;
	/* every truncation and one trailing byte */
	for (len = 0; len < KMS_SAKKE_POINT_LEN; len++) {
		CU_ASSERT_EQUAL(kms_sakke_point_check(pt, len), KMS_ERR_POINT);
	}
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN + 1), KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_sakke_point_check(NULL, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_OK);
	/* compressed / hybrid / infinity prefixes */
	pt[0] = 0x02;
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
	pt[0] = 0x06;
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
	pt[0] = 0x00;
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, rfc_id_len, pt), KMS_ERR_POINT);
	/* x = p (not reduced) */
	CU_ASSERT_EQUAL(kms_test_hex(pm, sizeof(pm), PMOD_HEX), KMS_SAKKE_SCALAR_LEN);
	pt[0] = 0x04;
	memcpy(pt + 1, pm, sizeof(pm));
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
	/* x, y all ones */
	memset(pt + 1, 0xff, 2 * KMS_SAKKE_SCALAR_LEN);
	CU_ASSERT_EQUAL(kms_sakke_point_check(pt, KMS_SAKKE_POINT_LEN), KMS_ERR_POINT);
}

static void
test_bad_master_secret(void)
{
	struct kms_sakke_kms *kms = (struct kms_sakke_kms *)1;
	uint8_t q[KMS_SAKKE_SCALAR_LEN];
	uint8_t big[KMS_SAKKE_SCALAR_LEN + 1];
	uint8_t zero[4] = {0, 0, 0, 0};

	CU_ASSERT_EQUAL(kms_test_hex(q, sizeof(q), Q_HEX), KMS_SAKKE_SCALAR_LEN);
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, zero, sizeof(zero)), KMS_ERR_SCALAR);
	CU_ASSERT_PTR_NULL(kms);
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, q, sizeof(q)), KMS_ERR_SCALAR); /* z = q */
	q[KMS_SAKKE_SCALAR_LEN - 1]++;                                          /* z = q + 1 */
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, q, sizeof(q)), KMS_ERR_SCALAR);
	memset(q, 0xff, sizeof(q));
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, q, sizeof(q)), KMS_ERR_SCALAR);
	memset(big, 0, sizeof(big));
	big[sizeof(big) - 1] = 5;
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, big, sizeof(big)), KMS_ERR_SCALAR);
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, NULL, 0), KMS_ERR_SCALAR);
	CU_ASSERT_PTR_NULL(kms);
	/* z = q - 1 is the largest valid secret */
	CU_ASSERT_EQUAL(kms_test_hex(q, sizeof(q), Q_HEX), KMS_SAKKE_SCALAR_LEN);
	q[KMS_SAKKE_SCALAR_LEN - 1]--;
	CU_ASSERT_EQUAL(kms_sakke_kms_new(&kms, q, sizeof(q)), KMS_OK);
	kms_sakke_kms_free(kms);
	kms_sakke_kms_free(NULL);
}

static void
test_bad_identity(void)
{
	uint8_t rsk[KMS_SAKKE_POINT_LEN];
	uint8_t long_id[KMS_SAKKE_MAX_ID_LEN + 1];
	uint8_t q[KMS_SAKKE_SCALAR_LEN];

	memset(long_id, 'a', sizeof(long_id));
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, rfc_id, 0, rsk), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, NULL, 5, rsk), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, long_id, sizeof(long_id), rsk),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT(kms_test_all_zero(rsk, sizeof(rsk)));
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, rfc_id, 0, rfc_rsk), KMS_ERR_INVALID_ARG);
	/* a = q = 0 mod q is not an identity */
	CU_ASSERT_EQUAL(kms_test_hex(q, sizeof(q), Q_HEX), KMS_SAKKE_SCALAR_LEN);
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, q, sizeof(q), rsk), KMS_ERR_SCALAR);
	/* The longest identifier works, reduced mod q. */
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, long_id, KMS_SAKKE_MAX_ID_LEN, rsk), KMS_OK);
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, long_id, KMS_SAKKE_MAX_ID_LEN, rsk), KMS_OK);
}

static void
test_random_round_trip(void)
{
	struct kms_sakke_kms *kms = NULL;
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	uint8_t z[KMS_SAKKE_SCALAR_LEN];
	int i;

	CU_ASSERT_EQUAL_FATAL(kms_sakke_kms_generate(&kms), KMS_OK);
	kms_sakke_kms_public(kms, zpub);
	CU_ASSERT_EQUAL(kms_sakke_point_check(zpub, sizeof(zpub)), KMS_OK);
	/* The exported secret rebuilds the same key pair. */
	kms_sakke_kms_secret(kms, z);
	{
		struct kms_sakke_kms *again = NULL;
		uint8_t zpub2[KMS_SAKKE_POINT_LEN];

		CU_ASSERT_EQUAL(kms_sakke_kms_new(&again, z, sizeof(z)), KMS_OK);
		kms_sakke_kms_public(again, zpub2);
		CU_ASSERT(memcmp(zpub, zpub2, sizeof(zpub)) == 0);
		kms_sakke_kms_free(again);
	}
	for (i = 0; i < 6; i++) {
		uint8_t id[KMS_ID_MAX_LEN];
		uint8_t rsk[KMS_SAKKE_POINT_LEN];
		size_t id_len = i % 2 == 0 ? KMS_UID_LEN : KMS_ID_MAX_LEN;

		CU_ASSERT_EQUAL(RAND_bytes(id, (int)id_len), 1);
		CU_ASSERT_EQUAL(kms_sakke_issue(kms, id, id_len, rsk), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(kms, id, id_len, rsk), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_validate(zpub, id, id_len, rsk), KMS_OK);
		/* another KMS's check refuses it */
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, id, id_len, rsk), KMS_ERR_AUTH);
	}
	kms_sakke_kms_free(kms);
}

static void
test_issue_is_deterministic(void)
{
	uint8_t a[KMS_SAKKE_POINT_LEN];
	uint8_t b[KMS_SAKKE_POINT_LEN];
	int i;

	/* RSK issuing has no randomness: the same identity gets the same key every time. */
	for (i = 1; i <= 20; i++) {
		uint8_t id[KMS_UID_LEN];

		memset(id, i, sizeof(id));
		CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, id, sizeof(id), a), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, id, sizeof(id), b), KMS_OK);
		CU_ASSERT(memcmp(a, b, sizeof(a)) == 0);
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, id, sizeof(id), a), KMS_OK);
	}
}

static void
test_zero_identity(void)
{
	uint8_t id[KMS_UID_LEN];
	uint8_t rsk[KMS_SAKKE_POINT_LEN];

	memset(id, 0, sizeof(id));
	CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, id, sizeof(id), rsk), KMS_ERR_SCALAR);
	CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, id, sizeof(id), rfc_rsk), KMS_ERR_SCALAR);
}

/* The SAKKE curve in OpenSSL's generic prime-curve code: an independent implementation. */
static EC_GROUP *
ossl_group(BN_CTX *ctx)
{
	BIGNUM *p = NULL, *q = NULL, *a = BN_new(), *b = BN_new(), *cof = BN_new();
	EC_GROUP *grp = NULL;
	EC_POINT *g = NULL;
	uint8_t pt[KMS_SAKKE_POINT_LEN];

	CU_ASSERT_FATAL(a != NULL && b != NULL && cof != NULL);
	CU_ASSERT_FATAL(BN_hex2bn(&p, PMOD_HEX) > 0 && BN_hex2bn(&q, Q_HEX) > 0);
	CU_ASSERT_FATAL(BN_sub(a, p, BN_value_one()) && BN_sub_word(a, 2) && BN_set_word(cof, 4));
	BN_zero(b);
	grp = EC_GROUP_new_curve_GFp(p, a, b, ctx);
	CU_ASSERT_FATAL(grp != NULL);
	g = EC_POINT_new(grp);
	CU_ASSERT_EQUAL_FATAL(kms_test_hex(pt, sizeof(pt), P_HEX), sizeof(pt));
	CU_ASSERT_FATAL(EC_POINT_oct2point(grp, g, pt, sizeof(pt), ctx) == 1);
	CU_ASSERT_FATAL(EC_GROUP_set_generator(grp, g, q, cof) == 1);
	EC_POINT_free(g);
	BN_free(p);
	BN_free(q);
	BN_free(a);
	BN_free(b);
	BN_free(cof);
	return grp;
}

/* [a + z]rsk == P computed by OpenSSL, literally as RFC 6508 states it. */
static int
ossl_literal_check(EC_GROUP *grp, BN_CTX *ctx, const uint8_t *z, size_t z_len, const uint8_t *id,
		   size_t id_len, const uint8_t rsk[KMS_SAKKE_POINT_LEN])
{
	BIGNUM *s = BN_bin2bn(id, (int)id_len, NULL);
	BIGNUM *zb = BN_bin2bn(z, (int)z_len, NULL);
	EC_POINT *pt = EC_POINT_new(grp);
	int ok = 0;

	if (s != NULL && zb != NULL && pt != NULL && BN_add(s, s, zb) &&
	    BN_mod(s, s, EC_GROUP_get0_order(grp), ctx) &&
	    EC_POINT_oct2point(grp, pt, rsk, KMS_SAKKE_POINT_LEN, ctx) == 1 &&
	    EC_POINT_mul(grp, pt, NULL, pt, s, ctx) == 1) {
		ok = EC_POINT_cmp(grp, pt, EC_GROUP_get0_generator(grp), ctx) == 0;
	}
	EC_POINT_free(pt);
	BN_free(s);
	BN_free(zb);
	return ok;
}

static void
test_openssl_literal_selfcheck(void)
{
	BN_CTX *ctx = BN_CTX_new();
	EC_GROUP *grp = ossl_group(ctx);
	uint8_t z[KMS_SAKKE_SCALAR_LEN];
	size_t z_len = kms_test_hex(z, sizeof(z), Z_HEX);
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	int i;

	/* OpenSSL agrees on Z_T = [z_T]P and on the RFC vector. */
	{
		EC_POINT *pt = EC_POINT_new(grp);
		BIGNUM *zb = BN_bin2bn(z, (int)z_len, NULL);

		CU_ASSERT(EC_POINT_mul(grp, pt, zb, NULL, NULL, ctx) == 1);
		CU_ASSERT(EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, zpub,
					     sizeof(zpub), ctx) == sizeof(zpub));
		CU_ASSERT(memcmp(zpub, rfc_zpub, sizeof(zpub)) == 0);
		EC_POINT_free(pt);
		BN_free(zb);
	}
	CU_ASSERT(ossl_literal_check(grp, ctx, z, z_len, rfc_id, rfc_id_len, rfc_rsk));
	for (i = 0; i < 10; i++) {
		uint8_t id[KMS_ID_MAX_LEN];
		uint8_t rsk[KMS_SAKKE_POINT_LEN];
		size_t id_len = i % 2 == 0 ? KMS_UID_LEN : KMS_ID_MAX_LEN;

		CU_ASSERT_EQUAL(RAND_bytes(id, (int)id_len), 1);
		CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, id, id_len, rsk), KMS_OK);
		CU_ASSERT(ossl_literal_check(grp, ctx, z, z_len, id, id_len, rsk));
		id[0] ^= 1;
		CU_ASSERT(!ossl_literal_check(grp, ctx, z, z_len, id, id_len, rsk));
	}
	EC_GROUP_free(grp);
	BN_CTX_free(ctx);
}

/*
 * RSK + T with T = (0, 0) of order 2: off the subgroup of order q. When a + z_T is even the
 * literal equation still holds; the KMS's self-check refuses it all the same. The client's
 * check of RFC 6508 6.1.2 cannot see it: T lies in qE (q is odd), so the reduced pairing, and
 * with it every SAKKE decryption, is unchanged. The test pins both facts down.
 */
static void
test_rsk_outside_subgroup(void)
{
	BN_CTX *ctx = BN_CTX_new();
	EC_GROUP *grp = ossl_group(ctx);
	EC_POINT *pt = EC_POINT_new(grp);
	EC_POINT *t2 = EC_POINT_new(grp);
	BIGNUM *zero = BN_new();
	uint8_t z[KMS_SAKKE_SCALAR_LEN];
	size_t z_len = kms_test_hex(z, sizeof(z), Z_HEX);
	uint8_t bad[KMS_SAKKE_POINT_LEN];
	int found_even = 0;
	int i;

	BN_zero(zero);
	CU_ASSERT_FATAL(EC_POINT_set_affine_coordinates(grp, t2, zero, zero, ctx) == 1);
	for (i = 1; i < 40 && found_even < 2; i++) {
		uint8_t id[KMS_UID_LEN];
		uint8_t rsk[KMS_SAKKE_POINT_LEN];

		memset(id, 0, sizeof(id));
		id[KMS_UID_LEN - 1] = (uint8_t)i;
		CU_ASSERT_EQUAL(kms_sakke_issue(rfc_kms, id, sizeof(id), rsk), KMS_OK);
		CU_ASSERT_FATAL(EC_POINT_oct2point(grp, pt, rsk, sizeof(rsk), ctx) == 1);
		CU_ASSERT_FATAL(EC_POINT_add(grp, pt, pt, t2, ctx) == 1);
		CU_ASSERT_FATAL(EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, bad,
						   sizeof(bad), ctx) == sizeof(bad));
		CU_ASSERT_EQUAL(kms_sakke_point_check(bad, sizeof(bad)), KMS_OK);
		CU_ASSERT_EQUAL(kms_sakke_selfcheck(rfc_kms, id, sizeof(id), bad), KMS_ERR_AUTH);
		CU_ASSERT_EQUAL(kms_sakke_validate(rfc_zpub, id, sizeof(id), bad), KMS_OK);
		if (ossl_literal_check(grp, ctx, z, z_len, id, sizeof(id), bad)) {
			found_even++;
		}
	}
	/* about half of the identities make a + z_T even: the case was exercised */
	CU_ASSERT(found_even > 0);
	BN_free(zero);
	EC_POINT_free(pt);
	EC_POINT_free(t2);
	EC_GROUP_free(grp);
	BN_CTX_free(ctx);
}

static void
test_known_answer_selftest(void)
{
	const char *failed = "not set";

	CU_ASSERT_EQUAL(kms_mikey_selftest(&failed), KMS_OK);
	CU_ASSERT_PTR_NULL(failed);
	CU_ASSERT_EQUAL(kms_mikey_selftest(NULL), KMS_OK);
}

static CU_TestInfo sakke_tests[] = {
	{"RFC 6508: Z_T = [z_T]P", test_rfc6508_public_key},
	{"RFC 6508: RSK and the KMS self-check", test_rfc6508_rsk},
	{"RFC 6509: g = <P, P>, bilinearity", test_rfc6509_g},
	{"RFC 6508 6.1.2: the client's pairing check", test_rfc6508_client_check},
	{"Streamwide RSKs validate with the raw UID only", test_streamwide_raw_uid},
	{"tampered RSKs and public keys", test_tampered_rsk},
	{"point encoding: truncation, prefixes, range", test_point_encoding},
	{"bad master secrets", test_bad_master_secret},
	{"bad identities", test_bad_identity},
	{"random key pairs and identities round trip", test_random_round_trip},
	{"issuing is deterministic and self-checked", test_issue_is_deterministic},
	{"an all-zero identifier (a = 0) is refused", test_zero_identity},
	{"OpenSSL's generic code agrees: [a + z_T]RSK == P", test_openssl_literal_selfcheck},
	{"the start-up known-answer tests pass", test_known_answer_selftest},
	{"an RSK off the subgroup: the KMS refuses, the pairing cannot tell",
	 test_rsk_outside_subgroup},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"sakke", suite_init, suite_cleanup, NULL, NULL, sakke_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
