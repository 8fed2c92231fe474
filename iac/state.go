package iac

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"

	"google.golang.org/api/googleapi"
	storage "google.golang.org/api/storage/v1"
)

// ErrBadState is wrapped by every error of ParseState about the content of a state file.
// Such errors never quote the state: it holds secrets.
var ErrBadState = errors.New("iac: not a Terraform state v4 file")

// maxStateBytes bounds the state file ParseState reads.
const maxStateBytes = 256 << 20

// State is what zerodrift keeps of a Terraform state file: for each managed resource
// instance, its address and the provider's identifiers of the live resource. Every other
// attribute (keys, passwords, tokens) is dropped while decoding and never stored.
type State struct {
	Resources []StateResource `json:"resources"`
}

// StateResource is one managed resource instance of a state.
type StateResource struct {
	// Address is the instance's Terraform address, module path included, e.g.
	// module.base.google_compute_firewall.ssh["a"].
	Address string `json:"address"`
	// Type is the resource type, e.g. google_compute_firewall.
	Type string `json:"type"`
	// ID is the provider's ID (attributes.id), e.g. projects/p/global/firewalls/x.
	ID string `json:"id,omitempty"`
	// SelfLink, Name, Project and Service are those attributes when the resource has them
	// (Service is the service of an audit configuration, e.g. allServices).
	SelfLink string `json:"selfLink,omitempty"`
	Name     string `json:"name,omitempty"`
	Project  string `json:"project,omitempty"`
	Service  string `json:"service,omitempty"`
}

// idString decodes a JSON string and ignores every other JSON value (a null, or an
// attribute that is an object in some resource type).
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	var v string
	if json.Unmarshal(b, &v) == nil {
		*s = idString(v)
	}
	return nil
}

// Only these fields are decoded: encoding/json skips the rest of the state without
// keeping it.
type rawState struct {
	Version   *int `json:"version"`
	Resources []struct {
		Module    string `json:"module"`
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			IndexKey   json.RawMessage `json:"index_key"`
			Attributes struct {
				ID       idString `json:"id"`
				SelfLink idString `json:"self_link"`
				Name     idString `json:"name"`
				Project  idString `json:"project"`
				Service  idString `json:"service"`
			} `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// ParseState reads a Terraform state (format version 4, as `terraform state pull` prints it
// and backends store it) and keeps only the addresses and provider IDs of the managed
// resource instances. Data sources are skipped. The file is read in memory and the buffer is
// cleared before returning; errors never quote the state's content.
func ParseState(r io.Reader) (*State, error) {
	buf, err := io.ReadAll(io.LimitReader(r, maxStateBytes+1))
	defer clear(buf)
	if err != nil {
		return nil, fmt.Errorf("iac: reading state: %w", err)
	}
	if len(buf) > maxStateBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadState, maxStateBytes)
	}
	var raw rawState
	if err := json.Unmarshal(buf, &raw); err != nil {
		return nil, stateDecodeError(err)
	}
	if raw.Version == nil {
		return nil, fmt.Errorf("%w: no format version", ErrBadState)
	}
	if *raw.Version != 4 {
		return nil, fmt.Errorf("%w: format version %d is not supported", ErrBadState, *raw.Version)
	}
	st := &State{}
	for i, res := range raw.Resources {
		if res.Mode != "managed" {
			continue
		}
		if res.Type == "" || res.Name == "" {
			return nil, fmt.Errorf("%w: resource %d has no type or name", ErrBadState, i)
		}
		base := res.Type + "." + res.Name
		if res.Module != "" {
			base = res.Module + "." + base
		}
		for j, inst := range res.Instances {
			key, ok := indexKey(inst.IndexKey)
			if !ok {
				return nil, fmt.Errorf("%w: resource %d instance %d has an index key that is neither a number nor a string", ErrBadState, i, j)
			}
			a := inst.Attributes
			st.Resources = append(st.Resources, StateResource{Address: base + key, Type: res.Type,
				ID: string(a.ID), SelfLink: string(a.SelfLink), Name: string(a.Name), Project: string(a.Project), Service: string(a.Service)})
		}
	}
	return st, nil
}

// stateDecodeError describes a JSON error by position only.
func stateDecodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at byte %d", ErrBadState, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: %s has the wrong JSON type at byte %d", ErrBadState, strconv.Quote(typ.Field), typ.Offset)
	}
	return fmt.Errorf("%w: invalid JSON", ErrBadState)
}

// indexKey formats an instance's index_key as an address suffix: "", [0] or ["k"].
func indexKey(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "[" + quote(s) + "]", true
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil && n >= 0 {
		return "[" + strconv.FormatInt(n, 10) + "]", true
	}
	return "", false
}

// GCSBackend is a root's `backend "gcs"` configuration.
type GCSBackend struct {
	Bucket string
	Prefix string
}

// Object returns the name of a workspace's state object: <prefix>/<workspace>.tfstate
// ("default" when workspace is empty).
func (b GCSBackend) Object(workspace string) string {
	if workspace == "" {
		workspace = "default"
	}
	return path.Join(b.Prefix, workspace+".tfstate")
}

// Backend reads the `terraform { backend "gcs" { bucket, prefix } }` block of the root module
// in directory root. ok is false when the root has no gcs backend, or its bucket (or a
// prefix that is set) cannot be evaluated to a string.
func Backend(ix *Index, root string) (GCSBackend, bool) {
	root = path.Clean(root)
	m := ix.dirs[root]
	if m == nil {
		return GCSBackend{}, false
	}
	var in *instance
	for _, i := range ix.instances {
		if i.mod == m && i.prefix == "" && i.root == root {
			in = i
			break
		}
	}
	sc := &scope{in: in}
	for _, f := range m.files {
		for _, tb := range f.body.Blocks {
			if tb.Type != "terraform" {
				continue
			}
			for _, bb := range tb.Body.Blocks {
				if bb.Type != "backend" || len(bb.Labels) != 1 || bb.Labels[0] != "gcs" {
					continue
				}
				var out GCSBackend
				bucket, ok := arg(sc, bb, "bucket").str()
				if !ok || bucket == "" {
					return GCSBackend{}, false
				}
				out.Bucket = bucket
				if p := arg(sc, bb, "prefix"); p != nil {
					if out.Prefix, ok = p.str(); !ok {
						return GCSBackend{}, false
					}
				}
				return out, true
			}
		}
	}
	return GCSBackend{}, false
}

// ReadGCSState downloads and parses the state of a workspace ("default" when empty) from a
// GCS backend, in memory. A missing object means the root has no state: (nil, nil).
func ReadGCSState(ctx context.Context, svc *storage.Service, b GCSBackend, workspace string) (*State, error) {
	obj := b.Object(workspace)
	resp, err := svc.Objects.Get(b.Bucket, obj).Context(ctx).Download()
	if err != nil {
		var gerr *googleapi.Error
		if errors.As(err, &gerr) && gerr.Code == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("iac: reading state gs://%s/%s: %w", b.Bucket, obj, err)
	}
	defer resp.Body.Close()
	st, err := ParseState(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("iac: state gs://%s/%s: %w", b.Bucket, obj, err)
	}
	return st, nil
}

// ModuleRoots lists the directories evaluated as Terraform roots (every directory with
// Terraform that no other indexed directory calls), sorted: where a backend and its state
// belong.
func (ix *Index) ModuleRoots() []string {
	var out []string
	for _, in := range ix.instances {
		if in.depth == 0 && in.prefix == "" && !slices.Contains(out, in.root) {
			out = append(out, in.root)
		}
	}
	slices.Sort(out)
	return out
}
