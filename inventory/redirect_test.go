package inventory_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"

	"github.com/zerodrift/zerodrift/inventory"
)

// TestClientsFollowNoRedirectToAnotherHost: the Google clients zerodrift builds refuse a
// redirect to another host (whose request would carry the access token the authenticating
// transport adds to every hop), with and without a transport wrapper, and still follow
// one on the same host.
func TestClientsFollowNoRedirectToAnotherHost(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer other.Close()
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/moved/"):
			_, _ = w.Write([]byte(`{"items":[{"name":"kept"}]}`))
		case strings.Contains(r.URL.RawQuery, "same=1") || r.URL.Query().Get("pageToken") == "same":
			http.Redirect(w, r, api.URL+"/moved"+r.URL.Path, http.StatusTemporaryRedirect)
		default:
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}
	}))
	defer api.Close()

	for _, wrap := range []inventory.TransportWrapper{nil, func(_ string, rt http.RoundTripper) http.RoundTripper { return rt }} {
		opts, err := inventory.ServiceOptions(t.Context(), inventory.ServiceCompute, api.URL, nil, wrap)
		if err != nil {
			t.Fatal(err)
		}
		c, err := compute.NewFirewallsRESTClient(t.Context(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.List(t.Context(), &computepb.ListFirewallsRequest{Project: "p"}).Next()
		if err == nil || !strings.Contains(err.Error(), "refusing a redirect") {
			t.Errorf("wrapped %v: a redirect to another host gave %v, want it refused", wrap != nil, err)
		}
		token := "same"
		fw, err := c.List(t.Context(), &computepb.ListFirewallsRequest{Project: "p", PageToken: &token}).Next()
		if err != nil && !errors.Is(err, iterator.Done) || fw.GetName() != "kept" {
			t.Errorf("wrapped %v: a redirect on the same host gave %v, %v", wrap != nil, fw, err)
		}
		_ = c.Close()
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}
