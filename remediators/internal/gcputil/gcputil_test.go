package gcputil

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
)

func TestOperationFailure(t *testing.T) {
	if err := OperationFailure(&computepb.Operation{Name: proto.String("op"), Status: computepb.Operation_DONE.Enum()}); err != nil {
		t.Errorf("a successful operation: %v", err)
	}
	err := OperationFailure(&computepb.Operation{Name: proto.String("op"), HttpErrorStatusCode: proto.Int32(400),
		Error: &computepb.Error{Errors: []*computepb.Errors{{Code: proto.String("RESOURCE_IN_USE"), Message: proto.String("in use")}}}})
	var oe *remediators.OperationError
	if !errors.As(err, &oe) || oe.HTTPStatus != 400 || !strings.Contains(err.Error(), "RESOURCE_IN_USE: in use") {
		t.Errorf("failed operation: %v", err)
	}
}

func TestNames(t *testing.T) {
	if p, n, err := ParseGlobalName("//compute.googleapis.com/projects/p/global/firewalls/f", "firewalls"); p != "p" || n != "f" || err != nil {
		t.Errorf("ParseGlobalName = %q, %q, %v", p, n, err)
	}
	for _, bad := range []string{"//compute.googleapis.com/projects/p/global/networks/f", "projects/p/global/firewalls/f",
		"//compute.googleapis.com/projects/p/global/firewalls/", "//compute.googleapis.com/projects/p/regions/r/firewalls/f"} {
		if _, _, err := ParseGlobalName(bad, "firewalls"); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("ParseGlobalName(%q): %v", bad, err)
		}
	}
	if got := FullName("https://compute.googleapis.com/compute/v1/projects/p/zones/z/instances/i"); got != "//compute.googleapis.com/projects/p/zones/z/instances/i" {
		t.Errorf("FullName = %q", got)
	}
}

func TestErrors(t *testing.T) {
	nf := fmt.Errorf("reading: %w", &googleapi.Error{Code: http.StatusNotFound})
	if !IsNotFound(nf) || IsConflict(nf) || !errors.Is(Gone(nf), remediators.ErrGone) {
		t.Error("404")
	}
	if !IsConflict(&googleapi.Error{Code: http.StatusConflict}) || errors.Is(Gone(errors.New("x")), remediators.ErrGone) {
		t.Error("409")
	}
}
