// Package kubeapi emulates the small part of the Kubernetes API server that client-go's
// leader election uses with a Lease lock: get, create and update of
// coordination.k8s.io/v1 Leases, with optimistic concurrency on metadata.resourceVersion
// and the API server's metav1.Status error bodies, so that the real client-go REST client
// (and apierrors.IsNotFound, IsConflict, IsAlreadyExists) works against it:
//
//	srv := kubeapi.New()
//	url, _ := srv.Start("127.0.0.1:0")
//	defer srv.Close()
//	client, _ := coordinationv1client.NewForConfig(&rest.Config{Host: url})
//
// Bodies are read and written with apimachinery's serializers, in JSON, YAML or protobuf as
// the request's Content-Type and Accept headers say: client-go's generated clients send and
// accept protobuf unless rest.Config.ContentType says otherwise; plain HTTP gets JSON.
//
// Every other request is recorded and answered 404 with a Status body, as the API server
// answers unknown paths. State lives in memory behind one mutex. SetFault makes requests
// fail or hang, to test a leader that cannot renew its lease.
package kubeapi

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LeasesPrefix is the path under which the Leases of a namespace are served:
// LeasesPrefix + "{namespace}/leases[/{name}]".
const LeasesPrefix = "/apis/coordination.k8s.io/v1/namespaces/"

// maxBody bounds request bodies, as the API server does (it allows 3 MiB; a Lease is tiny).
const maxBody = 1 << 20

var (
	leasesResource = schema.GroupResource{Group: coordinationv1.GroupName, Resource: "leases"}
	leaseKind      = schema.GroupKind{Group: coordinationv1.GroupName, Kind: "Lease"}
)

// Request is one request the server received, in order of arrival.
type Request struct {
	Method string
	// Path is the URL path, with the raw query appended after "?" when there is one.
	Path      string
	UserAgent string
	// ContentType is the media type of the request body, "" when there is none.
	ContentType string
	// Status is the HTTP status answered; 0 while a hanging request is still held.
	Status int
	// Handled is false for requests outside the emulated API (answered 404).
	Handled bool
}

func (r Request) String() string {
	return fmt.Sprintf("%s %s -> %d", r.Method, r.Path, r.Status)
}

// Fault makes matching requests fail. The zero value fails every request with 500.
type Fault struct {
	// Match selects the requests to fail; nil matches all. It runs under the server's lock
	// and must not call the Server.
	Match func(r *http.Request) bool
	// Status is the HTTP status of the failure, answered with a Status body; 0 means 500.
	// No Retry-After header is sent, so client-go does not retry.
	Status int
	// Hang holds matching requests unanswered until the client gives up, SetFault or
	// ClearFault is called, or the server is closed — like an API server that cannot be
	// reached. Requests released by SetFault or ClearFault are answered 503. Status is then
	// ignored.
	Hang bool
	// Times is how many matching requests fail before the fault clears itself; 0 means
	// until ClearFault or SetFault.
	Times int
}

type leaseKey struct{ namespace, name string }

// Server is the emulator. It is an http.Handler; Start serves it on a listener of its own.
// Its methods are safe for concurrent use.
type Server struct {
	scheme *runtime.Scheme
	codecs serializer.CodecFactory

	mu       sync.Mutex
	leases   map[leaseKey]*coordinationv1.Lease
	rv       uint64 // last resourceVersion handed out; shared by all objects, as etcd's revision
	requests []Request
	fault    *Fault
	release  chan struct{} // closed (and replaced) by SetFault and ClearFault to free held requests

	closeOnce sync.Once
	closed    chan struct{}
	http      *http.Server
	url       string
}

// New returns an empty emulator.
func New() *Server {
	scheme := runtime.NewScheme()
	// AddToScheme registers the Lease types and, as unversioned v1 types, metav1.Status.
	if err := coordinationv1.AddToScheme(scheme); err != nil {
		panic(fmt.Sprintf("kubeapi: registering coordination/v1: %v", err))
	}
	return &Server{
		scheme:  scheme,
		codecs:  serializer.NewCodecFactory(scheme),
		leases:  map[leaseKey]*coordinationv1.Lease{},
		release: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// Start serves the emulator on addr ("127.0.0.1:0" picks a free port) and returns its base
// URL, e.g. "http://127.0.0.1:34567", for rest.Config.Host.
func (s *Server) Start(addr string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return "", errors.New("kubeapi: server is closed")
	default:
	}
	if s.http != nil {
		return "", errors.New("kubeapi: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("kubeapi: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.http, s.url = hs, "http://"+ln.Addr().String()
	go func() { _ = hs.Serve(ln) }() // Serve returns http.ErrServerClosed after Close.
	return s.url, nil
}

// URL returns the base URL Start returned, or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close releases hanging requests and, if Start was called, stops serving and closes all
// connections. It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		hs := s.http
		s.mu.Unlock()
		if hs != nil {
			err = hs.Close()
		}
	})
	return err
}

