package kubeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/zerodrift/zerodrift/sandbox/kubeapi"
)

const ns = "zerodrift"

// leases is a Lease client on client-go's generic REST client, with the methods of the
// generated typed client the tests use. (The generated typed clients pull in every API
// group's types through client-go's scheme: minutes of compiling on a small CI machine.)
type leases struct{ c *rest.RESTClient }

func (l leases) Get(ctx context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Get().Namespace(ns).Resource("leases").Name(name).Do(ctx).Into(out)
}

func (l leases) Create(ctx context.Context, lease *coordinationv1.Lease, _ metav1.CreateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Post().Namespace(ns).Resource("leases").Body(lease).Do(ctx).Into(out)
}

func (l leases) Update(ctx context.Context, lease *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Put().Namespace(ns).Resource("leases").Name(lease.Name).Body(lease).Do(ctx).Into(out)
}

func (l leases) Delete(ctx context.Context, name string, _ metav1.DeleteOptions) error {
	return l.c.Delete().Namespace(ns).Resource("leases").Name(name).Do(ctx).Error()
}

// newClient returns a Lease client speaking contentType (protobuf, as the generated typed
// clients do by default, or JSON).
func newClient(t *testing.T, url, userAgent, contentType string) leases {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := coordinationv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	gv := coordinationv1.SchemeGroupVersion
	// QPS -1 turns off client-go's client-side rate limiter (5 requests/s by default).
	c, err := rest.RESTClientFor(&rest.Config{Host: url, UserAgent: userAgent, QPS: -1, APIPath: "/apis",
		ContentConfig: rest.ContentConfig{GroupVersion: &gv, ContentType: contentType,
			NegotiatedSerializer: serializer.NewCodecFactory(scheme).WithoutConversion()}})
	if err != nil {
		t.Fatal(err)
	}
	return leases{c}
}

// start serves a fresh emulator and returns it with a protobuf client for it.
func start(t *testing.T, userAgent string) (*kubeapi.Server, leases) {
	t.Helper()
	srv := kubeapi.New()
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, client(t, url, userAgent)
}

func client(t *testing.T, url, userAgent string) leases {
	t.Helper()
	return newClient(t, url, userAgent, runtime.ContentTypeProtobuf)
}

func newLease(name, holder string) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}
}

func holder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestGetMissingIsNotFound(t *testing.T) {
	_, leases := start(t, "")
	_, err := leases.Get(context.Background(), "lock", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Get of a missing lease: got %v, want NotFound", err)
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %T is not a *StatusError", err)
	}
	st := se.ErrStatus
	if st.Status != metav1.StatusFailure || st.Code != 404 || st.Details == nil ||
		st.Details.Name != "lock" || st.Details.Group != "coordination.k8s.io" || st.Details.Kind != "leases" {
		t.Errorf("Status = %+v (details %+v), want Failure 404 with details lock/coordination.k8s.io/leases", st, st.Details)
	}
}

func TestNotFoundBodyShape(t *testing.T) {
	srv, _ := start(t, "")
	resp, err := http.Get(srv.URL() + kubeapi.LeasesPrefix + ns + "/leases/lock")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st metav1.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" ||
		st.Kind != "Status" || st.APIVersion != "v1" || st.Reason != metav1.StatusReasonNotFound {
		t.Errorf("got %d %q %+v, want 404 application/json Status v1 NotFound", resp.StatusCode, resp.Header.Get("Content-Type"), st)
	}
}

