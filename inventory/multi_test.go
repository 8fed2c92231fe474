package inventory

import (
	"context"
	"testing"
)

// sliceSource hands out fixed assets.
type sliceSource struct {
	name   string
	assets []*Asset
	errs   []SourceError
}

func (s sliceSource) Describe() string { return s.name }

func (s sliceSource) Read(_ context.Context, fn func(*Asset) error) ([]SourceError, error) {
	for _, a := range s.assets {
		if err := fn(a); err != nil {
			return s.errs, err
		}
	}
	return s.errs, nil
}

func TestMultiSourceHandsOnEachAssetOnce(t *testing.T) {
	fw := &Asset{Name: "//compute.googleapis.com/projects/p/global/firewalls/a", AssetType: TypeFirewall}
	proj := &Asset{Name: "//cloudresourcemanager.googleapis.com/projects/p", AssetType: TypeProject}
	other := &Asset{Name: "//compute.googleapis.com/projects/q/global/firewalls/b", AssetType: TypeFirewall}
	m := &MultiSource{Sources: []Source{
		sliceSource{name: "folders/1", assets: []*Asset{proj, fw}, errs: []SourceError{{Project: "p", Service: "iam"}}},
		sliceSource{name: "folders/2", assets: []*Asset{fw, other}},
	}}
	var got []string
	errs, err := m.Read(context.Background(), func(a *Asset) error { got = append(got, a.Name); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2] != other.Name {
		t.Errorf("assets %v, want each once", got)
	}
	if len(errs) != 1 || errs[0].Service != "iam" {
		t.Errorf("source errors %v", errs)
	}
	if m.Describe() != "folders/1; folders/2" {
		t.Errorf("Describe() = %q", m.Describe())
	}
}
