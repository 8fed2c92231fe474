package sandbox

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
)

// The basic scenario of testdata/basic.
const (
	prodID     = "demo-prod"
	prodNumber = "200000000001"
	devID      = "demo-dev"
	folderName = "folders/111111111111"
	orgName    = "organizations/123456789012"
	appEmail   = "app@demo-prod.iam.gserviceaccount.com"
	appUID     = "100000000000000000001"
	ciEmail    = "ci@demo-prod.iam.gserviceaccount.com"
)

func loadBasic(t *testing.T) *Scenario {
	t.Helper()
	sc, err := LoadScenario(os.DirFS("testdata"), "basic")
	if err != nil {
		t.Fatalf("LoadScenario: %v", err)
	}
	return sc
}

// start serves sc on a free loopback port until the test ends.
func start(t *testing.T, sc *Scenario, opts ...Option) (*Server, string) {
	t.Helper()
	srv, err := New(sc, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, url
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clients are the real Google clients, wired to the sandbox as zerodrift wires them.
type clients struct {
	firewalls   *compute.FirewallsClient
	networks    *compute.NetworksClient
	subnetworks *compute.SubnetworksClient
	instances   *compute.InstancesClient
	projects    *resourcemanager.ProjectsClient
	folders     *resourcemanager.FoldersClient
	orgs        *resourcemanager.OrganizationsClient
	iam         *iam.Service
}

type closer interface{ Close() error }

func newClients(t *testing.T, url string) *clients {
	t.Helper()
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(url), option.WithoutAuthentication()}
	var c clients
	var errs []error
	add := func(cl closer, err error) {
		errs = append(errs, err)
		if err == nil {
			t.Cleanup(func() { _ = cl.Close() })
		}
	}
	var err error
	c.firewalls, err = compute.NewFirewallsRESTClient(ctx, opts...)
	add(c.firewalls, err)
	c.networks, err = compute.NewNetworksRESTClient(ctx, opts...)
	add(c.networks, err)
	c.subnetworks, err = compute.NewSubnetworksRESTClient(ctx, opts...)
	add(c.subnetworks, err)
	c.instances, err = compute.NewInstancesRESTClient(ctx, opts...)
	add(c.instances, err)
	c.projects, err = resourcemanager.NewProjectsRESTClient(ctx, opts...)
	add(c.projects, err)
	c.folders, err = resourcemanager.NewFoldersRESTClient(ctx, opts...)
	add(c.folders, err)
	c.orgs, err = resourcemanager.NewOrganizationsRESTClient(ctx, opts...)
	add(c.orgs, err)
	// The discovery-based IAM client resolves paths against its base path: it needs the
	// trailing slash.
	c.iam, err = iam.NewService(ctx, option.WithEndpoint(url+"/"), option.WithoutAuthentication())
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("building clients: %v", err)
	}
	return &c
}

// googleErr returns the googleapi.Error inside err, failing the test when there is none
// or when its code is not want.
func googleErr(t *testing.T, err error, want int) *googleapi.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d", want)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a googleapi.Error", err, err)
	}
	if ge.Code != want {
		t.Fatalf("error code %d (%v), want %d", ge.Code, err, want)
	}
	return ge
}

func ptr[T any](v T) *T { return &v }

// callCount returns how many calls to service.method answered status.
func callCount(srv *Server, service, method string, status int) int {
	for _, c := range srv.Calls() {
		if c.Service == service && c.Method == method && c.Status == status {
			return c.Count
		}
	}
	return 0
}
