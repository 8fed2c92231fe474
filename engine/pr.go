package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/pullrequest"
	"github.com/zerodrift/zerodrift/rules"
)

// PullRequests is what the engine needs of the IaC repository's pull requests;
// *pullrequest.Client provides it.
type PullRequests interface {
	ReadTree(ctx context.Context) (fs.FS, string, error)
	Ensure(ctx context.Context, p pullrequest.Proposal) (pullrequest.Outcome, error)
	CloseObsolete(ctx context.Context, keep func(pullrequest.Marker) bool) ([]pullrequest.Outcome, error)
}

// PRProposal is the pull request a decision proposes (or opened), for reports.
type PRProposal struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Address string `json:"address"`
	Summary string `json:"summary"`
	Diff    string `json:"diff"`
	// Warnings are what a reviewer must know (an edit in a shared local, a module used twice).
	Warnings []string `json:"warnings,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Number   int      `json:"number,omitempty"`
	URL      string   `json:"url,omitempty"`
	Outcome  string   `json:"outcome,omitempty"`
}

// iacState is what one run knows of the Terraform: the index (nil when none is
// configured), the base commit it was read at, and why it could not be read, if so.
type iacState struct {
	index   *iac.Index
	baseSHA string
	err     error
}

// loadIaC indexes the Terraform: from the repository's base branch when pull requests are
// configured, else from a local folder when one is given.
func (e *Engine) loadIaC(ctx context.Context, log *zap.Logger) iacState {
	var fsys fs.FS
	var base string
	switch {
	case e.d.PRs != nil:
		tree, sha, err := e.d.PRs.ReadTree(ctx)
		if err != nil {
			return iacState{err: fmt.Errorf("reading the IaC repository: %w", err)}
		}
		fsys, base = tree, sha
	case e.d.IaCDir != nil:
		fsys = e.d.IaCDir
	default:
		return iacState{}
	}
	roots := e.d.Config.IaC.Roots
	if len(roots) == 0 {
		roots = []string{"."}
	}
	ix, err := iac.Load(fsys, roots)
	if err != nil {
		return iacState{err: fmt.Errorf("indexing the Terraform: %w", err)}
	}
	for _, p := range ix.Problems {
		log.Warn("Terraform the index could not read", zap.String("problem", p.String()))
	}
	e.attachState(ctx, log, ix)
	return iacState{index: ix, baseSHA: base}
}

// attachState reads the Terraform state of every root with a gcs backend (from its backend
// block, or iac.states in config), for each configured workspace, so provider IDs map to
// exact addresses. A state that cannot be read leaves the root to configuration matching,
// which only ever answers with an exact, unique match or a report.
func (e *Engine) attachState(ctx context.Context, log *zap.Logger, ix *iac.Index) {
	if e.d.ReadState == nil {
		return
	}
	configured := map[string]iac.GCSBackend{}
	for _, s := range e.d.Config.IaC.States {
		configured[path.Clean(s.Root)] = iac.GCSBackend{Bucket: s.Bucket, Prefix: s.Prefix}
	}
	for _, root := range ix.ModuleRoots() {
		b, ok := configured[root]
		if !ok {
			if b, ok = iac.Backend(ix, root); !ok {
				continue
			}
		}
		var merged *iac.State
		for _, ws := range e.d.Config.IaC.StateWorkspaces() {
			st, err := e.d.ReadState(ctx, b, ws)
			if err != nil {
				// The error names the bucket and object only: state content is never quoted.
				log.Warn("Terraform state unreadable; matching by configuration", zap.String("root", root),
					zap.String("bucket", b.Bucket), zap.String("object", b.Object(ws)), zap.Error(err))
				continue
			}
			if st == nil {
				log.Debug("no Terraform state for this workspace", zap.String("root", root), zap.String("object", b.Object(ws)))
				continue
			}
			if merged == nil {
				merged = &iac.State{}
			}
			// Each workspace's instances are separate live resources at the same addresses:
			// a live resource is matched by its provider ID, whichever workspace holds it.
			merged.Resources = append(merged.Resources, st.Resources...)
		}
		if merged != nil {
			ix.WithState(root, merged)
		}
	}
}

// Declared maps finding IDs to the Terraform that declares their drifting part (a firewall,
// or the one binding of a policy), for SARIF.
func Declared(ix *iac.Index, fs []rules.Finding) map[string]iac.Match {
	out := map[string]iac.Match{}
	if ix == nil {
		return out
	}
	for _, f := range fs {
		if m := ix.Owner(f.AssetType, ownerName(&f), f.Evidence); m.Status == iac.Managed {
			out[f.ID] = m
		}
	}
	return out
}

// routeIaC decides for a finding on a resource the Terraform may declare. handled is false
// when the Terraform does not declare it, so the live route applies.
func (e *Engine) routeIaC(ctx context.Context, log *zap.Logger, runID string, st iacState, f *rules.Finding, mode string, d *Decision) (handled bool) {
	if st.err != nil {
		// Without the Terraform we cannot tell who owns the resource; a live fix could fight
		// the next terraform apply, so only report.
		d.Action, d.Reason = ActionReport, fmt.Sprintf("the IaC repository could not be read, so ownership is unknown: %v", st.err)
		return true
	}
	if st.index == nil {
		return false
	}
	m := st.index.Owner(f.AssetType, ownerName(f), f.Evidence)
	switch m.Status {
	case iac.Unmanaged:
		return false
	case iac.Ambiguous, iac.Unresolved:
		d.Action = ActionReport
		d.Reason = fmt.Sprintf("Terraform may declare this resource (%s): %s; fix it in code by hand", m.Status, m.Why)
		for _, c := range m.Candidates {
			d.Reason += fmt.Sprintf("; candidate %s:%d %s", c.File, c.Line, c.Address)
		}
		return true
	}
	fix, ok := e.terraformFix(f)
	if !ok {
		d.Action = ActionReport
		d.Reason = fmt.Sprintf("declared in Terraform at %s:%d (%s), but no playbook writes this fix in Terraform; fix it in code", m.File, m.Line, m.Address)
		return true
	}
	params := map[string]any{}
	if len(fix.Steps) > 0 {
		params = e.params(fix.Steps[0])
	}
	patch, err := st.index.Patch(m, fix.TerraformEdit, params, f.Evidence)
	if err != nil {
		d.Action = ActionReport
		// Patch's error names the edit, the address and the file:line.
		d.Reason = fmt.Sprintf("declared in Terraform, but the fix could not be written in code: %v", err)
		return true
	}
	d.Playbook = fix.Playbook
	d.PR = &PRProposal{File: patch.File, Line: m.Line, Address: m.Address, Summary: patch.Summary, Diff: patch.Diff,
		Warnings: patch.Warnings}
	switch {
	case e.d.Config.Paused:
		d.Action, d.Reason = ActionReport, "paused: true in the configuration stops every live change and pull request"
	case mode != "apply" || e.d.PRs == nil:
		d.Action = ActionPR
		d.Reason = fmt.Sprintf("dry run: would open a pull request editing %s (%s): %s", patch.File, m.Address, patch.Summary)
		if e.d.PRs == nil && mode == "apply" {
			d.Action = ActionReport
			d.Reason = fmt.Sprintf("declared in Terraform at %s:%d (%s); configure github to open the pull request: %s", m.File, m.Line, m.Address, patch.Summary)
		}
	default:
		e.ensurePR(ctx, log, runID, st, f, m, fix, patch, d)
	}
	return true
}

// ownerName is the resource name Terraform would know: CAI names a project by number, while
// Terraform names it by ID, which the finding carries.
func ownerName(f *rules.Finding) string {
	const prefix = "//cloudresourcemanager.googleapis.com/projects/"
	if rest, ok := strings.CutPrefix(f.Resource, prefix); ok && f.Project != "" && !strings.Contains(rest, "/") {
		return prefix + f.Project
	}
	return f.Resource
}

// terraformFix is the gentlest playbook for the finding that can be written in Terraform.
func (e *Engine) terraformFix(f *rules.Finding) (Fix, bool) {
	for _, fix := range e.fixesFor(f) {
		if fix.TerraformEdit != "" && fix.Effect != EffectObserves {
			return fix, true
		}
	}
	return Fix{}, false
}

// ensurePR opens or updates the finding's pull request under the finding's lock, so that
// two runs never write one pull request at once. A lock taken over from a run that died
// makes the proposal a resumption: the dead run may have opened the pull request without
// finishing it (labels, reviewers).
func (e *Engine) ensurePR(ctx context.Context, log *zap.Logger, runID string, st iacState, f *rules.Finding, m iac.Match, fix Fix,
	patch *iac.Patch, d *Decision) {
	cfg := e.d.Config
	key := prLockPrefix + f.ID
	resume, err := e.lock(ctx, log, key, runID)
	if err != nil {
		d.Action, d.Reason = ActionReport, fmt.Sprintf("declared in Terraform at %s:%d, but its pull request could not be locked: %v", m.File, m.Line, err)
		return
	}
	defer e.unlock(ctx, log, key, runID)
	body := pullrequest.RenderBody(pullrequest.BodyData{
		FindingID: f.ID, Rule: f.Rule, Title: f.Title, Severity: f.Severity.String(), Resource: f.Resource,
		Project: f.Project, Evidence: f.Evidence, SCCCategory: f.Category, CIS: f.CIS,
		CISVersion: "v" + cfg.Baseline.CISVersion, TerraformAddress: m.Address, File: m.File, Line: m.Line,
		PlanEffect: planEffect(fix, patch), Risk: fix.Risk,
		Rollback: fmt.Sprintf("Revert this pull request and apply. zerodrift proposes the fix again after %d days "+
			"(github.coolOffDays) if the drift is still there; add an exemption to keep it longer.", *cfg.GitHub.CoolOffDays),
		CoolOffNote: fmt.Sprintf("%d days have passed", *cfg.GitHub.CoolOffDays),
	})
	out, err := e.d.PRs.Ensure(ctx, pullrequest.Proposal{FindingID: f.ID, Rule: f.Rule, Resource: f.Resource, Project: f.Project,
		Title: pullrequest.Title(f.Title, f.Rule, pullrequest.TitleSubject(f.Resource, m.Address)), Body: body, Files: map[string][]byte{patch.File: patch.After}, BaseSHA: st.baseSHA, Resume: resume})
	if err != nil {
		d.Action, d.Reason = ActionReport, fmt.Sprintf("declared in Terraform at %s:%d, but the pull request could not be opened: %v", m.File, m.Line, err)
		return
	}
	d.PR.Branch, d.PR.Number, d.PR.URL, d.PR.Outcome = out.Branch, out.Number, out.URL, string(out.Action)
	switch out.Action {
	case pullrequest.ActionDeclined:
		d.Action, d.Reason = ActionReport, fmt.Sprintf("declined: pull request #%d was closed unmerged; not proposed again until the cool-off passes", out.Number)
	case pullrequest.ActionSkippedLimit:
		d.Action, d.Reason = ActionSkippedLimit, fmt.Sprintf("this run reached github.maxPRsPerRun (%d)", *cfg.GitHub.MaxPRsPerRun)
	case pullrequest.ActionConflict, pullrequest.ActionStale:
		d.Action, d.Reason = ActionReport, fmt.Sprintf("pull request not opened (%s): %s", out.Action, out.Reason)
	default:
		d.Action = ActionPR
		d.Reason = fmt.Sprintf("pull request #%d %s (%s): %s", out.Number, out.Action, out.Branch, patch.Summary)
		if resume {
			d.Reason += "; resumed after a run died writing it"
			if out.Reason != "" {
				d.Reason += ": " + out.Reason
			}
		}
	}
}

// planEffect says what terraform plan should show for the patch: the resources it destroys
// and creates, and the declarations it updates in place.
func planEffect(fix Fix, patch *iac.Patch) string {
	var parts []string
	if len(patch.Destroys) > 0 {
		parts = append(parts, "a destroy of "+andList(patch.Destroys))
	}
	if len(patch.Creates) > 0 {
		parts = append(parts, "a create of "+andList(patch.Creates))
	}
	var effect string
	switch {
	case len(parts) > 0:
		if len(patch.Updates) > 0 {
			parts = append(parts, "an in-place update of "+andList(patch.Updates))
		}
		if len(patch.ModuleInputs) > 0 {
			parts = append(parts, "a change of the module input "+andList(patch.ModuleInputs))
		}
		effect = parts[0]
		if n := len(parts); n > 1 {
			effect = strings.Join(parts[:n-1], ", ") + ", and " + parts[n-1]
		}
		effect += ": " + patch.Summary
	case fix.TerraformEdit == iac.EditRemoveResource:
		// An element of a module call's list: the module destroys what it declared for it.
		effect = "a destroy of the declared resource: " + patch.Summary
	case len(patch.ModuleInputs) > 0:
		// What the module declares for its input is not known here: it may update, replace
		// or destroy a resource (a binding left without members, say).
		effect = "a change of the module input " + andList(patch.ModuleInputs) +
			", which terraform plan shows as what the module declares for it: " + patch.Summary
	default:
		effect = "an in-place update of the declaration: " + patch.Summary
	}
	for _, w := range patch.Warnings {
		effect += ". Reviewer, note: " + w
	}
	if fix.TerraformDescription != "" {
		effect += " (" + fix.TerraformDescription + ")"
	}
	return effect
}

// andList joins items as prose: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// closeObsolete closes zerodrift's pull requests whose finding is gone. A finding missing
// because its project (or, for folder and organization findings, any ancestor) could not
// be read is not gone: such pull requests are kept.
func (e *Engine) closeObsolete(ctx context.Context, log *zap.Logger, findings []rules.Finding, errs []inventory.SourceError, sum *RunSummary) error {
	current := map[string]bool{}
	for _, f := range findings {
		current[f.ID] = true
	}
	unread := map[string]bool{}
	for _, se := range errs {
		unread[se.Project] = true
	}
	keep := func(m pullrequest.Marker) bool {
		return current[m.Finding] || unread[m.Project] || (m.Project == "" && len(errs) > 0)
	}
	closed, err := e.d.PRs.CloseObsolete(ctx, keep)
	sum.ClosedPRs += len(closed)
	for _, c := range closed {
		log.Info("closed a pull request whose drift is gone", zap.Int("number", c.Number), zap.String("findingId", c.FindingID))
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("closing obsolete pull requests: %w", err)
	}
	return err
}
