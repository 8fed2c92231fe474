package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zerodrift/zerodrift/internal/gcspath"
	"github.com/zerodrift/zerodrift/inventory"
)

// Files of a scenario folder. A folder may also hold an iac/ subfolder (the Terraform tree of
// the scenario), which seeds the emulated GitHub repository.
const (
	// AssetsFile is the CAI export of the scenario (JSON lines or a JSON array).
	AssetsFile = "assets.json"
	// OptionsFile holds the optional ScenarioOptions, in YAML.
	OptionsFile = "sandbox.yaml"
	// IaCDir is the optional folder of the scenario's Terraform tree.
	IaCDir = "iac"
)

// The APIs the sandbox emulates, as Google names them in service usage.
const (
	apiCompute         = "compute.googleapis.com"
	apiIAM             = "iam.googleapis.com"
	apiResourceManager = "cloudresourcemanager.googleapis.com"
)

// Scenario is what a Server serves: the assets of an organisation, in Cloud Asset Inventory
// shape, and the options that shape how the emulated APIs answer.
type Scenario struct {
	// Assets seed the server's state. Resource and IAM policy of one name may come as two
	// assets, as a CAI export writes them; New merges them.
	Assets []*inventory.Asset
	// Options declare how the APIs misbehave for this scenario.
	Options ScenarioOptions
	// IaC, when set, is the Terraform tree of the scenario: every file in it is committed to
	// the base branch of the emulated GitHub repository, at the same path. Nil means an
	// empty repository (one commit with an empty tree).
	IaC fs.FS
	// State, when set, holds Cloud Storage objects as {bucket}/{object} (the scenario's
	// state/ folder): Terraform state served at the Cloud Storage download path.
	State fs.FS
}

// ScenarioOptions are the per-scenario behaviours of the emulated APIs, read from the
// scenario's sandbox.yaml:
//
//	deniedPolicies: [organizations/123]
//	disabledServices:
//	  my-project: [compute.googleapis.com]
//	buckets: [zerodrift-exports]
type ScenarioOptions struct {
	// DeniedPolicies names resources whose IAM policy the caller may not read or write:
	// organizations/ID, folders/ID or projects/ID-or-number. getIamPolicy and setIamPolicy on
	// them answer 403 PERMISSION_DENIED, as Google does for a caller without the permission.
	DeniedPolicies []string `yaml:"deniedPolicies"`
	// DisabledServices maps a project ID to the APIs disabled in it (compute.googleapis.com,
	// iam.googleapis.com, cloudresourcemanager.googleapis.com). Calls to such an API for that
	// project answer 403 PERMISSION_DENIED with reason accessNotConfigured.
	DisabledServices map[string][]string `yaml:"disabledServices"`
	// Buckets names Cloud Storage buckets that exist, empty, besides the folders of the
	// scenario's state/ folder: where Cloud Asset Inventory exports may be written (an export
	// to any other bucket fails, as Google's does).
	Buckets []string `yaml:"buckets"`
}

// LoadScenario reads the scenario in folder dir of fsys: dir/assets.json, decoded with
// inventory.DecodeCAI, the optional dir/sandbox.yaml and the optional dir/iac folder (kept as
// Scenario.IaC and read when the Server is built). The resource and IAM-policy lines
// of one asset name are merged into one asset. Errors name the file (and line) at fault;
// every problem of sandbox.yaml is reported at once.
func LoadScenario(fsys fs.FS, dir string) (*Scenario, error) {
	assetsPath := path.Join(dir, AssetsFile)
	f, err := fsys.Open(assetsPath)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	defer f.Close()
	var assets []*inventory.Asset
	_, err = inventory.DecodeCAI(context.Background(), f, inventory.DecodeOptions{Name: assetsPath},
		func(a *inventory.Asset) error {
			assets = append(assets, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	merged, err := mergeAssets(assets)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %s: %w", assetsPath, err)
	}
	sc := &Scenario{Assets: merged}
	iacPath := path.Join(dir, IaCDir)
	switch fi, err := fs.Stat(fsys, iacPath); {
	case err == nil && fi.IsDir():
		sub, err := fs.Sub(fsys, iacPath)
		if err != nil {
			return nil, fmt.Errorf("reading scenario: %w", err)
		}
		sc.IaC = sub
	case err == nil:
		return nil, fmt.Errorf("reading scenario: %s is not a folder", iacPath)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading scenario: %w", err)
	}

	if sc.State, err = LoadScenarioState(fsys, dir); err != nil {
		return nil, err
	}

	optsPath := path.Join(dir, OptionsFile)
	raw, err := fs.ReadFile(fsys, optsPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sc, nil
	case err != nil:
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	st, err := newState(merged, nil)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %s: %w", assetsPath, err)
	}
	opts, err := parseOptions(optsPath, raw, st)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	sc.Options = opts
	return sc, nil
}

// mergeAssets merges assets of the same name (a CAI export's resource line and IAM-policy
// line) into one, keeping the order of first appearance. The inputs are not modified.
func mergeAssets(assets []*inventory.Asset) ([]*inventory.Asset, error) {
	byName := make(map[string]*inventory.Asset, len(assets))
	out := make([]*inventory.Asset, 0, len(assets))
	for _, a := range assets {
		if a == nil {
			continue
		}
		if a.Name == "" {
			return nil, fmt.Errorf("asset of type %q has no name", a.AssetType)
		}
		prev, ok := byName[a.Name]
		if !ok {
			c := *a
			byName[a.Name] = &c
			out = append(out, &c)
			continue
		}
		if prev.AssetType != a.AssetType {
			return nil, fmt.Errorf("asset %s is both a %s and a %s", a.Name, prev.AssetType, a.AssetType)
		}
		if a.Resource != nil {
			if prev.Resource != nil {
				return nil, fmt.Errorf("asset %s: resource given twice", a.Name)
			}
			prev.Resource = a.Resource
		}
		if a.IAMPolicy != nil {
			if prev.IAMPolicy != nil {
				return nil, fmt.Errorf("asset %s: IAM policy given twice", a.Name)
			}
			prev.IAMPolicy = a.IAMPolicy
		}
		if len(prev.Ancestors) == 0 {
			prev.Ancestors = a.Ancestors
		}
		if a.UpdateTime.After(prev.UpdateTime) {
			prev.UpdateTime = a.UpdateTime
		}
	}
	return out, nil
}

// optionsFile is sandbox.yaml as written, with the line of every value, so that errors can
// name them.
type optionsFile struct {
	DeniedPolicies   []lineString `yaml:"deniedPolicies"`
	DisabledServices servicesMap  `yaml:"disabledServices"`
	Buckets          []lineString `yaml:"buckets"`
}

type lineString struct {
	value string
	line  int
}

func (s *lineString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a string", n.Line)
	}
	s.value, s.line = n.Value, n.Line
	return nil
}

type servicesEntry struct {
	project  lineString
	services []lineString
}

type servicesMap []servicesEntry

func (m *servicesMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: disabledServices: expected a map of project ID to a list of services", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var e servicesEntry
		if err := n.Content[i].Decode(&e.project); err != nil {
			return err
		}
		v := n.Content[i+1]
		if v.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: disabledServices: %s: expected a list of services", v.Line, e.project.value)
		}
		if err := v.Decode(&e.services); err != nil {
			return err
		}
		*m = append(*m, e)
	}
	return nil
}

