package gcputil

import (
	"errors"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/remediators"
)

func TestScopedNames(t *testing.T) {
	r, err := ParseRegionalName("//compute.googleapis.com/projects/p/regions/us-central1/subnetworks/s", "subnetworks")
	if err != nil || r.Project != "p" || r.Scope != "us-central1" || r.Name != "s" ||
		r.String() != "projects/p/regions/us-central1/subnetworks/s" || r.FullName() != "//compute.googleapis.com/projects/p/regions/us-central1/subnetworks/s" {
		t.Errorf("ParseRegionalName = %+v, %v", r, err)
	}
	z, err := ParseZonalName("//compute.googleapis.com/projects/p/zones/us-central1-a/instances/i", "instances")
	if err != nil || z.Scope != "us-central1-a" || z.String() != "projects/p/zones/us-central1-a/instances/i" {
		t.Errorf("ParseZonalName = %+v, %v", z, err)
	}
	for _, bad := range []string{
		"//compute.googleapis.com/projects/p/zones/us-central1-a/subnetworks/s",
		"//compute.googleapis.com/projects/p/regions/us-central1/subnetworks/",
		"//compute.googleapis.com/projects/p/regions/us-central1/subnetworks/s/x",
		"projects/p/regions/us-central1/subnetworks/s",
		"//compute.googleapis.com/projects/p/regions/us-central1/networks/s",
	} {
		if _, err := ParseRegionalName(bad, "subnetworks"); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("ParseRegionalName(%q): %v", bad, err)
		}
	}
	if p, err := ParseProjectName("//compute.googleapis.com/projects/p"); p != "p" || err != nil {
		t.Errorf("ParseProjectName = %q, %v", p, err)
	}
	for _, bad := range []string{"//compute.googleapis.com/projects/", "//compute.googleapis.com/projects/p/global", "//cloudresourcemanager.googleapis.com/projects/p"} {
		if _, err := ParseProjectName(bad); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("ParseProjectName(%q): %v", bad, err)
		}
	}
}

// A name Compute Engine could not have given a resource is refused before it reaches a URL:
// the client would otherwise send "..", a newline or markup to the API as a path.
func TestHostileNamesAreRefused(t *testing.T) {
	long := "a" + strings.Repeat("b", 62)
	for _, good := range []string{"allow-ssh", "a", "fw-1", long} {
		if _, _, err := ParseGlobalName(GlobalName("acme-prod", "firewalls", good), "firewalls"); err != nil {
			t.Errorf("ParseGlobalName(%q): %v", good, err)
		}
	}
	for _, p := range []string{"acme-prod", "123456789012", "example.com:acme-prod"} {
		if _, err := ParseProjectName(ComputePrefix + "projects/" + p); err != nil {
			t.Errorf("ParseProjectName(%q): %v", p, err)
		}
	}
	for _, bad := range []string{"..", ".", "<img src=x onerror=alert(1)>", "a\nb", "Allow-SSH", "1st", "a-", "-a",
		long + "c", "${file(\"x\")}", "a%2F..", "a b", "a_b"} {
		_, _, err := ParseGlobalName(GlobalName("acme-prod", "firewalls", bad), "firewalls")
		if !errors.Is(err, remediators.ErrInvalidRequest) || !strings.Contains(err.Error(), "is not a Compute Engine name") {
			t.Errorf("ParseGlobalName(%q): %v, want a refusal that says the name is not a Compute Engine name", bad, err)
		}
		if _, err := ParseZonalName(ComputePrefix+"projects/p/zones/"+bad+"/instances/i", "instances"); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("ParseZonalName with the zone %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"..", "ACME", "acme prod", "-acme", "acme\n"} {
		if _, err := ParseRegionalName(ComputePrefix+"projects/"+bad+"/regions/r/subnetworks/s", "subnetworks"); !errors.Is(err, remediators.ErrInvalidRequest) ||
			!strings.Contains(err.Error(), "is not a project ID") {
			t.Errorf("ParseRegionalName with the project %q: %v", bad, err)
		}
		if _, err := ParseProjectName(ComputePrefix + "projects/" + bad); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("ParseProjectName(%q): %v", bad, err)
		}
	}
}
