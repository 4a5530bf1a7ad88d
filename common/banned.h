/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_BANNED_H
#define KMS_COMMON_BANNED_H

/*
 * Functions the project does not use (STYLE.md section 10). Every project .c file, tests
 * included, includes this header LAST, after every system and third-party header: a poisoned
 * identifier is an error wherever it appears after the pragma, except inside macros defined
 * before it, so system headers that mention these names must come first. Give the include a
 * blank line of its own before it, or clang-format sorts it up into the project's block.
 *
 * Instead of:  strcpy strcat sprintf vsprintf   use snprintf / memcpy with explicit lengths;
 *              gets                             fgets or getline;
 *              strtok                           a struct kms_cbs cursor, or strtok_r on a copy;
 *              atoi atol                        strtoul/strtol with an end-pointer and range check;
 *              alloca                           a fixed-size array or the heap (no VLAs either);
 *              rand                             RAND_bytes (OpenSSL).
 * memcmp on secrets cannot be poisoned (it is fine on public data): use kms_ct_memeq().
 */
#if defined(__GNUC__)
/* Poisoning a macro warns (an error under -Werror): <stdlib.h> defines alloca as one. */
#undef strcpy
#undef strcat
#undef sprintf
#undef vsprintf
#undef gets
#undef strtok
#undef atoi
#undef atol
#undef alloca
#undef rand
#pragma GCC poison strcpy strcat sprintf vsprintf gets strtok atoi atol alloca rand
#endif

#endif /* KMS_COMMON_BANNED_H */
