package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ServiceStorage is the Cloud Storage emulator (object download only) in CallCount; its one
// method is "objects.get".
const ServiceStorage = "storage"

// StateDir is the optional folder of a scenario holding Cloud Storage objects, as
// state/{bucket}/{object}: typically Terraform state files of a GCS backend.
const StateDir = "state"

// gcsPrefix is the path of the Cloud Storage JSON API.
const gcsPrefix = "/storage/v1/"

// WithStorage serves the objects of fsys, laid out as {bucket}/{object}, from the Cloud
// Storage JSON API's object download (GET /storage/v1/b/{bucket}/o/{object}?alt=media).
// Without it every object is missing.
func WithStorage(fsys fs.FS) Option {
	return func(s *settings) { s.storage = fsys }
}

// LoadScenarioState returns the state/ folder of the scenario in folder dir of fsys, for
// WithStorage; nil (and no error) when the scenario has none.
func LoadScenarioState(fsys fs.FS, dir string) (fs.FS, error) {
	p := path.Join(dir, StateDir)
	fi, err := fs.Stat(fsys, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading scenario: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("reading scenario: %s is not a folder", p)
	}
	sub, err := fs.Sub(fsys, p)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return sub, nil
}

func isGCSPath(p string) bool { return strings.HasPrefix(p, gcsPrefix) }

// serveGCS answers a Cloud Storage JSON API call. Only the media download of an object is
// emulated; everything else is 404 in Google's error shape.
func (s *Server) serveGCS(w http.ResponseWriter, r *http.Request) {
	status, body, aerr := s.gcsObject(r)
	s.count(ServiceStorage, "objects.get", status)
	switch {
	case status == statusClientClosed:
		return
	case aerr != nil:
		writeError(w, aerr)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

func (s *Server) gcsObject(r *http.Request) (int, []byte, *apiError) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), gcsPrefix)
	parts := strings.SplitN(rest, "/", 4)
	if r.Method != http.MethodGet || len(parts) != 4 || parts[0] != "b" || parts[2] != "o" {
		e := errNotFound(fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
		return e.code, nil, e
	}
	if alt := r.URL.Query().Get("alt"); alt != "media" {
		e := errInvalid(fmt.Sprintf("The sandbox serves object contents only (alt=media), not alt=%q.", alt))
		return e.code, nil, e
	}
	bucket, err1 := url.PathUnescape(parts[1])
	object, err2 := url.PathUnescape(parts[3])
	if err1 != nil || err2 != nil || bucket == "" || object == "" {
		e := errInvalid("Invalid bucket or object name.")
		return e.code, nil, e
	}
	if e := s.checkStoragePermission(); e != nil {
		return e.code, nil, e
	}
	missing := errNotFound(fmt.Sprintf("No such object: %s/%s", bucket, object))
	name := bucket + "/" + object
	if s.storage == nil || strings.Contains(bucket, "/") || !fs.ValidPath(name) {
		return missing.code, nil, missing
	}
	if ferr, err := s.faults.inject(r.Context(), ServiceStorage, "objects.get"); err != nil {
		return statusClientClosed, nil, nil
	} else if ferr != nil {
		return ferr.code, nil, ferr
	}
	b, err := fs.ReadFile(s.storage, name)
	if err != nil {
		if _, serr := fs.Stat(s.storage, bucket); serr != nil {
			e := errNotFound("The specified bucket does not exist.")
			return e.code, nil, e
		}
		return missing.code, nil, missing
	}
	return http.StatusOK, b, nil
}
