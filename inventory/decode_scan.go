package inventory

import (
	"hash/maphash"
	"math/bits"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the JSON primitives of the fast CAI decoder: a validating scanner that
// works on a complete byte slice and gives up (returns false) on anything it does not
// handle, so that the caller can fall back to encoding/json, which then decides. It
// accepts exactly the syntax encoding/json accepts: the same white space, string escapes,
// number grammar and literals; bytes of 0x80 and above pass through unchecked, as they do
// in encoding/json's scanner.

// maxSkipDepth bounds the nesting the scanner follows; deeper values are left to
// encoding/json, whose own limit is 10000.
const maxSkipDepth = 512

const (
	swarLSB = 0x0101010101010101
	swarMSB = 0x8080808080808080
)

// specialBytes marks, with the high bit of each byte, the bytes of x that end the plain
// run of a string: a quote, a backslash or a control character. The lowest mark is exact
// (a byte above a marked one may be marked falsely, through the borrow). Xoring with 0x02
// maps the quote and the control characters, and only them, below 0x21; xoring with the
// backslash zeroes it; neither changes the high bit, so one mask of ^x serves both.
func specialBytes(x uint64) uint64 {
	q := x ^ (swarLSB * 0x02)
	s := x ^ (swarLSB * '\\')
	return ((q - swarLSB*0x21) | (s - swarLSB)) &^ x & swarMSB
}

// isSpace reports JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// skipSpace returns the index of the first byte at or after i that is not white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index of the closing quote of a string whose contents start at i
// (just after the opening quote), and whether the contents hold an escape or a byte of
// 0x80 or above, that is whether they must be unquoted rather than taken as they are. It
// returns scanBad for an invalid string and scanShort for one that b cuts off.
func stringEnd(b []byte, i int) (end int, special bool) {
	var high uint64 // the bytes read, or'ed, for their high bits
	for {
		// Eight bytes at a time: find a quote, a backslash or a control character.
		for ; i+8 <= len(b); i += 8 {
			x := load64(b, i)
			if m := specialBytes(x); m != 0 {
				n := bits.TrailingZeros64(m) &^ 7 // bit offset of the byte found
				high |= x & (1<<n - 1)
				i += n >> 3
				goto found
			}
			high |= x
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c == '"' || c == '\\' || c < 0x20 {
				goto found
			}
			high |= uint64(c)
		}
		return scanShort, special || high&swarMSB != 0
	found:
		if b[i] == '"' {
			return i, special || high&swarMSB != 0
		}
		special = true
		if i = skipEscape(b, i); i < 0 {
			return i, special
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// numberEnd returns the index just after the JSON number starting at i, or scanBad, or
// scanShort when b ends where the number needs another digit.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return scanShort
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return scanBad
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) {
			return scanShort
		}
		if b[i] < '0' || b[i] > '9' {
			return scanBad
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return scanShort
		}
		if b[i] < '0' || b[i] > '9' {
			return scanBad
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	return i
}

// literalEnd returns the index just after the literal true, false or null at i, or
// scanBad, or scanShort when b ends within it.
func literalEnd(b []byte, i int) int {
	var lit string
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	case 'n':
		lit = "null"
	default:
		return scanBad
	}
	for j := 1; j < len(lit); j++ {
		if i+j >= len(b) {
			return scanShort
		}
		if b[i+j] != lit[j] {
			return scanBad
		}
	}
	return i + len(lit)
}

// Results of the scanning functions besides an index: the input is invalid JSON (or
// nested too deep to follow), or it ends where the value needs more bytes.
const (
	scanBad   = -1
	scanShort = -2
)

// skipValue validates the JSON value starting at i (white space before it is skipped) and
// returns the index just after it, scanBad when the value is invalid or nested deeper than
// maxSkipDepth, or scanShort when b ends before the value does. It is the decoder's inner
// loop (most bytes of a record are in resource.data, which is only validated): compact
// JSON takes the short paths, and strings are scanned eight bytes at a time.
func skipValue(b []byte, i int) int {
	// stack holds one bit per open container: 1 for an object, 0 for an array.
	var stack [maxSkipDepth / 64]uint64
	depth := 0
	object := false // whether the innermost container is an object
	var c byte

value:
	if i >= len(b) {
		return scanShort
	}
	if c = b[i]; c <= ' ' {
		if i = skipSpace(b, i); i >= len(b) {
			return scanShort
		}
		c = b[i]
	}
	switch c {
	case '"':
		i++
		goto valueString
	case '{', '[':
		i++
		if i = skipSpace(b, i); i >= len(b) {
			return scanShort
		}
		if (c == '{' && b[i] == '}') || (c == '[' && b[i] == ']') {
			i++
			goto afterValue // an empty container is a complete value
		}
		if depth == maxSkipDepth {
			return scanBad
		}
		object = c == '{'
		if object {
			stack[depth>>6] |= 1 << (depth & 63)
		} else {
			stack[depth>>6] &^= 1 << (depth & 63)
		}
		depth++
		if object {
			goto key
		}
		goto value
	case 't', 'f', 'n':
		if i = literalEnd(b, i); i < 0 {
			return i
		}
		goto afterValue
	default:
		if i = numberEnd(b, i); i < 0 {
			return i
		}
		goto afterValue
	}

key: // at the opening quote of a key, or white space before it
	if i >= len(b) || b[i] != '"' {
		if i = skipSpace(b, i); i >= len(b) {
			return scanShort
		}
		if b[i] != '"' {
			return scanBad
		}
	}
	i++
	// The key's string, then its colon.
	for {
		if i+8 <= len(b) {
			if m := specialBytes(load64(b, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
			} else {
				i += 8
				continue
			}
		} else {
			for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
				i++
			}
			if i >= len(b) {
				return scanShort
			}
		}
		if b[i] == '"' {
			break
		}
		if i = skipEscape(b, i); i < 0 {
			return i
		}
	}
	i++
	if i < len(b) && b[i] == ':' {
		i++
		goto value
	}
	if i = skipSpace(b, i); i >= len(b) {
		return scanShort
	}
	if b[i] != ':' {
		return scanBad
	}
	i++
	goto value

valueString: // in a string value, i past the opening quote
	for {
		if i+8 <= len(b) {
			if m := specialBytes(load64(b, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
			} else {
				i += 8
				for i+16 <= len(b) {
					if m := specialBytes(load64(b, i)); m != 0 {
						i += bits.TrailingZeros64(m) >> 3
						goto valueSpecial
					}
					if m := specialBytes(load64(b, i+8)); m != 0 {
						i += 8 + bits.TrailingZeros64(m)>>3
						goto valueSpecial
					}
					i += 16
				}
				continue
			}
		} else {
			for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
				i++
			}
			if i >= len(b) {
				return scanShort
			}
		}
	valueSpecial:
		if b[i] == '"' {
			break
		}
		if i = skipEscape(b, i); i < 0 {
			return i
		}
	}
	i++

afterValue: // after a value: close containers or move to the next member
	if depth == 0 {
		return i
	}
	if i >= len(b) || b[i] <= ' ' {
		if i = skipSpace(b, i); i >= len(b) {
			return scanShort
		}
	}
	switch c = b[i]; {
	case c == ',':
		i++
		if object {
			goto key
		}
		goto value
	case object && c == '}', !object && c == ']':
		i++
		depth--
		if depth > 0 {
			object = stack[(depth-1)>>6]&(1<<((depth-1)&63)) != 0
		}
		goto afterValue
	}
	return scanBad
}

// skipEscape validates the escape or the control character at b[i] in a string and returns
// the index after the escape, scanBad or scanShort.
func skipEscape(b []byte, i int) int {
	if b[i] != '\\' {
		return scanBad // a control character
	}
	if i+1 >= len(b) {
		return scanShort
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		for j := i + 2; j < i+6; j++ {
			if j >= len(b) {
				return scanShort
			}
			if !isHex(b[j]) {
				return scanBad
			}
		}
		return i + 6
	}
	return scanBad
}

// unquote returns the contents of a JSON string as encoding/json decodes them: escapes
// resolved, invalid UTF-8 and lone surrogates replaced by U+FFFD. s holds the contents
// between the quotes, already validated by stringEnd. buf is reused for the result.
func unquote(s, buf []byte) []byte {
	b := buf[:0]
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if rr1 := getu4(s[r:]); rr1 >= 0 {
						if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
							r += 6
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // '"', '\\', '/'
				b = append(b, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return b
}

// getu4 decodes the \u escape and its four hex digits at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// foldsToAny reports whether key, which matched none of known exactly, could still be
// matched by encoding/json's case-insensitive field matching: it equals one of known
// ignoring ASCII case. Keys holding bytes above 0x7F (some runes fold to ASCII letters)
// never get here: nextKey refuses them.
func foldsToAny(key []byte, known ...string) bool {
	for _, k := range known {
		if len(k) == len(key) && equalFoldASCII(key, k) {
			return true
		}
	}
	return false
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range len(s) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseInt reads a JSON number that encoding/json would store in an int or int64 without
// error: an integer of at most 18 digits. Others (fractions, exponents, long numbers) are
// left to encoding/json.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseTimeZ parses the usual form of an RFC 3339 time in UTC,
// 2006-01-02T15:04:05[.fraction]Z, exactly as time.Parse does; it returns false for any
// other form, which the caller leaves to time.Parse.
func parseTimeZ(s []byte) (time.Time, bool) {
	year, month, day, ok := parseDate(s)
	if !ok {
		return time.Time{}, false
	}
	clock, ok := parseClockZ(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Add(clock), true
}

// parseDate reads the date of 2006-01-02T15:04:05[.fraction]Z, checked as time.Parse does.
func parseDate(s []byte) (year, month, day int, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' {
		return 0, 0, 0, false
	}
	year, ok = parseDigits(s[0:4], 0, 9999)
	month, ok2 := parseDigits(s[5:7], 1, 12)
	if !ok || !ok2 {
		return 0, 0, 0, false
	}
	day, ok = parseDigits(s[8:10], 1, daysIn(time.Month(month), year))
	return year, month, day, ok
}

// parseClockZ reads the time of day of 2006-01-02T15:04:05[.fraction]Z, checked as
// time.Parse does: at most nine digits of the fraction count, as time.Parse truncates.
func parseClockZ(s []byte) (time.Duration, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[len(s)-1] != 'Z' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	hour, ok1 := parseDigits(s[11:13], 0, 23)
	minute, ok2 := parseDigits(s[14:16], 0, 59)
	sec, ok3 := parseDigits(s[17:19], 0, 59)
	if !ok1 || !ok2 || !ok3 {
		return 0, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return 0, false
		}
		digits := frac[1:]
		for _, c := range digits {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		digits = digits[:min(len(digits), 9)]
		for _, c := range digits {
			nsec = nsec*10 + int(c-'0')
		}
		for range 9 - len(digits) {
			nsec *= 10
		}
	}
	return time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(nsec), true
}

// parseDigits reads b, decimal digits, as a number in [lo, hi].
func parseDigits(b []byte, lo, hi int) (int, bool) {
	x := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, lo <= x && x <= hi
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// interner shares the strings that repeat across assets (asset types, ancestors, parents,
// roles, members, ports...) so that each is allocated once. It is a direct-mapped cache of
// fixed size: a collision replaces the older entry, so memory stays bounded.
type interner struct {
	tab [internSize]string
}

const (
	internSize   = 4096
	internMaxLen = 128
)

var internSeed = maphash.MakeSeed()

// str returns b as a string, shared with earlier equal strings when it can be.
func (t *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	e := &t.tab[maphash.Bytes(internSeed, b)&(internSize-1)]
	if *e == string(b) {
		return *e
	}
	s := string(b)
	*e = s
	return s
}
