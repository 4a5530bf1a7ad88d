/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signed ceremony transcript (transcript.h, docs/transcript.md).
 *
 * Writing: every line goes out with pwrite at the end this process knows of, then fsync, and
 * only then joins the running SHA-256 of the file. A line that could not be written whole is
 * cut off again (ftruncate), so that the file on disk always ends with a complete line; if even
 * that fails, the transcript refuses further entries. The signature covers the octets this
 * process wrote, not what it might read back: someone who edits the file during the run breaks
 * the signature instead of getting the edit signed.
 *
 * Reading (kms_transcript_verify): the file is outside input. The size is capped first, each
 * line's length is checked against the longest line of its kind before its bytes are looked
 * at, every line must be UTF-8 without control characters as a whole, and fields are read
 * through a bounded cursor. Hex is upper case only, so that no two spellings of a line verify.
 * Reasons name the line and never quote it.
 */
#include "tools/transcript.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/cbs.h"
#include "common/hex.h"
#include "hsm/keys.h"
#include "proto/mp.h"

#include "common/banned.h"

#define FORMAT_LINE    "KMS CEREMONY TRANSCRIPT 1"
#define TIME_LEN       20 /* YYYY-MM-DDTHH:MM:SSZ */
#define SEQ_MAX_DIGITS 20
#define POINT_LEN      65
#define FPR_HEX_LEN    64
#define SIG_LEN        64
#define P_SIGNED_BY    "signed-by: "
#define P_SIGNATURE    "signature: "
#define P_ENDED        "ended: not signed ("
/* The longest line of each kind, without its LF. */
#define ENTRY_MAX_LINE                                                                             \
	(SEQ_MAX_DIGITS + 1 + TIME_LEN + 1 + KMS_TRANSCRIPT_MAX_STEP + 2 + KMS_TRANSCRIPT_MAX_ENTRY)
#define SIGNED_BY_LINE (sizeof(P_SIGNED_BY) - 1 + 2 * POINT_LEN + 1 + FPR_HEX_LEN)
#define SIGNATURE_LINE (sizeof(P_SIGNATURE) - 1 + 2 * SIG_LEN)
#define ENDED_MAX_LINE (sizeof(P_ENDED) - 1 + KMS_TRANSCRIPT_MAX_FIELD + 1)
/* Room kept at the end of the file for the lines that end it (signed, or not). */
#define TAIL_RESERVE   (SIGNED_BY_LINE + 1 + SIGNATURE_LINE + 1)

/* The header's fields after the format line, in their order. */
static const char *const header_keys[] = {
	"ceremony: ", "operator: ", "version: ", "host: ", "started: "};
#define NUM_HEADER_KEYS (sizeof(header_keys) / sizeof(header_keys[0]))

struct kms_transcript {
	int fd;
	EVP_MD_CTX *md; /* owned: SHA-256 of every octet written so far */
	size_t len;     /* octets written (and fsync'ed) so far */
	uint64_t seq;   /* entries written */
	time_t last;    /* the time written on the last line */
	int broken;     /* the file may end in a partial line: write nothing more */
};

/* 1 if s (NUL-terminated, borrowed, may be NULL) is 1..max octets of text; its length in *len. */
static int
arg_text(const char *s, size_t max, size_t *out_len)
{
	size_t len;

	*out_len = 0;
	if (s == NULL) {
		return 0;
	}
	len = strnlen(s, max + 1);
	if (len == 0 || len > max || kms_mp_text_check((const uint8_t *)s, len) != KMS_OK) {
		return 0;
	}
	*out_len = len;
	return 1;
}

/* 1 if c may be in a step name. */
static int
step_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || c == '-';
}

static int
step_ok(const char *s)
{
	size_t i, len = strnlen(s, KMS_TRANSCRIPT_MAX_STEP + 1);

	if (len == 0 || len > KMS_TRANSCRIPT_MAX_STEP) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (!step_char((uint8_t)s[i])) {
			return 0;
		}
	}
	return 1;
}

/*
 * The time for the next line, never before the last one written (the verifier refuses times
 * that go back; a clock stepped back by NTP must not break a ceremony), as text into out.
 */
