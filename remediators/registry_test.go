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

	"github.com/zerodrift/zerodrift/remediators"
)

func TestRegistry(t *testing.T) {
	e := newEnv(t)
	want := []string{"firewall.denyPorts", "firewall.disable", "firewall.enableLogging", "firewall.restrictSources",
		"iam.removeBinding", "network.deleteDefault", "serviceAccountKey.disable"}
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
