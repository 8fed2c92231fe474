package iac

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// quote writes s as an HCL quoted string that evaluates to s exactly: quotes, backslashes
// and control characters are escaped, and "${" and "%{" are doubled so that text from the
// cloud can never become an interpolation or a template directive. Invalid UTF-8 becomes
// U+FFFD (HCL source must be UTF-8).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		next := ""
		if i+size < len(s) {
			next = s[i+size:]
		}
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\uFFFD`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(next, "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}
