package iac

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// This file maps the Compute Engine resources besides firewalls and networks to the
// Terraform that declares them: subnetworks (google_compute_subnetwork, and the subnets of
// terraform-google-modules/network), instances (google_compute_instance) and a project's
// common instance metadata (google_compute_project_metadata_item and
// google_compute_project_metadata); and, where nothing declares a project-wide setting yet,
// picks the file a new block for it goes to (see newBlockHits).

// fitLastSegment compares a value that names a region or zone, by name or by URL
// (".../regions/us-central1"), with a live name.
func fitLastSegment(v *val, want string) fit {
	if s, ok := v.str(); ok {
		if lastSegment(s) == want {
			return fitYes
		}
		return fitNo
	}
	p := v.pattern()
	if p == nil {
		return fitNo
	}
	last := p[len(p)-1]
	switch {
	case last.hole:
		return fitMaybe
	case strings.Contains(last.lit, "/"):
		if lastSegment(last.lit) == want {
			return fitMaybe
		}
		return fitNo
	case strings.HasSuffix(want, last.lit):
		return fitMaybe // the hole before the literal may end the URL's last segment
	}
	return fitNo
}

// checkLocation compares a block's region or zone (attr: its argument or its provider's
// default, a name or a URL) with the live one.
func (c *criteria) checkLocation(in *instance, b *tfBlock, sc *scope, attr, want string) {
	v := arg(sc, b.b, attr)
	if v == nil {
		v = in.providerDefault(b, attr)
	}
	c.check(attr, v, fitLastSegment(v, want), want)
}

// subnetworkHits finds declarations of the subnetwork name in project and region.
func (ix *Index) subnetworkHits(project identity, region, name, network string) []hit {
	var hits []hit
	ix.resourceExpansions("resource", KindSubnetwork, func(in *instance, b *tfBlock, ex expansion) {
		c, ok := ix.byNameInProject(in, b, ex, name, project)
		if !ok {
			return
		}
		c.checkLocation(in, b, ex.sc, "region", region)
		if otherNetwork(arg(ex.sc, b.b, "network"), network) {
			return
		}
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindSubnetwork,
			&target{kind: tSubnetwork, in: in, b: b, ex: ex, name: name, project: project}))
	})
	for _, shape := range []moduleShape{shapeNetwork, shapeSubnets} {
		ix.moduleCalls(shape, func(in *instance, b *tfBlock, ex expansion) {
			hits = append(hits, ix.subnetModuleHits(in, b, ex, project, region, name, network)...)
		})
	}
	hits = append(hits, ix.opaqueModuleHits(project, []string{name}, "subnetwork", shapeNetwork)...)
	return hits
}

// subnetModuleHits matches the elements of the subnets input of a network or subnets module
// call: { subnet_name, subnet_region, ... } on the call's project_id and network_name.
func (ix *Index) subnetModuleHits(in *instance, b *tfBlock, ex expansion, project identity, region, name, network string) []hit {
	p, pf, ok := networkModuleProject(b, ex, project, network)
	if !ok {
		return nil
	}
	return ix.listInputHits(in, b, ex, "subnets", KindSubnetsModule, project, p, pf, func(c *criteria, e *val) *target {
		n := e.attr("subnet_name")
		if n == nil {
			return nil
		}
		c.check("subnet_name", n, fitString(n, name, false), name)
		r := e.attr("subnet_region")
		if r == nil {
			return nil // the module requires it: not a subnet it creates
		}
		c.check("subnet_region", r, fitLastSegment(r, region), region)
		return &target{kind: tSubnetModule, name: name, project: project}
	})
}

