package problems

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// YAML reads an error message of gopkg.in/yaml.v3 about the document src and returns the
// line it is about, counted from 1, and the message without its "yaml: " and "line N: "
// prefixes. yaml.v3 names lines unevenly, so the line is worked out where it does not:
//   - its parser counts lines from 0 ("did not find expected key" on the third line says
//     line 2), its scanner and decoder from 1: the parser's are shifted, and a line past
//     the end of the input (where an unclosed bracket is found missing) is its last line;
//   - it names no line for an error on the first line, nor for a character its reader
//     rejects (invalid UTF-8, a control character) or an alias to an unknown anchor: the line
//     is that of the first rejected character, of the first such alias, or else 1.
func YAML(msg string, src []byte) (line int, text string) {
	text = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(text, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				if isParserError(after) {
					n++
				}
				// An error at the end of the input can be placed on the line after it.
				return min(n, max(1, lineAt(src, len(bytes.TrimRight(src, "\r\n"))))), after
			}
		}
	}
	if l := unreadableLine(src); l > 0 && isReaderError(text) {
		return l, text
	}
	if name, ok := strings.CutPrefix(text, "unknown anchor '"); ok {
		alias := regexp.MustCompile(`\*` + regexp.QuoteMeta(strings.TrimSuffix(name, "' referenced")) + `([\s,\]}]|$)`)
		if loc := alias.FindIndex(src); loc != nil {
			return lineAt(src, loc[0]), text
		}
	}
	return 1, text
}

// isParserError reports whether a message comes from yaml.v3's parser (which counts lines
// from 0) rather than from its scanner or decoder.
func isParserError(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// isReaderError reports whether a message is about a character yaml.v3's reader rejects.
func isReaderError(msg string) bool {
	return strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16") ||
		strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode character")
}

// unreadableLine is the line of the first character of src that yaml.v3's reader rejects
// (invalid UTF-8, or not printable in YAML's sense), 0 when there is none.
func unreadableLine(src []byte) int {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		printable := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= utf8.MaxRune
		if r == utf8.RuneError && size <= 1 || !printable {
			return lineAt(src, i)
		}
		i += size
	}
	return 0
}

// lineAt is the line, from 1, of the byte at offset off of src, counted as YAML does:
// "\r\n", "\n", "\r", U+0085, U+2028 and U+2029 each end a line.
func lineAt(src []byte, off int) int {
	line := 1
	for i, r := range string(src[:off]) {
		switch r {
		case '\r':
			if i+1 >= off || src[i+1] != '\n' {
				line++
			}
		case '\n', 0x85, 0x2028, 0x2029:
			line++
		}
	}
	return line
}