static int
next_time(struct kms_transcript *t, char out[TIME_LEN + 1])
{
	struct tm tm;
	time_t now = time(NULL);

	if (now == (time_t)-1) {
		return KMS_ERR_INTERNAL;
	}
	if (now < t->last) {
		now = t->last;
	}
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(out, TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != TIME_LEN) {
		return KMS_ERR_INTERNAL;
	}
	t->last = now;
	return KMS_OK;
}

/*
 * Append buf[0..len) at the end of the file, fsync, and hash it. On a failed write or fsync
 * the file is cut back to its previous end; if that fails, t is broken. KMS_OK, KMS_ERR_IO
 * (errno says why), KMS_ERR_CRYPTO.
 */
static int
put(struct kms_transcript *t, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int saved;

	if (t->broken) {
		errno = EIO;
		return KMS_ERR_IO;
	}
	while (done < len) {
		n = pwrite(t->fd, buf + done, len - done, (off_t)(t->len + done));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			if (n == 0) {
				errno = EIO;
			}
			goto fail;
		}
		done += (size_t)n;
	}
	if (fsync(t->fd) != 0) {
		goto fail;
	}
	if (EVP_DigestUpdate(t->md, buf, len) != 1) {
		t->broken = 1; /* the line is on disk but not in the hash */
		return KMS_ERR_CRYPTO;
	}
	t->len += len;
	return KMS_OK;
fail:
	saved = errno;
	if (ftruncate(t->fd, (off_t)t->len) != 0 || fsync(t->fd) != 0) {
		t->broken = 1;
	}
	errno = saved;
	return KMS_ERR_IO;
}

/* fsync the directory that holds path, so that the new file's name survives a crash too. */
static int
sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, r = KMS_OK;

	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = '\0';
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return KMS_ERR_IO;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		return KMS_ERR_IO;
	}
	/* Some file systems cannot sync a directory (EINVAL): nothing more to be done there. */
	if (fsync(fd) != 0 && errno != EINVAL) {
		r = KMS_ERR_IO;
	}
	(void)close(fd);
	return r;
}

static void
transcript_free(struct kms_transcript *t)
{
	if (t == NULL) {
		return;
	}
	if (t->fd >= 0) {
		(void)close(t->fd);
	}
	EVP_MD_CTX_free(t->md);
	free(t);
}

int
kms_transcript_create(struct kms_transcript **out, const char *path, const char *ceremony,
		      const char *operator_name, const char *version)
{
	struct kms_transcript *t = NULL;
	char host[KMS_TRANSCRIPT_MAX_FIELD + 1];
	char when[TIME_LEN + 1];
	char hdr[sizeof(FORMAT_LINE) + NUM_HEADER_KEYS * (16 + KMS_TRANSCRIPT_MAX_FIELD)];
	size_t len, host_len;
	int n, created = 0, saved_errno = 0;
	int r = KMS_ERR_INVALID_ARG;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	if (path == NULL || path[0] == '\0' ||
	    !arg_text(ceremony, KMS_TRANSCRIPT_MAX_FIELD, &len) ||
	    !arg_text(operator_name, KMS_TRANSCRIPT_MAX_FIELD, &len) ||
	    !arg_text(version, KMS_TRANSCRIPT_MAX_FIELD, &len)) {
		goto out;
	}
	/* The host name is the kernel's; anything it would not be is written as "unknown". */
	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) != 0 ||
	    !arg_text(host, KMS_TRANSCRIPT_MAX_FIELD, &host_len)) {
		snprintf(host, sizeof(host), "unknown");
	}

	r = KMS_ERR_NOMEM;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		goto out;
	}
	t->fd = -1;
	if ((t->md = EVP_MD_CTX_new()) == NULL) {
		goto out;
	}
	r = KMS_ERR_CRYPTO;
	if (EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	if ((r = next_time(t, when)) != KMS_OK) {
		goto out;
	}
	n = snprintf(hdr, sizeof(hdr), "%s\n%s%s\n%s%s\n%s%s\n%s%s\n%s%s\n", FORMAT_LINE,
		     header_keys[0], ceremony, header_keys[1], operator_name, header_keys[2],
		     version, header_keys[3], host, header_keys[4], when);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}

	t->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (t->fd < 0) {
		saved_errno = errno;
		r = KMS_ERR_IO;
		goto out;
	}
	created = 1;
	/* Exactly 0640 whatever the umask (auditors' group may read: the file holds no secret). */
	if (fchmod(t->fd, 0640) != 0 || (r = put(t, hdr, (size_t)n)) != KMS_OK ||
	    (r = sync_parent(path)) != KMS_OK) {
		saved_errno = errno;
		r = r == KMS_OK ? KMS_ERR_IO : r;
		goto out;
	}
	*out = t;
	t = NULL; /* transferred */
	r = KMS_OK;