// Lease returns a copy of the stored Lease, and whether it exists.
func (s *Server) Lease(namespace, name string) (*coordinationv1.Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[leaseKey{namespace, name}]
	if !ok {
		return nil, false
	}
	return l.DeepCopy(), true
}

// Requests returns the requests received so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SetFault replaces the fault in force, releasing the requests a hanging fault holds.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
	s.fault = &f
}

// ClearFault ends the fault in force, if any, releasing the requests a hanging fault holds.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
	s.fault = nil
}

func (s *Server) releaseLocked() {
	close(s.release)
	s.release = make(chan struct{})
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	ns, name, isLeasePath := parseLeasePath(r.URL.Path)

	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: path, UserAgent: r.UserAgent(), ContentType: r.Header.Get("Content-Type"), Handled: isLeasePath,
	})
	fault, release := s.takeFaultLocked(r)
	s.mu.Unlock()

	var code int
	switch {
	case fault != nil && fault.Hang:
		code = s.hang(w, r, release)
	case fault != nil:
		st := fault.Status
		if st == 0 {
			st = http.StatusInternalServerError
		}
		code = s.writeStatus(w, r, statusFor(st, "kubeapi: injected fault"))
	case !isLeasePath:
		code = s.writeStatus(w, r, metav1.Status{
			Status:  metav1.StatusFailure,
			Message: "the server could not find the requested resource",
			Reason:  metav1.StatusReasonNotFound,
			Details: &metav1.StatusDetails{},
			Code:    http.StatusNotFound,
		})
	default:
		code = s.serveLease(w, r, ns, name)
	}

	s.mu.Lock()
	s.requests[idx].Status = code
	s.mu.Unlock()
}

// takeFaultLocked returns the fault r is subject to, if any, counting it down, and the
// channel that releases r if the fault holds it.
func (s *Server) takeFaultLocked(r *http.Request) (*Fault, chan struct{}) {
	f := s.fault
	if f == nil || (f.Match != nil && !f.Match(r)) {
		return nil, nil
	}
	taken := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			s.fault = nil // requests it holds stay held
		}
	}
	return &taken, s.release
}

// hang holds the request until the client goes away, SetFault or ClearFault releases it or
// the server closes.
func (s *Server) hang(w http.ResponseWriter, r *http.Request, release chan struct{}) int {
	select {
	case <-r.Context().Done():
		// The client gave up; nothing it can read. 499 is nginx's "client closed request".
		return 499
	case <-release:
	case <-s.closed:
	}
	return s.writeStatus(w, r, statusFor(http.StatusServiceUnavailable, "kubeapi: request held by a hanging fault"))
}

// parseLeasePath splits LeasesPrefix + "{ns}/leases[/{name}]"; name is "" for the collection.
func parseLeasePath(p string) (ns, name string, ok bool) {
	rest, found := strings.CutPrefix(p, LeasesPrefix)
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] == "leases":
		return parts[0], "", true
	case len(parts) == 3 && parts[0] != "" && parts[1] == "leases" && parts[2] != "":
		return parts[0], parts[2], true
	}
	return "", "", false
}

func (s *Server) serveLease(w http.ResponseWriter, r *http.Request, ns, name string) int {
	switch {
	case name != "" && r.Method == http.MethodGet:
		s.mu.Lock()
		l, ok := s.leases[leaseKey{ns, name}]
		if ok {
			l = l.DeepCopy()
		}
		s.mu.Unlock()
		if !ok {
			return s.writeError(w, r, apierrors.NewNotFound(leasesResource, name))
		}
		return s.write(w, r, http.StatusOK, l)
	case name == "" && r.Method == http.MethodPost:
		l, err := s.readLease(r, ns)
		if err != nil {
			return s.writeError(w, r, err)
		}
		created, err := s.create(ns, l)
		if err != nil {
			return s.writeError(w, r, err)
		}
		return s.write(w, r, http.StatusCreated, created)
	case name != "" && r.Method == http.MethodPut:
		l, err := s.readLease(r, ns)
		if err != nil {
			return s.writeError(w, r, err)
		}
		updated, err := s.update(ns, name, l)
		if err != nil {
			return s.writeError(w, r, err)
		}
		return s.write(w, r, http.StatusOK, updated)
	}
	verb := strings.ToLower(r.Method)
	if name == "" && r.Method == http.MethodGet {
		verb = "list"
	}
	return s.writeError(w, r, apierrors.NewMethodNotSupported(leasesResource, verb))
}

func (s *Server) create(ns string, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	if l.Name == "" {
		return nil, apierrors.NewInvalid(leaseKind, "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name is required (generateName is not emulated)"),
		})
	}
	if l.ResourceVersion != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := leaseKey{ns, l.Name}
	if _, ok := s.leases[key]; ok {
		return nil, apierrors.NewAlreadyExists(leasesResource, l.Name)
	}
	l.Namespace = ns
	l.UID = newUID()
	l.CreationTimestamp = metav1.Now().Rfc3339Copy()
	l.DeletionTimestamp, l.DeletionGracePeriodSeconds = nil, nil
	s.storeLocked(key, l)
	return l.DeepCopy(), nil
}

