package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// The scan's hot paths were rewritten to allocate less; these tests hold each rewrite to
// the plain version it replaced.

func grantsReference(p *inventory.Policy) []grant {
	if p == nil {
		return nil
	}
	var out []grant
	seen := make(map[string]bool)
	for _, b := range p.Bindings {
		for _, m := range b.Members {
			if strings.ToLower(strings.SplitN(m, ":", 2)[0]) == "deleted" {
				continue
			}
			g := grant{role: b.Role, member: m, condition: b.Condition}
			if key := g.offending(); !seen[key] {
				seen[key] = true
				out = append(out, g)
			}
		}
	}
	return out
}

func parseKeyNameReference(name string) (string, string, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "serviceAccounts" || parts[4] != "keys" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return "", "", false
	}
	return parts[3], parts[5], true
}

func normalizeProtocolReference(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if n, err := strconv.Atoi(p); err == nil && n >= 0 {
		if name, ok := protocolNumbers[n]; ok {
			return name
		}
		return strconv.Itoa(n)
	}
	return p
}

func findingIDReference(rule, resource, offending string) string {
	h := sha256.New()
	for _, s := range []string{rule, resource, offending} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// policyOf builds a policy from a compact description: bindings separated by "|", each a
// role, members separated by ",", and an optional condition after "?".
func policyOf(spec string) *inventory.Policy {
	p := &inventory.Policy{}
	for _, b := range strings.Split(spec, "|") {
		role, rest, _ := strings.Cut(b, "=")
		members, cond, hasCond := strings.Cut(rest, "?")
		bd := inventory.Binding{Role: role, Members: strings.Split(members, ",")}
		if hasCond {
			bd.Condition = &inventory.Condition{Expression: cond}
		}
		p.Bindings = append(p.Bindings, bd)
	}
	return p
}

func FuzzGrantsMatchReference(f *testing.F) {
	f.Add("roles/editor=user:a,user:a,serviceAccount:b|roles/editor=user:a?x|roles/editor user:a=?|roles/editor=user:a ?")
	f.Add("a b=c|a=b c|a=b c,deleted:x,Deleted:y")
	f.Add(strings.Repeat("r=u:1,u:2,u:3,u:1|", 40))
	f.Fuzz(func(t *testing.T, spec string) {
		p := policyOf(spec)
		got, want := grants(p), grantsReference(p)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("grants(%q) = %v, want %v", spec, got, want)
		}
	})
}

func FuzzParseKeyNameMatchesReference(f *testing.F) {
	for _, s := range []string{"projects/p/serviceAccounts/a@p/keys/k", "projects/p/serviceAccounts/a@p/keys/k/x",
		"projects//serviceAccounts/a/keys/k", "projects/p/serviceAccounts/a@p/keys/", "", "/////"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		sa, id, ok := ParseKeyName(name)
		wsa, wid, wok := parseKeyNameReference(name)
		if sa != wsa || id != wid || ok != wok {
			t.Fatalf("ParseKeyName(%q) = %q, %q, %v; want %q, %q, %v", name, sa, id, ok, wsa, wid, wok)
		}
	})
}

func FuzzNormalizeProtocolMatchesReference(f *testing.F) {
	for _, s := range []string{"tcp", " TCP ", "6", "+6", "-1", "017", "all", "", "99999999999999999999", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := NormalizeProtocol(p), normalizeProtocolReference(p); got != want {
			t.Fatalf("NormalizeProtocol(%q) = %q, want %q", p, got, want)
		}
	})
}

func FuzzMemberTypeMatchesReference(f *testing.F) {
	for _, s := range []string{"serviceAccount:a", "allUsers", "allAuthenticatedUsers", "principalSet://x", "USER:a", "ſervice:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		t0, _, _ := strings.Cut(m, ":")
		if got, want := memberType(m), strings.ToLower(t0); got != want {
			t.Fatalf("memberType(%q) = %q, want %q", m, got, want)
		}
	})
}

func FuzzFindingIDMatchesReference(f *testing.F) {
	f.Add("r", "//compute.googleapis.com/projects/p/global/firewalls/f", "0.0.0.0/0 tcp:22")
	f.Add("", "", strings.Repeat("x", 600))
	f.Fuzz(func(t *testing.T, rule, resource, offending string) {
		if got, want := FindingID(rule, resource, offending), findingIDReference(rule, resource, offending); got != want {
			t.Fatalf("FindingID = %s, want %s", got, want)
		}
	})
}
