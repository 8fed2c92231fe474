package remediators_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/remediators"
)

func TestRegistry(t *testing.T) {
	e := newEnv(t)
	want := []string{"compute.setMetadata", "firewall.createEgressDeny", "firewall.denyPorts", "firewall.disable",
		"firewall.enableLogging", "firewall.restrictSources", "iam.removeBinding", "iam.setAuditConfig",
		"instance.removeExternalIP", "network.deleteDefault", "serviceAccountKey.disable", "subnetwork.enableFlowLogs",
		"subnetwork.enablePrivateGoogleAccess"}
	if got := e.reg.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if err := e.reg.Check(); err != nil {
		t.Error(err)
	}
	if _, err := e.reg.Lookup("firewall.delete"); err == nil || !strings.Contains(err.Error(), "firewall.disable") {
		t.Errorf("Lookup of an unknown action: %v", err)
	}
	// The registry is the map the engine takes.
	var actions map[string]remediators.Action = e.reg
	if actions["iam.removeBinding"] == nil {
		t.Error("iam.removeBinding missing")
	}
	if got := remediators.AssetTypesOf(actions["iam.removeBinding"]); len(got) != 3 {
		t.Errorf("AssetTypesOf(iam.removeBinding) = %v", got)
	}
	for name, want := range map[string][]string{
		"iam.setAuditConfig":                   {inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization},
		"compute.setMetadata":                  {inventory.TypeInstance, inventory.TypeComputeProject},
		"firewall.createEgressDeny":            {inventory.TypeNetwork},
		"subnetwork.enableFlowLogs":            {inventory.TypeSubnetwork},
		"subnetwork.enablePrivateGoogleAccess": {inventory.TypeSubnetwork},
		"instance.removeExternalIP":            {inventory.TypeInstance},
	} {
		if got := remediators.AssetTypesOf(actions[name]); !slices.Equal(got, want) {
			t.Errorf("AssetTypesOf(%s) = %v, want %v", name, got, want)
		}
	}
	// Every action of the playbooks' catalogue has its code, for the asset types the
	// catalogue says, and the other way round.
	for _, spec := range playbooks.Actions() {
		a, err := e.reg.Lookup(spec.Name)
		if err != nil {
			t.Errorf("catalogue action %s: %v", spec.Name, err)
			continue
		}
		if got := remediators.AssetTypesOf(a); !slices.Equal(got, spec.AssetTypes) {
			t.Errorf("%s acts on %v, the catalogue says %v", spec.Name, got, spec.AssetTypes)
		}
	}
	for _, name := range e.reg.Names() {
		if _, ok := playbooks.LookupAction(name); !ok {
			t.Errorf("action %s is not in the playbooks' catalogue", name)
		}
	}
	bad := remediators.Registry{"firewall.block": actions["firewall.disable"]}
	if err := bad.Check(); err == nil {
		t.Error("Check accepted an action under another name")
	}
}

func TestConfigOptions(t *testing.T) {
	c := remediators.Config{Endpoint: "http://127.0.0.1:1/", Endpoints: map[string]string{"iam": "http://127.0.0.1:2"}}
	ctx := context.Background()
	if opts, err := c.Options(ctx, "compute"); err != nil || len(opts) != 3 {
		t.Errorf("compute options: %d (%v), want endpoint, no authentication and the HTTP client", len(opts), err)
	}
	google := remediators.Config{ClientOptions: []option.ClientOption{option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}))}}
	if opts, err := google.Options(ctx, "compute"); err != nil || len(opts) != 2 {
		t.Errorf("Google's endpoint: %d (%v), want the credentials and the HTTP client", len(opts), err)
	}
	var wrapped []string
	c.WrapTransport = func(service string, rt http.RoundTripper) http.RoundTripper {
		wrapped = append(wrapped, service)
		return rt
	}
	if opts, err := c.Options(ctx, "iam"); err != nil || len(opts) != 3 || !slices.Equal(wrapped, []string{"iam"}) {
		t.Errorf("wrapped options: %d (%v), wrapped %v; want endpoint, no authentication and the HTTP client", len(opts), err, wrapped)
	}
	s := remediators.Settings{}.WithDefaults()
	if s.OperationTimeout != 2*time.Minute || s.ConflictRetries != 5 {
		t.Errorf("defaults = %+v", s)
	}
}
