package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
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
	code, body := get("/storage/v1/b/acme-tfstate/o/envs%2Fprod%2Fdefault.tfstate")
	var meta struct {
		Kind, Name, Bucket, Size, Generation, MediaLink string
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil || code != http.StatusOK || meta.Kind != "storage#object" ||
		meta.Name != "envs/prod/default.tfstate" || meta.Bucket != "acme-tfstate" || meta.Size != "14" || meta.Generation != "1" {
		t.Errorf("metadata read: %d %s", code, body)
	}
	if code, body := get(strings.TrimPrefix(meta.MediaLink, url)); code != http.StatusOK || body != `{"version": 4}` {
		t.Errorf("download through the mediaLink %s: %d %s", meta.MediaLink, code, body)
	}
	if code, _ := get("/storage/v1/b/acme-tfstate/o/envs%2Fprod%2Fdefault.tfstate?alt=proto"); code != http.StatusBadRequest {
		t.Errorf("alt=proto: %d, want 400", code)
	}
	if n := callCount(srv, ServiceStorage, "objects.get", http.StatusOK); n != 3 {
		t.Errorf("counted %d successful object reads, want 3", n)
	}
	if got := srv.Objects("acme-tfstate"); !slices.Equal(got, []string{"envs/prod/default.tfstate"}) {
		t.Errorf("Objects = %v", got)
	}
}

// Objects written in memory (exports) and the scenario's are deleted alike; the scenario's
// files are left as they were.
func TestGCSObjectDelete(t *testing.T) {
	scenario := fstest.MapFS{"acme-tfstate/default.tfstate": {Data: []byte(`{"version": 4}`)}}
	sc := loadBasic(t)
	sc.Options.Buckets = []string{"exports"}
	srv, url := start(t, sc, WithStorage(scenario))
	if err := srv.objects.put("exports", "scans/a.json", []byte("{}\n"), "application/json"); err != nil {
		t.Fatal(err)
	}
	if err := srv.objects.put("nobucket", "a.json", nil, "application/json"); !errors.Is(err, errNoSuchBucket) {
		t.Errorf("writing to a bucket that does not exist: %v", err)
	}
	del := func(path string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodDelete, url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{
		"/storage/v1/b/exports/o/scans%2Fa.json":           http.StatusNoContent,
		"/storage/v1/b/acme-tfstate/o/default.tfstate":     http.StatusNoContent,
		"/storage/v1/b/exports/o/scans%2Fmissing.json":     http.StatusNotFound,
		"/storage/v1/b/nobucket/o/a.json":                  http.StatusNotFound,
		"/storage/v1/b/acme-tfstate/o/..%2Fsecret.tfstate": http.StatusNotFound,
	} {
		if got := del(path); got != want {
			t.Errorf("DELETE %s: %d, want %d", path, got, want)
		}
	}
	if got := del("/storage/v1/b/acme-tfstate/o/default.tfstate"); got != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", got)
	}
	if a, b := srv.Objects("exports"), srv.Objects("acme-tfstate"); len(a) != 0 || len(b) != 0 {
		t.Errorf("objects left: %v, %v", a, b)
	}
	if _, err := fs.Stat(scenario, "acme-tfstate/default.tfstate"); err != nil {
		t.Errorf("the scenario's file: %v", err)
	}
	if n := callCount(srv, ServiceStorage, "objects.delete", http.StatusNoContent); n != 2 {
		t.Errorf("counted %d deletes", n)
	}

	// Deleting needs storage.objects.delete.
	if err := srv.SetPermissions([]string{"storage.objects.get"}); err != nil {
		t.Fatal(err)
	}
	if got := del("/storage/v1/b/exports/o/x"); got != http.StatusForbidden {
		t.Errorf("DELETE without storage.objects.delete: %d, want 403", got)
	}
}
