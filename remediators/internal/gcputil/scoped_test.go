package gcputil

import (
	"errors"
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
