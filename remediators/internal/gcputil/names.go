package gcputil

import (
	"fmt"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
)

// ValidProject accepts a project ID (lowercase letters, digits and "-"), a project number,
// and the legacy domain-scoped form example.com:project.
func ValidProject(s string) bool {
	if len(s) == 0 || len(s) > 100 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return s != "." && s != ".."
}

// checkNames returns an ErrInvalidRequest naming the first of project and names that
// Compute Engine could not have given a resource. CAI hands over whatever it holds, and a
// hostile name may hold "..", "/" or a newline: it is refused before it is put in a URL, so
// that no request goes where the name steers it.
func checkNames(full, project string, names ...string) error {
	if !ValidProject(project) {
		return fmt.Errorf("%w: the project %q in %q is not a project ID; zerodrift does not send it to the API",
			remediators.ErrInvalidRequest, project, full)
	}
	for _, n := range names {
		if !inventory.IsComputeName(n) {
			return fmt.Errorf("%w: %q in %q is not a Compute Engine name (1 to 63 of a-z, 0-9 and \"-\", starting with a letter); zerodrift does not send it to the API",
				remediators.ErrInvalidRequest, n, full)
		}
	}
	return nil
}

// ValidNumber accepts a folder's or an organization's number.
func ValidNumber(s string) bool {
	return s != "" && len(s) <= 32 && strings.Trim(s, "0123456789") == ""
}

// ValidServiceAccountKey accepts the parts of a key's name, projects/P/serviceAccounts/A/keys/K:
// P a project (or "-", any project), A an account's e-mail address or unique ID, and K a key
// ID, all in lower case as IAM gives them.
func ValidServiceAccountKey(project, account, key string) bool {
	if project != "-" && !ValidProject(project) {
		return false
	}
	if len(account) == 0 || len(account) > 256 || !isLowerAlnum(account[0]) || strings.Contains(account, "..") {
		return false
	}
	for i := 0; i < len(account); i++ {
		if c := account[i]; !isLowerAlnum(c) && !strings.ContainsRune("@._-", rune(c)) {
			return false
		}
	}
	if len(key) == 0 || len(key) > 128 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !isLowerAlnum(key[i]) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
