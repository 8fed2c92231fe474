package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"testing/fstest"
)

func TestGCSObjectDownload(t *testing.T) {
	scenario := fstest.MapFS{
		"sc/assets.json": {Data: []byte("")},
		"sc/state/acme-tfstate/envs/prod/default.tfstate": {Data: []byte(`{"version": 4}`)},
	}
	objects, err := LoadScenarioState(scenario, "sc")
	if err != nil || objects == nil {
		t.Fatalf("LoadScenarioState: %v, %v", objects, err)
	}
	if none, err := LoadScenarioState(scenario, "other"); none != nil || err != nil {
		t.Fatalf("LoadScenarioState of a scenario without state: %v, %v", none, err)
	}
	srv, url := start(t, loadBasic(t), WithStorage(objects))
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/storage/v1/b/acme-tfstate/o/envs%2Fprod%2Fdefault.tfstate?alt=media"); code != http.StatusOK || body != `{"version": 4}` {
		t.Errorf("download: %d %s", code, body)
	}
	for _, p := range []string{
		"/storage/v1/b/acme-tfstate/o/envs%2Fprod%2Fstaging.tfstate?alt=media",
		"/storage/v1/b/nobucket/o/default.tfstate?alt=media",
		"/storage/v1/b/acme-tfstate/o/..%2F..%2Fetc%2Fpasswd?alt=media",
		"/storage/v1/b/acme-tfstate",
	} {
		code, body := get(p)
		var e struct {
			Error struct {
				Code   int `json:"code"`
				Errors []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != http.StatusNotFound || e.Error.Code != http.StatusNotFound ||
			len(e.Error.Errors) != 1 || e.Error.Errors[0].Reason != "notFound" {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	if code, _ := get("/storage/v1/b/acme-tfstate/o/envs%2Fprod%2Fdefault.tfstate"); code != http.StatusBadRequest {
		t.Errorf("metadata read: %d, want 400", code)
	}
	if n := callCount(srv, ServiceStorage, "objects.get", http.StatusOK); n != 1 {
		t.Errorf("counted %d successful downloads", n)
	}
}