func (s *Server) update(ns, name string, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	if l.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", l.Name, name))
	}
	if l.ResourceVersion == "" {
		return nil, apierrors.NewInvalid(leaseKind, name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "resourceVersion"), l.ResourceVersion, "must be specified for an update"),
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := leaseKey{ns, name}
	old, ok := s.leases[key]
	if !ok {
		return nil, apierrors.NewNotFound(leasesResource, name)
	}
	if l.ResourceVersion != old.ResourceVersion {
		return nil, apierrors.NewConflict(leasesResource, name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	// Fields the API server owns keep their stored values.
	l.Namespace = ns
	l.UID = old.UID
	l.CreationTimestamp = old.CreationTimestamp
	l.DeletionTimestamp, l.DeletionGracePeriodSeconds = old.DeletionTimestamp, old.DeletionGracePeriodSeconds
	s.storeLocked(key, l)
	return l.DeepCopy(), nil
}

// storeLocked stores l under a new resourceVersion. Unlike the API server, an update that
// changes nothing still gets a new resourceVersion.
func (s *Server) storeLocked(key leaseKey, l *coordinationv1.Lease) {
	s.rv++
	l.ResourceVersion = strconv.FormatUint(s.rv, 10)
	l.TypeMeta = metav1.TypeMeta{Kind: "Lease", APIVersion: coordinationv1.SchemeGroupVersion.String()}
	l.ManagedFields = nil
	s.leases[key] = l
}

// readLease decodes a Lease body (JSON, YAML or protobuf) meant for namespace ns.
func (s *Server) readLease(r *http.Request, ns string) (*coordinationv1.Lease, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = runtime.ContentTypeJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	info, ok := runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), mt)
	if err != nil || !ok {
		return nil, &apierrors.StatusError{ErrStatus: statusFor(http.StatusUnsupportedMediaType,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s",
				strings.Join(mediaTypes(s.codecs.SupportedMediaTypes()), ", ")))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBody))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	defaults := coordinationv1.SchemeGroupVersion.WithKind("Lease")
	obj, _, err := info.Serializer.Decode(body, &defaults, &coordinationv1.Lease{})
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding the request body: %v", err))
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is a %s, not a %s",
			obj.GetObjectKind().GroupVersionKind(), defaults))
	}
	if l.Namespace != "" && l.Namespace != ns {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return l, nil
}

// statusFor builds a failure Status with the reason the API server uses for code.
func statusFor(code int, message string) metav1.Status {
	st := apierrors.NewGenericServerResponse(code, "", schema.GroupResource{}, "", "", 0, false).ErrStatus
	st.Message = message
	st.Details = nil
	return st
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	return s.writeStatus(w, r, se.Status())
}

func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, st metav1.Status) int {
	return s.write(w, r, int(st.Code), &st)
}

// write encodes obj in the first media type of the request's Accept header that the server
// supports ("*/*", "application/*" and none at all mean JSON; q-values are not weighed).
func (s *Server) write(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) int {
	info, ok := s.negotiate(r.Header.Get("Accept"))
	if !ok {
		info, _ = runtime.SerializerInfoForMediaType(s.codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
		if _, isStatus := obj.(*metav1.Status); !isStatus {
			code = http.StatusNotAcceptable
			obj = ptr(statusFor(code, "only the following media types are accepted: "+
				strings.Join(mediaTypes(s.codecs.SupportedMediaTypes()), ", ")))
		}
	}
	var buf bytes.Buffer
	enc := runtime.WithVersionEncoder{Encoder: info.Serializer, ObjectTyper: s.scheme}
	if err := enc.Encode(obj, &buf); err != nil {
		code, info = http.StatusInternalServerError, runtime.SerializerInfo{MediaType: runtime.ContentTypeJSON}
		buf.Reset()
		fmt.Fprintf(&buf, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":"InternalError","code":500}`,
			"kubeapi: encoding the response: "+err.Error())
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
	return code
}

func (s *Server) negotiate(accept string) (runtime.SerializerInfo, bool) {
	supported := s.codecs.SupportedMediaTypes()
	if strings.TrimSpace(accept) == "" {
		return runtime.SerializerInfoForMediaType(supported, runtime.ContentTypeJSON)
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if mt == "*/*" || mt == "application/*" {
			mt = runtime.ContentTypeJSON
		}
		if info, ok := runtime.SerializerInfoForMediaType(supported, mt); ok && info.MediaType != "" {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

func mediaTypes(infos []runtime.SerializerInfo) []string {
	var out []string
	for _, info := range infos {
		out = append(out, info.MediaType)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func newUID() types.UID {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails.
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]))
}

var _ http.Handler = (*Server)(nil)