out:
	if (t != NULL) {
		transcript_free(t);
		if (created) {
			(void)unlink(path);
		}
	}
	if (r != KMS_OK && saved_errno != 0) {
		errno = saved_errno;
	}
	return r;
}

int
kms_transcript_add(struct kms_transcript *t, const char *step, const char *fmt, ...)
{
	char text[KMS_TRANSCRIPT_MAX_ENTRY + 1];
	char line[ENTRY_MAX_LINE + 2];
	char when[TIME_LEN + 1];
	va_list ap;
	int n;

	if (t == NULL || step == NULL || fmt == NULL || !step_ok(step)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (t->broken) {
		errno = EIO;
		return KMS_ERR_IO;
	}
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 1 || n > KMS_TRANSCRIPT_MAX_ENTRY ||
	    kms_mp_text_check((const uint8_t *)text, (size_t)n) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if (next_time(t, when) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	n = snprintf(line, sizeof(line), "%" PRIu64 " %s %s: %s\n", t->seq + 1, when, step, text);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return KMS_ERR_INTERNAL;
	}
	/* Never write a file that the verifier would refuse for its size. */
	if (t->len + (size_t)n + TAIL_RESERVE > KMS_TRANSCRIPT_MAX_FILE) {
		return KMS_ERR_TOO_LARGE;
	}
	if ((n = put(t, line, (size_t)n)) != KMS_OK) {
		return n;
	}
	t->seq++;
	return KMS_OK;
}

void
kms_transcript_fingerprint(const uint8_t point[65], char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(point, POINT_LEN, md);
	if (kms_hex_encode(out, FPR_HEX_LEN + 1, md, sizeof(md)) != KMS_OK) {
		out[0] = '\0';
	}
}

/* Write the unsigned end of the run ("ended: not signed (REASON)"), if t can still write. */
static void
end_unsigned(struct kms_transcript *t, const char *reason)
{
	char line[ENDED_MAX_LINE + 2];
	size_t len;
	int n;

	if (t->fd < 0) {
		return;
	}
	if (reason == NULL) {
		reason = "no reason given";
	} else if (!arg_text(reason, KMS_TRANSCRIPT_MAX_FIELD, &len)) {
		reason = "reason not printable";
	}
	n = snprintf(line, sizeof(line), "%s%s)\n", P_ENDED, reason);
	if (n > 0 && (size_t)n < sizeof(line)) {
		(void)put(t, line, (size_t)n);
	}
}

void
kms_transcript_abandon(struct kms_transcript *t, const char *reason)
{
	if (t == NULL) {
		return;
	}
	end_unsigned(t, reason);
	transcript_free(t);
}

int
kms_transcript_finish(struct kms_transcript *t, const uint8_t point[65],
		      kms_transcript_sign_fn sign, void *ctx)
{
	char tail[SIGNED_BY_LINE + 1 + SIGNATURE_LINE + 2];
	char point_hex[2 * POINT_LEN + 1], fpr[FPR_HEX_LEN + 1], sig_hex[2 * SIG_LEN + 1];
	char reason[KMS_TRANSCRIPT_MAX_FIELD];
	uint8_t digest[SHA256_DIGEST_LENGTH], sig[SIG_LEN];
	EVP_MD_CTX *md = NULL;
	size_t signed_len;
	int n, r = KMS_ERR_INVALID_ARG;

	if (t == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (point == NULL || sign == NULL) {
		goto out;
	}
	if (t->broken) {
		r = KMS_ERR_IO;
		goto out;
	}
	r = KMS_ERR_INTERNAL;
	if (kms_hex_encode(point_hex, sizeof(point_hex), point, POINT_LEN) != KMS_OK) {
		goto out;
	}
	kms_transcript_fingerprint(point, fpr);
	n = snprintf(tail, sizeof(tail), "%s%s %s\n", P_SIGNED_BY, point_hex, fpr);
	if (n != (int)SIGNED_BY_LINE + 1) {
		goto out;
	}
	signed_len = (size_t)n;

	/* The digest of the file as it will be up to the signature line. */
	r = KMS_ERR_CRYPTO;
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_MD_CTX_copy_ex(md, t->md) != 1 ||
	    EVP_DigestUpdate(md, tail, signed_len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, NULL) != 1) {
		goto out;
	}
	memset(sig, 0, sizeof(sig));
	if ((r = sign(ctx, digest, sig)) != KMS_OK) {
		goto out;
	}
	/* A token that signed wrongly, or with another key, must not produce a transcript. */
	if ((r = kms_ecdsa_verify_point(point, digest, sizeof(digest), sig)) != KMS_OK) {
		goto out;
	}
	r = KMS_ERR_INTERNAL;
	if (kms_hex_encode(sig_hex, sizeof(sig_hex), sig, sizeof(sig)) != KMS_OK) {
		goto out;
	}
	n = snprintf(tail + signed_len, sizeof(tail) - signed_len, "%s%s\n", P_SIGNATURE, sig_hex);
	if (n != (int)SIGNATURE_LINE + 1) {
		goto out;
	}
	if ((r = put(t, tail, signed_len + (size_t)n)) != KMS_OK) {
		goto out;
	}
	r = close(t->fd) == 0 ? KMS_OK : KMS_ERR_IO;
	t->fd = -1;
out:
	if (r != KMS_OK) {
		snprintf(reason, sizeof(reason), "finish failed: %s", kms_strerror(r));
		end_unsigned(t, reason);
	}
	EVP_MD_CTX_free(md);
	transcript_free(t);
	return r;
}

/* --- verification --- */

enum phase {
	PH_FORMAT = 0,
	PH_HEADER,    /* the header fields: hdr_next says which comes next */
	PH_ENTRIES,   /* entries, or one of the end lines */
	PH_SIGNATURE, /* after signed-by: the signature line */
	PH_SIGNED,    /* after the signature: nothing more */
	PH_ENDED,     /* after "ended: not signed": nothing more */
};

struct verifier {
	enum phase phase;
	size_t hdr_next;
	size_t line;    /* the number of the current line, from 1 */
	size_t entries; /* entries seen */
	char last_time[TIME_LEN];
	uint8_t point[POINT_LEN];
	char fpr[FPR_HEX_LEN + 1];
	uint8_t sig[SIG_LEN];
	size_t signed_len; /* octets before the signature line */
	char *err;
	size_t err_len;
};

static int say(struct verifier *v, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int
say(struct verifier *v, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (v->err == NULL || v->err_len == 0) {
		return r;
	}
	n = snprintf(v->err, v->err_len, "line %zu: ", v->line);
	if (n < 0 || (size_t)n >= v->err_len) {
		return r;
	}
	va_start(ap, fmt);
	(void)vsnprintf(v->err + n, v->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

/* The longest line (without LF) that may come in the current phase. */
static size_t
max_line(const struct verifier *v)
{
	switch (v->phase) {
	case PH_FORMAT:
		return sizeof(FORMAT_LINE) - 1;
	case PH_HEADER:
		return 16 + KMS_TRANSCRIPT_MAX_FIELD;
	case PH_ENTRIES:
		return ENTRY_MAX_LINE; /* the longest of an entry, signed-by and ended */
	case PH_SIGNATURE:
		return SIGNATURE_LINE;
	default:
		return 0;
	}
}

/* 1 if the line in cbs starts with the NUL-terminated prefix p; the cursor then skips it. */
static int
take_prefix(struct kms_cbs *cbs, const char *p)
{
	size_t n = strlen(p);

	if (kms_cbs_len(cbs) < n || memcmp(cbs->data, p, n) != 0) {
		return 0;
	}
	return kms_cbs_skip(cbs, n) == KMS_OK;
}

static int
digits2(const uint8_t *s, unsigned int *out)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') {
		return 0;
	}
	*out = (unsigned int)(s[0] - '0') * 10u + (unsigned int)(s[1] - '0');
	return 1;
}

/* 1 if s[0..TIME_LEN) is a valid UTC time YYYY-MM-DDTHH:MM:SSZ (no leap second). */
static int
time_ok(const uint8_t *s)
{
	static const unsigned int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned int yh, yl, year, mon, day, hour, min, sec;

	if (!digits2(s, &yh) || !digits2(s + 2, &yl) || s[4] != '-' || !digits2(s + 5, &mon) ||
	    s[7] != '-' || !digits2(s + 8, &day) || s[10] != 'T' || !digits2(s + 11, &hour) ||
	    s[13] != ':' || !digits2(s + 14, &min) || s[16] != ':' || !digits2(s + 17, &sec) ||
	    s[19] != 'Z') {
		return 0;
	}
	year = yh * 100u + yl;
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 ||
	    sec > 59) {
		return 0;
	}
	if (mon == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) {
		return 0;
	}
	return 1;
}

/* A time field of the current line: valid and not before the previous one. */
static int
take_time(struct verifier *v, struct kms_cbs *cbs)
{
	if (kms_cbs_len(cbs) < TIME_LEN || !time_ok(cbs->data)) {
		return say(v, KMS_ERR_PARSE, "not a time YYYY-MM-DDTHH:MM:SSZ");
	}
	/* Fixed-width, zero-padded fields: the octets order as the times do. */
	if (v->last_time[0] != '\0' && memcmp(cbs->data, v->last_time, TIME_LEN) < 0) {
		return say(v, KMS_ERR_PARSE, "time goes back");
	}
	memcpy(v->last_time, cbs->data, TIME_LEN);
	return kms_cbs_skip(cbs, TIME_LEN) == KMS_OK ? KMS_OK : KMS_ERR_INTERNAL;
}

/* Exactly 2 * out_len upper-case hex digits from cbs into out. */
static int
take_hex(struct kms_cbs *cbs, uint8_t *out, size_t out_len)
{
	size_t i;

	if (kms_cbs_len(cbs) < 2 * out_len) {
		return 0;
	}
	for (i = 0; i < 2 * out_len; i++) {
		uint8_t c = cbs->data[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	if (kms_hex_decode(out, out_len, (const char *)cbs->data, 2 * out_len) != KMS_OK) {
		return 0;
	}
	return kms_cbs_skip(cbs, 2 * out_len) == KMS_OK;
}

/* "SEQ TIME STEP: TEXT" (the line is text already). */
static int
entry_line(struct verifier *v, struct kms_cbs *cbs)
{
	size_t seq = 0, nd = 0, ns = 0;
	uint8_t c;
	int r;

	while (kms_cbs_len(cbs) > 0 && cbs->data[0] >= '0' && cbs->data[0] <= '9') {
		if (nd == 0 && cbs->data[0] == '0') {
			return say(v, KMS_ERR_PARSE, "entry number with a leading zero");
		}
		if (++nd > SEQ_MAX_DIGITS || __builtin_mul_overflow(seq, 10u, &seq) ||
		    __builtin_add_overflow(seq, (size_t)(cbs->data[0] - '0'), &seq)) {
			return say(v, KMS_ERR_PARSE, "entry number out of range");
		}
		if (kms_cbs_skip(cbs, 1) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
	}
	if (nd == 0 || kms_cbs_get_u8(cbs, &c) != KMS_OK || c != ' ') {
		return say(v, KMS_ERR_PARSE, "not an entry");
	}
	if (seq != v->entries + 1) {
		return say(v, KMS_ERR_PARSE, "entry %zu where %zu was due", seq, v->entries + 1);
	}
	if ((r = take_time(v, cbs)) != KMS_OK) {
		return r;
	}
	if (kms_cbs_get_u8(cbs, &c) != KMS_OK || c != ' ') {
		return say(v, KMS_ERR_PARSE, "no space after the time");
	}
	while (kms_cbs_len(cbs) > 0 && step_char(cbs->data[0])) {
		if (++ns > KMS_TRANSCRIPT_MAX_STEP || kms_cbs_skip(cbs, 1) != KMS_OK) {
			return say(v, KMS_ERR_PARSE, "step name too long");
		}
	}
	if (ns == 0 || !take_prefix(cbs, ": ")) {
		return say(v, KMS_ERR_PARSE, "no step name [a-z-] and \": \"");
	}
	if (kms_cbs_len(cbs) < 1 || kms_cbs_len(cbs) > KMS_TRANSCRIPT_MAX_ENTRY) {
		return say(v, KMS_ERR_PARSE, "entry text of %zu octets (1..%d)", kms_cbs_len(cbs),
			   KMS_TRANSCRIPT_MAX_ENTRY);
	}
	v->entries++;
	return KMS_OK;
}

/* "signed-by: POINT FPR": the fingerprint must be that of the point. */
static int
signed_by_line(struct verifier *v, struct kms_cbs *cbs)
{
	uint8_t fpr_bin[SHA256_DIGEST_LENGTH];
	char want[FPR_HEX_LEN + 1];
	uint8_t c;

	if (kms_cbs_len(cbs) != SIGNED_BY_LINE - (sizeof(P_SIGNED_BY) - 1) ||
	    !take_hex(cbs, v->point, POINT_LEN) || kms_cbs_get_u8(cbs, &c) != KMS_OK || c != ' ' ||
	    !take_hex(cbs, fpr_bin, sizeof(fpr_bin)) || kms_cbs_expect_end(cbs) != KMS_OK) {
		return say(v, KMS_ERR_PARSE,
			   "signed-by is not 130 and 64 upper-case hex digits apart by a space");
	}
	if (v->point[0] != 0x04) {
		return say(v, KMS_ERR_PARSE, "signed-by: not an uncompressed point");
	}
	kms_transcript_fingerprint(v->point, want);
	if (kms_hex_encode(v->fpr, sizeof(v->fpr), fpr_bin, sizeof(fpr_bin)) != KMS_OK) {
		return KMS_ERR_INTERNAL;
	}
	if (strcmp(want, v->fpr) != 0) {
		return say(v, KMS_ERR_PARSE, "signed-by: the fingerprint is not the point's");
	}
	return KMS_OK;
}

/* One complete line (cbs: its bytes without the LF), in the current phase. */
static int
verify_line(struct verifier *v, struct kms_cbs *cbs)
{
	switch (v->phase) {
	case PH_FORMAT:
		if (!take_prefix(cbs, FORMAT_LINE) || kms_cbs_len(cbs) != 0) {
			return say(v, KMS_ERR_PARSE, "not \"" FORMAT_LINE "\"");
		}
		v->phase = PH_HEADER;
		return KMS_OK;
	case PH_HEADER:
		if (!take_prefix(cbs, header_keys[v->hdr_next])) {
			return say(v, KMS_ERR_PARSE, "not the header field \"%s\"",
				   header_keys[v->hdr_next]);
		}
		if (v->hdr_next + 1 == NUM_HEADER_KEYS) { /* started: */
			int r = take_time(v, cbs);

			if (r != KMS_OK) {
				return r;
			}
			if (kms_cbs_len(cbs) != 0) {
				return say(v, KMS_ERR_PARSE, "octets after the start time");
			}
			v->phase = PH_ENTRIES;
			return KMS_OK;
		}
		if (kms_cbs_len(cbs) < 1 || kms_cbs_len(cbs) > KMS_TRANSCRIPT_MAX_FIELD) {
			return say(v, KMS_ERR_PARSE, "header value of %zu octets (1..%d)",
				   kms_cbs_len(cbs), KMS_TRANSCRIPT_MAX_FIELD);
		}
		v->hdr_next++;
		return KMS_OK;
	case PH_ENTRIES:
		if (take_prefix(cbs, P_SIGNED_BY)) {
			int r = signed_by_line(v, cbs);

			if (r == KMS_OK) {
				v->phase = PH_SIGNATURE;
			}
			return r;
		}
		if (take_prefix(cbs, P_ENDED)) {
			if (kms_cbs_len(cbs) < 2 ||
			    kms_cbs_len(cbs) > KMS_TRANSCRIPT_MAX_FIELD + 1 ||
			    cbs->data[cbs->len - 1] != ')') {
				return say(v, KMS_ERR_PARSE, "malformed \"ended\" line");
			}
			v->phase = PH_ENDED;
			return KMS_OK;
		}
		return entry_line(v, cbs);
	case PH_SIGNATURE:
		if (!take_prefix(cbs, P_SIGNATURE) || !take_hex(cbs, v->sig, SIG_LEN) ||
		    kms_cbs_expect_end(cbs) != KMS_OK) {
			return say(v, KMS_ERR_PARSE,
				   "not \"signature: \" and 128 upper-case hex digits");
		}
		v->phase = PH_SIGNED;
		return KMS_OK;
	case PH_SIGNED:
		return say(v, KMS_ERR_PARSE, "a line after the signature");
	case PH_ENDED:
		return say(v, KMS_ERR_PARSE, "a line after \"ended\"");
	}
	return KMS_ERR_INTERNAL;
}

/* A last line without its LF (a cut-off file, or a changed LF): len octets at p. */
static int
cut_line(struct verifier *v, const uint8_t *p, size_t len)
{
	size_t i;

	if (v->phase == PH_SIGNED || v->phase == PH_ENDED) {
		return say(v, KMS_ERR_PARSE, "octets after the last line");
	}
	if (len > max_line(v)) {
		return say(v, KMS_ERR_PARSE, "no line end within %zu octets", max_line(v));
	}
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			return say(v, KMS_ERR_PARSE, "a control character");
		}
	}
	return say(v, KMS_ERR_TRUNCATED, "cut off (no line end): the file is incomplete");
}

int
kms_transcript_verify(const uint8_t *data, size_t len, char out_fpr[65], size_t *out_entries,
		      char *err, size_t err_len)
{
	struct verifier v;
	struct kms_cbs cbs, ln;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	const uint8_t *nl;
	size_t line_len;
	int r;

	if (out_fpr != NULL) {
		out_fpr[0] = '\0';
	}
	if (out_entries != NULL) {
		*out_entries = 0;
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	if (out_fpr == NULL || out_entries == NULL || (data == NULL && len > 0) ||
	    (err == NULL && err_len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&v, 0, sizeof(v));
	v.err = err;
	v.err_len = err_len;
	if (len > KMS_TRANSCRIPT_MAX_FILE) {
		return say(&v, KMS_ERR_TOO_LARGE, "the file has more than %u octets",
			   KMS_TRANSCRIPT_MAX_FILE);
	}
	kms_cbs_init(&cbs, data, len);
	while (kms_cbs_len(&cbs) > 0) {
		v.line++;
		nl = memchr(cbs.data, '\n', kms_cbs_len(&cbs));
		if (nl == NULL) {
			return cut_line(&v, cbs.data, kms_cbs_len(&cbs));
		}
		line_len = (size_t)(nl - cbs.data);
		if (v.phase == PH_SIGNATURE) {
			v.signed_len = len - kms_cbs_len(&cbs);
		}
		if (kms_cbs_get_bytes(&cbs, &ln, line_len) != KMS_OK ||
		    kms_cbs_skip(&cbs, 1) != KMS_OK) {
			return KMS_ERR_INTERNAL;
		}
		if (v.phase == PH_SIGNED || v.phase == PH_ENDED) {
			return verify_line(&v, &ln);
		}
		if (line_len > max_line(&v)) {
			return say(&v, KMS_ERR_PARSE, "longer than %zu octets", max_line(&v));
		}
		if (kms_mp_text_check(ln.data, ln.len) != KMS_OK) {
			return say(&v, KMS_ERR_PARSE, "not UTF-8 text without control characters");
		}
		if ((r = verify_line(&v, &ln)) != KMS_OK) {
			return r;
		}
	}
	v.line++;
	switch (v.phase) {
	case PH_FORMAT:
	case PH_HEADER:
		return say(&v, KMS_ERR_TRUNCATED, "the header is incomplete");
	case PH_ENTRIES:
		return say(&v, KMS_ERR_TRUNCATED, "not signed: the run did not finish");
	case PH_SIGNATURE:
		return say(&v, KMS_ERR_TRUNCATED, "no signature line after signed-by");
	case PH_ENDED:
		v.line--;
		return say(&v, KMS_ERR_TRUNCATED, "not signed: the run was abandoned (\"ended\")");
	case PH_SIGNED:
		break;
	}
	v.line--;
	SHA256(data, v.signed_len, digest);
	r = kms_ecdsa_verify_point(v.point, digest, sizeof(digest), v.sig);
	if (r == KMS_ERR_CRYPTO) {
		return say(&v, KMS_ERR_PARSE, "the signed-by point is not on P-256");
	}
	if (r == KMS_ERR_AUTH) {
		return say(&v, KMS_ERR_AUTH, "the signature does not verify: the file was changed");
	}
	if (r != KMS_OK) {
		return r;
	}
	memcpy(out_fpr, v.fpr, sizeof(v.fpr));
	*out_entries = v.entries;
	return KMS_OK;
}
