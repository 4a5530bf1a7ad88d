/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_TRANSCRIPT_H
#define KMS_TOOLS_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The signed ceremony transcript (docs/transcript.md): a UTF-8 text file, one line per entry,
 * that records every step of a key ceremony run (who, what, when, fingerprints of public keys)
 * and ends with an ECDSA P-256 signature made by a key in the ceremony's token:
 *
 *   KMS CEREMONY TRANSCRIPT 1
 *   ceremony: ID
 *   operator: NAME
 *   version: VERSION
 *   host: HOSTNAME
 *   started: YYYY-MM-DDTHH:MM:SSZ
 *   SEQ YYYY-MM-DDTHH:MM:SSZ STEP: TEXT          (SEQ 1, 2, ...; one line per entry)
 *   signed-by: POINT FINGERPRINT                 (130 and 64 upper-case hex digits)
 *   signature: R||S                              (128 upper-case hex digits)
 *
 * or, for a run that was given up, "ended: not signed (REASON)" in place of the last two lines.
 * Every line ends in LF and holds no control character. Each entry is written and fsync'ed on
 * its own: an interrupted run leaves every entry it wrote.
 *
 * A transcript must NEVER hold a secret (a key, a PIN, a share, a passphrase, not even their
 * lengths): it is written in clear and handed to auditors. This API cannot tell a secret from
 * a fingerprint; keeping secrets out of the texts given to kms_transcript_add is the caller's
 * duty.
 */

#define KMS_TRANSCRIPT_MAX_ENTRY 1024       /* octets of one entry's text */
#define KMS_TRANSCRIPT_MAX_FILE  (4u << 20) /* octets of a whole transcript */
#define KMS_TRANSCRIPT_MAX_FIELD 256        /* octets of a header value (ceremony, operator...) */
#define KMS_TRANSCRIPT_MAX_STEP  32         /* octets of a step name, [a-z-] */

struct kms_transcript;

/*
 * kms_transcript_create - create path (O_CREAT|O_EXCL|O_NOFOLLOW, mode exactly 0640; an
 * existing file or link is KMS_ERR_IO with errno EEXIST (ELOOP for some links): never
 * overwritten) and write and fsync the header: the format line "KMS CEREMONY TRANSCRIPT 1",
 * the ceremony id, the operator, the program version string given, the host name and the
 * start time in UTC. ceremony, operator_name and version (borrowed): 1..KMS_TRANSCRIPT_MAX_FIELD
 * octets of UTF-8 without control characters, else KMS_ERR_INVALID_ARG. *out is owned
 * (kms_transcript_finish or kms_transcript_abandon frees it); NULL on failure, and then no file
 * of ours is left at path. Returns KMS_OK, KMS_ERR_INVALID_ARG, KMS_ERR_IO (errno says why),
 * KMS_ERR_NOMEM, KMS_ERR_INTERNAL (no clock).
 */
int kms_transcript_create(struct kms_transcript **out, const char *path, const char *ceremony,
			  const char *operator_name, const char *version) KMS_WUR;

/*
 * kms_transcript_add - append one entry "SEQ TIME STEP: TEXT" (SEQ 1, 2, ...; TIME the current
 * UTC time YYYY-MM-DDTHH:MM:SSZ, never earlier than the previous line's: a clock stepped back
 * repeats the last time) and fsync it. step: [a-z-]{1,KMS_TRANSCRIPT_MAX_STEP}. text: the
 * printf format fmt; the result must be 1..KMS_TRANSCRIPT_MAX_ENTRY octets of UTF-8 without
 * control characters (no newline, tab, DEL or C1: refused, not escaped). The text must not
 * hold a secret (see above). Returns KMS_OK; KMS_ERR_INVALID_ARG (nothing written);
 * KMS_ERR_IO (the write or fsync failed: the partial line is cut off again where possible;
 * if that fails too, every later call fails with KMS_ERR_IO); KMS_ERR_CRYPTO (hashing).
 */
int kms_transcript_add(struct kms_transcript *t, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) KMS_WUR;

