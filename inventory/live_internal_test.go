package inventory

import (
	"context"
	"reflect"
	"testing"

	"go.uber.org/zap"
)

// NewLive clears the call options (timeouts, retries) of every Google client it builds,
// in place: the clients' own policies would add attempts the limiter never sees. The
// clients read their options through the pointer their constructor set, so a new value
// assigned to the exported field would go unseen; this looks where the client looks.
func TestNewLiveClearsEveryClientsCallOptions(t *testing.T) {
	l, err := NewLive(context.Background(), LiveConfig{Endpoint: "http://127.0.0.1:1"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for name, client := range map[string]any{
		"compute projects": l.computeProjects, "compute firewalls": l.firewalls, "compute networks": l.networks,
		"compute subnetworks": l.subnetworks, "compute instances": l.instances,
		"resource manager projects": l.projects, "resource manager folders": l.folders, "resource manager organizations": l.orgs,
	} {
		// client.internalClient is the REST client; its CallOptions points at the options in force.
		internal := reflect.ValueOf(client).Elem().FieldByName("internalClient")
		if !internal.IsValid() || internal.IsNil() {
			t.Fatalf("%s: no internalClient field: has the client changed shape?", name)
		}
		opts := internal.Elem().Elem().FieldByName("CallOptions")
		if !opts.IsValid() || opts.Kind() != reflect.Pointer || opts.Elem().Kind() != reflect.Pointer {
			t.Fatalf("%s: the REST client's CallOptions is %v, not a pointer to a pointer", name, opts.Kind())
		}
		set := opts.Elem().Elem()
		if set.NumField() == 0 {
			t.Errorf("%s: call options of no method", name)
		}
		for i := range set.NumField() {
			if n := set.Field(i).Len(); n != 0 {
				t.Errorf("%s: %s keeps %d call options", name, set.Type().Field(i).Name, n)
			}
		}
	}
}
