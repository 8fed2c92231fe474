// Package iac indexes an organisation's Terraform and patches it.
//
// Load parses every *.tf file under the configured roots (from any fs.FS: a checkout on
// disk, or a tree fetched from GitHub) together with variable defaults, variable files,
// locals, provider defaults and the local modules the roots call. Owner maps a live
// resource (a CAI asset type and full resource name, plus the finding's evidence) to the
// block, module list element or map entry that declares it, and says how sure it is:
// Managed, Unmanaged, Ambiguous or Unresolved. A finding about every role a member holds on
// a policy is mapped grant by grant, and is Managed only when the Terraform declares each
// grant (some declared and others not is Unresolved: a pull request would be half the fix).
// For a project-wide setting nothing declares
// yet (its audit configuration, a key of its common instance metadata) while the Terraform
// declares the project's IAM, metadata or the project itself, the match names the new block
// Patch adds and the file it goes to. Patch writes one of the playbook
// catalogue's Terraform edits into a Managed declaration, changing only the edited
// expression (formatted with hclwrite, as terraform fmt formats it) and keeping every other
// byte, comment and blank line of the file.
//
// Evaluation is deliberately small: literals, var.*, local.*, each.* and count.index,
// string interpolation, tuples and objects, indexing, and toset/tolist/tomap. Anything
// else (functions, conditionals, for expressions, data sources, module outputs) is
// unknown, and an unknown that could be the resource makes the match Unresolved rather
// than a guess.
//
// This package must not import remediators, engine, ledger, sandbox or pullrequest: a
// live edit and a code edit are separate rooms.
package iac
