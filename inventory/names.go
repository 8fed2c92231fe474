package inventory

// IsComputeName reports whether s is a name Compute Engine gives its resources (RFC 1035):
// 1 to 63 characters of a-z, 0-9 and "-", starting with a letter and not ending with "-".
func IsComputeName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