// instanceHits finds declarations of the instance name in project and zone. An instance
// created from a template (google_compute_instance_from_template) takes most of its
// configuration from the template, so it is a candidate Patch does not edit.
func (ix *Index) instanceHits(project identity, zone, name string) []hit {
	var hits []hit
	for _, typ := range []string{KindInstance, "google_compute_instance_from_template"} {
		ix.resourceExpansions("resource", typ, func(in *instance, b *tfBlock, ex expansion) {
			c, ok := ix.byNameInProject(in, b, ex, name, project)
			if !ok {
				return
			}
			c.checkLocation(in, b, ex.sc, "zone", zone)
			c.uncertain(ex.uncertain)
			if c.fit == fitNo {
				return
			}
			if typ != KindInstance {
				c.uncertain("it is created from an instance template, which holds the rest of its configuration; change the template or the resource by hand")
				hits = append(hits, blockHit(in, b, ex, c, typ, nil))
				return
			}
			hits = append(hits, blockHit(in, b, ex, c, KindInstance,
				&target{kind: tInstance, in: in, b: b, ex: ex, name: name, project: project}))
		})
	}
	hits = append(hits, ix.opaqueModuleHits(project, []string{name}, "instance")...)
	return hits
}

// metadataKeyRe is what GCE accepts as a metadata key.
var metadataKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func validMetadataKey(k string) bool { return metadataKeyRe.MatchString(k) }

// projectMetadataHits finds what declares the metadata key in a project's common instance
// metadata: a google_compute_project_metadata_item for the key, or the authoritative
// google_compute_project_metadata. When neither does, the project's metadata items (or,
// without any, its google_project) say which file a new item goes to: newBlock returns that
// decision, for when no declaration remains.
func (ix *Index) projectMetadataHits(project identity, key string) (hits []hit, newBlock func() []hit) {
	var anchors []anchor
	ix.resourceExpansions("resource", KindProjectMetadataItem, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		k := arg(ex.sc, b.b, "key")
		if k == nil {
			return
		}
		p := projectOf(in, b, ex.sc)
		pf := fitIdentity(p, project, false, "projects/")
		if kf := fitString(k, key, false); kf == fitNo {
			if pf == fitYes && ex.uncertain == "" {
				anchors = append(anchors, ix.anchorOf(in, b, ex, project))
			}
			return
		}
		c.check("key", k, fitString(k, key, false), key)
		c.check("project", p, pf, project.String())
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindProjectMetadataItem,
			&target{kind: tProjectMetadataItem, in: in, b: b, ex: ex, metadataKey: key, project: project}))
	})
	ix.resourceExpansions("resource", KindProjectMetadata, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		c.checkProject(in, b, ex.sc, project)
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		h := blockHit(in, b, ex, c, KindProjectMetadata,
			&target{kind: tProjectMetadata, in: in, b: b, ex: ex, metadataKey: key, project: project})
		h.why += " (google_compute_project_metadata is authoritative for the project's metadata)"
		hits = append(hits, h)
	})
	hits = append(hits, ix.opaqueModuleHits(project, []string{project.String(), key}, "project and the metadata key")...)
	return hits, func() []hit {
		if len(anchors) == 0 {
			anchors = ix.projectAnchors(project)
		}
		label := labelText(project.id) + "_" + labelText(key)
		return ix.newBlockHits(anchors, KindProjectMetadataItem, label, project, key,
			fmt.Sprintf("no Terraform declares the project metadata key %s, and", quote(key)))
	}
}

// anchor is a block of the configuration of a project (its IAM, its metadata, the project
// itself) next to which a new block for the project goes.
type anchor struct {
	in *instance
	b  *tfBlock
	// project and provider are the text of the new block's project and provider arguments:
	// the anchor's own when they can be copied, "" to leave one out.
	project, provider string
	ok                bool // false when the project cannot be written for the new block
}

// anchorOf builds the anchor of a top-level block whose project fits: the new block copies
// its project and provider arguments, or writes the project ID.
func (ix *Index) anchorOf(in *instance, b *tfBlock, ex expansion, project identity) anchor {
	a := anchor{in: in, b: b, ok: true}
	if pa := b.attr("provider"); pa != nil {
		a.provider = exprSource(b.file.src, pa.Expr)
	}
	attr := "project"
	if b.kind == "module" {
		attr = ""
	}
	if attr != "" {
		if pa := b.attr(attr); pa != nil {
			a.project = exprSource(b.file.src, pa.Expr)
		} else {
			return a // the provider's default project, which the new block shares
		}
	}
	if a.project == "" || !copyable(a.project) || ex.key != "" {
		a.project = ""
		if project.id == "" {
			a.ok = false
		} else {
			a.project = quote(project.id)
		}
	}
	return a
}

