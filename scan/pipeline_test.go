package scan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/bench/synth"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// TestPipelinedReadMatchesDirect: reading the source on a goroutine of its own, as Run
// does with several CPUs, gives the very report that calling Add from the source does.
func TestPipelinedReadMatchesDirect(t *testing.T) {
	var export bytes.Buffer
	if err := synth.Write(&export, 3*pipelineBatch+17, 3); err != nil {
		t.Fatal(err)
	}
	// A bad record, skipped, and labels to remember.
	in := export.String() + "not json\n" + projectLine + "\n"
	o := opts
	o.LabelKeys = []string{"env", "zerodrift-exempt"}
	o.InScope = func(a *inventory.Asset) bool { return !strings.Contains(a.Name, "fw-7") }
	source := func() inventory.Source {
		return &inventory.ExportSource{Name: "export.json", R: strings.NewReader(in), SkipInvalid: true}
	}

	direct := New(o)
	errs, err := source().Read(context.Background(), direct.Add)
	if err != nil {
		t.Fatal(err)
	}
	direct.AddErrors(errs)
	want := direct.Report("export.json")

	piped := New(o)
	errs, err = piped.readPipelined(context.Background(), source())
	if err != nil {
		t.Fatal(err)
	}
	piped.AddErrors(errs)
	got := piped.Report("export.json")

	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pipelined report differs:\n got %+v\nwant %+v", got.Summary, want.Summary)
	}
	if want.Summary.Assets == 0 || len(want.Findings) == 0 || len(want.Errors) != 1 || len(want.Labels) == 0 {
		t.Fatalf("the test export exercises too little: %+v, %d labels", want.Summary, len(want.Labels))
	}
}

// TestPipelinedReadReportsSourceFailure: a source that cannot run fails the read, after
// what it handed on was judged.
func TestPipelinedReadReportsSourceFailure(t *testing.T) {
	s := New(opts)
	_, err := s.readPipelined(context.Background(), export(openSSH, `{"name":`))
	var de *inventory.DecodeError
	if !errors.As(err, &de) || de.Line != 2 {
		t.Fatalf("got %v, want the decode error of line 2", err)
	}
	if rep := s.Report("x"); rep.Summary.Assets != 1 {
		t.Fatalf("judged %d assets before the failure, want 1", rep.Summary.Assets)
	}
}

type panickingSource struct{ n int }

func (p panickingSource) Describe() string { return "panicking" }

func (p panickingSource) Read(_ context.Context, fn func(*inventory.Asset) error) ([]inventory.SourceError, error) {
	for i := range p.n {
		if err := fn(&inventory.Asset{Name: "//compute.googleapis.com/projects/p/global/networks/n" + string(rune('a'+i%26)),
			AssetType: inventory.TypeNetwork}); err != nil {
			return nil, err
		}
	}
	panic("source broke")
}

// TestPipelinedReadRaisesSourcePanics: a panic of the source reaches the caller of Run, as
// it does when the source runs on the caller's goroutine.
func TestPipelinedReadRaisesSourcePanics(t *testing.T) {
	defer func() {
		if v := recover(); v != "source broke" {
			t.Fatalf("recovered %v, want the source's panic", v)
		}
	}()
	New(opts).readPipelined(context.Background(), panickingSource{n: 3 * pipelineBatch})
	t.Fatal("no panic")
}

type panickingRule struct{ rules.Rule }

func (panickingRule) Evaluate(*rules.Env, *inventory.Asset, *rules.Results) error {
	panic("rule broke")
}

// TestPipelinedReadStopsTheSourceWhenJudgingPanics: the source does not stay blocked.
func TestPipelinedReadStopsTheSourceWhenJudgingPanics(t *testing.T) {
	o := opts
	o.Rules = []rules.Rule{panickingRule{rules.Default()[1]}} // judges networks
	src := &stoppableSource{done: make(chan error, 1)}
	func() {
		defer func() {
			if v := recover(); v != "rule broke" {
				t.Fatalf("recovered %v, want the rule's panic", v)
			}
		}()
		New(o).readPipelined(context.Background(), src)
	}()
	if err := <-src.done; !errors.Is(err, errJudgingStopped) {
		t.Fatalf("the source ended with %v, want errJudgingStopped", err)
	}
}

type stoppableSource struct{ done chan error }

func (s *stoppableSource) Describe() string { return "endless" }

func (s *stoppableSource) Read(_ context.Context, fn func(*inventory.Asset) error) ([]inventory.SourceError, error) {
	for {
		if err := fn(&inventory.Asset{Name: "//compute.googleapis.com/projects/p/global/networks/n", AssetType: inventory.TypeNetwork}); err != nil {
			s.done <- err
			return nil, err
		}
	}
}

// wholeSource hides that an export can leave data out (inventory.DataNarrower), so Run
// reads every asset whole.
type wholeSource struct{ inventory.Source }

// TestNarrowedReadMatchesWhole: Run keeps only the data the rules read, and of the shared
// compute views the views alone (no label key asked for); the report is the one a whole
// read gives, findings, skips and errors alike, on the synthetic mix and on the built-in
// sandbox's export, whose rules flag every kind of drift.
func TestNarrowedReadMatchesWhole(t *testing.T) {
	var export bytes.Buffer
	if err := synth.Write(&export, 2000, 5); err != nil {
		t.Fatal(err)
	}
	builtin, err := os.ReadFile("../sandbox/scenarios/builtin/assets.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{"synthetic": export.String() + "not json\n", "builtin": string(builtin)} {
		t.Run(name, func(t *testing.T) {
			src := func() *inventory.ExportSource {
				return &inventory.ExportSource{Name: "export.json", R: strings.NewReader(in), SkipInvalid: true}
			}
			narrowed, err := Run(context.Background(), src(), opts)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := Run(context.Background(), wholeSource{src()}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(narrowed, whole) {
				t.Fatalf("the narrowed read's report differs:\n got %+v, %d findings\nwant %+v, %d findings",
					narrowed.Summary, len(narrowed.Findings), whole.Summary, len(whole.Findings))
			}
			if whole.Summary.Assets == 0 || len(whole.Findings) == 0 {
				t.Fatalf("the export exercises too little: %+v", whole.Summary)
			}
		})
	}
}