func TestCreateGetAndAlreadyExists(t *testing.T) {
	srv, leases := start(t, "")
	ctx := context.Background()
	created, err := leases.Create(ctx, newLease("lock", "a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.ResourceVersion == "" || created.UID == "" || created.CreationTimestamp.IsZero() ||
		created.Namespace != ns || holder(created) != "a" {
		t.Errorf("created lease %+v lacks server-set metadata or holder", created.ObjectMeta)
	}
	got, err := leases.Get(ctx, "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ResourceVersion != created.ResourceVersion || got.UID != created.UID || holder(got) != "a" {
		t.Errorf("Get = %+v, want the created lease %+v", got.ObjectMeta, created.ObjectMeta)
	}
	stored, ok := srv.Lease(ns, "lock")
	if !ok || holder(stored) != "a" || stored.ResourceVersion != created.ResourceVersion {
		t.Errorf("Lease(%q, lock) = %v, %v; want the created lease", ns, stored, ok)
	}
	if _, ok := srv.Lease("other", "lock"); ok {
		t.Error("Lease in another namespace exists")
	}

	_, err = leases.Create(ctx, newLease("lock", "b"), metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second Create: got %v, want AlreadyExists", err)
	}
	if stored, _ := srv.Lease(ns, "lock"); holder(stored) != "a" {
		t.Errorf("holder after a failed Create = %q, want a", holder(stored))
	}
}

func TestUpdateOptimisticConcurrency(t *testing.T) {
	srv, leases := start(t, "")
	ctx := context.Background()
	first, err := leases.Create(ctx, newLease("lock", "a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	second := first.DeepCopy()
	second.Spec.HolderIdentity = new(string)
	*second.Spec.HolderIdentity = "b"
	updated, err := leases.Update(ctx, second, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("Update with the current resourceVersion: %v", err)
	}
	if updated.ResourceVersion == first.ResourceVersion || updated.UID != first.UID ||
		!updated.CreationTimestamp.Equal(&first.CreationTimestamp) || holder(updated) != "b" {
		t.Errorf("updated = %+v, want a new resourceVersion, the same uid and creationTimestamp, holder b", updated.ObjectMeta)
	}

	stale := first.DeepCopy() // carries the first resourceVersion
	*stale.Spec.HolderIdentity = "c"
	_, err = leases.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("Update with a stale resourceVersion: got %v, want Conflict", err)
	}
	if stored, _ := srv.Lease(ns, "lock"); holder(stored) != "b" || stored.ResourceVersion != updated.ResourceVersion {
		t.Errorf("stored lease after a conflict = holder %q rv %s, want b %s", holder(stored), stored.ResourceVersion, updated.ResourceVersion)
	}

	noRV := updated.DeepCopy()
	noRV.ResourceVersion = ""
	if _, err = leases.Update(ctx, noRV, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("Update without a resourceVersion: got %v, want Invalid", err)
	}
	missing := updated.DeepCopy()
	missing.Name = "other"
	if _, err = leases.Update(ctx, missing, metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Update of a missing lease: got %v, want NotFound", err)
	}
}

// TestConcurrentUpdates has writers race read-modify-write cycles: with optimistic
// concurrency no increment is lost.
func TestConcurrentUpdates(t *testing.T) {
	_, leases := start(t, "")
	ctx := context.Background()
	if _, err := leases.Create(ctx, newLease("lock", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const writers, increments = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range increments {
				for {
					l, err := leases.Get(ctx, "lock", metav1.GetOptions{})
					if err != nil {
						errs <- err
						return
					}
					var n int32
					if l.Spec.LeaseTransitions != nil {
						n = *l.Spec.LeaseTransitions
					}
					n++
					l.Spec.LeaseTransitions = &n
					_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
					if err == nil {
						break
					}
					if !apierrors.IsConflict(err) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, err := leases.Get(ctx, "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != writers*increments {
		t.Errorf("leaseTransitions = %v, want %d", l.Spec.LeaseTransitions, writers*increments)
	}
}

func TestUnknownRequestsAndMethods(t *testing.T) {
	srv, leases := start(t, "")
	resp, err := http.Get(srv.URL() + "/api")
	if err != nil {
		t.Fatal(err)
	}
	var st metav1.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || st.Kind != "Status" || st.Reason != metav1.StatusReasonNotFound {
		t.Errorf("GET /api = %d %+v, want a 404 NotFound Status", resp.StatusCode, st)
	}

	err = leases.Delete(context.Background(), "lock", metav1.DeleteOptions{})
	if !apierrors.IsMethodNotSupported(err) {
		t.Errorf("Delete: got %v, want MethodNotSupported", err)
	}

	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Handled || reqs[0].Status != 404 || reqs[0].Path != "/api" ||
		!reqs[1].Handled || reqs[1].Method != http.MethodDelete || reqs[1].Status != 405 {
		t.Errorf("Requests() = %v, want the unhandled GET /api and the 405 DELETE", reqs)
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	srv, _ := start(t, "")
	resp, err := http.Post(srv.URL()+kubeapi.LeasesPrefix+ns+"/leases", "text/plain", strings.NewReader("lock"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST text/plain = %d, want 415", resp.StatusCode)
	}
}

// TestJSONClient checks the emulator with a client that speaks JSON; the other tests speak
// protobuf, as client-go's generated typed clients do by default.
func TestJSONClient(t *testing.T) {
	srv, protobuf := start(t, "")
	leases := newClient(t, srv.URL(), "", runtime.ContentTypeJSON)
	ctx := context.Background()
	if _, err := leases.Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("JSON Get of a missing lease: got %v, want NotFound", err)
	}
	created, err := leases.Create(ctx, newLease("lock", "a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("JSON Create: %v", err)
	}
	got, err := protobuf.Get(ctx, "lock", metav1.GetOptions{})
	if err != nil || holder(got) != "a" {
		t.Fatalf("protobuf Get of a lease created in JSON = %v, %v", got, err)
	}
	if _, err := leases.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("JSON Update: %v", err)
	}
	if _, err := leases.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("JSON Update with a stale resourceVersion: got %v, want Conflict", err)
	}
	var types []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			types = append(types, r.ContentType)
		}
	}
	if strings.Join(types, " ") != "application/json application/json application/json" {
		t.Errorf("request body types = %q, want application/json for all three writes", types)
	}
}

func TestDefaultClientSpeaksProtobuf(t *testing.T) {
	srv, leases := start(t, "")
	if _, err := leases.Create(context.Background(), newLease("lock", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].ContentType != "application/vnd.kubernetes.protobuf" {
		t.Errorf("Requests() = %+v, want one protobuf POST", reqs)
	}
}

func TestFaultFailsMatchingRequests(t *testing.T) {
	srv, a := start(t, "client-a")
	b := client(t, srv.URL(), "client-b")
	ctx := context.Background()
	if _, err := a.Create(ctx, newLease("lock", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	srv.SetFault(kubeapi.Fault{Match: func(r *http.Request) bool { return r.UserAgent() == "client-a" }, Times: 2})
	for i := range 2 {
		if _, err := a.Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsInternalError(err) {
			t.Errorf("faulted Get %d: got %v, want InternalError", i, err)
		}
		if _, err := b.Get(ctx, "lock", metav1.GetOptions{}); err != nil {
			t.Errorf("Get by an unmatched client: %v", err)
		}
	}
	if _, err := a.Get(ctx, "lock", metav1.GetOptions{}); err != nil {
		t.Errorf("Get after the fault ran out: %v", err)
	}

	srv.SetFault(kubeapi.Fault{Status: http.StatusServiceUnavailable})
	if _, err := b.Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("Get under a 503 fault: got %v, want ServiceUnavailable", err)
	}
	srv.ClearFault()
	if _, err := b.Get(ctx, "lock", metav1.GetOptions{}); err != nil {
		t.Errorf("Get after ClearFault: %v", err)
	}
}

func TestHangingFault(t *testing.T) {
	srv, leases := start(t, "")
	srv.SetFault(kubeapi.Fault{Hang: true})

	// The client gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := leases.Get(ctx, "lock", metav1.GetOptions{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get under a hanging fault: got %v, want a deadline error", err)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("Get returned after %v, before its deadline", d)
	}

	// ClearFault releases a held request with 503.
	done := make(chan error, 1)
	go func() {
		_, err := leases.Get(context.Background(), "lock", metav1.GetOptions{})
		done <- err
	}()
	waitHeld(t, srv, 2)
	srv.ClearFault()
	select {
	case err := <-done:
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("released Get: got %v, want ServiceUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ClearFault did not release the held request")
	}
	if _, err := leases.Get(context.Background(), "lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get after ClearFault: got %v, want NotFound", err)
	}

	// Close releases held requests too.
	srv.SetFault(kubeapi.Fault{Hang: true})
	go func() {
		_, err := leases.Get(context.Background(), "lock", metav1.GetOptions{})
		done <- err
	}()
	waitHeld(t, srv, 4)
	closed := make(chan struct{})
	go func() { _ = srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a held request")
	}
	if err := <-done; err == nil {
		t.Error("Get held when the server closed succeeded")
	}
}

// waitHeld waits until the server has received n requests, the last one still unanswered.
func waitHeld(t *testing.T, srv *kubeapi.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if reqs := srv.Requests(); len(reqs) == n && reqs[n-1].Status == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the server did not receive request %d; requests: %v", n, srv.Requests())
}
