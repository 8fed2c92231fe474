package gcputil

import (
	"fmt"

	"github.com/zerodrift/zerodrift/remediators"
)

// Compute Engine names its resources by RFC 1035: 1 to 63 characters of a-z, 0-9 and "-",
// starting with a letter and not ending with "-". A name from the cloud that is not one
// (CAI hands over whatever it holds, and a hostile one may hold "..", "/" or a newline) is
// refused before it is put in a URL, so that no request goes where the name steers it.
func validName(s string) bool {
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

// validProject accepts a project ID (lowercase letters, digits and "-"), a project number,
// and the legacy domain-scoped form example.com:project.
func validProject(s string) bool {
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
// Compute Engine could not have given a resource.
func checkNames(full, project string, names ...string) error {
	if !validProject(project) {
		return fmt.Errorf("%w: the project %q in %q is not a project ID; zerodrift does not send it to the API",
			remediators.ErrInvalidRequest, project, full)
	}
	for _, n := range names {
		if !validName(n) {
			return fmt.Errorf("%w: %q in %q is not a Compute Engine name (1 to 63 of a-z, 0-9 and \"-\", starting with a letter); zerodrift does not send it to the API",
				remediators.ErrInvalidRequest, n, full)
		}
	}
	return nil
}