/*
 * The signer: sign the 32-octet SHA-256 digest (ECDSA P-256, the digest as it is) into r || s
 * (64 octets), in the token. Returns KMS_OK or an error code, passed on by
 * kms_transcript_finish.
 */
typedef int (*kms_transcript_sign_fn)(void *ctx, const uint8_t digest[32], uint8_t sig[64]);

/*
 * kms_transcript_finish - append the "signed-by" line (the uncompressed P-256 point in hex and
 * its fingerprint, the SHA-256 of the point's 65 octets, in hex) and then the "signature" line:
 * ECDSA (by sign(ctx, ...)) over the SHA-256 of every octet of the file before the signature
 * line, as this process wrote them (a change made to the file by someone else during the run
 * makes the signature fail to verify). The signature is checked against point
 * (kms_ecdsa_verify_point) before either line is written; both lines are written and fsync'ed
 * together, and the file is closed. t is freed whatever the result; on failure the run is
 * ended as kms_transcript_abandon does (reason: the error), so the file verifies as
 * KMS_ERR_TRUNCATED. point and ctx are borrowed. Returns KMS_OK; KMS_ERR_INVALID_ARG (t, point
 * or sign NULL); KMS_ERR_AUTH (the signature does not verify against point); KMS_ERR_CRYPTO
 * (not a P-256 point; hashing); KMS_ERR_IO; or what sign returned.
 */
int kms_transcript_finish(struct kms_transcript *t, const uint8_t point[65],
			  kms_transcript_sign_fn sign, void *ctx) KMS_WUR;

/*
 * kms_transcript_abandon - append "ended: not signed (REASON)" if possible (reason: text as an
 * entry's, at most KMS_TRANSCRIPT_MAX_FIELD octets; NULL, or a reason that breaks these rules,
 * is written as "no reason given" / "reason not printable"), fsync, close, free. NULL is a no-op.
 */
void kms_transcript_abandon(struct kms_transcript *t, const char *reason);

/*
 * kms_transcript_fingerprint - the SHA-256 of the 65 octets of point, as 64 upper-case hex
 * digits and a NUL, into out. (The point is not checked: any 65 octets have a fingerprint.)
 */
void kms_transcript_fingerprint(const uint8_t point[65], char out[65]);

/*
 * kms_transcript_verify - check a whole transcript of len octets (data borrowed): its format
 * (every line ended by LF, UTF-8 without control characters), the header, entries numbered 1..
 * without gaps, times valid and not decreasing (from the start time on), exactly one signed-by
 * and one signature line at the end and nothing after them, the fingerprint of signed-by
 * matching its point, and the signature over the octets before the signature line with the
 * point of signed-by. It says nothing about who holds that key: the caller compares out_fpr
 * with the fingerprint announced at the ceremony.
 * On success out_fpr gets the signer's fingerprint (64 upper-case hex digits and a NUL) and
 * *out_entries the number of entries; on failure out_fpr is "" and *out_entries 0. err (may be
 * NULL with err_len 0) gets a reason naming the line, never quoting its bytes; "" on success.
 * Returns KMS_OK; KMS_ERR_PARSE (malformed); KMS_ERR_AUTH (the signature does not verify: the
 * file was modified, or signed by another key than the one it names); KMS_ERR_TRUNCATED (no
 * signature: an unfinished run, an abandoned run ("ended: not signed"), or a file cut off
 * (its last line has no LF) with nothing malformed before); KMS_ERR_TOO_LARGE (len over
 * KMS_TRANSCRIPT_MAX_FILE); KMS_ERR_INVALID_ARG (NULL arguments); KMS_ERR_NOMEM. A signed-by point
 * that is not on P-256 is KMS_ERR_PARSE.
 */
int kms_transcript_verify(const uint8_t *data, size_t len, char out_fpr[65], size_t *out_entries,
			  char *err, size_t err_len) KMS_WUR;

#endif /* KMS_TOOLS_TRANSCRIPT_H */
