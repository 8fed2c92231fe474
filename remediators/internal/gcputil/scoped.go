package gcputil

import (
	"fmt"
	"strings"

	"github.com/zerodrift/zerodrift/remediators"
)

// ScopedRef names a regional or zonal compute resource: its project, its scope's name (a
// region or a zone) and its own name.
type ScopedRef struct {
	Project, Scope, Name string
	// Kind is "regions" or "zones"; Plural the collection, e.g. "subnetworks".
	Kind, Plural string
}

// String is the resource's path, projects/P/regions/R/subnetworks/S.
func (r ScopedRef) String() string {
	return "projects/" + r.Project + "/" + r.Kind + "/" + r.Scope + "/" + r.Plural + "/" + r.Name
}

// FullName is the resource's full name, //compute.googleapis.com/projects/P/....
func (r ScopedRef) FullName() string { return ComputePrefix + r.String() }

// ParseRegionalName splits the full name of a regional compute resource,
// //compute.googleapis.com/projects/P/regions/R/PLURAL/NAME.
func ParseRegionalName(full, plural string) (ScopedRef, error) {
	return parseScoped(full, "regions", plural)
}

// ParseZonalName splits the full name of a zonal compute resource,
// //compute.googleapis.com/projects/P/zones/Z/PLURAL/NAME.
func ParseZonalName(full, plural string) (ScopedRef, error) {
	return parseScoped(full, "zones", plural)
}

func parseScoped(full, kind, plural string) (ScopedRef, error) {
	rest, ok := strings.CutPrefix(full, ComputePrefix)
	segs := strings.Split(rest, "/")
	if !ok || len(segs) != 6 || segs[0] != "projects" || segs[2] != kind || segs[4] != plural ||
		segs[1] == "" || segs[3] == "" || segs[5] == "" {
		return ScopedRef{}, fmt.Errorf("%w: %q is not %sprojects/PROJECT/%s/%s/%s/NAME",
			remediators.ErrInvalidRequest, full, ComputePrefix, kind, strings.ToUpper(strings.TrimSuffix(kind, "s")), plural)
	}
	if err := checkNames(full, segs[1], segs[3], segs[5]); err != nil {
		return ScopedRef{}, err
	}
	return ScopedRef{Project: segs[1], Kind: kind, Scope: segs[3], Plural: plural, Name: segs[5]}, nil
}

// ParseProjectName splits the full name of a project's Compute Engine settings,
// //compute.googleapis.com/projects/P.
func ParseProjectName(full string) (string, error) {
	rest, ok := strings.CutPrefix(full, ComputePrefix+"projects/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", fmt.Errorf("%w: %q is not %sprojects/PROJECT", remediators.ErrInvalidRequest, full, ComputePrefix)
	}
	if err := checkNames(full, rest); err != nil {
		return "", err
	}
	return rest, nil
}

// IsPreconditionFailed reports whether err is an API's 412 (compute's conditionNotMet: a
// stale fingerprint).
func IsPreconditionFailed(err error) bool { return HTTPStatus(err) == 412 }
