/*
 * utf8: recognising well-formed UTF-8, for the writers of logs that
 * escape whatever a client sent that is not.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stddef.h>

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence that starts s, of
 * which len bytes are available; 0 when s[0] starts none (RFC 3629 section
 * 4): a lone continuation byte, an overlong form, a surrogate, a value
 * above U+10FFFF, a sequence cut short, C0, C1 or F5 to FF.  len must be
 * at least 1.
 */
size_t utf8_seq_len(const unsigned char *s, size_t len);

#endif /* POSTERN_UTF8_H */
