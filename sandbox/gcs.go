package sandbox

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServiceStorage is the Cloud Storage emulator in CallCount; its methods are "objects.get"
// (an object's contents with alt=media, else its metadata) and "objects.delete".
const ServiceStorage = "storage"

// The Cloud Storage methods, as CallCount names them.
const (
	methodObjectsGet    = "objects.get"
	methodObjectsDelete = "objects.delete"
)

// StateDir is the optional folder of a scenario holding Cloud Storage objects, as
// state/{bucket}/{object}: typically Terraform state files of a GCS backend.
const StateDir = "state"

// gcsPrefix is the path of the Cloud Storage JSON API.
const gcsPrefix = "/storage/v1/"

// errNoSuchBucket is returned by objectStore.put for a bucket that does not exist.
var errNoSuchBucket = errors.New("no such bucket")

// WithStorage serves the objects of fsys, laid out as {bucket}/{object}, through the Cloud
// Storage JSON API (GET /storage/v1/b/{bucket}/o/{object}, with alt=media for the
// contents) instead of the scenario's state/ folder. Without either, only the buckets the
// scenario declares exist, empty.
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

// objectStore is the sandbox's Cloud Storage: the scenario's objects (read from base,
// never modified) beneath the objects written in memory since (Cloud Asset Inventory
// exports) and the deletions made since. A bucket exists when base holds a folder of its
// name or the scenario declares it (ScenarioOptions.Buckets). It is safe for concurrent use.
type objectStore struct {
	base fs.FS // nil when the scenario has no objects
	now  func() time.Time

	mu       sync.Mutex
	declared map[string]bool
	written  map[objectKey]*storedObject
	deleted  map[objectKey]bool // objects of base deleted since
	gen      int64
}

type objectKey struct{ bucket, name string }

// storedObject is one object and its metadata.
type storedObject struct {
	data        []byte
	contentType string
	generation  int64
	created     time.Time
}

func newObjectStore(base fs.FS, buckets []string, now func() time.Time) *objectStore {
	if now == nil {
		now = time.Now
	}
	// Generation 1 is that of every object of base; written objects take the next ones.
	st := &objectStore{base: base, now: now, declared: map[string]bool{}, written: map[objectKey]*storedObject{},
		deleted: map[objectKey]bool{}, gen: 1}
	for _, b := range buckets {
		st.declared[b] = true
	}
	return st
}

// bucketExists reports whether the bucket exists. The caller holds st.mu.
func (st *objectStore) bucketExists(bucket string) bool {
	if st.declared[bucket] {
		return true
	}
	if st.base == nil || !fs.ValidPath(bucket) || strings.Contains(bucket, "/") {
		return false
	}
	fi, err := fs.Stat(st.base, bucket)
	return err == nil && fi.IsDir()
}

// baseObject reads an object of base; false when base does not hold it (or it was
// deleted). The caller holds st.mu.
func (st *objectStore) baseObject(k objectKey) (*storedObject, bool) {
	p := k.bucket + "/" + k.name
	if st.base == nil || st.deleted[k] || strings.Contains(k.bucket, "/") || !fs.ValidPath(p) {
		return nil, false
	}
	b, err := fs.ReadFile(st.base, p)
	if err != nil {
		return nil, false
	}
	o := &storedObject{data: b, contentType: "application/octet-stream", generation: 1}
	if fi, err := fs.Stat(st.base, p); err == nil {
		o.created = fi.ModTime().UTC()
	}
	return o, true
}

// get returns an object; nil when it does not exist.
func (st *objectStore) get(bucket, name string) *storedObject {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := objectKey{bucket, name}
	if o := st.written[k]; o != nil {
		return o
	}
	o, _ := st.baseObject(k)
	return o
}

// put writes an object, replacing any of the same name; errNoSuchBucket when the bucket
// does not exist.
func (st *objectStore) put(bucket, name string, data []byte, contentType string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.bucketExists(bucket) {
		return errNoSuchBucket
	}
	st.gen++
	st.written[objectKey{bucket, name}] = &storedObject{data: data, contentType: contentType,
		generation: st.gen, created: st.now().UTC()}
	return nil
}

// remove deletes an object; false when it does not exist.
func (st *objectStore) remove(bucket, name string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := objectKey{bucket, name}
	_, inBase := st.baseObject(k)
	_, written := st.written[k]
	if !inBase && !written {
		return false
	}
	delete(st.written, k)
	if inBase {
		st.deleted[k] = true
	}
	return true
}

// hasBucket reports whether the bucket exists.
func (st *objectStore) hasBucket(bucket string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.bucketExists(bucket)
}

// list returns the names of a bucket's objects, sorted.
func (st *objectStore) list(bucket string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for k := range st.written {
		if k.bucket == bucket {
			out = append(out, k.name)
		}
	}
	if st.base != nil && fs.ValidPath(bucket) && !strings.Contains(bucket, "/") {
		_ = fs.WalkDir(st.base, bucket, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				k := objectKey{bucket, strings.TrimPrefix(p, bucket+"/")}
				if _, written := st.written[k]; !written && !st.deleted[k] {
					out = append(out, k.name)
				}
			}
			return nil
		})
	}
	slices.Sort(out)
	return out
}