// copyable reports whether an expression's text can be written into another top-level
// block: one line, and no each.*, count.* or self.* that only mean something in its own.
func copyable(text string) bool {
	return text != "" && !strings.Contains(text, "\n") &&
		!regexp.MustCompile(`\b(each|count|self)\.`).MatchString(text)
}

// exprSource returns an expression's source text.
func exprSource(src []byte, e hclsyntax.Expression) string {
	r := e.Range()
	if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(src[r.Start.Byte:r.End.Byte])
}

// projectAnchors returns the google_project blocks that create the project: a new block
// for the project goes next to them, and names the project through them.
func (ix *Index) projectAnchors(project identity) []anchor {
	var out []anchor
	ix.resourceExpansions("resource", "google_project", func(in *instance, b *tfBlock, ex expansion) {
		id := arg(ex.sc, b.b, "project_id")
		if id == nil || ex.uncertain != "" || fitIdentity(id, project, false, "projects/") != fitYes || project.id == "" {
			return
		}
		a := anchor{in: in, b: b, ok: true, project: b.addr() + ex.key + ".project_id"}
		if ex.key != "" {
			a.project = quote(project.id)
		}
		if pa := b.attr("provider"); pa != nil {
			a.provider = exprSource(b.file.src, pa.Expr)
		}
		out = append(out, a)
	})
	return out
}

// labelText turns a live name into a Terraform label: lower-case letters, digits and
// underscores, starting with a letter.
func labelText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "p_" + out
	}
	return strings.TrimSuffix(out, "_")
}

// newBlockHits decides where a new block of type typ for the project goes, from the
// anchors: the root module instance that holds them (more than one root is Ambiguous: each
// root's plan would create the block), the file of that instance holding the most anchors
// (the first by path on a tie), after its last anchor. The block is labelled label (with a
// number appended when taken). why starts the explanation.
func (ix *Index) newBlockHits(anchors []anchor, typ, label string, project identity, key, why string) []hit {
	type group struct {
		in      *instance
		byFile  map[string][]anchor
		missing bool
	}
	var groups []*group
	for _, a := range anchors {
		i := slices.IndexFunc(groups, func(g *group) bool { return g.in == a.in })
		if i < 0 {
			groups = append(groups, &group{in: a.in, byFile: map[string][]anchor{}})
			i = len(groups) - 1
		}
		g := groups[i]
		if !a.ok {
			g.missing = true
			continue
		}
		g.byFile[a.b.file.path] = append(g.byFile[a.b.file.path], a)
	}
	var hits []hit
	for _, g := range groups {
		if len(g.byFile) == 0 {
			continue
		}
		files := slices.Sorted(maps.Keys(g.byFile))
		best := files[0]
		for _, f := range files[1:] {
			if len(g.byFile[f]) > len(g.byFile[best]) {
				best = f
			}
		}
		as := g.byFile[best]
		last := as[0]
		for _, a := range as[1:] {
			if a.b.b.Range().End.Byte > last.b.b.Range().End.Byte {
				last = a
			}
		}
		l := label
		for i := 2; g.in.block("resource", typ, l) != nil; i++ {
			l = fmt.Sprintf("%s_%d", label, i)
		}
		n := 0
		for _, f := range files {
			n += len(g.byFile[f])
		}
		what := "the project's IAM"
		switch {
		case last.b.typ == "google_project":
			what = "the project"
		case typ == KindProjectMetadataItem:
			what = "the project's metadata"
		}
		h := hit{exact: true, file: last.b.file.path, line: last.b.b.TypeRange.Start.Line, addr: g.in.prefix + typ + "." + l,
			kind: typ, root: g.in.root,
			why: fmt.Sprintf("%s %s is declared in %s (%s); the new %s goes after it", why, what, best, last.b.addr(), typ),
			t: &target{kind: tNewBlock, in: g.in, b: last.b, ex: expansion{sc: &scope{in: g.in}}, newType: typ, name: l,
				newProject: last.project, newProvider: last.provider, metadataKey: key, project: project}}
		if n > len(as) {
			h.why += fmt.Sprintf(" (%d of the %d blocks are in this file)", len(as), n)
		}
		hits = append(hits, h)
	}
	return hits
}
