package sandbox

import (
	"embed"
	"io/fs"
)

// builtinFS holds the built-in scenario: a small organisation (acme.example) in which every
// rule of the first rule set drifts at least once, beside compliant look-alikes that must
// not be flagged. expected.json lists the findings a scan must produce.
//
//go:embed scenarios/builtin
var builtinFS embed.FS

// BuiltinDir is the built-in scenario's folder within BuiltinFS.
const BuiltinDir = "scenarios/builtin"

// BuiltinFS returns the file system holding the built-in scenario at BuiltinDir.
func BuiltinFS() fs.FS { return builtinFS }

// Builtin loads the built-in scenario.
func Builtin() (*Scenario, error) { return LoadScenario(builtinFS, BuiltinDir) }