// Objects returns the names of the objects of a Cloud Storage bucket, sorted: those of the
// scenario not deleted since and those written since (exports). Empty when the bucket does
// not exist.
func (s *Server) Objects(bucket string) []string { return s.objects.list(bucket) }

func isGCSPath(p string) bool { return strings.HasPrefix(p, gcsPrefix) }

// gcsAnswer is the answer of one Cloud Storage call.
type gcsAnswer struct {
	status      int
	contentType string
	body        []byte
	err         *apiError
}

func gcsFail(e *apiError) gcsAnswer { return gcsAnswer{status: e.code, err: e} }

// serveGCS answers a Cloud Storage JSON API call: an object's download (alt=media) or
// metadata, or its deletion. Everything else is 404 in Google's error shape.
func (s *Server) serveGCS(w http.ResponseWriter, r *http.Request) {
	method := methodObjectsGet
	if r.Method == http.MethodDelete {
		method = methodObjectsDelete
	}
	a := s.gcsCall(r, method)
	s.count(ServiceStorage, method, a.status)
	switch {
	case a.status == statusClientClosed:
		return
	case a.err != nil:
		writeError(w, a.err)
	default:
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}
}

func (s *Server) gcsCall(r *http.Request, method string) gcsAnswer {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), gcsPrefix)
	parts := strings.SplitN(rest, "/", 4)
	if (r.Method != http.MethodGet && r.Method != http.MethodDelete) || len(parts) != 4 || parts[0] != "b" || parts[2] != "o" {
		return gcsFail(errNotFound(fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path)))
	}
	alt := r.URL.Query().Get("alt")
	if r.Method == http.MethodGet && alt != "" && alt != "json" && alt != "media" {
		return gcsFail(errInvalid(fmt.Sprintf("Invalid value for alt: %q (want json or media).", alt)))
	}
	bucket, err1 := url.PathUnescape(parts[1])
	object, err2 := url.PathUnescape(parts[3])
	if err1 != nil || err2 != nil || bucket == "" || object == "" {
		return gcsFail(errInvalid("Invalid bucket or object name."))
	}
	if e := s.checkStoragePermission(methodPermissions()[ServiceStorage+" "+method]); e != nil {
		return gcsFail(e)
	}
	if ferr, err := s.faults.inject(r.Context(), ServiceStorage, method); err != nil {
		return gcsAnswer{status: statusClientClosed}
	} else if ferr != nil {
		return gcsFail(ferr)
	}
	missing := func() gcsAnswer {
		if !s.objects.hasBucket(bucket) {
			return gcsFail(errNotFound("The specified bucket does not exist."))
		}
		return gcsFail(errNotFound(fmt.Sprintf("No such object: %s/%s", bucket, object)))
	}
	if r.Method == http.MethodDelete {
		if !s.objects.remove(bucket, object) {
			return missing()
		}
		return gcsAnswer{status: http.StatusNoContent}
	}
	o := s.objects.get(bucket, object)
	if o == nil {
		return missing()
	}
	if alt == "media" {
		return gcsAnswer{status: http.StatusOK, contentType: o.contentType, body: o.data}
	}
	b, err := json.Marshal(objectMetadata("http://"+r.Host, bucket, object, o))
	if err != nil {
		return gcsFail(&apiError{code: http.StatusInternalServerError, message: "encoding response: " + err.Error()})
	}
	return gcsAnswer{status: http.StatusOK, contentType: "application/json; charset=UTF-8", body: b}
}

// objectResource is an object's metadata as the Cloud Storage JSON API answers it.
type objectResource struct {
	Kind           string `json:"kind"`
	ID             string `json:"id"`
	SelfLink       string `json:"selfLink"`
	MediaLink      string `json:"mediaLink"`
	Name           string `json:"name"`
	Bucket         string `json:"bucket"`
	Generation     string `json:"generation"`
	Metageneration string `json:"metageneration"`
	ContentType    string `json:"contentType"`
	StorageClass   string `json:"storageClass"`
	Size           string `json:"size"`
	MD5Hash        string `json:"md5Hash"`
	TimeCreated    string `json:"timeCreated,omitempty"`
	Updated        string `json:"updated,omitempty"`
}

// objectMetadata describes an object served at base (the sandbox's URL).
func objectMetadata(base, bucket, name string, o *storedObject) objectResource {
	gen := strconv.FormatInt(o.generation, 10)
	link := base + gcsPrefix + "b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(name)
	sum := md5.Sum(o.data)
	m := objectResource{Kind: "storage#object", ID: bucket + "/" + name + "/" + gen, SelfLink: link,
		MediaLink: link + "?generation=" + gen + "&alt=media", Name: name, Bucket: bucket, Generation: gen,
		Metageneration: "1", ContentType: o.contentType, StorageClass: "STANDARD", Size: strconv.Itoa(len(o.data)),
		MD5Hash: base64.StdEncoding.EncodeToString(sum[:])}
	if !o.created.IsZero() {
		m.TimeCreated = o.created.Format(time.RFC3339Nano)
		m.Updated = m.TimeCreated
	}
	return m
}
