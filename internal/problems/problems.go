// Package problems writes the problems zerodrift finds in the files people give it (the
// configuration, playbooks) in one shape: "file:line: field.path: message", all at once.
package problems

import (
	"fmt"
	"strings"
)

// Format writes one problem, leaving out the line (0) and the field path ("") when unknown.
func Format(file string, line int, path, msg string) string {
	loc := file
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", file, line)
	}
	if path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, path, msg)
	}
	return fmt.Sprintf("%s: %s", loc, msg)
}

// List writes problems one a line under a heading: "invalid playbook: p" for one,
// "invalid playbooks (3 problems):" and the indented list for several.
func List(one, several string, lines []string) string {
	if len(lines) == 1 {
		return "invalid " + one + ": " + lines[0]
	}
	return fmt.Sprintf("invalid %s (%d problems):\n  %s", several, len(lines), strings.Join(lines, "\n  "))
}
