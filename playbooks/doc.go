// Package playbooks reads, validates, selects and describes zerodrift's playbooks:
// declarative YAML documents (apiVersion zerodrift.dev/v1, kind Playbook) that name the
// rules they fix, their preconditions, the actions that fix a resource live, how the same fix
// is written in Terraform, their risk, and whether they may run unattended. README.md in
// this folder is the schema reference for people who write them.
//
// The built-in playbooks are embedded from builtin/*.yaml; LoadAll adds those of the
// configured folders, strictly (unknown keys are errors) and reporting every problem of
// every file at once as "file:line: field.path: message". Actions, their typed parameters,
// preconditions and Terraform edits are checked against the literal catalogues of this
// package (Actions, Preconditions, TerraformEdits); the code behind each action is a
// remediators.Action of the same name.
//
// A Set is never modified: selection (Set.For) orders the playbooks that fix a finding by
// rank, and configuration's unattended overrides make a new Set (Set.WithUnattended).
package playbooks
