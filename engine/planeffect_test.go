package engine

import (
	"testing"

	"github.com/zerodrift/zerodrift/iac"
)

func TestPlanEffect(t *testing.T) {
	for _, tc := range []struct {
		edit  string
		patch iac.Patch
		want  string
	}{
		{iac.EditDisableFirewall, iac.Patch{Summary: "Set disabled", Updates: []string{"google_compute_firewall.a"}},
			"an in-place update of the declaration: Set disabled"},
		{iac.EditRemoveIAMMember, iac.Patch{Summary: "Remove it", Destroys: []string{"google_project_iam_member.bob"}},
			"a destroy of google_project_iam_member.bob: Remove it"},
		{iac.EditRemoveIAMMember, iac.Patch{Summary: "Remove them", Destroys: []string{"google_project_iam_member.a", `google_project_iam_member.b["x"]`},
			Updates: []string{"google_project_iam_binding.c"}, Warnings: []string{"w"}},
			`a destroy of google_project_iam_member.a and google_project_iam_member.b["x"], and an in-place update of google_project_iam_binding.c: Remove them. Reviewer, note: w`},
		{iac.EditAddDenyFirewall, iac.Patch{Summary: "Add", Creates: []string{"google_compute_firewall.a_deny_world"}},
			"a create of google_compute_firewall.a_deny_world: Add"},
		{iac.EditRemoveIAMMember, iac.Patch{Summary: "Remove sre", ModuleInputs: []string{`module.iam.bindings["roles/viewer"]`}},
			`a change of the module input module.iam.bindings["roles/viewer"], which terraform plan shows as what the module declares for it: Remove sre`},
		{iac.EditRemoveResource, iac.Patch{Summary: "Remove the rule", ModuleInputs: []string{"module.fw.rules[1]"}, Warnings: []string{"w"}},
			"a destroy of the declared resource: Remove the rule. Reviewer, note: w"},
	} {
		if got := planEffect(Fix{TerraformEdit: tc.edit}, &tc.patch); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.edit, got, tc.want)
		}
	}
}