// parseOptions decodes sandbox.yaml strictly and checks that what it names is in the
// scenario (st). Every problem is reported, each with file and line.
func parseOptions(name string, raw []byte, st *state) (ScenarioOptions, error) {
	var f optionsFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return ScenarioOptions{}, nil
		}
		return ScenarioOptions{}, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return ScenarioOptions{}, fmt.Errorf("%s: holds more than one YAML document", name)
	}
	var errs []error
	var opts ScenarioOptions
	for _, d := range f.DeniedPolicies {
		if err := st.checkDenied(d.value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: deniedPolicies: %w", name, d.line, err))
			continue
		}
		opts.DeniedPolicies = append(opts.DeniedPolicies, d.value)
	}
	seen := map[string]int{}
	for _, e := range f.DisabledServices {
		if line, dup := seen[e.project.value]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: disabledServices: project %q already listed on line %d", name, e.project.line, e.project.value, line))
			continue
		}
		seen[e.project.value] = e.project.line
		if err := st.checkProject(e.project.value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: disabledServices: %w", name, e.project.line, err))
			continue
		}
		var svcs []string
		for _, s := range e.services {
			if err := checkService(s.value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: disabledServices: %s: %w", name, s.line, e.project.value, err))
				continue
			}
			svcs = append(svcs, s.value)
		}
		if opts.DisabledServices == nil {
			opts.DisabledServices = map[string][]string{}
		}
		opts.DisabledServices[e.project.value] = svcs
	}
	for _, b := range f.Buckets {
		if err := checkBucket(b.value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: buckets: %w", name, b.line, err))
			continue
		}
		opts.Buckets = append(opts.Buckets, b.value)
	}
	if len(errs) > 0 {
		return ScenarioOptions{}, errors.Join(errs...)
	}
	return opts, nil
}

// checkOptions checks options given in Go (not read from a file) against the scenario.
func checkOptions(opts ScenarioOptions, st *state) error {
	var errs []error
	for _, d := range opts.DeniedPolicies {
		if err := st.checkDenied(d); err != nil {
			errs = append(errs, fmt.Errorf("deniedPolicies: %w", err))
		}
	}
	for p, svcs := range opts.DisabledServices {
		if err := st.checkProject(p); err != nil {
			errs = append(errs, fmt.Errorf("disabledServices: %w", err))
		}
		for _, s := range svcs {
			if err := checkService(s); err != nil {
				errs = append(errs, fmt.Errorf("disabledServices: %s: %w", p, err))
			}
		}
	}
	for _, b := range opts.Buckets {
		if err := checkBucket(b); err != nil {
			errs = append(errs, fmt.Errorf("buckets: %w", err))
		}
	}
	return errors.Join(errs...)
}

func checkBucket(b string) error {
	if !gcspath.ValidBucket(b) {
		return fmt.Errorf("%q is not a Cloud Storage bucket name (3 to 222 lower-case letters, digits, -, _ and .)", b)
	}
	return nil
}

func checkService(s string) error {
	switch s {
	case apiCompute, apiIAM, apiResourceManager:
		return nil
	}
	return fmt.Errorf("unknown service %q (want one of %s)", s, strings.Join([]string{apiCompute, apiIAM, apiResourceManager}, ", "))
}
