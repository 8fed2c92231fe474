package remediators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
)

// Settings tune how actions wait and retry. The zero value means the defaults.
type Settings struct {
	// OperationTimeout bounds the wait for one long-running compute operation; 2 minutes
	// when zero. A wait that times out is an error wrapping ErrOperationTimeout: the change
	// may still complete after it.
	OperationTimeout time.Duration
	// PollInterval is the first pause between two polls of a running operation; it doubles
	// up to 10 seconds. 1 second when zero.
	PollInterval time.Duration
	// ConflictRetries is how many times an IAM action re-reads, re-plans and writes again
	// after an etag conflict before it gives up; 5 when zero or negative.
	ConflictRetries int
	// ConflictBackoff is the first pause before such a retry; it doubles (with jitter) up to
	// 8 seconds. 500 milliseconds when zero.
	ConflictBackoff time.Duration
	// Retry is how the actions' reads are retried on 429, 5xx and timeouts (see
	// inventory.RetryPolicy; its defaults for zero fields). Writes are sent once.
	Retry inventory.RetryPolicy
}

// Defaults of Settings.
const (
	DefaultOperationTimeout = 2 * time.Minute
	DefaultPollInterval     = time.Second
	DefaultConflictRetries  = 5
	DefaultConflictBackoff  = 500 * time.Millisecond
	// MaxPollInterval and MaxConflictBackoff cap the growing pauses.
	MaxPollInterval    = 10 * time.Second
	MaxConflictBackoff = 8 * time.Second
)

// WithDefaults returns s with every unset field set to its default.
func (s Settings) WithDefaults() Settings {
	if s.OperationTimeout <= 0 {
		s.OperationTimeout = DefaultOperationTimeout
	}
	if s.PollInterval <= 0 {
		s.PollInterval = DefaultPollInterval
	}
	if s.ConflictRetries <= 0 {
		s.ConflictRetries = DefaultConflictRetries
	}
	if s.ConflictBackoff <= 0 {
		s.ConflictBackoff = DefaultConflictBackoff
	}
	return s
}

// Config says how to reach the Google APIs the actions call.
type Config struct {
	// Endpoint overrides the base URL of every Google API (private endpoints, the sandbox),
	// e.g. "http://127.0.0.1:8085"; Endpoints overrides it per service, keyed by
	// inventory.ServiceCompute, ServiceResourceManager or ServiceIAM.
	Endpoint  string
	Endpoints map[string]string
	// ClientOptions are added to every client (credentials, HTTP client, user agent).
	ClientOptions []option.ClientOption
	// WrapTransport, when set, wraps each service's HTTP transport (metrics).
	WrapTransport inventory.TransportWrapper
	// Settings tune waiting and retrying.
	Settings Settings
}

// Options returns the client options of one service (see inventory.ServiceOptions), its
// reads retried as Settings.Retry says (inventory.RetryReads): the clients built from them
// must drop their own retries. The IAM client (discovery-based) gets the final slash it
// needs on its endpoint.
func (c Config) Options(ctx context.Context, service string) ([]option.ClientOption, error) {
	e := strings.TrimSuffix(c.Endpoints[service], "/")
	if e == "" {
		e = strings.TrimSuffix(c.Endpoint, "/")
	}
	if e != "" && service == inventory.ServiceIAM {
		e += "/"
	}
	retry := inventory.RetryReads(c.Settings.Retry, zap.NewNop())
	wrap := func(service string, rt http.RoundTripper) http.RoundTripper {
		if c.WrapTransport != nil {
			rt = c.WrapTransport(service, rt) // inside the retries: it sees every attempt
		}
		return retry(service, rt)
	}
	return inventory.ServiceOptions(ctx, service, e, c.ClientOptions, wrap)
}

// ErrOperationTimeout is wrapped when a long-running operation did not finish within
// Settings.OperationTimeout.
var ErrOperationTimeout = errors.New("timed out waiting for the operation")

// OperationError is a long-running compute operation that finished with an error: the
// change was accepted and then failed. It carries the operation's own error text.
type OperationError struct {
	// Operation is the operation's name; Target the resource it worked on (a URL).
	Operation string
	Target    string
	// HTTPStatus is the operation's httpErrorStatusCode, when it has one.
	HTTPStatus int
	Errors     []OperationErrorItem
}

// OperationErrorItem is one error of a failed operation.
type OperationErrorItem struct {
	Code    string
	Message string
}

func (e *OperationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operation %s failed", e.Operation)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	for i, it := range e.Errors {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		if it.Code != "" {
			b.WriteString(it.Code + ": ")
		}
		b.WriteString(it.Message)
	}
	return b.String()
}

// Registry maps action names, as playbooks spell them, to actions. It is a plain map so
// that the engine can take it as it is; remediators/registry builds zerodrift's own from one
// explicit literal. An action that holds API clients implements io.Closer; actions that
// share clients close them once.
type Registry map[string]Action

// Check reports every entry whose key is not its action's Name(), or whose action is nil.
func (r Registry) Check() error {
	var errs []error
	for _, name := range r.Names() {
		switch a := r[name]; {
		case a == nil:
			errs = append(errs, fmt.Errorf("action %q is nil", name))
		case a.Name() != name:
			errs = append(errs, fmt.Errorf("action registered as %q calls itself %q", name, a.Name()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("checking the action registry: %w", err)
	}
	return nil
}

// Lookup returns the action of a name; the error lists the names there are.
func (r Registry) Lookup(name string) (Action, error) {
	if a, ok := r[name]; ok && a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("unknown action %q: known actions are %s", name, strings.Join(r.Names(), ", "))
}

// Names lists the registered action names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close releases the API clients the actions hold. The registry must not be used afterwards.
func (r Registry) Close() error {
	var errs []error
	for _, name := range r.Names() {
		if c, ok := r[name].(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}
